"""The C++ Bellman kernel against vectorised numpy and numba versions of the same
operator, and full solves of the paper's model by each method.

    python benchmarks/compare_solvers.py [--quick]

Timings are medians of repeated time.perf_counter measurements; numpy runs with
its BLAS limited to one thread so that it competes with the one-thread kernel.
The numpy and numba results are checked against the kernel (Q and V to 1e-10)
before anything is timed: the comparison is between implementations of the
same operator, not of different algorithms.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

TOL = 1e-10
LARGE = dict(n_cash=240, n_capital=400)
SEARCHES = ("grid", "monotone", "continuous")
METHODS = ("grid", "monotone", "howard", "continuous")
THREADS = (1, 2)
# Targets: one "grid" application on Grid(), and solve(Params.paper()) on two cores.
TARGET_NUMPY, TARGET_NUMBA, TARGET_SOLVE_S = 50.0, 2.0, 2.0


def _median_seconds(fn, repeats, min_batch=0.05):
    """Median over `repeats` batches; fast calls are batched so that one batch
    lasts at least min_batch seconds and timer resolution does not matter."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    number = max(1, math.ceil(min_batch / max(first, 1e-9)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def _max_abs_diff(a, b):
    """max |a - b| over finite entries; inf if the -inf/NaN patterns differ."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not (np.array_equal(fa, fb) and np.array_equal(a[~fa], b[~fb], equal_nan=True)):
        return math.inf
    return float(np.abs(a[fa] - b[fb]).max()) if fa.any() else 0.0


def _grid_label(grid):
    return f"Grid(n_cash={grid.n_cash}, n_capital={grid.n_capital})"


def _applications(params, grid, repeats, alt, numba):
    """One Bellman application by each implementation at a converged V."""
    from threadpoolctl import threadpool_limits

    from sez import _core
    from sez.model import build_state_space, solve

    space = build_state_space(params, grid)
    args = space.kernel_args()
    arrays = alt.positional(space.problem)  # the numpy and numba versions take the problem as positional arrays
    V = solve(params, grid, method="howard").V
    ref = _core.bellman_apply(*args, V, search="grid", threads=1)

    n_par = min(2, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n_par)
    rows = []  # (label, threads, seconds, dQ, dV)
    # Compiles the numba functions before any timing.
    checks = {
        "numpy (vectorised)": (alt.bellman_numpy, 1),
        "numba @njit": (alt.bellman_numba, 1),
        "numba @njit(error_model=numpy)": (alt.bellman_numba_ieee, 1),
        "numba parallel, prange": (alt.bellman_numba_parallel, n_par),
    }
    for label, (fn, th) in checks.items():
        with threadpool_limits(limits=1):
            Q, _, Vout = fn(*arrays, V)
            dQ, dV = _max_abs_diff(Q, ref["Q"]), _max_abs_diff(Vout, ref["V"])
            assert dQ <= TOL and dV <= TOL, f"{label} disagrees with the C++ kernel: max|dQ| = {dQ}, max|dV| = {dV}"
            sec = _median_seconds(lambda: fn(*arrays, V), repeats)
        rows.append((label, th, sec, dQ, dV))
    for search in SEARCHES:
        for th in THREADS:
            out = _core.bellman_apply(*args, V, search=search, threads=th)
            dQ, dV = _max_abs_diff(out["Q"], ref["Q"]), _max_abs_diff(out["V"], ref["V"])
            if search == "grid":
                assert dQ == 0 and dV == 0, "the C++ grid search depends on the thread count"
            sec = _median_seconds(lambda: _core.bellman_apply(*args, V, search=search, threads=th), repeats)
            rows.append((f"C++ {search}", th, sec, dQ, dV))
    return rows


def _solves(params, grid, repeats):
    from sez.model import solve

    rows = []  # (method, threads, median seconds, fastest seconds, iterations)
    for method in METHODS:
        for th in THREADS:
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                sol = solve(params, grid, method=method, threads=th)
                samples.append(time.perf_counter() - t0)
            rows.append((method, th, statistics.median(samples), min(samples), sol.iterations))
    return rows


def _print_applications(grid, rows, repeats):
    print(f"\nOne Bellman application, {_grid_label(grid)} (median of {repeats}; differences against C++ grid, "
          f"1 thread)")
    print(f"  {'implementation':32s} {'threads':>7s} {'seconds':>10s} {'max|dQ|':>10s} {'max|dV|':>10s}")
    for label, th, sec, dQ, dV in rows:
        print(f"  {label:32s} {th:7d} {sec:10.5f} {dQ:10.2e} {dV:10.2e}")
    print("  (monotone and continuous are other searches: their differences are how far they move from the\n"
          "   grid-search optimum in one step, not errors)")


def _print_solves(grid, rows, repeats):
    print(f"\nFull solve sez.model.solve(Params.paper(), {_grid_label(grid)}, method, threads) "
          f"(median and fastest of {repeats}; wall seconds of the call)")
    print(f"  {'method':12s} {'threads':>7s} {'seconds':>10s} {'fastest':>10s} {'Bellman applications':>21s}")
    for method, th, sec, best, it in rows:
        print(f"  {method:12s} {th:7d} {sec:10.4f} {best:10.4f} {it:21d}")


TARGET_GROWTH_S = 0.1


def _growth(repeats):
    from sez.model import solve_growth

    out = {}
    for method in ("monotone", "howard"):
        for threads in (1, 2):
            times, its = [], 0
            for _ in range(repeats):
                t = time.perf_counter()
                its = solve_growth(method=method, threads=threads).iterations
                times.append(time.perf_counter() - t)
            out[(method, threads)] = (float(np.median(times)), its)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    opts = ap.parse_args(argv)
    rep_apply, rep_solve = (3, 1) if opts.quick else (7, 3)

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _alternatives as alt
    import numba

    from sez import _core
    from sez.model import CollateralWarning, Grid, Params

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        params = Params.paper()
    small, large = Grid(), Grid(**LARGE)

    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}; "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), OpenMP max threads "
          f"{_core.max_threads()}")
    print("load average at start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"default grid: {small.n_types} types x {small.n_shocks} shocks x {small.n_cash} cash points, "
          f"{small.n_capital} capital points; V = converged values (method='howard')")

    t_start = time.perf_counter()
    app = {}
    for grid in (small, large):
        app[grid] = _applications(params, grid, rep_apply, alt, numba)
        _print_applications(grid, app[grid], rep_apply)
    print(f"\nnumpy and numba agree with the C++ grid search to {TOL:g} (Q and V) on both grids.")

    sol = {}
    for grid in (small, large):
        sol[grid] = _solves(params, grid, rep_solve)
        _print_solves(grid, sol[grid], rep_solve)

    sec = {(label, th): s for label, th, s, _, _ in app[small]}
    cpp1 = sec[("C++ grid", 1)]
    n_par = max(th for label, th, _, _, _ in app[small] if label.startswith("numba parallel"))

    def numba1(s):  # the faster one-thread numba variant is the one to beat
        return min(s[("numba @njit", 1)], s[("numba @njit(error_model=numpy)", 1)])

    ratios = [
        ("numpy / C++ grid, 1 thread", sec[("numpy (vectorised)", 1)] / cpp1, TARGET_NUMPY),
        ("fastest numba / C++ grid, 1 thread", numba1(sec) / cpp1, TARGET_NUMBA),
        ("numba default options / C++ grid, 1 thread", sec[("numba @njit", 1)] / cpp1, None),
        (f"numba parallel / C++ grid, {n_par} threads",
         sec[("numba parallel, prange", n_par)] / sec[("C++ grid", n_par)], None),
        ("numpy / C++ monotone, 1 thread", sec[("numpy (vectorised)", 1)] / sec[("C++ monotone", 1)], None),
        ("fastest numba / C++ monotone, 1 thread", numba1(sec) / sec[("C++ monotone", 1)], None),
    ]
    lsec = {(label, th): s for label, th, s, _, _ in app[large]}
    ratios += [
        ("numpy / C++ grid, 1 thread, larger grid",
         lsec[("numpy (vectorised)", 1)] / lsec[("C++ grid", 1)], None),
        ("fastest numba / C++ grid, 1 thread, larger grid", numba1(lsec) / lsec[("C++ grid", 1)], None),
    ]
    print(f"\nSpeed ratios, one Bellman application ({_grid_label(small)} unless noted; same operator, "
          f"'grid' search is the like-for-like comparison)")
    print(f"  {'ratio':48s} {'value':>8s} {'target':>8s}  met")
    for label, value, target in ratios:
        tgt = f">= {target:g}x" if target else "-"
        met = ("yes" if value >= target else "NO") if target else ""
        print(f"  {label:48s} {value:7.1f}x {tgt:>8s}  {met}")

    solve_sec = {(m, th): s for m, th, s, _, _ in sol[small]}
    two = max(THREADS)
    default = solve_sec[("howard", two)]
    print(f"\nFull solve of Params.paper() on {_grid_label(small)}, {two} threads (target < {TARGET_SOLVE_S:g} s)")
    for method in METHODS:
        s = solve_sec[(method, two)]
        note = "  (solve's default method)" if method == "howard" else ""
        print(f"  {method:12s} {s:8.3f} s  {'yes' if s < TARGET_SOLVE_S else 'NO'}{note}")

    def verdict(ok):
        return "met" if ok else "NOT met"

    print("\nTargets")
    print(f"  C++ >= {TARGET_NUMPY:g}x faster than vectorised numpy (one application):  "
          f"{verdict(ratios[0][1] >= TARGET_NUMPY)} ({ratios[0][1]:.1f}x)")
    print(f"  C++ >= {TARGET_NUMBA:g}x faster than the fastest numba (one application): "
          f"{verdict(ratios[1][1] >= TARGET_NUMBA)} ({ratios[1][1]:.1f}x)")
    print(f"  solve(Params.paper()) < {TARGET_SOLVE_S:g} s on {two} cores:                    "
          f"{verdict(default < TARGET_SOLVE_S)} ({default:.3f} s, method='howard')")
    growth = _growth(rep_apply)
    print(f"\nGrowth model of Aruoba and Fernandez-Villaverde (2015), 17,820 x 5 grid (median of {rep_apply})")
    for (method, threads), (seconds, iterations) in growth.items():
        print(f"  {method:10s} threads={threads}  {seconds:.3f} s  {iterations} Bellman improvements")
    best = min(sec for (m, th), (sec, _) in growth.items() if th == two)
    print(f"  growth model < {TARGET_GROWTH_S:g} s on {two} cores: {verdict(best < TARGET_GROWTH_S)} ({best:.3f} s)")
    print("\nload average at end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
          + f"; total {time.perf_counter() - t_start:.0f} s. Other processes on the machine inflate the "
          "2-thread timings most.")


if __name__ == "__main__":
    main()
