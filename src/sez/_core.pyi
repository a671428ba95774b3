"""Type stubs of the compiled kernels (sez._core). Arrays are float64, C-ordered."""

import numpy as np
from numpy.typing import NDArray

have_openmp: bool

def max_threads() -> int: ...
def value_at(cash: NDArray[np.float64], values: NDArray[np.float64], floor: float, x: NDArray[np.float64]) -> NDArray[np.float64]: ...
def bellman_apply(
    cash: NDArray[np.float64], capital: NDArray[np.float64], zfac: NDArray[np.float64], P: NDArray[np.float64],
    zones: NDArray[np.float64], scalars: NDArray[np.float64], V: NDArray[np.float64], search: str = "grid",
    threads: int = 0,
) -> dict: ...
def bellman_solve(
    cash: NDArray[np.float64], capital: NDArray[np.float64], zfac: NDArray[np.float64], P: NDArray[np.float64],
    zones: NDArray[np.float64], scalars: NDArray[np.float64], V0: NDArray[np.float64], search: str = "grid",
    howard: int = 0, tol: float = 1e-8, max_iter: int = 2000, threads: int = 0,
) -> dict: ...
def bellman_next_period(
    cash: NDArray[np.float64], capital: NDArray[np.float64], zfac: NDArray[np.float64], P: NDArray[np.float64],
    zones: NDArray[np.float64], scalars: NDArray[np.float64], V: NDArray[np.float64], k: NDArray[np.float64],
    b: NDArray[np.float64], threads: int = 0,
) -> dict: ...
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
