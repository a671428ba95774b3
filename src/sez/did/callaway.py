"""The group-time estimator of Callaway and Sant'Anna (2021), for unbalanced panels at the papers' scale.

Written here rather than wrapped: moderndid 0.2.0's ``att_gt(...,
allow_unbalanced_panel=True)`` stops with a TypeError on an unbalanced panel,
and the ASIE firm panel (590,000 firms, 2.3 million firm-years over 16 years)
is heavily unbalanced, firms entering and leaving. On balanced panels every
ATT(g,t), standard error and aggregation equals moderndid's (and so the R
package ``did``'s); ``tests/did/test_callaway.py`` checks them, and the
published ``mpdta`` numbers. ``docs/estimators.md`` states the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sez.did.aggregate import (
    AGGREGATIONS,
    AggregateResults,
    aggregated_results,
    bootstrap_se,
    combination_cov,
    combinations,
    uniform_critical_value,
)
from sez.did.prepare import RENAMED, _as_treatment, _handle_reversals, resolve_vcov
from sez.errors import DidDataError
from sez.limits import MIN_CLUSTERS
from sez.panel import require_columns
from sez.results import Results, empty_sample, renamed_keywords

ESTIMATOR = "Callaway and Sant'Anna (2021)"

#: Controls for a cohort's ATT(g,t): never-treated units, or those too not yet treated (in both years).
CONTROLS = ("never", "not_yet")

#: The base period of pre-entry ATT(g,t): the year before (``varying``) or the year before entry (``universal``).
BASE_PERIODS = ("varying", "universal")

#: Influence-function entries (units x group-time pairs) built at once; bounds the working memory (~8 bytes each).
_CHUNK_ENTRIES = 4_000_000

# Mammen's (1993) two-point multipliers: mean 0, variance 1, third moment 1 (as did's multiplier bootstrap)
_SQRT5 = np.sqrt(5.0)
_MAMMEN = ((1 - _SQRT5) / 2, (1 + _SQRT5) / 2)
_MAMMEN_P = (_SQRT5 + 1) / (2 * _SQRT5)


@dataclass(frozen=True, repr=False)
class CallawaySantAnnaResults(Results):
    """Group-time average effects ATT(g,t) of Callaway and Sant'Anna (2021).

    Follows the results protocol of :mod:`sez.results` (normal inference):
    ``params`` are indexed by ``"ATT(g,t)"`` labels, e.g. ``"ATT(2004,2006)"``
    for the cohort first treated in 2004, in 2006. :meth:`aggregate` gives the
    simple, dynamic, group and calendar summaries of ``did::aggte``;
    :meth:`event_study_table` the dynamic one as the event-study figure's table.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per ATT(g,t): ``cohort``, ``year``, ``base_year``, ``event_time``,
        ``post`` (year >= cohort), ``reference`` (the universal base period's
        ATT(g, g-1), 0 by construction), ``estimate``, ``std_err``,
        ``n_treated`` and ``n_control`` (units observed in both years),
        ``n_cohort`` (units of the cohort).
    covariance : pandas.DataFrame
        Covariance of the ATT(g,t) (from the influence functions, or the bootstrap draws).
    cohort_sizes : pandas.Series
        Units per cohort, the aggregations' weights.
    n_units, nobs : int
        Units and unit-years in the estimation sample.
    counts : dict
        Rows, units and pairs set aside, by reason.
    critical_value : float
        Sup-t critical value of a 95% simultaneous band over the ATT(g,t) (bootstrap only; NaN otherwise).
    """

    outcome: str
    treatment: str
    params: pd.Series
    bse: pd.Series
    covariance: pd.DataFrame
    table: pd.DataFrame
    cohort_sizes: pd.Series
    nobs: int
    n_units: int
    n_clusters: int
    control: str
    base_period: str
    anticipation: int
    vcov: str | dict
    bootstrap: int | None
    counts: dict = field(default_factory=dict)
    critical_value: float = np.nan
    # sums over clusters of influence-function products: effects x cohort counts, cohort counts x cohort counts
    _effects_sizes_cov: np.ndarray = field(default=None, repr=False)
    _sizes_cov: np.ndarray = field(default=None, repr=False)
    _analytic_cov: np.ndarray = field(default=None, repr=False)
    # bootstrap draws: of the effects (B x K) and of the cohort counts' influence (B x C)
    _draws: np.ndarray | None = field(default=None, repr=False)
    _size_draws: np.ndarray | None = field(default=None, repr=False)

    def cov_params(self) -> pd.DataFrame:
        """The ATT(g,t) covariance."""
        return self.covariance

    @property
    def conventions(self) -> str:
        """Controls, base period, anticipation and standard errors in words."""
        controls = {"never": "never-treated units", "not_yet": "never-treated and not-yet-treated units"}
        se = (f"multiplier bootstrap ({self.bootstrap} draws, Mammen weights, by cluster)" if self.bootstrap
              else "analytic, from the influence functions")
        return (f"Conventions: controls {controls[self.control]}; {self.base_period} base period; anticipation "
                f"{self.anticipation}; no covariates (unconditional parallel trends); each ATT(g,t) uses the units "
                f"observed in both its years; standard errors {se}, clustered by {self.vcov['CRV1']}.")

    def aggregate(self, kind: str = "simple") -> AggregateResults:
        """The ``kind`` aggregation of ``did::aggte`` (``simple``, ``dynamic``, ``group``, ``calendar``).

        Standard errors include the estimation of the cohort-share weights (the
        weight-estimation term of ``did::aggte``); with ``bootstrap`` they come
        from the same multiplier draws as the ATT(g,t)'s.
        """
        if kind not in AGGREGATIONS:
            raise ValueError(f"aggregate: kind must be one of {AGGREGATIONS}, got {kind!r}")
        t = self.table
        att = t["estimate"].to_numpy(dtype=float)
        comb = combinations(t["cohort"].to_numpy(), t["year"].to_numpy(), att, self.cohort_sizes, kind, "aggregate")
        cov = combination_cov(comb, self._analytic_cov, self._effects_sizes_cov, self._sizes_cov)
        draws = None if self._draws is None else (self._draws @ comb.weights.T
                                                  + self._size_draws @ comb.size_derivatives.T)
        return aggregated_results(comb, att, cov, draws, ESTIMATOR, kind, self.outcome, self.nobs,
                                  t["reference"].to_numpy(dtype=bool), n_clusters=self.n_clusters, vcov=self.vcov,
                                  counts=self.counts, conventions=self.conventions)

    def event_study_table(self, name: str = "callaway_santanna") -> pd.DataFrame:
        """The dynamic aggregation with the event-study figure's columns (see
        :meth:`sez.did.aggregate.AggregateResults.event_study_table`).
        """
        return self.aggregate("dynamic").event_study_table(name)

    def _title(self) -> str:
        return f"{ESTIMATOR}: group-time effects on {self.outcome} ({self.treatment})"

    def _notes(self) -> list[str]:
        notes = [f"{self.n_units} units, {self.n_clusters} clusters", self.conventions,
                 "Set aside: " + (", ".join(f"{k} {v}" for k, v in self.counts.items()) or "none")]
        if np.isfinite(self.critical_value):
            notes.append(f"Simultaneous 95% band: estimate +/- {self.critical_value:.4g} standard errors")
        return notes


def callaway_santanna(data: pd.DataFrame, outcome: str, treatment: str | None = "sez", *, cohort: str | None = None,
                      control: str = "never", base_period: str = "varying", anticipation: int = 0,
                      vcov: dict | None = None, bootstrap: int | None = None, seed: int | None = None,
                      unit: str = "firm_id", time: str = "year", on_reversal: str = "error",
                      **old) -> CallawaySantAnnaResults:
    """Group-time average treatment effects ATT(g,t) of Callaway and Sant'Anna (2021), without covariates.

    ATT(g,t) is the average effect in year t on the units first treated in
    year g (cohort g): the change of the outcome from the base year to t among
    cohort g minus the same change among the controls, over the units observed
    in both years.

    Parameters
    ----------
    data : pandas.DataFrame
        Unit-year panel, balanced or not.
    outcome : str
        Outcome column.
    treatment : str, optional
        A 0/1 (or boolean) absorbing treatment column (``"sez"``, as every
        estimator of ``sez.did``); a unit's cohort is its first treated year.
        Not used when ``cohort`` is given (pass ``treatment=None`` then, or leave
        the default).
    cohort : str, optional
        A first-treatment-year column (whole years, constant within a unit; 0 or
        missing for never treated). A year after the panel's last means never
        treated within it (counted), as in ``did``.
    control : {"never", "not_yet"}
        Controls: never-treated units, or also the units not yet treated in
        either year of the comparison (first treated after ``max(t, base) + anticipation``).
    base_period : {"varying", "universal"}
        Base year of pre-entry ATT(g,t): the year before t (``varying``), or the
        last year before ``g - anticipation`` for all (``universal``; then
        ATT(g, that year) is 0 with no standard error). Post-entry ATT(g,t)
        always compare with the last year before ``g - anticipation``.
    anticipation : int
        Years before entry in which units may already react.
    vcov : dict, optional
        ``{"CRV1": column}`` with a column constant within each unit; the
        default clusters by ``unit``.
    bootstrap : int, optional
        Multiplier-bootstrap draws (Mammen weights, by cluster) for the standard
        errors and a simultaneous band; None (default) gives the analytic ones.
    seed : int, optional
        Seed of the bootstrap draws.
    unit, time : str
        Unit and (whole-year) time columns.
    on_reversal : {"error", "drop"}
        What to do with units whose ``treatment`` switches off.

    Returns
    -------
    CallawaySantAnnaResults

    Notes
    -----
    Units treated in their first observed year (their untreated outcome is
    never seen) are dropped and counted, as by :func:`sez.did.event_study`.
    A pair (g,t) with no treated or no control unit observed in both years is
    not estimated (counted). Unbalanced panels: each ATT(g,t) is the panel
    estimator on the units observed in both of its years, and its influence
    function is zero for the other units; this equals ``did``'s panel
    estimator on a balanced panel and keeps the unit's own before-after
    difference (unlike ``did``'s repeated cross-section form for unbalanced
    panels, which compares cross-sectional means and so is far less precise
    when unit effects are large). It is consistent when, within a cohort,
    being observed in both years is unrelated to the outcome's change.
    """
    func = "callaway_santanna"
    renamed_keywords(old, RENAMED, func)
    if cohort is not None and treatment not in (None, "sez"):
        raise ValueError(f"{func}: give one of treatment= (a 0/1 column) and cohort= (a first-treatment-year column), "
                         f"not both: got treatment={treatment!r}, cohort={cohort!r}")
    if cohort is not None:
        treatment = None
    elif treatment is None:
        raise ValueError(f"{func}: give treatment= (a 0/1 column) or cohort= (a first-treatment-year column)")
    if control not in CONTROLS:
        raise ValueError(f"{func}: control must be one of {CONTROLS}, got {control!r}")
    if base_period not in BASE_PERIODS:
        raise ValueError(f"{func}: base_period must be one of {BASE_PERIODS}, got {base_period!r}")
    if isinstance(anticipation, bool) or not isinstance(anticipation, (int, np.integer)) or anticipation < 0:
        raise ValueError(f"{func}: anticipation must be a whole number of years >= 0, got {anticipation!r}")
    if bootstrap is not None and (isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer))
                                  or bootstrap < 2):
        raise ValueError(f"{func}: bootstrap must be None (analytic standard errors) or a number of draws >= 2, "
                         f"got {bootstrap!r}")
    vcov = resolve_vcov(vcov, unit, func, allowed=("CRV1",), max_clusters=1)
    cluster = vcov.cluster[0]
    column = treatment if cohort is None else cohort
    sample, counts = _sample(data, outcome, column, cohort is not None, cluster, unit, time, func)
    if cohort is None:
        sample, first_treated = _cohort_from_treatment(sample, treatment, unit, time, on_reversal, func, counts)
    else:
        first_treated = _cohort_from_column(sample, cohort, unit, func)
    panel = _panel(sample, outcome, first_treated, cluster, unit, time, column, control, func, counts)
    pairs = _pairs(panel, control, base_period, int(anticipation), counts)
    if not len(pairs):
        raise DidDataError(f"{func}: no ATT(g,t) can be estimated: no cohort has a treated and a control unit "
                           f"observed in both years of a comparison ({column!r})")
    moments = _influence_moments(panel, pairs, bootstrap, seed, counts)
    return _results(panel, pairs, moments, outcome, column, control, base_period, int(anticipation), vcov.spec,
                    bootstrap, counts)


def _sample(data: pd.DataFrame, outcome: str, column: str, missing_is_never: bool, cluster: str, unit: str,
            time: str, func: str) -> tuple[pd.DataFrame, dict]:
    """The columns used, rows with a missing value dropped (counted); checks of time and uniqueness.

    A missing cohort (``missing_is_never``) means never treated and keeps its row.
    """
    used = list(dict.fromkeys([unit, time, outcome, column, cluster]))
    require_columns(data, used, func)
    sample = data[used]
    years = pd.to_numeric(sample[time], errors="coerce").to_numpy(dtype=float)
    bad = np.isfinite(years) & (years != np.round(years))
    if bad.any():
        rows = sample.index[np.flatnonzero(bad)[:5]].tolist()
        raise DidDataError(f"{func}: time {time!r} must hold whole years (periods); {int(bad.sum())} row(s) do not, "
                           f"e.g. rows {rows}: recode it to integers")
    usable = {outcome: np.isfinite(pd.to_numeric(sample[outcome], errors="coerce").to_numpy(dtype=float)),
              time: np.isfinite(years)}
    required = [unit, cluster] + ([] if missing_is_never else [column])
    usable.update({c: sample[c].notna().to_numpy() for c in required if c not in usable})
    keep = np.logical_and.reduce(list(usable.values()))
    counts = {}
    if (~keep).any():
        counts["missing or non-finite values"] = int((~keep).sum())
    sample = sample.loc[keep]
    if len(sample) == 0:
        raise DidDataError(f"{func}: no observation is left: {empty_sample(usable)}")
    if sample.duplicated([unit, time]).any():
        rows = sample.index[sample.duplicated([unit, time], keep=False).to_numpy()][:5].tolist()
        raise DidDataError(f"{func}: ({unit}, {time}) is not unique, e.g. rows {rows}: keep one row per unit and year")
    return sample, counts


def _cohort_from_treatment(sample: pd.DataFrame, treatment: str, unit: str, time: str, on_reversal: str, func: str,
                           counts: dict) -> tuple[pd.DataFrame, pd.Series]:
    """Each unit's first treated year (NaN: never) from an absorbing 0/1 treatment column."""
    sample = sample.assign(**{treatment: _as_treatment(sample[treatment], treatment, func)})
    sample, timing = _handle_reversals(sample, treatment, unit, time, on_reversal, func, counts, allow_keep=False)
    return sample, timing["first_treated"]


