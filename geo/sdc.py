"""Statistical disclosure control (SDC) for published tables of counts.

Three rules (``SDC_RULES`` says each in words, for run.json and the report):

``dfe``
    The Department for Education's practice for children in need / looked-after children
    statistics (notes/domain.md section 5). *Primary*: every count from 1 to 5 is shown as
    ``c``. Zeros are shown as ``0`` (DfE shows 0: "no episode" is not a disclosure) and other
    counts are not rounded (local-authority figures are published unrounded).
    *Secondary*: a ``c`` must not be recoverable by subtraction. The table is scanned for two
    kinds of equation, and the scan is repeated until nothing changes:

    1. *Row groups* (`SumGroup`): a total and the breakdown that adds up to it in the same
       row, e.g. ``episodes = episodes_sex_male + episodes_sex_female + episodes_sex_unknown``.
       For each group in order and each row in which exactly one of the group's cells (total
       or parts) is hidden, the smallest non-zero published part is hidden too (ties: the
       leftmost); if no part qualifies, the total (if non-zero and published); failing that,
       a published zero part.
    2. *Columns against the total row* (only with `total_row_key`): an *additive* column
       (one that counts episodes, so the area rows add up to the total row) whose total is
       published and in which exactly one other row is hidden: the smallest non-zero
       published cell of another row is hidden too (ties: the first row); failing that, the
       first published zero of another row. The total row itself is never hidden this way,
       so it comes out the same whichever area table it is controlled with.

    Zeros are shown as 0 and chosen as secondary cells only when no non-zero cell is left
    (e.g. a column whose other published cells are all 0, which would give the hidden cell
    away as the total minus zeros): a hidden zero would add up with the primary cell to the
    primary cell's own value, narrowing it, so a non-zero cell protects it better. Each pass
    only adds hidden cells, so the scan ends.

``nhs``
    NHS Digital's method for HES/ECDS (from September 2018): every count from 1 to 7 is shown
    as ``c`` and every other count is rounded to the nearest 5 (0 stays 0; 8 -> 10,
    12 -> 10, 13 -> 15). Rounding protects the hidden cells, so there is no secondary
    suppression; rounded totals need not equal the sum of rounded parts.

``none``
    No control: the table is returned unchanged (for partner analysts under an information
    sharing agreement, never for publication).

Changes between periods (``X_change`` = ``X`` - ``X_prev``, possibly negative) are shown as
``c`` when either count is hidden, and recomputed from the published counts (so with ``nhs``
from the rounded ones). `sdc_tables` also keeps the focus table (``focus_lpa``) consistent
with the ward and LPA tables whose rows it repeats (`_consistent_focus`).

Ratios and shares (``*_share``, ``*_per_*``) are shown as ``c`` when a count they are
computed from is hidden (else the hidden count could be recovered from the ratio and the
other count). With ``nhs`` the published ratio is recomputed from the rounded counts, since an
exact ratio next to rounded counts would undo the rounding. A ratio whose counts cannot be
identified is hidden whenever any count in its row is hidden (``dfe``), or always (``nhs``).

What this does not protect against (say so wherever the rule is described): differences
between nested counts (``repeat_children`` minus ``repeat_children_3plus`` is the number of
children with exactly two episodes), equations that span several tables (e.g. the ward and
district tables against each other), and small denominators inside published ratios. The
checks are the usual manual-practice ones, not a full linear-programming audit.

Output cells of count and change columns are ``"c"`` (a string) where hidden and Python
``int`` otherwise (``None`` where the input was blank); ratio columns hold ``"c"`` or the float.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

import numpy as np
import pandas as pd

from geo.errors import ParameterError

SUPPRESSED: Final = "c"  # the GSS symbol for "confidential"
RULES: Final = ("dfe", "nhs", "none")
DEFAULT_RULE: Final = "dfe"
# The largest count each rule never publishes (1..threshold are shown as `c`).
SDC_THRESHOLDS: Final = {"dfe": 5, "nhs": 7, "none": 0}
NHS_ROUND_TO: Final = 5

SDC_RULES: Final[dict[str, str]] = {
    "dfe": (
        "DfE practice for children in need / looked-after children statistics: every count "
        "from 1 to 5 is shown as 'c'; zeros are shown as 0 and other counts are not rounded. "
        "Secondary suppression: wherever a 'c' could be worked out by subtraction (it is the "
        "only hidden cell among a total and the breakdown that adds up to it, such as episodes "
        "by sex, or the only hidden area in a column of episodes that adds up to the published "
        "total), the next smallest non-zero cell (a zero only if no other is left) is also "
        "shown as 'c', repeated until no such "
        "cell is left. Ratios and shares computed from a hidden count are shown as 'c'. Not "
        "controlled: differences between nested counts (children with 2+ and 3+ episodes) and "
        "between tables."
    ),
    "nhs": (
        "NHS Digital method (HES, from September 2018): every count from 1 to 7 is shown as "
        "'c' and every other count is rounded to the nearest 5 (0 stays 0), so totals need not "
        "equal the sum of their parts. Ratios and shares are recomputed from the rounded "
        "counts, and shown as 'c' when a count they use is hidden."
    ),
    "none": (
        "No disclosure control: every count is exact. For partner analysts under an "
        "information-sharing agreement; never for publication."
    ),
}

ColumnKind = Literal["count", "ratio", "change", "other"]

_COUNT_NAMES = frozenset({"episodes", "children"})
_COUNT_PREFIXES = (
    "episodes_", "children_", "repeat_children", "rhi_", "homes_", "registered_",
)  # fmt: skip
_COUNT_SUFFIXES = ("_episodes", "_children")

# Breakdowns that add up to `episodes` in every row (geo/summary.py): prefix -> group name.
_EPISODE_BREAKDOWNS: Final = (
    "episodes_sex_",
    "episodes_age_",
    "episodes_care_",
    "episodes_placement_",
    "episodes_placed_by_",
    "episodes_category_",
    "episodes_precision_",
    "episodes_duration_",
)
_LOOKED_AFTER: Final = (
    "episodes_looked_after", "episodes_not_looked_after", "episodes_looked_after_unknown",
)  # fmt: skip
# Other exact or one-sided sums in geo/summary.py (the children by sex leave out "unknown",
# which a reader can still work out, so they are treated as a sum).
_OTHER_GROUPS: Final = (
    ("repeat_children", ("repeat_children_ce_screened", "repeat_children_ce_not_screened")),
    ("children", ("children_male", "children_female")),
)
# Ratios whose counts are known: ratio -> (numerator, denominator candidates).
_KNOWN_RATIOS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "episodes_per_child": ("episodes", ("children",)),
    "rhi_completed_within_72h_share": ("rhi_completed_within_72h", ("episodes_returned",)),
    "repeat_children_ce_screened_share": ("repeat_children_ce_screened", ("repeat_children",)),
    "episodes_per_place": ("episodes", ("registered_places", "places")),
    "children_per_place": ("children", ("registered_places", "places")),
    "episodes_per_10k": ("episodes", ("population_0_17",)),
    "children_per_10k": ("children", ("population_0_17",)),
    "episodes_change_share": ("episodes_change", ("episodes_prev",)),
}


class SumGroup(NamedTuple):
    """A total and the columns of the same row that add up to it."""

    total: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class SdcResult:
    """A controlled table and which cells were hidden, and why.

    `primary`, `secondary` and `ratios` are boolean frames (same index as the table) over the
    count columns (`primary`, `secondary`) and the ratio columns (`ratios`).
    """

    table: pd.DataFrame
    rule: str
    primary: pd.DataFrame
    secondary: pd.DataFrame
    ratios: pd.DataFrame
    rounded: int = 0

    def summary(self) -> dict[str, object]:
        """Counts of hidden cells, for run.json."""
        return {
            "rule": self.rule,
            "primary": int(self.primary.to_numpy().sum()),
            "secondary": int(self.secondary.to_numpy().sum()),
            "ratios": int(self.ratios.to_numpy().sum()),
            "rounded": self.rounded,
        }


def check_rule(rule: str) -> str:
    """The rule, lower-cased; `ParameterError` if it is not one of `RULES`."""
    name = str(rule).strip().lower()
    if name not in RULES:
        msg = (
            f"`--sdc` must be one of {', '.join(RULES)} (disclosure control rule). "
            f"Got {rule!r} instead."
        )
        raise ParameterError(msg)
    return name


def column_kind(name: object) -> ColumnKind:
    """Whether a column holds counts of children or episodes, ratios of them, changes between
    two periods, or other data.

    Ratios: ``*_share``, ``*_per_*``. Changes: ``*_change`` (``X_change`` = ``X`` -
    ``X_prev``, which may be negative). Counts: ``episodes``, ``children``, ``episodes_*``,
    ``children_*``, ``repeat_children*``, ``rhi_*``, ``homes_*``, ``registered_*``,
    ``*_episodes``, ``*_children``. Everything else (names, codes, ``locations``, ``wards``,
    ``area_ha``, ``places``, populations) is ``other``.
    """
    n = str(name).strip().lower()
    if n.endswith("_share") or "_per_" in n:
        return "ratio"
    if n.endswith("_change"):
        return "change"
    if n in _COUNT_NAMES or n.startswith(_COUNT_PREFIXES) or n.endswith(_COUNT_SUFFIXES):
        return "count"
    return "other"


def classify_columns(columns: Iterable[object]) -> dict[str, ColumnKind]:
    """`column_kind` of every column, in order."""
    return {str(c): column_kind(c) for c in columns}


def breakdown_groups(columns: Iterable[object]) -> list[SumGroup]:
    """The row groups of the geo/summary.py tables found among `columns`.

    ``episodes`` = each of ``episodes_sex_*``, ``episodes_age_*``, ``episodes_care_*``,
    ``episodes_placement_*``, ``episodes_placed_by_*``, ``episodes_category_*``,
    ``episodes_precision_*``, ``episodes_duration_*``, and ``episodes_looked_after`` +
    ``episodes_not_looked_after`` + ``episodes_looked_after_unknown``;
    ``repeat_children`` = ``repeat_children_ce_screened`` + ``repeat_children_ce_not_screened``;
    ``children`` >= ``children_male`` + ``children_female`` (treated as a sum: the unknown
    rest can be worked out). A group is kept when its total and at least one part are present.
    """
    cols = [str(c) for c in columns]
    present = set(cols)
    groups: list[SumGroup] = []
    if "episodes" in present:
        for prefix in _EPISODE_BREAKDOWNS:
            parts = tuple(c for c in cols if c.startswith(prefix) and column_kind(c) == "count")
            if parts:
                groups.append(SumGroup("episodes", parts))
        parts = tuple(c for c in _LOOKED_AFTER if c in present)
        if parts:
            groups.append(SumGroup("episodes", parts))
    for total, candidates in _OTHER_GROUPS:
        parts = tuple(c for c in candidates if c in present)
        if total in present and parts:
            groups.append(SumGroup(total, parts))
    return groups


def additive_columns_of(columns: Iterable[object]) -> list[str]:
    """Count columns whose area rows add up to the total row: those that count episodes
    (``episodes*``, ``*_episodes``, ``rhi_*``) and registered homes and places. Children are
    not additive (a child missing in two wards is counted in both)."""
    out = []
    for c in map(str, columns):
        if column_kind(c) != "count":
            continue
        if c == "episodes" or c.startswith(("episodes_", "rhi_", "registered_")) or c.endswith(
            "_episodes"
        ):
            out.append(c)
    return out


def ratio_sources(name: str, columns: Iterable[object]) -> tuple[str | None, str | None]:
    """(numerator, denominator) columns of a ratio among `columns` (None where not found).

    Known ratios of geo/summary.py and geo/rates.py first; else ``A_per_B`` -> ``A`` and
    ``B``/``Bs``/``Bren``/``registered_Bs``, and ``X_share`` -> ``X`` (denominator unknown).
    """
    present = {str(c) for c in columns}
    if name in _KNOWN_RATIOS:
        num, dens = _KNOWN_RATIOS[name]
        den = next((d for d in dens if d in present), None)
        return (num if num in present else None), den
    if "_per_" in name:
        a, _, b = name.partition("_per_")
        den = next((d for d in (b, f"{b}s", f"{b}ren", f"registered_{b}s") if d in present), None)
        return (a if a in present else None), den
    if name.endswith("_share"):
        num = name.removesuffix("_share")
        return (num if num in present else None), None
    return None, None


def _already_hidden(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Cells that are already ``c`` (a table controlled before): they stay hidden."""
    out = np.zeros((len(table), len(columns)), dtype=bool)
    for j, c in enumerate(columns):
        out[:, j] = (table[c].astype(object) == SUPPRESSED).to_numpy(dtype=bool)
    return out


