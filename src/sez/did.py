"""Staggered difference-in-differences, event studies and mediation for SEZ entry.

The SEZ paper estimates the effect of entering a zone on a firm's outcome with
a two-way fixed-effects (TWFE) regression (its eq. 10)::

    Y_it = theta_i + alpha_rt + beta D_it + delta X_it + e_it,

where ``D_it`` is one in the years after firm ``i`` entered a zone, ``theta_i``
a firm effect and ``alpha_rt`` a region-by-year effect, and an event study
(eqs. 11-13) that replaces ``D_it`` by leads and lags of the entry year,
relative to five years before entry.

Under staggered adoption with effects that differ across adoption cohorts or
grow with time since entry, the TWFE coefficient is not a convex average of
the firm-level effects: it uses already-treated firms as controls for later
entrants ("forbidden comparisons") and can put negative weights on long-run
effects (de Chaisemartin and D'Haultfoeuille, 2020; Goodman-Bacon, 2021; Sun
and Abraham, 2021; Borusyak, Jaravel and Spiess, 2024). Every estimate here is
therefore reported beside the imputation estimator of Borusyak, Jaravel and
Spiess (2024), which

1. fits the fixed effects (and controls) on untreated firm-years only
   (never-treated firms and not-yet-treated years of later entrants),
2. imputes the untreated outcome ``Y_it(0)`` of every treated firm-year,
3. averages ``tau_it = Y_it - Y_it(0)`` over the treated firm-years (overall
   or by event time).

It uses only comparisons with untreated observations, so it is unbiased for
the average effect on the treated whatever the heterogeneity, under parallel
trends and no anticipation. With a constant effect both estimators agree in
expectation; when they differ, heterogeneous effects by cohort or by time
since entry are the usual reason and the imputation estimate is the one that
has a causal reading.

Conventions
-----------
- TWFE is estimated by pyfixest ``feols``, demeaning by LSMR with an
  additive Schwarz preconditioner for two or more fixed-effect sets and by
  alternating projections (Gaure, 2013; Berge, 2018) for one
  (:func:`demeaner_for` says why). Observations in singleton fixed-effect groups are
  dropped before estimation (they are perfectly fitted and would understate
  the standard errors; Correia, 2015), as reghdfe and fixest do; the count is
  reported in ``n_singletons``.
- Clustered standard errors (CRV1) multiply the sandwich by
  ``G/(G-1) * (N-1)/(N-K)``, where ``K`` counts the slopes and the levels of
  the absorbed fixed effects that are *not nested* in the cluster variable
  (firm effects are nested in firm clusters and are not counted; with firm
  and year effects ``K`` = slopes + number of years), the reghdfe / fixest
  convention. OLS with explicit firm dummies (statsmodels, Stata ``regress``)
  counts every dummy in ``K`` and so reports larger standard errors on short
  panels; the ratio is ``sqrt((N-K_dummies)/(N-K_absorbed))``.
- The imputation estimator's standard errors use the analytic formula of
  Borusyak, Jaravel and Spiess (2024, Theorem 3): the estimate is linear in the
  outcomes, ``sum_it v_it Y_it``, and its clustered variance is
  ``sum_g (sum_{it in g} v_it e_it)^2`` with untreated residuals from the
  fixed-effect fit and, for treated firm-years, ``tau_it`` minus its weighted
  mean within its (adoption cohort, event time) cell (their conservative
  choice). With controls, the controls' coefficients are treated as known in
  the variance (a small understatement when controls are few and N is large).
- A treatment that switches off (a firm leaving a zone after entering it) is
  not a staggered adoption design: ``on_reversal="error"`` (default) raises and
  names firms, ``"drop"`` removes those firms (counted), ``"keep"`` (static
  TWFE only) regresses on ``D_it`` as it is.
- Firms treated in every observed year (born in a zone) carry no
  within-firm variation: TWFE absorbs them in the firm effect, the imputation
  estimator cannot impute their untreated outcome and leaves them out of the
  estimand (counted in ``counts``); the event study drops them
  because their entry year is not observed.
- The imputation estimator imputes a treated firm-year only when its firm and
  its region-year (or year) have untreated observations and are connected
  through them (see ``_identified_rows``); otherwise the untreated outcome is
  not identified. Such firm-years are left out of the estimand and counted by
  reason: firm without untreated years, region-year without untreated firms,
  or firm and region-year in different connected components of the untreated
  sample.
"""

from __future__ import annotations

import dataclasses
import html
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from sez.progress import track

__all__ = [
    "DidResults",
    "EventStudyResults",
    "MediationResults",
    "twfe",
    "imputation",
    "event_study",
    "mediation",
    "adoption_timing",
    "DidDataError",
    "demeaner_for",
    "trend_specification",
    "PaperControl",
    "PAPER_CONTROLS",
    "paper_controls",
    "eg_mediator",
    "Specification",
    "SPECIFICATIONS",
    "SpecificationTable",
    "specification_table",
    "table16",
    "table17",
    "table18",
    "mediation_by_group",
    "mediation_table",
    "GroupedTable",
    "heterogeneity_table",
    "table19",
    "table20",
    "high_agglomeration",
    "moderation_table",
    "table31",
    "table32",
    "pre_period_quintile",
    "by_group",
    "triple_difference",
]


class DidDataError(ValueError):
    """The panel cannot identify the requested difference-in-differences; the message says why."""


# ---------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class DidResults:
    """A difference-in-differences estimate: coefficients, standard errors and conventions.

    Attributes
    ----------
    estimator : str
        ``"TWFE"`` or ``"imputation (Borusyak, Jaravel and Spiess 2024)"``.
    params, bse : pandas.Series
        Estimates and standard errors (treatment first, then controls for TWFE).
    nobs : int
        Observations used (after singletons and missing values are dropped).
    n_clusters : int
        Number of clusters.
    fixed_effects : tuple of str
        Absorbed fixed effects (``"a^b"`` is the interaction of a and b).
    cluster : str
        Cluster variable.
    counts : dict
        Observations dropped or set aside, by reason.
    conventions : str
        Degrees-of-freedom and sample conventions in words.
    """

    estimator: str
    outcome: str
    treatment: str
    params: pd.Series
    bse: pd.Series
    nobs: int
    n_clusters: int
    fixed_effects: tuple[str, ...]
    cluster: str
    counts: dict = field(default_factory=dict)
    conventions: str = ""

    @property
    def coef(self) -> float:
        """The treatment coefficient."""
        return float(self.params.iloc[0])

    @property
    def se(self) -> float:
        """The treatment coefficient's standard error."""
        return float(self.bse.iloc[0])

    @property
    def tvalues(self) -> pd.Series:
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        # t with G-1 degrees of freedom for clustered inference, as reghdfe and fixest
        return pd.Series(2 * stats.t.sf(np.abs(self.tvalues), max(self.n_clusters - 1, 1)),
                         index=self.params.index)

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        q = stats.t.ppf(0.5 + level / 2, max(self.n_clusters - 1, 1))
        return pd.DataFrame({"lower": self.params - q * self.bse, "upper": self.params + q * self.bse})

    def to_frame(self) -> pd.DataFrame:
        ci = self.conf_int()
        return pd.DataFrame({"coef": self.params, "std_err": self.bse, "t": self.tvalues,
                             "p_value": self.pvalues, "ci_lower": ci.lower, "ci_upper": ci.upper})

    def summary(self) -> str:
        lines = [f"{self.estimator}: {self.outcome} on {self.treatment}",
                 f"Fixed effects: {', '.join(self.fixed_effects) or 'none'}; clustered by {self.cluster} "
                 f"({self.n_clusters} clusters); N = {self.nobs}",
                 "Set aside: " + (", ".join(f"{k} {v}" for k, v in self.counts.items()) or "none"),
                 self.to_frame().to_string(float_format="{:.6g}".format),
                 self.conventions]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<DidResults {self.estimator}: {self.coef:.4g} ({self.se:.3g}), N={self.nobs}>"


@dataclass(frozen=True)
class EventStudyResults:
    """Event-study estimates by event time, TWFE beside the imputation estimator.

    ``table`` has one row per event time (years since entry; the reference
    period has coefficient 0 and no standard error) and, per estimator,
    columns ``<name>_coef``, ``<name>_se``, ``<name>_lower``, ``<name>_upper``
    (95% bands, normal quantiles as in the paper's Figure 12).
    """

    outcome: str
    treatment: str
    reference: int
    window: tuple[int, int]
    table: pd.DataFrame
    estimators: tuple[str, ...]
    fits: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    nobs: dict = field(default_factory=dict)
    n_clusters: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> str:
        lo, hi = self.window
        head = (f"Event study of {self.outcome} on entry ({self.treatment}); reference period {self.reference}; "
                f"event times below {lo} binned into {lo}, above {hi} into {hi}")
        aside = "Set aside: " + (", ".join(f"{k} {v}" for k, v in self.counts.items()) or "none")
        return "\n".join([head, aside, self.table.to_string(float_format="{:.4g}".format)])

    def plot(self, path=None, ax=None, title: str | None = None):
        """Coefficients with 95% bands by event time; saved to ``path`` when given.

        Returns the matplotlib Figure.
        """
        import matplotlib
        if ax is None:
            matplotlib.use("Agg", force=False) if path is not None else None
        import matplotlib.pyplot as plt

        fig, ax = (plt.subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax))
        offsets = np.linspace(-0.12, 0.12, len(self.estimators)) if len(self.estimators) > 1 else [0.0]
        markers = ["o", "s", "^", "D"]
        for k, (name, off) in enumerate(zip(self.estimators, offsets)):
            t = self.table.index.to_numpy(dtype=float) + off
            c = self.table[f"{name}_coef"].to_numpy()
            lower, upper = self.table[f"{name}_lower"].to_numpy(), self.table[f"{name}_upper"].to_numpy()
            ok = np.isfinite(c)
            ax.errorbar(t[ok], c[ok], yerr=[np.nan_to_num(c - lower)[ok], np.nan_to_num(upper - c)[ok]],
                        fmt=markers[k % 4], capsize=2, label=name)
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(-0.5, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("years relative to entry into the zone")
        ax.set_ylabel(f"effect on {self.outcome}")
        ax.set_title(title or f"Dynamic effect of SEZ entry on {self.outcome} (95% bands)")
        ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=150)
        return fig


# ---------------------------------------------------------------------------
# preparation


def _fe_columns(fe: Sequence[str]) -> list[str]:
    return [c for term in fe for c in term.split("^")]


def _require(panel: pd.DataFrame, columns: Sequence[str], func: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in panel.columns]
    if missing:
        raise KeyError(f"{func}: column(s) not in the panel: {', '.join(map(repr, missing))}")


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
    _require(panel, used, func)
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


# ---------------------------------------------------------------------------
# TWFE


_CONVENTIONS_TWFE = ("Conventions: singleton fixed-effect groups dropped before estimation; CRV1 clustered "
                     "standard errors with G/(G-1)*(N-1)/(N-K), K = slopes + levels of fixed effects not nested "
                     "in the cluster (reghdfe/fixest convention); p-values and intervals from t(G-1).")


def _fml(outcome: str, regressors: Sequence[str], fe: Sequence[str]) -> str:
    rhs = " + ".join(regressors) if regressors else "1"
    return f"{outcome} ~ {rhs}" + (f" | {' + '.join(fe)}" if fe else "")


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


def demeaner_for(fe: Sequence[str]):
    """The pyfixest demeaner for these fixed effects: LSMR with an additive Schwarz preconditioner for two or
    more sets, alternating projections for one.

    Measured at the papers' scale (2.3 million firm-years, 590,000 firms, 16
    years, 3% of firms moving county once; ``benchmarks/bench_fixed_effects.py``,
    ``docs/performance.md``): with firm, year and region effects, where firms
    are nested in regions but for the movers, alternating projections took
    15 s (340 cities) and 112 s (2,560 counties) against LSMR's 5.5 s and
    3.3 s; with firm and region-by-year effects 14 s and 100 s against 3.7 s
    and 4.7 s. At 20,000 firms alternating projections stopped at 10,000
    iterations on both city structures. No structure measured favoured them,
    so the rule is the number of sets.
    """
    import pyfixest as pf  # imported lazily: a heavy import

    return pf.LsmrDemeaner() if len(fe) >= 2 else pf.MapDemeaner()


def _feols(data: pd.DataFrame, outcome: str, regressors: Sequence[str], fe: Sequence[str], cluster: str):
    import pyfixest as pf  # imported lazily: a heavy import

    # pyfixest gets the fixed effects as integer codes: it would otherwise join an interaction's columns as
    # strings (about 1.2 s at 2.3 million rows), and the codes serve the singleton check below
    frame = pd.DataFrame({c: data[c].to_numpy() for c in dict.fromkeys([outcome, *regressors, cluster])})
    fe_names = [f"_fe{i}" for i in range(len(fe))]
    for name, term in zip(fe_names, fe):
        frame[name] = _codes(data, term)[0]
    # pyfixest's compiled demeaning aborts the whole process on a sample its singleton removal empties
    complete = frame[[outcome, *regressors]].notna().all(axis=1).to_numpy()
    if fe and _non_singleton_rows([frame[n].to_numpy()[complete] for n in fe_names]).sum() <= len(regressors):
        raise DidDataError(f"{outcome} on {', '.join(regressors) or 'a constant'}: {int(complete.sum())} complete "
                           f"row(s), too few left once singleton fixed effects ({', '.join(fe)}) are dropped")

    with warnings.catch_warnings():
        # the singleton count and the collinear regressors are reported in the results instead
        warnings.filterwarnings("ignore", message="(?s).*singleton fixed effect")
        warnings.filterwarnings("ignore", message="(?s).*dropped due to multicollinearity")
        try:
            # lean: the fit keeps its coefficients and covariance, not its N x k matrices (the twelve event
            # studies of Table 17 at the papers' scale held about 20 GB of them)
            fit = pf.feols(_fml(outcome, regressors, fe_names), data=frame, vcov={"CRV1": cluster},
                           copy_data=False, store_data=False, lean=True, fixef_rm="singleton",
                           demeaner=demeaner_for(fe))
        except ValueError as err:
            if "collinear" not in str(err):
                raise
            raise DidDataError(f"{outcome} on {', '.join(regressors)}: every regressor is collinear with the fixed "
                               f"effects ({', '.join(fe)}) in this sample (e.g. no firm changes treatment status)"
                               ) from err
    # what lean leaves: the undemeaned regressors and the fixed-effect codes (an event study's: about 400 MB
    # at the papers' scale), which nothing here reads
    for attribute in ("_X_untransformed", "_fe"):
        if hasattr(fit, attribute):
            delattr(fit, attribute)
    return fit


def _note_collinear(fit, counts: dict) -> None:
    """Count the regressors the fit dropped as collinear with the fixed effects (e.g. a time-invariant control)."""
    dropped = [str(v) for v in (getattr(fit, "_collin_vars", None) or []) if not str(v).startswith("_")]
    if dropped:
        counts[f"regressors collinear with the fixed effects (no coefficient): {', '.join(dropped)}"] = len(dropped)


def twfe(panel: pd.DataFrame, outcome: str, treatment: str = "sez", fe: Sequence[str] = ("firm_id", "year"),
         controls: Sequence[str] = (), cluster: str = "firm_id", firm: str = "firm_id", time: str = "year",
         on_reversal: str = "keep") -> DidResults:
    """Two-way fixed-effects staggered difference-in-differences (the paper's eq. 10).

    Parameters
    ----------
    panel : pandas.DataFrame
        Firm-year table (``sez.panel`` schema).
    outcome : str
        Dependent variable, e.g. ``"ln_tfp"``.
    treatment : str
        0/1 or boolean column, one in the years a firm is in a zone.
    fe : sequence of str
        Absorbed fixed effects: column names, ``"a^b"`` for interactions, e.g.
        ``("firm_id", "city^year")`` for firm and region-by-year effects (the
        paper's preferred specification) or ``("firm_id", "year")``.
    controls : sequence of str
        Time-varying firm covariates ``X_it``.
    cluster : str
        Cluster variable for CRV1 standard errors.
    on_reversal : {"keep", "drop", "error"}
        What to do with firms whose treatment switches off (see module notes).

    Returns
    -------
    DidResults

    Notes
    -----
    Under staggered entry with effects that vary by cohort or time since entry
    the coefficient is a weighted average of effects with possibly negative
    weights (Goodman-Bacon, 2021; de Chaisemartin and D'Haultfoeuille, 2020);
    compare it with :func:`imputation`.
    """
    func = "twfe"
    data, counts = _prepare(panel, outcome, treatment, fe, controls, cluster, firm, time, func)
    data, _ = _handle_reversals(data, treatment, firm, time, on_reversal, func, counts, allow_keep=True)
    _check_variation(data, treatment, func)
    treat_col = "_treated"
    data[treat_col] = data[treatment].to_numpy(dtype=float)
    fit = _feols(data, outcome, [treat_col, *controls], fe, cluster)
    counts["singleton observations"] = int(len(data) - fit._N)
    _note_collinear(fit, counts)
    names = [treat_col, *controls]
    coef = fit.coef().reindex(names)
    if not np.isfinite(coef.iloc[0]):
        raise DidDataError(f"{func}: the treatment is collinear with the fixed effects (no firm changes status "
                           "within the estimation sample)")
    se = fit.se().reindex(names)
    index = [treatment, *controls]
    return DidResults("TWFE", outcome, treatment, pd.Series(coef.to_numpy(), index=index),
                      pd.Series(se.to_numpy(), index=index), int(fit._N), int(_n_clusters(fit, data, cluster)),
                      tuple(fe), cluster, counts, _CONVENTIONS_TWFE)


def _n_clusters(fit, data: pd.DataFrame, cluster: str) -> int:
    g = getattr(fit, "_G", None)
    if g is not None:
        return int(np.min(g)) if np.ndim(g) else int(g)
    return int(data[cluster].nunique())


# ---------------------------------------------------------------------------
# imputation estimator


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


