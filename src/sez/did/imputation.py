"""The imputation estimator of Borusyak, Jaravel and Spiess (2024)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sez.did._pyfixest import _feols, formula_roles
from sez.did.prepare import (
    IMPUTATION_VCOV,
    IMPUTATION_VCOV_WHY,
    _check_variation,
    _codes,
    _handle_reversals,
    _prepare,
    adoption_timing,
    arguments,
    cluster_codes,
    count_clusters,
)
from sez.did.results import DidResults
from sez.did.solver import _FixedEffectSolver, _identified_rows
from sez.errors import DidDataError
from sez.results import Vcov, cluster_sandwich


class _Imputer:
    """Imputed untreated outcomes and the weights of linear estimands (Borusyak, Jaravel and Spiess, 2024)."""

    def __init__(self, data: pd.DataFrame, outcome: str, treatment: str, fe: Sequence[str],
                 controls: Sequence[str], vcov: Vcov, tol: float, weights: str | None = None):
        self.treated = data[treatment].to_numpy(dtype=bool)
        # the untreated model is fitted by weighted least squares with these weights (all one: unweighted)
        self.weights = np.ones(len(data)) if weights is None else data[weights].to_numpy(dtype=float)
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
            fit = _feols(data.iloc[self.untreated_rows], outcome, list(controls), fe, vcov, weights)
            self.control_fit = fit
            self.control_coef = fit.coef().reindex(list(controls)).fillna(0.0)
            y = y - data[list(controls)].to_numpy(dtype=float) @ self.control_coef.to_numpy()
        self.y = y
        u = self.untreated_rows
        rhs = [np.bincount(c[u], weights=self.weights[u] * y[u], minlength=n) for c, n in zip(self.codes, self.sizes)]
        self.imputable, self.not_imputable = _identified_rows(self.codes, self.sizes, self.untreated_rows,
                                                              self.treated, [str(t) for t in fe])
        self.solver = _FixedEffectSolver(self.codes, self.sizes, self.untreated_rows, tol, weights=self.weights)
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
        self.cluster_codes = cluster_codes(data, vcov)

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
        # v for untreated rows: -W0 Z0 (Z0'W0 Z0)^-1 Z1' w (W0 the untreated model's weights)
        rhs = [np.bincount(c[on], weights=weights[on], minlength=n) for c, n in zip(self.codes, self.sizes)]
        b = self.solver.solve(rhs)
        v = np.zeros(len(weights))
        u = self.untreated_rows
        v[u] = -self.weights[u] * sum(e[c[u]] for e, c in zip(b, self.codes))
        v[on] = weights[on]
        # treated residuals: tau minus its weighted mean in its cell (the conservative choice)
        cell = cells[on]
        remainder = self.tau[on] - (0.0 if tau_fit is None else tau_fit[on])
        w2 = weights[on] ** 2
        cw = np.bincount(cell, weights=w2)
        ctau = np.bincount(cell, weights=w2 * remainder)
        resid = self.resid_untreated.copy()
        resid[on] = remainder - (ctau / np.where(cw != 0, cw, 1.0))[cell]
        # no small-sample factor, as Borusyak, Jaravel and Spiess (2024); two-way: V_a + V_b - V_ab
        variance = cluster_sandwich(v * resid, self.cluster_codes, small_sample=False)
        return estimate, float(np.sqrt(variance[0, 0]))


def imputation(data: pd.DataFrame, outcome: str, treatment: str = "sez", fe: Sequence[str] = ("firm_id", "year"),
               controls: Sequence[str] = (), vcov: str | dict | None = None, unit: str = "firm_id",
               time: str = "year", on_reversal: str = "error", tol: float = 1e-10, weights: str | None = None,
               **old) -> DidResults:
    """Imputation estimator of the average effect on the treated (Borusyak, Jaravel and Spiess, 2024).

    Fixed effects (and controls) are fitted on untreated firm-years only; each
    treated firm-year's untreated outcome is imputed from its firm and
    (region-)year effects and ``tau_it = Y_it - Y_it(0)`` is averaged with
    equal weights over all imputable treated firm-years.

    Parameters are those of :func:`twfe`; ``on_reversal`` may be ``"error"`` or
    ``"drop"`` only, since the estimator needs treatment to be absorbing; ``vcov``
    may be ``{"CRV1": column}`` (one-way), ``{"CRV1": "a+b"}`` (two-way, Cameron,
    Gelbach and Miller 2011) or ``"hetero"`` (each firm-year its own cluster), the
    cases the analytic formula covers; no small-sample factor is applied. With
    ``weights`` (a column of positive analytic weights) the untreated model is
    fitted by weighted least squares and the effects are averaged with weights
    proportional to ``weights`` over the imputable treated firm-years, as
    Borusyak, Jaravel and Spiess (2024) allow.

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
    outcome, treatment, fe, controls = formula_roles(outcome, treatment, fe, controls, func)
    fe, controls, vcov = arguments(func, fe, controls, vcov, unit, old, IMPUTATION_VCOV, 2, IMPUTATION_VCOV_WHY)
    sample, counts = _prepare(data, outcome, treatment, fe, controls, vcov, unit, time, func, weights=weights)
    sample, _ = _handle_reversals(sample, treatment, unit, time, on_reversal, func, counts, allow_keep=False)
    _check_variation(sample, treatment, func)
    sample = sample.reset_index(drop=True)
    imp = _Imputer(sample, outcome, treatment, fe, controls, vcov, tol, weights)
    target = imp.treated & imp.imputable
    counts["treated observations not imputable"] = int((imp.treated & ~imp.imputable).sum())
    counts.update(imp.not_imputable)
    if not target.any():
        raise DidDataError(f"{func}: no treated firm-year has untreated observations of its firm and "
                           "(region-)year to impute its untreated outcome (only always-treated firms?)")
    timing = adoption_timing(sample, treatment, unit, time)
    cohort = sample[unit].map(timing.first_treated).to_numpy(dtype=float)
    cells = _cells(cohort, sample[time].to_numpy(dtype=float))
    est, se = imp.estimate(average_weights(target, imp.weights), cells)
    conventions = ("Conventions: fixed effects fitted on untreated firm-years only"
                   + (f" by least squares weighted by {weights!r}; imputable treated firm-years averaged with "
                      f"weights proportional to {weights!r}" if weights else
                      "; equal weights on imputable treated firm-years")
                   + "; analytic SE of Borusyak, Jaravel and Spiess (2024) with treated residuals net of (cohort, "
                   "event time) means, " + IMPUTATION_SE_CONVENTIONS
                   + ("; controls' coefficients treated as known in the SE" if controls else "") + ".")
    nobs = int((~imp.treated).sum() + target.sum())
    return imputation_results(outcome, treatment, pd.Series([est], index=[treatment]),
                              pd.Series([se], index=[treatment]), nobs, sample, fe, vcov, counts, conventions)


