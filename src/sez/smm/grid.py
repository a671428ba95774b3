"""Model moments at parameter points, and grids of them that survive being killed (a checkpoint per point)."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from sez import limits
from sez import moments as mom
from sez.model import Grid, Params, simulate, solve, stationary
from sez.model.simulate import estimate_panel
from sez.parallel import map_items
from sez.store import Checkpoint


@dataclass(frozen=True)
class ModelSpec:
    """How parameters become simulated moments: grid, panel size, moments."""

    grid: Grid = Grid()
    n_firms: int = 20_000
    years: int = 10
    burn_in: int = 60
    moments: tuple = mom.CALIBRATION_MOMENTS
    method: str = "howard"

    def seconds_per_point(self) -> float:
        """Estimated seconds on one thread of one point: a solve of ``grid`` and a simulated panel."""
        return self.grid.estimate()[2] + estimate_panel(self.n_firms, self.years, self.burn_in)[2]


#: Bytes of one grid point held while a grid runs: its parameter dict, its checkpoint record and its row
#: of the table (about a kilobyte with a handful of parameters and the calibration moments).
BYTES_PER_POINT = 1024


def factorial_points(axes: dict[str, Sequence], spec: ModelSpec = ModelSpec(),
                     allow_large: bool = False) -> list[dict]:
    """Every combination of the values in ``axes`` (parameter name -> values): a full factorial grid.

    The points are counted by multiplying the axes' lengths before any is built: more than
    ``sez.limits.MAX_GRID_POINTS``, or more memory than ``sez.limits.memory_limit()``, is a
    :class:`sez.errors.SizeError` giving the count, the memory and the core-hours at ``spec``'s cost per
    point, unless ``allow_large=True`` (``sez grid --allow-large``).
    """
    count = math.prod(len(values) for values in axes.values())
    shape = " x ".join(f"{len(values)} {name}" for name, values in axes.items())
    limits.check_size(f"parameter grid of {shape}", count, "points", count * BYTES_PER_POINT,
                      count * spec.seconds_per_point(), allow_large=allow_large, max_count=limits.MAX_GRID_POINTS,
                      limit_time=False, override="allow_large=True (sez grid --allow-large)")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*axes.values())]


def model_moments(params: Params, spec: ModelSpec = ModelSpec(), seed: int = 0) -> pd.Series:
    """Solve, find the stationary distribution, simulate a panel with ``seed`` and
    compute the moments of ``spec``, with one OpenMP thread per call unless the
    process says otherwise.
    """
    sol = solve(params, spec.grid, method=spec.method)
    dist = stationary(sol)
    panel = simulate(sol, n_firms=spec.n_firms, years=spec.years, burn_in=spec.burn_in, seed=seed,
                     distribution=dist)
    return mom.compute(panel, spec.moments)


def _seed_int(seed: np.random.SeedSequence) -> int:
    return int(seed.generate_state(1, dtype=np.uint32)[0])


def moments_at_point(point: dict, seed: np.random.SeedSequence, base: Params, spec: ModelSpec,
                     fixed_seed: int | None = None) -> dict:
    """Grid function: model moments at ``base`` with ``point``'s changes, simulated
    with the point's own ``seed`` (a grid) or with ``fixed_seed`` for every point
    (an estimation's common random numbers).
    """
    return model_moments(base.replace(**point), spec, _seed_int(seed) if fixed_seed is None else fixed_seed).to_dict()


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
    retry_failed: bool = False,
) -> pd.DataFrame:
    """Evaluate ``fn(point, seed_i)`` at every point; point i gets child i of
    ``SeedSequence(seed)``, whatever the executor.

    By default ``fn`` computes model moments at ``base.replace(**point)``. With a
    ``checkpoint`` path, every finished point is appended as it completes and a
    rerun with the same arguments skips them. A point that raises is recorded
    with its error and the grid goes on; ``retry_failed=True`` computes the
    recorded failures again. A fault of the machine (a killed worker, a broken
    pool, an interrupt) is not a result: nothing is recorded for the points in
    flight, :class:`sez.parallel.WorkerLost` is raised, and a rerun computes
    them. Returns one row per point: the point's values, the result's entries
    and ``error``.
    """
    points = [dict(p) for p in points]
    if not points:
        raise ValueError("points is empty")
    if fn is None:
        fn = functools.partial(moments_at_point, base=base or Params(), spec=spec)
    store = Checkpoint(checkpoint, _fingerprint(points, fn, seed), len(points)) if checkpoint else None
    done = store.done if store else {}
    records: dict[int, dict] = {i: rec for i, rec in done.items()}
    todo = [i for i in range(len(points)) if i not in done or (retry_failed and done[i].get("error") is not None)]
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
