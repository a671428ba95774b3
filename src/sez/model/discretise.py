"""Discretisations of the productivity process z = A v (docs/model.md).

``v`` is AR(1) in logs, discretised by Rouwenhorst (1995) or Tauchen (1986)
with the conventions of QuantEcon's ``rouwenhorst`` and ``tauchen``; ``A`` is a
permanent Pareto type on quantile bins, each node placed at the bin-conditional
mean of ``A^(1/(1-gamma))`` (the power in which output rises), so that mean
output is exact whatever the number of nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from sez.errors import GridError, ParameterError


@dataclass(frozen=True)
class MarkovChain:
    """A finite Markov chain: ``values[i]`` and ``P[i, j] = Pr(j | i)``."""

    values: np.ndarray
    P: np.ndarray

    def stationary(self) -> np.ndarray:
        """The ergodic distribution (left unit eigenvector of P)."""
        n = len(self.values)
        A = np.vstack([self.P.T - np.eye(n), np.ones(n)])
        rhs = np.zeros(n + 1)
        rhs[-1] = 1.0
        pi, *_ = np.linalg.lstsq(A, rhs, rcond=None)
        pi = np.clip(pi, 0.0, None)
        return pi / pi.sum()


def rouwenhorst(n: int, rho: float, sigma: float, mu: float = 0.0) -> MarkovChain:
    """Rouwenhorst (1995) discretisation of y' = mu + rho y + sigma e, e ~ N(0, 1).

    Nodes are equally spaced over mean +/- sqrt(n-1) times the unconditional s.d.;
    the chain matches the process' conditional and unconditional moments exactly.
    """
    _check_ar1(n, rho, sigma)
    p = (1.0 + rho) / 2.0
    P = np.array([[1.0]])
    for m in range(2, n + 1):
        Z = np.zeros((m, m))
        Z[:-1, :-1] += p * P
        Z[:-1, 1:] += (1 - p) * P
        Z[1:, :-1] += (1 - p) * P
        Z[1:, 1:] += p * P
        Z[1:-1, :] /= 2.0
        P = Z
    psi = sigma * np.sqrt((n - 1) / (1.0 - rho**2)) if n > 1 else 0.0
    ybar = mu / (1.0 - rho)
    return MarkovChain(np.linspace(ybar - psi, ybar + psi, n), P)


def tauchen(n: int, rho: float, sigma: float, mu: float = 0.0, n_std: float = 3.0) -> MarkovChain:
    """Tauchen (1986) discretisation of y' = mu + rho y + sigma e on n_std s.d. either side."""
    _check_ar1(n, rho, sigma)
    sd = sigma / np.sqrt(1.0 - rho**2)
    x = np.linspace(-n_std * sd, n_std * sd, n)
    half = (x[1] - x[0]) / 2.0 if n > 1 else np.inf
    P = np.empty((n, n))
    for i in range(n):
        z = x - rho * x[i]
        upper = ndtr((z + half) / sigma)
        lower = ndtr((z - half) / sigma)
        P[i] = upper - lower
        P[i, 0] = upper[0]
        P[i, -1] = 1.0 - lower[-1]
    return MarkovChain(x + mu / (1.0 - rho), P)


def _check_ar1(n, rho, sigma):
    if int(n) != n or n < 1:
        raise GridError(f"n_shocks must be a positive integer, got {n!r}")
    if not -1 < rho < 1:
        raise ParameterError(f"rho = {rho} must lie in (-1, 1)")
    if not sigma >= 0:
        raise ParameterError(f"sigma = {sigma} must be >= 0")


def pareto_types(mu: float, power: float, edges) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and masses of a Pareto(mu) type (scale 1) on quantile bins.

    Bin b holds probability ``edges[b+1] - edges[b]``; its node is
    ``E[A^power | bin]^(1/power)``, so ``sum(mass * node^power) = E[A^power]``.
    Needs ``mu > power``.
    """
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or edges[0] != 0.0 or edges[-1] != 1.0 or np.any(np.diff(edges) <= 0):
        raise GridError(f"type_edges must rise strictly from 0 to 1, got {edges.tolist()}")
    if not mu > power:
        raise ParameterError(f"mu = {mu} must exceed the output power {power:.4f}")
    # Quantile u of a Pareto(mu): a = (1 - u)^(-1/mu); tail^(power - mu) integrates a^power.
    a = (1.0 - edges[:-1]) ** (-1.0 / mu)
    with np.errstate(divide="ignore"):
        b = np.where(edges[1:] < 1.0, (1.0 - np.minimum(edges[1:], 1.0 - 1e-300)) ** (-1.0 / mu), np.inf)
    expo = power - mu  # negative
    integral = mu / (mu - power) * (a**expo - np.where(np.isinf(b), 0.0, b**expo))
    mass = np.diff(edges)
    nodes = (integral / mass) ** (1.0 / power)
    return nodes, mass
