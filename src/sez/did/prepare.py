"""Checks and preparation shared by the DiD estimators: columns, treatment, reversals, fixed-effect codes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sez.errors import DidDataError
from sez.panel import require_columns


def _fe_columns(fe: Sequence[str]) -> list[str]:
    return [c for term in fe for c in term.split("^")]


def _as_treatment(values: pd.Series, name: str, func: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(numeric, (0.0, 1.0))
    if bad.any():
        rows = values.index[np.flatnonzero(bad)[:5]].tolist()
        raise DidDataError(f"{func}: treatment {name!r} must be 0/1 or boolean; {int(bad.sum())} row(s) are not, "
                           f"e.g. rows {rows}")
    return numeric.astype(bool)


def _prepare(panel: pd.DataFrame, outcome: str, treatment: str, fe: Sequence[str], controls: Sequence[str],
             cluster: str, firm: str, time: str, func: str, extra: Sequence[str] = ()) -> tuple[pd.DataFrame, dict]:
    """Columns used, rows with missing values dropped (counted), treatment as bool."""
    used = list(dict.fromkeys([firm, time, outcome, treatment, *controls, cluster, *_fe_columns(fe), *extra]))
    require_columns(panel, used, func)
    data = panel[used].copy()
    data[treatment] = _as_treatment(data[treatment], treatment, func)
    numeric = [outcome, *controls]
    finite = np.ones(len(data), dtype=bool)
    for col in numeric:
        v = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float)
        finite &= np.isfinite(v)
    finite &= ~data[[firm, time, cluster, *_fe_columns(fe)]].isna().any(axis=1).to_numpy()
    counts = {}
    if (~finite).any():
        counts["missing or non-finite values"] = int((~finite).sum())
        data = data.loc[finite]
    if data.duplicated([firm, time]).any():
        rows = data.index[data.duplicated([firm, time], keep=False).to_numpy()][:5].tolist()
        raise DidDataError(f"{func}: ({firm}, {time}) is not unique, e.g. rows {rows}")
    if len(data) == 0:
        raise DidDataError(f"{func}: no observation has finite {outcome!r} and the other columns")
    return data, counts


def adoption_timing(data: pd.DataFrame, treatment: str = "sez", firm: str = "firm_id",
                    time: str = "year") -> pd.DataFrame:
    """Per firm: first treated year, whether treatment ever switches off, and treatment pattern.

    Returns
    -------
    pandas.DataFrame
        Indexed by firm, with ``first_treated`` (year of the first treated
        observation; NaN if never treated), ``always_treated`` (treated in its
        first observed year), ``reversal`` (a treated year followed by an
        untreated one) and ``ever_treated``.
    """
    d = data[[firm, time]].copy()
    d["_d"] = data[treatment].to_numpy(dtype=bool)
    d = d.sort_values([firm, time])
    g = d.groupby(firm, sort=True)["_d"]
    first_d = g.transform("first").to_numpy()
    # a reversal: some treated year before an untreated one within the firm
    cummax = g.cummax().to_numpy()
    reversal_row = cummax & ~d["_d"].to_numpy()
    out = pd.DataFrame({
        "first_treated": d[time].where(d["_d"]).groupby(d[firm]).min(),
        "always_treated": pd.Series(first_d, index=d.index).groupby(d[firm]).first(),
        "reversal": pd.Series(reversal_row, index=d.index).groupby(d[firm]).any(),
        "ever_treated": g.any(),
    })
    return out


def _handle_reversals(data: pd.DataFrame, treatment: str, firm: str, time: str, on_reversal: str,
                      func: str, counts: dict, allow_keep: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    allowed = ("error", "drop", "keep") if allow_keep else ("error", "drop")
    if on_reversal not in allowed:
        raise ValueError(f"{func}: on_reversal must be one of {allowed}, got {on_reversal!r}")
    timing = adoption_timing(data, treatment, firm, time)
    reversing = timing.index[timing.reversal.to_numpy()]
    if len(reversing) and on_reversal == "error":
        raise DidDataError(
            f"{func}: treatment {treatment!r} switches off for {len(reversing)} firm(s) (e.g. {firm} "
            f"{reversing[:5].tolist()}): a firm leaves the zone after entering it, which is not a staggered "
            "adoption; pass on_reversal='drop' to remove those firms" + (" or 'keep' to regress on the "
                                                                          "treatment as it is" if allow_keep else ""))
    if len(reversing) and on_reversal == "drop":
        drop = data[firm].isin(reversing).to_numpy()
        counts["firms whose treatment switches off (dropped)"] = int(len(reversing))
        counts["their observations"] = int(drop.sum())
        data = data.loc[~drop]
        timing = timing.loc[~timing.reversal]
    return data, timing


def _check_variation(data: pd.DataFrame, treatment: str, func: str) -> None:
    d = data[treatment].to_numpy(dtype=bool)
    if not d.any():
        raise DidDataError(f"{func}: no treated observation ({treatment!r} is never true): nothing to estimate")
    if d.all():
        raise DidDataError(f"{func}: no untreated observation ({treatment!r} is always true): "
                           "no control group for the comparison")


def _codes(data: pd.DataFrame, term: str) -> tuple[np.ndarray, int]:
    """Integer codes 0..n-1 of a fixed effect (``"a^b"``: of the interaction) and the number of levels.

    An interaction is coded from its columns' codes (``a * n_b + b``), far faster than hashing tuples.
    """
    codes, n = None, 1
    for col in term.split("^"):
        c, uniques = pd.factorize(data[col], sort=False)
        codes = c.astype(np.int64) if codes is None else codes * len(uniques) + c
        n *= len(uniques)
    if "^" in term:
        codes, uniques = pd.factorize(codes, sort=False)
        n = len(uniques)
    return codes.astype(np.int64), int(n)


def _non_singleton_rows(codes: Sequence[np.ndarray]) -> np.ndarray:
    """Rows kept once fixed-effect levels seen only once are dropped, repeatedly (as pyfixest does)."""
    n = len(codes[0])
    keep = np.ones(n, dtype=bool)
    while keep.any():
        drop = np.zeros(n, dtype=bool)
        for c in codes:
            drop |= keep & (np.bincount(c[keep], minlength=c.max() + 1)[c] == 1)
        if not drop.any():
            break
        keep &= ~drop
    return keep
