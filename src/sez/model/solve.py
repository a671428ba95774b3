"""Solving the firm's problem by value function iteration in C++ (docs/model.md).

``solve(params)`` returns a :class:`Solution`: values, policies, zone and exit
choices, payout thresholds, entrants' decisions and convergence facts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from sez import _core
from sez.errors import SolverError
from sez.model.grid import Grid, StateSpace, build_state_space
from sez.model.params import Params
from sez.parallel import thread_count

#: method -> (k' search, default Howard evaluation steps between improvements)
METHODS = {
    "grid": ("grid", 0),  # plain value iteration, k' searched over the whole grid
    # k'(m) searched from the previous cash point's choice up; verified at the end
    # by the exact grid search, which takes over where k'(m) is not monotone
    "monotone": ("monotone", 0),
    "howard": ("grid", 25),  # grid search with Howard policy-evaluation steps
    "continuous": ("continuous", 25),  # k' refined off the grid by Brent's method, Howard steps
}

#: A payout threshold is where Q's slope in cash falls to one; slopes within this
#: of one count as one (docs/model.md: detect by tolerance, not equality).
SLOPE_TOL = 1e-6


@dataclass(frozen=True)
class Solution:
    """The solved firm problem. State arrays are indexed (zone, type, shock, cash)
    with zone 0 = N and 1 = S; ``cash_grid[t]`` is the cash axis of type ``t``.

    Attributes
    ----------
    V : end-of-period value after the zone choice, ``-inf`` where infeasible.
    Q : value of investing in the zone (before any move), ``-inf`` below its floor.
    zone : zone chosen at the end of the period by a firm in zone r (int8).
    k_policy, b_policy, D_policy : capital, debt and dividend of a firm investing
        in zone r at that cash, after the payout rule (cash above ``mbar`` is paid out).
    mbar : (2, T, S) payout threshold (NaN where Q never reaches slope one on the grid).
    m_next : (2, T, S, M, S') next-period cash after the operating cost.
    liquidation_value : (2, T, S, M) X = ell (1 - delta) k' - b'.
    exits : (2, T, S, M, S') True where the surviving firm chooses to exit.
    entry_zone : (T, S, M) zone a potential entrant with that initial cash enters
        (-1: stays out); entry_gain is the best Q_r - ce_r less the outside option.
    """

    params: Params
    grid: Grid
    space: StateSpace = field(repr=False)
    V: np.ndarray = field(repr=False)
    Q: np.ndarray = field(repr=False)
    zone: np.ndarray = field(repr=False)
    k_policy: np.ndarray = field(repr=False)
    b_policy: np.ndarray = field(repr=False)
    D_policy: np.ndarray = field(repr=False)
    k_search: np.ndarray = field(repr=False)
    mbar: np.ndarray = field(repr=False)
    m_next: np.ndarray = field(repr=False)
    liquidation_value: np.ndarray = field(repr=False)
    exits: np.ndarray = field(repr=False)
    entry_zone: np.ndarray = field(repr=False)
    entry_gain: np.ndarray = field(repr=False)
    method: str
    iterations: int
    converged: bool
    monotone_failed: bool
    history: np.ndarray = field(repr=False)
    seconds: float
    threads: int

    # Named views of the (zone, ...) arrays.
    V_N = property(lambda self: self.V[0])
    V_S = property(lambda self: self.V[1])
    Q_N = property(lambda self: self.Q[0])
    Q_S = property(lambda self: self.Q[1])

    @property
    def cash_grid(self) -> np.ndarray:
        """The cash grid of the state space."""
        return self.space.cash

    @property
    def capital_grid(self) -> np.ndarray:
        """The capital grid of the state space."""
        return self.space.capital

    @property
    def khat(self) -> np.ndarray:
        """(2, T, S) unconstrained capital from the first-order condition."""
        return self.space.khat

    def policy(self) -> _core.Policy:
        """The decisions as the distribution and simulation kernels read them (arrays copied)."""
        move = (self.zone != np.arange(2)[:, None, None, None]).astype(np.int8)
        return _core.Policy(V=self.V, Q=self.Q, k=self.k_policy, mbar=self.mbar, move=move, m_next=self.m_next,
                            exits=self.exits.astype(np.int8))

    def constrained(self) -> np.ndarray:
        """(2, T, S, M) True where a firm investing in zone r is financially
        constrained (cash below its payout threshold).
        """
        m = self.space.cash[None, :, None, :]
        thresh = np.where(np.isnan(self.mbar), np.inf, self.mbar)[..., None]
        return np.isfinite(self.Q) & (m < thresh)

    def collateral_binds(self) -> np.ndarray:
        """(2, T, S, M) True where k' = Kbar(m): the collateral constraint binds."""
        out = np.zeros(self.Q.shape, dtype=bool)
        for r in (0, 1):
            slack = self.params.collateral_slack(r)
            if slack <= 0:
                continue
            xbar = self.params.zone(r)["xbar"]
            kbar = (self.space.cash[:, None, :] - xbar) / slack
            out[r] = np.isfinite(self.Q[r]) & np.isclose(self.k_search[r], kbar, rtol=1e-12, atol=0)
        return out

    def summary(self) -> str:
        """A short text summary: payout thresholds, zone choices, entry, convergence."""
        lines = [
            f"sez model solution: method={self.method}, {self.iterations} Bellman applications, "
            f"residual {self.history[-1]:.2e}, {self.seconds:.3f} s on {self.threads} thread(s)",
            f"grid: {self.grid.n_types} types x {self.grid.n_shocks} shocks x {self.grid.n_cash} cash points, "
            f"{self.grid.n_capital} capital points",
            "",
            f"{'zone at end of period':<24}{'feasible':>10}{'-> SEZ':>10}{'constrained':>13}"
            f"{'mbar/Khat: min':>16}{'median':>9}{'max':>9}",
        ]
        feasible = np.isfinite(self.V)
        constrained = self.constrained()
        for r, name in ((0, "non-SEZ (N)"), (1, "SEZ (S)")):
            f = feasible[r]
            ratio = self.mbar[r] / self.khat[r]
            lines.append(
                f"{name:<24}{f.mean():>10.1%}{(self.zone[r][f] == 1).mean():>10.1%}"
                f"{constrained[r][f].mean():>13.1%}{np.nanmin(ratio):>16.4f}{np.nanmedian(ratio):>9.4f}"
                f"{np.nanmax(ratio):>9.4f}"
            )
        p = self.params
        lines += [
            "",
            f"SEZ eligibility floor xbar_S = {p.xbar_S:g}; lowest cash choosing the SEZ: "
            + ", ".join(f"{'NS'[r]} {_lowest(self.cash_grid, self.zone[r] == 1):.4g}" for r in (0, 1)),
            f"potential entrants by state: {np.mean(self.entry_zone == 0):.1%} enter N, "
            f"{np.mean(self.entry_zone == 1):.1%} enter S, {np.mean(self.entry_zone == -1):.1%} stay out",
        ]
        return "\n".join(lines)


def _lowest(cash, mask):
    """Lowest cash node where mask holds, over all types and shocks (nan if none)."""
    m = np.broadcast_to(cash[:, None, :], mask.shape)
    return float(m[mask].min()) if mask.any() else float("nan")


def payout_thresholds(Q: np.ndarray, cash: np.ndarray, slope_tol: float = SLOPE_TOL) -> np.ndarray:
    """(2, T, S) smallest cash node from which Q's slope stays within slope_tol of one."""
    out = np.full(Q.shape[:3], np.nan)
    dm = np.diff(cash, axis=1)  # (T, M-1)
    with np.errstate(invalid="ignore"):
        slope = np.diff(Q, axis=-1) / dm[None, :, None, :]
    above = ~(slope <= 1.0 + slope_tol)  # NaN (infeasible) counts as above
    for idx in np.ndindex(*Q.shape[:3]):
        bad = np.flatnonzero(above[idx])
        first = 0 if len(bad) == 0 else bad[-1] + 1
        if first < Q.shape[-1] - 1 and np.isfinite(Q[idx][first]):
            out[idx] = cash[idx[1], first]
    return out


def solve(
    params: Params,
    grid: Grid | None = None,
    method: str = "howard",
    howard_steps: int | None = None,
    tol: float = 1e-7,
    max_iter: int = 5000,
    threads: int | None = None,
) -> Solution:
    """Solve the firm's problem by value function iteration.

    Parameters
    ----------
    params : model parameters.
    grid : discretisation; ``Grid()`` (docs/model.md defaults) if None.
    method : "grid" (plain VFI, k' on the grid), "monotone" (plain VFI searching
        k' from the previous cash point's choice upward), "howard" (grid search
        with Howard policy-evaluation steps) or "continuous" (k' refined off the
        grid by Brent's method, with Howard steps).
    howard_steps : evaluation steps between improvements (default by method).
    tol : stop when the Bellman residual sup|TV - V| falls below it.
    threads : OpenMP threads (None: OpenMP's default). Results do not depend on it.

    Raises
    ------
    SolverError : no convergence within max_iter, or a capital policy at the top
        of the capital grid (raise ``Grid.capital_high``; see docs/model.md defect 1).
    """
    if method not in METHODS:
        raise ValueError(f"method = {method!r}: use one of {sorted(METHODS)}")
    search, default_steps = METHODS[method]
    steps = default_steps if howard_steps is None else int(howard_steps)
    if steps < 0:
        raise ValueError(f"howard_steps = {howard_steps}: must be >= 0")
    if not (tol > 0 and np.isfinite(tol)):
        raise ValueError(f"tol = {tol}: must be positive and finite")
    grid = Grid() if grid is None else grid
    nthreads = thread_count(threads, "solve")
    space = build_state_space(params, grid)

    start = time.perf_counter()
    V0 = initial_values(space)
    out = _core.bellman_solve(space.problem, V0, search=search, howard=steps, tol=tol, max_iter=max_iter,
                              threads=nthreads)
    history = np.asarray(out["history"])
    if not out["converged"]:
        raise SolverError(
            f"value iteration did not converge in {max_iter} Bellman applications "
            f"(residual {history[-1]:.3e} > tol {tol:.1e}); raise max_iter or use method='howard'"
        )
    V, Q, k_search, move = out["V"], out["Q"], out["k"], out["move"]
    _check_capital_top(k_search, space, Q)

    mbar = payout_thresholds(Q, space.cash)
    k_pol, b_pol, D_pol = apply_payout_rule(params, space, Q, k_search, mbar)
    nxt = _core.bellman_next_period(space.problem, V, k_pol, b_pol, threads=nthreads)
    seconds = time.perf_counter() - start

    zone = np.where(move == 1, 1 - np.arange(2)[:, None, None, None], np.arange(2)[:, None, None, None])
    entry_zone, entry_gain = entrant_decisions(params, space, Q)
    return Solution(
        params=params, grid=grid, space=space, V=V, Q=Q, zone=zone.astype(np.int8), k_policy=k_pol,
        b_policy=b_pol, D_policy=D_pol, k_search=k_search, mbar=mbar, m_next=nxt["m_next"],
        liquidation_value=nxt["X"], exits=nxt["exit"].astype(bool), entry_zone=entry_zone, entry_gain=entry_gain,
        method=method, iterations=int(out["iterations"]), converged=True,
        monotone_failed=bool(out["monotone_failed"]), history=history, seconds=seconds,
        threads=nthreads or _core.max_threads(),
    )


def initial_values(space: StateSpace) -> np.ndarray:
    """V0 = m where the zone's value exists, -inf below its floor (docs/model.md)."""
    m = np.broadcast_to(space.cash[None, :, None, :], (2, *space.cash.shape[:1], space.zfac.shape[1],
                                                        space.cash.shape[1]))
    return np.where(m >= space.floors[:, None, None, None], m, -np.inf).copy()


def apply_payout_rule(params, space, Q, k_search, mbar):
    """Khan & Thomas (2013): above mbar a firm acts as at mbar and pays out the excess."""
    k = k_search.copy()
    m = np.broadcast_to(space.cash[None, :, None, :], Q.shape)
    xbar = np.array([params.xbar_N, params.xbar_S])[:, None, None, None]
    tau = np.array([params.tau_N, params.tau_S])[:, None, None, None]
    m_eff = m.copy()
    for idx in zip(*np.nonzero(np.isfinite(mbar))):
        r, t, s = idx
        i_star = np.searchsorted(space.cash[t], mbar[idx])
        k[r, t, s, i_star:] = k_search[r, t, s, i_star]
        m_eff[r, t, s, i_star:] = space.cash[t, i_star]
    b = ((1 - tau) * k + xbar - m_eff) / params.q
    D = np.broadcast_to(xbar, Q.shape) + (m - m_eff)
    infeasible = ~np.isfinite(Q)
    for a in (k, b, D):
        a[infeasible] = np.nan
    return k, b, D


def entrant_decisions(params: Params, space: StateSpace, Q: np.ndarray):
    """Entry decision of a potential entrant holding initial cash m0 at each cash node:
    zone (T, S, M) entered (-1: stays out) and the gain over the outside option.
    """
    m = np.broadcast_to(space.cash[:, None, :], Q.shape[1:])
    return entry_choice(params, Q, m), entry_gain(params, Q, m)


def entry_gain(params: Params, Q_at_m0: np.ndarray, m0: np.ndarray) -> np.ndarray:
    """max_r Q_r(m0) - ce_r less the outside option (m0, or 0 under the paper's eq. 6)."""
    ce = np.array([params.ce_N, params.ce_S]).reshape((2,) + (1,) * (Q_at_m0.ndim - 1))
    outside = m0 if params.entry_outside_option == "cash" else 0.0
    return (Q_at_m0 - ce).max(axis=0) - outside


def entry_choice(params: Params, Q_at_m0: np.ndarray, m0: np.ndarray) -> np.ndarray:
    """Zone a potential entrant with initial cash m0 enters: the zone maximising
    Q_r(m0) - ce_r (ties: N) when that is at least the outside option; -1 otherwise.
    """
    ce = np.array([params.ce_N, params.ce_S]).reshape((2,) + (1,) * (Q_at_m0.ndim - 1))
    net = Q_at_m0 - ce
    best = np.where(net[1] > net[0], 1, 0)
    return np.where(entry_gain(params, Q_at_m0, m0) >= 0, best, -1).astype(np.int8)


def value_at(cash: np.ndarray, values: np.ndarray, floor: float, x: np.ndarray) -> np.ndarray:
    """A value column at arbitrary cash, exactly as the kernels read it: -inf below
    the floor (a node), linear between nodes, slope one above the top node.
    """
    return _core.value_at(cash, values, float(floor), np.asarray(x, dtype=float))


def _check_capital_top(k_search, space, Q):
    top = space.capital[:, -1][None, :, None, None]
    hit = np.isfinite(Q) & (k_search >= top * (1 - 1e-12))
    if hit.any():
        r, t, s, i = (int(x[0]) for x in np.nonzero(hit))
        raise SolverError(
            f"the capital policy reaches the top of the capital grid ({space.capital[t, -1]:.4g}) in zone "
            f"{'NS'[r]}, type {t}, shock {s}, cash {space.cash[t, i]:.4g} ({int(hit.sum())} states): capital is "
            f"not bounded by the constraints (docs/model.md defects 1, 4) or the grid is too small; raise "
            f"Grid.capital_high"
        )
