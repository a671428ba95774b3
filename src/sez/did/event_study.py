"""Event studies (TWFE, imputation, Sun and Abraham 2021) and the entry-year and trend-break specifications."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from sez.did._pyfixest import _feols, _n_clusters, _note_collinear, formula_roles
from sez.did.callaway import callaway_santanna
from sez.did.imputation import _cells, _Imputer, imputation_results
from sez.did.prepare import (
    IMPUTATION_VCOV,
    IMPUTATION_VCOV_WHY,
    _check_variation,
    _codes,
    _handle_reversals,
    _prepare,
    arguments,
    as_columns,
    cluster_codes,
    count_clusters,
)
from sez.did.results import DidResults, EventStudyResults
from sez.did.solver import _sparse_fe_regression
from sez.did.twfe import twfe_results
from sez.errors import CollinearError, DidDataError
from sez.results import Vcov

#: The estimators an event study can put side by side, in the order of its table and figure.
EVENT_STUDY_ESTIMATORS = ("twfe", "imputation", "sun_abraham", "callaway_santanna")


def _estimators(estimators, func: str) -> tuple[str, ...]:
    out = as_columns(estimators, "estimators", func)
    unknown = set(out) - set(EVENT_STUDY_ESTIMATORS)
    if unknown:
        raise ValueError(f"{func}: unknown estimator(s) {sorted(unknown)}")
    return out


def _vcov_support(estimators: Sequence[str]) -> tuple[tuple[str, ...], int, str]:
    """The ``vcov`` kinds and cluster columns every requested estimator supports, and why not others."""
    if set(estimators) <= {"twfe"}:
        return ("iid", "hetero", "CRV1"), 2, ""
    if "callaway_santanna" in estimators:
        return ("CRV1",), 1, ("Callaway and Sant'Anna's influence functions are clustered one way, by the unit or a "
                              "column constant within each unit")
    if "sun_abraham" in estimators:
        return IMPUTATION_VCOV, 1, "the Sun-Abraham regression's covariance is clustered one way ('hetero': by row)"
    return IMPUTATION_VCOV, 2, IMPUTATION_VCOV_WHY


def _event_time(data: pd.DataFrame, treatment: str, unit: str, time: str, on_reversal: str, func: str,
                counts: dict) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows with an observed entry year or never treated; each row's entry year and event time.

    Firms treated in their first observed year are dropped (their entry year
    is not observed) and counted. Event time is NaN for never-treated firms.
    """
    data, timing = _handle_reversals(data, treatment, unit, time, on_reversal, func, counts, allow_keep=False)
    always = timing.index[timing.always_treated.to_numpy()]
    if len(always):
        drop = data[unit].isin(always).to_numpy()
        counts["firms treated in their first observed year (dropped)"] = int(len(always))
        counts["their observations"] = counts.get("their observations", 0) + int(drop.sum())
        data = data.loc[~drop]
    _check_variation(data, treatment, func)
    data = data.reset_index(drop=True)
    first = data[unit].map(timing.first_treated).to_numpy(dtype=float)
    return data, first, data[time].to_numpy(dtype=float) - first


def _event_name(k: int) -> str:
    return f"ev_m{-k}" if k < 0 else f"ev_p{k}"


