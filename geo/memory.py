"""Refusing an input that is beyond this machine's memory, with a message, before reading it.

Without this, a file too big for the machine ends in the operating system's out-of-memory
killer: the run dies with no message (or the whole desktop freezes while it swaps). The peak
memory of a run grows in step with the size of the episodes file (`make bench`: about
0.35 GiB for the interpreter and libraries, plus 9-13 bytes per byte of CSV, e.g. 1.6-2.0 GiB
for a million episodes in a 173 MB file). `check_memory` compares that estimate, with a
margin, with the memory available now (the smaller of the system's available memory and any
container limit) and refuses the file when it will not fit.

The check can be skipped with the environment variable ``HOTSPOTS_SKIP_MEMORY_CHECK=1`` (for
a machine whose swap is known to be enough, or an estimate that is too cautious).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from geo.errors import HotspotError

BASE_BYTES = 400 * 2**20  # interpreter, libraries, boundaries, the map's assets
BYTES_PER_CSV_BYTE = 14  # peak RSS per byte of episodes CSV, measured 9-13: with a margin
# An XLSX sheet's XML is several times the size of the same table as CSV (tags around every
# cell), and reading it holds one Python object per cell: per byte of (uncompressed) XML
BYTES_PER_XLSX_XML_BYTE = 6
SKIP_ENV = "HOTSPOTS_SKIP_MEMORY_CHECK"


class ResourceError(HotspotError):
    """The input is beyond what this machine can take (memory)."""


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def available_bytes() -> int | None:
    """Memory this process can still use, in bytes; None where the system does not say.

    The smaller of Linux's ``MemAvailable`` (free memory plus caches it can drop) and the
    room left under a cgroup (container) memory limit, v2 or v1.
    """
    known: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    known.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    for folder, limit_file, usage_file, cache_key in (
        ("/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file"),
        ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes",
         "total_inactive_file"),
    ):
        limit = _read_int(f"{folder}/{limit_file}")
        usage = _read_int(f"{folder}/{usage_file}")
        if limit is not None and usage is not None and limit < 2**60:  # "max": no limit
            # page cache the kernel can drop (e.g. the input file just read) is room too
            cache = _stat(f"{folder}/memory.stat").get(cache_key, 0)
            known.append(max(0, limit - max(0, usage - cache)))
    return min(known) if known else None


def _stat(path: str) -> dict[str, int]:
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    out = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def estimated_peak_bytes(path: Path) -> int:
    """The peak memory a run on this episodes file is expected to need, in bytes."""
    size = path.stat().st_size
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                xml = sum(i.file_size for i in zf.infolist() if i.filename.startswith("xl/"))
        except (OSError, zipfile.BadZipFile):
            xml = size
        return BASE_BYTES + BYTES_PER_XLSX_XML_BYTE * xml
    with path.open("rb") as fh:
        head = fh.read(2)
    if head in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: twice the bytes of the same text
        size //= 2
    return BASE_BYTES + BYTES_PER_CSV_BYTE * size


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_memory(path: Path, what: str = "episodes", *, available: int | None = None) -> None:
    """Refuse `path` when analysing it would need more memory than is available.

    `available` defaults to `available_bytes()`; nothing is checked when that is unknown, or
    when the environment variable ``HOTSPOTS_SKIP_MEMORY_CHECK`` is set to 1.
    """
    if os.environ.get(SKIP_ENV, "") == "1":
        return
    room = available if available is not None else available_bytes()
    try:
        need = estimated_peak_bytes(path)
    except OSError:
        return  # unreadable: the reader says so, with its own message
    if room is None or need <= room:
        return
    size = path.stat().st_size
    raise ResourceError(
        f"The {what} file {path} ({size / 1e6:,.0f} MB) is too big for the memory of this "
        f"machine: analysing it needs about {_gib(need)}, and {_gib(room)} is available now. "
        "Close other programs, split the file (e.g. one file per year) and analyse each part, "
        "or use a machine with more memory. If you know the machine can take it (e.g. swap), "
        f"set the environment variable {SKIP_ENV}=1 to skip this check."
    )
