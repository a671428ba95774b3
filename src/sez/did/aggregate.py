"""Aggregations of group-time effects: simple, dynamic (event time), group and calendar.

The four summaries of Callaway and Sant'Anna (2021), as the R package ``did``
(``aggte``) computes them, shared by :func:`sez.did.callaway_santanna` and by
:func:`aggregate_cohort_effects`, which applies them to Sun and Abraham's (2021)
cohort-by-event-time coefficients. Each aggregated parameter is a linear
combination ``w' att`` of the group-time effects whose weights are cohort
shares; its influence function adds the derivative of ``w' att`` with respect
to the cohort sizes (the weight-estimation term of ``did::aggte``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from sez.results import Results

#: The aggregations of ``did::aggte``.
AGGREGATIONS = ("simple", "dynamic", "group", "calendar")

#: The label of the average of an aggregation's components (over event times >= 0, cohorts or years).
OVERALL = "overall"

#: Interquartile range of the standard normal: a bootstrap standard error is the draws' IQR over it (``did``).
_NORMAL_IQR = stats.norm.ppf(0.75) - stats.norm.ppf(0.25)


class Combinations(NamedTuple):
    """Aggregated parameters as combinations of K group-time effects and C cohort sizes.

    ``weights`` (P x K) gives each parameter's weights on the effects;
    ``size_derivatives`` (P x C) the derivative of each parameter with respect to
    the number of units in each cohort of ``cohorts``, the term a unit adds to
    the influence function through its own cohort's share; ``keys`` the event
    time, cohort or year of each parameter (NaN for ``overall``).
    """

    labels: list[str]
    keys: np.ndarray
    weights: np.ndarray
    size_derivatives: np.ndarray
    cohorts: np.ndarray


def combinations(cohorts: np.ndarray, times: np.ndarray, att: np.ndarray, cohort_sizes: pd.Series,
                 kind: str, func: str = "aggregate") -> Combinations:
    """The parameters of aggregation ``kind`` over the group-time effects ``att`` of (cohort, year) pairs.

    As ``did::aggte``, with ``N_g`` the units of cohort g and "post" meaning
    ``year >= cohort``:

    - ``simple``: the post effects averaged with weights ``N_g``;
    - ``dynamic``: for each event time ``e = year - cohort``, the effects at ``e``
      averaged with weights ``N_g``; ``overall`` averages event times >= 0 equally;
    - ``group``: for each cohort, its post effects averaged equally; ``overall``
      averages the cohorts with weights ``N_g``;
    - ``calendar``: for each year from the first cohort's on, the post effects of
      that year averaged with weights ``N_g``; ``overall`` averages the years equally.
    """
    if kind not in AGGREGATIONS:
        raise ValueError(f"{func}: kind must be one of {AGGREGATIONS}, got {kind!r}")
    cohorts, times, att = (np.asarray(a, dtype=float) for a in (cohorts, times, att))
    sizes = cohort_sizes.astype(float)
    levels = sizes.index.to_numpy(dtype=float)
    missing = sorted(set(cohorts.tolist()) - set(levels.tolist()))
    if missing:
        raise ValueError(f"{func}: cohort_sizes has no size for cohort(s) {missing}: give every cohort's units")
    size = sizes.reindex(cohorts).to_numpy()
    post = cohorts <= times
    rows: list[tuple[str, float, np.ndarray, np.ndarray]] = []

    def size_weighted(on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weights N_g / sum N_g on the effects ``on`` and the derivative of the average in each N_c."""
        total = size[on].sum()
        w = np.where(on, size / total, 0.0)
        theta = w @ att
        # d/dN_c of sum_k N_k att_k / sum_k N_k: (sum over the cohort's effects of att_k - theta) / total
        d = np.bincount(np.searchsorted(levels, cohorts[on]), weights=att[on] - theta, minlength=len(levels))
        return w, d / total

    def add_overall(parts: list, equal: bool) -> None:
        if not parts:
            return
        w = np.array([p[2] for p in parts])
        d = np.array([p[3] for p in parts])
        if equal:
            rows.append((OVERALL, np.nan, w.mean(axis=0), d.mean(axis=0)))
            return
        # cohorts weighted by N_g: the same derivative rule, one "effect" per cohort
        keys = np.array([p[1] for p in parts])
        n = sizes.reindex(keys).to_numpy()
        share = n / n.sum()
        theta_g = w @ att
        theta = share @ theta_g
        d_overall = share @ d
        d_overall[np.searchsorted(levels, keys)] += (theta_g - theta) / n.sum()
        rows.append((OVERALL, np.nan, share @ w, d_overall))

    if kind == "simple":
        if post.any():
            rows.append(("ATT", np.nan, *size_weighted(post)))
    elif kind == "dynamic":
        event = times - cohorts
        for e in np.unique(event):
            rows.append((f"ATT(e={e:g})", e, *size_weighted(event == e)))
        add_overall([r for r in rows if r[1] >= 0], equal=True)
    elif kind == "group":
        for g in np.unique(cohorts):
            on = (cohorts == g) & post
            if on.any():
                rows.append((f"ATT(g={g:g})", g, on / on.sum(), np.zeros(len(levels))))
        add_overall(list(rows), equal=False)
    else:
        for t in np.unique(times[times >= cohorts.min()]) if len(cohorts) else []:
            on = (times == t) & post
            if on.any():
                rows.append((f"ATT(t={t:g})", t, *size_weighted(on)))
        add_overall(list(rows), equal=True)
    k, c = len(att), len(levels)
    return Combinations([r[0] for r in rows], np.array([r[1] for r in rows], dtype=float),
                        np.array([r[2] for r in rows]).reshape(-1, k), np.array([r[3] for r in rows]).reshape(-1, c),
                        levels)


