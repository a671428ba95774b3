"""Grid throughput with 1 and 2 worker processes, one SMM objective evaluation, and
a whole (short) SMM estimation serial vs on 2 worker processes.

    python benchmarks/compare_grid.py [--points N] [--skip-estimate]

Targets: throughput with 2 workers at least 1.8x that with 1 (each worker runs
the kernels on one OpenMP thread); one objective evaluation (solve, stationary
distribution, 20,000-firm panel, moments) on the default grid under 5 s on 2 cores.
The estimation evaluates its Sobol points, each Jacobian's columns and each scan on
the executor; the same estimate is checked, and the wall-time ratio printed.
"""

import argparse
import time
import warnings

from sez.model import CollateralWarning, Params
from sez.papers.sez_paper.model import table7
from sez.parallel import local_executor, set_threads
from sez.smm import ModelSpec, estimate, evaluate_grid, model_moments


def main(n_points: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        base = Params.paper(xbar_S=0.3, theta_S=0.7)
    points = [{"xbar_S": 0.05 + 0.5 * i / n_points} for i in range(n_points)]
    spec = ModelSpec()
    rates = {}
    for workers in (1, 2):
        with local_executor(workers=workers) as pool:
            evaluate_grid(points[:workers], base=base, spec=spec, executor=pool, progress=False)  # start workers
            t = time.perf_counter()
            evaluate_grid(points, base=base, spec=spec, executor=pool, progress=False)
            rates[workers] = n_points / (time.perf_counter() - t)
        print(f"{workers} worker(s), 1 OpenMP thread each: {rates[workers]:.2f} points/s")
    ratio = rates[2] / rates[1]
    print(f"throughput 2 workers / 1 worker: {ratio:.2f}x  target >= 1.8x: {'met' if ratio >= 1.8 else 'NOT met'}")
    for threads in (1, 2):
        set_threads(threads)
        times = []
        for seed in range(3):
            t = time.perf_counter()
            model_moments(base, spec, seed=seed)
            times.append(time.perf_counter() - t)
        best = min(times)
        print(f"one SMM objective evaluation (solve, stationary distribution, 20,000-firm panel, moments), "
              f"default grid, {threads} OpenMP thread(s): best of 3 {best:.3f} s, median "
              f"{sorted(times)[1]:.3f} s  target < 5 s: {'met' if best < 5 else 'NOT met'}")



def compare_estimate() -> None:
    set_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        start = Params.paper(theta_S=0.7, xbar_S=0.2)
    free = ["theta_S", "theta_N", "xi_N", "xbar_S"]
    kw = dict(spec=ModelSpec(n_firms=4000, years=5), seed=0, global_points=4, local_starts=1, local_maxiter=40,
              scan_rounds=1, noise_draws=2)
    t = time.perf_counter()
    serial = estimate(table7()["data"], start, free, **kw)
    t_serial = time.perf_counter() - t
    with local_executor(workers=2) as pool:
        t = time.perf_counter()
        pooled = estimate(table7()["data"], start, free, executor=pool, **kw)
        t_pool = time.perf_counter() - t
    print(f"SMM estimation, 4 free parameters, {serial.evaluations} model evaluations: serial {t_serial:.1f} s, "
          f"2 workers {t_pool:.1f} s, {t_serial / t_pool:.2f}x; same estimate: {pooled.params.equals(serial.params)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=24)
    parser.add_argument("--skip-estimate", action="store_true")
    args = parser.parse_args()
    main(args.points)
    if not args.skip_estimate:
        compare_estimate()
