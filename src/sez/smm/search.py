"""The SMM objective and the searches over it: global Sobol points, coordinate scans, Gauss-Newton, profiles."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from scipy import optimize

from sez.parallel import map_items
from sez.smm.grid import model_moments, moments_at_point
from sez.smm.results import JACOBIAN_STEP, LM_STEPS

#: The errors by which the model says it has no solution at a point: results (recorded), unlike a fault of
#: the machine (an interrupt, a lost worker), which ends the estimation.
MODEL_ERRORS = (ValueError, RuntimeError, ArithmeticError)


class _Objective:
    """Weighted distance of model from data moments under common random numbers.
    Every point evaluated is remembered (a search revisits points); with a
    ``checkpoint`` (:class:`sez.smm.checkpoint.EvaluationCheckpoint`) each one is
    recorded as it finishes, and one recorded by an earlier run is read back.
    """

    def __init__(self, data, start, free, spec, weights, seed, checkpoint=None):
        self.data, self.start, self.free, self.spec, self.W, self.seed = data, start, free, spec, weights, seed
        self.checkpoint = checkpoint
        self.evaluations = 0
        self.seen: dict[tuple, pd.Series | None] = {}

    def _read_back(self, key) -> bool:
        """Take the evaluation at ``key`` from the checkpoint, if an earlier run recorded it."""
        if self.checkpoint is None or key not in self.checkpoint.evaluations:
            return False
        self.seen[key] = self.checkpoint.evaluations[key]
        self.checkpoint.read_back += 1
        return True

    def _record(self, key, moments: pd.Series | None, error: BaseException | None = None) -> None:
        self.seen[key] = moments
        if self.checkpoint is not None:
            self.checkpoint.add(key, moments, error)

    def moments(self, theta) -> pd.Series:
        key = tuple(float(t) for t in theta)
        if key not in self.seen:
            self.evaluations += 1
            if not self._read_back(key):
                params = self.start.replace(**dict(zip(self.free, key)))
                try:
                    m = model_moments(params, self.spec, self.seed)
                except MODEL_ERRORS as err:
                    self._record(key, None, err)
                    raise
                self._record(key, m)
        m = self.seen[key]
        if m is None:
            raise RuntimeError(f"no solution at {dict(zip(self.free, key))}")
        return m

    def prefetch(self, thetas, executor, progress: str | bool = False) -> None:
        """Evaluate the points not seen yet together on ``executor`` (the global
        stage, a Jacobian's columns, a scan: independent evaluations), recording
        each as it finishes. Results are those of evaluating them one by one:
        every point uses the same seed. ``progress`` titles the progress lines.
        """
        if executor is None:
            return
        todo = list(dict.fromkeys(key for key in (tuple(float(t) for t in th) for th in thetas)
                                  if key not in self.seen))
        if len(todo) < 2 and not progress:
            return
        self.evaluations += sum(self._read_back(key) for key in todo)
        todo = [key for key in todo if key not in self.seen]
        fn = functools.partial(moments_at_point, base=self.start, spec=self.spec, fixed_seed=self.seed)
        names = list(self.spec.moments)
        for i, result, err in map_items(fn, [dict(zip(self.free, key)) for key in todo], executor=executor,
                                        seed=self.seed, progress=progress):
            if err is not None and not isinstance(err, Exception):
                raise err  # an interrupt is not a result
            self.evaluations += 1
            if err is None:
                self._record(todo[i], pd.Series([result.get(n, np.nan) for n in names], index=names, dtype=float))
            elif isinstance(err, MODEL_ERRORS):
                self._record(todo[i], None, err)
            else:  # not the model's answer: no solution in this run, computed again by a rerun
                self.seen[todo[i]] = None

    def gap(self, m: pd.Series) -> np.ndarray:
        return (m[self.data.index] - self.data).to_numpy()

    def residual(self, theta) -> np.ndarray | None:
        """The moment gap, or None where the model has no solution."""
        try:
            g = self.gap(self.moments(theta))
        except MODEL_ERRORS:
            return None
        return g if np.all(np.isfinite(g)) else None

    def __call__(self, theta) -> float:
        g = self.residual(theta)
        return np.inf if g is None else float(g @ self.W @ g)  # no solution here


class _Held:
    """The objective with parameter ``j`` held at ``value`` and weights ``W``: the
    interface the local searches use, over the other parameters.
    """

    def __init__(self, obj: _Objective, j: int, value: float, W):
        self.obj, self.j, self.value, self.W, self.data = obj, j, value, W, obj.data

    def full(self, x):
        return np.insert(np.asarray(x, dtype=float), self.j, self.value)

    @property
    def evaluations(self):
        return self.obj.evaluations

    def residual(self, x):
        return self.obj.residual(self.full(x))

    def prefetch(self, xs, executor) -> None:
        self.obj.prefetch([self.full(x) for x in xs], executor)

    def __call__(self, x):
        g = self.residual(x)
        return np.inf if g is None else float(g @ self.W @ g)


def _profile_rise(obj: _Objective, theta, j: int, shift: float, lo_hi, W, maxiter: int, executor=None):
    """Smallest rise, over theta_j (1 - shift) and theta_j (1 + shift) (within the
    bounds), of the objective with weights W re-minimised over the other
    parameters; with the re-fitted point that has the lowest objective of the
    estimation (``obj``) and that objective.
    """
    g0 = obj.residual(theta)
    f0 = float(g0 @ W @ g0)
    others = [b for i, b in enumerate(lo_hi) if i != j]
    rises, best_x, best_f = [], None, np.inf
    # relative to the parameter, as precision is (to its span where it is 0)
    step = shift * (abs(theta[j]) if theta[j] != 0 else lo_hi[j][1] - lo_hi[j][0])
    for sign in (-1.0, 1.0):
        value = float(np.clip(theta[j] + sign * step, *lo_hi[j]))
        if value == theta[j]:
            continue
        held = _Held(obj, j, value, W)
        x0 = np.delete(np.asarray(theta, dtype=float), j)
        x = x0 if not others else _local_gauss_newton(held, x0, held(x0), others, maxiter, executor)[0]
        rises.append(held(x) - f0)
        full = held.full(x)
        if obj(full) < best_f:
            best_x, best_f = full, obj(full)
    return (float(min(rises)) if rises else float("nan")), best_x, best_f


#: Points of the one-parameter scans between local searches (across each bound span).
SCAN_POINTS = 9


def _coordinate_scan(obj: _Objective, x, f, lo_hi, executor=None):
    """One sweep over the parameters, each scanned across its whole bound span
    (``SCAN_POINTS`` points) with the others held, moving to the best value.
    A local search on simulated moments stops in the local minima their steps
    make, and drifts along weakly identified directions to a bound; a scan over
    the whole span finds the valley again.
    """
    x = np.asarray(x, dtype=float).copy()
    for j, (lo, hi) in enumerate(lo_hi):
        line = np.repeat(x[None, :], SCAN_POINTS, axis=0)
        line[:, j] = np.linspace(lo, hi, SCAN_POINTS)
        obj.prefetch(line, executor)
        for trial in line:
            ft = obj(trial)
            if ft < f:
                x, f = trial.copy(), ft
    return x, f


def _local_gauss_newton(obj: _Objective, x0, f0, lo_hi, maxiter: int, executor=None):
    """Bounded Gauss-Newton (scipy's trust-region reflective least squares) on the
    weighted moment gaps, in the unit cube of the bounds, with forward-difference
    Jacobians under common random numbers, their step shrinking over ``LM_STEPS``.
    """
    lo = np.array([b[0] for b in lo_hi], dtype=float)
    span = np.array([b[1] - b[0] for b in lo_hi], dtype=float)
    p, k = len(lo), len(obj.data)
    # W = L L': the objective g' W g is |L' g|^2
    val, vec = np.linalg.eigh((obj.W + obj.W.T) / 2)
    root = vec * np.sqrt(np.clip(val, 0, None))[None, :]
    # where the model has no solution, a residual far above the start's (least squares needs finite ones)
    failed = np.full(k, np.sqrt(1e6 * max(f0 if np.isfinite(f0) else 0.0, 1.0) / k))
    budget = obj.evaluations + int(maxiter)

    def resid(u):
        g = obj.residual(lo + np.clip(u, 0.0, 1.0) * span)
        return failed if g is None else root.T @ g

    u = np.clip((np.asarray(x0, dtype=float) - lo) / span, 0.0, 1.0)
    f, converged = f0, False
    for h in LM_STEPS:
        def jac(v, *_):
            steps = np.where(v + h <= 1.0, h, -h) * np.eye(p)
            obj.prefetch([lo + np.clip(u, 0.0, 1.0) * span for u in [v, *(v + steps)]], executor)
            r0 = resid(v)
            return np.column_stack([(resid(v + steps[j]) - r0) / steps[j, j] for j in range(p)])

        left = budget - obj.evaluations
        if left < p + 2:
            break
        res = optimize.least_squares(resid, u, jac=jac, bounds=(0.0, 1.0), method="trf",
                                     max_nfev=max(2, left // (p + 1)), xtol=1e-10, ftol=1e-12, gtol=1e-12)
        ur = np.clip(res.x, 0.0, 1.0)
        fr = obj(lo + ur * span)
        if fr <= f:
            u, f = ur, fr
        converged = bool(res.status > 0)
    return lo + u * span, f, converged


def _local_search(obj: _Objective, x0, f0, lo_hi, maxiter: int, executor=None):  # noqa: ARG001 (one signature)
    """Bounded Nelder-Mead in the unit cube of the bounds (parameters of very
    different scales move alike), from a simplex spanning 10% of each range,
    restarted from its best point while that still improves (at most 4 runs).
    """
    lo = np.array([b[0] for b in lo_hi], dtype=float)
    span = np.array([b[1] - b[0] for b in lo_hi], dtype=float)

    def in_cube(u):
        return obj(lo + np.clip(u, 0.0, 1.0) * span)

    u, f, converged = (np.asarray(x0, dtype=float) - lo) / span, f0, False
    p = len(u)
    for _ in range(4):
        simplex = np.vstack([u] + [np.clip(u + 0.1 * np.eye(p)[j] * (1 if u[j] < 0.9 else -1), 0, 1) for j in range(p)])
        res = optimize.minimize(in_cube, u, method="Nelder-Mead", bounds=[(0.0, 1.0)] * p,
                                options={"maxiter": maxiter, "xatol": 1e-7, "fatol": 1e-12, "adaptive": p > 3,
                                         "initial_simplex": simplex})
        converged = bool(res.success)
        if not res.fun < f - 1e-12 * max(1.0, abs(f)):
            break
        u, f = np.clip(res.x, 0.0, 1.0), float(res.fun)
    return lo + u * span, f, converged


def _jacobian(obj: _Objective, theta, lo_hi, m_hat, executor=None) -> np.ndarray:
    """Central differences of the simulated moments (common random numbers) with
    a step of ``JACOBIAN_STEP`` of each bound span, one-sided at a bound.
    """
    pairs = []
    for j, (lo, hi) in enumerate(lo_hi):
        up, dn = theta.copy(), theta.copy()
        up[j] = min(theta[j] + JACOBIAN_STEP * (hi - lo), hi)
        dn[j] = max(theta[j] - JACOBIAN_STEP * (hi - lo), lo)
        pairs.append((up, dn))
    obj.prefetch([x for pair in pairs for x in pair], executor)
    cols = []
    for j, pair in enumerate(pairs):
        sides = []
        for x in pair:
            try:
                sides.append((x[j], obj.moments(x)[obj.data.index]) if x[j] != theta[j] else None)
            except MODEL_ERRORS:  # no solution there: one-sided
                sides.append(None)
        (x_up, m_up), (x_dn, m_dn) = [s if s is not None else (theta[j], m_hat[obj.data.index]) for s in sides]
        if x_up == x_dn:
            cols.append(np.full(len(obj.data), np.nan))
        else:
            cols.append(((m_up - m_dn) / (x_up - x_dn)).to_numpy())
    return np.column_stack(cols)
