"""Checks and preparation shared by the DiD estimators: columns, treatment, reversals, fixed-effect codes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sez.errors import DidDataError
from sez.limits import MIN_CLUSTERS
from sez.panel import as_columns, require_columns
from sez.results import Vcov, empty_sample, parse_vcov, renamed_keywords


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
             vcov: Vcov, unit: str, time: str, func: str, extra: Sequence[str] = (),
             weights: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Columns used, rows with missing values dropped (counted), treatment as bool; ``weights`` (a column)
    must be positive where it is not missing.
    """
    weighted = [weights] if weights is not None else []
    used = list(dict.fromkeys([unit, time, outcome, treatment, *controls, *vcov.cluster, *_fe_columns(fe), *extra,
                               *weighted]))
    require_columns(panel, used, func)
    data = panel[used].copy()
    data[treatment] = _as_treatment(data[treatment], treatment, func)
    usable = {col: np.isfinite(pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float))
              for col in [outcome, *controls, *weighted]}
    if weights is not None:
        check_weights(data[weights], weights, func)
    usable.update({col: data[col].notna().to_numpy() for col in [unit, time, *vcov.cluster, *_fe_columns(fe)]
                   if col not in usable})
    finite = np.logical_and.reduce(list(usable.values()))
    counts = {}
    if (~finite).any():
        counts["missing or non-finite values"] = int((~finite).sum())
        data = data.loc[finite]
    if data.duplicated([unit, time]).any():
        rows = data.index[data.duplicated([unit, time], keep=False).to_numpy()][:5].tolist()
        raise DidDataError(f"{func}: ({unit}, {time}) is not unique, e.g. rows {rows}")
    if len(data) == 0:
        raise DidDataError(f"{func}: no observation is left: {empty_sample(usable)}")
    for column in vcov.cluster:
        n = data[column].nunique()
        if n < MIN_CLUSTERS:
            raise DidDataError(f"{func}: clustered standard errors need at least {MIN_CLUSTERS} clusters; "
                               f"{column!r} has {n} in the estimation sample: cluster by another column or use "
                               "vcov='hetero'")
    return data, counts


def adoption_timing(data: pd.DataFrame, treatment: str = "sez", unit: str = "firm_id",
                    time: str = "year", **old) -> pd.DataFrame:
    """Per firm: first treated year, whether treatment ever switches off, and treatment pattern.

    Returns
    -------
    pandas.DataFrame
        Indexed by firm, with ``first_treated`` (year of the first treated
        observation; NaN if never treated), ``always_treated`` (treated in its
        first observed year), ``reversal`` (a treated year followed by an
        untreated one) and ``ever_treated``.
    """
    renamed_keywords(old, RENAMED, "adoption_timing")
    d = data[[unit, time]].copy()
    d["_d"] = data[treatment].to_numpy(dtype=bool)
    d = d.sort_values([unit, time])
    g = d.groupby(unit, sort=True)["_d"]
    first_d = g.transform("first").to_numpy()
    # a reversal: some treated year before an untreated one within the firm
    cummax = g.cummax().to_numpy()
    reversal_row = cummax & ~d["_d"].to_numpy()
    out = pd.DataFrame({
        "first_treated": d[time].where(d["_d"]).groupby(d[unit]).min(),
        "always_treated": pd.Series(first_d, index=d.index).groupby(d[unit]).first(),
        "reversal": pd.Series(reversal_row, index=d.index).groupby(d[unit]).any(),
        "ever_treated": g.any(),
    })
    return out


def _handle_reversals(data: pd.DataFrame, treatment: str, unit: str, time: str, on_reversal: str,
                      func: str, counts: dict, allow_keep: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    allowed = ("error", "drop", "keep") if allow_keep else ("error", "drop")
    if on_reversal not in allowed:
        raise ValueError(f"{func}: on_reversal must be one of {allowed}, got {on_reversal!r}")
    timing = adoption_timing(data, treatment, unit, time)
    reversing = timing.index[timing.reversal.to_numpy()]
    if len(reversing) and on_reversal == "error":
        raise DidDataError(
            f"{func}: treatment {treatment!r} switches off for {len(reversing)} firm(s) (e.g. {unit} "
            f"{reversing[:5].tolist()}): a firm leaves the zone after entering it, which is not a staggered "
            "adoption; pass on_reversal='drop' to remove those firms" + (" or 'keep' to regress on the "
                                                                          "treatment as it is" if allow_keep else ""))
    if len(reversing) and on_reversal == "drop":
        drop = data[unit].isin(reversing).to_numpy()
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


#: Standard errors the imputation estimator's analytic formula gives (Borusyak, Jaravel and Spiess, 2024)
IMPUTATION_VCOV = ("hetero", "CRV1")
#: Why the imputation estimator has no ``"iid"`` (said in the error)
IMPUTATION_VCOV_WHY = ("the analytic variance of Borusyak, Jaravel and Spiess (2024) is cluster-robust; 'hetero' "
                       "treats each firm-year as its own cluster")


def check_weights(values: pd.Series, name: str, func: str) -> None:
    """Raise naming the column and rows when a (non-missing) weight is not a positive number."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = values.notna().to_numpy() & ~(numeric > 0)
    if bad.any():
        rows = values.index[np.flatnonzero(bad)[:5]].tolist()
        raise DidDataError(f"{func}: weights {name!r} must be positive numbers; {int(bad.sum())} row(s) are not, "
                           f"e.g. rows {rows}: drop those rows or give them a positive weight")


def resolve_vcov(vcov, unit: str, func: str, allowed: tuple[str, ...] = ("iid", "hetero", "CRV1"),
                 max_clusters: int = 2, why: str = "") -> Vcov:
    """``vcov`` in pyfixest's spelling, parsed; None clusters by the unit (``{"CRV1": unit}``)."""
    if vcov is None:
        return Vcov("CRV1", (unit,))
    if isinstance(vcov, Vcov):
        vcov = vcov.spec
    return parse_vcov(vcov, func, allowed, max_clusters, why)


def cluster_codes(data: pd.DataFrame, vcov: Vcov) -> list[np.ndarray]:
    """Each row's cluster as an integer, one array per clustering dimension: the cluster columns' codes,
    or each row its own cluster for ``"hetero"``.
    """
    if vcov.kind == "CRV1":
        return [pd.factorize(data[column])[0] for column in vcov.cluster]
    return [np.arange(len(data))]


def count_clusters(data: pd.DataFrame, vcov: Vcov) -> int | None:
    """Clusters in ``data`` (the fewest over the columns of a multi-way clustering); None when not clustered."""
    if vcov.kind != "CRV1":
        return None
    return int(min(data[c].nunique() for c in vcov.cluster))


#: Keywords renamed in the move to one vocabulary: old -> new (an old one raises a TypeError naming the new).
RENAMED = {"cluster": "'vcov' (e.g. vcov={'CRV1': 'firm_id'})", "firm": "'unit'"}


def arguments(func: str, fe, controls, vcov, unit: str, old: dict, allowed: tuple[str, ...] = ("iid", "hetero", "CRV1"),
              max_clusters: int = 2, why: str = "") -> tuple[tuple[str, ...], tuple[str, ...], Vcov]:
    """The shared arguments of the DiD estimators checked: ``fe`` and ``controls`` as tuples, ``vcov`` parsed."""
    renamed_keywords(old, RENAMED, func)
    return as_columns(fe, "fe", func), as_columns(controls, "controls", func), resolve_vcov(
        vcov, unit, func, allowed, max_clusters, why)
