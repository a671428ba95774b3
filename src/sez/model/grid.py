"""The discrete state space: types, shocks, per-type cash and capital grids.

Grids scale with each type's largest unconstrained capital ``Khat`` (types span
two orders of magnitude of scale). Cash grids hold the zone floors and the
points where a zone's value starts to exist as nodes, then are geometric up to
a multiple of ``Khat``, dense near the floor where tiny firms grow fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sez import _core
from sez.errors import GridError
from sez.limits import check_size
from sez.model.discretise import MarkovChain, pareto_types, rouwenhorst, tauchen
from sez.model.params import Params

#: Default type bins: finer in the upper tail, with an edge at the 95th
#: percentile so that the top 5% of firms are separable.
DEFAULT_TYPE_EDGES = (0.0, 0.2, 0.4, 0.55, 0.7, 0.8, 0.88, 0.95, 0.98, 0.995, 1.0)

# Costs behind Grid.estimate, measured on one thread of a 2-core x86-64 machine (solve and stationary
# distribution of the paper's parameters, n_cash from 120 to 16,000).
#: Doubles a solved grid holds per state (zone, type, shock, cash), plus this many per state and next
#: shock: the solver's values and policies, the payout rule, next-period cash, the kernels' copy of the
#: policy and the stationary distribution (measured peak: 323 bytes per state with 5 shocks).
DOUBLES_PER_STATE, DOUBLES_PER_STATE_AND_SHOCK = 20, 4
#: Seconds per step of the capital search in a Bellman application, one step per zone, type, shock, next
#: shock, cash and capital node (measured 0.65-0.7 ns).
SECONDS_PER_SEARCH_STEP = 0.7e-9
#: Bellman applications of a solve by the default method (howard): 10 on the default grid and on twice it.
SOLVE_APPLICATIONS = 10
#: Seconds per state and next shock of the rest of a solve and of the stationary distribution (Howard
#: steps, next-period cash, the distribution's iterations; measured 2.5-2.9 microseconds).
SECONDS_PER_STATE_AND_SHOCK = 3e-6


@dataclass(frozen=True)
class Grid:
    """Sizes and bounds of the discretisation (docs/model.md, "Defaults").

    Bounds are multiples of the type's largest unconstrained capital Khat.
    """

    n_cash: int = 120
    n_capital: int = 200
    n_shocks: int = 5
    shock_method: str = "rouwenhorst"
    type_edges: tuple = DEFAULT_TYPE_EDGES
    cash_low: float = 1e-6
    cash_high: float = 2.0
    capital_low: float = 1e-7
    capital_high: float = 4.0
    #: Solve a grid above the memory or time limits of ``sez.limits`` (a [grid] key in a configuration).
    allow_large: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self):
        for name, least in (("n_cash", 8), ("n_capital", 4), ("n_shocks", 1)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < least:
                raise GridError(f"{name} must be an integer >= {least}, got {v!r}")
        if self.n_shocks > 64:
            raise GridError(f"n_shocks = {self.n_shocks}: at most 64 shock states are supported")
        if self.shock_method not in ("rouwenhorst", "tauchen"):
            raise GridError(f"shock_method = {self.shock_method!r}: use 'rouwenhorst' or 'tauchen'")
        for lo, hi in (("cash_low", "cash_high"), ("capital_low", "capital_high")):
            a, b = getattr(self, lo), getattr(self, hi)
            if not (np.isfinite(a) and np.isfinite(b) and 0 < a < b):
                raise GridError(f"need 0 < {lo} < {hi}, got {lo} = {a}, {hi} = {b}")
        e = np.asarray(self.type_edges, dtype=float)
        if e.ndim != 1 or len(e) < 2 or e[0] != 0 or e[-1] != 1 or np.any(np.diff(e) <= 0):
            raise GridError(f"type_edges must rise strictly from 0 to 1, got {self.type_edges!r}")
        states, n_bytes, seconds = self.estimate()
        check_size(f"Grid(n_cash={self.n_cash}, n_capital={self.n_capital}, n_shocks={self.n_shocks}, "
                   f"{self.n_types} types)", states, "states", n_bytes, seconds, allow_large=self.allow_large,
                   override="Grid(..., allow_large=True) ([grid] allow_large = true in a configuration file)")

    def estimate(self) -> tuple[int, float, float]:
        """(states, bytes, seconds on one thread) of solving this grid with the default method and finding
        its stationary distribution, from the sizes alone (the measured costs above).
        """
        states = 2 * self.n_types * self.n_shocks * self.n_cash
        per_state = DOUBLES_PER_STATE + DOUBLES_PER_STATE_AND_SHOCK * self.n_shocks
        grids = self.n_types * (2 * self.n_cash + 3 * self.n_capital)  # cash, capital and their kernel copies
        n_bytes = 8.0 * (states * per_state + grids)
        search = SOLVE_APPLICATIONS * SECONDS_PER_SEARCH_STEP * states * self.n_shocks * self.n_capital
        return states, n_bytes, search + SECONDS_PER_STATE_AND_SHOCK * states * self.n_shocks

    @property
    def n_types(self) -> int:
        """Number of firm types (the intervals between ``type_edges``)."""
        return len(self.type_edges) - 1


@dataclass(frozen=True)
class StateSpace:
    """Numbers the kernels need, built from (Params, Grid).

    Arrays over states are ordered (zone, type, shock, cash) or a prefix of it.
    ``problem`` is the same problem as the kernels' struct (``sez._core.Problem``:
    grids, shock transition, zone rules, scalars and the entrants' law), built
    once here and passed to every kernel.
    """

    types: np.ndarray  # A nodes (T,)
    type_mass: np.ndarray  # (T,)
    shocks: MarkovChain  # values are v in levels (S,)
    zfac: np.ndarray  # (T, S): operating profit pi(k, z) = zfac * k**k_exponent
    k_exponent: float
    khat: np.ndarray  # (2, T, S) unconstrained capital by zone
    cash: np.ndarray  # (T, M)
    capital: np.ndarray  # (T, K)
    floors: np.ndarray  # (2,) lowest cash at which V_r is finite
    problem: _core.Problem

    def kernel_args(self) -> tuple:
        """The kernels' leading arguments: ``(problem,)``."""
        return (self.problem,)


