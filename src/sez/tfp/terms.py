"""Functional form and algebra: production terms (Cobb-Douglas, translog), output elasticities,
scaled polynomials and least-squares helpers.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

__all__ = ["production_terms", "output_elasticities", "polynomial"]


def _pairs(p: int) -> list[tuple[int, int]]:
    return list(itertools.combinations_with_replacement(range(p), 2))


def production_terms(inputs: np.ndarray, names: Sequence[str], form: str = "cobb-douglas"
                     ) -> tuple[np.ndarray, list[str]]:
    """Regressors of the production function and their names.

    Cobb-Douglas: the (log) inputs. Translog: the inputs, then ``x_j x_h`` for ``j <= h``
    named ``"a^2"`` and ``"a*b"``; the coefficient of ``x_j^2`` is ``b_jj`` in
    ``y = ... + b_jj x_j^2`` (no factor 1/2).
    """
    inputs = np.atleast_2d(np.asarray(inputs, dtype=float).T).T
    names = list(names)
    if form == "cobb-douglas":
        return inputs, names
    cols = [inputs] + [(inputs[:, j] * inputs[:, h])[:, None] for j, h in _pairs(len(names))]
    labels = names + [f"{names[j]}^2" if j == h else f"{names[j]}*{names[h]}" for j, h in _pairs(len(names))]
    return np.hstack(cols), labels


def _term_derivative(inputs: np.ndarray, j: int, form: str) -> np.ndarray:
    """d(terms)/d x_j per observation, shape (n, terms): the elasticity of input j is this times beta."""
    n, p = inputs.shape
    first = np.zeros((n, p))
    first[:, j] = 1.0
    if form == "cobb-douglas":
        return first
    second = np.zeros((n, len(_pairs(p))))
    for c, (a, b) in enumerate(_pairs(p)):
        if a == b == j:
            second[:, c] = 2 * inputs[:, j]
        elif a == j:
            second[:, c] = inputs[:, b]
        elif b == j:
            second[:, c] = inputs[:, a]
    return np.hstack([first, second])


def output_elasticities(inputs: np.ndarray, beta: np.ndarray, form: str = "cobb-douglas") -> np.ndarray:
    """Output elasticity of each input at each observation, shape (n, inputs)."""
    inputs = np.atleast_2d(np.asarray(inputs, dtype=float).T).T
    return np.column_stack([_term_derivative(inputs, j, form) @ beta for j in range(inputs.shape[1])])


def _mean_elasticity_map(inputs: np.ndarray, form: str) -> np.ndarray:
    """Matrix A (inputs x terms) with the sample-mean elasticities equal to ``A @ beta`` (linear in beta,
    so their covariance is ``A V A'``).
    """
    return np.vstack([_term_derivative(inputs, j, form).mean(axis=0) for j in range(inputs.shape[1])])


def polynomial(x: np.ndarray, degree: int) -> np.ndarray:
    """All monomials of the columns of ``x`` up to total ``degree``, constant first.

    Columns are centred and scaled first (the span, hence fitted values, is unchanged)
    so that powers stay well conditioned.
    """
    x = np.atleast_2d(np.asarray(x, dtype=float).T).T
    scale = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    terms = [np.ones(len(z))]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(z.shape[1]), d):
            terms.append(np.prod(z[:, combo], axis=1))
    return np.column_stack(terms)


def _lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _project(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fitted values of y on P by normal equations (P small and well scaled)."""
    PtP = P.T @ P
    try:
        coef = np.linalg.solve(PtP, P.T @ y)
    except np.linalg.LinAlgError:
        coef = _lstsq(P, y)
    return P @ coef