def _cohort_from_column(sample: pd.DataFrame, cohort: str, unit: str, func: str) -> pd.Series:
    """Each unit's first treated year (NaN: never) from a first-treatment-year column, checked."""
    raw = sample[cohort]
    values = pd.to_numeric(raw, errors="coerce")
    text = raw.notna() & values.isna()
    if text.any():
        rows = sample.index[text.to_numpy()][:5].tolist()
        raise DidDataError(f"{func}: cohort {cohort!r} must hold first-treatment years (numbers; 0 or missing for "
                           f"never treated); {int(text.sum())} row(s) do not, e.g. rows {rows}")
    year = values.to_numpy(dtype=float)
    fractional = np.isfinite(year) & (year != np.round(year))
    if fractional.any():
        rows = sample.index[np.flatnonzero(fractional)[:5]].tolist()
        raise DidDataError(f"{func}: cohort {cohort!r} must hold whole first-treatment years; {int(fractional.sum())} "
                           f"row(s) hold fractions, e.g. rows {rows} (values {year[fractional][:5].tolist()}): give "
                           "the year in which each unit is first treated")
    year = np.where(np.isfinite(year) & (year != 0), year, np.nan)
    by_unit = pd.Series(year, index=sample.index).groupby(sample[unit].to_numpy())
    top = by_unit.max()
    varies = ((top != by_unit.min()) & top.notna()) | by_unit.count().between(1, by_unit.size() - 1)
    if varies.any():
        raise DidDataError(f"{func}: cohort {cohort!r} must be constant within each unit; it varies for "
                           f"{int(varies.sum())} unit(s), e.g. {unit} {varies.index[varies.to_numpy()][:5].tolist()}")
    return by_unit.max()


