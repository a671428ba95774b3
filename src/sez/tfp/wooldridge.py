"""Wooldridge (2009): the two equations of the control-function approach estimated jointly by
one-step GMM, with analytic standard errors.
"""

from __future__ import annotations

import numpy as np

from sez.results import Vcov
from sez.tfp.prepare import _Block
from sez.tfp.settings import TFPInputError
from sez.tfp.terms import polynomial


def _cluster_sums(values: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Column sums of ``values`` within each cluster, one row per cluster."""
    order = np.argsort(cluster, kind="stable")
    sorted_ids = cluster[order]
    starts = np.concatenate([[0], np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1])
    return np.add.reduceat(values[order], starts, axis=0)


def _gmm_sandwich(G: np.ndarray, W: np.ndarray, S: np.ndarray, n: int) -> np.ndarray:
    """Covariance of a GMM estimator: (G'WG)^-1 G'W S W G (G'WG)^-1 / n (Hansen, 1982).

    ``G`` is the Jacobian of the mean moments, ``S`` the covariance of one unit's moment
    contribution; the formula does not presume ``W = S^-1``.
    """
    bread = np.linalg.inv(G.T @ W @ G)
    meat = G.T @ W @ S @ W @ G
    cov = bread @ meat @ bread / n
    return (cov + cov.T) / 2


def _fit_wooldridge(block: _Block, degree: int, min_obs: int, label,
                    vcov: Vcov) -> dict:
    """Wooldridge (2009) one-step GMM with omega_t = rho0 + rho omega_{t-1} + xi.

    Equations on every firm-year with a lag, productivity ``omega = c(k, m) gamma``:

    1. ``y_t = a1 + x_t b + c_t gamma + e_t``, instruments ``1, l_t, c_t``;
    2. ``y_t = a2 + x_t b + rho c_{t-1} gamma + u_t``, instruments
       ``1, k_t, l_{t-1}, c_{t-1}`` (and ``m_{t-1}`` in gross output).

    Given rho both are linear in ``(a1, a2, b, gamma)``, solved in closed form, and rho
    by a bounded scalar search on the concentrated objective. Two steps: the first with
    ``W = (Z'Z / n)^-1``, the second with the inverse covariance of the moments at the
    first-step estimates, clustered by firm (``vcov={"CRV1": unit}``), by another column
    (``{"CRV1": column}``) or by firm-year (``"hetero"``: both equations of a firm-year are one
    unit). Standard errors are the GMM sandwich at the second-step estimates with
    the same clustering, rho's estimation included (its column of the Jacobian is
    ``-Z' (0, c_{t-1} gamma)``); ``se_rho_known`` holds them with rho taken as known.
    """
    from scipy.optimize import minimize_scalar
    from scipy.stats import chi2

    now = np.flatnonzero(block.prev >= 0)
    if len(now) < min_obs:
        raise TFPInputError(f"industry {label!r}: only {len(now)} observation(s) with a lag (need {min_obs})")
    lag = block.prev[now]
    X = block.inputs()[now]
    C = polynomial(np.column_stack([block.state, block.proxy]), degree)[:, 1:]   # c(k, m) without constant
    n, p = X.shape
    one, zero = np.ones((n, 1)), np.zeros((n, 1))
    Y = np.concatenate([block.y[now], block.y[now]])
    Z1 = np.column_stack([one, block.free[now], C[now]])
    Z2 = np.column_stack([one, block.state[now], block.free[lag], C[lag]]
                         + ([block.materials[lag]] if block.materials is not None else []))
    Z = np.zeros((2 * n, Z1.shape[1] + Z2.shape[1]))
    Z[:n, :Z1.shape[1]] = Z1
    Z[n:, Z1.shape[1]:] = Z2
    if vcov.kind == "hetero":
        cluster = np.arange(n)
    else:
        cluster = (block.firm if block.cluster is None else block.cluster)[now]   # None: the unit's own

    def regressors(rho):
        # parameters (a1, a2, b, gamma); rho * omega_{t-1} = rho * c_{t-1} gamma is linear given rho
        return np.vstack([np.column_stack([one, zero, X, C[now]]), np.column_stack([zero, one, X, rho * C[lag]])])

    def moment_covariance(u):
        g = Z * u[:, None]
        per_firm_year = g[:n] + g[n:]               # both equations of a firm-year are one unit
        h = _cluster_sums(per_firm_year, cluster)
        return h.T @ h / n

    # Z'R(rho) = Z'R(0) + rho Z'D with D the rho * c_{t-1} block: the search never touches n-sized arrays
    ZR0, ZD = Z.T @ regressors(0.0), Z.T @ (regressors(1.0) - regressors(0.0))
    ZY = Z.T @ Y

    def concentrated(rho, W):
        ZR = ZR0 + rho * ZD
        A = ZR.T @ W
        theta = np.linalg.solve(A @ ZR, A @ ZY)
        m = (ZY - ZR @ theta) / n
        return float(n * m @ W @ m), theta

    W = np.linalg.inv(Z.T @ Z / n)
    converged = True
    for step in (1, 2):
        res = minimize_scalar(lambda r: concentrated(r, W)[0], bounds=(-0.5, 1.5), method="bounded",
                              options={"xatol": 1e-8})
        converged &= bool(res.success)
        rho = float(res.x)
        J, theta = concentrated(rho, W)
        if step == 1:
            W = np.linalg.pinv(moment_covariance(Y - regressors(rho) @ theta))
    R = regressors(rho)
    S = moment_covariance(Y - R @ theta)
    gamma = theta[2 + p:]
    d_rho = np.concatenate([np.zeros(n), C[lag] @ gamma])
    G = -Z.T @ np.column_stack([R, d_rho]) / n
    cov = _gmm_sandwich(G, W, S, n)
    cov_rho_known = _gmm_sandwich(G[:, :-1], W, S, n)
    b = slice(2, 2 + p)
    df = Z.shape[1] - G.shape[1]
    return {"beta": theta[b], "rho": rho, "objective": J, "n_second_stage": n, "converged": converged,
            "cov": cov[b, b], "se": np.sqrt(np.diag(cov)[b]), "se_rho": float(np.sqrt(cov[-1, -1])),
            "se_rho_known": np.sqrt(np.diag(cov_rho_known)[b]), "weight_matrix": W,
            "j_statistic": J, "j_df": df, "j_pvalue": float(chi2.sf(J, df)) if df > 0 else np.nan,
            "vcov": vcov.spec, "n_clusters": len(np.unique(cluster))}

