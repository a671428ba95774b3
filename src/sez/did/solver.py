"""Exact fixed-effect solves for the imputation estimator and sparse cohort-by-event-time regressions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sez.did.prepare import _non_singleton_rows
from sez.limits import COLLINEAR_SHARE

#: Up to this many levels outside the largest fixed effect, the reduced system is factored densely
#: (a pivoted Cholesky of at most 6,000 x 6,000, about 290 MB and a few seconds); above it, conjugate gradients.
DENSE_LEVELS = 6_000


class _FixedEffectSolver:
    """Solve the normal equations ``Z0'Z0 b = r`` (``Z0'W Z0 b = r`` with row ``weights``) of a sum of fixed
    effects, factored once for many right sides.

    ``codes[d][rows]`` are the levels of dimension ``d`` in the fitting sample
    (the untreated rows); a right side ``r[d]`` has one entry per level of
    dimension ``d`` (``Z0'y`` for a fit, ``Z1'w`` for the variance weights).

    The largest dimension (the firms) is eliminated exactly: its block of
    ``Z0'Z0`` is diagonal, so the firm effects given the others are firm
    means, and what remains is the Schur complement ``S = Zo' M Zo`` over the
    other levels (``M`` demeans within firm). ``S`` is small for firm + year +
    region effects (16 + 340 levels at the city level, 16 + 2,574 at the county
    level) and for firm + city-by-year effects (5,440): it is factored once by a pivoted Cholesky
    of its diagonally scaled form, which finds its rank, so every later solve
    is a pair of triangular solves. This is what makes firms nested in
    regions harmless: a region entered by few movers is weakly identified,
    which stalls alternating projections and conjugate gradients on the full
    system (both were measured to stop at 10,000 iterations at the papers'
    scale), while a direct factorisation does not care. Above
    ``DENSE_LEVELS`` (county-by-year effects, 41,000 levels) ``S`` is solved
    by conjugate gradients preconditioned by its diagonal.

    The system is singular (one free constant per connected component and
    dimension beyond the first, and one per region no mover enters when firms
    are nested in regions) but consistent; the solution returned is one of
    many, and every identified sum of effects is the same for all of them.
    Levels absent from the sample stay 0.
    """

    def __init__(self, codes: list[np.ndarray], sizes: list[int], rows: np.ndarray, tol: float = 1e-10,
                 maxiter: int = 10_000, weights: np.ndarray | None = None):
        from scipy import sparse

        self.sizes, self.tol, self.maxiter = list(sizes), tol, maxiter
        self.big = int(np.argmax(sizes))
        self.others = [d for d in range(len(sizes)) if d != self.big]
        big_codes = codes[self.big][rows]
        # weighted least squares (``weights`` per row of ``codes``): Z0'W Z0 in place of Z0'Z0
        row_weights = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=float)[rows]
        counts = np.bincount(big_codes, weights=row_weights, minlength=sizes[self.big]).astype(float)
        self.inverse = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
        self.method = "firm means"
        if not self.others:
            return
        offsets = np.cumsum([0, *(sizes[d] for d in self.others)])
        self.offsets = offsets
        other_codes = np.concatenate([codes[d][rows] + o for d, o in zip(self.others, offsets[:-1])])
        n_rows, n_other = len(rows), int(offsets[-1])
        ones = np.ones(len(other_codes))
        weighted = np.tile(row_weights, len(self.others))
        # B = Z_big' W Z_o (levels of the big dimension by other levels); A = Z_o' W Z_o
        self.cross = sparse.csr_matrix((weighted, (np.tile(big_codes, len(self.others)), other_codes)),
                                       shape=(sizes[self.big], n_other))
        design = sparse.csr_matrix((ones, (np.tile(np.arange(n_rows), len(self.others)), other_codes)),
                                   shape=(n_rows, n_other))
        schur = (design.T @ sparse.diags(row_weights) @ design
                 - self.cross.T @ sparse.diags(self.inverse) @ self.cross).tocsr()
        diagonal = schur.diagonal()
        # a level whose Schur diagonal vanishes is fully absorbed by the big dimension (a region no mover
        # enters, or a level absent from the sample): its effect is not identified apart from them
        self.active = np.flatnonzero(diagonal > 1e-9 * max(1.0, float(diagonal.max(initial=0.0))))
        schur = schur[self.active][:, self.active]
        scale = 1.0 / np.sqrt(diagonal[self.active])
        self.scale = scale
        scaled = sparse.diags(scale) @ schur @ sparse.diags(scale)
        if len(self.active) <= DENSE_LEVELS:
            from scipy.linalg import lapack

            factor, piv, rank, info = lapack.dpstrf(scaled.toarray(), lower=1, tol=1e-10)
            if info < 0:
                raise RuntimeError(f"imputation: the fixed-effect factorisation failed (LAPACK dpstrf info {info})")
            self.method = f"firm means and a pivoted Cholesky of {len(self.active):,} other levels (rank {rank})"
            self.pivots = piv[:rank] - 1
            self.factor = np.tril(factor[:rank, :rank])
            # null space of the scaled Schur complement: [-L11^-T L21'; I] in pivoted order
            from scipy.linalg import solve_triangular

            n_null = len(self.active) - rank
            null = np.zeros((len(self.active), n_null))
            if n_null:
                null[piv[rank:] - 1] = np.eye(n_null)
                null[self.pivots] = -solve_triangular(self.factor, factor[rank:, :rank].T, lower=True,
                                                      trans="T", check_finite=False)
                null /= np.linalg.norm(null, axis=0)
            self.null = null * scale[:, None]  # in the unscaled levels
        else:
            self.method = f"firm means and conjugate gradients on {len(self.active):,} other levels"
            self.pivots, self.null = None, None
            self.scaled = scaled.tocsr()

    def identified(self, codes: list[np.ndarray], rows: np.ndarray, chunk: int = 5_000) -> np.ndarray:
        """Whether the fitted sum of effects at each row in ``rows`` is the same for every solution.

        It is when the row's design vector lies in the row space of the
        fitting sample's; after the firms are eliminated, when ``z_o - B_f / n_f``
        (the row's other levels minus its firm's mean other levels) is
        orthogonal to the null space of ``S`` (levels with a vanishing diagonal
        included). Exact with the dense factorisation; with conjugate
        gradients only the connectivity check of ``_identified_rows`` applies
        (exact for two dimensions), and every row passes here.
        """
        ok = np.ones(len(rows), dtype=bool)
        if not self.others or self.pivots is None:
            return ok
        from scipy import sparse

        n_other = int(self.offsets[-1])
        inactive = np.ones(n_other, dtype=bool)
        inactive[self.active] = False
        basis = np.zeros((n_other, self.null.shape[1] + int(inactive.sum())))
        basis[self.active, :self.null.shape[1]] = self.null
        basis[np.flatnonzero(inactive), self.null.shape[1]:] = np.eye(int(inactive.sum()))
        if basis.shape[1] == 0:
            return ok
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            own = sparse.csr_matrix((np.ones(len(part) * len(self.others)),
                                     (np.tile(np.arange(len(part)), len(self.others)),
                                      np.concatenate([codes[d][part] + o
                                                      for d, o in zip(self.others, self.offsets[:-1])]))),
                                    shape=(len(part), n_other))
            big = codes[self.big][part]
            mean_other = sparse.diags(self.inverse[big]) @ self.cross[big]
            gap = np.abs((own - mean_other) @ basis)
            ok[start:start + chunk] = gap.max(axis=1, initial=0.0) < 1e-8
        return ok

    def solve(self, rhs: list[np.ndarray]) -> list[np.ndarray]:
        """Effects by dimension for right sides ``rhs`` (one array per dimension)."""
        from scipy.linalg import solve_triangular

        out = [np.zeros(n) for n in self.sizes]
        r_big = np.asarray(rhs[self.big], dtype=float)
        if not self.others:
            out[self.big] = r_big * self.inverse
            return out
        r_other = np.concatenate([np.asarray(rhs[d], dtype=float) for d in self.others])
        reduced = (r_other - self.cross.T @ (r_big * self.inverse))[self.active] * self.scale
        x = np.zeros(len(self.active))
        if np.any(reduced):
            if self.pivots is not None:
                p = self.pivots
                z = solve_triangular(self.factor, reduced[p], lower=True, check_finite=False)
                x[p] = solve_triangular(self.factor, z, lower=True, trans="T", check_finite=False)
            else:
                from scipy.sparse.linalg import cg

                x, info = cg(self.scaled, reduced, rtol=self.tol, atol=0.0, maxiter=self.maxiter)
                if info != 0:
                    raise RuntimeError(f"imputation: the fixed-effect solve did not converge in {self.maxiter} "
                                       "iterations; the untreated sample may be poorly connected")
        x_other = np.zeros(int(self.offsets[-1]))
        x_other[self.active] = x * self.scale
        for d, o0, o1 in zip(self.others, self.offsets[:-1], self.offsets[1:]):
            out[d] = x_other[o0:o1]
        out[self.big] = (r_big - self.cross @ x_other) * self.inverse
        return out


@dataclass(frozen=True)
class _SparseFit:
    """Coefficients and CRV1 covariance of :func:`_sparse_fe_regression` (pyfixest's names where they exist)."""

    coef: pd.Series
    vcov: pd.DataFrame
    nobs: int
    n_clusters: int
    used: np.ndarray  # rows of the input used (singletons dropped)
    collinear: tuple[str, ...]


def _sparse_fe_regression(y: np.ndarray, design, names: Sequence[str], codes: list[np.ndarray],
                          cluster: np.ndarray, tol: float = 1e-10) -> _SparseFit:
    """Least squares of ``y`` on a sparse design and fixed effects, CRV1 clustered, with no dense design.

    The Sun-Abraham regression has a dummy per entry cohort and event time,
    about 130 columns, each non-zero on a few treated rows only; pyfixest
    builds, demeans and differentiates them as dense matrices, which took
    16.5 GiB and 56 s at 2.3 million firm-years. Here, by Frisch-Waugh-Lovell,
    the columns are projected on the fixed effects with one factorisation
    (:class:`_FixedEffectSolver`, one solve per column on level sums), so
    only ``k x k`` and level-sized arrays are dense:
    ``H = D'D - (Z'D)' gamma`` is the demeaned cross product,
    ``beta = H^-1 (D'y - gamma' Z'y)``, and the cluster scores
    ``sum_{i in g} (D_i - Z_i gamma) e_i`` come from the sparse ``D`` and
    the residuals' sums by cluster and level. Singleton fixed-effect groups
    are dropped first and columns collinear with the fixed effects (a zero
    pivot of ``H``) get no coefficient, as in pyfixest; the small-sample
    factor is pyfixest's (and reghdfe's): ``G/(G-1) (N-1)/(N-K)`` with ``K``
    the columns plus the fixed-effect levels, less one per dimension beyond
    the first, less the levels of dimensions nested in the clusters (plus one
    each). Checked against pyfixest with dense columns in ``tests/test_did_scale.py``.
    """
    from scipy import sparse
    from scipy.linalg import lapack

    used = _non_singleton_rows(codes)
    rows = np.flatnonzero(used)
    y = np.asarray(y, dtype=float)[rows]
    design = sparse.csc_matrix(design)[rows]
    coded = [pd.factorize(c[rows])[0].astype(np.int64) for c in codes]
    sizes = [int(c.max()) + 1 for c in coded]
    cluster = pd.factorize(np.asarray(cluster)[rows])[0]
    n, k, n_clusters = len(rows), design.shape[1], int(cluster.max()) + 1
    solver = _FixedEffectSolver(coded, sizes, np.arange(n), tol)
    levels = [sparse.csr_matrix((np.ones(n), (np.arange(n), c)), shape=(n, m)) for c, m in zip(coded, sizes)]
    z_d = [(z.T @ design).tocsc() for z in levels]             # level sums of each column
    gamma = [np.zeros((m, k)) for m in sizes]                   # each column's projection on the effects
    for j in range(k):
        for d, g in enumerate(solver.solve([zd[:, j].toarray().ravel() for zd in z_d])):
            gamma[d][:, j] = g
    cross = (design.T @ design).toarray() - sum(zd.T @ g for zd, g in zip(z_d, gamma))
    z_y = [z.T @ y for z in levels]
    moment = design.T @ y - sum(g.T @ zy for g, zy in zip(gamma, z_y))
    # a column keeping less than COLLINEAR_SHARE of its own variation within the effects is absorbed by them
    # (against its own variation, not the largest column's: a control in yuan must not erase the dummies);
    # then a pivoted Cholesky of the scaled cross product drops the columns collinear with the others
    diagonal = np.diag(cross).copy()
    column_sum = np.asarray(design.sum(axis=0)).ravel()
    variation = np.asarray(design.multiply(design).sum(axis=0)).ravel() - column_sum ** 2 / n
    present = (diagonal > COLLINEAR_SHARE * variation) & (variation > 0)
    scale = np.where(present, 1.0 / np.sqrt(np.where(present, diagonal, 1.0)), 0.0)
    factor, piv, rank, _ = lapack.dpstrf(cross * np.outer(scale, scale), lower=1, tol=1e-10)
    keep = np.sort(piv[:rank] - 1)
    keep = keep[present[keep]]
    bread = np.linalg.inv(cross[np.ix_(keep, keep)])
    beta = np.full(k, np.nan)
    beta[keep] = bread @ moment[keep]
    # residuals: the effects of y - D beta
    partial = y - design[:, keep] @ beta[keep]
    effects = solver.solve([z.T @ partial for z in levels])
    resid = partial - sum(e[c] for e, c in zip(effects, coded))
    # scores by cluster: (A D) - sum_d (A Z_d) gamma_d, A summing rows into clusters weighted by residuals
    by_cluster = sparse.csr_matrix((resid, (cluster, np.arange(n))), shape=(n_clusters, n))
    scores = (by_cluster @ design[:, keep]).toarray()
    for z, g in zip(levels, gamma):
        weighted = (by_cluster @ z).tocsr()
        # zero (to rounding) for a dimension nested in the clusters: the residuals sum to zero in each level
        if np.abs(weighted.data).max(initial=0.0) > 1e-9 * max(1.0, float(np.abs(resid).max(initial=0.0))):
            scores -= weighted @ g[:, keep]
    meat = scores.T @ scores
    # pyfixest's small-sample factor (k_fixef = "nonnested", G_df = "conventional")
    nested = [bool((pd.Series(cluster).groupby(c).nunique() == 1).all()) for c in coded]
    k_fe = sum(sizes) - (len(sizes) - 1 if len(sizes) > 1 else 0)
    k_fe_nested = sum(m for m, is_nested in zip(sizes, nested) if is_nested)
    df_k = len(keep) + k_fe - k_fe_nested + (sum(nested) if k_fe_nested else 0)
    factor_ssc = n_clusters / (n_clusters - 1) * (n - 1) / (n - df_k)
    vcov = np.full((k, k), np.nan)
    vcov[np.ix_(keep, keep)] = factor_ssc * bread @ meat @ bread
    names = list(names)
    collinear = tuple(names[j] for j in range(k) if j not in set(keep.tolist()))
    return _SparseFit(pd.Series(beta, index=names), pd.DataFrame(vcov, index=names, columns=names), n,
                      n_clusters, used, collinear)


def _identified_rows(codes: list[np.ndarray], sizes: list[int], untreated_rows: np.ndarray, treated: np.ndarray,
                     terms: Sequence[str]) -> tuple[np.ndarray, dict]:
    """Treated rows whose untreated outcome the untreated fit identifies, and the others counted by reason.

    A treated row's imputed outcome ``sum_d effect_d[level_d]`` is identified
    when every one of its levels appears among the untreated rows and, with
    two or more fixed-effect dimensions, all its levels lie in one connected
    component of the graph that links the levels each untreated row shares.
    Within a component the effects are identified up to constants that cancel
    in the sum; across components they do not cancel, so the imputation would
    depend on an arbitrary normalisation (and the variance solve would have an
    inconsistent right-hand side). With two dimensions (firm and region-year)
    the condition is exact; with more it is necessary, and a remaining
    rank deficiency shows up as a fixed-effect solve that does not converge.
    """
    n = len(treated)
    offsets = np.cumsum([0, *sizes])
    present = [np.bincount(c[untreated_rows], minlength=s) > 0 for c, s in zip(codes, sizes)]
    ok = np.ones(n, dtype=bool)
    reasons: dict[str, int] = {}
    for term, c, p in zip(terms, codes, present):
        missing = treated & ok & ~p[c]
        if missing.any():
            reasons[f"treated observations whose {term} has no untreated observation"] = int(missing.sum())
        ok &= p[c]
    if len(codes) >= 2:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        nodes = int(offsets[-1])
        first = codes[0][untreated_rows] + offsets[0]
        rows = np.concatenate([first] * (len(codes) - 1))
        cols = np.concatenate([c[untreated_rows] + o for c, o in zip(codes[1:], offsets[1:-1])])
        graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(nodes, nodes))
        _, component = connected_components(graph, directed=False)
        label0 = component[codes[0] + offsets[0]]
        same = np.ones(n, dtype=bool)
        for c, o in zip(codes[1:], offsets[1:-1]):
            same &= component[c + o] == label0
        split = treated & ok & ~same
        if split.any():
            reasons[f"treated observations whose {' and '.join(terms)} effects are not connected through "
                    "untreated observations"] = int(split.sum())
        ok &= same
    return ok, reasons