def _sun_abraham(data: pd.DataFrame, outcome: str, first: np.ndarray, binned: np.ndarray, reference: int,
                 event_times: list[int], fe: Sequence[str], controls: Sequence[str], vcov: Vcov, time: str,
                 counts: dict) -> tuple[dict, object, int, int, pd.DataFrame]:
    """Interaction-weighted event study (Sun and Abraham, 2021).

    One regression of the outcome on a dummy per (entry cohort, binned event
    time) except the reference event time, the fixed effects and controls;
    the control cohort (never-treated firms, or, when there are none, the
    last cohort to enter, in the years before it enters) has no dummy. The
    coefficient at event time k is ``sum_g w_gk b_gk`` with ``w_gk`` the share
    of cohort g among the estimation sample's firm-years at event time k; its
    standard error ``sqrt(w' V w)`` from the clustered covariance of the
    ``b_gk`` (shares treated as known).

    Returns ``({k: (coef, se)}, fit, nobs, n_clusters, weights)`` with
    ``weights`` indexed by (cohort, event_time).
    """
    cohort = np.asarray(first, dtype=float)
    keep = np.ones(len(data), dtype=bool)
    years = data[time].to_numpy(dtype=float)
    if np.isfinite(cohort).all():
        # no never-treated firm: the last cohort is the control, before it enters
        last = float(np.nanmax(cohort))
        keep &= years < last
        counts["Sun-Abraham: no never-treated firm; last cohort (entry " + f"{last:g}" + ") is the control, "
               "firm-years from its entry on dropped"] = int((~keep).sum())
        cohort = np.where(cohort == last, np.nan, cohort)
    # a cohort never observed in the reference bin has coefficients identified only up to a constant
    treated_cohorts = np.unique(cohort[np.isfinite(cohort) & keep])
    with_ref = np.unique(cohort[np.isfinite(cohort) & keep & (binned == reference)])
    lacking = np.setdiff1d(treated_cohorts, with_ref)
    if len(lacking):
        drop = np.isin(cohort, lacking) & keep
        counts[f"Sun-Abraham: cohorts never observed at the reference event time {reference} (dropped): "
               + ", ".join(f"{c:g}" for c in lacking)] = int(drop.sum())
        keep &= ~drop
    sub = data.loc[keep].reset_index(drop=True)
    cohort, ev = cohort[keep], binned[keep]
    if not np.isfinite(cohort).any():
        raise DidDataError("event_study: Sun-Abraham has no treated cohort observed at the reference event time")
    names, cells = [], []
    for g in np.unique(cohort[np.isfinite(cohort)]):
        for k in event_times:
            if k == reference:
                continue
            on = (cohort == g) & (ev == k)
            if on.any():
                names.append(f"_sa_{len(names)}")
                cells.append((g, k, on))
    # the cohort-by-event-time dummies stay sparse: dense, with pyfixest's copies, they took 16.5 GiB at
    # the papers' scale (see _sparse_fe_regression)
    from scipy import sparse

    rows = np.concatenate([np.flatnonzero(on) for _, _, on in cells])
    columns = np.concatenate([np.full(int(on.sum()), j) for j, (_, _, on) in enumerate(cells)])
    dummies = sparse.csc_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(sub), len(cells)))
    design = sparse.hstack([dummies, sparse.csc_matrix(sub[list(controls)].to_numpy(dtype=float))]
                           if controls else [dummies]).tocsc()
    fit = _sparse_fe_regression(sub[outcome].to_numpy(dtype=float), design, [*names, *controls],
                                [_codes(sub, term)[0] for term in fe], cluster_codes(sub, vcov)[0])
    counts["singleton observations (Sun-Abraham)"] = int(len(sub) - fit.nobs)
    dropped = [c for c in fit.collinear if not c.startswith("_")]
    if dropped:
        counts[f"regressors collinear with the fixed effects (no coefficient): {', '.join(dropped)}"] = len(dropped)
    used = fit.used
    estimated = [c for c in fit.coef.index if np.isfinite(fit.coef[c])]
    b = fit.coef
    cov = fit.vcov
    weights = pd.DataFrame([(g, k, int((on & used).sum())) for g, k, on in cells],
                           columns=["cohort", "event_time", "n"]).assign(name=names)
    collinear = ~weights["name"].isin(estimated) & (weights["n"] > 0)
    if collinear.any():
        counts["Sun-Abraham: cohort x event-time cells collinear with the fixed effects (no coefficient)"] = int(
            collinear.sum())
    weights = weights.loc[weights["name"].isin(estimated) & (weights["n"] > 0)]
    weights["weight"] = weights["n"] / weights.groupby("event_time")["n"].transform("sum")
    out = {}
    for k, w in weights.groupby("event_time"):
        wv = w["weight"].to_numpy()
        v = cov.loc[w["name"], w["name"]].to_numpy()
        out[int(k)] = (float(wv @ b[w["name"]].to_numpy()), float(np.sqrt(wv @ v @ wv)))
    return out, fit, fit.nobs, fit.n_clusters, weights.set_index(["cohort", "event_time"])


