"""asv benchmarks of the Bellman kernel and of full solves of the paper's model.

Everything runs on one thread: two-thread timings on a small shared machine
measure the neighbours more than the code. State spaces and starting values are
built outside the timed region.
"""

import warnings

from sez import _core
from sez.model import CollateralWarning, Grid, Params, build_state_space, solve
from sez.model.solve import METHODS, initial_values

GRIDS = {
    "default": {},
    "large": {"n_cash": 240, "n_capital": 400},
}


def _params():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        return Params.paper()


class BellmanApply:
    """One Bellman application at the converged values."""

    params = (list(GRIDS), ["grid", "monotone", "continuous"])
    param_names = ["grid", "search"]
    timeout = 600

    def setup_cache(self):
        p = _params()
        cache = {}
        for name, kw in GRIDS.items():
            grid = Grid(**kw)
            cache[name] = (build_state_space(p, grid).kernel_args(), solve(p, grid, threads=1).V)
        return cache

    def setup(self, cache, grid, search):
        self.args, self.V = cache[grid]

    def time_bellman_apply(self, cache, grid, search):
        _core.bellman_apply(*self.args, self.V, search=search, threads=1)


class FullSolve:
    """Value iteration from V0 to tol 1e-7, per method."""

    params = (list(GRIDS), list(METHODS))
    param_names = ["grid", "method"]
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0
    timeout = 600

    def setup(self, grid, method):
        self.p = _params()
        self.grid = Grid(**GRIDS[grid])
        space = build_state_space(self.p, self.grid)
        self.args = space.kernel_args()
        self.V0 = initial_values(space)
        self.search, self.howard = METHODS[method]

    def time_solve(self, grid, method):
        # The public entry point: iteration plus policies, thresholds and entry.
        solve(self.p, self.grid, method=method, threads=1)

    def time_value_iteration(self, grid, method):
        _core.bellman_solve(*self.args, self.V0, search=self.search, howard=self.howard, tol=1e-7,
                            max_iter=5000, threads=1)

    def track_bellman_applications(self, grid, method):
        return solve(self.p, self.grid, method=method, threads=1).iterations

    track_bellman_applications.unit = "applications"


class SolveMemory:
    """Peak resident memory of a full solve with solve's default method."""

    params = list(GRIDS)
    param_names = ["grid"]
    timeout = 600

    def setup(self, grid):
        self.p = _params()
        self.grid = Grid(**GRIDS[grid])

    def peakmem_solve(self, grid):
        solve(self.p, self.grid, threads=1)