#: Up to this many levels outside the largest fixed effect, the reduced system is factored densely
#: (a pivoted Cholesky of at most 6,000 x 6,000, about 290 MB and a few seconds); above it, conjugate gradients.
DENSE_LEVELS = 6_000


class _FixedEffectSolver:
    """Solve the normal equations ``Z0'Z0 b = r`` of a sum of fixed effects, factored once for many right sides.

    ``codes[d][rows]`` are the levels of dimension ``d`` in the fitting sample
    (the untreated rows); a right side ``r[d]`` has one entry per level of
    dimension ``d`` (``Z0'y`` for a fit, ``Z1'w`` for the variance weights).

    The largest dimension (the firms) is eliminated exactly: its block of
    ``Z0'Z0`` is diagonal, so the firm effects given the others are firm
    means, and what remains is the Schur complement ``S = Zo' M Zo`` over the
    other levels (``M`` demeans within firm). ``S`` is small for firm + year +
    region effects (16 + 340 levels at the city level, 16 + 2,574 at the county
    level) and for firm + city-by-year effects (5,440): it is factored once by a pivoted Cholesky
    of its diagonally scaled form, which finds its rank, so every later solve
    is a pair of triangular solves. This is what makes firms nested in
    regions harmless: a region entered by few movers is weakly identified,
    which stalls alternating projections and conjugate gradients on the full
    system (both were measured to stop at 10,000 iterations at the papers'
    scale), while a direct factorisation does not care. Above
    ``DENSE_LEVELS`` (county-by-year effects, 41,000 levels) ``S`` is solved
    by conjugate gradients preconditioned by its diagonal.

    The system is singular (one free constant per connected component and
    dimension beyond the first, and one per region no mover enters when firms
    are nested in regions) but consistent; the solution returned is one of
    many, and every identified sum of effects is the same for all of them.
    Levels absent from the sample stay 0.
    """

    def __init__(self, codes: list[np.ndarray], sizes: list[int], rows: np.ndarray, tol: float = 1e-10,
                 maxiter: int = 10_000):
        from scipy import sparse

        self.sizes, self.tol, self.maxiter = list(sizes), tol, maxiter
        self.big = int(np.argmax(sizes))
        self.others = [d for d in range(len(sizes)) if d != self.big]
        big_codes = codes[self.big][rows]
        counts = np.bincount(big_codes, minlength=sizes[self.big]).astype(float)
        self.inverse = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
        self.method = "firm means"
        if not self.others:
            return
        offsets = np.cumsum([0, *(sizes[d] for d in self.others)])
        self.offsets = offsets
        other_codes = np.concatenate([codes[d][rows] + o for d, o in zip(self.others, offsets[:-1])])
        n_rows, n_other = len(rows), int(offsets[-1])
        ones = np.ones(len(other_codes))
        # B = Z_big' Z_o (levels of the big dimension by other levels); A = Z_o' Z_o
        self.cross = sparse.csr_matrix((ones, (np.tile(big_codes, len(self.others)), other_codes)),
                                       shape=(sizes[self.big], n_other))
        design = sparse.csr_matrix((ones, (np.tile(np.arange(n_rows), len(self.others)), other_codes)),
                                   shape=(n_rows, n_other))
        schur = (design.T @ design - self.cross.T @ sparse.diags(self.inverse) @ self.cross).tocsr()
        diagonal = schur.diagonal()
        # a level whose Schur diagonal vanishes is fully absorbed by the big dimension (a region no mover
        # enters, or a level absent from the sample): its effect is not identified apart from them
        self.active = np.flatnonzero(diagonal > 1e-9 * max(1.0, float(diagonal.max(initial=0.0))))
        schur = schur[self.active][:, self.active]
        scale = 1.0 / np.sqrt(diagonal[self.active])
        self.scale = scale
        scaled = sparse.diags(scale) @ schur @ sparse.diags(scale)
        if len(self.active) <= DENSE_LEVELS:
            from scipy.linalg import lapack

            factor, piv, rank, info = lapack.dpstrf(scaled.toarray(), lower=1, tol=1e-10)
            if info < 0:
                raise RuntimeError(f"imputation: the fixed-effect factorisation failed (LAPACK dpstrf info {info})")
            self.method = f"firm means and a pivoted Cholesky of {len(self.active):,} other levels (rank {rank})"
            self.pivots = piv[:rank] - 1
            self.factor = np.tril(factor[:rank, :rank])
            # null space of the scaled Schur complement: [-L11^-T L21'; I] in pivoted order
            from scipy.linalg import solve_triangular

            n_null = len(self.active) - rank
            null = np.zeros((len(self.active), n_null))
            if n_null:
                null[piv[rank:] - 1] = np.eye(n_null)
                null[self.pivots] = -solve_triangular(self.factor, factor[rank:, :rank].T, lower=True,
                                                      trans="T", check_finite=False)
                null /= np.linalg.norm(null, axis=0)
            self.null = null * scale[:, None]  # in the unscaled levels
        else:
            self.method = f"firm means and conjugate gradients on {len(self.active):,} other levels"
            self.pivots, self.null = None, None
            self.scaled = scaled.tocsr()

    def identified(self, codes: list[np.ndarray], rows: np.ndarray, chunk: int = 5_000) -> np.ndarray:
        """Whether the fitted sum of effects at each row in ``rows`` is the same for every solution.

        It is when the row's design vector lies in the row space of the
        fitting sample's; after the firms are eliminated, when ``z_o - B_f / n_f``
        (the row's other levels minus its firm's mean other levels) is
        orthogonal to the null space of ``S`` (levels with a vanishing diagonal
        included). Exact with the dense factorisation; with conjugate
        gradients only the connectivity check of ``_identified_rows`` applies
        (exact for two dimensions), and every row passes here.
        """
        ok = np.ones(len(rows), dtype=bool)
        if not self.others or self.pivots is None:
            return ok
        from scipy import sparse

        n_other = int(self.offsets[-1])
        inactive = np.ones(n_other, dtype=bool)
        inactive[self.active] = False
        basis = np.zeros((n_other, self.null.shape[1] + int(inactive.sum())))
        basis[self.active, :self.null.shape[1]] = self.null
        basis[np.flatnonzero(inactive), self.null.shape[1]:] = np.eye(int(inactive.sum()))
        if basis.shape[1] == 0:
            return ok
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            own = sparse.csr_matrix((np.ones(len(part) * len(self.others)),
                                     (np.tile(np.arange(len(part)), len(self.others)),
                                      np.concatenate([codes[d][part] + o
                                                      for d, o in zip(self.others, self.offsets[:-1])]))),
                                    shape=(len(part), n_other))
            big = codes[self.big][part]
            mean_other = sparse.diags(self.inverse[big]) @ self.cross[big]
            gap = np.abs((own - mean_other) @ basis)
            ok[start:start + chunk] = gap.max(axis=1, initial=0.0) < 1e-8
        return ok

    def solve(self, rhs: list[np.ndarray]) -> list[np.ndarray]:
        """Effects by dimension for right sides ``rhs`` (one array per dimension)."""
        from scipy.linalg import solve_triangular

        out = [np.zeros(n) for n in self.sizes]
        r_big = np.asarray(rhs[self.big], dtype=float)
        if not self.others:
            out[self.big] = r_big * self.inverse
            return out
        r_other = np.concatenate([np.asarray(rhs[d], dtype=float) for d in self.others])
        reduced = (r_other - self.cross.T @ (r_big * self.inverse))[self.active] * self.scale
        x = np.zeros(len(self.active))
        if np.any(reduced):
            if self.pivots is not None:
                p = self.pivots
                z = solve_triangular(self.factor, reduced[p], lower=True, check_finite=False)
                x[p] = solve_triangular(self.factor, z, lower=True, trans="T", check_finite=False)
            else:
                from scipy.sparse.linalg import cg

                x, info = cg(self.scaled, reduced, rtol=self.tol, atol=0.0, maxiter=self.maxiter)
                if info != 0:
                    raise RuntimeError(f"imputation: the fixed-effect solve did not converge in {self.maxiter} "
                                       "iterations; the untreated sample may be poorly connected")
        x_other = np.zeros(int(self.offsets[-1]))
        x_other[self.active] = x * self.scale
        for d, o0, o1 in zip(self.others, self.offsets[:-1], self.offsets[1:]):
            out[d] = x_other[o0:o1]
        out[self.big] = (r_big - self.cross @ x_other) * self.inverse
        return out


@dataclass(frozen=True)
class _SparseFit:
    """Coefficients and CRV1 covariance of :func:`_sparse_fe_regression` (pyfixest's names where they exist)."""

    coef: pd.Series
    vcov: pd.DataFrame
    nobs: int
    n_clusters: int
    used: np.ndarray  # rows of the input used (singletons dropped)
    collinear: tuple[str, ...]


def _sparse_fe_regression(y: np.ndarray, design, names: Sequence[str], codes: list[np.ndarray],
                          cluster: np.ndarray, tol: float = 1e-10) -> _SparseFit:
    """Least squares of ``y`` on a sparse design and fixed effects, CRV1 clustered, with no dense design.

    The Sun-Abraham regression has a dummy per entry cohort and event time,
    about 130 columns, each non-zero on a few treated rows only; pyfixest
    builds, demeans and differentiates them as dense matrices, which took
    16.5 GiB and 56 s at 2.3 million firm-years. Here, by Frisch-Waugh-Lovell,
    the columns are projected on the fixed effects with one factorisation
    (:class:`_FixedEffectSolver`, one solve per column on level sums), so
    only ``k x k`` and level-sized arrays are dense:
    ``H = D'D - (Z'D)' gamma`` is the demeaned cross product,
    ``beta = H^-1 (D'y - gamma' Z'y)``, and the cluster scores
    ``sum_{i in g} (D_i - Z_i gamma) e_i`` come from the sparse ``D`` and
    the residuals' sums by cluster and level. Singleton fixed-effect groups
    are dropped first and columns collinear with the fixed effects (a zero
    pivot of ``H``) get no coefficient, as in pyfixest; the small-sample
    factor is pyfixest's (and reghdfe's): ``G/(G-1) (N-1)/(N-K)`` with ``K``
    the columns plus the fixed-effect levels, less one per dimension beyond
    the first, less the levels of dimensions nested in the clusters (plus one
    each). Checked against pyfixest with dense columns in ``tests/test_did_scale.py``.
    """
    from scipy import sparse
    from scipy.linalg import lapack

    used = _non_singleton_rows(codes)
    rows = np.flatnonzero(used)
    y = np.asarray(y, dtype=float)[rows]
    design = sparse.csc_matrix(design)[rows]
    coded = [pd.factorize(c[rows])[0].astype(np.int64) for c in codes]
    sizes = [int(c.max()) + 1 for c in coded]
    cluster = pd.factorize(np.asarray(cluster)[rows])[0]
    n, k, n_clusters = len(rows), design.shape[1], int(cluster.max()) + 1
    solver = _FixedEffectSolver(coded, sizes, np.arange(n), tol)
    levels = [sparse.csr_matrix((np.ones(n), (np.arange(n), c)), shape=(n, m)) for c, m in zip(coded, sizes)]
    z_d = [(z.T @ design).tocsc() for z in levels]             # level sums of each column
    gamma = [np.zeros((m, k)) for m in sizes]                   # each column's projection on the effects
    for j in range(k):
        for d, g in enumerate(solver.solve([zd[:, j].toarray().ravel() for zd in z_d])):
            gamma[d][:, j] = g
    cross = (design.T @ design).toarray() - sum(zd.T @ g for zd, g in zip(z_d, gamma))
    z_y = [z.T @ y for z in levels]
    moment = design.T @ y - sum(g.T @ zy for g, zy in zip(gamma, z_y))
    # pivoted Cholesky of the scaled cross product: its rank drops the columns collinear with the effects
    diagonal = np.diag(cross).copy()
    present = diagonal > 1e-9 * max(1.0, float(diagonal.max(initial=0.0)))
    scale = np.where(present, 1.0 / np.sqrt(np.where(present, diagonal, 1.0)), 0.0)
    factor, piv, rank, _ = lapack.dpstrf(cross * np.outer(scale, scale), lower=1, tol=1e-10)
    keep = np.sort(piv[:rank] - 1)
    keep = keep[present[keep]]
    bread = np.linalg.inv(cross[np.ix_(keep, keep)])
    beta = np.full(k, np.nan)
    beta[keep] = bread @ moment[keep]
    # residuals: the effects of y - D beta
    partial = y - design[:, keep] @ beta[keep]
    effects = solver.solve([z.T @ partial for z in levels])
    resid = partial - sum(e[c] for e, c in zip(effects, coded))
    # scores by cluster: (A D) - sum_d (A Z_d) gamma_d, A summing rows into clusters weighted by residuals
    by_cluster = sparse.csr_matrix((resid, (cluster, np.arange(n))), shape=(n_clusters, n))
    scores = (by_cluster @ design[:, keep]).toarray()
    for z, g in zip(levels, gamma):
        weighted = (by_cluster @ z).tocsr()
        # zero (to rounding) for a dimension nested in the clusters: the residuals sum to zero in each level
        if np.abs(weighted.data).max(initial=0.0) > 1e-9 * max(1.0, float(np.abs(resid).max(initial=0.0))):
            scores -= weighted @ g[:, keep]
    meat = scores.T @ scores
    # pyfixest's small-sample factor (k_fixef = "nonnested", G_df = "conventional")
    nested = [bool((pd.Series(cluster).groupby(c).nunique() == 1).all()) for c in coded]
    k_fe = sum(sizes) - (len(sizes) - 1 if len(sizes) > 1 else 0)
    k_fe_nested = sum(m for m, is_nested in zip(sizes, nested) if is_nested)
    df_k = len(keep) + k_fe - k_fe_nested + (sum(nested) if k_fe_nested else 0)
    factor_ssc = n_clusters / (n_clusters - 1) * (n - 1) / (n - df_k)
    vcov = np.full((k, k), np.nan)
    vcov[np.ix_(keep, keep)] = factor_ssc * bread @ meat @ bread
    names = list(names)
    collinear = tuple(names[j] for j in range(k) if j not in set(keep.tolist()))
    return _SparseFit(pd.Series(beta, index=names), pd.DataFrame(vcov, index=names, columns=names), n,
                      n_clusters, used, collinear)


def _identified_rows(codes: list[np.ndarray], sizes: list[int], untreated_rows: np.ndarray, treated: np.ndarray,
                     terms: Sequence[str]) -> tuple[np.ndarray, dict]:
    """Treated rows whose untreated outcome the untreated fit identifies, and the others counted by reason.

    A treated row's imputed outcome ``sum_d effect_d[level_d]`` is identified
    when every one of its levels appears among the untreated rows and, with
    two or more fixed-effect dimensions, all its levels lie in one connected
    component of the graph that links the levels each untreated row shares.
    Within a component the effects are identified up to constants that cancel
    in the sum; across components they do not cancel, so the imputation would
    depend on an arbitrary normalisation (and the variance solve would have an
    inconsistent right-hand side). With two dimensions (firm and region-year)
    the condition is exact; with more it is necessary, and a remaining
    rank deficiency shows up as a fixed-effect solve that does not converge.
    """
    n = len(treated)
    offsets = np.cumsum([0, *sizes])
    present = [np.bincount(c[untreated_rows], minlength=s) > 0 for c, s in zip(codes, sizes)]
    ok = np.ones(n, dtype=bool)
    reasons: dict[str, int] = {}
    for term, c, p in zip(terms, codes, present):
        missing = treated & ok & ~p[c]
        if missing.any():
            reasons[f"treated observations whose {term} has no untreated observation"] = int(missing.sum())
        ok &= p[c]
    if len(codes) >= 2:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        nodes = int(offsets[-1])
        first = codes[0][untreated_rows] + offsets[0]
        rows = np.concatenate([first] * (len(codes) - 1))
        cols = np.concatenate([c[untreated_rows] + o for c, o in zip(codes[1:], offsets[1:-1])])
        graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(nodes, nodes))
        _, component = connected_components(graph, directed=False)
        label0 = component[codes[0] + offsets[0]]
        same = np.ones(n, dtype=bool)
        for c, o in zip(codes[1:], offsets[1:-1]):
            same &= component[c + o] == label0
        split = treated & ok & ~same
        if split.any():
            reasons[f"treated observations whose {' and '.join(terms)} effects are not connected through "
                    "untreated observations"] = int(split.sum())
        ok &= same
    return ok, reasons