def event_study(data: pd.DataFrame, outcome: str, treatment: str = "sez", window: tuple[int, int] = (-5, 10),
                reference: int = -5, fe: Sequence[str] = ("firm_id", "year"), controls: Sequence[str] = (),
                vcov: str | dict | None = None, unit: str = "firm_id", time: str = "year",
                estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "error",
                tol: float = 1e-10, **old) -> EventStudyResults:
    """Event study of entry into a zone (the paper's eqs. 11-13), TWFE beside imputation.

    Event time is the year minus the firm's first treated year. Event times
    below ``window[0]`` are binned into ``window[0]`` and above ``window[1]``
    into ``window[1]`` (binned end points), so every treated firm's years are
    covered. The paper omits the dummy five years before entry
    (``reference=-5``); with the default window that is the lower bin.
    Parameters not listed below are those of :func:`twfe`.

    Parameters
    ----------
    window : (int, int)
        First and last event time with its own coefficient (ends binned).
    reference : int
        Omitted event time (coefficient 0), a pre-entry period.
    estimators : sequence of {"twfe", "imputation", "sun_abraham", "callaway_santanna"}
        Which estimators to report. The Callaway and Sant'Anna (2021) column is
        the dynamic aggregation of :func:`sez.did.callaway_santanna` (never-treated
        controls, or not-yet-treated where no unit is never treated), relative to
        the year before entry (its universal base period) whatever ``reference``,
        with the end points of the window not binned; it takes no controls.

    Returns
    -------
    EventStudyResults

    Notes
    -----
    TWFE: one regression with a dummy per event time except the reference,
    never-treated firms having all dummies 0. With heterogeneous dynamic
    effects its coefficients are contaminated by effects at other event times
    and other cohorts (Sun and Abraham, 2021).

    Imputation (Borusyak, Jaravel and Spiess, 2024): post-entry coefficients
    (event time >= 0) average the imputed ``tau_it`` by event time;
    pre-entry coefficients come from their separate pre-trend test, a
    regression on untreated firm-years of the outcome on the fixed effects and
    lead dummies (relative to the reference bin and never-treated firms), so
    they never enter the post-entry estimates.

    Sun and Abraham (2021), ``"sun_abraham"``: the interaction-weighted
    estimator. One regression with a dummy per entry cohort and (binned)
    event time except the reference, the never-treated firms as the control
    cohort (when there are none, the last cohort to enter, with the
    firm-years from its entry year on dropped, as they suggest); each event
    time's coefficient averages the cohort coefficients with weights equal to
    the cohorts' shares of the firm-years at that event time, and its
    standard error is ``sqrt(w' V w)`` from the clustered covariance (the
    shares treated as known, which omits their small sampling variance).
    Cohorts never observed at the reference event time (for
    ``reference=-5``, cohorts entering less than five years after the panel
    starts) cannot be compared with it and are dropped, counted. Unlike the
    TWFE coefficients, these are not contaminated by the effects of other
    event times when effects differ by cohort; the binned end points still
    average over the event times they pool. Weights are in
    ``fits["sun_abraham_weights"]``.

    Firms treated in their first observed year (entry year unobserved) are
    dropped, counted in ``counts``.
    """
    func = "event_study"
    outcome, treatment, fe, controls = formula_roles(outcome, treatment, fe, controls, func)
    whole = [v for v in (*window, reference) if isinstance(v, bool) or not isinstance(v, (int, np.integer))]
    if len(window) != 2 or whole:
        raise ValueError(f"{func}: window = (first, last) and reference are whole event times (years), got "
                         f"window={window}, reference={reference}")
    lo, hi = int(window[0]), int(window[1])
    if not lo <= reference < 0 or hi < 0:
        raise ValueError(f"{func}: need window[0] <= reference < 0 <= window[1], got window={window}, "
                         f"reference={reference}")
    estimators = _estimators(estimators, func)
    fe, controls, vcov = arguments(func, fe, controls, vcov, unit, old, *_vcov_support(estimators))
    sample, counts = _prepare(data, outcome, treatment, fe, controls, vcov, unit, time, func)
    sample, first, event = _event_time(sample, treatment, unit, time, on_reversal, func, counts)
    binned = np.clip(event, lo, hi)
    event_times = list(range(lo, hi + 1))
    estimated = [k for k in event_times if k != reference]
    fits, nobs, n_clusters = {}, {}, {}
    table = pd.DataFrame(index=pd.Index(event_times, name="event_time"))
    table["n_treated_obs"] = [int(np.sum(binned == k)) for k in event_times]
    z = stats.norm.ppf(0.975)
    if "twfe" in estimators:
        names = []
        for k in estimated:
            if np.any(binned == k):  # an event time no firm reaches has no dummy (it would be collinear)
                sample[_event_name(k)] = (binned == k).astype(float)
                names.append(_event_name(k))
        coef = se = pd.Series(dtype=float)
        try:
            fit = _feols(sample, outcome, [*names, *controls], fe, vcov)
        except CollinearError:
            # every event time absorbed (every firm entering in the same year makes event time calendar
            # time): no coefficient, as the imputation column's event times with nothing to impute from
            regressors = [*names, *controls]
            counts[f"regressors collinear with the fixed effects (no coefficient): {', '.join(regressors)}"] = len(
                regressors)
            nobs["twfe"], n_clusters["twfe"] = 0, count_clusters(sample, vcov)
        else:
            fits["twfe"] = fit
            nobs["twfe"], n_clusters["twfe"] = int(fit._N), _n_clusters(fit, sample, vcov)
            counts["singleton observations (TWFE)"] = int(len(sample) - fit._N)
            _note_collinear(fit, counts)
            coef, se = fit.coef(), fit.se()
        table["twfe_coef"] = [0.0 if k == reference else coef.get(_event_name(k), np.nan) for k in event_times]
        table["twfe_se"] = [np.nan if k == reference else se.get(_event_name(k), np.nan) for k in event_times]
        sample = sample.drop(columns=names)
    if "imputation" in estimators:
        imp = _Imputer(sample, outcome, treatment, fe, controls, vcov, tol)
        counts["treated observations not imputable"] = int((imp.treated & ~imp.imputable).sum())
        counts.update(imp.not_imputable)
        nobs["imputation"] = int((~imp.treated).sum() + (imp.treated & imp.imputable).sum())
        n_clusters["imputation"] = count_clusters(sample, vcov)
        cells = _cells(first, sample[time].to_numpy(dtype=float))
        post = {}
        for k in range(0, hi + 1):
            target = imp.treated & imp.imputable & (binned == k)
            if target.any():
                post[k] = imp.estimate(np.where(target, 1.0 / target.sum(), 0.0), cells)
        # pre-trend test on untreated rows: leads relative to the reference bin and never-treated firms
        untreated = sample.loc[~imp.treated].copy()
        ev_u = binned[~imp.treated]
        leads = [k for k in range(lo, 0) if k != reference]
        lead_names = []
        for k in leads:
            if np.any(ev_u == k):
                untreated[_event_name(k)] = (ev_u == k).astype(float)
                lead_names.append(_event_name(k))
        pre = {}
        if lead_names:
            try:
                pre_fit = _feols(untreated, outcome, [*lead_names, *controls], fe, vcov)
            except CollinearError:
                counts["imputation pre-trend: leads collinear with the fixed effects (no coefficient): "
                       + ", ".join(lead_names)] = len(lead_names)
            else:
                fits["imputation_pretrend"] = pre_fit
                pc, ps = pre_fit.coef(), pre_fit.se()
                pre = {k: (pc.get(_event_name(k), np.nan), ps.get(_event_name(k), np.nan)) for k in leads}
        coef_col, se_col = [], []
        for k in event_times:
            if k == reference:
                c, s = 0.0, np.nan
            elif k >= 0:
                c, s = post.get(k, (np.nan, np.nan))
            else:
                c, s = pre.get(k, (np.nan, np.nan))
            coef_col.append(c)
            se_col.append(s)
        table["imputation_coef"] = coef_col
        table["imputation_se"] = se_col
    if "sun_abraham" in estimators:
        sa, sa_fit, nobs["sun_abraham"], n_clusters["sun_abraham"], sa_weights = _sun_abraham(
            sample, outcome, first, binned, reference, event_times, fe, controls, vcov, time, counts)
        fits["sun_abraham"], fits["sun_abraham_weights"] = sa_fit, sa_weights
        table["sun_abraham_coef"] = [0.0 if k == reference else sa.get(k, (np.nan, np.nan))[0] for k in event_times]
        table["sun_abraham_se"] = [np.nan if k == reference else sa.get(k, (np.nan, np.nan))[1] for k in event_times]
    if "callaway_santanna" in estimators:
        if controls:
            raise ValueError(f"{func}: the Callaway-Sant'Anna column has no covariates (unconditional parallel "
                             f"trends); drop controls {list(controls)} or that estimator")
        treated_ever = sample.groupby(unit)[treatment].transform("any").to_numpy(dtype=bool)
        cs_sample, cs_vcov = sample, vcov.spec
        for column in (c for c in vcov.cluster if c != unit):
            # its influence functions are per unit: a unit whose cluster changes (a firm moving city) is
            # clustered by its first one, counted
            first_value = sample.groupby(unit)[column].transform("first")
            moved = sample.loc[first_value.ne(sample[column]).to_numpy(), unit].nunique()
            if moved:
                counts[f"units clustered by their first {column} (Callaway-Sant'Anna; it changes within them)"] = (
                    int(moved))
                cs_sample = sample.assign(**{column: first_value})
        cs = callaway_santanna(cs_sample, outcome, treatment,
                               control="never" if (~treated_ever).any() else "not_yet", base_period="universal",
                               vcov=cs_vcov, unit=unit, time=time)
        fits["callaway_santanna"] = cs
        nobs["callaway_santanna"], n_clusters["callaway_santanna"] = cs.nobs, cs.n_clusters
        # relative to the year before entry (its universal base), whatever ``reference``; end points not binned
        dynamic = cs.event_study_table().reindex(event_times)
        for column in dynamic.columns:
            table[column] = dynamic[column]
    names = tuple(e for e in EVENT_STUDY_ESTIMATORS if e in estimators)
    for e in (e for e in names if e != "callaway_santanna"):
        table[f"{e}_lower"] = table[f"{e}_coef"] - z * table[f"{e}_se"]
        table[f"{e}_upper"] = table[f"{e}_coef"] + z * table[f"{e}_se"]
        table.loc[reference, [f"{e}_lower", f"{e}_upper"]] = 0.0
    return EventStudyResults(outcome, treatment, reference, (lo, hi), table, names, fits, counts, nobs, n_clusters,
                             vcov.spec)


