r"""Stochastic growth model of Aruoba & Fernandez-Villaverde (2015).

The canonical value-function-iteration test problem: log utility scaled by
``1 - beta``, Cobb-Douglas output, full depreciation and a five-state Markov
chain for productivity,

.. math::

    V(k, z) = \max_{k'} (1 - \beta) \log(z k^\alpha - k')
              + \beta \sum_{z'} P(z' \mid z) V(k', z'),

solved on an equally spaced capital grid with ``k'`` restricted to the grid.
Its policy has the closed form ``k' = alpha beta z k^alpha`` (Brock & Mirman
1972), which makes it a check on the solver as well as a benchmark.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from sez import _core
from sez.errors import GridError, ParameterError, SolverError
from sez.limits import check_size
from sez.parallel import thread_count

__all__ = ["GrowthModel", "GrowthSolution", "solve_growth", "estimate_growth", "METHODS"]

#: Solver variants of :func:`solve_growth`.
METHODS = ("grid", "monotone", "howard")

_Z = (0.9792, 0.9896, 1.0000, 1.0106, 1.0212)
_P = (
    (0.9727, 0.0273, 0.0, 0.0, 0.0),
    (0.0041, 0.9806, 0.0153, 0.0, 0.0),
    (0.0, 0.0082, 0.9837, 0.0082, 0.0),
    (0.0, 0.0, 0.0153, 0.9806, 0.0041),
    (0.0, 0.0, 0.0, 0.0273, 0.9727),
)
# Published transition probabilities have four decimals, so rows may miss one
# by a few 1e-4 (the middle row above sums to 1.0001).
_ROW_SUM_TOL = 1e-3

# Costs behind estimate_growth, measured on one thread of a 2-core x86-64 machine (default parameters).
#: Doubles held per capital node and productivity state: output, V, TV, EV, Howard's values, the policy
#: twice and the three returned arrays, with room for numpy's copies.
GROWTH_DOUBLES_PER_STATE = 10
#: Seconds per capital node, productivity state and candidate k' of an improvement by full search
#: ("grid": measured 4.4-4.7 ns).
GROWTH_SECONDS_PER_CANDIDATE = 4.5e-9
#: Seconds per capital node and productivity state of a value-iteration step by "monotone" or "howard"
#: (measured 17-22 ns per step of monotone; howard's fewer, dearer improvements cost about as much).
GROWTH_SECONDS_PER_STATE = 20e-9


@dataclass(frozen=True)
class GrowthModel:
    """Parameters and capital grid of the growth model.

    Parameters
    ----------
    alpha : float
        Capital share, in (0, 1).
    beta : float
        Discount factor, in (0, 1).
    z : tuple of float
        Productivity levels, positive.
    P : tuple of tuple of float
        Transition matrix, ``P[i][j] = Pr(z' = z[j] | z = z[i])``. Rows must sum
        to one within 1e-3, the rounding of published four-decimal matrices;
        :meth:`transition_matrix` rescales them to sum to one exactly.
    n_capital : int
        Number of capital grid points.
    low, high : float
        Ends of the capital grid as multiples of the steady state
        :meth:`steady_state`.

    Raises
    ------
    ParameterError, GridError
        Both ``ValueError``: a field is out of range; the message names it.
    """

    alpha: float = 1.0 / 3.0
    beta: float = 0.95
    z: tuple[float, ...] = _Z
    P: tuple[tuple[float, ...], ...] = _P
    n_capital: int = 17820
    low: float = 0.5
    high: float = 1.5

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.floating)) and 0.0 < value < 1.0):
                raise ParameterError(f"{name} must lie in (0, 1), got {value!r}")
        z = tuple(float(v) for v in self.z)
        if not z or not all(math.isfinite(v) and v > 0 for v in z):
            raise ParameterError(f"z must be a non-empty sequence of positive numbers, got {self.z!r}")
        P = tuple(tuple(float(v) for v in row) for row in self.P)
        if len(P) != len(z) or any(len(row) != len(z) for row in P):
            raise ParameterError(f"P must be {len(z)} x {len(z)} to match z")
        for i, row in enumerate(P):
            if not all(math.isfinite(v) and v >= 0 for v in row):
                raise ParameterError(f"P row {i} has a negative or non-finite entry: {row}")
            if abs(sum(row) - 1.0) > _ROW_SUM_TOL:
                raise ParameterError(f"P row {i} sums to {sum(row):.6g}, not one")
        object.__setattr__(self, "z", z)
        object.__setattr__(self, "P", P)
        if isinstance(self.n_capital, bool) or not isinstance(self.n_capital, (int, np.integer)) or self.n_capital < 2:
            raise GridError(f"n_capital must be an integer >= 2, got {self.n_capital!r}")
        if not (0.0 < self.low < self.high and math.isfinite(self.high)):
            raise GridError(f"need 0 < low < high, got low={self.low!r}, high={self.high!r}")
        k0 = self.low * self.steady_state()
        if min(z) * k0**self.alpha <= k0:
            raise GridError(f"low={self.low!r} puts the lowest capital where output z k^alpha cannot cover k")

    def steady_state(self) -> float:
        """Deterministic steady state ``(alpha beta)^(1 / (1 - alpha))`` (at z = 1).

        Returns
        -------
        float
        """
        return (self.alpha * self.beta) ** (1.0 / (1.0 - self.alpha))

    def capital_grid(self) -> np.ndarray:
        """Equally spaced capital grid from ``low * kss`` to ``high * kss``.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_capital,)``.
        """
        kss = self.steady_state()
        return np.linspace(self.low * kss, self.high * kss, self.n_capital)

    def transition_matrix(self) -> np.ndarray:
        """``P`` as an array with rows rescaled to sum to one.

        Without the rescaling the published middle row (sum 1.0001) inflates that
        state's continuation value, which moves its policy about two grid steps
        off the closed form on the default grid.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_z, n_z)``.
        """
        P = np.asarray(self.P, dtype=float)
        return P / P.sum(axis=1, keepdims=True)

    def closed_form_policy(self, k_grid: np.ndarray) -> np.ndarray:
        """Exact policy ``k' = alpha beta z k^alpha`` of the continuous-choice model.

        Parameters
        ----------
        k_grid : array_like
            Capital levels, shape ``(n_k,)``.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_k, n_z)``.
        """
        k = np.asarray(k_grid, dtype=float)
        return self.alpha * self.beta * np.asarray(self.z)[None, :] * k[:, None] ** self.alpha


@dataclass(frozen=True)
class GrowthSolution:
    """Output of :func:`solve_growth`. Arrays are read-only.

    Attributes
    ----------
    capital_grid : numpy.ndarray
        Shape ``(n_k,)``.
    V : numpy.ndarray
        Value function, shape ``(n_k, n_z)``.
    policy_index : numpy.ndarray
        Grid index of ``k'``, int64, shape ``(n_k, n_z)``.
    policy : numpy.ndarray
        ``k'`` itself, ``capital_grid[policy_index]``.
    iterations : int
        Bellman improvements (searches over ``k'``).
    converged : bool
    history : numpy.ndarray
        ``sup |TV - V|`` after each improvement.
    seconds : float
        Wall time of the solver.
    method : str
    """

    capital_grid: np.ndarray = field(repr=False)
    V: np.ndarray = field(repr=False)
    policy_index: np.ndarray = field(repr=False)
    policy: np.ndarray = field(repr=False)
    iterations: int
    converged: bool
    history: np.ndarray = field(repr=False)
    seconds: float
    method: str


def estimate_growth(model: GrowthModel, method: str, tol: float, max_iter: int) -> tuple[int, float, float]:
    """(states, bytes, seconds on one thread) of :func:`solve_growth`, from the sizes alone.

    Value iteration contracts at rate ``beta`` from a residual of order one, so it needs about
    ``log(tol) / log(beta)`` improvements (314 at the defaults; 257 measured), at most ``max_iter``.
    """
    states = model.n_capital * len(model.z)
    steps = min(max_iter, math.ceil(math.log(tol) / math.log(model.beta))) if 0 < tol < 1 else max_iter
    steps = max(steps, 1)  # a bad tol or max_iter is the solver's error to report
    per_step = GROWTH_SECONDS_PER_CANDIDATE * model.n_capital if method == "grid" else GROWTH_SECONDS_PER_STATE
    return states, 8.0 * GROWTH_DOUBLES_PER_STATE * states, steps * per_step * states


def solve_growth(
    model: GrowthModel = GrowthModel(),
    method: str = "howard",
    howard_steps: int = 20,
    tol: float = 1e-7,
    max_iter: int = 5000,
    threads: int | None = None,
    allow_large: bool = False,
) -> GrowthSolution:
    """Solve the growth model by value iteration on the capital grid.

    Parameters
    ----------
    model : GrowthModel
    method : {"grid", "monotone", "howard"}
        ``"grid"`` searches every ``k'`` (brute force, small grids only).
        ``"monotone"`` starts each search at the previous capital point's policy
        and stops at the first decline, as the published codes do.
        ``"howard"`` adds ``howard_steps`` policy evaluations after each
        improvement; it guards against the non-concave values those steps can
        produce and stops only once the policy is stable (see ``cpp/growth.hpp``).
    howard_steps : int
        Policy-evaluation steps per improvement (``"howard"`` only).
    tol : float
        Stop when an improvement changes V by less than ``tol`` in the sup norm.
    max_iter : int
        Most improvements.
    threads : int, optional
        OpenMP threads; None uses OpenMP's default. Results do not depend on it.
    allow_large : bool
        Solve even where :func:`estimate_growth` exceeds the memory or time limits of ``sez.limits``.

    Returns
    -------
    GrowthSolution

    Raises
    ------
    ValueError
        An unknown method or a bad argument.
    SizeError
        The estimate exceeds a limit (checked before anything is allocated); the message gives it.
    SolverError
        No convergence within ``max_iter`` improvements.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    threads = thread_count(threads, "solve_growth")
    states, n_bytes, seconds = estimate_growth(model, method, tol, max_iter)
    check_size(f"growth model with n_capital = {model.n_capital:,} solved by {method!r}", states,
               "states (capital x productivity)", n_bytes, seconds, allow_large=allow_large,
               override="solve_growth(..., allow_large=True)")
    k = model.capital_grid()
    start = time.perf_counter()
    out = _core.growth_solve(
        k,
        np.asarray(model.z, dtype=float),
        model.transition_matrix(),
        model.alpha,
        model.beta,
        method,
        howard_steps,
        tol,
        max_iter,
        threads,
    )
    seconds = time.perf_counter() - start
    if not out["converged"]:
        last = out["history"][-1]
        raise SolverError(
            f"growth model ({method}) did not converge in {out['iterations']} improvements: "
            f"last sup|TV - V| = {last:.3g}, tol = {tol:g}"
        )
    arrays = {name: out[name] for name in ("V", "policy_index", "policy", "history")}
    arrays["capital_grid"] = k
    for a in arrays.values():
        a.setflags(write=False)
    return GrowthSolution(
        iterations=int(out["iterations"]),
        converged=bool(out["converged"]),
        seconds=seconds,
        method=method,
        **arrays,
    )
