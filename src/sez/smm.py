"""Simulated method of moments and parameter grids that survive being killed.

``evaluate_grid`` maps model moments (or any function) over parameter points with
any ``concurrent.futures.Executor`` and appends each finished point to a
checkpoint as it completes; ``estimate`` fits internal parameters to data moments.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.stats import qmc

from sez import moments as mom
from sez.model import CollateralWarning, Grid, Params, simulate, solve, stationary
from sez.parallel import SerialExecutor, map_items


@dataclass(frozen=True)
class ModelSpec:
    """How parameters become simulated moments: grid, panel size, moments."""

    grid: Grid = Grid()
    n_firms: int = 20_000
    years: int = 10
    burn_in: int = 60
    moments: tuple = tuple(mom.TABLE7.index)
    method: str = "howard"


def model_moments(params: Params, spec: ModelSpec = ModelSpec(), seed: int = 0) -> pd.Series:
    """Solve, find the stationary distribution, simulate a panel with ``seed`` and
    compute the moments of ``spec``, with one OpenMP thread per call unless the
    process says otherwise."""
    sol = solve(params, spec.grid, method=spec.method)
    dist = stationary(sol)
    panel = simulate(sol, n_firms=spec.n_firms, years=spec.years, burn_in=spec.burn_in, seed=seed,
                     distribution=dist)
    return mom.compute(panel, spec.moments)


def _seed_int(seed: np.random.SeedSequence) -> int:
    return int(seed.generate_state(1, dtype=np.uint32)[0])


def moments_at_point(point: dict, seed: np.random.SeedSequence, base: Params, spec: ModelSpec) -> dict:
    """Grid function: model moments at ``base`` with ``point``'s changes."""
    return model_moments(base.replace(**point), spec, _seed_int(seed)).to_dict()


# -- checkpointed grids -----------------------------------------------------------------


class Checkpoint:
    """An append-only JSON-lines file: a header naming the grid, then one line per
    finished point, flushed and synced as it completes. A line cut short by a
    kill is dropped on reading; a point is never written twice."""

    def __init__(self, path: str | os.PathLike, fingerprint: str, n_points: int):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.done: dict[int, dict] = {}
        if self.path.exists() and self.path.stat().st_size > 0:
            self._read(n_points)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w") as f:
                f.write(json.dumps({"grid": fingerprint, "points": n_points}) + "\n")
                f.flush()
                os.fsync(f.fileno())

    def _read(self, n_points: int) -> None:
        with open(self.path, "rb") as f:
            raw = f.read()
        lines = raw.split(b"\n")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.path}: not a grid checkpoint (bad header line)") from err
        if header.get("grid") != self.fingerprint or header.get("points") != n_points:
            raise ValueError(f"{self.path}: checkpoint was written for another grid (other points, function, "
                             f"base parameters or seed); use another path or delete it")
        good = len(lines[0]) + 1
        for line in lines[1:]:
            if not line.strip():
                good += len(line) + 1
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut short by a kill: drop it and what follows
            self.done.setdefault(int(rec["index"]), rec)
            good += len(line) + 1
        if good < len(raw):  # truncate the torn tail so appends start on a fresh line
            with open(self.path, "r+b") as f:
                f.truncate(min(good, len(raw)))

    def append(self, index: int, result: Any, error: BaseException | None) -> None:
        if index in self.done:
            return
        rec = {"index": index, "result": result, "error": None if error is None else f"{type(error).__name__}: "
               f"{error}"}
        line = json.dumps(rec, default=_json_default)
        with open(self.path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done[index] = json.loads(line)


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, pd.Series):
        return x.to_dict()
    raise TypeError(f"cannot store {type(x).__name__} in a checkpoint")


