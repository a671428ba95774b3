"""Type stubs of the compiled kernels (sez._core). Arrays are float64, C-ordered."""

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

have_openmp: bool

def max_threads() -> int: ...
def set_max_threads(threads: int) -> None: ...
def value_at(
    cash: NDArray[np.float64], values: NDArray[np.float64], floor: float, x: NDArray[np.float64],
) -> NDArray[np.float64]: ...
class ZoneRules:
    """The rules of one zone; fields are read-write."""

    tau: float
    theta: float
    xi: float
    xbar: float
    ell: float
    move_cost: float
    may_move: bool
    lo: float
    entry_cost: float
    def __init__(
        self, *, tau: float, theta: float, xi: float, xbar: float, ell: float, move_cost: float, may_move: bool,
        lo: float, entry_cost: float,
    ) -> None: ...

class Problem:
    """The firm's problem (arrays copied in; attributes read-only, arrays returned as copies)."""

    n_types: int
    n_shocks: int
    n_cash: int
    n_capital: int
    cash: NDArray[np.float64]  # (T, M)
    capital: NDArray[np.float64]  # (T, K)
    zfac: NDArray[np.float64]  # (T, S)
    P: NDArray[np.float64]  # (S, S)
    zones: tuple[ZoneRules, ZoneRules]  # (N, S), copies
    beta: float
    q: float
    delta: float
    lam: float
    k_exponent: float
    z: NDArray[np.float64]  # (T, S)
    eta: float
    w: float
    type_cdf: NDArray[np.float64]  # (T,)
    shock_cdf: NDArray[np.float64]  # (S,)
    m0_log_mean: float
    m0_log_sd: float
    outside_is_cash: bool
    def __init__(
        self, *, cash: NDArray[np.float64], capital: NDArray[np.float64], zfac: NDArray[np.float64],
        P: NDArray[np.float64], zones: Sequence[ZoneRules], beta: float, q: float, delta: float, lam: float,
        k_exponent: float, z: NDArray[np.float64], eta: float, w: float, type_cdf: NDArray[np.float64],
        shock_cdf: NDArray[np.float64], m0_log_mean: float, m0_log_sd: float, outside_is_cash: bool,
    ) -> None: ...

class Policy:
    """Solved decisions (arrays copied in; attributes read-only, arrays returned as copies)."""

    V: NDArray[np.float64]  # (2, T, S, M)
    Q: NDArray[np.float64]  # (2, T, S, M)
    k: NDArray[np.float64]  # (2, T, S, M)
    mbar: NDArray[np.float64]  # (2, T, S)
    move: NDArray[np.int8]  # (2, T, S, M)
    m_next: NDArray[np.float64]  # (2, T, S, M, S)
    exits: NDArray[np.int8]  # (2, T, S, M, S)
    def __init__(
        self, *, V: NDArray[np.float64], Q: NDArray[np.float64], k: NDArray[np.float64], mbar: NDArray[np.float64],
        move: NDArray[np.int8], m_next: NDArray[np.float64], exits: NDArray[np.int8],
    ) -> None: ...

class PanelSettings:
    """One simulation run (attributes read-only)."""

    init_cdf: NDArray[np.float64]  # (2 T S M,)
    n_init: int
    potential_per_year: float
    years: int
    record_from: int
    seed: int
    def __init__(
        self, *, init_cdf: NDArray[np.float64], n_init: int, potential_per_year: float, years: int, record_from: int,
        seed: int,
    ) -> None: ...

def bellman_apply(problem: Problem, V: NDArray[np.float64], search: str = "grid", threads: int = 0) -> dict: ...
def bellman_solve(
    problem: Problem, V0: NDArray[np.float64], search: str = "grid", howard: int = 0, tol: float = 1e-8,
    max_iter: int = 2000, threads: int = 0,
) -> dict: ...
def bellman_next_period(
    problem: Problem, V: NDArray[np.float64], k: NDArray[np.float64], b: NDArray[np.float64], threads: int = 0,
) -> dict: ...
def stationary_distribution(
    problem: Problem, policy: Policy, entrants: NDArray[np.float64], mu0: NDArray[np.float64], tol: float = 1e-13,
    max_iter: int = 20000, threads: int = 0,
) -> dict: ...
def push_forward(
    problem: Problem, policy: Policy, entrants: NDArray[np.float64], mu: NDArray[np.float64], threads: int = 0,
) -> dict: ...
def simulate_panel(problem: Problem, policy: Policy, settings: PanelSettings, threads: int = 0) -> dict: ...
def growth_solve(
    k_grid: NDArray[np.float64], z: NDArray[np.float64], P: NDArray[np.float64], alpha: float, beta: float,
    method: str = "howard", howard_steps: int = 20, tol: float = 1e-7, max_iter: int = 5000, threads: int = 0,
) -> dict: ...
def ks_sorted(a: NDArray[np.float64], b: NDArray[np.float64]) -> dict: ...
def ks_gather_groups(
    values: NDArray[np.float64], group: NDArray[np.int64], n_groups: int,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]: ...
def ks_batch(
    sorted: NDArray[np.float64], offsets: NDArray[np.int64], first: NDArray[np.int64], second: NDArray[np.int64],
    threads: int = 0,
) -> dict: ...
def ks_exact_pvalue(m: int, n: int, h: int, alternative: str = "two-sided") -> float: ...