@dataclass
class _Panel:
    """The panel as units x years: the outcome (NaN where unobserved), cohort and cluster codes."""

    y: np.ndarray  # units x years
    years: np.ndarray
    levels: np.ndarray  # cohorts, sorted; inf (never treated) last when present
    cohort_code: np.ndarray  # per unit, into levels
    cluster_code: np.ndarray  # per unit
    by_unit: bool  # clustered by the unit itself
    nobs: int

    @property
    def n_units(self) -> int:
        return len(self.cohort_code)

    @property
    def n_clusters(self) -> int:
        return int(self.cluster_code.max()) + 1


def _panel(sample: pd.DataFrame, outcome: str, first_treated: pd.Series, cluster: str, unit: str, time: str,
           column: str, control: str, func: str, counts: dict) -> _Panel:
    """Units x years arrays; units with no untreated year observed dropped, late cohorts made never treated."""
    codes, units = pd.factorize(sample[unit])
    year = sample[time].to_numpy(dtype=float)
    cohort = first_treated.reindex(units).to_numpy(dtype=float)
    last = year.max()
    late = np.isfinite(cohort) & (cohort > last)
    if late.any():
        counts[f"units first treated after the last year {last:g} (never treated within the panel)"] = int(late.sum())
    cohort = np.where(np.isnan(cohort) | late, np.inf, cohort)
    first_seen = np.full(len(units), np.inf)
    np.minimum.at(first_seen, codes, year)
    always = cohort <= first_seen
    if always.any():
        drop = always[codes]
        counts["firms treated in their first observed year (dropped)"] = int(always.sum())
        counts["their observations"] = counts.get("their observations", 0) + int(drop.sum())
        sample, year = sample.loc[~drop], year[~drop]
        codes, kept = pd.factorize(codes[~drop])
        units, cohort = units[kept], cohort[kept]
    if not np.isfinite(cohort).any():
        raise DidDataError(f"{func}: no unit is treated after a year in which it is observed untreated ({column!r}): "
                           "nothing to estimate")
    if control == "never" and np.isfinite(cohort).all():
        raise DidDataError(f"{func}: control='never' needs never-treated units and {column!r} has none: pass "
                           "control='not_yet' to compare with units not yet treated")
    per_unit = sample[cluster].groupby(codes).nunique()
    if (per_unit > 1).any():
        bad = units[per_unit.index[per_unit.to_numpy() > 1][:5]].tolist()
        raise DidDataError(f"{func}: the cluster column {cluster!r} must be constant within each unit (the influence "
                           f"functions are per unit); it varies for {unit} {bad}: cluster by the unit or by a column "
                           "fixed per unit (e.g. its first year's value)")
    cluster_code = np.zeros(len(units), dtype=np.int64)
    cluster_code[codes] = pd.factorize(sample[cluster])[0]
    n_clusters = int(cluster_code.max()) + 1
    if n_clusters < MIN_CLUSTERS:
        raise DidDataError(f"{func}: clustered standard errors need at least {MIN_CLUSTERS} clusters; {cluster!r} "
                           f"has {n_clusters}: cluster by another column")
    years, year_code = np.unique(year, return_inverse=True)
    y = np.full((len(units), len(years)), np.nan)
    y[codes, year_code] = sample[outcome].to_numpy(dtype=float)
    levels, cohort_code = np.unique(cohort, return_inverse=True)
    return _Panel(y, years, levels, cohort_code, cluster_code, cluster == unit, len(sample))