class _Imputer:
    """Imputed untreated outcomes and the weights of linear estimands (Borusyak, Jaravel and Spiess, 2024)."""

    def __init__(self, data: pd.DataFrame, outcome: str, treatment: str, fe: Sequence[str],
                 controls: Sequence[str], cluster: str, tol: float):
        self.treated = data[treatment].to_numpy(dtype=bool)
        self.untreated_rows = np.flatnonzero(~self.treated)
        coded = [_codes(data, term) for term in fe]
        self.codes = [c for c, _ in coded]
        self.sizes = [n for _, n in coded]
        self.tol = tol
        y = data[outcome].to_numpy(dtype=float)
        self.control_coef = pd.Series(dtype=float)
        self.control_fit = None
        if controls:
            # controls' coefficients from the untreated sample, then impute on the residualised outcome
            fit = _feols(data.iloc[self.untreated_rows], outcome, list(controls), fe, cluster)
            self.control_fit = fit
            self.control_coef = fit.coef().reindex(list(controls)).fillna(0.0)
            y = y - data[list(controls)].to_numpy(dtype=float) @ self.control_coef.to_numpy()
        self.y = y
        rhs = [np.bincount(c[self.untreated_rows], weights=y[self.untreated_rows], minlength=n)
               for c, n in zip(self.codes, self.sizes)]
        self.imputable, self.not_imputable = _identified_rows(self.codes, self.sizes, self.untreated_rows,
                                                              self.treated, [str(t) for t in fe])
        self.solver = _FixedEffectSolver(self.codes, self.sizes, self.untreated_rows, tol)
        candidates = np.flatnonzero(self.treated & self.imputable)
        unidentified = candidates[~self.solver.identified(self.codes, candidates)]
        if len(unidentified):
            self.imputable[unidentified] = False
            self.not_imputable[f"treated observations whose {' + '.join(map(str, fe))} effects the untreated "
                               "observations do not identify (e.g. a region no untreated firm-year links to the "
                               "firm's)"] = len(unidentified)
        self.effects = self.solver.solve(rhs)
        imputable = self.imputable
        fitted = sum(e[c] for e, c in zip(self.effects, self.codes))
        self.tau = np.where(self.treated & imputable, y - fitted, np.nan)
        self.resid_untreated = np.where(~self.treated, y - fitted, 0.0)
        self.cluster_codes = pd.factorize(data[cluster])[0]

    def estimate(self, weights: np.ndarray, cells: np.ndarray,
                 tau_fit: np.ndarray | None = None) -> tuple[float, float]:
        """Estimate ``sum w tau`` over treated imputable rows and its clustered standard error.

        ``weights`` are zero outside the estimand (they sum to one for an
        average, to zero for a contrast or a slope); ``cells`` groups treated
        rows (cohort by event time) for the treated residuals, which are
        ``tau`` minus ``tau_fit`` (modelled heterogeneity, e.g. a projection on
        a moderator; zero by default) minus the cell mean of the remainder,
        weighted by the squared weights (the plain cell mean when the weights
        are equal within a cell, as for averages by event time; squared
        weights keep the mean defined when weights of both signs share a cell).
        """
        on = weights != 0
        estimate = float(np.sum(weights[on] * self.tau[on]))
        # v for untreated rows: -Z0 (Z0'Z0)^-1 Z1' w
        rhs = [np.bincount(c[on], weights=weights[on], minlength=n) for c, n in zip(self.codes, self.sizes)]
        b = self.solver.solve(rhs)
        v = np.zeros(len(weights))
        u = self.untreated_rows
        v[u] = -sum(e[c[u]] for e, c in zip(b, self.codes))
        v[on] = weights[on]
        # treated residuals: tau minus its weighted mean in its cell (the conservative choice)
        cell = cells[on]
        remainder = self.tau[on] - (0.0 if tau_fit is None else tau_fit[on])
        w2 = weights[on] ** 2
        cw = np.bincount(cell, weights=w2)
        ctau = np.bincount(cell, weights=w2 * remainder)
        resid = self.resid_untreated.copy()
        resid[on] = remainder - (ctau / np.where(cw != 0, cw, 1.0))[cell]
        score = np.bincount(self.cluster_codes, weights=v * resid)
        return estimate, float(np.sqrt(np.sum(score ** 2)))


def imputation(panel: pd.DataFrame, outcome: str, treatment: str = "sez", fe: Sequence[str] = ("firm_id", "year"),
               controls: Sequence[str] = (), cluster: str = "firm_id", firm: str = "firm_id",
               time: str = "year", on_reversal: str = "error", tol: float = 1e-10) -> DidResults:
    """Imputation estimator of the average effect on the treated (Borusyak, Jaravel and Spiess, 2024).

    Fixed effects (and controls) are fitted on untreated firm-years only; each
    treated firm-year's untreated outcome is imputed from its firm and
    (region-)year effects and ``tau_it = Y_it - Y_it(0)`` is averaged with
    equal weights over all imputable treated firm-years.

    Parameters are those of :func:`twfe`; ``on_reversal`` may be ``"error"`` or
    ``"drop"`` only, since the estimator needs treatment to be absorbing.

    Returns
    -------
    DidResults
        ``counts["treated observations not imputable"]`` counts treated
        firm-years whose firm or region-year has no untreated observation
        (always-treated firms); they are outside the estimand.

    Notes
    -----
    Unlike TWFE it never uses already-treated firm-years as controls, so with
    effects that grow with time since entry, or differ by entry cohort, it
    stays unbiased for the average effect on the treated while TWFE does not.
    """
    func = "imputation"
    data, counts = _prepare(panel, outcome, treatment, fe, controls, cluster, firm, time, func)
    data, _ = _handle_reversals(data, treatment, firm, time, on_reversal, func, counts, allow_keep=False)
    _check_variation(data, treatment, func)
    data = data.reset_index(drop=True)
    imp = _Imputer(data, outcome, treatment, fe, controls, cluster, tol)
    target = imp.treated & imp.imputable
    counts["treated observations not imputable"] = int((imp.treated & ~imp.imputable).sum())
    counts.update(imp.not_imputable)
    if not target.any():
        raise DidDataError(f"{func}: no treated firm-year has untreated observations of its firm and "
                           "(region-)year to impute its untreated outcome (only always-treated firms?)")
    weights = np.where(target, 1.0 / target.sum(), 0.0)
    timing = adoption_timing(data, treatment, firm, time)
    cohort = data[firm].map(timing.first_treated).to_numpy(dtype=float)
    cells = _cells(cohort, data[time].to_numpy(dtype=float))
    est, se = imp.estimate(weights, cells)
    conventions = ("Conventions: fixed effects fitted on untreated firm-years only; equal weights on imputable "
                   "treated firm-years; analytic clustered SE of Borusyak, Jaravel and Spiess (2024) with "
                   "treated residuals net of (cohort, event time) means"
                   + ("; controls' coefficients treated as known in the SE" if controls else "") + ".")
    nobs = int((~imp.treated).sum() + target.sum())
    return DidResults("imputation (Borusyak, Jaravel and Spiess 2024)", outcome, treatment,
                      pd.Series([est], index=[treatment]), pd.Series([se], index=[treatment]), nobs,
                      int(data[cluster].nunique()), tuple(fe), cluster, counts, conventions)


def _cells(cohort: np.ndarray, year: np.ndarray) -> np.ndarray:
    key = np.where(np.isfinite(cohort), (year - np.nan_to_num(cohort)) * 10_000 + np.nan_to_num(cohort), -1)
    return pd.factorize(key)[0]


# ---------------------------------------------------------------------------
# event study