def combination_cov(comb: Combinations, effects_cov: np.ndarray, effects_sizes_cov: np.ndarray | None = None,
                    sizes_cov: np.ndarray | None = None) -> np.ndarray:
    """Covariance of the parameters ``comb`` from that of the effects and, when given, the cohort sizes' terms.

    With ``A`` the effects' covariance, ``B`` their covariance with the cohort
    counts' influence terms and ``C`` those terms' own covariance (all as sums
    over clusters of products of influence functions), the parameters'
    covariance is ``W A W' + W B D' + D B' W' + D C D'``. Without ``B`` and ``C``
    the weights are treated as known.
    """
    w, d = comb.weights, comb.size_derivatives
    cov = w @ effects_cov @ w.T
    if effects_sizes_cov is not None:
        cross = w @ effects_sizes_cov @ d.T
        cov = cov + cross + cross.T + d @ sizes_cov @ d.T
    return cov


def bootstrap_se(draws: np.ndarray) -> np.ndarray:
    """Standard errors from multiplier-bootstrap draws of estimate minus truth (B x P): IQR / 1.349, as ``did``."""
    q75, q25 = np.percentile(draws, [75, 25], axis=0, method="inverted_cdf")
    return (q75 - q25) / _NORMAL_IQR


def uniform_critical_value(draws: np.ndarray, se: np.ndarray, alpha: float = 0.05) -> float:
    """Critical value of a simultaneous band: the 1 - alpha quantile of max_p |draw_p / se_p| (sup-t)."""
    ok = np.isfinite(se) & (se > 0)
    if not ok.any():
        return np.nan
    top = np.max(np.abs(draws[:, ok] / se[ok]), axis=1)
    return float(np.percentile(top, 100 * (1 - alpha), method="inverted_cdf"))