def _count_matrix(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Counts as floats (NaN where blank or ``c``); refuse negative or fractional counts."""
    n = len(table)
    out = np.full((n, len(columns)), np.nan)
    for j, c in enumerate(columns):
        values = pd.to_numeric(
            table[c].astype(object).where(table[c].astype(object) != SUPPRESSED), errors="coerce"
        ).astype("Float64")
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isnan(arr) & ((arr < 0) | (arr % 1 != 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            msg = f"SDC: column {c!r} holds {table[c].iloc[i]!r}, which is not a count."
            raise ValueError(msg)
        out[:, j] = arr
    return out


def _total_position(table: pd.DataFrame, key: tuple[str, object] | None) -> int | None:
    if key is None:
        return None
    column, value = key
    if column not in table.columns:
        msg = f"SDC: total_row_key column {column!r} is not in the table."
        raise ValueError(msg)
    hits = np.flatnonzero((table[column] == value).to_numpy(dtype=bool))
    if len(hits) != 1:
        msg = f"SDC: total_row_key {key!r} matches {len(hits)} rows; it must match exactly one."
        raise ValueError(msg)
    return int(hits[0])


def _secondary(
    values: np.ndarray,
    hidden: np.ndarray,
    groups: Sequence[tuple[int, tuple[int, ...]]],
    total_row: int | None,
    additive: Sequence[int],
) -> None:
    """Hide more cells in place until no hidden cell is alone in any equation."""
    present = ~np.isnan(values)
    nonzero = present & (np.nan_to_num(values, nan=0.0) > 0)
    n_rows = values.shape[0]
    others = np.ones(n_rows, dtype=bool)
    if total_row is not None:
        others[total_row] = False
    changed = True
    while changed:
        changed = False
        for total, parts in groups:
            cells = [total, *parts]
            alone = np.flatnonzero(hidden[:, cells].sum(axis=1) == 1)
            for r in alone:
                candidates = [p for p in parts if not hidden[r, p] and nonzero[r, p]]
                if not candidates and not hidden[r, total] and nonzero[r, total]:
                    candidates = [total]
                if not candidates:  # only zeros left: hiding one still blocks subtraction
                    candidates = [p for p in parts if not hidden[r, p] and present[r, p]]
                if candidates:  # smallest value; ties: the leftmost (min is stable)
                    pick = min(candidates, key=lambda p, r=r: values[r, p])
                    hidden[r, pick] = True
                    changed = True
        if total_row is None:
            continue
        for c in additive:
            if hidden[total_row, c] or np.isnan(values[total_row, c]):
                continue
            if int(hidden[others, c].sum()) != 1:
                continue
            rows = np.flatnonzero(others & ~hidden[:, c] & nonzero[:, c])
            if not len(rows):  # only zeros left: hiding one still blocks subtraction
                rows = np.flatnonzero(others & ~hidden[:, c] & present[:, c])
            if len(rows):
                pick = int(rows[np.argmin(values[rows, c])])  # argmin: the first of ties
                hidden[pick, c] = True
                changed = True


def _round_nhs(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    ok = ~np.isnan(values)
    out[ok] = ((values[ok] + 2) // NHS_ROUND_TO) * NHS_ROUND_TO
    return out


def _numbers(column: pd.Series) -> np.ndarray:
    """A column as floats: NaN where blank, ``c`` or not a number."""
    values = column.astype(object)
    return pd.to_numeric(values.where(values != SUPPRESSED), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )


def _decimals(values: np.ndarray) -> int:
    """The fewest decimals (0-6) that represent every finite value exactly."""
    finite = values[np.isfinite(values)]
    for d in range(7):
        if np.allclose(np.round(finite, d), finite, rtol=0, atol=1e-12):
            return d
    return 6


def sdc(
    table: pd.DataFrame,
    *,
    rule: str,
    count_columns: Sequence[str] | None = None,
    groups: Sequence[SumGroup | tuple[str, Sequence[str]]] | None = None,
    total_row_key: tuple[str, object] | None = None,
    additive_columns: Sequence[str] | None = None,
) -> SdcResult:
    """Apply a disclosure control rule and say which cells were hidden; see `apply_sdc`."""
    rule = check_rule(rule)
    names = [str(c) for c in table.columns]
    counts = (
        list(count_columns)
        if count_columns is not None
        else [c for c in names if column_kind(c) == "count"]
    )
    unknown = [c for c in counts if c not in table.columns]
    if unknown:
        msg = f"SDC: count column(s) {unknown} are not in the table."
        raise ValueError(msg)
    ratios = [c for c in names if column_kind(c) == "ratio" and c not in counts]
    index = table.index

    def frame(mask: np.ndarray, cols: list[str]) -> pd.DataFrame:
        return pd.DataFrame(mask, index=index, columns=cols)

    values = _count_matrix(table, counts)
    if rule == "none":
        empty = np.zeros(values.shape, dtype=bool)
        return SdcResult(
            table.copy(), rule, frame(empty, counts), frame(empty, counts),
            frame(np.zeros((len(table), len(ratios)), dtype=bool), ratios),
        )  # fmt: skip
    threshold = SDC_THRESHOLDS[rule]
    primary = (~np.isnan(values) & (values >= 1) & (values <= threshold)) | _already_hidden(
        table, counts
    )
    hidden = primary.copy()
    position = {c: j for j, c in enumerate(counts)}
    if rule == "dfe":
        chosen = breakdown_groups(counts) if groups is None else [SumGroup(*g) for g in groups]
        group_idx = [
            (position[g.total], tuple(position[p] for p in g.parts if p in position))
            for g in chosen
            if g.total in position
        ]
        group_idx = [(t, parts) for t, parts in group_idx if parts]
        additive = additive_columns_of(counts) if additive_columns is None else additive_columns
        _secondary(
            values,
            hidden,
            group_idx,
            _total_position(table, total_row_key),
            [position[c] for c in additive if c in position],
        )
    published = _round_nhs(values) if rule == "nhs" else values
    rounded = int(np.sum(~hidden & ~np.isnan(values) & (published != values)))

    out = table.copy()
    for j, c in enumerate(counts):
        cells = np.empty(len(table), dtype=object)
        for i in range(len(table)):
            v = published[i, j]
            if hidden[i, j]:
                cells[i] = SUPPRESSED
            else:
                cells[i] = None if math.isnan(v) else int(v)
        out[c] = pd.Series(cells, index=index, dtype=object)

    # Changes between periods (X_change = X - X_prev): hidden with either count, recomputed
    # from the published counts (with ``nhs`` an exact change next to rounded counts would undo
    # the rounding).
    changes = [c for c in names if column_kind(c) == "change" and c not in counts]
    change_hidden: dict[str, np.ndarray] = {}
    change_shown: dict[str, np.ndarray] = {}
    for c in changes:
        raw = _numbers(table[c])
        base = c[: -len("_change")]
        prev = f"{base}_prev"
        if base in position and prev in position:
            jb, jp = position[base], position[prev]
            sup = hidden[:, jb] | hidden[:, jp]
            shown = np.where(np.isnan(raw), np.nan, published[:, jb] - published[:, jp])
        else:
            sup = hidden.any(axis=1) if rule == "dfe" else np.ones(len(table), dtype=bool)
            shown = raw
        sup = (sup & ~np.isnan(raw)) | (table[c].astype(object) == SUPPRESSED).to_numpy(bool)
        change_hidden[c], change_shown[c] = sup, shown
        cells = np.empty(len(table), dtype=object)
        for i in range(len(table)):
            v = shown[i]
            cells[i] = SUPPRESSED if sup[i] else (None if math.isnan(v) else int(np.rint(v)))
        out[c] = pd.Series(cells, index=index, dtype=object)

    ratio_hidden = np.zeros((len(table), len(ratios)), dtype=bool)
    for k, c in enumerate(ratios):
        num, den = ratio_sources(c, names)
        used = [position[s] for s in (num, den) if s is not None and s in position]
        raw = _numbers(table[c])
        known = num is not None and den is not None
        if num in change_hidden and den in position:  # e.g. episodes_change_share
            j = position[den]
            sup = change_hidden[num] | hidden[:, j]
            shown = raw.copy()
            if rule == "nhs":
                with np.errstate(divide="ignore", invalid="ignore"):
                    recomputed = change_shown[num] / published[:, j]
                shown = np.where(published[:, j] > 0, np.round(recomputed, _decimals(raw)),
                                 np.nan)
                shown = np.where(np.isnan(raw), np.nan, shown)
            sup = (sup & ~np.isnan(raw)) | (table[c].astype(object) == SUPPRESSED).to_numpy(bool)
            ratio_hidden[:, k] = sup
            out[c] = pd.Series([SUPPRESSED if sup[i] else float(shown[i])
                                for i in range(len(table))], index=index, dtype=object)
            continue
        if not used or not known:
            sup = hidden.any(axis=1) if rule == "dfe" else np.ones(len(table), dtype=bool)
        else:
            sup = hidden[:, used].any(axis=1)
        shown = raw.copy()
        if rule == "nhs" and used:
            decimals = _decimals(raw)
            with np.errstate(divide="ignore", invalid="ignore"):
                for s, power in ((num, 1), (den, -1)):
                    if s in position:
                        j = position[s]
                        factor = np.where(values[:, j] > 0, published[:, j] / values[:, j], 1.0)
                        shown = shown * factor**power
            shown = np.round(shown, decimals)
        sup = (sup & ~np.isnan(raw)) | (table[c].astype(object) == SUPPRESSED).to_numpy(bool)
        ratio_hidden[:, k] = sup
        cells = np.empty(len(table), dtype=object)
        for i in range(len(table)):
            cells[i] = SUPPRESSED if sup[i] else float(shown[i])
        out[c] = pd.Series(cells, index=index, dtype=object)

    return SdcResult(
        out, rule, frame(primary, counts), frame(hidden & ~primary, counts),
        frame(ratio_hidden, ratios), rounded,
    )  # fmt: skip


def apply_sdc(
    table: pd.DataFrame,
    *,
    rule: str,
    count_columns: Sequence[str] | None = None,
    groups: Sequence[SumGroup | tuple[str, Sequence[str]]] | None = None,
    total_row_key: tuple[str, object] | None = None,
    additive_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Apply a disclosure control rule (``dfe``, ``nhs``, ``none``) to a table of counts.

    Parameters
    ----------
    table
        Counts (and ratios, names, codes) as `geo.summary.summarise` makes them.
    rule
        ``dfe``, ``nhs`` or ``none`` (see the module docstring and `SDC_RULES`).
    count_columns
        The columns of counts of children or episodes; default: recognised by name
        (`column_kind`). Ratio columns are always recognised by name.
    groups
        Row groups ``(total, parts)`` whose parts add up to the total in every row; default:
        `breakdown_groups` of the count columns. Used by ``dfe`` only.
    total_row_key
        ``(column, value)`` naming the one row that is the total of all the others (e.g.
        ``("area", "All areas")``); ``dfe`` then also protects each additive column against
        that total. Without it no column is checked (see `apply_sdc_with_total`).
    additive_columns
        Count columns whose rows add up to the total row; default `additive_columns_of`.

    Returns
    -------
    pandas.DataFrame
        A copy: count columns hold ``"c"`` or ``int`` (``None`` where blank), ratio columns
        ``"c"`` or ``float``; other columns unchanged. ``none`` returns an unchanged copy.
        ``result.attrs["sdc"]`` holds `SdcResult.summary`.
    """
    result = sdc(
        table, rule=rule, count_columns=count_columns, groups=groups,
        total_row_key=total_row_key, additive_columns=additive_columns,
    )  # fmt: skip
    out = result.table
    out.attrs["sdc"] = result.summary()
    return out


_TOTAL_MARK = "__sdc_total_row__"


def apply_sdc_with_total(
    table: pd.DataFrame,
    total: pd.DataFrame,
    *,
    rule: str,
    count_columns: Sequence[str] | None = None,
    groups: Sequence[SumGroup | tuple[str, Sequence[str]]] | None = None,
    additive_columns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Control a table of areas together with its separate one-row total table.

    E.g. ``localities["ward"]`` with ``totals``: the area rows and the total are controlled
    as one table (so a single hidden ward cannot be recovered as total minus the other
    wards), then split again. The total row's own hidden cells depend only on the total row,
    so the same `total` controlled with the LPA, district or ward table comes out the same.
    Returns ``(table, total)``, each with its own columns and index.
    """
    if len(total) != 1:
        msg = f"SDC: the total table must have exactly one row; it has {len(total)}."
        raise ValueError(msg)
    shared = [c for c in table.columns if c in total.columns and column_kind(c) != "other"]
    top = table[shared].assign(**{_TOTAL_MARK: False})
    bottom = total[shared].assign(**{_TOTAL_MARK: True})
    both = pd.concat([top, bottom], ignore_index=True)
    counts = None if count_columns is None else [c for c in count_columns if c in shared]
    result = sdc(
        both, rule=rule, count_columns=counts, groups=groups,
        total_row_key=(_TOTAL_MARK, True), additive_columns=additive_columns,
    )  # fmt: skip
    controlled = result.table.drop(columns=_TOTAL_MARK)
    out_table = table.copy()
    out_total = total.copy()
    for c in shared:
        out_table[c] = pd.Series(controlled[c].iloc[: len(table)].to_numpy(), index=table.index)
        out_total[c] = pd.Series(controlled[c].iloc[len(table) :].to_numpy(), index=total.index)
    summary = result.summary()
    out_table.attrs["sdc"] = summary
    out_total.attrs["sdc"] = summary
    return out_table, out_total


# Sheets of geo/output.summary_tables whose rows are a partition of the `totals` row.
PARTITIONED_SHEETS: Final = ("localities_lpa", "localities_district", "localities_ward")
# Sheets that hold their own total row: sheet -> (column, value) of that row.
TOTAL_ROWS: Final[dict[str, tuple[str, object]]] = {
    "focus_lpa": ("row", "total"),
    "audit_summary": ("status", "read"),
}


def sdc_tables(
    sheets: Mapping[str, pd.DataFrame],
    *,
    rule: str,
    total_sheet: str = "totals",
    partitioned: Sequence[str] = PARTITIONED_SHEETS,
    total_rows: Mapping[str, tuple[str, object]] = TOTAL_ROWS,
) -> dict[str, pd.DataFrame]:
    """Control every published table of a run, in one call (the same order and names).

    `partitioned` sheets are controlled with `total_sheet` (`apply_sdc_with_total`); the
    total itself is controlled once on its own row groups; a sheet of `total_rows` with
    exactly one such row is controlled against it (``audit_summary``: ``rows`` is its count
    column, the ``read`` row its total); every other sheet (hotspots, homes...) on its own.
    With ``dfe``, the focus table publishes exactly what the ward and LPA tables publish for
    its rows, and protects its own total (`_consistent_focus`: this may hide more cells of
    the ward table).
    """
    rule = check_rule(rule)
    if rule == "none":
        return {name: frame.copy() for name, frame in sheets.items()}
    out: dict[str, pd.DataFrame] = {}
    total = sheets.get(total_sheet)
    for name, frame in sheets.items():
        if name in partitioned and total is not None and len(total) == 1:
            out[name], _ = apply_sdc_with_total(frame, total, rule=rule)
        else:
            key = total_rows.get(name)
            if key is not None and (
                key[0] not in frame.columns or int((frame[key[0]] == key[1]).sum()) != 1
            ):
                key = None
            if name == "audit_summary" and "rows" in frame.columns:
                out[name] = apply_sdc(
                    frame, rule=rule, count_columns=["rows"], groups=[], total_row_key=key,
                    additive_columns=["rows"],
                )  # fmt: skip
            else:
                out[name] = apply_sdc(frame, rule=rule, total_row_key=key)
    focus, ward, lpa = (FOCUS_SHEET, *FOCUS_PARTS)
    if rule == "dfe" and total is not None and len(total) == 1 and all(
        n in sheets for n in (focus, ward, lpa)
    ):
        out[focus], out[ward] = _consistent_focus(sheets[focus], sheets[ward], out[lpa], total,
                                                  rule=rule)
    return out


# The focus table repeats rows of two other tables: its wards are rows of the ward table, its
# total row is the LPA's row of the LPA table.
FOCUS_SHEET: Final = "focus_lpa"
FOCUS_PARTS: Final = ("localities_ward", "localities_lpa")
_WARD_KEY: Final = "ward_code"
_LPA_KEY: Final = "lpa_name"
_ROW_KEY: Final = ("row", "total")


def _consistent_focus(
    focus: pd.DataFrame, ward: pd.DataFrame, lpa_controlled: pd.DataFrame,
    total: pd.DataFrame, *, rule: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The focus table controlled so that it publishes exactly what the ward and LPA tables
    publish, and protects its own equation (the LPA total = the sum of its wards).

    Its rows are taken from the controlled ward table and LPA table (a cell published in one
    table and hidden in the other would give the hidden cell away); then its wards are checked
    against the LPA total as one table, and any ward cell this hides is hidden in the ward
    table too, which is controlled again with its total. Repeated until nothing changes (each
    pass only hides more cells)."""
    needed = {_WARD_KEY, _LPA_KEY, _ROW_KEY[0]}
    if not needed <= set(focus.columns) or not {_WARD_KEY} <= set(ward.columns):
        return apply_sdc(focus, rule=rule), apply_sdc_with_total(ward, total, rule=rule)[0]
    is_ward = (focus[_ROW_KEY[0]] != _ROW_KEY[1]).to_numpy()
    cols = [c for c in focus.columns if column_kind(c) != "other" and c in ward.columns]
    seeded_ward = ward.copy()
    for c in cols:
        seeded_ward[c] = seeded_ward[c].astype(object)
    ward_pos = pd.Series(np.arange(len(ward)), index=ward[_WARD_KEY].astype(str))
    focus_pos = ward_pos.reindex(focus[_WARD_KEY].astype(str)).to_numpy()
    lpa_rows = lpa_controlled.set_index(lpa_controlled[_LPA_KEY].astype(str))
    while True:
        ward_out, _ = apply_sdc_with_total(seeded_ward, total, rule=rule)
        seeded = focus.copy()
        for c in cols:
            column = seeded[c].astype(object).to_numpy().copy()
            for i in range(len(seeded)):
                if is_ward[i] and not np.isnan(focus_pos[i]):
                    column[i] = ward_out[c].iloc[int(focus_pos[i])]
                elif (not is_ward[i] and c in lpa_rows.columns
                      and str(seeded[_LPA_KEY].iloc[i]) in lpa_rows.index):
                    column[i] = lpa_rows.loc[str(seeded[_LPA_KEY].iloc[i]), c]
            seeded[c] = pd.Series(column, index=seeded.index, dtype=object)
        key = _ROW_KEY if int((~is_ward).sum()) == 1 else None
        checked = apply_sdc(seeded, rule=rule, total_row_key=key)
        changed = False
        for c in cols:
            now = (checked[c].astype(object) == SUPPRESSED).to_numpy()
            before = (seeded[c].astype(object) == SUPPRESSED).to_numpy()
            for i in np.flatnonzero(now & ~before & is_ward & ~np.isnan(focus_pos)):
                seeded_ward.iloc[int(focus_pos[i]), seeded_ward.columns.get_loc(c)] = SUPPRESSED
                changed = True
        if not changed:
            return checked, ward_out
