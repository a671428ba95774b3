"""Timing of sez.tfp point estimates and the firm bootstrap.

Run ``python benchmarks/bench_tfp.py [--firms 295000] [--workers 2] [--reps 100]``.
Targets: OP, LP and ACF on about 2.3 million firm-years over 30 industries, each
under 2 minutes on 2 cores; 100 bootstrap replications of ACF on the Chilean
panel (prodest fixture) under 1 minute.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from sez import tfp
from sez.parallel import local_executor

CHILEAN = Path("/work/shared/data/prodest/prodest_chilean_sample.csv")
COLUMNS = ["firm_id", "year", "cic2", "sez", "value_added", "output", "intermediate_input", "employees",
           "capital", "investment", "exit"]


def large_panel(n_firms: int, seed: int = 0) -> pd.DataFrame:
    import sez.data

    return sez.data.synthetic(n_firms=n_firms, seed=seed, mess="none").truth[COLUMNS]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=295_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--methods", default="op,lp,acf")
    parser.add_argument("--bootstrap-only", action="store_true",
                        help="time only the Chilean ACF bootstrap (skips generating the large panel)")
    args = parser.parse_args()

    methods = [] if args.bootstrap_only else args.methods.split(",")
    if methods:
        t0 = time.perf_counter()
        panel = large_panel(args.firms)
        print(f"panel: {len(panel):,} firm-years, {panel.firm_id.nunique():,} firms, "
              f"{panel.cic2.nunique()} industries (generated in {time.perf_counter() - t0:.1f} s)")
    with local_executor(args.workers) as executor:
        # start the workers and their imports (scipy, statsmodels) before timing
        warm = panel.head(20_000) if methods else large_panel(3_000)
        tfp.estimate(warm, method="op", by="cic2", min_obs=10, small="skip", executor=executor)
        for method in methods:
            t0 = time.perf_counter()
            res = tfp.estimate(panel, method=method, by="cic2", executor=executor)
            seconds = time.perf_counter() - t0
            est = res.estimates
            print(f"{method:4s} {seconds:7.1f} s  {len(est)} industries, all converged: {bool(est.converged.all())}, "
                  f"median b_l {est.beta_employees.median():.3f}, median b_k {est.beta_capital.median():.3f}")
        if CHILEAN.exists():
            chile = pd.read_csv(CHILEAN).rename(columns={
                "id": "firm_id", "log_y": "value_added", "log_k": "capital", "log_materials": "intermediate_input",
                "log_investment": "investment"})
            t0 = time.perf_counter()
            boot = tfp.bootstrap(chile, "acf", reps=args.reps, executor=executor, seed=0, by=None,
                                 inputs=tfp.Inputs(logged=True, free=["log_lab1", "log_lab2"]))
            seconds = time.perf_counter() - t0
            print(f"bootstrap: {args.reps} ACF replications on the Chilean panel ({len(chile):,} obs) "
                  f"in {seconds:.1f} s on {args.workers} workers, {len(boot.failed)} failed")
            print(boot.wide().filter(regex="beta_|se_").to_string(float_format=lambda v: f"{v:.3f}"))
        else:
            print(f"bootstrap skipped: {CHILEAN} absent")


if __name__ == "__main__":
    main()