#: The small-sample conventions of the imputation estimator's standard errors, as the results state them
IMPUTATION_SE_CONVENTIONS = ("clustered (one row per cluster under 'hetero') with no small-sample factor; two-way "
                             "clustering V_a + V_b - V_ab (Cameron, Gelbach and Miller 2011), negative variance "
                             "set to zero; p-values and intervals from t(G-1), G the fewest clusters, normal "
                             "under 'hetero'")


def average_weights(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weights of the average over ``rows`` (a mask), proportional to ``weights`` there and summing to one."""
    on = np.where(rows, weights, 0.0)
    return on / on.sum()


def _cells(cohort: np.ndarray, year: np.ndarray) -> np.ndarray:
    key = np.where(np.isfinite(cohort), (year - np.nan_to_num(cohort)) * 10_000 + np.nan_to_num(cohort), -1)
    return pd.factorize(key)[0]


def imputation_results(outcome: str, treatment: str, params: pd.Series, bse: pd.Series, nobs: int,
                       data: pd.DataFrame, fe: Sequence[str], vcov: Vcov, counts: dict,
                       conventions: str) -> DidResults:
    """An imputation estimate as DidResults: t with G - 1 degrees of freedom when clustered, else normal."""
    g = count_clusters(data, vcov)
    return DidResults("imputation (Borusyak, Jaravel and Spiess 2024)", outcome, treatment, params, bse, nobs, g,
                      tuple(fe), vcov.spec, counts, conventions, None if g is None else float(g - 1))