def profit_terms(params: Params) -> tuple[float, float, float]:
    """(scale, z power, k power) of operating profit with labour chosen optimally:
    pi(k, z) = scale * z**z_power * k**k_power (docs/model.md, static choices).
    """
    eta = params.gamma * (1.0 - params.alpha)
    nu = params.alpha * params.gamma
    scale = (1.0 - eta) * (eta / params.w) ** (eta / (1.0 - eta))
    return scale, 1.0 / (1.0 - eta), nu / (1.0 - eta)


def required_marginal_profit(params: Params, r: int) -> float:
    """E[pi_k] at the unconstrained capital of zone r: the first-order condition of
    a firm that never exits by choice, with exogenous death lam and liquidation
    X = ell (1 - delta) k - b (docs/model.md; (1/beta - 1 + delta)/(1 - lam) when taxed).
    """
    tau = params.zone(r)["tau"]
    ell = params.liquidation_factor(r)
    lam, d = params.lam, params.delta
    return ((1 - tau) / params.q - lam * ell * (1 - d)) / ((1 - lam) * (1 - tau)) - (1 - d)


def build_state_space(params: Params, grid: Grid) -> StateSpace:
    """The discretised problem of ``params`` on ``grid``: shocks, cash and capital grids, the kernels' Problem."""
    if grid.shock_method == "rouwenhorst":
        chain = rouwenhorst(grid.n_shocks, params.rho, params.sigma)
    else:
        chain = tauchen(grid.n_shocks, params.rho, params.sigma)
    shocks = MarkovChain(np.exp(chain.values), chain.P)
    scale, z_power, k_power = profit_terms(params)
    A, mass = pareto_types(params.mu, 1.0 / (1.0 - params.gamma), grid.type_edges)
    zfac = scale * np.outer(A, shocks.values) ** z_power
    Ez = zfac @ shocks.P.T  # (T, S): E[zfac(t, s') | s]
    khat = np.empty((2, len(A), grid.n_shocks))
    for r in (0, 1):
        kappa = required_marginal_profit(params, r)
        if not kappa > 0:
            raise GridError(f"the unconstrained first-order condition has no solution in zone {'NS'[r]}")
        khat[r] = (k_power * Ez / kappa) ** (1.0 / (1.0 - k_power))
    kmax = khat.max(axis=(0, 2))

    xbar = np.array([params.xbar_N, params.xbar_S])
    move_cost = np.array([params.cm, params.cm_out])
    may_move = np.array([True, params.sez_exit_to_nsez])
    floors = np.array([
        min(xbar[r], xbar[1 - r] + move_cost[r]) if may_move[r] else xbar[r] for r in (0, 1)
    ])
    # Cash levels where a value jumps from -inf to finite must be nodes.
    special = {0.0, *xbar.tolist(), *floors.tolist()}
    special |= {xbar[1 - r] + move_cost[r] for r in (0, 1) if may_move[r]}
    special = np.array(sorted(special))
    n_geom = grid.n_cash - len(special)
    cash = np.empty((len(A), grid.n_cash))
    capital = np.empty((len(A), grid.n_capital))
    for t, km in enumerate(kmax):
        nodes = np.union1d(special, np.geomspace(grid.cash_low * km, grid.cash_high * km, n_geom))
        if len(nodes) != grid.n_cash or special[-1] >= nodes[-1]:
            raise GridError(
                f"cash grid of type {t}: the floors and moving costs {special.tolist()} collide with or exceed "
                f"the geometric nodes up to cash_high * Khat = {grid.cash_high * km:.4g}; change n_cash or cash_high"
            )
        cash[t] = nodes
        capital[t, 0] = 0.0
        capital[t, 1:] = np.geomspace(grid.capital_low * km, grid.capital_high * km, grid.n_capital - 1)

    zones = []
    for r in (0, 1):
        z = params.zone(r)
        zones.append(_core.ZoneRules(
            tau=z["tau"], theta=z["theta"], xi=z["xi"], xbar=z["xbar"], ell=params.liquidation_factor(r),
            move_cost=move_cost[r], may_move=bool(may_move[r]), lo=floors[r], entry_cost=(params.ce_N, params.ce_S)[r],
        ))
    problem = _core.Problem(
        cash=cash, capital=capital, zfac=zfac, P=shocks.P, zones=zones, beta=params.beta, q=params.q,
        delta=params.delta, lam=params.lam, k_exponent=k_power, z=np.outer(A, shocks.values),
        eta=params.gamma * (1 - params.alpha), w=params.w, type_cdf=np.cumsum(mass),
        shock_cdf=np.cumsum(shocks.stationary()), m0_log_mean=params.m0_log_mean, m0_log_sd=params.m0_log_sd,
        outside_is_cash=params.entry_outside_option == "cash",
    )
    return StateSpace(A, mass, shocks, zfac, k_power, khat, cash, capital, floors, problem)