def _event_time(data: pd.DataFrame, treatment: str, firm: str, time: str, on_reversal: str, func: str,
                counts: dict) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows with an observed entry year or never treated; each row's entry year and event time.

    Firms treated in their first observed year are dropped (their entry year
    is not observed) and counted. Event time is NaN for never-treated firms.
    """
    data, timing = _handle_reversals(data, treatment, firm, time, on_reversal, func, counts, allow_keep=False)
    always = timing.index[timing.always_treated.to_numpy()]
    if len(always):
        drop = data[firm].isin(always).to_numpy()
        counts["firms treated in their first observed year (dropped)"] = int(len(always))
        counts["their observations"] = counts.get("their observations", 0) + int(drop.sum())
        data = data.loc[~drop]
    _check_variation(data, treatment, func)
    data = data.reset_index(drop=True)
    first = data[firm].map(timing.first_treated).to_numpy(dtype=float)
    return data, first, data[time].to_numpy(dtype=float) - first


def _event_name(k: int) -> str:
    return f"ev_m{-k}" if k < 0 else f"ev_p{k}"


def _sun_abraham(data: pd.DataFrame, outcome: str, first: np.ndarray, binned: np.ndarray, reference: int,
                 event_times: list[int], fe: Sequence[str], controls: Sequence[str], cluster: str, time: str,
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
                                [_codes(sub, term)[0] for term in fe], sub[cluster].to_numpy())
    counts["singleton observations (Sun-Abraham)"] = int(len(sub) - fit.nobs)
    dropped = [c for c in fit.collinear if not c.startswith("_")]
    if dropped:
        counts[f"regressors collinear with the fixed effects (no coefficient): {', '.join(dropped)}"] = len(dropped)
    used = fit.used
    estimated = [c for c in fit.coef.index if np.isfinite(fit.coef[c])]
    b = fit.coef
    vcov = fit.vcov
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
        v = vcov.loc[w["name"], w["name"]].to_numpy()
        out[int(k)] = (float(wv @ b[w["name"]].to_numpy()), float(np.sqrt(wv @ v @ wv)))
    return out, fit, fit.nobs, fit.n_clusters, weights.set_index(["cohort", "event_time"])


def event_study(panel: pd.DataFrame, outcome: str, treatment: str = "sez", window: tuple[int, int] = (-5, 10),
                reference: int = -5, fe: Sequence[str] = ("firm_id", "year"), controls: Sequence[str] = (),
                cluster: str = "firm_id", firm: str = "firm_id", time: str = "year",
                estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "error",
                tol: float = 1e-10) -> EventStudyResults:
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
    estimators : sequence of {"twfe", "imputation", "sun_abraham"}
        Which estimators to report.

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
    lo, hi = int(window[0]), int(window[1])
    if not lo <= reference < 0 or hi < 0:
        raise ValueError(f"{func}: need window[0] <= reference < 0 <= window[1], got window={window}, "
                         f"reference={reference}")
    unknown = set(estimators) - {"twfe", "imputation", "sun_abraham"}
    if unknown:
        raise ValueError(f"{func}: unknown estimator(s) {sorted(unknown)}")
    data, counts = _prepare(panel, outcome, treatment, fe, controls, cluster, firm, time, func)
    data, first, event = _event_time(data, treatment, firm, time, on_reversal, func, counts)
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
                data[_event_name(k)] = (binned == k).astype(float)
                names.append(_event_name(k))
        fit = _feols(data, outcome, [*names, *controls], fe, cluster)
        fits["twfe"] = fit
        nobs["twfe"], n_clusters["twfe"] = int(fit._N), _n_clusters(fit, data, cluster)
        counts["singleton observations (TWFE)"] = int(len(data) - fit._N)
        _note_collinear(fit, counts)
        coef, se = fit.coef(), fit.se()
        table["twfe_coef"] = [0.0 if k == reference else coef.get(_event_name(k), np.nan) for k in event_times]
        table["twfe_se"] = [np.nan if k == reference else se.get(_event_name(k), np.nan) for k in event_times]
        data = data.drop(columns=names)
    if "imputation" in estimators:
        imp = _Imputer(data, outcome, treatment, fe, controls, cluster, tol)
        counts["treated observations not imputable"] = int((imp.treated & ~imp.imputable).sum())
        counts.update(imp.not_imputable)
        nobs["imputation"] = int((~imp.treated).sum() + (imp.treated & imp.imputable).sum())
        n_clusters["imputation"] = int(data[cluster].nunique())
        cells = _cells(first, data[time].to_numpy(dtype=float))
        post = {}
        for k in range(0, hi + 1):
            target = imp.treated & imp.imputable & (binned == k)
            if target.any():
                post[k] = imp.estimate(np.where(target, 1.0 / target.sum(), 0.0), cells)
        # pre-trend test on untreated rows: leads relative to the reference bin and never-treated firms
        untreated = data.loc[~imp.treated].copy()
        ev_u = binned[~imp.treated]
        leads = [k for k in range(lo, 0) if k != reference]
        lead_names = []
        for k in leads:
            if np.any(ev_u == k):
                untreated[_event_name(k)] = (ev_u == k).astype(float)
                lead_names.append(_event_name(k))
        pre = {}
        if lead_names:
            pre_fit = _feols(untreated, outcome, [*lead_names, *controls], fe, cluster)
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
            data, outcome, first, binned, reference, event_times, fe, controls, cluster, time, counts)
        fits["sun_abraham"], fits["sun_abraham_weights"] = sa_fit, sa_weights
        table["sun_abraham_coef"] = [0.0 if k == reference else sa.get(k, (np.nan, np.nan))[0] for k in event_times]
        table["sun_abraham_se"] = [np.nan if k == reference else sa.get(k, (np.nan, np.nan))[1] for k in event_times]
    names = tuple(e for e in ("twfe", "imputation", "sun_abraham") if e in estimators)
    for e in names:
        table[f"{e}_lower"] = table[f"{e}_coef"] - z * table[f"{e}_se"]
        table[f"{e}_upper"] = table[f"{e}_coef"] + z * table[f"{e}_se"]
        table.loc[reference, [f"{e}_lower", f"{e}_upper"]] = 0.0
    return EventStudyResults(outcome, treatment, reference, (lo, hi), table, names, fits, counts, nobs, n_clusters)


# ---------------------------------------------------------------------------
# trend specification (the paper's Table 18)


TREND_FORMS = {
    "paper": ("current", "post_sez"),
    "linear": ("pre_trend", "sez", "post_trend"),
}


def trend_specification(panel: pd.DataFrame, outcome: str, form: str = "paper", treatment: str = "sez",
                        fe: Sequence[str] = ("firm_id", "year"), controls: Sequence[str] = (),
                        cluster: str = "firm_id", firm: str = "firm_id", time: str = "year",
                        estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "error",
                        tol: float = 1e-10) -> dict[str, DidResults]:
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
    unknown = set(estimators) - {"twfe", "imputation", "sun_abraham"}
    if unknown:
        raise ValueError(f"{func}: unknown estimator(s) {sorted(unknown)}")
    data, counts = _prepare(panel, outcome, treatment, fe, controls, cluster, firm, time, func)
    data, first, event = _event_time(data, treatment, firm, time, on_reversal, func, counts)
    terms = TREND_FORMS[form]
    treated = data[treatment].to_numpy(dtype=bool)
    ever = np.isfinite(first)
    e = np.nan_to_num(event)
    if form == "paper":
        data["_current"] = (treated & (e == 0)).astype(float)
        data["_post_sez"] = (treated & (e >= 1)).astype(float)
    else:
        data["_pre_trend"] = np.where(ever, e, 0.0)
        data["_sez"] = treated.astype(float)
        data["_post_trend"] = np.where(treated, e, 0.0)
    columns = [f"_{t}" for t in terms]  # underscored: never the name of a user's column
    out = {}
    if "twfe" in estimators:
        fit = _feols(data, outcome, [*columns, *controls], fe, cluster)
        names = [*terms, *controls]
        coef = fit.coef().reindex([*columns, *controls]).set_axis(names)
        se = fit.se().reindex([*columns, *controls]).set_axis(names)
        twfe_counts = dict(counts, **{"singleton observations": int(len(data) - fit._N)})
        _note_collinear(fit, twfe_counts)
        out["twfe"] = DidResults("TWFE", outcome, treatment, coef, se,
                                 int(fit._N), int(_n_clusters(fit, data, cluster)), tuple(fe), cluster, twfe_counts,
                                 _CONVENTIONS_TWFE)
    if "imputation" in estimators:
        untreated_model = [*controls] if form == "paper" else ["_pre_trend", *controls]
        imp = _Imputer(data, outcome, treatment, fe, untreated_model, cluster, tol)
        imp_counts = dict(counts, **{"treated observations not imputable": int((imp.treated & ~imp.imputable).sum())},
                          **imp.not_imputable)
        target = imp.treated & imp.imputable
        if not target.any():
            raise DidDataError(f"{func}: no treated firm-year can be imputed from untreated observations")
        cells = _cells(first, data[time].to_numpy(dtype=float))
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
                weights = np.zeros(len(data))
                weights[target] = w
                params[term], ses[term] = imp.estimate(weights, cells)
        index = list(terms)
        conventions = ("Conventions: untreated model fitted on untreated firm-years"
                       + (" with the pre-entry trend among its regressors" if form == "linear" else "")
                       + "; analytic clustered SE of Borusyak, Jaravel and Spiess (2024), the untreated model's "
                       "slopes treated as known.")
        out["imputation"] = DidResults("imputation (Borusyak, Jaravel and Spiess 2024)", outcome, treatment,
                                       pd.Series([params[t] for t in index], index=index),
                                       pd.Series([ses[t] for t in index], index=index),
                                       int((~imp.treated).sum() + target.sum()), int(data[cluster].nunique()),
                                       tuple(fe), cluster, imp_counts, conventions)
    return out


# ---------------------------------------------------------------------------
# the paper's firm controls and specifications (Tables 16-18)


def _log_positive(values) -> np.ndarray:
    """Natural log where positive, NaN elsewhere (Stata's ``ln()`` gives missing for x <= 0)."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


def _lagged(panel: pd.DataFrame, column: str, firm: str, time: str) -> np.ndarray:
    """The firm's value of ``column`` in the previous calendar year (NaN where that year is not observed)."""
    previous = panel[[firm, time, column]].copy()
    previous[time] = previous[time] + 1
    merged = panel[[firm, time]].merge(previous, on=[firm, time], how="left", sort=False)
    return merged[column].to_numpy(dtype=float)


def _ratio(num, den) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


@dataclass(frozen=True)
class PaperControl:
    """A firm control of the SEZ paper (its footnote 16 and the rows of Tables 16-18).

    ``name`` is the column :func:`paper_controls` adds, ``label`` the paper's
    row label, ``needs`` the panel columns it is built from (``"{eg}"`` stands
    for the EG column named by the caller), ``definition`` says how.
    """

    name: str
    label: str
    needs: tuple[str, ...]
    definition: str


PAPER_CONTROLS = {c.name: c for c in (
    PaperControl("size", "size", ("total_assets",),
                 "ln(total assets); the paper deflates by an industrial price index, which year or region-by-year "
                 "effects absorb when the index varies by year only"),
    PaperControl("ln_age", "lnage", ("age",), "ln(age); missing at age 0, as Stata's ln()"),
    PaperControl("ln_roa", "lnROA", ("profit", "total_assets"),
                 "ln(profit / mean of total assets in t and t-1); the previous calendar year of the same firm, "
                 "missing without it or where profit <= 0"),
    PaperControl("ln_debt_ratio", "ln(Debt ratio)", ("debt", "total_assets"), "ln(debt / total assets)"),
    PaperControl("export", "Export", ("exporter",), "exporter indicator (0/1)"),
    PaperControl("state_owned", "State-owned", ("ownership",), "ownership group == 'state' (0/1)"),
    PaperControl("ln_ky", "lnky", ("capital", "output"), "ln(capital / output), the capital-output ratio"),
    PaperControl("ln_export_density", "ln(Export density)", ("exports", "sales"),
                 "ln(exports / sales), the export share; defined for exporters only (which the paper's sample "
                 "sizes from m3 on suggest)"),
    PaperControl("ln_eg", "lnEG", ("{eg}",),
                 "ln EG_irt, the Ellison-Glaeser index of the firm's industry across the counties of its city "
                 "(eg_mediator); missing where EG <= 0"),
    PaperControl("ln_sales", "lnsales", ("sales",), "ln(sales)"),
    PaperControl("ln_profit", "lnprofit_net", ("profit",), "ln(profit); missing where profit <= 0"),
    PaperControl("ln_output", "lnY", ("output",), "ln(gross output)"),
)}


def _build_control(name: str, panel: pd.DataFrame, eg: str, firm: str, time: str) -> np.ndarray:
    num = lambda col: pd.to_numeric(panel[col], errors="coerce").to_numpy(dtype=float)  # noqa: E731
    if name == "size":
        return _log_positive(num("total_assets"))
    if name == "ln_age":
        return _log_positive(num("age"))
    if name == "ln_roa":
        assets = num("total_assets")
        average = (assets + _lagged(panel, "total_assets", firm, time)) / 2.0
        return _log_positive(_ratio(num("profit"), average))
    if name == "ln_debt_ratio":
        return _log_positive(_ratio(num("debt"), num("total_assets")))
    if name == "export":
        return panel["exporter"].astype(float).to_numpy()
    if name == "state_owned":
        return (panel["ownership"].astype(str) == "state").to_numpy(dtype=float)
    if name == "ln_ky":
        return _log_positive(_ratio(num("capital"), num("output")))
    if name == "ln_export_density":
        return _log_positive(_ratio(num("exports"), num("sales")))
    if name == "ln_eg":
        return _log_positive(num(eg))
    if name == "ln_sales":
        return _log_positive(num("sales"))
    if name == "ln_profit":
        return _log_positive(num("profit"))
    if name == "ln_output":
        return _log_positive(num("output"))
    raise KeyError(f"paper_controls: unknown control {name!r}; known: {', '.join(PAPER_CONTROLS)}")


def paper_controls(panel: pd.DataFrame, controls: Sequence[str] | None = None, eg: str = "eg_city",
                   firm: str = "firm_id", time: str = "year") -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy of the panel with the paper's firm controls added as columns (see ``PAPER_CONTROLS``).

    Parameters
    ----------
    controls : sequence of str, optional
        Names from ``PAPER_CONTROLS`` (all by default).
    eg : str
        Column holding the level of EG_irt (``eg_mediator(panel)``), for ``ln_eg``.

    Returns
    -------
    (pandas.DataFrame, dict)
        The panel with one column per buildable control, and ``{control:
        reason}`` for those that cannot be built because the panel lacks a
        column they need. A control that exists but is missing in some rows
        is NaN there (the regressions drop those rows and count them).
    """
    names = list(PAPER_CONTROLS) if controls is None else list(controls)
    unknown = [c for c in names if c not in PAPER_CONTROLS]
    if unknown:
        raise KeyError(f"paper_controls: unknown control(s) {unknown}; known: {', '.join(PAPER_CONTROLS)}")
    _require(panel, [firm, time], "paper_controls")
    out = panel.copy(deep=False)  # new columns only: the panel's own (gigabytes at the papers' scale) are shared
    unavailable = {}
    for name in names:
        needs = [eg if n == "{eg}" else n for n in PAPER_CONTROLS[name].needs]
        missing = [n for n in needs if n not in panel.columns]
        if missing:
            unavailable[name] = (f"control {PAPER_CONTROLS[name].label!r} ({name}) needs column(s) "
                                 f"{', '.join(map(repr, missing))}, not in the panel")
            continue
        out[name] = _build_control(name, panel, eg, firm, time)
    return out, unavailable


def eg_mediator(panel: pd.DataFrame, log: bool = False, industry: str = "cic3", city: str = "city",
                county: str = "county", size: str = "employees", year: str = "year") -> pd.Series:
    """EG_irt of each firm-year: the Ellison-Glaeser index of its industry across the counties of its city.

    The mediator of the paper's eqs. 1-2 (Tables 4, 21-30; the level) and the
    ``lnEG`` control and moderator (Tables 16-18, 32; ``log=True``, NaN where
    the index is not positive, counted in ``attrs["not_positive"]``). Built
    with :func:`sez.agglo.ellison_glaeser_within_city` and mapped onto firms
    with :func:`sez.agglo.to_firms`; NaN where the index is undefined (one
    plant, or one county in the city).
    """
    from sez import agglo

    table = agglo.ellison_glaeser_within_city(panel, industry=industry, city=city, county=county, size=size,
                                              year=year)
    level = agglo.to_firms(panel, table, "gamma").astype(float)
    if not log:
        return level.rename("eg_city")
    out = pd.Series(_log_positive(level.to_numpy()), index=panel.index, name="ln_eg_city")
    out.attrs["not_positive"] = int((level <= 0).sum())
    return out


@dataclass(frozen=True)
class Specification:
    """One column of the paper's Tables 16-18.

    ``region_by_year`` False: firm, year and region effects separately (the
    paper's eq. 12 and Table 4 "SepFE", columns m1-m6); True: firm and
    region-by-year effects (eqs. 10, 13, "crossFE", m7-m12). ``controls``
    are names from ``PAPER_CONTROLS``.
    """

    name: str
    region_by_year: bool
    controls: tuple[str, ...]

    def fixed_effects(self, firm: str = "firm_id", time: str = "year", region: str = "city") -> tuple[str, ...]:
        return (firm, f"{region}^{time}") if self.region_by_year else (firm, time, region)


_CONTROL_SETS = (
    (),
    ("size", "ln_age", "ln_roa", "ln_debt_ratio", "export", "state_owned"),
    ("size", "ln_age", "ln_roa", "ln_debt_ratio", "state_owned", "ln_ky", "ln_export_density"),
    ("size", "ln_age", "ln_roa", "ln_debt_ratio", "state_owned", "ln_ky", "ln_export_density", "ln_eg"),
    ("ln_age", "ln_debt_ratio", "state_owned", "ln_ky", "ln_export_density", "ln_eg", "ln_sales", "ln_profit"),
    ("ln_age", "ln_debt_ratio", "state_owned", "ln_ky", "ln_export_density", "ln_eg", "ln_profit", "ln_output"),
)

SPECIFICATIONS = {
    f"m{k + 1 + 6 * cross}": Specification(f"m{k + 1 + 6 * cross}", bool(cross), controls)
    for cross in (0, 1) for k, controls in enumerate(_CONTROL_SETS)
}
"""The twelve columns m1-m12 of the paper's Tables 16-18 (the same controls in all three tables)."""


# The paper's printed numbers: {table: {term: "coef t|coef t|..."}} over m1..m12, blank where not printed.
# Its parentheses hold t statistics; an implied standard error is |coef / t|.
_PAPER_SPEC_CELLS = {
    16: {
        "sez": "0.909 199.94|0.898 146.89|0.973 157.50|0.972 157.33|0.978 116.02|0.957 205.65|0.922 205.54|"
               "0.905 149.22|0.974 159.00|0.974 158.85|0.966 116.45|0.959 207.01",
        "size": "|0.127 53.62|0.109 39.96|0.109 39.62||||0.117 48.92|0.0995 35.93|0.0992 35.69||",
        "ln_age": "|-0.0569 -25.32|-0.0310 -12.02|-0.0307 -11.83|-0.0509 -12.26|-0.0277 -15.98||-0.0508 -23.07|"
                  "-0.0209 -8.30|-0.0208 -8.19|-0.0486 -11.97|-0.0207 -12.19",
        "ln_roa": "|0.0695 125.15|0.0144 26.37|0.0145 26.34||||0.0645 118.92|0.0129 23.74|0.0129 23.74||",
        "ln_debt_ratio": "|-0.0454 -22.59|-0.0342 -14.66|-0.0341 -14.60|-0.0217 -10.61|-0.0215 -14.94||"
                         "-0.0374 -19.12|-0.0331 -14.40|-0.0329 -14.30|-0.0213 -10.51|-0.0204 -14.41",
        "export": "|-0.00881 -3.07||||||0.000799 0.27||||",
        "state_owned": "|-0.0700 -9.69|-0.0331 -3.96|-0.0331 -3.95|-0.00470 -0.40|-0.0281 -4.93||-0.0586 -8.19|"
                       "-0.0193 -2.29|-0.0198 -2.34|-0.00206 -0.17|-0.0153 -2.72",
        "ln_ky": "||-0.721 -341.86|-0.720 -340.89|-0.623 -255.78|-0.621 -379.93|||-0.718 -338.14|-0.718 -337.20|"
                 "-0.625 -256.90|-0.623 -379.20",
        "ln_export_density": "||-0.00644 -4.90|-0.00658 -4.98|-0.00674 -5.27|-0.00803 -8.86|||-0.00621 -4.78|"
                             "-0.00628 -4.81|-0.00678 -5.40|-0.00766 -8.56",
        "ln_eg": "|||0.00819 2.41|0.00406 1.08|0.00700 3.14||||0.00775 2.29|0.00611 1.62|0.00687 3.10",
        "ln_sales": "||||0.0936 31.02||||||0.0855 27.83|",
        "ln_profit": "||||0.0618 61.35|0.0648 95.48|||||0.0604 60.71|0.0618 92.47",
        "ln_output": "|||||0.0437 22.77||||||0.0353 18.48",
    },
    17: {
        "pre4": "0.0453 6.36|0.0286 3.07|-0.00606 -0.70|-0.00706 -0.82|-0.0423 -4.35|-0.0133 -2.21|0.0493 7.02|"
                "0.0340 3.71|-0.00798 -0.94|-0.00924 -1.08|-0.0410 -4.28|-0.00838 -1.42",
        "pre3": "0.0633 8.07|0.0389 3.67|0.00461 0.49|0.00349 0.37|0.0142 0.92|0.00990 1.52|0.0628 8.19|"
                "0.0423 4.09|0.00444 0.49|0.00315 0.35|-0.00678 -0.45|0.0102 1.60",
        "pre2": "0.0882 10.63|0.0424 3.77|0.0120 1.23|0.0119 1.20|0.0290 1.67|0.0167 2.39|0.0901 11.10|"
                "0.0453 4.13|0.0105 1.12|0.0101 1.07|0.00329 0.20|0.0193 2.82",
        "pre1": "0.0805 9.65|0.0298 2.62|0.0180 1.78|0.0173 1.71|0.0195 1.13|0.0171 2.35|0.0959 11.76|"
                "0.0454 4.10|0.0211 2.17|0.0202 2.08|-0.00575 -0.34|0.0237 3.33",
        "current": "0.963 113.93|0.974 82.41|1.016 85.40|1.015 85.20|1.008 58.59|0.987 121.61|0.975 117.96|"
                   "0.991 85.57|1.017 88.72|1.016 88.46|0.979 58.75|0.990 124.61",
        "post1": "0.991 115.64|0.934 78.19|0.988 84.78|0.987 84.50|1.020 58.97|0.975 118.17|1.011 120.26|"
                 "0.953 81.35|0.994 88.87|0.993 88.51|0.992 59.13|0.982 121.36",
        "post2": "0.991 113.41|0.927 75.98|0.985 83.62|0.984 83.36|1.028 59.25|0.973 116.83|1.011 117.57|"
                 "0.946 78.65|0.992 87.02|0.991 86.70|0.997 59.02|0.981 119.24",
        "post3": "0.956 106.63|0.902 72.46|0.975 80.74|0.974 80.52|1.023 58.32|0.963 111.38|1.000 112.64|"
                 "0.938 76.10|0.987 83.88|0.986 83.60|0.993 58.07|0.975 113.55",
        "post4": "0.958 100.95|0.907 69.42|0.975 77.15|0.974 76.93|1.000 55.75|0.945 105.39|1.008 106.86|"
                 "0.949 73.07|0.991 80.33|0.989 80.05|0.972 55.47|0.962 107.70",
        "post5": "0.972 98.89|0.926 67.91|0.971 73.34|0.970 73.13|1.012 55.22|0.952 101.67|1.032 105.36|"
                 "0.979 71.76|0.990 76.15|0.989 75.89|0.983 54.71|0.971 103.74",
        "post6": "0.977 95.15|0.945 66.63|0.989 70.31|0.989 70.11|1.030 54.53|0.962 96.62|1.054 102.40|"
                 "1.007 70.68|1.013 73.48|1.012 73.24|1.001 53.83|0.983 98.95",
        "post7": "0.984 91.74|0.957 64.86|1.000 70.64|1.000 70.47|1.069 55.33|0.977 96.31|1.074 99.46|"
                 "1.027 68.84|1.029 72.33|1.028 72.12|1.038 54.31|1.004 97.61",
        "post8": "0.979 86.67|0.971 62.18|1.013 68.27|1.014 68.14|1.089 55.07|0.987 93.29|1.082 94.93|"
                 "1.048 66.14|1.051 70.33|1.050 70.18|1.061 54.06|1.018 94.65",
        "post9": "0.981 82.45|1.031 60.74|1.033 63.82|1.033 63.75|1.131 55.89|1.010 90.87|1.139 93.73|"
                 "1.147 65.95|1.082 66.21|1.082 66.10|1.106 54.71|1.051 92.83",
    },
    18: {
        "current": "0.897 195.15|0.936 142.71|1.001 135.58|1.001 135.46|0.975 114.68|0.972 200.86|0.897 198.04|"
                   "0.938 144.11|0.997 136.12|0.997 136.04|0.964 115.24|0.969 202.19",
        "post_sez": "0.915 192.83|0.883 132.88|0.965 146.51|0.965 146.31|0.979 113.02|0.952 197.48|0.935 198.70|"
                    "0.893 135.04|0.968 147.56|0.968 147.36|0.967 113.22|0.956 197.91",
    },
}
# the same sample in the three tables (their Observations rows agree)
_PAPER_SPEC_NOBS = dict(zip(SPECIFICATIONS, (2319020, 777655, 205890, 205053, 251997, 413465, 2318971, 777497,
                                              205374, 204540, 251730, 412935)))


def _paper_spec_numbers(table: int) -> pd.DataFrame:
    """The paper's printed cells of Table 16, 17 or 18: spec, term, coef, t, implied se."""
    rows = []
    for term, line in _PAPER_SPEC_CELLS[table].items():
        cells = line.split("|")
        if len(cells) != len(SPECIFICATIONS):
            raise AssertionError(f"paper Table {table} row {term!r} has {len(cells)} cells")
        for spec, cell in zip(SPECIFICATIONS, cells):
            if cell.strip():
                coef, t = map(float, cell.split())
                rows.append({"spec": spec, "term": term, "coef": coef, "t": t, "se": abs(coef / t)})
    return pd.DataFrame(rows)


_EVENT_TERMS = {k: ("current" if k == 0 else f"pre{-k}" if k < 0 else f"post{k}") for k in range(-4, 10)}

_TABLE_TITLES = {
    16: "The effects of the SEZs on TFP (SEZ paper, Table 16)",
    17: "An event study: the effects of the SEZs on TFP (SEZ paper, Table 17)",
    18: "The effects of the SEZs on TFP and its trend (SEZ paper, Table 18)",
}
_TERM_LABELS = {"sez": "SEZ", "current": "current", "post_sez": "PostSEZ",
                **{k: c.label for k, c in PAPER_CONTROLS.items()},
                **{v: v for v in _EVENT_TERMS.values()}}


@dataclass(frozen=True)
class SpecificationTable:
    """The paper's Tables 16, 17 or 18: every specification by TWFE and the imputation estimator.

    Attributes
    ----------
    table : int
        16 (static DiD, eq. 10), 17 (event study, eqs. 11-13) or 18 (entry year
        and after, Appendix A4).
    estimates : pandas.DataFrame
        Long form: ``spec, estimator, term, coef, se, p_value, nobs, n_clusters``.
    skipped : dict
        ``{spec: reason}`` for specifications not run (a control the panel
        cannot provide, or a sample that cannot identify the effect).
    specifications : dict
        The :class:`Specification` objects run or skipped.
    paper : pandas.DataFrame
        The paper's printed cells (``spec, term, coef, t, se``; se implied by
        coef / t, since the paper prints t statistics).
    fits : dict
        ``{spec: {estimator: DidResults | EventStudyResults | dict}}``.
    failed : dict
        ``{(spec, estimator): reason}`` for an estimator that failed on a
        specification the other estimator ran: its column says so, the other
        column stands.
    """

    table: int
    outcome: str
    region: str
    cluster: str
    estimates: pd.DataFrame
    skipped: dict
    specifications: dict
    paper: pd.DataFrame
    fits: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{_TABLE_TITLES[self.table]}; outcome {self.outcome}"

    def to_frame(self) -> pd.DataFrame:
        """Long form, our estimates with the paper's coefficient, t and implied se beside them."""
        paper = self.paper.rename(columns={"coef": "paper_coef", "t": "paper_t", "se": "paper_se"})
        out = self.estimates.merge(paper, on=["spec", "term"], how="left")
        out["t"] = out["coef"] / out["se"]
        return out

    def layout(self, inner: str = "se", paper: bool = True, digits: int = 4) -> pd.DataFrame:
        """The paper's layout: coefficient with stars, ``(se)`` or ``(t)`` below, then N and fixed effects.

        Columns are ``(spec, source)`` with source ``TWFE``, ``imputation``
        (treatment terms only) and, with ``paper=True``, ``paper`` (its
        printed coefficients with stars; below them its t, or its implied
        standard error |coef/t| when ``inner="se"``). A skipped specification's
        own columns say so; the paper's stay filled.
        """
        from sez.econometrics import significance_stars

        if inner not in ("se", "t"):
            raise ValueError(f"layout: inner must be 'se' or 't', got {inner!r}")
        est = self.estimates
        # the paper's row order, then any term of ours it does not print; rows nobody estimated are left out
        shown = set(est["term"]) | (set(self.paper["term"]) if paper else set())
        terms = [t for t in dict.fromkeys([*_paper_terms(self.table), *est["term"]]) if t in shown]
        sources = ["TWFE", "imputation"] + (["paper"] if paper else [])
        columns = pd.MultiIndex.from_tuples([(s, src) for s in self.specifications for src in sources])
        labels = []
        for term in terms:
            labels += [_TERM_LABELS.get(term, term), ""]
        labels += ["Observations", "Firm FE", "Year FE", "Region FE", "Region x year FE", "Clustered by"]
        body = pd.DataFrame("", index=range(len(labels)), columns=columns)
        fmt = f"{{:.{digits}g}}"
        for spec_name, spec in self.specifications.items():
            for src in sources:
                col = (spec_name, src)
                if spec_name in self.skipped and src != "paper":  # the paper's numbers stay beside a skipped spec
                    body.loc[0, col] = "skipped"
                    continue
                if (spec_name, {"TWFE": "twfe"}.get(src, src)) in self.failed:
                    body.loc[0, col] = "failed (see notes)"
                    continue
                if src == "paper":
                    cells = self.paper.loc[self.paper.spec == spec_name].set_index("term")
                    for i, term in enumerate(terms):
                        if term in cells.index:
                            c, t = cells.loc[term, "coef"], cells.loc[term, "t"]
                            p = 2 * stats.norm.sf(abs(t))
                            body.loc[2 * i, col] = fmt.format(c) + significance_stars(p)
                            body.loc[2 * i + 1, col] = f"({fmt.format(abs(c / t)) if inner == 'se' else f'{t:.2f}'})"
                    body.loc[2 * len(terms), col] = f"{_PAPER_SPEC_NOBS[spec_name]:,}"
                    _fill_fixed_effects(body, col, 2 * len(terms) + 1, spec)
                    continue
                estimator = "twfe" if src == "TWFE" else "imputation"
                rows = est.loc[(est.spec == spec_name) & (est.estimator == estimator)].set_index("term")
                if rows.empty:
                    continue
                for i, term in enumerate(terms):
                    if term in rows.index and np.isfinite(rows.loc[term, "coef"]):
                        r = rows.loc[term]
                        body.loc[2 * i, col] = fmt.format(r.coef) + significance_stars(r.p_value)
                        inside = r.se if inner == "se" else r.coef / r.se
                        body.loc[2 * i + 1, col] = f"({fmt.format(inside) if inner == 'se' else f'{inside:.2f}'})"
                base = 2 * len(terms)
                body.loc[base, col] = f"{int(rows['nobs'].iloc[0]):,}"
                _fill_fixed_effects(body, col, base + 1, spec)
                body.loc[base + 5, col] = self.cluster
        body.index = pd.Index(labels)
        return body

    def notes(self, inner: str = "se") -> str:
        inside = "standard errors" if inner == "se" else "t statistics"
        lines = [f"Our {inside} in parentheses, clustered by {self.cluster}; the paper prints t statistics "
                 + ("(shown as implied standard errors |coef/t|)" if inner == "se" else "") + ". "
                 "* p < 0.1, ** p < 0.05, *** p < 0.01 (ours: t with G-1 degrees of freedom, G clusters; the "
                 "paper's: normal).",
                 f"Region: {self.region}. m1-m6: firm, year and region effects separately; m7-m12: firm and "
                 "region-by-year effects. Each column on the complete cases of its controls.",
                 "Imputation: Borusyak, Jaravel and Spiess (2024); fixed effects and controls fitted on untreated "
                 "firm-years only, so already-treated firms never serve as controls; where it differs from TWFE "
                 "the effects differ by entry cohort or time since entry."]
        if self.table == 17:
            lines.append("Reference period: five years before entry (earlier years binned into it); imputation "
                         "leads come from its pre-trend test on untreated firm-years.")
        if self.table == 18:
            lines.append("current: the entry year; PostSEZ: the years after entry.")
        for spec, reason in self.skipped.items():
            lines.append(f"{spec} skipped: {reason}")
        for (spec, estimator), reason in self.failed.items():
            lines.append(f"{spec}, {estimator}: failed ({reason}); the other estimators' columns stand")
        return "\n".join(lines)

    def summary(self, inner: str = "se") -> str:
        with pd.option_context("display.width", 250, "display.max_columns", None):
            return "\n".join([self.title, self.layout(inner).to_string(), self.notes(inner)])

    def to_csv(self, path=None, inner: str = "se"):
        """The layout as CSV (to ``path``, or returned as a string)."""
        return self.layout(inner).to_csv(path)

    def to_html(self, inner: str = "se") -> str:
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes(inner).splitlines())
        return (f"<h3>{html.escape(self.title)}</h3>\n" + self.layout(inner).to_html(classes="did-table")
                + f"\n{notes}")

    def to_latex(self, inner: str = "se") -> str:
        body = self.layout(inner).to_latex(multicolumn=True, multicolumn_format="c")
        notes = " ".join(self.notes(inner).splitlines())
        return (f"% {self.title}\n" + body + f"\\par\\footnotesize {_latex_escape(notes)}\n")


def _fill_fixed_effects(body: pd.DataFrame, col, first_row: int, spec: Specification) -> None:
    """The rows Firm FE, Year FE, Region FE, Region x year FE of one column."""
    marks = ("yes", "", "", "yes") if spec.region_by_year else ("yes", "yes", "yes", "")
    for offset, mark in enumerate(marks):
        body.loc[first_row + offset, col] = mark


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("^", r"\^{}"), ("<", r"$<$"), (">", r"$>$")):
        text = text.replace(a, b)
    return text


