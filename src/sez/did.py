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
- TWFE is estimated by pyfixest ``feols`` (alternating projections;
  Gaure, 2013; Berge, 2018). Observations in singleton fixed-effect groups are
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
  estimand (counted in ``n_not_imputable``); the event study drops them
  because their entry year is not observed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

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


def _feols(data: pd.DataFrame, outcome: str, regressors: Sequence[str], fe: Sequence[str], cluster: str):
    import pyfixest as pf  # imported lazily: a heavy import

    with warnings.catch_warnings():
        # the singleton count is reported in the results instead
        warnings.filterwarnings("ignore", message=".*singleton fixed effect.*")
        return pf.feols(_fml(outcome, regressors, fe), data=data, vcov={"CRV1": cluster}, copy_data=False,
                        store_data=False, lean=False, fixef_rm="singleton")


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
    cols = term.split("^")
    if len(cols) == 1:
        codes, uniques = pd.factorize(data[cols[0]], sort=False)
        return codes.astype(np.int64), len(uniques)
    codes = data.groupby(cols, sort=False, observed=True).ngroup().to_numpy()
    return codes.astype(np.int64), int(codes.max()) + 1


def _solve_fixed_effects(codes: list[np.ndarray], sizes: list[int], rows: np.ndarray, rhs: list[np.ndarray],
                         tol: float = 1e-10, maxiter: int = 10_000) -> list[np.ndarray]:
    """Solve the normal equations Z0'Z0 b = rhs of a sum of fixed effects by Gauss-Seidel.

    ``codes[d][rows]`` are the levels of dimension ``d`` in the fitting sample
    (the untreated rows); ``rhs[d]`` is the right-hand side for dimension
    ``d`` (``Z0'y`` for a fit, ``Z1'w`` for the variance weights). Each sweep
    sets every level to the mean of what the other dimensions leave
    (Guimaraes and Portugal, 2010): block Gauss-Seidel, which converges to a
    solution of the consistent singular system. Levels absent from the sample
    stay 0.
    """
    sub = [c[rows] for c in codes]
    counts = [np.bincount(s, minlength=n).astype(float) for s, n in zip(sub, sizes)]
    safe = [np.where(c > 0, c, 1.0) for c in counts]
    effects = [np.zeros(n) for n in sizes]
    fitted = np.zeros(len(rows))
    for _ in range(maxiter):
        change = 0.0
        for d, s in enumerate(sub):
            partial = fitted - effects[d][s]
            new = (rhs[d] - np.bincount(s, weights=partial, minlength=sizes[d])) / safe[d]
            new[counts[d] == 0] = 0.0
            change = max(change, float(np.max(np.abs(new - effects[d]))) if len(new) else 0.0)
            effects[d] = new
            fitted = partial + new[s]
        if change < tol:
            return effects
    raise RuntimeError(f"imputation: the fixed-effect solve did not converge in {maxiter} sweeps "
                       f"(last change {change:.2e}); the untreated sample may be poorly connected")


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
        if controls:
            # controls' coefficients from the untreated sample, then impute on the residualised outcome
            fit = _feols(data.iloc[self.untreated_rows], outcome, list(controls), fe, cluster)
            self.control_coef = fit.coef().reindex(list(controls)).fillna(0.0)
            y = y - data[list(controls)].to_numpy(dtype=float) @ self.control_coef.to_numpy()
        self.y = y
        rhs = [np.bincount(c[self.untreated_rows], weights=y[self.untreated_rows], minlength=n)
               for c, n in zip(self.codes, self.sizes)]
        self.effects = _solve_fixed_effects(self.codes, self.sizes, self.untreated_rows, rhs, tol)
        present = [np.bincount(c[self.untreated_rows], minlength=n) > 0 for c, n in zip(self.codes, self.sizes)]
        imputable = np.ones(len(y), dtype=bool)
        for c, p in zip(self.codes, present):
            imputable &= p[c]
        self.imputable = imputable
        fitted = sum(e[c] for e, c in zip(self.effects, self.codes))
        self.tau = np.where(self.treated & imputable, y - fitted, np.nan)
        self.resid_untreated = np.where(~self.treated, y - fitted, 0.0)
        self.cluster_codes = pd.factorize(data[cluster])[0]

    def estimate(self, weights: np.ndarray, cells: np.ndarray) -> tuple[float, float]:
        """Estimate ``sum w tau`` over treated imputable rows and its clustered standard error.

        ``weights`` are zero outside the estimand and sum to one; ``cells``
        groups treated rows (cohort by event time) for the treated residuals.
        """
        on = weights != 0
        estimate = float(np.sum(weights[on] * self.tau[on]))
        # v for untreated rows: -Z0 (Z0'Z0)^-1 Z1' w
        rhs = [np.bincount(c[on], weights=weights[on], minlength=n) for c, n in zip(self.codes, self.sizes)]
        b = _solve_fixed_effects(self.codes, self.sizes, self.untreated_rows, rhs, self.tol)
        v = np.zeros(len(weights))
        u = self.untreated_rows
        v[u] = -sum(e[c[u]] for e, c in zip(b, self.codes))
        v[on] = weights[on]
        # treated residuals: tau minus its weighted mean in its cell (the conservative choice)
        cell = cells[on]
        cw = np.bincount(cell, weights=weights[on])
        ctau = np.bincount(cell, weights=weights[on] * self.tau[on])
        resid = self.resid_untreated.copy()
        resid[on] = self.tau[on] - (ctau / np.where(cw != 0, cw, 1.0))[cell]
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


