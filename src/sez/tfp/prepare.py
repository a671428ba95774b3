"""The estimation sample: input checks, logs, within-firm lags and one block of sorted arrays per group."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sez.results import empty_sample, renamed
from sez.tfp.settings import TFPInputError

__all__ = ["firm_age"]


@dataclass
class _Block:
    """Logged, sorted arrays of one estimation group."""

    y: np.ndarray
    free: np.ndarray        # (n, f) freely chosen inputs (labour; materials in OP gross output)
    state: np.ndarray       # (n, s) state variables (capital; firm age)
    proxy: np.ndarray | None
    materials: np.ndarray | None   # gross-output materials when not already in ``free``
    firm: np.ndarray
    prev: np.ndarray        # row of the same firm's previous year, -1 where none
    survive: np.ndarray | None     # 1 - exit, for the OP survival probit
    rows: np.ndarray        # positions in the caller's panel
    year: np.ndarray | None = None
    cluster: np.ndarray | None = None   # WRDG's cluster column when it is not the firm

    def year_dummies(self) -> np.ndarray:
        """Indicators of the block's years but the first, shape (n, years - 1)."""
        if self.year is None:
            return np.zeros((len(self.y), 0))
        years = np.unique(self.year)
        return (self.year[:, None] == years[None, 1:]).astype(float)

    def inputs(self) -> np.ndarray:
        """All production inputs in coefficient order: free, state, materials."""
        return np.column_stack([self.free, self.state] + ([self.materials] if self.materials is not None else []))


def _log_column(df: pd.DataFrame, col: str, as_is: bool, nonpositive: str, unit: str = "firm_id",
                time: str = "year") -> tuple[np.ndarray, np.ndarray]:
    """Log of a column (or the column itself when ``as_is``) and a mask of usable rows;
    raise naming the column otherwise.
    """
    if col not in df.columns:
        raise TFPInputError(f"column {col!r} is missing from the panel (needed as an input, output or proxy)")
    x = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(x) if as_is else ~(np.isfinite(x) & (x > 0))
    if bad.any() and nonpositive == "raise":
        where = np.flatnonzero(bad)[:5]
        example = df.iloc[where][[unit, time]].to_dict("records") if {unit, time} <= set(df) else []
        kind = "missing or non-finite" if as_is else "missing or non-positive (cannot take logs)"
        raise TFPInputError(f"column {col!r} is {kind} in {int(bad.sum())} row(s), e.g. {example}; "
                            f"pass nonpositive='drop' to leave those rows out (they are counted)")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x if as_is else np.log(np.where(bad, 1.0, x))
    return out, ~bad


def _lag_index(firm: np.ndarray, year: np.ndarray) -> np.ndarray:
    """Row of the same firm's previous consecutive year in a (firm, year)-sorted block, else -1."""
    prev = np.full(len(firm), -1, dtype=np.int64)
    if len(firm) > 1:
        ok = (firm[1:] == firm[:-1]) & (year[1:] == year[:-1] + 1)
        prev[1:][ok] = np.flatnonzero(ok)
    return prev


@dataclass
class _Prepared:
    """Estimation blocks by group, and what ``ln_tfp`` needs on every row."""

    blocks: dict
    dropped: dict           # column -> rows unusable in it
    groups: np.ndarray      # group label of every panel row
    production_ok: np.ndarray   # output and all production inputs usable (the proxy may not be)
    inputs: np.ndarray      # (rows, p) production inputs in coefficient order (garbage where not ok)
    y: np.ndarray


def _prepare(panel, by, y_col, free_cols, state_cols, proxy, mat_col, logged, levels, nonpositive, need_exit,
             unit="firm_id", time="year", cluster=None):
    for col, role in ((unit, "unit"), (time, "time")):
        if col not in panel.columns:
            raise TFPInputError(f"column {col!r} ({role}=) is missing from the panel")
    if cluster is not None and cluster not in panel.columns:
        raise TFPInputError(f"column {cluster!r} (vcov={{'CRV1': {cluster!r}}}) is missing from the panel")
    production_cols = list(dict.fromkeys([y_col, *free_cols, *state_cols] + ([mat_col] if mat_col else [])))
    cols = list(dict.fromkeys(production_cols + ([proxy] if proxy else [])))
    logs, ok = {}, {}
    for col in cols:
        as_is = logged or col in levels
        logs[col], ok[col] = _log_column(panel, col, as_is, nonpositive, unit, time)
    production_ok = np.logical_and.reduce([ok[c] for c in production_cols])
    usable = production_ok & ok[proxy] if proxy else production_ok
    dropped = {col: int((~ok[col]).sum()) for col in cols}
    if not usable.any():
        meaning = "finite" if logged else "finite, and positive where logs are taken"
        raise TFPInputError(f"no row is usable for estimation: {empty_sample(ok, meaning)}")
    survive = None
    if need_exit:
        if "exit" not in panel.columns:
            raise TFPInputError("column 'exit' is missing: exit_correction=True needs it for the survival probit")
        survive = 1.0 - panel["exit"].to_numpy(dtype=float)
    if by is not None and by not in panel.columns:
        raise TFPInputError(f"column {by!r} (by=) is missing from the panel")
    groups = panel[by].to_numpy() if by is not None else np.full(len(panel), "all", dtype=object)
    firm, year = panel[unit].to_numpy(), panel[time].to_numpy()
    clusters = panel[cluster].to_numpy() if cluster is not None else None
    rows = np.flatnonzero(usable)
    order = rows[np.lexsort((year[rows], firm[rows], groups[rows]))]
    g_sorted = groups[order]
    cuts = np.flatnonzero(g_sorted[1:] != g_sorted[:-1]) + 1
    blocks = {}
    for piece in np.split(order, cuts):
        if len(piece) == 0:
            continue
        blocks[groups[piece[0]]] = _Block(
            y=logs[y_col][piece], free=np.column_stack([logs[c][piece] for c in free_cols]),
            state=np.column_stack([logs[c][piece] for c in state_cols]),
            proxy=logs[proxy][piece] if proxy else None,
            materials=logs[mat_col][piece] if mat_col else None, firm=firm[piece],
            prev=_lag_index(firm[piece], year[piece]),
            survive=survive[piece] if survive is not None else None, rows=piece, year=year[piece],
            cluster=clusters[piece] if clusters is not None else None)
    inputs = np.column_stack([logs[c] for c in [*free_cols, *state_cols] + ([mat_col] if mat_col else [])])
    return _Prepared(blocks=blocks, dropped=dropped, groups=groups, production_ok=production_ok, inputs=inputs,
                     y=logs[y_col])


@renamed(panel="data")
def firm_age(data: pd.DataFrame, time: str = "year") -> pd.Series | None:
    """Firm age in years: the ``age`` column, else ``time - birth_year``; None when neither is there."""
    if "age" in data.columns:
        return pd.to_numeric(data["age"], errors="coerce").astype(float)
    if "birth_year" in data.columns:
        return (pd.to_numeric(data[time], errors="coerce")
                - pd.to_numeric(data["birth_year"], errors="coerce")).astype(float)
    return None
