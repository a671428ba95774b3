"""Binary-choice econometrics: a probit with high-dimensional fixed effects.

Stata's conventions and why: ``docs/estimators.md``, "Conventions of the fixed-effects probit".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special, stats

from sez.limits import COLLINEAR_SHARE
from sez.panel import as_columns, lag_within_firm, require_columns
from sez.results import (
    Results,
    cluster_sandwich,
    empty_sample,
    parse_vcov,
    renamed_keywords,
    significance_stars,
)

__all__ = [
    "ProbitResults",
    "MarginalEffects",
    "probit",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

#: The name of the intercept in ``params`` when no fixed effect absorbs it (pyfixest's and R's name)
INTERCEPT = "Intercept"


# ---------------------------------------------------------------------------
# probit pieces


def _probit_pieces(eta: np.ndarray, q: np.ndarray):
    """Log-likelihood terms, score and observed-information weight per observation.

    With q = 2y - 1 and lambda = phi(q eta) / Phi(q eta), the score in the index
    is q lambda and minus the second derivative is lambda (lambda + q eta),
    which is positive for every eta (the probit log-likelihood is strictly
    concave), so the observed information is a valid set of WLS weights.
    """
    signed = q * eta
    log_cdf = special.log_ndtr(signed)
    mills = np.exp(-0.5 * signed * signed - _LOG_SQRT_2PI - log_cdf)
    score = q * mills
    weight = mills * (mills + signed)
    # guard the far tail where rounding can make the weight vanish
    np.maximum(weight, 1e-300, out=weight)
    return log_cdf, score, weight


class _Absorber:
    """Weighted within-transformation for a set of integer-coded fixed effects."""

    def __init__(self, codes: np.ndarray, tol: float, maxiter: int):
        self.codes = codes
        self.tol = tol
        self.maxiter = maxiter

    def demean(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        from pyfixest.estimation import demean  # imported lazily: a heavy import

        matrix = np.ascontiguousarray(values.reshape(len(weights), -1), dtype=np.float64)
        demeaned, converged = demean(matrix, self.codes, weights, tol=self.tol, maxiter=self.maxiter)
        if not converged:
            raise RuntimeError("probit: the fixed-effect projection did not converge; "
                               "raise fe_maxiter or loosen fe_tol")
        return demeaned


def _drop_perfect_predictions(y: np.ndarray, codes: np.ndarray, fe_names: Sequence[str]):
    """Iteratively drop fixed-effect groups whose outcome does not vary.

    Returns the mask of kept rows, counts by reason and a table of the
    dropped groups (fixed effect, level code, outcome, observations).
    """
    keep = np.ones(len(y), dtype=bool)
    counts = {"singleton": 0, "fe_all_0": 0, "fe_all_1": 0}
    groups = []
    changed = True
    while changed:
        changed = False
        for dim, name in enumerate(fe_names):
            code = codes[:, dim]
            n_levels = int(code.max()) + 1 if len(code) else 0
            size = np.bincount(code[keep], minlength=n_levels)
            ones = np.bincount(code[keep], weights=y[keep], minlength=n_levels)
            constant = (size > 0) & ((ones == 0) | (ones == size))
            if not constant.any():
                continue
            drop = keep & constant[code]
            for level in np.flatnonzero(constant):
                outcome = int(ones[level] > 0)
                reason = "singleton" if size[level] == 1 else f"fe_all_{outcome}"
                counts[reason] += int(size[level])
                groups.append((name, int(level), outcome, int(size[level]), reason))
            keep &= ~drop
            changed = True
    table = pd.DataFrame(groups, columns=["fixed_effect", "level_code", "outcome", "observations", "reason"])
    return keep, counts, table


# ---------------------------------------------------------------------------
# results


@dataclass
class MarginalEffects:
    """Marginal effects of a probit with delta-method standard errors.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per regressor: ``effect``, ``std_err``, ``z``, ``p_value``, and
        ``kind`` ("derivative" or "discrete change 0->1").
    at : str
        "mean", "average" (average partial effects) or a description of the point.
    point : pandas.Series or None
        Regressor values of the evaluation point (None for average effects).
    index : float or None
        Probit index at the point, fixed-effect part included.
    """

    frame: pd.DataFrame
    at: str
    point: pd.Series | None = None
    index: float | None = None

    def __repr__(self) -> str:
        return f"MarginalEffects(at={self.at!r})\n{self.frame.to_string()}"


@dataclass(repr=False)
class ProbitResults(Results):
    """A fitted probit with absorbed fixed effects (the results protocol of :mod:`sez.results`; z statistics).

    Attributes
    ----------
    params : pandas.Series
        Coefficients: ``"Intercept"`` first when there are no fixed effects, then the slopes (the fixed
        effects are absorbed and not reported; ``slopes`` leaves out the intercept).
    cov : pandas.DataFrame
        Covariance of ``params`` (also ``cov_params()``) of the kind ``vcov`` names.
    vcov : str or dict
        ``"iid"`` (observed information, Stata's default), ``"hetero"``, ``{"CRV1": column}`` or
        ``{"CRV1": "a+b"}`` (two-way).
    loglik, loglik_null : float
        Log-likelihood and that of an intercept-only probit on the same sample (weighted when ``weights``).
    pseudo_r2 : float
        McFadden's pseudo R-squared (a property).
    nobs : int
        Observations used (rows, also when weighted).
    n_clusters : int or None
        Clusters (the fewer of a two-way clustering); None when not clustered.
    fe : list of str
        The fixed effects' names.
    weights : str or None
        The weights column of a weighted likelihood.
    dropped : dict
        Rows removed before estimation, by reason: ``missing`` (a missing value
        in y, a regressor, a fixed effect or the cluster), ``no_lag`` (no
        observation of the firm in the previous year), ``singleton``,
        ``fe_all_0`` and ``fe_all_1`` (fixed-effect groups whose outcome is all
        0 or all 1, which predict it perfectly).
    perfect_prediction : pandas.DataFrame
        The dropped fixed-effect groups (fixed effect, level, outcome, observations).
    n_fe_levels : dict
        Levels of each fixed effect in the estimation sample.
    mean_fe_index : float
        Sample mean of the fitted fixed-effect part of the index (the
        constant when there are no fixed effects).
    """

    params: pd.Series
    cov: pd.DataFrame
    vcov: str | dict
    loglik: float
    loglik_null: float
    nobs: int
    dropped: dict
    perfect_prediction: pd.DataFrame
    y_name: str
    fe: list
    n_fe_levels: dict
    mean_fe_index: float
    iterations: int
    n_clusters: int | None = None
    weights: str | None = None
    _state: dict = field(default_factory=dict, repr=False)

    _renamed = {"zvalues": "tvalues (z statistics: see statistic_name)", "vcov_type": "vcov"}

    @property
    def bse(self) -> pd.Series:
        """Standard errors, the square roots of the diagonal of ``cov``."""
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), index=self.params.index)

    def cov_params(self) -> pd.DataFrame:
        """The covariance of ``params`` (a copy of ``cov``)."""
        return self.cov.copy()

    @property
    def slopes(self) -> pd.Series:
        """The coefficients of the regressors (``params`` without the intercept)."""
        return self.params.drop(INTERCEPT, errors="ignore")

    @property
    def stars(self) -> pd.Series:
        """Significance stars of the papers' tables, by coefficient."""
        return self.pvalues.map(significance_stars)

    @property
    def pseudo_r2(self) -> float:
        """McFadden's (1974) pseudo R-squared against the intercept-only model."""
        return 1.0 - self.loglik / self.loglik_null

    @property
    def n_dropped(self) -> int:
        """Rows removed before estimation, all reasons together."""
        return int(sum(self.dropped.values()))

    def _title(self) -> str:
        return f"Probit of {self.y_name}; fixed effects: {', '.join(self.fe) or 'none'}"

    def _notes(self) -> list[str]:
        return [f"Dropped: {self.n_dropped} {self.dropped}",
                f"Log-likelihood: {self.loglik:.4f}   null (intercept only): {self.loglik_null:.4f}   "
                f"McFadden pseudo R2: {self.pseudo_r2:.4f}",
                f"Standard errors: {parse_vcov(self.vcov, 'ProbitResults', max_clusters=2)}"
                + (f" ({self.n_clusters} clusters)" if self.n_clusters else "")
                + (f"; likelihood weighted by {self.weights!r}" if self.weights else ""),
                PROBIT_SE_CONVENTIONS]

    # -- marginal effects --------------------------------------------------
    def marginal_effects(self, at: str = "mean", values: Mapping[str, float | str] | None = None,
                         discrete: bool = True) -> MarginalEffects:
        """Marginal effects of every regressor with delta-method standard errors.

        Parameters
        ----------
        at : {"mean", "average"}
            ``"mean"``: at the sample means of the regressors and of the
            fixed-effect dummies (the index is the mean fitted index, shifted by
            any ``values``); ``"average"``: average partial effects over the
            estimation sample.
        values : mapping, optional
            With ``at="mean"``, regressors held at other values than their
            means: a number, ``"min"`` or ``"max"`` (for a 0/1 regressor, 0 and 1).
        discrete : bool
            Discrete change Phi(index at 1) - Phi(index at 0) for 0/1
            regressors (Stata's convention) instead of the derivative.

        Returns
        -------
        MarginalEffects
        """
        if at not in ("mean", "average"):
            raise ValueError(f"marginal_effects: at must be 'mean' or 'average', got {at!r}")
        if at == "average" and values:
            raise ValueError("marginal_effects: values are only used with at='mean'")
        state = self._state
        if self._state.get("weighted"):
            raise NotImplementedError("marginal_effects: not available for a weighted probit; fit it without "
                                      "weights for marginal effects")
        slopes = self.slopes
        beta = slopes.to_numpy()
        names = list(slopes.index)
        k = len(beta)
        binary = state["binary"] if discrete else np.zeros(k, dtype=bool)
        n = self.nobs
        if at == "mean":
            point = state["x_mean"].copy()
            for name, value in (values or {}).items():
                if name not in names:
                    raise KeyError(f"marginal_effects: {name!r} is not a regressor; regressors: {names}")
                j = names.index(name)
                if isinstance(value, str):
                    if value not in ("min", "max"):
                        raise ValueError(f"marginal_effects: value for {name!r} must be a number, 'min' or 'max'")
                    value = state["x_min"][j] if value == "min" else state["x_max"][j]
                point[j] = float(value)
            shift = point - state["x_mean"]
            index = float(state["eta_mean"] + shift @ beta)
            density = stats.norm.pdf(index)
            # gradients: a-part (coefficients on the mean design row, one basis vector 1/n) and b-part
            coef_a = np.empty((1, k))
            grad_b = np.empty((k, k))
            effect = np.empty(k)
            for j in range(k):
                if binary[j]:
                    index_1 = index + beta[j] * (1.0 - point[j])
                    index_0 = index - beta[j] * point[j]
                    d1, d0 = stats.norm.pdf(index_1), stats.norm.pdf(index_0)
                    effect[j] = stats.norm.cdf(index_1) - stats.norm.cdf(index_0)
                    coef_a[0, j] = d1 - d0
                    grad_b[:, j] = (d1 - d0) * shift
                    grad_b[j, j] += d1 * (1.0 - point[j]) + d0 * point[j]
                else:
                    effect[j] = density * beta[j]
                    coef_a[0, j] = -density * index * beta[j]
                    grad_b[:, j] = -density * index * beta[j] * shift
                    grad_b[j, j] += density
            basis = np.full((n, 1), 1.0 / n)
            cov = self._functional_cov(basis, coef_a, grad_b)
            label = "mean" if not values else "mean, " + ", ".join(f"{a}={b}" for a, b in values.items())
            point_series = pd.Series(point, index=names)
        else:
            eta = state["eta"]
            x = state["x"]
            density = stats.norm.pdf(eta)
            columns = [density * eta / n]
            coef_a = np.zeros((1 + int(binary.sum()), k))
            grad_b = np.zeros((k, k))
            effect = np.empty(k)
            extra = 0
            for j in range(k):
                if binary[j]:
                    index_1 = eta + beta[j] * (1.0 - x[:, j])
                    index_0 = eta - beta[j] * x[:, j]
                    d1, d0 = stats.norm.pdf(index_1), stats.norm.pdf(index_0)
                    effect[j] = float(np.mean(stats.norm.cdf(index_1) - stats.norm.cdf(index_0)))
                    extra += 1
                    columns.append((d1 - d0) / n)
                    coef_a[extra, j] = 1.0
                    grad_b[j, j] = float(np.mean(d1 * (1.0 - x[:, j]) + d0 * x[:, j]))
                else:
                    effect[j] = float(np.mean(density)) * beta[j]
                    coef_a[0, j] = -beta[j]
                    grad_b[j, j] = float(np.mean(density))
            cov = self._functional_cov(np.column_stack(columns), coef_a, grad_b)
            label, point_series, index = "average", None, None
        std_err = np.sqrt(np.diag(cov))
        z = effect / std_err
        frame = pd.DataFrame({"effect": effect, "std_err": std_err, "z": z,
                              "p_value": 2.0 * stats.norm.sf(np.abs(z)),
                              "kind": np.where(binary, "discrete change 0->1", "derivative")}, index=names)
        return MarginalEffects(frame=frame, at=label, point=point_series, index=index)

    def marginal_effects_at_extremes(self, of: Sequence[str] | None = None,
                                     by: Sequence[str] | None = None) -> pd.DataFrame:
        """Marginal effects of ``of`` when one regressor in ``by`` is at its minimum or maximum.

        All other regressors stay at their means (a 0/1 regressor's minimum and
        maximum are 0 and 1): the layout of the paper's Table 7.

        Returns
        -------
        pandas.DataFrame
            Rows (regressor, "Min"/"Max"), columns ``by``; the values are
            marginal effects. Standard errors are in ``.attrs["std_err"]``.
        """
        names = list(self.slopes.index)
        of = list(of or names)
        by = list(by or names)
        effects, errors = {}, {}
        for held in by:
            for bound, label in (("min", "Min"), ("max", "Max")):
                me = self.marginal_effects(at="mean", values={held: bound}).frame
                effects[(held, label)] = me.loc[of, "effect"]
                errors[(held, label)] = me.loc[of, "std_err"]

        def arrange(parts):
            frame = pd.DataFrame(parts)  # columns (held, bound), rows regressor
            frame = frame.stack(level=1, future_stack=True)
            frame.index.names = ["regressor", "at"]
            return frame.reindex(columns=by)

        table = arrange(effects)
        table.attrs["std_err"] = arrange(errors)
        return table

    def _functional_cov(self, basis: np.ndarray, coef_a: np.ndarray, grad_b: np.ndarray) -> np.ndarray:
        """Covariance of smooth functions of all parameters (fixed effects included).

        The gradients are ``g_m = Z' (basis @ coef_a[:, m]) + [grad_b[:, m]; 0]``
        with ``Z = [X, D]`` the full design. ``H^{-1} g`` is a weighted
        least-squares fit of ``basis / w`` on ``Z``, solved by absorbing the
        dummies, so no dense dummy matrix or full inverse is formed. ``F`` holds
        ``z_i' H^{-1} g`` for each observation: the observed-information
        covariance is ``g' H^{-1} g``, the sandwich uses the per-observation
        influence ``score_i F_i``.
        """
        state = self._state
        weight, x_tilde, inv_info = state["weight"], state["x_tilde"], state["inv_info"]
        scaled = basis / weight[:, None]
        scaled_tilde = state["absorber"].demean(scaled, weight)
        # X~' W v~ for each basis vector, then combine
        cross = x_tilde.T @ (weight[:, None] * scaled_tilde)  # k x r
        coef_beta = inv_info @ (cross @ coef_a + grad_b)  # beta-part of H^{-1} g, k x m
        fitted = (scaled - scaled_tilde) @ coef_a + x_tilde @ coef_beta  # n x m
        if parse_vcov(self.vcov, "marginal_effects", max_clusters=2).kind == "iid":
            return coef_a.T @ (basis.T @ fitted) + grad_b.T @ coef_beta
        return cluster_sandwich(fitted * state["score"][:, None], state["clusters"])


#: The small-sample conventions of the probit's standard errors, as its summary states them
PROBIT_SE_CONVENTIONS = ("Conventions: 'iid' the inverse observed information (Stata's probit); 'hetero' the "
                         "sandwich times n/(n-1) (Stata's vce(robust)); clustered the sandwich times G/(G-1), two-way "
                         "V_a + V_b - V_ab (Cameron, Gelbach and Miller 2011) with every term times G/(G-1), G the "
                         "fewer clusters (fixest's default), negative eigenvalues set to zero; z statistics.")


# ---------------------------------------------------------------------------
# estimation


def probit(data: pd.DataFrame, y: str, x: Sequence[str] | None = None, fe: Sequence[str] | None = None,
           lags: Sequence[str] | None = None, vcov: str | Mapping[str, str] = "iid",
           unit: str = "firm_id", time: str = "year", tol: float = 1e-10, maxiter: int = 100,
           fe_tol: float = 1e-10, fe_maxiter: int = 100_000, weights: str | None = None, **old) -> ProbitResults:
    """Probit of a binary outcome with absorbed high-dimensional fixed effects.

    Maximises the probit log-likelihood in the slopes and all fixed effects by
    Newton's method on the observed information; each Newton step is a
    weighted least-squares fit whose dummies are absorbed by a weighted
    within-transformation, so the dummy matrix is never formed.

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table (:mod:`sez.panel` schema) or any table with the columns named.
    y : str
        Binary outcome (bool or 0/1; missing values are dropped and counted), or a formula in fixest's
        syntax, ``"exporter ~ x1 + x2 | year + cic3 + county"`` (regressors, then the fixed effects
        after ``|``), in place of ``x`` and ``fe``.
    x : sequence of str
        Regressors (a string is one). Those also listed in ``lags`` enter as their one-year lag
        within firm and are named ``"L.<column>"`` in the results.
    fe : sequence of str, optional
        Fixed-effect columns (e.g. ``["year", "cic3", "county"]``). Without
        fixed effects an intercept is estimated and reported first in
        ``params`` as ``"Intercept"``, with its standard error.
    lags : sequence of str, optional
        Members of ``x`` to lag by one year within ``unit``; a lag exists only
        if the firm is observed in year t-1 (see :func:`lag_within_firm`).
    vcov : {"iid", "hetero"}, {"CRV1": column} or {"CRV1": "a+b"}
        Observed information (``"iid"``, Stata's ``probit`` default), the
        heteroskedasticity-robust sandwich (factor n/(n-1)), clustered
        (factor G/(G-1)) or two-way clustered (Cameron, Gelbach and Miller
        2011: ``V_a + V_b - V_ab``, each term times G/(G-1) with G the fewer
        clusters, negative eigenvalues set to zero); pyfixest's spelling, as
        everywhere in sez.
    weights : str, optional
        A column of positive weights multiplying each observation's
        log-likelihood. ``"iid"`` is then the inverse weighted information, as
        frequency weights (a weight of 2 counts as two observations);
        ``"hetero"`` and clustered errors are sandwiches of the weighted
        scores, as Stata's pweights (clustered: as the replicated rows in
        the same cluster). Marginal effects are not available with weights.
    unit, time : str
        Panel keys for the lags.
    tol : float
        Convergence: relative change of the log-likelihood and largest
        absolute coefficient change, both below ``tol`` (coefficients at 1e3*tol).
    maxiter : int
        Newton iterations allowed.
    fe_tol, fe_maxiter : float, int
        Tolerance and iteration cap of the fixed-effect projections.

    Returns
    -------
    ProbitResults

    Raises
    ------
    KeyError
        A named column is missing.
    ValueError
        y is not binary or does not vary, a regressor does not vary or is
        collinear with other regressors or the fixed effects, ``vcov`` is unknown,
        or no observation is left.
    RuntimeError
        Newton's method did not converge (e.g. a regressor separates the outcome).
    """
    func = "probit"
    if "~" in y:
        from sez.did._pyfixest import split_formula  # the one module that touches pyfixest's parser

        if x or fe:
            raise ValueError(f"{func}: give the regressors and fixed effects either in the formula {y!r} or as x "
                             "and fe, not both")
        y, x, fe = split_formula(y, func)
    x = list(as_columns(x, "x", func))
    fe = list(as_columns(fe, "fe", func))
    lags = list(as_columns(lags, "lags", func))
    if not x:
        raise ValueError(f"{func}: at least one regressor is needed")
    if len(set(x)) != len(x):
        raise ValueError(f"{func}: regressors are listed twice: {sorted({c for c in x if x.count(c) > 1})}")
    not_in_x = [c for c in lags if c not in x]
    if not_in_x:
        raise ValueError(f"{func}: lags {not_in_x} are not among the regressors x")
    renamed_keywords(old, {"firm": "'unit'"}, func)
    parsed = parse_vcov(vcov, func, max_clusters=2)
    cluster_columns = list(parsed.cluster)
    weighted = [weights] if weights is not None else []
    needed = [y, *x, *fe, *cluster_columns, *weighted] + ([unit, time] if lags else [])
    require_columns(data, needed, func)

    # design columns: lagged where asked
    columns = {}
    if lags:
        lagged = lag_within_firm(data, lags, unit=unit, time=time)
    names = []
    for column in x:
        if column in lags:
            name = "L." + column
            columns[name] = lagged[name]
        else:
            name = column
            columns[name] = data[column]
        names.append(name)

    dropped = {"missing": 0, "no_lag": 0}
    y_values = _binary_outcome(data[y], y, func)
    observed_y = ~np.isnan(y_values)
    bad = observed_y & ~np.isin(y_values, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"{func}: outcome {y!r} must be 0/1 (or boolean); values "
                         f"{sorted(set(y_values[bad].tolist()))[:5]} in rows {data.index[bad][:5].tolist()}")
    present = observed_y.copy()
    for column in [*fe] + cluster_columns:
        present &= data[column].notna().to_numpy()
    if weights is not None:
        weight_values = pd.to_numeric(data[weights], errors="coerce").to_numpy(dtype=float)
        not_positive = np.isfinite(weight_values) & ~(weight_values > 0)
        if not_positive.any():
            raise ValueError(f"{func}: weights {weights!r} must be positive; rows "
                             f"{data.index[not_positive][:5].tolist()} are not: drop them or give them a weight")
        present &= np.isfinite(weight_values)
    x_matrix = np.empty((len(data), len(names)))
    no_lag = np.zeros(len(data), dtype=bool)
    if lags:
        # 'no_lag': the firm has no row in t-1; a row there with a missing value counts as 'missing'
        prior = lag_within_firm(data[[unit, time]].assign(_observed=True), ["_observed"], unit, time)
        no_lag = prior["L._observed"].isna().to_numpy()
    for j, name in enumerate(names):
        series = columns[name]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise ValueError(f"{func}: regressor {name!r} is not numeric (dtype {series.dtype})")
        values = series.to_numpy(dtype=float, na_value=np.nan)
        x_matrix[:, j] = values
    finite = np.isfinite(x_matrix).all(axis=1)
    no_lag = no_lag & present  # count each removed row once, first by missing y/fe, then by the lag
    dropped["no_lag"] = int(no_lag.sum())
    usable = present & finite & ~no_lag
    dropped["missing"] = int(len(data) - usable.sum() - dropped["no_lag"])
    if not usable.any():
        by_column = {y: observed_y, **{name: np.isfinite(x_matrix[:, j]) for j, name in enumerate(names)},
                     **{c: data[c].notna().to_numpy() for c in [*fe] + cluster_columns}}
        if lags:
            by_column["previous year observed (lags)"] = ~no_lag
        raise ValueError(f"{func}: no observation is left: {empty_sample(by_column)}")

    y_values = y_values[usable]
    x_matrix = x_matrix[usable]
    if fe:
        codes = np.column_stack([pd.factorize(data[c].to_numpy()[usable])[0] for c in fe]).astype(np.int64)
        keep, perfect_counts, perfect_table = _drop_perfect_predictions(y_values, codes, fe)
        # name the dropped levels by their values rather than codes
        if len(perfect_table):
            level_values = {c: pd.factorize(data[c].to_numpy()[usable])[1] for c in fe}
            perfect_table["level"] = [level_values[f][code] for f, code in
                                      zip(perfect_table["fixed_effect"], perfect_table["level_code"])]
            perfect_table = perfect_table.drop(columns="level_code")[
                ["fixed_effect", "level", "outcome", "observations", "reason"]]
    else:
        codes = np.zeros((len(y_values), 1), dtype=np.int64)
        keep = np.ones(len(y_values), dtype=bool)
        perfect_counts = {"singleton": 0, "fe_all_0": 0, "fe_all_1": 0}
        perfect_table = pd.DataFrame(columns=["fixed_effect", "level", "outcome", "observations", "reason"])
    dropped.update(perfect_counts)
    y_values, x_matrix, codes = y_values[keep], x_matrix[keep], codes[keep]
    if len(y_values) == 0:
        raise ValueError(f"{func}: every observation is perfectly predicted by the fixed effects {dropped}")
    share = y_values.mean()
    if share in (0.0, 1.0):
        raise ValueError(f"{func}: outcome {y!r} does not vary in the estimation sample (all {int(share)})")
    # re-code the remaining levels densely for the projection kernel
    codes = np.column_stack([pd.factorize(codes[:, d])[0] for d in range(codes.shape[1])]).astype(np.uint64)
    absorber = _Absorber(codes, fe_tol, fe_maxiter)
    obs_weights = np.ones(len(y_values)) if weights is None else weight_values[usable][keep]
    clusters = [np.arange(len(y_values))] if parsed.kind == "hetero" else []
    for column in cluster_columns:
        clusters.append(pd.factorize(data[column].to_numpy()[usable][keep])[0])
        if clusters[-1].max() < 1:
            raise ValueError(f"{func}: clustered standard errors need at least two clusters in {column!r}")

    _check_regressors(x_matrix, names, absorber, fe, func)
    _check_separation(y_values, x_matrix, names, func)

    eta, iterations, loglik = _newton(y_values, x_matrix, absorber, tol, maxiter, func, obs_weights)
    q = 2.0 * y_values - 1.0
    _, score, weight = _probit_pieces(eta, q)
    # the weighted likelihood's scores and information weights
    score, weight = obs_weights * score, obs_weights * weight
    stacked = absorber.demean(np.column_stack([eta, x_matrix]), weight)
    x_tilde = stacked[:, 1:]
    beta = np.linalg.solve((x_tilde * weight[:, None]).T @ x_tilde, (x_tilde * weight[:, None]).T @ stacked[:, 0])
    inv_info = np.linalg.inv((x_tilde * weight[:, None]).T @ x_tilde)
    inv_info = 0.5 * (inv_info + inv_info.T)

    n = len(y_values)
    share = float(np.average(y_values, weights=obs_weights))
    loglik_null = float(obs_weights.sum() * (share * math.log(share) + (1.0 - share) * math.log(1.0 - share)))
    x_mean = x_matrix.mean(axis=0)
    fe_index = eta - x_matrix @ beta
    binary = np.array([bool(np.isin(np.unique(col), (0.0, 1.0)).all()) for col in x_matrix.T])
    # without fixed effects the one absorbed level is the intercept: report it, with the full information
    # of (1, X) for its covariance (the slopes' block is the same as the absorbed one's)
    design, inverse, terms, coef = x_tilde, inv_info, names, beta
    if not fe:
        design = np.column_stack([np.ones(n), x_matrix])
        inverse = np.linalg.inv((design * weight[:, None]).T @ design)
        inverse = 0.5 * (inverse + inverse.T)
        terms, coef = [INTERCEPT, *names], np.concatenate([[fe_index.mean()], beta])
    cov = inverse if parsed.kind == "iid" else cluster_sandwich(design @ inverse * score[:, None], clusters)
    return ProbitResults(
        params=pd.Series(coef, index=terms, name="coef"),
        cov=pd.DataFrame(cov, index=terms, columns=terms),
        vcov=parsed.spec, loglik=loglik, loglik_null=loglik_null, nobs=n, dropped=dropped,
        perfect_prediction=perfect_table.reset_index(drop=True), y_name=y, fe=fe,
        n_fe_levels={c: int(codes[:, d].max()) + 1 for d, c in enumerate(fe)},
        mean_fe_index=float(fe_index.mean()), iterations=iterations,
        n_clusters=min(int(c.max()) + 1 for c in clusters) if cluster_columns else None, weights=weights,
        _state={"weight": weight, "score": score, "x_tilde": x_tilde, "inv_info": inv_info,
                "absorber": absorber, "clusters": clusters, "eta": eta, "x": x_matrix,
                "eta_mean": float(eta.mean()), "x_mean": x_mean, "x_min": x_matrix.min(axis=0),
                "x_max": x_matrix.max(axis=0), "binary": binary, "weighted": weights is not None},
    )


def _binary_outcome(outcome: pd.Series, name: str, func: str) -> np.ndarray:
    """The outcome as floats (NaN where missing), or an error naming the column, the values found and how to
    convert them: labels such as "yes"/"no" are refused rather than guessed.
    """
    if pd.api.types.is_numeric_dtype(outcome) or pd.api.types.is_bool_dtype(outcome):
        return outcome.to_numpy(dtype=float, na_value=np.nan)
    values = pd.to_numeric(pd.Series(np.asarray(outcome, dtype=object)), errors="coerce").to_numpy(dtype=float)
    text = outcome.notna().to_numpy() & np.isnan(values)
    if text.any():
        found = sorted(map(str, pd.unique(np.asarray(outcome, dtype=object)[text])))
        raise ValueError(f"{func}: outcome {name!r} must be 0/1 or boolean; it holds {found[:5]}"
                         f"{' and more' if len(found) > 5 else ''} (dtype {outcome.dtype}). Convert it first, "
                         f"e.g. data[{name!r}] = data[{name!r}].map({{{found[-1]!r}: 1, {found[0]!r}: 0}}) "
                         "choosing which label is 1")
    return values


def _check_regressors(x_matrix: np.ndarray, names: Sequence[str], absorber: _Absorber, fe_names: Sequence[str],
                      func: str) -> None:
    """Raise for a regressor without variation, absorbed by the fixed effects, or collinear with others."""
    unit = np.ones(len(x_matrix))
    centred = x_matrix - x_matrix.mean(axis=0)
    scale = np.sqrt((centred ** 2).sum(axis=0))
    constant = scale <= 1e-12 * np.maximum(1.0, np.abs(x_matrix).max(axis=0)) * math.sqrt(len(x_matrix))
    if constant.any():
        raise ValueError(f"{func}: regressor(s) {[n for n, c in zip(names, constant) if c]} do not vary "
                         f"in the estimation sample")
    within = absorber.demean(x_matrix, unit)
    within_scale = np.sqrt((within ** 2).sum(axis=0))
    # the share of each regressor's variation left once the fixed effects are partialled out
    absorbed = within_scale ** 2 <= COLLINEAR_SHARE * scale ** 2
    if absorbed.any():
        raise ValueError(f"{func}: regressor(s) {[n for n, a in zip(names, absorbed) if a]} are collinear "
                         f"with the fixed effects {fe_names}: they have no coefficient; drop them from x or "
                         "the fixed effect that absorbs them")
    normalised = within / within_scale
    gram = normalised.T @ normalised
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    if eigenvalues[0] < COLLINEAR_SHARE:
        involved = [n for n, v in zip(names, eigenvectors[:, 0]) if abs(v) > 1e-3]
        raise ValueError(f"{func}: regressors {involved} are collinear (given the fixed effects {fe_names}): "
                         "drop one of them")


def _check_separation(y: np.ndarray, x_matrix: np.ndarray, names: Sequence[str], func: str) -> None:
    """A regressor whose values for y = 1 all lie above (or below) those for y = 0
    predicts the outcome perfectly: the likelihood has no maximum (its coefficient
    runs off to infinity), so say which one instead of failing to converge.
    """
    ones = y == 1
    for j, name in enumerate(names):
        v = x_matrix[:, j]
        lo1, hi1, lo0, hi0 = v[ones].min(), v[ones].max(), v[~ones].min(), v[~ones].max()
        if lo1 > hi0 or hi1 < lo0:
            raise ValueError(f"{func}: regressor {name!r} separates the outcome perfectly (every y = 1 has "
                             f"{name} {'above' if lo1 > hi0 else 'below'} every y = 0): no maximum-likelihood "
                             f"estimate exists; drop or recode it")


def _newton(y: np.ndarray, x_matrix: np.ndarray, absorber: _Absorber, tol: float, maxiter: int, func: str,
            obs_weights: np.ndarray):
    """Newton iterations on the observed information with absorbed fixed effects.

    Each step regresses the working response eta + score / weight on the
    regressors and all dummies by weighted least squares with the observed
    information as weights (the full Newton step in all parameters); a step
    that lowers the log-likelihood is halved. ``obs_weights`` multiply each observation's log-likelihood.
    """
    q = 2.0 * y - 1.0
    eta = np.full(len(y), stats.norm.ppf(np.clip(y.mean(), 1e-6, 1 - 1e-6)))
    beta = np.zeros(x_matrix.shape[1])
    log_cdf, score, weight = _probit_pieces(eta, q)
    loglik = float(obs_weights @ log_cdf)
    for iteration in range(1, maxiter + 1):
        working = eta + score / weight
        stacked = absorber.demean(np.column_stack([working, x_matrix]), obs_weights * weight)
        x_tilde, working_tilde = stacked[:, 1:], stacked[:, 0]
        weighted = x_tilde * (obs_weights * weight)[:, None]
        beta_new = np.linalg.solve(weighted.T @ x_tilde, weighted.T @ working_tilde)
        eta_new = working - (working_tilde - x_tilde @ beta_new)
        step = 1.0
        while True:
            eta_try = eta + step * (eta_new - eta)
            log_cdf, score_try, weight_try = _probit_pieces(eta_try, q)
            loglik_try = float(obs_weights @ log_cdf)
            if loglik_try >= loglik - 1e-12 * abs(loglik) or step < 1e-6:
                break
            step *= 0.5
        beta_try = beta + step * (beta_new - beta)
        change = float(np.max(np.abs(beta_try - beta)))
        gain = abs(loglik_try - loglik) / (abs(loglik) + 1.0)
        eta, beta, score, weight, loglik = eta_try, beta_try, score_try, weight_try, loglik_try
        if gain < tol and change < 1e3 * tol:
            return eta, iteration, loglik
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 1e6:
            break
    raise RuntimeError(f"{func}: Newton's method did not converge in {maxiter} iterations (last coefficient "
                       f"change {change:.3g}); a regressor may separate the outcome perfectly")