def _paper_terms(table: int) -> tuple[str, ...]:
    if table == 16:
        return tuple(_PAPER_SPEC_CELLS[16])
    if table == 17:
        return tuple(_EVENT_TERMS.values())
    return ("current", "post_sez", *[t for t in _PAPER_SPEC_CELLS[16] if t != "sez"])


def _spec_rows(spec: str, estimator: str, params: pd.Series, bse: pd.Series, pvalues: pd.Series, nobs: int,
               n_clusters: int) -> list[dict]:
    return [{"spec": spec, "estimator": estimator, "term": term, "coef": float(params[term]),
             "se": float(bse[term]), "p_value": float(pvalues[term]), "nobs": nobs, "n_clusters": n_clusters}
            for term in params.index]


def specification_table(panel: pd.DataFrame, table: int = 16, outcome: str = "ln_tfp",
                        specifications: Sequence[str] | None = None, treatment: str = "sez", region: str = "city",
                        cluster: str = "firm_id", eg: str = "eg_city", firm: str = "firm_id", time: str = "year",
                        estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "drop",
                        tol: float = 1e-10) -> SpecificationTable:
    """Run the paper's specifications m1-m12 for Table 16, 17 or 18, TWFE beside imputation.

    Parameters
    ----------
    panel : pandas.DataFrame
        Firm-year table with the outcome, treatment, region and the columns
        the controls are built from (:func:`paper_controls`).
    table : {16, 17, 18}
        16: static DiD (eq. 10); 17: event study with leads pre4..pre1 and lags
        current..post9 relative to five years before entry (eqs. 11-13); 18:
        entry year and after (Appendix A4, :func:`trend_specification`).
    specifications : sequence of str, optional
        Names from ``SPECIFICATIONS`` (all twelve by default).
    region : str
        Region of the region and region-by-year effects (the paper's r).
    eg : str
        Column with the level of EG_irt for the ``lnEG`` control
        (:func:`eg_mediator`); specs m4-m6 and m10-m12 need it.
    on_reversal : {"drop", "error"}
        Firms leaving a zone after entering it; dropped (counted) by default
        so that both estimators use the same firms.

    Returns
    -------
    SpecificationTable
        A specification whose control the panel cannot provide, or whose
        sample cannot identify the effect, is listed in ``skipped`` with the
        reason (never left out silently); :meth:`SpecificationTable.summary`
        prints the reasons under the table.

    Raises
    ------
    KeyError
        The outcome, treatment, region, cluster or firm/time column is missing,
        or a specification name is unknown.
    """
    func = f"table{table}"
    if table not in (16, 17, 18):
        raise ValueError(f"specification_table: table must be 16, 17 or 18, got {table!r}")
    names = list(SPECIFICATIONS) if specifications is None else list(specifications)
    unknown = [n for n in names if n not in SPECIFICATIONS]
    if unknown:
        raise KeyError(f"{func}: unknown specification(s) {unknown}; known: {', '.join(SPECIFICATIONS)}")
    _require(panel, [firm, time, outcome, treatment, region, cluster], func)
    specs = {n: SPECIFICATIONS[n] for n in names}
    needed = list(dict.fromkeys(c for s in specs.values() for c in s.controls))
    data, unavailable = paper_controls(panel, needed, eg=eg, firm=firm, time=time)
    rows, skipped, failed, fits, counts = [], {}, {}, {}, {}
    for name, spec in track(specs.items(), f"Table {table}", name=lambda item: item[0]):
        missing = [unavailable[c] for c in spec.controls if c in unavailable]
        if missing:
            skipped[name] = "; ".join(missing)
            continue
        fe = spec.fixed_effects(firm, time, region)
        common = dict(treatment=treatment, fe=fe, controls=list(spec.controls), cluster=cluster, firm=firm,
                      time=time, on_reversal=on_reversal)
        parts, errors = {}, {}
        # each estimator on its own: one that fails leaves the others' columns standing
        for est in estimators:
            try:
                if table == 16:
                    parts[est] = (twfe(data, outcome, **common) if est == "twfe"
                                  else imputation(data, outcome, tol=tol, **common))
                elif table == 17:
                    parts[est] = event_study(data, outcome, window=(-5, 9), reference=-5, estimators=(est,),
                                             tol=tol, **common)
                else:
                    parts[est] = trend_specification(data, outcome, form="paper", estimators=(est,), tol=tol,
                                                     **common)[est]
            except (DidDataError, RuntimeError) as err:  # RuntimeError: a fixed-effect solve that cannot converge
                errors[est] = str(err)
        if not parts:
            complete = np.isfinite(data[[outcome, *spec.controls]].apply(pd.to_numeric, errors="coerce")
                                   .to_numpy(dtype=float)).all(axis=1)
            skipped[name] = (f"not identified on this panel ({int(complete.sum())} firm-years with the outcome "
                             f"and all its controls): " + "; ".join(f"{e}: {m}" for e, m in errors.items()))
            continue
        failed.update({(name, est): message for est, message in errors.items()})
        if table == 17:
            es = _merge_event_studies(list(parts.values()))
            fits[name] = {"event_study": es}
            counts[name] = es.counts
            for est in es.estimators:
                sub = es.table.loc[es.table.index != -5]
                params = pd.Series(sub[f"{est}_coef"].to_numpy(), index=[_EVENT_TERMS[k] for k in sub.index])
                bse = pd.Series(sub[f"{est}_se"].to_numpy(), index=params.index)
                n_clusters = es.n_clusters[est]
                pvalues = pd.Series(2 * stats.t.sf(np.abs(params / bse), max(n_clusters - 1, 1)),
                                    index=params.index)
                rows += _spec_rows(name, est, params, bse, pvalues, es.nobs[est], n_clusters)
            continue
        fits[name] = parts
        counts[name] = {e: r.counts for e, r in parts.items()}
        for est, res in parts.items():
            params = res.params.rename({treatment: "sez"})
            rows += _spec_rows(name, est, params, res.bse.set_axis(params.index), res.pvalues.set_axis(params.index),
                               res.nobs, res.n_clusters)
    estimates = pd.DataFrame(rows, columns=["spec", "estimator", "term", "coef", "se", "p_value", "nobs",
                                            "n_clusters"])
    # Table 18's control rows are not transcribed (they agree with Table 16's to the third digit)
    paper = _paper_spec_numbers(table)
    paper = paper.loc[paper.spec.isin(names)].reset_index(drop=True)
    return SpecificationTable(table, outcome, region, cluster, estimates, skipped, specs, paper, fits, counts, failed)


def _merge_event_studies(parts: list[EventStudyResults]) -> EventStudyResults:
    """One event study from several run with one estimator each (same panel, window and reference)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    table = first.table.copy()
    estimators, fits, counts, nobs, n_clusters = [], {}, {}, {}, {}
    for part in parts:
        for column in part.table.columns:
            table[column] = part.table[column]
        estimators += part.estimators
        fits.update(part.fits)
        counts.update(part.counts)
        nobs.update(part.nobs)
        n_clusters.update(part.n_clusters)
    ordered = [c for e in estimators for c in (f"{e}_coef", f"{e}_se")]
    bands = [c for e in estimators for c in (f"{e}_lower", f"{e}_upper")]
    table = table[["n_treated_obs", *ordered, *bands]]
    return dataclasses.replace(first, table=table, estimators=tuple(estimators), fits=fits, counts=counts,
                               nobs=nobs, n_clusters=n_clusters)


def table16(panel: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> SpecificationTable:
    """The paper's Table 16 (eq. 10, specifications m1-m12); see :func:`specification_table`."""
    return specification_table(panel, 16, outcome, **kwargs)


