"""Bounds, the simulation noise of the moments, efficient weights and the precision they allow."""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import pandas as pd

from sez import moments as mom
from sez.model import Params, simulate, solve, stationary
from sez.parallel import SerialExecutor
from sez.smm.grid import ModelSpec, _seed_int, evaluate_grid, moments_at_point
from sez.smm.results import ROUGHNESS_RADIUS


def default_bounds(params: Params, name: str) -> tuple[float, float]:
    """Bounds a search may use for a free parameter. Collateral stays below the
    point where Kbar becomes infinite (q theta < 1 - tau), where the objective
    is discontinuous (docs/model.md, calibration).
    """
    value = getattr(params, name)
    if name.startswith("theta_"):
        tau = getattr(params, "tau_" + name[-1])
        return 0.0, 0.999 * (1 - tau) / params.q
    if name in ("lam",):
        return 0.005, 0.3
    if name == "m0_log_mean":
        return value - 3.0, value + 3.0
    if name == "m0_log_sd":
        return 0.1, 3.0
    if name == "Me":  # a positive scale: Me = 0 has no firms
        return value / 5.0, 5.0 * value
    hi = 5.0 * value if value > 0 else 0.5
    return 0.0, hi


def _moments_by_seed(params: Params, spec: ModelSpec, seeds: Sequence[int]) -> pd.DataFrame:
    """Moments of one solution simulated with several seeds (one row per seed)."""
    sol = solve(params, spec.grid, method=spec.method)
    dist = stationary(sol)
    rows = [mom.compute(simulate(sol, n_firms=spec.n_firms, years=spec.years, burn_in=spec.burn_in, seed=int(s),
                                 distribution=dist), spec.moments) for s in seeds]
    return pd.DataFrame(rows, index=list(seeds))


def simulation_noise(
    params: Params,
    free: Sequence[str],
    spec: ModelSpec = ModelSpec(),
    bounds: dict | None = None,
    seed: int = 0,
    draws: int = 8,
    executor=None,
) -> pd.DataFrame:
    """How noisy the simulated moments are at ``params``, in two parts (s.d. by moment).

    ``monte_carlo``: the s.d. over ``draws`` panels simulated with other seeds (the
    sampling noise of a panel of ``spec.n_firms`` firms). ``roughness``: the s.d. of
    the residuals of a linear fit to the moments at ``3 p + 3`` points drawn within
    ``ROUGHNESS_RADIUS`` of each free parameter's span, all simulated with ``seed``:
    the steps that common random numbers leave (firms crossing thresholds, payout
    thresholds and zone switches moving node by node on the cash grid).
    ``total`` combines both. ``attrs["covariance"]`` is diagonal with ``total``
    squared (the identification diagnostic's noise: a covariance estimated from a
    few panels is singular).
    """
    free = list(free)
    if int(draws) != draws or draws < 2:
        raise ValueError(f"draws = {draws}: need an integer >= 2")
    lo_hi = np.array([(bounds or {}).get(n, default_bounds(params, n)) for n in free], dtype=float)
    x0 = np.array([getattr(params, n) for n in free], dtype=float)
    seeds = [_seed_int(s) for s in np.random.SeedSequence([seed, 1]).spawn(int(draws))]
    mc = _moments_by_seed(params, spec, seeds)
    p = len(free)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    shifts = rng.uniform(-ROUGHNESS_RADIUS, ROUGHNESS_RADIUS, (3 * p + 3, p)) * (lo_hi[:, 1] - lo_hi[:, 0])
    X = np.clip(x0 + shifts, lo_hi[:, 0], lo_hi[:, 1])
    grid = evaluate_grid([dict(zip(free, map(float, x))) for x in X],
                         functools.partial(moments_at_point, base=params, spec=spec, fixed_seed=seed),
                         executor=executor or SerialExecutor(), seed=seed, progress=False)
    names = list(mc.columns)
    ok = grid["error"].isna().to_numpy()
    Y = grid.loc[ok, names].astype(float).to_numpy()
    D = np.column_stack([np.ones(ok.sum()), X[ok] - x0])
    if ok.sum() <= D.shape[1]:
        raise RuntimeError(f"the model fails at {int((~ok).sum())} of {len(X)} points near {dict(zip(free, x0))}")
    rough = np.full(len(names), np.inf)  # a moment undefined at too many nearby points: no information
    for j in range(len(names)):
        fine = np.isfinite(Y[:, j])
        if fine.sum() > D.shape[1]:
            coef, *_ = np.linalg.lstsq(D[fine], Y[fine, j], rcond=None)
            rough[j] = np.sqrt(((Y[fine, j] - D[fine] @ coef) ** 2).sum() / (fine.sum() - D.shape[1]))
    return noise_table(mc.std(ddof=1), pd.Series(rough, index=names), len(X) + 1)