TREND_FORMS = {
    "paper": ("current", "post_sez"),
    "linear": ("pre_trend", "sez", "post_trend"),
}


def trend_specification(data: pd.DataFrame, outcome: str, form: str = "paper", treatment: str = "sez",
                        fe: Sequence[str] = ("firm_id", "year"), controls: Sequence[str] = (),
                        vcov: str | dict | None = None, unit: str = "firm_id", time: str = "year",
                        estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "error",
                        tol: float = 1e-10, **old) -> dict[str, DidResults]:
    """Effects of entry on the level and the trend of the outcome, TWFE beside imputation.

    ``form="paper"`` is the SEZ paper's Appendix A4 (Table 18): ``current`` is
    one in the entry year (event time 0) and ``post_sez`` in the years after
    (event time >= 1), so the two coefficients split the static effect of
    eq. 10 into the entry year and what follows.

    ``form="linear"`` is a trend-break model in event time ``e`` (years since
    entry; treated firms only)::

        y_it = FE + pi (e_it treat_i) + beta D_it + gamma (e_it D_it) + delta X_it

    ``pre_trend`` (pi) is the movers' own linear trend relative to other firms
    (zero under parallel trends), ``sez`` (beta) the jump at entry and
    ``post_trend`` (gamma) the change in slope after entry, both relative to the
    extrapolated pre-entry trend.

    The imputation estimator (Borusyak, Jaravel and Spiess, 2024) fits the
    untreated model on untreated firm-years (with ``pre_trend`` among its
    regressors for the linear form, so the imputed outcome continues the
    pre-entry trend) and then takes linear functionals of the imputed effects:
    their averages at event time 0 and at event times >= 1 (paper form), or
    the least-squares intercept and slope of ``tau_it`` on event time (linear
    form). ``pre_trend`` is then the coefficient of the untreated fit, with
    its clustered standard error from that fit.

    Firms treated in their first observed year are dropped (counted), as in
    :func:`event_study`.

    Returns
    -------
    dict
        ``{"twfe": DidResults, "imputation": DidResults}`` (those requested);
        ``params`` are indexed by the terms above (then the controls for TWFE).
    """
    func = "trend_specification"
    if form not in TREND_FORMS:
        raise ValueError(f"{func}: form must be one of {sorted(TREND_FORMS)}, got {form!r}")
    estimators = _estimators(estimators, func)
    fe, controls, vcov = arguments(func, fe, controls, vcov, unit, old, *_vcov_support(estimators))
    sample, counts = _prepare(data, outcome, treatment, fe, controls, vcov, unit, time, func)
    sample, first, event = _event_time(sample, treatment, unit, time, on_reversal, func, counts)
    terms = TREND_FORMS[form]
    treated = sample[treatment].to_numpy(dtype=bool)
    ever = np.isfinite(first)
    e = np.nan_to_num(event)
    if form == "paper":
        sample["_current"] = (treated & (e == 0)).astype(float)
        sample["_post_sez"] = (treated & (e >= 1)).astype(float)
    else:
        sample["_pre_trend"] = np.where(ever, e, 0.0)
        sample["_sez"] = treated.astype(float)
        sample["_post_trend"] = np.where(treated, e, 0.0)
    columns = [f"_{t}" for t in terms]  # underscored: never the name of a user's column
    out = {}
    if "twfe" in estimators:
        fit = _feols(sample, outcome, [*columns, *controls], fe, vcov)
        twfe_counts = dict(counts, **{"singleton observations": int(len(sample) - fit._N)})
        shown = dict(zip([*columns, *controls], [*terms, *controls]))
        out["twfe"] = twfe_results(fit, sample, outcome, treatment, shown, fe, vcov, twfe_counts)
    if "imputation" in estimators:
        untreated_model = [*controls] if form == "paper" else ["_pre_trend", *controls]
        imp = _Imputer(sample, outcome, treatment, fe, untreated_model, vcov, tol)
        imp_counts = dict(counts, **{"treated observations not imputable": int((imp.treated & ~imp.imputable).sum())},
                          **imp.not_imputable)
        target = imp.treated & imp.imputable
        if not target.any():
            raise DidDataError(f"{func}: no treated firm-year can be imputed from untreated observations")
        cells = _cells(first, sample[time].to_numpy(dtype=float))
        params, ses = {}, {}
        if form == "paper":
            for term, rows in (("current", target & (e == 0)), ("post_sez", target & (e >= 1))):
                weights = np.where(rows, 1.0 / max(rows.sum(), 1), 0.0)
                params[term], ses[term] = imp.estimate(weights, cells) if rows.any() else (np.nan, np.nan)
        else:
            params["pre_trend"] = float(imp.control_coef["_pre_trend"])
            ses["pre_trend"] = float(imp.control_fit.se()["_pre_trend"])
            # least squares of tau on (1, e) over the treated: each coefficient is a weighted sum of tau
            x = np.column_stack([np.ones(target.sum()), e[target]])
            rows_of_inverse = np.linalg.solve(x.T @ x, x.T)
            for term, w in zip(("sez", "post_trend"), rows_of_inverse):
                weights = np.zeros(len(sample))
                weights[target] = w
                params[term], ses[term] = imp.estimate(weights, cells)
        index = list(terms)
        conventions = ("Conventions: untreated model fitted on untreated firm-years"
                       + (" with the pre-entry trend among its regressors" if form == "linear" else "")
                       + "; analytic clustered SE of Borusyak, Jaravel and Spiess (2024), the untreated model's "
                       "slopes treated as known.")
        out["imputation"] = imputation_results(outcome, treatment, pd.Series([params[t] for t in index], index=index),
                                               pd.Series([ses[t] for t in index], index=index),
                                               int((~imp.treated).sum() + target.sum()), sample, fe, vcov, imp_counts,
                                               conventions)
    return out