@dataclass
class _Pairs:
    """The estimable (cohort, year) pairs: years, roles of the cohorts, counts and means of the changes."""

    cohort: np.ndarray
    year_index: np.ndarray
    base_index: np.ndarray
    reference: np.ndarray
    roles: np.ndarray  # cohorts x pairs: 1 treated, -1 control, 0 neither
    n_treated: np.ndarray
    n_control: np.ndarray
    mean_treated: np.ndarray
    mean_control: np.ndarray

    def __len__(self) -> int:
        return len(self.cohort)

    @property
    def att(self) -> np.ndarray:
        return np.where(self.reference, 0.0, self.mean_treated - self.mean_control)


def _change_moments(panel: _Panel) -> tuple[np.ndarray, np.ndarray]:
    """Per cohort and pair of years (s, r): units observed in both, and the sum of their ``y_s - y_r``.

    Two products per cohort of the observed-mask and outcome matrices, so every
    pair's means cost nothing more.
    """
    n_levels, n_years = len(panel.levels), len(panel.years)
    count = np.zeros((n_levels, n_years, n_years))
    total = np.zeros((n_levels, n_years, n_years))
    order = np.argsort(panel.cohort_code, kind="stable")
    bounds = np.searchsorted(panel.cohort_code[order], np.arange(n_levels + 1))
    for c in range(n_levels):
        y = panel.y[order[bounds[c]:bounds[c + 1]]]
        seen = np.isfinite(y).astype(float)
        y = np.nan_to_num(y)
        count[c] = seen.T @ seen
        total[c] = y.T @ seen - seen.T @ y
    return count, total


