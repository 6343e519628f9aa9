"""Browser-test fixtures: Debian's headless Chromium driven by Playwright, network cut off.

PYTEST_DONT_REWRITE: test modules import the helpers below before pytest registers this module
as a plugin, so pytest could not rewrite its asserts anyway (they carry their own messages).

Use from a test module:

    import pytest
    from tests.browser import click_path, hover_path, open_map

    pytest_plugins = ["tests.browser"]      # registers the `browser_ctx` and `page` fixtures

    @pytest.mark.browser
    def test_something(page, tmp_path): ...

(`pytest_plugins` rather than importing the fixtures, so that ruff does not report the fixture
arguments as redefinitions of the imports.)

- Chromium is the system one (`CHROMIUM` env var, else `chromium` on PATH); Playwright never
  downloads a browser here (never run `playwright install`). Without it the fixtures skip, or
  fail when the `CI` env var is set, asking to run `make browser`.
- One persistent context per session with a fresh temporary profile.
- `page`: every request that is not `file:`, `data:` or `blob:` is aborted and its URL recorded
  in `page.blocked`; console errors are recorded in `page.console_errors`, uncaught exceptions
  in `page.page_errors`, and both in `page.errors`. DNS is also disabled in the browser
  (`--host-resolver-rules`), so nothing that bypasses request routing can reach the network.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Belt and braces: no host name resolves, so even a request that request routing does not
    # see (prefetch, preconnect...) cannot leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
VIEWPORT = {"width": 1000, "height": 700}
LOCAL_SCHEMES = ("file:", "data:", "blob:")


def chromium_path() -> str | None:
    """The Chromium executable to drive: `$CHROMIUM`, else `chromium` on PATH."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return None


def _unavailable(reason: str):
    message = f"{reason}. Run `make browser` (Debian's chromium; never `playwright install`)."
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_ctx() -> Iterator:
    """A Playwright BrowserContext on the system Chromium, shared by the whole session."""
    executable = chromium_path()
    if executable is None:
        _unavailable(
            "Chromium not found (looked at $CHROMIUM, then `chromium` on PATH)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("The Python package `playwright` is not installed (pip install -e '.[dev]')")

    profile = tempfile.mkdtemp(prefix="hotspots-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport=VIEWPORT,
                service_workers="block",
            )
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_ctx) -> Iterator:
    """A fresh page with the network blocked; see the module docstring for what it records."""
    pg = browser_ctx.new_page()
    pg.blocked = []
    pg.console_errors = []
    pg.page_errors = []
    pg.errors = []

    def route(r) -> None:
        url = r.request.url
        if url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            pg.blocked.append(url)
            r.abort()

    def on_console(msg) -> None:
        if msg.type == "error":
            pg.console_errors.append(msg.text)
            pg.errors.append(f"console: {msg.text}")

    def on_pageerror(exc) -> None:
        pg.page_errors.append(str(exc))
        pg.errors.append(f"pageerror: {exc}")

    pg.route("**/*", route)
    pg.on("console", on_console)
    pg.on("pageerror", on_pageerror)
    try:
        yield pg
    finally:
        pg.close()


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

_FIND_MAPS_JS = """() => (typeof L === 'undefined') ? [] : Object.keys(window).filter(
    k => /^map_[0-9a-f]+$/.test(k) && window[k] instanceof L.Map)"""


def open_map(page, path: str | os.PathLike[str], timeout_ms: float = 10_000) -> str:
    """Open a map HTML file via file://, wait for Leaflet and for the map to stop animating,
    and return the folium map's JS global name (``map_<hex>``)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    url = Path(path).resolve().as_uri()
    page.goto(url)
    try:
        page.wait_for_selector(".leaflet-container", timeout=timeout_ms)
        page.wait_for_function(f"({_FIND_MAPS_JS})().length > 0", timeout=timeout_ms)
    except PlaywrightTimeout:
        raise AssertionError(
            f"No Leaflet map appeared in {url}; errors={getattr(page, 'errors', '?')} "
            f"blocked={getattr(page, 'blocked', '?')}"
        ) from None
    names = page.evaluate(_FIND_MAPS_JS)
    assert len(names) == 1, f"expected one folium map in {url}, found {names}"
    wait_map_idle(page, names[0], timeout_ms)
    return names[0]


# Leaflet starts a zoom/pan animation one frame after setView/fitBounds, so "idle" must hold at
# two successive animation frames.
_MAP_IDLE_JS = """([name, timeout]) => new Promise((resolve, reject) => {
    const m = window[name];
    const busy = () => m._animatingZoom || (m._panAnim && m._panAnim._inProgress)
        || m.getContainer().classList.contains('leaflet-zoom-anim');
    const t0 = performance.now();
    const check = () => {
        if (performance.now() - t0 > timeout) return reject(new Error(name + ' never idle'));
        if (busy()) return setTimeout(check, 30);
        requestAnimationFrame(() => requestAnimationFrame(() =>
            busy() ? setTimeout(check, 30) : resolve(true)));
    };
    check();
})"""


def wait_map_idle(page, name: str, timeout_ms: float = 10_000) -> None:
    """Wait until the map `name` has no zoom or pan animation running (e.g. folium's initial
    fit_bounds): element positions measured before that would be wrong."""
    page.evaluate(_MAP_IDLE_JS, [name, timeout_ms])


_POINT_ON_TOP_JS = """([el, n]) => {
    const r = el.getBoundingClientRect();
    const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
    const pts = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++)
        pts.push([r.left + (i + 0.5) * r.width / n, r.top + (j + 0.5) * r.height / n]);
    pts.sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy));
    for (const [x, y] of pts) {
        if (x < 0 || y < 0 || x >= window.innerWidth || y >= window.innerHeight) continue;
        const hit = document.elementFromPoint(x, y);
        if (hit === el || (hit && el.contains(hit))) return [x, y];
    }
    return null;
}"""


def point_on_top(page, target, grid: int = 15) -> tuple[float, float]:
    """A viewport point where `target` (selector or Locator, e.g. an SVG path) is the topmost
    element: points of its bounding box are sampled, nearest the centre first, with
    `document.elementFromPoint`. Markers or other layers often cover a polygon's centre, and
    Playwright's own click then fails with "... intercepts pointer events"."""
    locator = page.locator(target) if isinstance(target, str) else target
    handle = locator.element_handle()
    assert handle is not None, f"{target!r} not found"
    point = page.evaluate(_POINT_ON_TOP_JS, [handle, grid])
    assert point is not None, f"{target!r} is covered everywhere or outside the viewport"
    return float(point[0]), float(point[1])


def click_path(page, target, grid: int = 15) -> tuple[float, float]:
    """Click `target` (an SVG path, say) at a point where it is on top; returns the point."""
    x, y = point_on_top(page, target, grid)
    page.mouse.click(x, y)
    return x, y


def hover_path(page, target, grid: int = 15) -> tuple[float, float]:
    """Move the mouse onto `target` at a point where it is on top; returns the point."""
    x, y = point_on_top(page, target, grid)
    page.mouse.move(x, y)
    return x, y


def assert_offline_clean(page) -> None:
    """No request tried to leave the machine and the page logged no error."""
    assert page.blocked == [], f"blocked network requests: {page.blocked}"
    assert page.errors == [], f"browser errors: {page.errors}"
