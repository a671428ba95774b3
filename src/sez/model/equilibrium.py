"""Stationary equilibrium: prices, the solved economy and its aggregates.

Partial equilibrium keeps the wage fixed; general equilibrium lets it clear the
labour market with household utility ``log C - psi N``, so ``w = psi C``, with
``psi`` normalised so that the benchmark clears at its own wage. ``q = beta``
in both (docs/model.md, "Prices").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from sez.errors import SolverError
from sez.model.aggregates import Aggregates, aggregates
from sez.model.distribution import Distribution, stationary
from sez.model.grid import Grid
from sez.model.params import Params
from sez.model.simulate import simulate
from sez.model.solve import Solution, solve

CLOSURES = ("partial", "general")


@dataclass(frozen=True)
class Economy:
    """A solved stationary economy.

    closure : "partial" (fixed wage) or "general" (w = psi C).
    psi : disutility of labour (general equilibrium), so that w = psi C holds.
    wage_iterations, excess : root-finding facts (general equilibrium): function
        evaluations and the final w - psi C.
    panel : a simulated firm panel (None if n_firms = 0).
    """

    params: Params
    closure: str
    psi: float
    solution: Solution = field(repr=False)
    distribution: Distribution = field(repr=False)
    aggregates: Aggregates = field(repr=False)
    panel: pd.DataFrame | None = field(repr=False)
    wage_iterations: int = 0
    excess: float = 0.0

    @property
    def wage(self) -> float:
        """The equilibrium wage (the parameters' ``w``)."""
        return self.params.w


def economy(
    params: Params,
    grid: Grid | None = None,
    closure: str = "partial",
    psi: float | None = None,
    n_firms: int = 20_000,
    years: int = 10,
    burn_in: int = 60,
    seed: int = 0,
    method: str = "howard",
    threads: int | None = None,
    wage_tol: float = 1e-8,
) -> Economy:
    """Solve, find the stationary distribution and (general equilibrium) the wage.

    Parameters
    ----------
    closure : "partial" keeps ``params.w``; "general" finds w with w = psi C.
    psi : labour disutility for general equilibrium; None sets psi = w / C at
        ``params.w`` (the benchmark normalisation: the given economy clears at its wage).
    n_firms, years, burn_in, seed : the simulated panel behind panel statistics
        (within-firm correlations); n_firms = 0 skips it.
    """
    if closure not in CLOSURES:
        raise ValueError(f"closure = {closure!r}: use one of {CLOSURES}")

    def at_wage(w: float):
        p = params.replace(w=float(w))
        sol = solve(p, grid, method=method, threads=threads)
        dist = stationary(sol, threads=threads)
        return p, sol, dist, aggregates(dist)

    iterations, excess = 0, 0.0
    p, sol, dist, agg = at_wage(params.w)
    if closure == "general":
        if psi is None:
            psi = params.w / agg.consumption
        elif not (np.isfinite(psi) and psi > 0):
            raise ValueError(f"psi = {psi}: must be positive")
        cache = {params.w: (p, sol, dist, agg)}

        def gap(w):
            if w not in cache:
                cache[w] = at_wage(w)
            return w - psi * cache[w][3].consumption

        lo = hi = params.w
        g0 = gap(params.w)
        if g0 != 0.0:
            step = 1.25
            for _ in range(30):
                lo, hi = (lo / step, params.w) if g0 > 0 else (params.w, hi * step)
                if np.sign(gap(lo)) != np.sign(gap(hi)):
                    break
            else:
                raise SolverError(f"no wage clears the labour market between {lo:.4g} and {hi:.4g}")
            w_star, res = brentq(gap, lo, hi, xtol=wage_tol, rtol=4 * np.finfo(float).eps, full_output=True)
            p, sol, dist, agg = cache.get(w_star) or at_wage(w_star)
            excess = w_star - psi * agg.consumption
            iterations = len(cache)
    else:
        psi = float("nan") if psi is None else psi
    panel = None
    if n_firms:
        panel = simulate(sol, n_firms=n_firms, years=years, burn_in=burn_in, seed=seed, distribution=dist,
                         threads=threads)
        agg = aggregates(dist, panel)
    return Economy(p, closure, float(psi), sol, dist, agg, panel, iterations, float(excess))
