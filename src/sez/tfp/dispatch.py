"""The dispatcher: :func:`estimate` checks the options, prepares one block per group, runs the method on
each and writes log TFP back; :func:`trim_within_zone` trims it.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd

from sez.limits import MIN_GROUP_OBS, MIN_PANEL_FIRMS
from sez.progress import active as progress_active
from sez.results import Vcov, parse_vcov, renamed_keywords
from sez.tfp.linear import _fit_linear
from sez.tfp.prepare import _prepare
from sez.tfp.proxy import _fit_proxy
from sez.tfp.results import TFPResults, _listed
from sez.tfp.settings import (
    DEFAULT_CRITERION,
    FIRST_STAGE_COLLAPSE,
    FORMS,
    METHOD_CRITERIA,
    RENAMED,
    TRANSLOG_METHODS,
    Inputs,
    ProxySettings,
    TFPInputError,
    TFPWarning,
    _spec,
    as_settings,
)
from sez.tfp.terms import _mean_elasticity_map, output_elasticities, production_terms
from sez.tfp.wooldridge import _fit_wooldridge

__all__ = ["estimate", "trim_within_zone"]

_FUNC = "sez.tfp.estimate"

#: Methods whose moments use a firm's previous year, so that a group must be a panel of firms
PANEL_METHODS = ("op", "lp", "acf", "wrdg")


def _estimate_block(label, block, seed, *, method: str, settings: ProxySettings, min_obs: int, names, form: str,
                    vcov: Vcov, logged_inputs: np.ndarray, start=None) -> dict:
    if len(block.y) < min_obs:
        raise TFPInputError(f"industry {label!r}: only {len(block.y)} observation(s), need at least {min_obs}; "
                            f"pool it with others or pass small='skip'")
    if method in PANEL_METHODS:
        # productivity's law of motion is learnt from firms' consecutive years (docs/estimators.md)
        panel_firms = len(np.unique(block.firm[block.prev >= 0]))
        if panel_firms < MIN_PANEL_FIRMS:
            raise TFPInputError(f"industry {label!r}: only {panel_firms} firm(s) observed in two consecutive years, "
                                f"need at least {MIN_PANEL_FIRMS} for method {method!r} (sez.limits.MIN_PANEL_FIRMS), "
                                "which learns productivity's evolution from them; pool it with others, use "
                                "method='fe' or 'ols', or pass small='skip'")
    rng = np.random.default_rng(seed)
    if method in ("ols", "fe"):
        fit = _fit_linear(block, method, names, form)
    elif method == "wrdg":
        fit = _fit_wooldridge(block, settings.degree, min_obs, label, vcov)
    else:
        fit = _fit_proxy(block, method, settings.degree, settings.markov_degree, settings.exit_correction,
                         settings.starts, rng, min_obs, label, names, form, settings.overidentify, start,
                         logged_inputs, settings.year_effects, settings.criterion)
    fit["n_obs"] = len(block.y)
    fit["n_firms"] = len(np.unique(block.firm))
    return fit


def _block_task(item, seed_sequence, **options):
    label, block = item
    start = options["settings"].start
    if isinstance(start, dict):
        start = start.get(label)                    # a start per group
    return _estimate_block(label, block, seed_sequence, start=start, **options)


def _column_name(value, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{_FUNC}: {name} must be a column name, got {value!r}")
    return value


def _standard_error_kind(method: str, vcov: Vcov) -> str:
    if method == "ols":
        return "classical (least squares)"
    if method == "fe":
        return "classical, within regression with the firm effects' degrees of freedom (Stata's xtreg, fe)"
    if method == "wrdg":
        unit = " (both equations of a firm-year one unit)" if vcov.kind == "hetero" else ""
        return f"two-step GMM sandwich, rho's estimation included, {vcov}{unit}"
    return ""


def estimate(data: pd.DataFrame, method: str = "op", *, inputs: Inputs | dict | None = None,
             proxy_settings: ProxySettings | dict | None = None, by: str | None = None,
             form: str = "cobb-douglas", vcov: str | dict | None = None, unit: str = "firm_id",
             time: str = "year", min_obs: int = MIN_GROUP_OBS, small: str = "raise", nonpositive: str = "raise",
             trim: float | None = None, zone: str = "sez", seed: int = 0, executor=None, write_tfp: bool = True,
             **old) -> TFPResults:
    """Estimate a production function, pooled or by industry, and firm log TFP.

    Parameters
    ----------
    data : DataFrame
        Firm-year table (the ``unit`` and ``time`` columns and the inputs), e.g. in the
        ``sez.panel`` schema.
    method : {"op", "lp", "acf", "wrdg", "ols", "fe"}
        Olley-Pakes, Levinsohn-Petrin, Ackerberg-Caves-Frazer, Wooldridge, OLS, firm fixed effects.
    inputs : Inputs or dict, optional
        Which columns are output, free and state inputs, proxy and materials, and whether they
        are logged (:class:`Inputs`; a dict of its fields). None: value added on employees and
        capital.
    proxy_settings : ProxySettings or dict, optional
        Polynomial degrees, exit correction, starting values, over-identification, year
        effects and the second stage's criterion of OP, LP, ACF (and WRDG's degree)
        (:class:`ProxySettings`).
    by : str or None
        Column defining estimation groups, e.g. ``"cic2"`` for one production function per
        2-digit industry; None (the default) pools all firms.
    form : {"cobb-douglas", "translog"}
        Functional form; translog for OLS, FE and ACF. Translog coefficients are not
        elasticities: see ``elasticity_<input>`` in the estimates and the panel.
    vcov : {"CRV1": column} or "hetero", optional
        WRDG: the moments' covariance, for the efficient weight matrix and the standard errors,
        clustered by a column or by firm-year (``"hetero"``). None: ``{"CRV1": unit}``. OLS and
        FE standard errors are the classical ones (as the SEZ paper's Table 13); the others
        come from :func:`bootstrap`.
    unit, time : str
        The firm and year columns. Lags link consecutive years of a firm only.
    min_obs : int
        Fewest observations (and lagged observations) a group may have (``sez.limits.MIN_GROUP_OBS``).
        OP, LP, ACF and WRDG also need ``sez.limits.MIN_PANEL_FIRMS`` firms observed in two
        consecutive years in each group.
    small : {"raise", "skip"}
        What to do with a group below either minimum: raise naming it, the count and the minimum,
        or skip it (the reason recorded in ``diagnostics[group]["skipped"]``).
    nonpositive : {"raise", "drop"}
        Rows with missing or non-positive values of a used column: raise naming the column,
        or leave them out (counted in ``dropped``).
    trim : float, optional
        Set ``ln_tfp`` to NaN in the top and bottom ``trim`` share within each zone
        (column ``zone``), e.g. 0.005 as in the SEZ paper.
    zone : str
        The zone column ``trim`` works within.
    seed : int
        Root of the seeded streams (starting-value perturbations), child ``g`` per group.
    executor : concurrent.futures.Executor, optional
        Estimate groups in parallel through ``sez.parallel.map_items``; None runs serially.
    write_tfp : bool
        Return a copy of the panel with ``ln_tfp`` (``panel`` of the results).

    Returns
    -------
    TFPResults
        ``panel`` holds ``ln_tfp = y - f(x; b)`` on every row whose output and production
        inputs are usable (the proxy need not be), in the groups that were estimated.

    Raises
    ------
    TypeError
        For a keyword that moved into ``inputs`` or ``proxy_settings``, naming its new spelling.
    """
    from sez.parallel import SerialExecutor, map_items

    renamed_keywords(old, RENAMED, _FUNC)
    inputs = as_settings(inputs, Inputs, "inputs", _FUNC)
    settings = as_settings(proxy_settings, ProxySettings, "proxy_settings", _FUNC)
    unit, time = _column_name(unit, "unit"), _column_name(time, "time")
    if by is not None:
        _column_name(by, "by")
    if small not in ("raise", "skip") or nonpositive not in ("raise", "drop"):
        raise ValueError("small must be 'raise' or 'skip' and nonpositive 'raise' or 'drop'")
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form == "translog" and method not in TRANSLOG_METHODS:
        raise ValueError(f"form='translog' is implemented for methods {TRANSLOG_METHODS}, not {method!r}")
    vcov = parse_vcov({"CRV1": unit} if vcov is None else vcov, _FUNC, allowed=("hetero", "CRV1"))
    if isinstance(min_obs, bool) or not isinstance(min_obs, (int, np.integer)) or min_obs < 0:
        raise ValueError(f"{_FUNC}: min_obs must be a non-negative integer, got {min_obs!r}")
    if trim is not None and not 0 <= trim < 0.5:
        raise ValueError(f"{_FUNC}: trim must lie in [0, 0.5), got {trim!r}")
    y_col, free_cols, state_cols, proxy, mat_col, names = _spec(method, inputs)
    if settings.exit_correction and method != "op":
        raise ValueError(f"exit_correction is implemented for method='op' only, not {method!r}")
    if settings.criterion is not None and settings.criterion not in METHOD_CRITERIA.get(method, ()):
        raise ValueError(f"{_FUNC}: ProxySettings(criterion={settings.criterion!r}) is not available for method "
                         f"{method!r}; the criteria are {METHOD_CRITERIA} (leave criterion None for the others)")
    settings = replace(settings, markov_degree=settings.markov_degree or (1 if method == "acf" else 3),
                       starts=settings.starts or 3, criterion=settings.criterion or DEFAULT_CRITERION.get(method))
    levels = list(inputs.levels)
    cluster = vcov.cluster[0] if method == "wrdg" and vcov.kind == "CRV1" and vcov.cluster[0] != unit else None
    prepared = _prepare(data, by, y_col, free_cols, state_cols, proxy, mat_col, inputs.logged, levels, nonpositive,
                        settings.exit_correction, unit, time, cluster)
    blocks = prepared.blocks
    dropped = {k: v for k, v in prepared.dropped.items() if v}
    terms = production_terms(np.zeros((1, len(names))), names, form)[1]
    logged_inputs = np.array([c not in levels for c in names])
    items = list(blocks.items())
    fits, skipped = {}, {}
    task = functools.partial(_block_task, method=method, settings=settings, min_obs=min_obs, names=names, form=form,
                             vcov=vcov, logged_inputs=logged_inputs)
    # inside a pipeline run each industry finished is a progress line (a batch log sees the step move)
    progress = f"{method.upper()} by {by}" if by is not None and progress_active() is not None else False
    for i, fit, err in map_items(task, items, executor=executor or SerialExecutor(), seed=seed, progress=progress):
        label = items[i][0]
        if err is not None:
            if small == "skip" and isinstance(err, TFPInputError):
                skipped[label] = str(err)
                continue
            raise err
        fits[label] = fit
    _warn_flagged(fits, method, names)
    rows, se_rows, covariances = [], {}, {}
    for label, block in items:
        if label not in fits:
            continue
        fit = fits[label]
        beta = np.asarray(fit["beta"])
        row = {"group": label, **{f"beta_{c}": float(b) for c, b in zip(terms, beta)}}
        mean_map = _mean_elasticity_map(block.inputs(), form)
        elasticity = mean_map @ beta
        if form != "cobb-douglas":
            row.update({f"elasticity_{c}": float(e) for c, e in zip(names, elasticity)})
        row["returns_to_scale"] = float(elasticity[logged_inputs].sum())
        for key in ("constant", "r2", "r2_adj", "rho", "n_obs", "n_firms", "n_second_stage", "converged",
                    "plausible", "first_stage_collapse", "objective", "start_spread"):
            if key in fit:
                row[key] = fit[key]
        rows.append(row)
        if "cov" in fit:
            cov = np.asarray(fit["cov"])
            covariances[label] = pd.DataFrame(cov, index=terms, columns=terms)
            se = dict(zip(terms, np.sqrt(np.diag(cov))))
            cov_e = mean_map @ cov @ mean_map.T
            se["returns_to_scale"] = float(np.sqrt(logged_inputs @ cov_e @ logged_inputs))
            if form != "cobb-douglas":
                se.update({f"elasticity_{c}": float(v) for c, v in zip(names, np.sqrt(np.diag(cov_e)))})
            for key in ("constant", "rho"):
                if f"se_{key}" in fit:
                    se[key] = fit[f"se_{key}"]
            se_rows[label] = se
    estimates = pd.DataFrame(rows).set_index("group") if rows else pd.DataFrame()
    se = None
    if se_rows:
        se = pd.DataFrame(se_rows).T
        se.index.name = "group"
    hidden = ("beta", "se", "cov", "elasticity")
    diagnostics = {label: {k: v for k, v in fit.items() if k not in hidden} for label, fit in fits.items()}
    for label, why in skipped.items():
        diagnostics[label] = {"skipped": why}
    result = TFPResults(method=method, output=inputs.output, inputs=names, estimates=estimates,
                        diagnostics=diagnostics, panel=None, dropped=dropped, standard_errors=se, form=form,
                        terms=terms, by=by, vcov=vcov.spec if method == "wrdg" else None, covariances=covariances,
                        standard_error_kind=_standard_error_kind(method, vcov))
    if write_tfp:
        out = data.copy()
        ln_tfp = np.full(len(data), np.nan)
        elasticities = np.full((len(data), len(names)), np.nan)
        for label, fit in fits.items():
            at = np.flatnonzero(prepared.production_ok & (prepared.groups == label))
            x = prepared.inputs[at]
            ln_tfp[at] = prepared.y[at] - production_terms(x, names, form)[0] @ fit["beta"]
            elasticities[at] = output_elasticities(x, np.asarray(fit["beta"]), form)
        if trim:
            ln_tfp, result.trimmed = trim_within_zone(ln_tfp, out, zone, trim)
        out["ln_tfp"] = ln_tfp
        if form != "cobb-douglas":
            for j, c in enumerate(names):
                out[f"elasticity_{c}"] = elasticities[:, j]
        result.panel = out
    return result


def _warn_flagged(fits: dict, method: str, names: Sequence[str]) -> None:
    """One TFPWarning per kind of flag, naming the groups."""
    collapsed = [g for g, f in fits.items() if f.get("first_stage_collapse")]
    if collapsed:
        free = list(names[:len(fits[collapsed[0]]["ols_free"])])
        example = fits[collapsed[0]]
        warnings.warn(
            f"{method}: the first-stage coefficient of {', '.join(free)} is below {FIRST_STAGE_COLLAPSE:.0%} of its "
            f"least-squares value in {len(collapsed)} group(s) ({_listed(collapsed)}; e.g. "
            f"{np.round(example['beta'][:len(free)], 3).tolist()} against "
            f"{np.round(example['ols_free'], 3).tolist()}): the proxy moves with the free input(s) given capital "
            f"and productivity (materials ordered for the realised labour), so the first stage cannot identify "
            f"them and the estimates are not consistent (Ackerberg, Caves and Frazer, 2015); use method='acf'",
            TFPWarning, stacklevel=3)
    implausible = [g for g, f in fits.items() if f.get("plausible") is False]
    if implausible:
        example = dict(zip(names, np.round(fits[implausible[0]]["elasticity"], 3).tolist()))
        warnings.warn(f"{method}: a negative output elasticity in {len(implausible)} group(s) "
                      f"({_listed(implausible)}; e.g. {example}): outside the parameter space; the second stage "
                      f"prefers roots with non-negative elasticities, and diagnostics[group]['starts'] lists every "
                      f"start", TFPWarning, stacklevel=3)


def trim_within_zone(ln_tfp: np.ndarray, panel: pd.DataFrame, zone: str, share: float) -> tuple[np.ndarray, int]:
    """Blank the top and bottom ``share`` of log TFP within each zone (SEZ paper, appendix A1.2).

    Returns the trimmed copy and the number of values blanked; a zone with fewer
    than two finite values is left as it is.
    """
    if zone not in panel.columns:
        raise TFPInputError(f"column {zone!r} is missing: trimming works within each zone")
    ln_tfp = ln_tfp.copy()
    zones = panel[zone].to_numpy()
    trimmed = 0
    for z in pd.unique(zones):
        at = np.flatnonzero((zones == z) & np.isfinite(ln_tfp))
        if len(at) < 2:
            continue
        lo, hi = np.quantile(ln_tfp[at], [share, 1 - share])
        cut = at[(ln_tfp[at] < lo) | (ln_tfp[at] > hi)]
        ln_tfp[cut] = np.nan
        trimmed += len(cut)
    return ln_tfp, trimmed
