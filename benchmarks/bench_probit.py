"""Fixed-effects probit at the agglomeration paper's scale, and statsmodels with dense dummies.

Usage::

    python benchmarks/bench_probit.py            # both parts, each in a fresh process
    python benchmarks/bench_probit.py --n 200000 # smaller paper-style run

Each part runs in its own process so that its peak resident memory is its own.
The paper-scale part fits 1.28 million firm-years with 10 regressors and year,
~170 industry and ~714 county effects and computes marginal effects at means;
the comparison part fits the same model on 50,000 observations with fewer
levels both ways, so the ratio is measured on identical data.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd


def synthetic_probit_data(n: int, n_years: int, n_industries: int, n_counties: int, n_regressors: int = 10,
                          seed: int = 2024) -> pd.DataFrame:
    """Firm-years with a probit outcome, continuous regressors, one 0/1 regressor and three effects."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "year": rng.integers(1999, 1999 + n_years, n),
        "cic3": rng.integers(0, n_industries, n),
        "county": rng.integers(0, n_counties, n),
    })
    industry_effect = rng.normal(0, 0.3, n_industries)
    county_effect = rng.normal(0, 0.3, n_counties)
    index = industry_effect[data["cic3"]] + county_effect[data["county"]] + 0.05 * (data["year"] - 1999) - 1.0
    for j in range(n_regressors - 1):
        data[f"x{j}"] = rng.normal(size=n) + 0.1 * county_effect[data["county"]]
        index = index + (0.2 if j % 2 else -0.1) * data[f"x{j}"]
    data["lagged_exporter"] = (rng.uniform(size=n) < 0.25).astype(float)
    index = index + 2.0 * data["lagged_exporter"]
    data["exporter"] = (index + rng.normal(size=n) > 0).astype(np.int8)
    return data


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kilobytes on Linux


def run_ours(n: int, n_years: int, n_industries: int, n_counties: int) -> dict:
    from sez.probit import probit

    data = synthetic_probit_data(n, n_years, n_industries, n_counties)
    regressors = [c for c in data.columns if c.startswith("x")] + ["lagged_exporter"]
    start = time.perf_counter()
    result = probit(data, "exporter", regressors, fe=["year", "cic3", "county"])
    fit_seconds = time.perf_counter() - start
    effects = result.marginal_effects(at="mean").frame
    total_seconds = time.perf_counter() - start
    return {"n": result.nobs, "dropped": result.n_dropped, "fit_s": fit_seconds, "total_s": total_seconds,
            "iterations": result.iterations, "peak_gib": _peak_gib(),
            "params": result.params.tolist(), "bse": result.bse.tolist(), "me": effects["effect"].tolist(),
            "me_se": effects["std_err"].tolist(), "loglik": result.loglik}


def run_statsmodels(n: int, n_years: int, n_industries: int, n_counties: int) -> dict:
    import statsmodels.api as sm

    data = synthetic_probit_data(n, n_years, n_industries, n_counties)
    regressors = [c for c in data.columns if c.startswith("x")] + ["lagged_exporter"]
    start = time.perf_counter()
    dummies = [pd.get_dummies(data[c], prefix=c, drop_first=True, dtype=float) for c in ("year", "cic3", "county")]
    design = sm.add_constant(pd.concat([data[regressors], *dummies], axis=1))
    fitted = sm.Probit(data["exporter"], design).fit(disp=0, method="newton", tol=1e-10)
    effects = fitted.get_margeff(at="mean", dummy=True)
    total_seconds = time.perf_counter() - start
    k = len(regressors)
    return {"n": int(fitted.nobs), "total_s": total_seconds, "peak_gib": _peak_gib(),
            "params": fitted.params.iloc[1:k + 1].tolist(), "bse": fitted.bse.iloc[1:k + 1].tolist(),
            "me": effects.margeff[:k].tolist(), "me_se": effects.margeff_se[:k].tolist(), "loglik": fitted.llf}


def _child(part: str, sizes: list[int], threads: int) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--child", part, *map(str, sizes)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_280_000, help="paper-scale observations")
    parser.add_argument("--n-small", type=int, default=50_000, help="observations of the statsmodels comparison")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        part, *sizes = args.child
        runner = run_ours if part == "ours" else run_statsmodels
        print(json.dumps(runner(*map(int, sizes))))
        return

    big = [args.n, 9, 170, 714]
    small = [args.n_small, 9, 30, 60]
    print(f"threads: {args.threads}")
    ours_big = _child("ours", big, args.threads)
    print(f"sez.probit.probit  n={ours_big['n']:>9,}  levels 9+170+714: fit {ours_big['fit_s']:.1f} s, "
          f"with M.E. at means {ours_big['total_s']:.1f} s, {ours_big['iterations']} Newton steps, "
          f"peak {ours_big['peak_gib']:.2f} GiB, dropped {ours_big['dropped']}")
    ours_small = _child("ours", small, args.threads)
    reference = _child("statsmodels", small, args.threads)
    print(f"sez.probit.probit  n={ours_small['n']:>9,}  levels 9+30+60:   {ours_small['total_s']:.2f} s, "
          f"peak {ours_small['peak_gib']:.2f} GiB")
    print(f"statsmodels Probit dense n={reference['n']:>9,}  levels 9+30+60:   {reference['total_s']:.2f} s, "
          f"peak {reference['peak_gib']:.2f} GiB")
    print(f"ratio statsmodels / sez at n={args.n_small:,}: {reference['total_s'] / ours_small['total_s']:.1f}x")
    for key in ("params", "bse", "me", "me_se"):
        gap = np.max(np.abs(np.array(ours_small[key]) - np.array(reference[key])) / np.abs(reference[key]))
        print(f"  largest relative difference in {key}: {gap:.2e}")
    print(f"  log-likelihood difference: {ours_small['loglik'] - reference['loglik']:.2e}")


if __name__ == "__main__":
    main()