def _pairs(panel: _Panel, control: str, base_period: str, anticipation: int, counts: dict) -> _Pairs:
    """The ATT(g,t) to estimate, with ``did``'s base years and control groups, and their means."""
    years, levels = panel.years, panel.levels
    count, total = _change_moments(panel)
    rows = []
    no_base, no_units = [], 0
    first = 0 if base_period == "universal" else 1
    for gc, g in enumerate(levels):
        if not np.isfinite(g):
            continue
        before = np.flatnonzero(years < g - anticipation)
        if not len(before):
            no_base.append(g)
            continue
        for ti in range(first, len(years)):
            post = g <= years[ti]
            bi = before[-1] if base_period == "universal" or post else ti - 1
            if control == "never":
                controls = ~np.isfinite(levels)
            else:
                controls = ~np.isfinite(levels) | ((levels > max(years[ti], years[bi]) + anticipation) & (levels != g))
            n1, n0 = count[gc, ti, bi], count[controls, ti, bi].sum()
            reference = bi == ti
            if not reference and (n1 == 0 or n0 == 0):
                no_units += 1
                continue
            # a reference pair (ATT fixed at 0) has no unit with a role: its influence function is 0
            roles = np.zeros(len(levels), dtype=int) if reference else np.where(controls, -1, 0)
            roles[gc] = 0 if reference else 1
            rows.append((g, ti, bi, reference, roles, n1, n0, total[gc, ti, bi] / max(n1, 1),
                         total[controls, ti, bi].sum() / max(n0, 1)))
    if no_base:
        counts["cohorts with no year before entry minus anticipation (not estimated): "
               + ", ".join(f"{g:g}" for g in no_base)] = len(no_base)
    if no_units:
        counts["ATT(g,t) without a treated or a control unit observed in both years (not estimated)"] = no_units
    if not rows:
        return _Pairs(*(np.zeros(0) for _ in range(3)), np.zeros(0, dtype=bool), np.zeros((len(levels), 0)),
                      *(np.zeros(0) for _ in range(4)))
    cols = list(zip(*rows))
    return _Pairs(np.array(cols[0]), np.array(cols[1]), np.array(cols[2]), np.array(cols[3], dtype=bool),
                  np.array(cols[4]).T, *(np.array(c, dtype=float) for c in cols[5:]))


