"""The stationary distribution of firms (histogram method) and entrants' inflow."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from sez import _core
from sez.errors import SolverError
from sez.model.solve import Solution, entry_choice, value_at
from sez.parallel import thread_count


@dataclass(frozen=True)
class Entrants:
    """Potential entrants' inflow among investors, discretised on the cash grid.

    measure : (2, T, S, M) mass of entrants investing in each zone (cash split
        between neighbouring nodes, preserving mean cash).
    potential : mass of potential entrants (Me).
    entered : (2,) mass entering each zone.
    tfp_at_birth : (2,) mean productivity z = A v of entrants by zone at entry.
    """

    measure: np.ndarray = field(repr=False)
    potential: float
    entered: np.ndarray
    tfp_at_birth: np.ndarray
    z_mass: np.ndarray = field(repr=False)  # (2, T, S) entering mass by type and shock


def entrants(solution: Solution, n_draws: int = 4000) -> Entrants:
    """Entrants' flow: type ~ Pareto nodes, shock ~ ergodic law, initial cash m0 on
    n_draws equal-probability quantiles of its log-normal law; each enters the zone
    that maximises Q_r(m0) - ce_r if that beats the outside option (docs/model.md).
    """
    if int(n_draws) != n_draws or n_draws < 10:
        raise ValueError(f"n_draws = {n_draws}: need an integer >= 10")
    p, space = solution.params, solution.space
    u = (np.arange(n_draws) + 0.5) / n_draws
    m0 = np.exp(p.m0_log_mean + p.m0_log_sd * ndtri(u))
    erg = space.shocks.stationary()
    T, M = space.cash.shape
    S = len(erg)
    measure = np.zeros((2, T, S, M))
    z_mass = np.zeros((2, T, S))
    xbar = (p.xbar_N, p.xbar_S)
    for t in range(T):
        cash = space.cash[t]
        node = np.clip(np.searchsorted(cash, m0, side="right") - 1, 0, M - 2)
        upper = np.clip((m0 - cash[node]) / (cash[node + 1] - cash[node]), 0.0, 1.0)
        for s in range(S):
            Q_at = np.stack([value_at(cash, solution.Q[r, t, s], xbar[r], m0) for r in (0, 1)])
            zone = entry_choice(p, Q_at, m0)
            w = p.Me * space.type_mass[t] * erg[s] / n_draws
            for r in (0, 1):
                enter = zone == r
                np.add.at(measure[r, t, s], node[enter], w * (1 - upper[enter]))
                np.add.at(measure[r, t, s], node[enter] + 1, w * upper[enter])
                z_mass[r, t, s] = w * enter.sum()
    z = np.outer(space.types, space.shocks.values)
    entered = z_mass.sum(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        tfp = (z_mass * z[None]).sum(axis=(1, 2)) / entered
    return Entrants(measure, p.Me, entered, tfp, z_mass)


@dataclass(frozen=True)
class Distribution:
    """The stationary measure of firms.

    mu : (2, T, S, M) firms after production, by the zone they produced in.
    nu : (2, T, S, M) investors: the same firms after the zone choice, plus entrants.
    inflow, outflow : entrants' mass and exits' mass per period (equal at the fixed point).
    clipped_share : share of transitions whose cash ran past the top of the grid
        (put on the top node); should be ~0.
    """

    solution: Solution = field(repr=False)
    entrants: Entrants = field(repr=False)
    mu: np.ndarray = field(repr=False)
    nu: np.ndarray = field(repr=False)
    mass: float
    inflow: float
    outflow: float
    iterations: int
    converged: bool
    history: np.ndarray = field(repr=False)
    clipped_share: float

    def exit_probability(self) -> np.ndarray:
        """(2, T, S, M) probability an investor exits next period (death or choice)."""
        return exit_probability(self.solution)


def exit_probability(sol: Solution) -> np.ndarray:
    """(2, T, S, M) probability that an investor exits next period: exogenous death
    or, surviving it, exit by choice after the next shock.
    """
    lam = sol.params.lam
    choose = np.einsum("rtsmj,sj->rtsm", sol.exits.astype(float), sol.space.shocks.P)
    return lam + (1 - lam) * choose


def stationary(solution: Solution, tol: float = 1e-13, max_iter: int = 20000, n_draws: int = 4000,
               threads: int | None = None) -> Distribution:
    """The stationary distribution by the histogram method (Young 2010).

    Iterates mu -> nu (zone moves and entry) -> mu' (shocks, death, exit, next
    cash split between neighbouring nodes) from an empty economy until the
    largest change is below ``tol`` times the total mass.

    Raises SolverError if it does not converge (e.g. ``lam = 0`` with firms that
    never exit) or if mass balance fails.
    """
    ent = entrants(solution, n_draws)
    p = solution.params
    nthreads = thread_count(threads, "stationary")
    out = _core.stationary_distribution(
        *dist_args(solution, ent), np.zeros_like(ent.measure), tol=tol, max_iter=max_iter, threads=nthreads
    )
    history = np.asarray(out["history"])
    if not out["converged"]:
        raise SolverError(
            f"the distribution did not converge in {max_iter} periods (relative change {history[-1]:.2e}); "
            f"with lam = {p.lam} firms may never leave"
        )
    mu, nu = out["mu"], out["nu"]
    outflow = float((nu * exit_probability(solution)).sum())
    dist = Distribution(solution, ent, mu, nu, float(mu.sum()), float(ent.entered.sum()), outflow,
                        int(out["iterations"]), True, history, float(out["clipped_share"]))
    if not np.isclose(dist.inflow, outflow, rtol=1e-8, atol=1e-14):
        raise SolverError(f"mass balance fails: inflow {dist.inflow:.10g} != outflow {outflow:.10g}")
    return dist


def dist_args(solution: Solution, ent: Entrants) -> tuple:
    """The distribution kernels' leading arguments: (problem, policy, entrants' measure)."""
    return (solution.space.problem, solution.policy(), ent.measure)