def table17(panel: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> SpecificationTable:
    """The paper's Table 17 (event study, eqs. 11-13, m1-m12); see :func:`specification_table`.

    Figure 12 is ``table.fits[spec]["event_study"].plot(path)`` (the paper draws m7, region-by-year effects).
    """
    return specification_table(panel, 17, outcome, **kwargs)


def table18(panel: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> SpecificationTable:
    """The paper's Table 18 (entry year and after, Appendix A4, m1-m12); see :func:`specification_table`."""
    return specification_table(panel, 18, outcome, **kwargs)


# ---------------------------------------------------------------------------
# mediation


@dataclass(frozen=True)
class MediationResults:
    """Mediation of the treatment effect through a mediator (Baron and Kenny, 1986).

    ``paths`` holds the three regressions (path c: outcome on treatment; path a:
    mediator on treatment; paths b and c': outcome on treatment and mediator);
    ``tests`` the Sobel (1982), Aroian (1947; "Goodman-1") and Goodman (1960;
    "Goodman-2") tests of the indirect effect ``a*b``.
    """

    outcome: str
    mediator: str
    treatment: str
    a: float
    se_a: float
    b: float
    se_b: float
    c: float
    se_c: float
    c_prime: float
    se_c_prime: float
    nobs: dict
    fits: dict = field(default_factory=dict)

    @property
    def indirect(self) -> float:
        return self.a * self.b

    @property
    def total(self) -> float:
        """Indirect plus direct effect, ``a*b + c'`` (the decomposition Sobel-Goodman tables report)."""
        return self.indirect + self.c_prime

    @property
    def proportion_mediated(self) -> float:
        return self.indirect / self.total

    @property
    def tests(self) -> pd.DataFrame:
        a, b, sa, sb = self.a, self.b, self.se_a, self.se_b
        base = b * b * sa * sa + a * a * sb * sb
        ses = {"Sobel": math.sqrt(base), "Goodman-1 (Aroian)": math.sqrt(base + sa * sa * sb * sb),
               "Goodman-2": math.sqrt(base - sa * sa * sb * sb) if base > sa * sa * sb * sb else np.nan}
        rows = {}
        for name, s in ses.items():
            zval = self.indirect / s if s and np.isfinite(s) else np.nan
            rows[name] = {"coef": self.indirect, "std_err": s, "z": zval, "p_value": 2 * stats.norm.sf(abs(zval))}
        return pd.DataFrame(rows).T

    def to_frame(self) -> pd.DataFrame:
        paths = pd.DataFrame({"coef": [self.a, self.b, self.c_prime, self.c],
                              "std_err": [self.se_a, self.se_b, self.se_c_prime, self.se_c]},
                             index=["a (treatment -> mediator)", "b (mediator -> outcome | treatment)",
                                    "c' (direct effect)", "c (total effect, path c)"])
        return pd.concat([paths, self.tests[["coef", "std_err"]]])

    def summary(self) -> str:
        lines = [f"Mediation of {self.treatment} -> {self.outcome} through {self.mediator}",
                 self.to_frame().to_string(float_format="{:.6g}".format),
                 self.tests.to_string(float_format="{:.6g}".format),
                 f"Proportion of total effect that is mediated: {self.proportion_mediated:.4f}",
                 f"Ratio of indirect to direct effect: {self.indirect / self.c_prime:.4f}",
                 f"Ratio of total to direct effect: {self.total / self.c_prime:.4f}",
                 f"Observations by path: {self.nobs}"]
        return "\n".join(lines)


def mediation(panel: pd.DataFrame, outcome: str, mediator: str, treatment: str = "sez",
              fe: Sequence[str] = ("firm_id", "year"), controls: Sequence[str] = (), cluster: str = "firm_id",
              firm: str = "firm_id", time: str = "year") -> MediationResults:
    """Mediation through agglomeration (the paper's eqs. 1-2, Table 4 and Table 21).

    Path c regresses the outcome on the treatment; path a the mediator (e.g.
    log Ellison-Glaeser index of the firm's industry in its city-year) on the
    treatment; paths b and c' the outcome on both. All three use the same
    fixed effects, controls and clustering, each on its own complete-case
    sample (as the paper's Table 4, whose columns have different N; the sample
    sizes are reported). The indirect effect is ``a*b``, tested by Sobel,
    Aroian and Goodman standard errors.

    Returns
    -------
    MediationResults
    """
    func = "mediation"
    _require(panel, [outcome, mediator, treatment], func)
    fits, nobs = {}, {}

    def run(dep, regs, label):
        data, _ = _prepare(panel, dep, treatment, fe, [*controls, *[r for r in regs if r != treatment]], cluster,
                           firm, time, func)
        _check_variation(data, treatment, func)
        data["_treated"] = data[treatment].to_numpy(dtype=float)
        names = ["_treated" if r == treatment else r for r in regs]
        fit = _feols(data, dep, [*names, *controls], fe, cluster)
        fits[label], nobs[label] = fit, int(fit._N)
        return fit.coef(), fit.se()

    cc, cs = run(outcome, [treatment], "c")
    ac, as_ = run(mediator, [treatment], "a")
    bc, bs = run(outcome, [treatment, mediator], "b_c_prime")
    return MediationResults(outcome, mediator, treatment, float(ac["_treated"]), float(as_["_treated"]),
                            float(bc[mediator]), float(bs[mediator]), float(cc["_treated"]), float(cs["_treated"]),
                            float(bc["_treated"]), float(bs["_treated"]), nobs, fits)


# ---------------------------------------------------------------------------
# heterogeneity and triple differences


def pre_period_quintile(panel: pd.DataFrame, variable: str = "ln_tfp", treatment: str = "sez",
                        firm: str = "firm_id", time: str = "year", groups: int = 5,
                        basis: str = "mean") -> pd.Series:
    """Each firm's quintile (1 = lowest) of ``variable`` before it entered a zone.

    Parameters
    ----------
    panel : pandas.DataFrame
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
    _require(panel, [firm, time, variable, treatment], func)
    lag = None
    if basis != "mean":
        match = re.fullmatch(r"pre([1-9][0-9]*)", str(basis))
        if match is None:
            raise ValueError(f"{func}: basis must be 'mean' or 'pre<k>' with k >= 1 (e.g. 'pre5'), got {basis!r}")
        lag = int(match.group(1))
    treated = _as_treatment(panel[treatment], treatment, func)
    firms = panel[firm].to_numpy()
    years = pd.to_numeric(panel[time]).to_numpy(dtype=float)
    values = pd.to_numeric(panel[variable], errors="coerce").to_numpy(dtype=float)
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
    out = panel[firm].map(q).astype("Int64").rename(f"{variable}_pre_quintile")
    out.attrs.update(counts=counts, basis=basis)
    return out


def by_group(panel: pd.DataFrame, outcome: str, group: pd.Series | str, treatment: str = "sez",
             fe: Sequence[str] = ("firm_id", "year"), cluster: str = "firm_id", firm: str = "firm_id",
             time: str = "year") -> pd.DataFrame:
    """TWFE effect of the treatment in each group: ``y = sum_g b_g D_it 1[G_i = g] + FE``
    (the SEZ paper's Tables 19-20 with ``group = pre_period_quintile(...)``). Rows with
    no group are dropped (counted in ``attrs``)."""
    func = "by_group"
    g = panel[group] if isinstance(group, str) else pd.Series(group, index=panel.index)
    data = panel.assign(_group=g.to_numpy())
    missing = int(data["_group"].isna().sum())
    data = data.loc[data["_group"].notna()]
    prepared, counts = _prepare(data, outcome, treatment, fe, (), cluster, firm, time, func, extra=["_group"])
    if missing:
        counts["no group"] = missing
    _check_variation(prepared, treatment, func)
    levels = sorted(prepared["_group"].unique())
    names = []
    for k, level in enumerate(levels):
        name = f"_treated_g{k}"
        prepared[name] = prepared[treatment].to_numpy(dtype=float) * (prepared["_group"] == level).to_numpy()
        names.append(name)
    fit = _feols(prepared, outcome, names, fe, cluster)
    out = pd.DataFrame({"group": levels, "coef": fit.coef().reindex(names).to_numpy(),
                        "se": fit.se().reindex(names).to_numpy(),
                        "treated_obs": [int(prepared.loc[prepared["_group"] == lv, treatment].sum()) for lv in levels]})
    out["t"] = out["coef"] / out["se"]
    out.attrs.update(dropped=counts, nobs=int(fit._N), fe=tuple(fe), cluster=cluster)
    return out


def triple_difference(panel: pd.DataFrame, outcome: str, moderator: str, treatment: str = "sez",
                      fe: Sequence[str] = ("firm_id", "year"), cluster: str = "firm_id", firm: str = "firm_id",
                      time: str = "year") -> pd.DataFrame:
    """``y = b1 D + b2 D x M + b3 M + FE``: how the treatment effect changes with a
    moderator M (a high-agglomeration indicator or log EG: the SEZ paper's Tables
    31-32). Returns coefficients and clustered standard errors of the three terms; a
    moderator constant within firms is absorbed by firm effects (its own row is NaN)."""
    func = "triple_difference"
    data, counts = _prepare(panel, outcome, treatment, fe, (moderator,), cluster, firm, time, func)
    _check_variation(data, treatment, func)
    m = pd.to_numeric(data[moderator]).to_numpy(dtype=float)
    data["_treated"] = data[treatment].to_numpy(dtype=float)
    data["_treated_x_moderator"] = data["_treated"] * m
    data["_moderator"] = m
    names = ["_treated", "_treated_x_moderator", "_moderator"]
    fit = _feols(data, outcome, names, fe, cluster)
    out = pd.DataFrame({"coef": fit.coef().reindex(names).to_numpy(), "se": fit.se().reindex(names).to_numpy()},
                       index=[treatment, f"{treatment} x {moderator}", moderator])
    out["t"] = out["coef"] / out["se"]
    out.attrs.update(dropped=counts, nobs=int(fit._N), fe=tuple(fe), cluster=cluster)
    return out


# ---------------------------------------------------------------------------
# mediation tables (the paper's Tables 21 and 28-30)


def mediation_by_group(panel: pd.DataFrame, outcome: str, mediator: str, group: pd.Series | str,
                       on_error: str = "raise", **kwargs) -> dict:
    """:func:`mediation` within each group (e.g. pre-period productivity quintile: the paper's Tables 22-30).

    ``group`` is a column name or a Series aligned with the panel; rows
    without a group are left out. Returns ``{group level: MediationResults}``
    in sorted order of the levels. A group whose sample cannot identify the
    paths raises :class:`DidDataError` naming the group, or with
    ``on_error="record"`` maps to the reason (a string, which
    :func:`mediation_table` prints as a skipped column).
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"mediation_by_group: on_error must be 'raise' or 'record', got {on_error!r}")
    g = panel[group] if isinstance(group, str) else pd.Series(group, index=panel.index)
    if g.notna().sum() == 0:
        raise DidDataError(f"mediation_by_group: the group {getattr(g, 'name', group)!r} is missing in every row")
    out = {}
    for level in sorted(g.dropna().unique()):
        try:
            out[level] = mediation(panel.loc[(g == level).fillna(False).to_numpy(dtype=bool)], outcome, mediator,
                                   **kwargs)
        except DidDataError as err:
            if on_error == "raise":
                raise DidDataError(f"mediation_by_group: group {_plain(level)!r}: {err}") from err
            out[level] = f"group {_plain(level)!r} skipped: {err}"
    return out


def _plain(value):
    """A numpy scalar as the Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


_MEDIATION_ROWS = {
    "sobel": "Sobel", "aroian": "Goodman-1 (Aroian)", "goodman": "Goodman-2",
    "a": "a coefficient (SEZ -> mediator)", "b": "b coefficient (mediator -> outcome)",
    "indirect": "Indirect effect", "direct": "Direct effect", "total": "Total effect",
    "proportion": "Proportion of total effect that is mediated",
    "indirect_to_direct": "Ratio of indirect to direct effect", "total_to_direct": "Ratio of total to direct effect",
}

# The paper's printed cells: (coef, std err or None, z) for tests and paths, a number for the ratios.
_PAPER_MEDIATION = {
    21: {"sobel": (0.047, 0.0003, 148.4), "aroian": (0.047, 0.0003, 148.4), "goodman": (0.047, 0.0003, 148.4),
         "a": (0.002, 0.000013, 187.78), "b": (19.24, 0.079, 242.25), "indirect": (0.047, 0.000314, 148.412),
         "direct": (1.176, 0.0016, 749.32), "total": (1.222, 0.0016, 775.159), "proportion": 0.0381,
         "indirect_to_direct": 0.0396, "total_to_direct": 1.039},
    # printed as is; its indirect effect (0.466 for a b = 0.0466), its direct and total standard errors and its
    # proportion mediated are ten times the values its own other cells and Table 21 imply
    28: {"sobel": (0.4660172, 0.000314, 148.4), "aroian": (0.4660172, 0.000314, 148.4),
         "goodman": (0.4660172, 0.000314, 148.4), "a": (0.002422, 0.000013, 187.776),
         "b": (19.2416, 0.079428, 242.253), "indirect": (0.46602, 0.000314, 148.412),
         "direct": (1.17573, 0.01569, 749.319), "total": (1.22233, 0.01577, 775.159), "proportion": 0.3812523,
         "indirect_to_direct": 0.3963638, "total_to_direct": 1.0396364},
}
_PAPER_MEDIATION_GROUPS = {
    # Pre5 quintiles (bottom 20% .. top 20%): Table 29 without fixed effects, Table 30 with region and year
    # effects. Cells "coef z"; Table 30's top quintile prints its sign only in the z statistics (restored here).
    29: {"sobel": ".041 16.95|.0174 10.88|.0111 6.97|.0098 7.29|.0066 5.024",
         "aroian": ".041 16.94|.0174 10.87|.0111 6.96|.0098 7.28|.0066 5.00",
         "goodman": ".041 16.96|.0174 10.89|.0111 6.98|.0098 7.31|.0066 5.04",
         "a": ".0029 29.04|.0022 19.13|.0025 20.19|.00196 13.46|.0018 9.59",
         "b": "14.11 20.87|7.88 13.22|4.421 7.43|5.014 8.68|3.57 5.90",
         "indirect": ".041 16.95|.0174 10.88|.0111 6.97|.0098 7.29|.0066 5.024",
         "direct": "1.762 159.94|1.456 149.323|1.274 129.89|1.068 102.35|.638 47.43",
         "total": "1.803 164.887|1.473 151.83|1.286 132.37|1.078 103.65|.645 48.02",
         "proportion": ".0226|.0117|.0086|.0091|.0101", "indirect_to_direct": ".0231|.0119|.0087|.0092|.0103",
         "total_to_direct": "1.023|1.012|1.008|1.009|1.010"},
    30: {"sobel": ".0036 4.10|.0010 1.19|.0019 2.46|.0014 1.46|-.0030 -2.52",
         "aroian": ".0036 4.07|.0010 1.18|.0019 2.42|.0014 1.44|-.0030 -2.47",
         "goodman": ".0036 4.13|.0010 1.20|.0019 2.50|.0014 1.49|-.0030 -2.57",
         "a": ".0005 5.18|.0001 1.21|.0003 3.03|.0002 1.53|-.0006 -3.49",
         "b": "7.45 6.71|7.23 6.78|4.93 4.21|5.96 4.94|5.04 3.64",
         "indirect": ".004 4.10|.0010 1.19|.0019 2.46|.0014 1.46|-.0030 -2.52",
         "direct": ".888 57.99|.876 57.82|.835 49.95|.8179 43.19|.781 32.94",
         "total": ".89 58.21|.88 57.80|.837 50.05|.8192 43.22|.778 32.81",
         "proportion": ".00398|.0011|.00223|.0017|-.0039", "indirect_to_direct": ".0040|.0011|.00224|.0017|-.0039",
         "total_to_direct": "1.004|1.001|1.002|1.001|.996"},
}
_PAPER_GROUP_LABELS = ("Bottom 20%", "40%", "60%", "80%", "100%")


def _mediation_cells(res: MediationResults) -> dict:
    """(coef, std err, z, p) of every row of the Sobel-Goodman layout, and the three ratios."""
    tests = res.tests
    cells = {}
    for key, name in (("sobel", "Sobel"), ("aroian", "Goodman-1 (Aroian)"), ("goodman", "Goodman-2")):
        r = tests.loc[name]
        cells[key] = (r.coef, r.std_err, r.z, r.p_value)
    for key, coef, se in (("a", res.a, res.se_a), ("b", res.b, res.se_b),
                          ("indirect", res.indirect, tests.loc["Sobel", "std_err"]),
                          ("direct", res.c_prime, res.se_c_prime), ("total", res.c, res.se_c)):
        z = coef / se
        cells[key] = (coef, se, z, 2 * stats.norm.sf(abs(z)))
    cells["proportion"] = res.proportion_mediated
    cells["indirect_to_direct"] = res.indirect / res.c_prime
    cells["total_to_direct"] = res.total / res.c_prime
    return cells


def mediation_table(results, paper: int | None = None, digits: int = 4) -> pd.DataFrame:
    """Sobel-Goodman mediation tests in the paper's layout, the paper's numbers beside ours.

    Parameters
    ----------
    results : MediationResults or mapping of label -> MediationResults
        One result: the layout of Tables 21 and 28 (rows Sobel, Goodman-1
        (Aroian), Goodman-2, a, b, indirect, direct and total effects;
        columns Coef, Std Err, Z, P>|Z|; then the proportion mediated and the
        two ratios). Several (e.g. :func:`mediation_by_group` over pre-period
        quintiles): the layout of Tables 29-30, one column per group, the
        coefficient with stars and its z statistic in parentheses below.
    paper : {21, 28} for one result, {29, 30} for five groups, or None
        Adds the paper's printed numbers (``paper ...`` columns).

    Notes
    -----
    The total effect is path c (its own regression, as Stata's sgmediation
    reports it); the ratios use ``a*b + c'`` as the total, which equals c on a
    common sample.
    """
    from sez.econometrics import significance_stars

    if isinstance(results, MediationResults):
        cells = _mediation_cells(results)
        rows = {}
        for key, label in _MEDIATION_ROWS.items():
            v = cells[key]
            rows[label] = ({"Coef": v[0], "Std Err": v[1], "Z": v[2], "P>|Z|": v[3]} if isinstance(v, tuple)
                           else {"Coef": v})
        out = pd.DataFrame(rows).T[["Coef", "Std Err", "Z", "P>|Z|"]].astype(float)
        if paper is not None:
            if paper not in _PAPER_MEDIATION:
                raise ValueError(f"mediation_table: paper must be one of {sorted(_PAPER_MEDIATION)} for one result, "
                                 f"got {paper!r}")
            printed = _PAPER_MEDIATION[paper]
            out[f"paper Table {paper} Coef"] = [printed[k][0] if isinstance(printed[k], tuple) else printed[k]
                                                for k in _MEDIATION_ROWS]
            out[f"paper Table {paper} Std Err"] = [printed[k][1] if isinstance(printed[k], tuple) else np.nan
                                                   for k in _MEDIATION_ROWS]
            out[f"paper Table {paper} Z"] = [printed[k][2] if isinstance(printed[k], tuple) else np.nan
                                             for k in _MEDIATION_ROWS]
        return out
    results = dict(results)
    if not results:
        raise ValueError("mediation_table: no results")
    fmt = f"{{:.{digits}g}}"
    labels = []
    for key, label in _MEDIATION_ROWS.items():
        labels += [label] + ([""] if key not in ("proportion", "indirect_to_direct", "total_to_direct") else [])
    columns = [str(k) for k in results]
    body = {}
    for name, res in zip(columns, results.values()):
        if isinstance(res, str):  # a group mediation_by_group could not estimate, with the reason
            body[name] = [res] + [""] * (len(labels) - 1)
            continue
        cells, col = _mediation_cells(res), []
        for key in _MEDIATION_ROWS:
            v = cells[key]
            col += ([fmt.format(v[0]) + significance_stars(v[3]), f"({v[2]:.2f})"] if isinstance(v, tuple)
                    else [fmt.format(v)])
        body[name] = col
    if paper is not None:
        if paper not in _PAPER_MEDIATION_GROUPS:
            raise ValueError(f"mediation_table: paper must be one of {sorted(_PAPER_MEDIATION_GROUPS)} for groups, "
                             f"got {paper!r}")
        printed = _PAPER_MEDIATION_GROUPS[paper]
        for j, label in enumerate(_PAPER_GROUP_LABELS):
            col = []
            for key in _MEDIATION_ROWS:
                cell = printed[key].split("|")[j].split()
                if len(cell) == 2:
                    coef, z = map(float, cell)
                    col += [f"{coef:g}" + significance_stars(2 * stats.norm.sf(abs(z))), f"({z:.2f})"]
                else:
                    col += [f"{float(cell[0]):g}"]
            body[f"paper Table {paper}: {label}"] = col
    return pd.DataFrame(body, index=pd.Index(labels))


# ---------------------------------------------------------------------------
# heterogeneity and moderation tables (the paper's Tables 19-20 and 31-32)


# The paper's printed cells: {table: {panel: {row: "cell|cell|..."}}}, cells "coef t" (t statistics in its
# parentheses), "omitted" for Stata's "0 (.)", numbers for Observations and R-sq. Columns: quintiles of TFP k
# years before entry (Tables 19-20: k = 1..5; Table 31: k = 1), or the single column m1 (Table 32).
_PAPER_GROUPED = {
    19: {
        # Pre1's top-quintile constant is printed twice, "2.153***" and "2.133 (193.97": the starred one is kept
        "Pre1": {"sez": "1.415 108.03|1.035 95.69|0.905 80.06|0.761 62.24|0.487 34.15",
                 "constant": "0.127 12.03|0.809 92.62|1.133 125.78|1.468 152.22|2.153 193.97",
                 "nobs": "29178|28886|27235|25973|24360", "r2": ".742|.688|.655|.614|.596"},
        "Pre2": {"sez": "1.275 77.03|1.012 70.04|0.910 63.41|0.779 52.58|0.583 33.71",
                 "constant": "0.257 23.13|0.795 83.01|1.093 116.61|1.430 151.27|1.995 185.39",
                 "nobs": "24079|24026|23496|22498|21489", "r2": ".751|.722|.680|.639|.590"},
        "Pre3": {"sez": "1.176 61.88|0.998 55.15|0.918 51.82|0.786 39.76|0.692 30.99",
                 "constant": "0.344 31.22|0.806 78.18|1.102 111.24|1.420 130.46|1.920 158.05",
                 "nobs": "22272|21648|20876|19305|17981", "r2": ".752|.731|.700|.641|.611"},
        "Pre4": {"sez": "1.068 44.49|0.942 42.05|0.929 38.20|0.832 31.54|0.817 28.76",
                 "constant": "0.433 37.84|0.875 82.23|1.124 98.92|1.426 116.60|1.857 138.61",
                 "nobs": "18391|18069|17085|16176|15333", "r2": ".751|.736|.712|.671|.623"},
        "Pre5": {"sez": "0.893 47.81|0.880 42.64|0.839 38.35|0.819 31.63|0.779 23.69",
                 "constant": "0.489 70.64|0.858 119.07|1.105 153.38|1.361 169.72|1.854 198.73",
                 "nobs": "26298|19090|15910|13880|12184", "r2": ".772|.766|.730|.674|.571"},
    },
    20: {
        # Pre1's SEZ row is printed twice, a garbled "1 007*** 1 005*** ..." and "1.027*** 1.005*** ...": the
        # legible one is kept (the first cell reads 1.007 in the garbled line)
        "Pre1": {"sez": "1.027 29.11|1.005 42.19|0.976 47.26|0.900 45.53|0.850 37.59",
                 "constant": "0.260 0.88|-0.285 -0.93|-0.248 -0.93|-0.332 -1.48|-0.518 -1.71",
                 "nobs": "5170|6341|6403|6297|5907", "r2": ".902|.889|.890|.888|.895"},
        "Pre2": {"sez": "1.011 27.01|0.969 39.01|0.968 38.04|0.913 39.55|0.875 35.72",
                 "constant": "-0.0226 -0.07|-0.0594 -0.19|-0.0438 -0.13|-0.431 -1.62|-0.338 -1.22",
                 "nobs": "4058|4972|5399|5651|5300", "r2": ".911|.918|.898|.906|.903"},
        "Pre3": {"sez": "1.003 23.49|0.958 31.44|0.953 33.57|0.938 33.38|0.921 29.83",
                 "constant": "0.474 1.16|0.299 0.85|-0.661 -2.47|-0.450 -1.54|-0.447 -1.49",
                 "nobs": "3625|4525|4917|4669|4419", "r2": ".914|.921|.914|.917|.903"},
        "Pre4": {"sez": "1.036 26.24|0.925 24.84|1.014 30.14|0.999 30.25|0.984 25.28",
                 "constant": "0.379 1.04|-0.373 -1.02|-0.361 -1.10|-0.363 -1.21|-0.567 -1.75",
                 "nobs": "3196|3711|3750|4015|3754", "r2": ".922|.916|.926|.923|.917"},
        "Pre5": {"sez": "1.069 33.16|1.003 26.05|0.962 27.87|1.030 23.98|0.949 18.12",
                 "constant": "-0.500 -1.40|-0.0674 -0.16|-0.844 -2.43|-0.606 -1.79|-0.306 -0.63",
                 "nobs": "4239|3269|2697|2294|1949", "r2": ".929|.933|.932|.934|.915"},
    },
    31: {
        "Pre1": {"sez_x_m": "0.0557 2.61|0.0644 4.15|0.0655 4.14|0.0192 1.11|0.00906 0.43",
                 "sez": "1.387 84.79|1.002 74.91|0.868 61.65|0.748 47.22|0.483 25.68",
                 "treat_x_m": "-0.0248 -1.07|-0.0395 -2.19|-0.00881 -0.49|0.00113 0.06|0.0429 1.81",
                 "post_x_m": "omitted|omitted|omitted|omitted|omitted",
                 "constant": "0.138 8.88|0.828 65.20|1.137 86.61|1.468 100.70|2.127 118.11",
                 "nobs": "29074|28796|27161|25907|24292", "r2": ".742|.688|.656|.614|.596"},
    },
    32: {
        "": {"sez": "0.971 35.55", "sez_x_m": "0.0126 2.42", "treat_x_m": "0.0109 1.86", "post_x_m": "0.0431 16.83",
             "constant": "1.155 90.53", "nobs": "2294206", "r2": ".766"},
    },
}
_QUINTILE_COLUMNS = ("20%", "40%", "60%", "80%", "100%")
_GROUPED_TITLES = {
    19: "Heterogeneous effects of the SEZs on TFP by pre-entry TFP quintile (SEZ paper, Table 19)",
    20: "Heterogeneous effects of the SEZs on TFP: with control variables (SEZ paper, Table 20)",
    31: "How a high-agglomeration indicator changes the effects of the SEZs on TFP, by Pre1 quintile "
        "(SEZ paper, Table 31)",
    32: "How lnEG changes the effects of the SEZs on TFP (SEZ paper, Table 32)",
}
_GROUPED_LABELS = {
    19: {"sez": "SEZ"}, 20: {"sez": "SEZ"},
    31: {"sez_x_m": "SEZ x High_EG", "sez": "SEZ", "treat_x_m": "sez_ag (Treat x High_EG)",
         "post_x_m": "time_ag (Post x High_EG)", "m": "High_EG"},
    32: {"sez": "SEZ", "sez_x_m": "SEZ x lnEG", "treat_x_m": "Treat x lnEG", "post_x_m": "Post x lnEG",
         "m": "lnEG"},
}


def _paper_grouped(table: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's printed cells of Table 19, 20, 31 or 32: (terms, per-column N and R-sq)."""
    columns = ("m1",) if table == 32 else _QUINTILE_COLUMNS
    terms, stats_rows = [], []
    for panel, rows in _PAPER_GROUPED[table].items():
        for row, line in rows.items():
            cells = line.split("|")
            if len(cells) != len(columns):
                raise AssertionError(f"paper Table {table} {panel} row {row!r} has {len(cells)} cells")
            for column, cell in zip(columns, cells):
                if row in ("nobs", "r2"):
                    continue
                if cell == "omitted":
                    terms.append({"panel": panel, "column": column, "term": row, "coef": 0.0, "t": np.nan,
                                  "se": np.nan, "omitted": True})
                else:
                    coef, t = map(float, cell.split())
                    terms.append({"panel": panel, "column": column, "term": row, "coef": coef, "t": t,
                                  "se": abs(coef / t), "omitted": False})
        for j, column in enumerate(columns):
            stats_rows.append({"panel": panel, "column": column, "nobs": int(rows["nobs"].split("|")[j]),
                               "r2": float(rows["r2"].split("|")[j])})
    return pd.DataFrame(terms), pd.DataFrame(stats_rows)


@dataclass(frozen=True)
class GroupedTable:
    """The paper's Tables 19-20 (effects by pre-entry TFP quintile) and 31-32 (moderation by agglomeration).

    Built by :func:`heterogeneity_table` and :func:`moderation_table`.

    Attributes
    ----------
    table : int
        19, 20, 31 or 32.
    panels : tuple of str
        Row panels (``"Pre1"`` .. ``"Pre5"``; one unnamed panel for Table 32).
    columns : tuple of str
        Column labels (quintiles ``"20%"`` .. ``"100%"``, or ``"m1"``).
    terms : tuple of str
        The terms shown, in the paper's row order.
    estimates : pandas.DataFrame
        Long form: ``panel, column, estimator, term, coef, se, p_value,
        omitted, nobs, n_clusters, r2, constant`` (``r2`` and ``constant``
        for TWFE only; the constant is reghdfe's, the mean of
        ``y - X b`` on the estimation sample).
    paper : pandas.DataFrame
        The paper's printed cells: ``panel, column, term, coef, t, se,
        omitted`` (se implied by |coef / t|; the paper prints t statistics).
    paper_stats : pandas.DataFrame
        The paper's Observations and R-sq per panel and column.
    skipped : dict
        ``{"panel column": reason}`` for cells that could not be estimated.
    """

    table: int
    outcome: str
    panels: tuple
    columns: tuple
    terms: tuple
    estimates: pd.DataFrame
    paper: pd.DataFrame
    paper_stats: pd.DataFrame
    fixed_effects: tuple
    cluster: str
    skipped: dict = field(default_factory=dict)
    notes_extra: tuple = ()
    counts: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{_GROUPED_TITLES[self.table]}; outcome {self.outcome}"

    def to_frame(self) -> pd.DataFrame:
        """Long form, our estimates with the paper's coefficient, t and implied se beside them."""
        paper = self.paper.drop(columns="omitted").rename(
            columns={"coef": "paper_coef", "t": "paper_t", "se": "paper_se"})
        out = self.estimates.merge(paper, on=["panel", "column", "term"], how="left")
        out["t"] = out["coef"] / out["se"]
        return out

    def layout(self, inner: str = "se", paper: bool = True, digits: int = 4) -> pd.DataFrame:
        """The paper's layout: per panel, coefficients with stars and ``(se)`` or ``(t)`` below, the
        constant, Observations and R-sq; then the fixed effects and the cluster variable.

        Columns are ``(column, source)`` with source ``TWFE``, ``imputation``
        and, with ``paper=True``, ``paper``. Omitted (collinear) terms show
        ``0`` and ``(.)`` as Stata prints them; cells that could not be
        estimated say ``skipped`` (the reason is in :meth:`notes`).
        """
        from sez.econometrics import significance_stars

        if inner not in ("se", "t"):
            raise ValueError(f"layout: inner must be 'se' or 't', got {inner!r}")
        fmt = f"{{:.{digits}g}}"
        sources = ["TWFE", "imputation"] + (["paper"] if paper else [])
        named = len(self.panels) > 1 or self.panels[0] != ""
        labels, where = [], {}
        for panel in self.panels:
            if named:
                labels.append(panel)
            where[panel] = len(labels)
            for term in self.terms:
                labels += [_GROUPED_LABELS[self.table].get(term, term), ""]
            labels += ["constant", "", "Observations", "R-sq"]
        tail = len(labels)
        labels += ["Firm FE", "Year FE", "Region FE", "Region x year FE", "Controls", "Clustered by"]
        columns = pd.MultiIndex.from_tuples([(c, s) for c in self.columns for s in sources])
        body = pd.DataFrame("", index=range(len(labels)), columns=columns)
        est = self.estimates

        def put(row0, col, coef, se, t, p, omitted):
            if omitted:
                body.loc[row0, col], body.loc[row0 + 1, col] = "0", "(.)"
                return
            body.loc[row0, col] = fmt.format(coef) + significance_stars(p)
            body.loc[row0 + 1, col] = f"({fmt.format(se)})" if inner == "se" else f"({t:.2f})"

        for panel in self.panels:
            base = where[panel]
            for column in self.columns:
                for src in sources:
                    col = (column, src)
                    const_row = base + 2 * len(self.terms)
                    if src == "paper":
                        cells = self.paper.loc[(self.paper.panel == panel) & (self.paper.column == column)]
                        for _, r in cells.iterrows():
                            p = 2 * stats.norm.sf(abs(r.t)) if np.isfinite(r.t) else np.nan
                            row0 = (base + 2 * self.terms.index(r.term) if r.term in self.terms
                                    else const_row if r.term == "constant" else None)
                            if row0 is not None:
                                put(row0, col, r.coef, r.se, r.t, p, r.omitted)
                        st = self.paper_stats.loc[(self.paper_stats.panel == panel)
                                                  & (self.paper_stats.column == column)]
                        if len(st):
                            body.loc[const_row + 2, col] = f"{int(st.nobs.iloc[0]):,}"
                            body.loc[const_row + 3, col] = f"{st.r2.iloc[0]:.3f}"
                        continue
                    key = f"{panel} {column}".strip()
                    if key in self.skipped:
                        body.loc[base, col] = "skipped"
                        continue
                    estimator = "twfe" if src == "TWFE" else "imputation"
                    rows = est.loc[(est.panel == panel) & (est.column == column) & (est.estimator == estimator)]
                    if rows.empty:
                        continue
                    for _, r in rows.iterrows():
                        if r.term in self.terms:
                            t = r.coef / r.se if r.se > 0 else np.nan  # a zero s.e.: a degenerate small group
                            put(base + 2 * self.terms.index(r.term), col, r.coef, r.se, t, r.p_value,
                                bool(r.omitted))
                    first = rows.iloc[0]
                    if np.isfinite(first.constant):
                        body.loc[const_row, col] = fmt.format(first.constant)
                    body.loc[const_row + 2, col] = f"{int(first.nobs):,}"
                    if np.isfinite(first.r2):
                        body.loc[const_row + 3, col] = f"{first.r2:.3f}"
        marks = {"Firm FE": "firm", "Year FE": "year", "Region FE": "region", "Region x year FE": "region^year"}
        for j, (label, key) in enumerate(marks.items()):
            for col in columns:
                body.loc[tail + j, col] = "yes" if key in self.fixed_effects else ""
        for col in columns:
            body.loc[tail + 4, col] = "yes" if "controls" in self.fixed_effects else ""
            body.loc[tail + 5, col] = self.cluster if col[1] != "paper" else ""
        body.index = pd.Index(labels)
        return body

    def notes(self, inner: str = "se") -> str:
        inside = "standard errors" if inner == "se" else "t statistics"
        lines = [f"Our {inside} in parentheses, clustered by {self.cluster}; the paper prints t statistics"
                 + (" (shown as implied standard errors |coef/t|)" if inner == "se" else "") + ". "
                 "* p < 0.1, ** p < 0.05, *** p < 0.01 (ours: t with G-1 degrees of freedom, G clusters; the "
                 "paper's: normal). Our constant is reghdfe's (mean of y - Xb on the estimation sample); the "
                 "paper's R-sq includes the fixed effects, as ours.",
                 *self.notes_extra]
        for key, reason in self.skipped.items():
            lines.append(f"{key} skipped: {reason}")
        return "\n".join(lines)

    def summary(self, inner: str = "se") -> str:
        with pd.option_context("display.width", 250, "display.max_columns", None):
            return "\n".join([self.title, self.layout(inner).to_string(), self.notes(inner)])

    def to_csv(self, path=None, inner: str = "se"):
        """The layout as CSV (to ``path``, or returned as a string)."""
        return self.layout(inner).to_csv(path)

    def to_html(self, inner: str = "se") -> str:
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes(inner).splitlines())
        return (f"<h3>{html.escape(self.title)}</h3>\n" + self.layout(inner).to_html(classes="did-table")
                + f"\n{notes}")

    def to_latex(self, inner: str = "se") -> str:
        body = self.layout(inner).to_latex(multicolumn=True, multicolumn_format="c")
        notes = " ".join(self.notes(inner).splitlines())
        return f"% {self.title}\n" + body + f"\\par\\footnotesize {_latex_escape(notes)}\n"


def _twfe_rows(data: pd.DataFrame, outcome: str, regressors: dict, fe: Sequence[str], cluster: str,
               omitted: Sequence[str] = ()) -> tuple[list[dict], object]:
    """TWFE of ``outcome`` on ``regressors`` ({term: column}); one row per term with reghdfe's constant and R-sq.

    Terms in ``omitted`` (and any the fit drops as collinear) get ``omitted=True``.
    """
    columns = [c for t, c in regressors.items() if t not in omitted]
    fit = _feols(data, outcome, columns, fe, cluster)
    coef, se = fit.coef(), fit.se()
    g = _n_clusters(fit, data, cluster)
    used = np.ones(len(data), dtype=bool)
    used[np.fromiter(getattr(fit, "_na_index", None) or (), dtype=np.int64)] = False  # singletons
    kept = [str(c) for c in coef.index]
    constant = float(data[outcome].to_numpy(dtype=float)[used].mean()
                     - data[kept].to_numpy(dtype=float)[used].mean(axis=0) @ coef.to_numpy(dtype=float))
    rows = []
    for term, column in regressors.items():
        dropped = term in omitted or column not in coef.index
        c = 0.0 if dropped else float(coef[column])
        s = np.nan if dropped else float(se[column])
        p = np.nan if dropped or not s > 0 else float(2 * stats.t.sf(abs(c / s), max(g - 1, 1)))
        rows.append({"estimator": "twfe", "term": term, "coef": c, "se": s, "p_value": p, "omitted": dropped,
                     "nobs": int(fit._N), "n_clusters": int(g), "r2": float(fit._r2), "constant": constant})
    return rows, fit


def _grouped_spec(table: int, specification: str | None, firm: str, time: str,
                  region: str) -> tuple[Specification, tuple, tuple]:
    name = specification or ("m2" if table == 20 else "m1")
    if name not in SPECIFICATIONS:
        raise KeyError(f"table{table}: unknown specification {name!r}; known: {', '.join(SPECIFICATIONS)}")
    spec = SPECIFICATIONS[name]
    fe = spec.fixed_effects(firm, time, region)
    marks = ("firm", "region^year") if spec.region_by_year else ("firm", "year", "region")
    return spec, fe, marks + (("controls",) if spec.controls else ())


def heterogeneity_table(panel: pd.DataFrame, table: int = 19, outcome: str = "ln_tfp", variable: str | None = None,
                        periods: Sequence[int] = (1, 2, 3, 4, 5), specification: str | None = None,
                        treatment: str = "sez", region: str = "city", cluster: str = "firm_id",
                        eg: str = "eg_city", firm: str = "firm_id", time: str = "year",
                        estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "drop",
                        tol: float = 1e-10) -> GroupedTable:
    """The paper's Tables 19-20: the effect of entry by quintile of TFP k years before entry, k = 1..5.

    For each k (panel ``Pre<k>``), firms are cut into quintiles of
    ``variable`` in the calendar year k years before their entry
    (:func:`pre_period_quintile` with ``basis="pre<k>"``) and the DiD is run
    on each quintile's firms separately, by TWFE (with reghdfe's constant and
    R-sq) and by the imputation estimator.

    Parameters
    ----------
    panel : pandas.DataFrame
        Firm-year table with the outcome, treatment, region and, for Table 20,
        the columns :func:`paper_controls` builds the controls from.
    table : {19, 20}
        19: no controls; 20: with the firm controls of ``specification``.
    variable : str, optional
        The pre-entry variable classified (the outcome by default: the paper's
        log TFP).
    periods : sequence of int
        The k of the panels (the paper: 1 to 5).
    specification : str, optional
        Fixed effects and controls from ``SPECIFICATIONS``: ``"m1"`` (firm,
        year and region effects) for Table 19 and ``"m2"`` (the same with the
        controls of m2) for Table 20 by default; the paper names neither (its
        notes are those of Table 16), its constant and the sample sizes
        suggest these.
    on_reversal : {"drop", "error"}
        Firms leaving a zone after entering it.

    Returns
    -------
    GroupedTable
        A quintile whose sample cannot identify the effect is listed in
        ``skipped`` with the reason; ``counts[panel]`` holds the
        classification counts of :func:`pre_period_quintile` (firms never
        treated, treated from their first year, or unobserved k years before
        entry are not classified, so each quintile's DiD compares treated
        firms entering at different times).

    Raises
    ------
    KeyError
        A column is missing (named in the message).

    Notes
    -----
    Classifying firms on the outcome's own value k years before entry puts
    that year's transitory shock into the classification: firms in the bottom
    quintile had, on average, a bad draw in a pre-entry year, which lowers
    their pre-entry mean, so their estimated effect is too large (regression
    to the mean), and the top quintile's too small, even when the effect is
    the same for all firms. The distortion is largest at k = 1 and fades as k
    grows. On a simulated panel with a constant effect of 0.1 (3,000 firms,
    12 years, noise s.d. 0.3) the imputation estimates by Pre1 quintile ran
    from 0.18 (bottom) to 0.02 (top), by Pre5 quintile between 0.06 and 0.12
    with no gradient; the paper's Table 19 shows the same pattern (a gradient
    of 1.415 to 0.487 at Pre1, 0.893 to 0.779 at Pre5). Classifying on a
    variable without the outcome's transitory noise (``variable``) avoids it.
    """
    func = f"table{table}"
    if table not in (19, 20):
        raise ValueError(f"heterogeneity_table: table must be 19 or 20, got {table!r}")
    variable = variable or outcome
    _require(panel, [firm, time, outcome, treatment, region, cluster, variable], func)
    spec, fe, marks = _grouped_spec(table, specification, firm, time, region)
    data, unavailable = paper_controls(panel, list(spec.controls), eg=eg, firm=firm, time=time)
    missing = [unavailable[c] for c in spec.controls if c in unavailable]
    if missing:
        raise KeyError(f"{func}: specification {spec.name}: " + "; ".join(missing))
    controls = list(spec.controls)
    rows, skipped, counts, fits = [], {}, {}, {}
    panels = tuple(f"Pre{k}" for k in periods)
    for k, panel_name in zip(periods, panels):
        q = pre_period_quintile(data, variable, treatment, firm, time, basis=f"pre{k}")
        counts[panel_name] = q.attrs["counts"]
        for level, column in enumerate(_QUINTILE_COLUMNS, start=1):
            sub = data.loc[(q == level).fillna(False).to_numpy(dtype=bool)]
            key = f"{panel_name} {column}"
            try:
                if len(sub) == 0:
                    raise DidDataError("no firm in this quintile")
                prepared, c = _prepare(sub, outcome, treatment, fe, controls, cluster, firm, time, func)
                prepared, _ = _handle_reversals(prepared, treatment, firm, time, on_reversal, func, c, False)
                _check_variation(prepared, treatment, func)
                prepared["_treated"] = prepared[treatment].to_numpy(dtype=float)
                out = []
                if "twfe" in estimators:
                    r, fit = _twfe_rows(prepared, outcome, {"sez": "_treated", **{x: x for x in controls}}, fe,
                                        cluster)
                    out += r
                    fits[key] = {"twfe": fit}
                if "imputation" in estimators:
                    res = imputation(prepared, outcome, treatment, fe, controls, cluster, firm, time, "error", tol)
                    fits.setdefault(key, {})["imputation"] = res
                    out.append({"estimator": "imputation", "term": "sez", "coef": res.coef, "se": res.se,
                                "p_value": float(res.pvalues.iloc[0]), "omitted": False, "nobs": res.nobs,
                                "n_clusters": res.n_clusters, "r2": np.nan, "constant": np.nan})
                rows += [{"panel": panel_name, "column": column, **r} for r in out]
            except (DidDataError, RuntimeError) as err:
                skipped[key] = str(err)
    paper, paper_stats = _paper_grouped(table)
    paper = paper.loc[paper.panel.isin(panels)].reset_index(drop=True)
    paper_stats = paper_stats.loc[paper_stats.panel.isin(panels)].reset_index(drop=True)
    notes = (f"Columns: quintiles of {variable} k years before entry (Pre<k>), cut over the classified firms; "
             "each quintile estimated on its own firms (treated firms only: not-yet-treated firms are the "
             "controls).",
             f"Specification {spec.name}: fixed effects {', '.join(fe)}; controls "
             f"{', '.join(controls) or 'none'} (the paper does not name Table {table}'s).",
             "Imputation: Borusyak, Jaravel and Spiess (2024); where it differs from TWFE the effects differ by "
             "entry cohort or time since entry within the quintile.",
             "Classifying on the outcome's own pre-entry value adds regression to the mean (larger effects in "
             "low quintiles, smaller in high ones, most at Pre1); see heterogeneity_table.")
    estimates = pd.DataFrame(rows, columns=["panel", "column", "estimator", "term", "coef", "se", "p_value",
                                            "omitted", "nobs", "n_clusters", "r2", "constant"])
    return GroupedTable(table, outcome, panels, _QUINTILE_COLUMNS, ("sez",), estimates, paper, paper_stats, marks,
                        cluster, skipped, notes, counts, fits)


def table19(panel: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> GroupedTable:
    """The paper's Table 19 (effects by pre-entry TFP quintile); see :func:`heterogeneity_table`."""
    return heterogeneity_table(panel, 19, outcome, **kwargs)


def table20(panel: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> GroupedTable:
    """The paper's Table 20 (Table 19 with firm controls); see :func:`heterogeneity_table`."""
    return heterogeneity_table(panel, 20, outcome, **kwargs)


def high_agglomeration(panel: pd.DataFrame, eg: str = "eg_city") -> pd.Series:
    """The paper's EG^H_irt: 1 where the EG index is above its median over the full sample, else 0.

    The median is over every firm-year with a finite index (the paper: "above
    the median of the full sample"); rows without one are NaN. The median is
    in ``attrs["median"]``.
    """
    _require(panel, [eg], "high_agglomeration")
    level = pd.to_numeric(panel[eg], errors="coerce").astype(float)
    median = float(level.median())
    out = pd.Series(np.where(level.notna(), (level > median).astype(float), np.nan), index=panel.index,
                    name="high_eg")
    out.attrs["median"] = median
    return out


def moderation_table(panel: pd.DataFrame, table: int = 31, outcome: str = "ln_tfp", moderator: str | None = None,
                     eg: str = "eg_city", group=None, specification: str = "m1", post: str | None = None,
                     main_effect: bool = False, treatment: str = "sez", region: str = "city",
                     cluster: str = "firm_id", firm: str = "firm_id", time: str = "year",
                     estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "drop",
                     tol: float = 1e-10) -> GroupedTable:
    """The paper's Tables 31-32: triple differences with an agglomeration moderator (its eqs. 14-15).

    TWFE regresses the outcome on ``D_it``, ``D_it x M``, ``treat_i x M`` and
    ``post_it x M`` with the fixed effects of ``specification`` (m1: firm,
    year and region effects, as eqs. 14-15), where ``treat_i`` is one for
    firms that ever enter a zone and ``post_it`` one from a firm's entry year
    on. M is the high-agglomeration indicator (Table 31,
    :func:`high_agglomeration`) or log EG (Table 32).

    Parameters
    ----------
    panel : pandas.DataFrame
        Firm-year table with the outcome, treatment, region and ``eg`` (or
        ``moderator``).
    table : {31, 32}
        31: M = 1[EG above its full-sample median], one column per quintile
        of TFP one year before entry; 32: M = ln EG, one column (m1).
    moderator : str, optional
        A column to use as M instead of the one built from ``eg``.
    eg : str
        Column with the level of EG_irt (:func:`eg_mediator`).
    group : str, pandas.Series or None, optional
        Columns of the table: a column name or a Series of group labels
        (e.g. :func:`pre_period_quintile`). Table 31 defaults to the quintiles
        of the outcome one year before entry (``basis="pre1"``, the paper's
        note); Table 32 to the full sample.
    specification : str
        Fixed effects from ``SPECIFICATIONS`` (its controls are not added).
    post : str, optional
        Column with ``post_it``; by default one from the firm's first
        treated year on (zero for never-treated firms). With an absorbing
        treatment that ``post_it`` equals ``D_it``, so ``post_it x M`` is the
        same column as ``D_it x M`` and is reported as omitted, as the
        paper's Table 31 prints ``time_ag`` (its Table 32 estimates it, so its
        ``post`` must differ from the treatment there; pass that column).
    main_effect : bool
        Add M itself (the paper's equations leave it out; with it the
        design is the textbook triple difference).
    on_reversal : {"drop", "error"}
        Firms leaving a zone after entering it.

    Returns
    -------
    GroupedTable
        TWFE and imputation estimates of the ``SEZ`` and ``SEZ x M`` rows
        (TWFE alone for the ``treat x M`` and ``post x M`` rows), the paper's
        printed numbers beside them.

    Raises
    ------
    KeyError
        A column is missing (named in the message).

    Notes
    -----
    The imputation estimator (Borusyak, Jaravel and Spiess, 2024) handles the
    moderator, binary or continuous, through the weights of its estimand:
    fixed effects and ``treat_i x M`` (and M with ``main_effect``) are fitted
    on untreated firm-years, each treated firm-year's effect ``tau_it`` is
    imputed, and ``tau_it`` is projected on ``(1, M_it)`` over the treated
    firm-years. The intercept (the ``SEZ`` row: the effect at M = 0) and the
    slope (the ``SEZ x M`` row) are linear in the outcomes, so their standard
    errors follow from the same analytic formula (treated residuals: ``tau``
    minus the projection, minus its (cohort, event time) means). With a 0/1
    M the slope is the difference of the average effects at M = 1 and M = 0.
    The TWFE coefficients agree with them when the effect is constant within
    each level of M (binary) or linear in M and the same for all entry
    cohorts; otherwise TWFE weights the firm-year effects by its regression
    weights (which can be negative under staggered entry) and the imputation
    projection is the one with a causal reading. ``treat_i x M`` and
    ``post_it x M`` have no imputation counterpart (their cells are blank).
    Agglomeration may itself respond to entry (the paper's mediation
    analysis says it does), in which case neither estimator's ``SEZ x M``
    is a causal moderation: it describes how the effect covaries with M.
    """
    func = f"table{table}"
    if table not in (31, 32):
        raise ValueError(f"moderation_table: table must be 31 or 32, got {table!r}")
    needed = [firm, time, outcome, treatment, region, cluster, moderator or eg]
    if isinstance(group, str):
        needed.append(group)
    if post is not None:
        needed.append(post)
    _require(panel, needed, func)
    spec, fe, marks = _grouped_spec(table, specification, firm, time, region)
    marks = tuple(m for m in marks if m != "controls")
    data = panel.copy()
    if moderator is None:
        m = high_agglomeration(panel, eg) if table == 31 else pd.Series(_log_positive(panel[eg]), index=panel.index)
        moderator_name = "High_EG" if table == 31 else "lnEG"
        data["_moderator"] = m.to_numpy(dtype=float)
    else:
        moderator_name = moderator
        data["_moderator"] = pd.to_numeric(panel[moderator], errors="coerce").to_numpy(dtype=float)
    if group is None and table == 31:
        group = pre_period_quintile(panel, outcome, treatment, firm, time, basis="pre1")
    counts = {}
    if group is None:
        labels = pd.Series("m1", index=panel.index)
        columns = ("m1",)
        panel_names = ("",)
    else:
        labels = panel[group] if isinstance(group, str) else pd.Series(group, index=panel.index)
        if isinstance(labels, pd.Series) and "counts" in labels.attrs:
            counts["classification"] = labels.attrs["counts"]
        levels = sorted(labels.dropna().unique())
        if not levels:
            raise DidDataError(f"{func}: the group is missing in every row")
        names = _QUINTILE_COLUMNS if len(levels) == 5 and table == 31 and list(levels) == [1, 2, 3, 4, 5] else \
            tuple(str(_plain(v)) for v in levels)
        labels = labels.map(dict(zip(levels, names)))
        columns = names
        panel_names = ("Pre1",) if table == 31 and group is not None else ("",)
    extra = ["_moderator"] + ([post] if post is not None else [])
    rows, skipped, fits = [], {}, {}
    for column in columns:
        key = f"{panel_names[0]} {column}".strip()
        sub = data.loc[(labels == column).fillna(False).to_numpy(dtype=bool)]
        try:
            if len(sub) == 0:
                raise DidDataError("no observation in this group")
            prepared, c = _prepare(sub, outcome, treatment, fe, ["_moderator"], cluster, firm, time, func,
                                   extra=extra)
            prepared, timing = _handle_reversals(prepared, treatment, firm, time, on_reversal, func, c, False)
            _check_variation(prepared, treatment, func)
            prepared = prepared.reset_index(drop=True)
            counts[key] = c
            mod = prepared["_moderator"].to_numpy(dtype=float)
            d = prepared[treatment].to_numpy(dtype=float)
            first = prepared[firm].map(timing.first_treated).to_numpy(dtype=float)
            treat_i = np.isfinite(first).astype(float)
            post_it = (prepared[time].to_numpy(dtype=float) >= first).astype(float) if post is None else \
                _as_treatment(prepared[post], post, func).astype(float)
            prepared["_treated"], prepared["_sez_x_m"] = d, d * mod
            prepared["_treat_x_m"], prepared["_post_x_m"] = treat_i * mod, post_it * mod
            regressors = {"sez_x_m": "_sez_x_m", "sez": "_treated", "treat_x_m": "_treat_x_m",
                          "post_x_m": "_post_x_m"} if table == 31 else \
                {"sez": "_treated", "sez_x_m": "_sez_x_m", "treat_x_m": "_treat_x_m", "post_x_m": "_post_x_m"}
            if main_effect:
                regressors["m"] = "_moderator"
            omitted = ["post_x_m"] if np.allclose(prepared["_post_x_m"], prepared["_sez_x_m"]) else []
            out = []
            if "twfe" in estimators:
                r, fit = _twfe_rows(prepared, outcome, regressors, fe, cluster, omitted)
                out += r
                fits[key] = {"twfe": fit}
            if "imputation" in estimators:
                out += _moderated_imputation(prepared, outcome, treatment, fe, cluster, time, first, main_effect,
                                              tol)
            rows += [{"panel": panel_names[0], "column": column, **r} for r in out]
        except (DidDataError, RuntimeError) as err:
            skipped[key] = str(err)
    paper, paper_stats = _paper_grouped(table)
    if list(columns) != list(paper_stats.column.unique()):
        paper = paper.iloc[0:0]
        paper_stats = paper_stats.iloc[0:0]
        counts["paper numbers"] = "not shown: the columns differ from the paper's"
    terms = (("sez_x_m", "sez", "treat_x_m", "post_x_m") if table == 31 else
             ("sez", "sez_x_m", "treat_x_m", "post_x_m")) + (("m",) if main_effect else ())
    estimates = pd.DataFrame(rows, columns=["panel", "column", "estimator", "term", "coef", "se", "p_value",
                                            "omitted", "nobs", "n_clusters", "r2", "constant"])
    notes = (f"M = {moderator_name}" + (f" (1 where {eg} is above its full-sample median)"
                                        if moderator is None and table == 31 else "")
             + "; Treat: firm ever enters a zone; Post: from the firm's entry year on"
             + (f" (column {post})" if post else "") + f". Fixed effects: {', '.join(fe)}.",
             "Omitted rows (0 and (.)): collinear with the other regressors; Post x M equals SEZ x M when Post "
             "is the absorbing treatment itself.",
             "Imputation (Borusyak, Jaravel and Spiess, 2024): the imputed effects tau_it projected on (1, M) over "
             "the treated firm-years; SEZ row: the intercept (effect at M = 0); SEZ x M row: the slope. Treat x M "
             "and Post x M have no imputation counterpart.",
             "Agglomeration may respond to entry (the paper's mediation tables): SEZ x M then describes how the "
             "effect covaries with M rather than a causal moderation.")
    return GroupedTable(table, outcome, panel_names, tuple(columns), terms, estimates,
                        paper.reset_index(drop=True), paper_stats.reset_index(drop=True), marks, cluster, skipped,
                        notes, counts, fits)


def _moderated_imputation(data: pd.DataFrame, outcome: str, treatment: str, fe: Sequence[str], cluster: str,
                          time: str, first: np.ndarray, main_effect: bool, tol: float) -> list[dict]:
    """Imputation estimates of the effect at M = 0 and its slope in M (rows ``sez`` and ``sez_x_m``)."""
    controls = ["_treat_x_m"] + (["_moderator"] if main_effect else [])
    untreated = ~data[treatment].to_numpy(dtype=bool)
    if untreated.any() and np.ptp(data.loc[untreated, "_post_x_m"].to_numpy(dtype=float)) > 0:
        controls.append("_post_x_m")  # a post that differs from the treatment enters the untreated model
    imp = _Imputer(data, outcome, treatment, fe, controls, cluster, tol)
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
    g = int(data[cluster].nunique())
    rows = []
    for term, w_target in zip(("sez", "sez_x_m"), proj):
        weights = np.zeros(len(data))
        weights[target] = w_target
        est, se = imp.estimate(weights, cells, tau_fit=fitted)
        rows.append({"estimator": "imputation", "term": term, "coef": est, "se": se,
                     "p_value": float(2 * stats.t.sf(abs(est / se), max(g - 1, 1))), "omitted": False,
                     "nobs": nobs, "n_clusters": g, "r2": np.nan, "constant": np.nan})
    return rows


def table31(panel: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> GroupedTable:
    """The paper's Table 31 (high-agglomeration moderator by Pre1 quintile); see :func:`moderation_table`."""
    return moderation_table(panel, 31, outcome, **kwargs)


def table32(panel: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> GroupedTable:
    """The paper's Table 32 (lnEG moderator, m1); see :func:`moderation_table`."""
    return moderation_table(panel, 32, outcome, **kwargs)
