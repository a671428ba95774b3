"""Control-function estimators: Olley and Pakes (1996), Levinsohn and Petrin (2003), Ackerberg,
Caves and Frazer (2015).

First stage: a polynomial control function in the state variables and the proxy (ACF: in all
inputs and the proxy), with year effects unless ``year_effects=False``. Second stage, by the
``criterion`` of :class:`sez.tfp.ProxySettings`: nonlinear least squares (OP's default), GMM on
the innovation of productivity's law of motion (LP's and ACF's), or the least squares of
``prodest`` (the law of motion fitted on productivity itself), from several starts; among the
optima, one with non-negative elasticities of the logged inputs where there is one (OP, LP: the
smallest sum of squared ``xi + e``; ACF: the most persistent productivity). See docs/estimators.md.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sez.tfp.prepare import _Block
from sez.tfp.settings import FIRST_STAGE_COLLAPSE, TFPInputError
from sez.tfp.terms import _lstsq, _mean_elasticity_map, _project, polynomial, production_terms


def _second_inputs(block: _Block, method: str, names: Sequence[str], form: str) -> np.ndarray:
    """Regressors whose coefficients the second stage estimates (all terms for ACF)."""
    if method == "acf":
        return production_terms(block.inputs(), names, form)[0]
    parts = [block.state]
    if block.materials is not None:
        parts.append(block.materials[:, None])
    return np.column_stack(parts)


def _fit_proxy(block: _Block, method: str, degree: int, markov_degree: int, exit_correction: bool,
               starts: int, rng: np.random.Generator, min_obs: int, label, names: Sequence[str],
               form: str = "cobb-douglas", overidentify: bool = False, start=None,
               logged_inputs: np.ndarray | None = None, year_effects: bool = False, criterion: str = "nls") -> dict:
    """OP, LP and ACF: first-stage control function, second stage by ``criterion`` ("nls", "gmm" or "prodest")."""
    logged_inputs = np.ones(len(names), dtype=bool) if logged_inputs is None else np.asarray(logged_inputs)
    n_free = block.free.shape[1]
    # year effects: in the control function (a proxy in other units than output, e.g. nominal investment
    # beside deflated output, shifts the inversion by year) and in the law of motion of productivity
    D = block.year_dummies() if year_effects else np.zeros((len(block.y), 0))
    if method == "acf":
        controls = [block.free, block.state, block.proxy]
        if block.materials is not None and not np.array_equal(block.materials, block.proxy):
            controls.append(block.materials)           # the proxy is usually the materials themselves
        controls = np.column_stack(controls)
        P1 = np.column_stack([polynomial(controls, degree), D])
        phi = _project(P1, block.y)
        beta_free = np.zeros(0)
        target = phi                                   # omega + f(x; b), noise removed
    else:
        P1 = np.column_stack([polynomial(np.column_stack([block.state, block.proxy]), degree), D])
        coef = _lstsq(np.column_stack([block.free, P1]), block.y)
        beta_free = coef[:n_free]
        phi = P1 @ coef[n_free:]                       # beta_k k (+ beta_m m) + omega
        target = block.y - block.free @ beta_free      # omega + X theta + e
    X2 = _second_inputs(block, method, names, form)
    has_lag = block.prev >= 0
    now = np.flatnonzero(has_lag)
    lag = block.prev[now]
    if len(now) < min_obs:
        raise TFPInputError(f"industry {label!r}: only {len(now)} observation(s) with a lag of the previous "
                            f"year (need at least {min_obs}); pool it with others or pass small='skip'")
    extra = None
    if exit_correction and method == "op":
        extra = _survival_probability(block, degree)[lag]
    Xn, Xl, tn, phil = X2[now], X2[lag], target[now], phi[lag]
    if method == "acf":
        # each term's instrument is the term with the free inputs (and materials) lagged
        # and the state variables current: all were decided before xi_t (Ackerberg, Caves and Frazer, 2015)
        predetermined = np.column_stack([block.free[lag], block.state[now]]
                                        + ([block.materials[lag]] if block.materials is not None else []))
        Z = np.column_stack([production_terms(predetermined, names, form)[0]]
                            + ([block.state[lag], phi[lag]] if overidentify else []))
    else:
        Z = np.column_stack([block.state[now]] + ([block.materials[lag]] if block.materials is not None else []))
    W = np.linalg.inv(Z.T @ Z / len(now))

    # year effects in g: project on (g basis, year indicators) by removing year means first (Frisch-Waugh)
    demean = None
    if year_effects and block.year is not None and D.shape[1]:
        _, year_code = np.unique(block.year[now], return_inverse=True)
        year_count = np.bincount(year_code).astype(float)

        def demean(v):
            v = np.asarray(v, dtype=float)
            if v.ndim == 1:
                return v - (np.bincount(year_code, v) / year_count)[year_code]
            return np.column_stack([demean(v[:, j]) for j in range(v.shape[1])])

    def off_law_of_motion(g_basis, v):
        """The residual of ``v`` on the law of motion g (and the year effects), by least squares."""
        if demean is not None:
            v = demean(v)
            return v - _project(demean(g_basis[:, 1:]), v) if g_basis.shape[1] > 1 else v
        return v - _project(g_basis, v)

    # prodest: g is fitted on productivity phi - X theta, not on y - free - X theta = productivity + e, so the
    # residual is e plus the innovation of that fit (Rovigatti and Mollisi, 2018)
    first_stage_error = tn - phi[now]

    def residual(theta):
        omega_lag = phil - Xl @ theta
        g_basis = polynomial(omega_lag if extra is None else np.column_stack([omega_lag, extra]), markov_degree)
        if criterion == "prodest":
            return first_stage_error + off_law_of_motion(g_basis, phi[now] - Xn @ theta)
        return off_law_of_motion(g_basis, tn - Xn @ theta)

    if criterion in ("nls", "prodest"):
        def objective(theta):
            r = residual(theta)
            return float(r @ r / len(r))
    else:
        def objective(theta):
            m = Z.T @ residual(theta) / len(now)
            return float(m @ W @ m)

    if method == "acf":
        base = _lstsq(np.column_stack([np.ones(len(block.y)), X2]), block.y)[1:]
        ols_free = np.zeros(0)
    else:
        ols = _lstsq(np.column_stack([np.ones(len(block.y)), block.free, X2]), block.y)
        base, ols_free = ols[1 + n_free:], ols[1:1 + n_free]
    base = base if start is None else np.asarray(start, dtype=float)
    # The least-squares start; for ACF a balanced one (the least-squares returns to scale
    # shared equally by the logged inputs, second-order terms zero): the spurious ACF root
    # sits near the OLS labour coefficient pushed towards one, and with measurement error in
    # materials starts near OLS miss the persistent root while the balanced start reaches it
    # (Monte Carlo of tests/test_tfp.py); a shrunken copy; then random perturbations.
    candidates = [base]
    if method == "acf":
        candidates.append(_balanced_start(base, len(names), logged_inputs))
    candidates.append(0.6 * base)
    candidates += [base + rng.normal(0, 0.15, len(base)) for _ in range(max(0, starts - len(candidates)))]
    candidates = candidates[:max(1, starts)]
    from scipy.optimize import minimize
    mean_map = _mean_elasticity_map(block.inputs(), form)
    own = slice(0 if method == "acf" else n_free, None)     # the second stage's own coefficients

    def search(x0):
        res = minimize(objective, x0, method="Nelder-Mead",
                       options={"xatol": 1e-7, "fatol": 1e-14, "maxiter": 4000 * len(x0)})
        t = {"start": np.asarray(x0), "estimate": res.x, "objective": float(res.fun),
             "converged": bool(res.success), "iterations": int(res.nit)}
        omega_now, omega_lag = phi[now] - Xn @ t["estimate"], phil - Xl @ t["estimate"]
        t["persistence"] = float(np.polyfit(omega_lag, omega_now, 1)[0]) if np.ptp(omega_lag) > 0 else 0.0
        r = residual(t["estimate"])
        t["sum_of_squares"] = float(r @ r / len(r))
        elasticity = mean_map @ np.concatenate([beta_free, t["estimate"]])
        t["plausible"] = bool(np.all(elasticity[own][logged_inputs[own]] >= 0))
        return t

    trials = [search(x0) for x0 in candidates]
    if start is None and not any(t["plausible"] for t in trials):
        # every start left the parameter space: two more from scaled-up least-squares values
        trials += [search(np.abs(base) * f) for f in (1.5, 2.5)]
    # The parameter space first: OP's criterion and the LP and ACF moments also have a distant optimum
    # or root with a negative capital coefficient, where "productivity" phi - b_k k is mostly capital
    # itself (persistence ~0.99; for OP a criterion within 1e-4 of the right one's). Starts outside
    # the space (a negative elasticity of a logged input) count only when none lies in it (flagged).
    pool = [t for t in trials if t["plausible"]] or trials
    if method == "acf":
        # Exactly identified GMM can have several roots with objective ~0. ACF's moments also hold
        # at a spurious root where implied productivity is nearly white noise (labour takes all the
        # output); the control-function approach presumes persistent productivity, so among the
        # roots keep the most persistent one.
        key = lambda t: (not t["converged"], -t["persistence"])     # noqa: E731
    else:
        # among OP's optima and LP's roots, the smallest sum of squared xi + e (the criterion OP
        # minimises; the prodest convention for LP)
        key = lambda t: (not t["converged"], t["sum_of_squares"])     # noqa: E731
    lowest = min(t["objective"] for t in pool)
    at_min = [t for t in pool if t["objective"] <= lowest + 1e-10 + 1e-6 * abs(lowest)]
    at_min = sorted(at_min, key=key)
    best = at_min[0]
    good = [t["estimate"] for t in at_min]
    all_conv = np.array([t["estimate"] for t in trials if t["converged"]])
    theta = best["estimate"]
    beta = np.concatenate([beta_free, theta])
    # LP/OP first stage: when the proxy depends on the free inputs given (k, omega) (materials chosen
    # with or after labour, Ackerberg, Caves and Frazer, 2015), y - proxy carries no labour and the
    # first-stage labour coefficient collapses towards zero whatever the truth.
    collapse = bool(np.any(np.abs(beta_free) < FIRST_STAGE_COLLAPSE * np.abs(ols_free)))
    elasticity = mean_map @ beta
    plausible = bool(np.all(elasticity[logged_inputs] >= 0))
    return {"beta": beta, "criterion": criterion, "n_second_stage": len(now), "objective": best["objective"],
            "converged": best["converged"], "plausible": plausible, "elasticity": elasticity,
            "first_stage_collapse": collapse,
            "ols_free": ols_free, "starts": trials,
            "start_spread": float(np.ptp(all_conv, axis=0).max()) if len(all_conv) > 1 else 0.0,
            "starts_at_optimum": len(good)}


def _balanced_start(base: np.ndarray, n_inputs: int, logged_inputs: np.ndarray) -> np.ndarray:
    """ACF start: the first-order coefficients of the logged inputs all equal to their mean,
    inputs in levels as given, second-order (translog) terms zero.
    """
    balanced = np.zeros_like(base)
    balanced[:n_inputs] = base[:n_inputs]
    balanced[:n_inputs][logged_inputs] = base[:n_inputs][logged_inputs].mean()
    return balanced


def _survival_probability(block: _Block, degree: int) -> np.ndarray:
    """Probit of staying in the panel next year on a polynomial in (k, i) (Olley and Pakes, 1996)."""
    import statsmodels.api as sm

    X = polynomial(np.column_stack([block.state, block.proxy]), min(degree, 2))
    s = block.survive
    if s.min() == s.max():
        return np.full(len(s), float(s[0]))
    fit = sm.Probit(s, X).fit(disp=0, maxiter=200)
    return fit.predict(X)
