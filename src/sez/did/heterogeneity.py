"""Heterogeneous effects: pre-entry groups, effects by group, triple differences, moderated imputation."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sez.did._pyfixest import _feols
from sez.did.imputation import _cells, _Imputer
from sez.did.mediation import _plain
from sez.did.prepare import RENAMED, _as_treatment, _check_variation, _prepare, arguments, count_clusters
from sez.did.results import DidResults
from sez.did.twfe import twfe_results
from sez.errors import DidDataError
from sez.panel import require_columns
from sez.results import Vcov, degenerate, renamed_keywords, two_sided_p


def pre_period_quintile(data: pd.DataFrame, variable: str = "ln_tfp", treatment: str = "sez",
                        unit: str = "firm_id", time: str = "year", groups: int = 5,
                        basis: str = "mean", **old) -> pd.Series:
    """Each firm's quintile (1 = lowest) of ``variable`` before it entered a zone.

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table.
    variable : str
        The pre-entry level to classify on (the paper: log TFP).
    treatment : str
        0/1 or boolean column; a firm's entry year is its first treated year.
    groups : int
        Number of groups (5: quintiles), cut over firms so that each holds
        about the same number of them.
    basis : str
        ``"mean"``: the mean of ``variable`` over the firm's years before its
        entry year (never-treated firms: over all their years). ``"pre<k>"``
        (``"pre1"`` .. ``"pre5"``, any k >= 1): the value in the calendar year
        ``k`` years before entry, the paper's definition (Tables 19-20 and
        29-31, "Pre5" for k = 5).

    Returns
    -------
    pandas.Series
        Nullable integer group per row (``<variable>_pre_quintile``), NA for
        firms that cannot be classified. ``attrs["counts"]`` counts firms:
        ``classified``, ``treated from their first observed year (no
        pre-entry year)``, and, with ``"pre<k>"``, ``never treated (no entry
        year)`` and ``no observation k years before entry`` (a gap in the
        panel at that year, or a missing value there); with ``"mean"``,
        ``no finite pre-entry value``. ``attrs["basis"]`` holds the basis.
        All NA when no firm can be classified.

    Notes
    -----
    With ``"pre<k>"`` only treated firms observed ``k`` years before entry
    are classified, so a regression by group (:func:`by_group`,
    :func:`heterogeneity_table`) compares treated firms entering at
    different times (not-yet-treated firms are the controls), as the paper's
    subsamples, whose sizes are a small share of its full panel, suggest.
    Firms whose treatment switches off are classified by their first entry.
    """
    func = "pre_period_quintile"
    renamed_keywords(old, RENAMED, func)
    require_columns(data, [unit, time, variable, treatment], func)
    lag = None
    if basis != "mean":
        match = re.fullmatch(r"pre([1-9][0-9]*)", str(basis))
        if match is None:
            raise ValueError(f"{func}: basis must be 'mean' or 'pre<k>' with k >= 1 (e.g. 'pre5'), got {basis!r}")
        lag = int(match.group(1))
    treated = _as_treatment(data[treatment], treatment, func)
    firms = data[unit].to_numpy()
    years = pd.to_numeric(data[time]).to_numpy(dtype=float)
    values = pd.to_numeric(data[variable], errors="coerce").to_numpy(dtype=float)
    first = pd.Series(np.where(treated, years, np.inf)).groupby(firms).min()
    start = pd.Series(years).groupby(firms).min()
    never = ~np.isfinite(first)
    always = np.isfinite(first) & (first <= start)
    counts = {"firms": int(len(first))}
    if lag is None:
        before = years < pd.Series(firms).map(first).to_numpy()
        ok = before & np.isfinite(values)
        level = pd.Series(values[ok]).groupby(firms[ok]).mean()
        counts["treated from their first observed year (no pre-entry year)"] = int(always.sum())
        counts["no finite pre-entry value"] = int((~first.index.isin(level.index) & ~always.to_numpy()).sum())
    else:
        target = pd.Series(firms).map(first).to_numpy() - lag
        ok = (years == target) & np.isfinite(values)
        level = pd.Series(values[ok]).groupby(firms[ok]).first()
        counts["never treated (no entry year)"] = int(never.sum())
        counts["treated from their first observed year (no pre-entry year)"] = int(always.sum())
        counts[f"no observation {lag} years before entry"] = int(
            (~first.index.isin(level.index) & ~never.to_numpy() & ~always.to_numpy()).sum())
    counts["classified"] = int(len(level))
    if len(level):
        q = pd.qcut(level, groups, labels=False, duplicates="drop") + 1
    else:  # nothing to classify (e.g. every firm treated from its first year): all NA, counted
        q = pd.Series(dtype=float)
    out = data[unit].map(q).astype("Int64").rename(f"{variable}_pre_quintile")
    out.attrs.update(counts=counts, basis=basis)
    return out


def by_group(data: pd.DataFrame, outcome: str, group: pd.Series | str, treatment: str = "sez",
             fe: Sequence[str] = ("firm_id", "year"), vcov: str | dict | None = None, unit: str = "firm_id",
             time: str = "year", **old) -> DidResults:
    """TWFE effect of the treatment in each group: ``y = sum_g b_g D_it 1[G_i = g] + FE``
    (the SEZ paper's Tables 19-20 with ``group = pre_period_quintile(...)``).

    Returns DidResults with ``params`` indexed by the group levels (sorted);
    rows with no group are dropped and counted in ``counts["no group"]``, and
    ``counts["treated observations in group <g>"]`` holds each group's treated firm-years.
    ``vcov``, ``unit`` and ``time`` are those of :func:`sez.did.twfe`.
    """
    func = "by_group"
    fe, _, vcov = arguments(func, fe, (), vcov, unit, old)
    g = data[group] if isinstance(group, str) else pd.Series(group, index=data.index)
    sample = data.assign(_group=g.to_numpy())
    missing = int(sample["_group"].isna().sum())
    sample = sample.loc[sample["_group"].notna()]
    prepared, counts = _prepare(sample, outcome, treatment, fe, (), vcov, unit, time, func, extra=["_group"])
    if missing:
        counts["no group"] = missing
    _check_variation(prepared, treatment, func)
    levels = sorted(prepared["_group"].unique())
    names = []
    for k, level in enumerate(levels):
        name = f"_treated_g{k}"
        in_group = (prepared["_group"] == level).to_numpy()
        prepared[name] = prepared[treatment].to_numpy(dtype=float) * in_group
        counts[f"treated observations in group {_plain(level)}"] = int(prepared.loc[in_group, treatment].sum())
        names.append(name)
    fit = _feols(prepared, outcome, names, fe, vcov)
    result = twfe_results(fit, prepared, outcome, treatment, dict(zip(names, levels)), fe, vcov, counts)
    result.params.index.name = result.bse.index.name = "group"
    return result


def triple_difference(data: pd.DataFrame, outcome: str, moderator: str, treatment: str = "sez",
                      fe: Sequence[str] = ("firm_id", "year"), vcov: str | dict | None = None,
                      unit: str = "firm_id", time: str = "year", **old) -> DidResults:
    """``y = b1 D + b2 D x M + b3 M + FE``: how the treatment effect changes with a
    moderator M (a high-agglomeration indicator or log EG: the SEZ paper's Tables
    31-32). Returns DidResults with the three terms ``<treatment>``,
    ``<treatment> x <moderator>`` and ``<moderator>``; a moderator constant within
    firms is absorbed by firm effects (its own coefficient is NaN).
    """
    func = "triple_difference"
    fe, _, vcov = arguments(func, fe, (), vcov, unit, old)
    sample, counts = _prepare(data, outcome, treatment, fe, (moderator,), vcov, unit, time, func)
    _check_variation(sample, treatment, func)
    m = pd.to_numeric(sample[moderator]).to_numpy(dtype=float)
    sample["_treated"] = sample[treatment].to_numpy(dtype=float)
    sample["_treated_x_moderator"] = sample["_treated"] * m
    sample["_moderator"] = m
    names = ["_treated", "_treated_x_moderator", "_moderator"]
    fit = _feols(sample, outcome, names, fe, vcov)
    index = [treatment, f"{treatment} x {moderator}", moderator]
    return twfe_results(fit, sample, outcome, treatment, dict(zip(names, index)), fe, vcov, counts)


def _moderated_imputation(data: pd.DataFrame, outcome: str, treatment: str, fe: Sequence[str], vcov: Vcov,
                          time: str, first: np.ndarray, main_effect: bool, tol: float) -> list[dict]:
    """Imputation estimates of the effect at M = 0 and its slope in M (rows ``sez`` and ``sez_x_m``)."""
    controls = ["_treat_x_m"] + (["_moderator"] if main_effect else [])
    untreated = ~data[treatment].to_numpy(dtype=bool)
    if untreated.any() and np.ptp(data.loc[untreated, "_post_x_m"].to_numpy(dtype=float)) > 0:
        controls.append("_post_x_m")  # a post that differs from the treatment enters the untreated model
    imp = _Imputer(data, outcome, treatment, fe, controls, vcov, tol)
    target = imp.treated & imp.imputable
    if not target.any():
        raise DidDataError("imputation: no treated firm-year can be imputed")
    mod = data["_moderator"].to_numpy(dtype=float)
    x = np.column_stack([np.ones(int(target.sum())), mod[target]])
    if np.linalg.matrix_rank(x) < 2:
        raise DidDataError("imputation: the moderator does not vary over the treated firm-years, so the effect "
                           "cannot be projected on it")
    proj = np.linalg.solve(x.T @ x, x.T)  # rows: the intercept's and the slope's weights on the target rows
    fitted = np.zeros(len(data))
    fitted[target] = x @ (proj @ imp.tau[target])
    cells = _cells(first, data[time].to_numpy(dtype=float))
    nobs = int((~imp.treated).sum() + target.sum())
    g = count_clusters(data, vcov)
    df = None if g is None else g - 1
    rows = []
    for term, w_target in zip(("sez", "sez_x_m"), proj):
        weights = np.zeros(len(data))
        weights[target] = w_target
        est, se = imp.estimate(weights, cells, tau_fit=fitted)
        rows.append({"estimator": "imputation", "term": term, "coef": est, "se": se,
                     "p_value": np.nan if degenerate(est, se) else float(two_sided_p(est / se, df)),
                     "omitted": False,
                     "nobs": nobs, "n_clusters": g, "r2": np.nan, "constant": np.nan})
    return rows