@dataclass
class _Moments:
    """Sums over clusters of products of influence functions, and the bootstrap draws."""

    effects: np.ndarray  # pairs x pairs: the ATT(g,t) covariance
    effects_sizes: np.ndarray  # pairs x cohorts: with the cohort-count terms
    sizes: np.ndarray  # cohorts x cohorts
    draws: np.ndarray | None  # bootstrap x pairs
    size_draws: np.ndarray | None  # bootstrap x cohorts


def _mammen(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return np.where(rng.random(shape) < _MAMMEN_P, _MAMMEN[0], _MAMMEN[1])


def _influence_moments(panel: _Panel, pairs: _Pairs, bootstrap: int | None, seed, counts: dict) -> _Moments:
    """Accumulate the influence functions' cross products over clusters, chunk by chunk of units.

    Unit i's influence on ATT(g,t), divided by the number of units, is
    ``(dy_i - m1) / n1`` for the cohort's units and ``-(dy_i - m0) / n0`` for
    the controls (``dy_i`` its change between the base year and t, ``m`` and
    ``n`` the groups' mean changes and sizes), 0 for the others and for
    units not observed in both years. Summed within clusters, their cross
    products give the covariance; ``did``'s weight-estimation term needs also
    their products with each cluster's count of units per cohort.
    """
    n_pairs, n_levels = len(pairs), len(panel.levels)
    treated, controls = pairs.roles == 1, pairs.roles == -1
    slope = np.where(treated, 1.0 / np.maximum(pairs.n_treated, 1), 0.0) - np.where(
        controls, 1.0 / np.maximum(pairs.n_control, 1), 0.0)
    centre = np.where(treated, pairs.mean_treated, 0.0) + np.where(controls, pairs.mean_control, 0.0)
    ti, bi = pairs.year_index.astype(int), pairs.base_index.astype(int)
    effects = np.zeros((n_pairs, n_pairs))
    effects_sizes = np.zeros((n_pairs, n_levels))
    sizes = np.zeros((n_levels, n_levels))
    rng = np.random.default_rng(seed)
    draws = None if bootstrap is None else np.zeros((bootstrap, n_pairs))
    size_draws = None if bootstrap is None else np.zeros((bootstrap, n_levels))
    order = np.arange(panel.n_units) if panel.by_unit else np.argsort(panel.cluster_code, kind="stable")
    cluster = panel.cluster_code[order]
    starts = np.flatnonzero(np.r_[True, cluster[1:] != cluster[:-1]])
    step = max(1, _CHUNK_ENTRIES // max(n_pairs, n_levels, bootstrap or 1))
    # chunks of about ``step`` units that end where a cluster ends
    at = np.minimum(np.searchsorted(starts, np.arange(0, panel.n_units, step)), len(starts) - 1)
    cuts = np.unique(np.r_[starts[at], panel.n_units])
    in_comparison = 0
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        rows = order[lo:hi]
        code = panel.cohort_code[rows]
        y = panel.y[rows]
        change = y[:, ti] - y[:, bi]
        psi = slope[code] * (change - centre[code])
        seen = np.isfinite(psi)
        in_comparison += int((seen & (slope[code] != 0)).any(axis=1).sum())
        psi[~seen] = 0.0
        units_of = np.zeros((len(rows), n_levels))
        units_of[np.arange(len(rows)), code] = 1.0
        if not panel.by_unit:
            local = starts[(starts >= lo) & (starts < hi)] - lo
            psi, units_of = np.add.reduceat(psi, local, axis=0), np.add.reduceat(units_of, local, axis=0)
        effects += psi.T @ psi
        effects_sizes += psi.T @ units_of
        sizes += units_of.T @ units_of
        if bootstrap is not None:
            # drawn cluster by cluster (B at a time), so the draws do not depend on the chunks
            xi = _mammen(rng, (len(psi), bootstrap)).T
            draws += xi @ psi
            size_draws += xi @ units_of
    if in_comparison < panel.n_units:
        counts["units in no comparison (not observed in both years of any ATT(g,t) they could enter)"] = int(
            panel.n_units - in_comparison)
    return _Moments(effects, effects_sizes, sizes, draws, size_draws)


def _results(panel: _Panel, pairs: _Pairs, moments: _Moments, outcome: str, column: str, control: str,
             base_period: str, anticipation: int, vcov: dict, bootstrap: int | None,
             counts: dict) -> CallawaySantAnnaResults:
    years = panel.years
    year, base = years[pairs.year_index.astype(int)], years[pairs.base_index.astype(int)]
    labels = [f"ATT({g:g},{t:g})" for g, t in zip(pairs.cohort, year)]
    att = pairs.att
    finite = np.isfinite(panel.levels)
    units_per_cohort = np.bincount(panel.cohort_code, minlength=len(panel.levels))
    cohort_sizes = pd.Series(units_per_cohort[finite], index=pd.Index(panel.levels[finite], name="cohort"))
    if bootstrap is None:
        se, cov, critical = np.sqrt(np.diag(moments.effects)), moments.effects, np.nan
    else:
        se = bootstrap_se(moments.draws)
        cov = np.cov(moments.draws, rowvar=False).reshape(len(att), len(att))
        critical = uniform_critical_value(moments.draws[:, ~pairs.reference], se[~pairs.reference])
    se = np.where(pairs.reference, np.nan, se)
    table = pd.DataFrame({
        "cohort": pairs.cohort, "year": year, "base_year": base, "event_time": year - pairs.cohort,
        "post": pairs.cohort <= year, "reference": pairs.reference, "estimate": att, "std_err": se,
        "n_treated": pairs.n_treated.astype(int), "n_control": pairs.n_control.astype(int),
        "n_cohort": cohort_sizes.reindex(pairs.cohort).to_numpy(dtype=int)}, index=pd.Index(labels, name="term"))
    return CallawaySantAnnaResults(
        outcome, column, pd.Series(att, index=table.index), pd.Series(se, index=table.index),
        pd.DataFrame(cov, index=table.index, columns=table.index), table, cohort_sizes, panel.nobs, panel.n_units,
        panel.n_clusters, control, base_period, anticipation, vcov, bootstrap, counts, critical,
        moments.effects_sizes[:, finite], moments.sizes[np.ix_(finite, finite)], moments.effects,
        moments.draws, None if moments.size_draws is None else moments.size_draws[:, finite])