def _event_name(k: int) -> str:
    return f"ev_m{-k}" if k < 0 else f"ev_p{k}"


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

    Parameters
    ----------
    window : (int, int)
        First and last event time with its own coefficient (ends binned).
    reference : int
        Omitted event time (coefficient 0), a pre-entry period.
    estimators : sequence of {"twfe", "imputation"}
        Which estimators to report.
    Other parameters as in :func:`twfe`.

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

    Firms treated in their first observed year (entry year unobserved) are
    dropped, counted in ``counts``.
    """
    func = "event_study"
    lo, hi = int(window[0]), int(window[1])
    if not lo <= reference < 0 or hi < 0:
        raise ValueError(f"{func}: need window[0] <= reference < 0 <= window[1], got window={window}, "
                         f"reference={reference}")
    unknown = set(estimators) - {"twfe", "imputation"}
    if unknown:
        raise ValueError(f"{func}: unknown estimator(s) {sorted(unknown)}")
    data, counts = _prepare(panel, outcome, treatment, fe, controls, cluster, firm, time, func)
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
    event = data[time].to_numpy(dtype=float) - first  # NaN for never treated
    binned = np.clip(event, lo, hi)
    event_times = list(range(lo, hi + 1))
    estimated = [k for k in event_times if k != reference]
    rows = []
    fits = {}
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
        counts["singleton observations (TWFE)"] = int(len(data) - fit._N)
        coef, se = fit.coef(), fit.se()
        table["twfe_coef"] = [0.0 if k == reference else coef.get(_event_name(k), np.nan) for k in event_times]
        table["twfe_se"] = [np.nan if k == reference else se.get(_event_name(k), np.nan) for k in event_times]
        data.drop(columns=names, inplace=True)
    if "imputation" in estimators:
        imp = _Imputer(data, outcome, treatment, fe, controls, cluster, tol)
        counts["treated observations not imputable"] = int((imp.treated & ~imp.imputable).sum())
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
    names = tuple(e for e in ("twfe", "imputation") if e in estimators)
    for e in names:
        table[f"{e}_lower"] = table[f"{e}_coef"] - z * table[f"{e}_se"]
        table[f"{e}_upper"] = table[f"{e}_coef"] + z * table[f"{e}_se"]
        table.loc[reference, [f"{e}_lower", f"{e}_upper"]] = 0.0
    return EventStudyResults(outcome, treatment, reference, (lo, hi), table, names, fits, counts)


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
                        firm: str = "firm_id", time: str = "year", groups: int = 5) -> pd.Series:
    """Each firm's quintile (1 = lowest) of ``variable`` before it entered a zone.

    The pre-period is a firm's years before its first treated year; firms never
    treated use all their years, and firms treated from their first year have no
    pre-period (NA). Quintiles are cut over firms, so each holds about a fifth of
    them (the SEZ paper's Tables 19-20).
    """
    _require(panel, [firm, time, variable, treatment], "pre_period_quintile")
    treated = _as_treatment(panel[treatment], treatment, "pre_period_quintile")
    first = pd.Series(np.where(treated, panel[time], np.inf)).groupby(panel[firm].to_numpy()).transform("min")
    before = panel[time].to_numpy() < first.to_numpy()
    level = pd.Series(panel[variable].to_numpy(dtype=float)[before]).groupby(
        panel[firm].to_numpy()[before]).mean()
    q = pd.qcut(level, groups, labels=False, duplicates="drop") + 1
    return panel[firm].map(q).astype("Int64").rename(f"{variable}_pre_quintile")


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