def noise_table(monte_carlo: pd.Series, roughness: pd.Series, evaluations: int) -> pd.DataFrame:
    """``simulation_noise``'s table from its two parts (s.d. by moment) and the model evaluations they took."""
    out = pd.DataFrame({"monte_carlo": monte_carlo, "roughness": roughness})
    out["total"] = np.hypot(out["monte_carlo"], out["roughness"])
    # diagonal: a covariance from a few panels has rank draws - 1 and would overstate
    # what the moments pin down along the directions it misses
    names = list(out.index)
    out.attrs["covariance"] = pd.DataFrame(np.diag(out["total"].to_numpy() ** 2), index=names, columns=names)
    out.attrs["evaluations"] = int(evaluations)
    return out


def _noise_weights(noise: pd.DataFrame, data: pd.Series) -> np.ndarray:
    """Diagonal weights: the inverse variance of each moment's simulation noise."""
    sd = noise["total"].reindex(data.index).to_numpy()
    return np.diag(1.0 / np.maximum(sd, 1e-6 * np.maximum(np.abs(data.to_numpy()), 1e-3)) ** 2)


def _precision(jac, sigma, theta, span) -> np.ndarray:
    """Relative s.d. to which moments with noise covariance ``sigma`` pin each
    parameter down with efficient weights, sqrt(diag((G' sigma^-1 G + P)^-1)) in
    units of the parameter (of its span where it is 0). P is the precision of a
    uniform law over the bounds (s.d. span / sqrt(12)): the bounds alone bound
    what a direction no moment moves can do, so such a parameter gets about its
    bounds' s.d., and one with a negligible share in that direction keeps the
    moments' precision. Moments whose noise or slope is not finite (e.g. a moment
    undefined at some seed) are left out; a parameter whose slope is unknown on
    both sides gets inf.
    """
    jac = np.asarray(jac, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    theta, span = np.asarray(theta, dtype=float), np.asarray(span, dtype=float)
    scale = np.where(np.abs(theta) > 0, np.abs(theta), span)
    unknown = ~np.isfinite(jac).any(axis=0)
    G = np.where(unknown[None, :], 0.0, jac * scale[None, :])
    rows = np.isfinite(G).all(axis=1) & np.isfinite(sigma).all(axis=1) & np.isfinite(sigma).all(axis=0)
    G, sigma = G[rows], sigma[np.ix_(rows, rows)]
    prior = (np.sqrt(12.0) * scale / span) ** 2  # 1 / (relative s.d. of a uniform law over the bounds)^2
    info = np.diag(prior)
    if rows.any():
        # a moment simulated without noise (e.g. fixed by the externals) still carries a
        # rounding-level noise, so that its inverse variance stays finite
        floor = max(1e-8 * np.abs(np.diag(sigma)).max(), 1e-16)
        info = info + G.T @ np.linalg.solve(sigma + floor * np.eye(len(sigma)), G)
    var = np.diag(np.linalg.inv((info + info.T) / 2))
    return np.where(unknown, np.inf, np.sqrt(np.clip(var, 0.0, None)))