def _fingerprint(points, fn, seed) -> str:
    if isinstance(fn, functools.partial):
        name = f"{fn.func.__module__}.{fn.func.__qualname__}{fn.args!r}{sorted(fn.keywords.items())!r}"
    else:
        name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
    blob = json.dumps({"points": points, "fn": name, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def evaluate_grid(
    points: Sequence[dict],
    fn: Callable[[dict, np.random.SeedSequence], dict] | None = None,
    base: Params | None = None,
    spec: ModelSpec = ModelSpec(),
    executor=None,
    checkpoint: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Evaluate ``fn(point, seed_i)`` at every point; point i gets child i of
    ``SeedSequence(seed)``, whatever the executor.

    By default ``fn`` computes model moments at ``base.replace(**point)``. With a
    ``checkpoint`` path, every finished point is appended as it completes and a
    rerun with the same arguments skips them. A point that raises is recorded
    with its error and the grid goes on. Returns one row per point: the point's
    values, the result's entries and ``error``.
    """
    points = [dict(p) for p in points]
    if not points:
        raise ValueError("points is empty")
    if fn is None:
        fn = functools.partial(moments_at_point, base=base or Params(), spec=spec)
    store = Checkpoint(checkpoint, _fingerprint(points, fn, seed), len(points)) if checkpoint else None
    done = store.done if store else {}
    records: dict[int, dict] = {i: rec for i, rec in done.items()}
    todo = [i for i in range(len(points)) if i not in done]
    if todo:
        for i, result, err in map_items(fn, points, executor=executor, seed=seed, indices=todo,
                                        progress="grid" if progress else False):
            if isinstance(result, pd.Series):
                result = result.to_dict()
            if store:
                store.append(i, result, err)
                records[i] = store.done[i]
            else:
                records[i] = {"index": i, "result": result,
                              "error": None if err is None else f"{type(err).__name__}: {err}"}
    rows = []
    for i in range(len(points)):
        rec = records[i]
        row = {"point": i, **points[i], **(rec["result"] or {}), "error": rec["error"]}
        rows.append(row)
    return pd.DataFrame(rows).set_index("point")


# -- estimation -------------------------------------------------------------------------------


def default_bounds(params: Params, name: str) -> tuple[float, float]:
    """Bounds a search may use for a free parameter. Collateral stays below the
    point where Kbar becomes infinite (q theta < 1 - tau), where the objective
    is discontinuous (docs/model.md, calibration)."""
    value = getattr(params, name)
    if name.startswith("theta_"):
        tau = getattr(params, "tau_" + name[-1])
        return 0.0, 0.999 * (1 - tau) / params.q
    if name in ("lam",):
        return 0.005, 0.3
    if name == "m0_log_mean":
        return value - 3.0, value + 3.0
    if name == "m0_log_sd":
        return 0.1, 3.0
    hi = 5.0 * value if value > 0 else 0.5
    return 0.0, hi


@dataclass(frozen=True)
class SMMResult:
    """Estimates, the fit and the diagnostics of an SMM run.

    se : standard errors (NaN without a data covariance: with only point targets
        no sampling uncertainty can be claimed).
    jacobian : d model moment / d parameter at the estimate (the identification
        diagnostic); ``identified`` is False for a parameter no moment moves.
    j_stat, j_pvalue : over-identification test (needs a covariance and more
        moments than parameters).
    """

    free: tuple
    estimate: pd.Series
    se: pd.Series
    start: pd.Series
    data_moments: pd.Series
    model_moments: pd.Series
    objective: float
    jacobian: pd.DataFrame = field(repr=False)
    identified: pd.Series = field(repr=False)
    j_stat: float
    j_df: int
    j_pvalue: float
    evaluations: int
    params: Params = field(repr=False)
    converged: bool = True

    def moments_table(self) -> pd.DataFrame:
        """Table 7's shape: data, ours, the paper's model, and whether ours is within 10%."""
        out = pd.DataFrame({"data": self.data_moments, "model": self.model_moments})
        out["paper model"] = mom.TABLE7["paper_model"].reindex(out.index)
        out["deviation (%)"] = 100 * (out["model"] / out["data"] - 1)
        out["within 10%"] = out["deviation (%)"].abs() <= 10
        return out

    def params_table(self) -> pd.DataFrame:
        """Table 6's shape: estimate, standard error, start, the paper's value."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CollateralWarning)
            paper_params = Params.paper()
        return pd.DataFrame({
            "estimate": self.estimate, "se": self.se, "start": self.start,
            "paper": pd.Series({n: getattr(paper_params, n) for n in self.free}),
            "identified": self.identified,
        })

    def summary(self) -> str:
        lines = [f"SMM: {len(self.free)} free parameters, {len(self.data_moments)} moments, objective "
                 f"{self.objective:.4g}, {self.evaluations} model evaluations",
                 self.params_table().to_string(float_format=lambda x: f"{x:.5g}"), "",
                 self.moments_table().to_string(float_format=lambda x: f"{x:.4g}")]
        if np.isfinite(self.j_stat):
            lines.append(f"J = {self.j_stat:.3f} on {self.j_df} df, p = {self.j_pvalue:.3f}")
        return "\n".join(lines)


class _Objective:
    """Weighted distance of model from data moments under common random numbers."""

    def __init__(self, data, start, free, spec, weights, seed):
        self.data, self.start, self.free, self.spec, self.W, self.seed = data, start, free, spec, weights, seed
        self.evaluations = 0

    def moments(self, theta) -> pd.Series:
        self.evaluations += 1
        params = self.start.replace(**dict(zip(self.free, map(float, theta))))
        return model_moments(params, self.spec, self.seed)

    def gap(self, m: pd.Series) -> np.ndarray:
        return (m[self.data.index] - self.data).to_numpy()

    def __call__(self, theta) -> float:
        try:
            g = self.gap(self.moments(theta))
        except (ValueError, RuntimeError, ArithmeticError):
            return 1e10  # no solution at this point (a bound broken, no convergence)
        if not np.all(np.isfinite(g)):
            return 1e10
        return float(g @ self.W @ g)


def _grid_objective(point: dict, seed: np.random.SeedSequence, objective: _Objective) -> dict:
    return {"objective": objective(np.array([point[n] for n in objective.free]))}


def estimate(
    data_moments: pd.Series,
    start: Params,
    free: Sequence[str],
    spec: ModelSpec = ModelSpec(),
    covariance: pd.DataFrame | None = None,
    weights: np.ndarray | None = None,
    bounds: dict | None = None,
    data_firms: int | None = None,
    global_points: int = 16,
    local_starts: int = 3,
    local_maxiter: int = 200,
    executor=None,
    seed: int = 0,
    progress: bool = False,
) -> SMMResult:
    """Estimate ``free`` parameters by the simulated method of moments.

    Local searches start from the ``local_starts`` best of the start and the
    Sobol points (the simulated objective is step-shaped and has local minima).
    Weights: with a data ``covariance`` its inverse (efficient); otherwise
    squared percentage deviations (MODEL.md's rule for point targets), unless
    ``weights`` is given. Every evaluation simulates with the same seed (common
    random numbers). A scrambled Sobol sample of ``global_points`` over the
    bounds (evaluated with ``executor``) picks the start of a bounded
    Nelder-Mead search. Standard errors carry the simulation correction
    (1 + 1/S), S = simulated firms / ``data_firms``.
    """
    free = list(free)
    unknown = [n for n in free if not hasattr(start, n) or n in ("liquidation", "entry_outside_option",
                                                                  "sez_exit_to_nsez", "check")]
    if unknown or not free:
        raise ValueError(f"free must name numeric parameters of Params; got {free}")
    data = pd.Series(data_moments, dtype=float)
    missing = [m for m in data.index if m not in mom.MOMENTS]
    if missing:
        raise ValueError(f"unknown data moment(s) {missing}")
    spec = ModelSpec(**{**asdict(spec), "grid": spec.grid, "moments": tuple(data.index)})
    k, p = len(data), len(free)
    if covariance is not None:
        omega = pd.DataFrame(covariance).loc[data.index, data.index].to_numpy()
        W = np.linalg.inv(omega)
    else:
        omega = None
        W = np.diag(1.0 / np.maximum(np.abs(data.to_numpy()), 1e-12) ** 2) if weights is None else np.asarray(weights)
    if W.shape != (k, k):
        raise ValueError(f"weights must be {k} x {k}")
    lo_hi = [(bounds or {}).get(n, default_bounds(start, n)) for n in free]
    obj = _Objective(data, start, free, spec, W, seed)
    # a start outside the bounds (the paper's theta_S breaks q theta < 1 - tau) is moved inside
    x0 = np.clip([getattr(start, n) for n in free], [b[0] for b in lo_hi], [b[1] for b in lo_hi]).astype(float)
    starts = [(x0, obj(x0))]
    if global_points:
        sob = qmc.Sobol(p, scramble=True, seed=seed).random(global_points)
        pts = qmc.scale(sob, [b[0] for b in lo_hi], [b[1] for b in lo_hi])
        grid = evaluate_grid([dict(zip(free, x)) for x in pts], functools.partial(_grid_objective, objective=obj),
                             executor=executor or SerialExecutor(), seed=seed, progress=progress)
        obj.evaluations += len(pts)
        values = grid["objective"].astype(float).to_numpy()
        starts += [(pts[i], float(values[i])) for i in np.argsort(values)[:local_starts]]
    starts = sorted(starts, key=lambda s: s[1])[:max(1, local_starts)]
    x, f, converged = starts[0][0], starts[0][1], False
    for x_start, f_start in starts:
        xs, fs, cs = _local_search(obj, x_start, f_start, lo_hi, local_maxiter)
        if fs < f or (fs == f and not converged):
            x, f, converged = xs, fs, cs
    theta = x
    m_hat = obj.moments(theta)
    jac = _jacobian(obj, theta, lo_hi, m_hat)
    scale = np.maximum(np.abs(theta), 1e-3)
    sensitivity = np.linalg.norm(jac * scale[None, :] / np.maximum(np.abs(data.to_numpy()), 1e-12)[:, None], axis=0)
    identified = sensitivity > 1e-6
    se = np.full(p, np.nan)
    j_stat, j_df, j_p = float("nan"), k - p, float("nan")
    if omega is not None:
        S = spec.n_firms / data_firms if data_firms else np.inf
        correction = 1.0 + 1.0 / S
        G = jac
        bread = np.linalg.pinv(G.T @ W @ G)
        V = correction * bread @ G.T @ W @ omega @ W @ G @ bread
        se = np.sqrt(np.clip(np.diag(V), 0, None))
        g = obj.gap(m_hat)
        if j_df > 0:
            j_stat = float(g @ np.linalg.inv(omega) @ g / correction)
            j_p = float(stats.chi2.sf(j_stat, j_df))
    est = pd.Series(theta, index=free)
    return SMMResult(
        free=tuple(free), estimate=est, se=pd.Series(se, index=free), start=pd.Series(x0, index=free),
        data_moments=data, model_moments=m_hat[data.index], objective=float(obj.gap(m_hat) @ W @ obj.gap(m_hat)),
        jacobian=pd.DataFrame(jac, index=data.index, columns=free), identified=pd.Series(identified, index=free),
        j_stat=j_stat, j_df=j_df, j_pvalue=j_p, evaluations=obj.evaluations,
        params=start.replace(**est.to_dict()), converged=converged,
    )


def _local_search(obj: _Objective, x0, f0, lo_hi, maxiter: int):
    """Bounded Nelder-Mead in the unit cube of the bounds (parameters of very
    different scales move alike), from a simplex spanning 10% of each range,
    restarted from its best point while that still improves (at most 4 runs)."""
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


def _jacobian(obj: _Objective, theta, lo_hi, m_hat) -> np.ndarray:
    """Central differences of the simulated moments (common random numbers),
    one-sided at a bound."""
    cols = []
    for j, (lo, hi) in enumerate(lo_hi):
        h = 1e-3 * max(abs(theta[j]), 1e-2)
        up, dn = theta.copy(), theta.copy()
        up[j] = min(theta[j] + h, hi)
        dn[j] = max(theta[j] - h, lo)
        m_up = obj.moments(up)[obj.data.index] if up[j] > theta[j] else m_hat[obj.data.index]
        m_dn = obj.moments(dn)[obj.data.index] if dn[j] < theta[j] else m_hat[obj.data.index]
        cols.append(((m_up - m_dn) / (up[j] - dn[j])).to_numpy())
    return np.column_stack(cols)