@dataclass(frozen=True, repr=False)
class AggregateResults(Results):
    """One aggregation (simple, dynamic, group or calendar) of group-time effects.

    Follows the results protocol of :mod:`sez.results`; inference is normal.
    ``params`` are indexed by labels (``"ATT(e=2)"``, ``"ATT(g=2004)"``,
    ``"ATT(t=2005)"``, ``"ATT"`` for the simple aggregation and ``"overall"`` for
    the average of the components); ``keys`` holds each one's event time, cohort
    or year (NaN for ``overall``). ``covariance`` is the parameters' covariance.
    ``critical_value`` is the sup-t critical value of a 95% simultaneous band over
    the components when the standard errors come from the multiplier bootstrap
    (NaN otherwise).
    """

    estimator: str
    kind: str
    outcome: str
    params: pd.Series
    bse: pd.Series
    keys: pd.Series
    covariance: pd.DataFrame
    nobs: int
    n_clusters: int | None = None
    vcov: str | dict | None = None
    counts: dict = field(default_factory=dict)
    conventions: str = ""
    critical_value: float = np.nan

    def cov_params(self) -> pd.DataFrame:
        """The parameters' covariance."""
        return self.covariance

    @property
    def components(self) -> pd.DataFrame:
        """The tidy frame of the components (not ``overall``) with their event time, cohort or year."""
        key = {"dynamic": "event_time", "group": "cohort", "calendar": "year", "simple": "key"}[self.kind]
        out = self.tidy()
        out.insert(0, key, self.keys)
        return out.loc[self.keys.notna().to_numpy()]

    def event_study_table(self, name: str = "callaway_santanna") -> pd.DataFrame:
        """The dynamic aggregation as :class:`sez.did.EventStudyResults` tables it: one row per event time,
        columns ``<name>_coef``, ``<name>_se``, ``<name>_lower``, ``<name>_upper`` (95%, normal quantiles).
        """
        if self.kind != "dynamic":
            raise ValueError(f"event_study_table: needs the dynamic aggregation, this is {self.kind!r}: "
                             "call aggregate('dynamic')")
        parts = self.components
        # an effect fixed at 0 (a universal base period) has bounds 0, as the event study's reference period
        fixed = parts["std_err"].isna() & (parts["estimate"] == 0)
        return pd.DataFrame({f"{name}_coef": parts["estimate"].to_numpy(), f"{name}_se": parts["std_err"].to_numpy(),
                             f"{name}_lower": parts["conf_low"].mask(fixed, 0.0).to_numpy(),
                             f"{name}_upper": parts["conf_high"].mask(fixed, 0.0).to_numpy()},
                            index=pd.Index(parts["event_time"].astype(int).to_numpy(), name="event_time"))

    def _title(self) -> str:
        return f"{self.estimator}: {self.kind} aggregation of the effects on {self.outcome}"

    def _notes(self) -> list[str]:
        notes = [self.conventions]
        if self.counts:
            notes.append("Set aside: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        if np.isfinite(self.critical_value):
            notes.append(f"Simultaneous 95% band: estimate +/- {self.critical_value:.4g} standard errors")
        return notes


def aggregate_cohort_effects(estimates: pd.Series, covariance: pd.DataFrame, cohort_sizes: pd.Series,
                             kind: str = "simple", outcome: str = "", nobs: int = 0,
                             estimator: str = "Sun and Abraham (2021)") -> AggregateResults:
    """Aggregate cohort-by-event-time effects (Sun and Abraham, 2021) as ``did::aggte`` aggregates ATT(g,t).

    Parameters
    ----------
    estimates : pandas.Series
        Effects indexed by (cohort, event_time), e.g. Sun and Abraham's
        interaction coefficients; the year of each is ``cohort + event_time``.
    covariance : pandas.DataFrame
        Their covariance (the same index on both axes), e.g. the regression's clustered one.
    cohort_sizes : pandas.Series
        Units per cohort, indexed by cohort: the weights of :func:`combinations`.
    kind : {"simple", "dynamic", "group", "calendar"}

    Returns
    -------
    AggregateResults

    Notes
    -----
    Standard errors are ``sqrt(w' V w)`` (delta method) with the cohort shares
    treated as known: unlike :func:`sez.did.callaway_santanna`, whose
    influence functions give the covariance of the effects with the cohort
    counts, a regression's covariance does not, so the weight-estimation term of
    ``did::aggte`` is left out (it is small when cohorts are large). Each
    estimate is relative to the regression's reference event time, so "post"
    (event time >= 0) effects are comparable with Callaway and Sant'Anna's
    only when that reference is -1 (their base period). A binned end point of
    an event study counts as one event time.
    """
    func = "aggregate_cohort_effects"
    if not isinstance(estimates.index, pd.MultiIndex) or estimates.index.nlevels != 2:
        raise ValueError(f"{func}: estimates must be indexed by (cohort, event_time), got index "
                         f"{estimates.index.names}")
    cov = covariance.reindex(index=estimates.index, columns=estimates.index)
    if cov.isna().to_numpy().any():
        raise ValueError(f"{func}: covariance lacks some (cohort, event_time) entries of estimates, or holds NaN: "
                         "give the covariance of exactly those estimates")
    cohorts = estimates.index.get_level_values(0).to_numpy(dtype=float)
    event = estimates.index.get_level_values(1).to_numpy(dtype=float)
    att = estimates.to_numpy(dtype=float)
    comb = combinations(cohorts, cohorts + event, att, cohort_sizes, kind, func)
    cov_p = combination_cov(comb, cov.to_numpy(dtype=float))
    return aggregated_results(comb, att, cov_p, None, estimator, kind, outcome, nobs,
                              conventions="Delta-method standard errors, cohort shares treated as known.")


def aggregated_results(comb: Combinations, att: np.ndarray, cov: np.ndarray, draws: np.ndarray | None,
                       estimator: str, kind: str, outcome: str, nobs: int, reference: np.ndarray | None = None,
                       **extra) -> AggregateResults:
    """AggregateResults from combinations, the effects, the analytic covariance and optional bootstrap draws.

    ``reference`` marks effects fixed at 0 by construction (a universal base
    period); a parameter made of those only gets no standard error.
    """
    params = pd.Series(comb.weights @ att, index=comb.labels, dtype=float)
    critical = np.nan
    if draws is None:
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    else:
        se = bootstrap_se(draws)
        cov = np.cov(draws, rowvar=False).reshape(len(params), len(params))
        components = np.isfinite(comb.keys)
        critical = uniform_critical_value(draws[:, components], se[components]) if components.any() else np.nan
    if reference is not None:
        fixed = ~(np.abs(comb.weights[:, ~reference]) > 0).any(axis=1)
        se = np.where(fixed, np.nan, se)
    labels: Sequence[str] = comb.labels
    return AggregateResults(estimator, kind, outcome, params, pd.Series(se, index=labels, dtype=float),
                            pd.Series(comb.keys, index=labels), pd.DataFrame(cov, index=labels, columns=labels),
                            nobs, critical_value=critical, **extra)


def sun_abraham_aggregate(result, kind: str = "simple", cohort_sizes: pd.Series | None = None) -> AggregateResults:
    """Aggregate the Sun and Abraham (2021) cohort-by-event-time coefficients of an event study.

    ``result`` is an :class:`sez.did.EventStudyResults` run with
    ``estimators=(..., "sun_abraham")``; its ``fits["sun_abraham"]`` holds the
    coefficients and their clustered covariance, ``fits["sun_abraham_weights"]``
    the firm-years of each (cohort, event time) cell. ``cohort_sizes`` defaults
    to each cohort's largest cell among the event times strictly inside the
    window (the number of its firms in a balanced panel; the binned end points
    pool several event times). See :func:`aggregate_cohort_effects` for the
    aggregations and their standard errors; choose ``reference=-1`` and a
    window that bins nothing for effects comparable with
    :func:`sez.did.callaway_santanna`'s.
    """
    func = "sun_abraham_aggregate"
    fits = getattr(result, "fits", {})
    if "sun_abraham" not in fits:
        raise ValueError(f"{func}: the event study has no Sun-Abraham fit: run event_study(..., "
                         "estimators=(..., 'sun_abraham'))")
    fit, cells = fits["sun_abraham"], fits["sun_abraham_weights"]
    estimates = pd.Series(fit.coef[cells["name"]].to_numpy(dtype=float), index=cells.index)
    cov = fit.vcov.loc[cells["name"], cells["name"]]
    cov = pd.DataFrame(cov.to_numpy(dtype=float), index=cells.index, columns=cells.index)
    if cohort_sizes is None:
        lo, hi = result.window
        event = cells.index.get_level_values("event_time")
        inside = cells.loc[(event > lo) & (event < hi), "n"]
        cohort_sizes = inside.groupby(level="cohort").max().reindex(
            cells.index.get_level_values("cohort").unique()).fillna(cells["n"].groupby(level="cohort").max())
    return aggregate_cohort_effects(estimates, cov, cohort_sizes, kind, result.outcome,
                                    int(result.nobs_by_estimator.get("sun_abraham", 0)))
