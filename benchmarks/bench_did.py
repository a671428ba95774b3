"""Benchmark: staggered DiD at the paper's scale (2.3 million firm-years).

A synthetic firm-year panel of ~590,000 firms and ~41,000 region-years (2,560
regions x 16 years) is generated with numpy; a tenth of the firms enter a zone
in a random year of their life, with a known effect of 0.10. Each stage runs in
its own process so that its peak memory (max RSS) is its own:

- ``twfe``: TWFE with firm and region-by-year effects, clustered by firm
  (target 20 s, 8 GiB on 2 cores);
- ``event``: the TWFE event study with 15 event-time dummies (window -5..10,
  reference -5; target 40 s);
- ``imputation``: the imputation estimator with its analytic standard error
  (target 5 minutes);
- ``twfe_vs_feols``: ``sez.did.twfe`` beside pyfixest's own ``feols`` on the
  same specification in the same process (target: within 1.1x).

Run ``python benchmarks/bench_did.py`` (all stages) or name stages.

The imputation estimator eliminates the firm effects and solves the rest (40,960
region-years here) by conjugate gradients on the Schur complement. Measured on an
otherwise idle 2-core machine: ``twfe`` 4.3 s and 1.33 GiB peak, ``event`` 9.2 s and
3.2 GiB, ``imputation`` 1.8 s and 0.65 GiB, ``event_imputation`` (11 post-entry
estimands, each with its own variance solve, plus the pre-trend regression) 5.8 s and
1.99 GiB, ``twfe_vs_feols`` 1.8 s against pyfixest's 2.2 s (0.82x).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

N_FIRMS = 590_000
N_REGIONS = 2_560
YEARS = (1998, 2013)
TRUE_EFFECT = 0.10


def make_panel(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first, last = YEARS
    n_years = last - first + 1
    # geometric spells of consecutive years (mean ~3.9, up to all 16 years): ~2.3 million firm-years, and
    # long-lived entrants reach every event time of the -5..10 window
    length = np.minimum(rng.geometric(1 / 3.95, N_FIRMS), n_years)
    start = first + (rng.random(N_FIRMS) * (n_years - length + 1)).astype(np.int64)
    firm = np.repeat(np.arange(N_FIRMS, dtype=np.int64), length)
    offset = np.arange(len(firm)) - np.repeat(np.cumsum(length) - length, length)
    year = start[firm] + offset
    region = rng.integers(0, N_REGIONS, N_FIRMS)[firm]
    enters = (rng.random(N_FIRMS) < 0.10) & (length >= 2)
    entry_year = np.where(enters, start + 1 + (rng.random(N_FIRMS) * (length - 1)).astype(np.int64), 10_000)
    sez = year >= entry_year[firm]
    region_year = rng.normal(0, 0.2, N_REGIONS * n_years)[region * n_years + (year - first)]
    y = rng.normal(0, 0.5, N_FIRMS)[firm] + region_year + TRUE_EFFECT * sez + rng.normal(0, 0.3, len(firm))
    return pd.DataFrame({"firm_id": firm, "year": year, "region": region, "sez": sez, "ln_tfp": y})


def run_stage(stage: str) -> dict:
    from sez import did

    t0 = time.perf_counter()
    panel = make_panel()
    t_gen = time.perf_counter() - t0
    fe = ("firm_id", "region^year")
    t0 = time.perf_counter()
    if stage == "twfe":
        res = did.twfe(panel, "ln_tfp", fe=fe)
        detail = {"coef": res.coef, "se": res.se, "nobs": res.nobs, "counts": res.counts}
    elif stage == "event":
        res = did.event_study(panel, "ln_tfp", fe=fe, window=(-5, 10), reference=-5, estimators=("twfe",))
        detail = {"n_dummies": int(res.table.twfe_se.notna().sum()),
                  "coef_0": float(res.table.loc[0, "twfe_coef"]), "coef_3": float(res.table.loc[3, "twfe_coef"])}
    elif stage == "imputation":
        res = did.imputation(panel, "ln_tfp", fe=fe)
        detail = {"coef": res.coef, "se": res.se, "nobs": res.nobs, "counts": res.counts}
    elif stage == "twfe_vs_feols":
        # the same specification through sez.did.twfe and pyfixest's own feols, warm, alternating, best of 3
        import warnings

        import pyfixest as pf

        def feols():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pf.feols("ln_tfp ~ sez | firm_id + region^year", data=panel, vcov={"CRV1": "firm_id"},
                                demeaner=did.demeaner_for(fe), fixef_rm="singleton")

        times = {"sez": [], "pyfixest": []}
        for _ in range(4):
            for name, call in (("sez", lambda: did.twfe(panel, "ln_tfp", fe=fe)), ("pyfixest", feols)):
                t1 = time.perf_counter()
                out = call()
                times[name].append(time.perf_counter() - t1)
                if name == "sez":
                    res = out
                else:
                    ref = float(out.coef().iloc[0])
        best = {k: min(v[1:]) for k, v in times.items()}  # the first round warms both up
        detail = {"sez_s": round(best["sez"], 2), "pyfixest_s": round(best["pyfixest"], 2),
                  "ratio": round(best["sez"] / best["pyfixest"], 2), "coef": res.coef, "pyfixest_coef": ref}
    elif stage == "event_imputation":
        res = did.event_study(panel, "ln_tfp", fe=fe, window=(-5, 10), reference=-5, estimators=("imputation",))
        detail = {"coef_0": float(res.table.loc[0, "imputation_coef"]),
                  "se_0": float(res.table.loc[0, "imputation_se"])}
    else:
        raise ValueError(f"unknown stage {stage!r}")
    seconds = time.perf_counter() - t0
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return {"stage": stage, "rows": len(panel), "firms": int(panel.firm_id.nunique()),
            "region_years": int(panel.groupby(["region", "year"]).ngroups), "generate_s": round(t_gen, 1),
            "estimate_s": round(seconds, 1), "peak_rss_gib": round(peak_gib, 2), **detail}


def main(stages) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="2", RAYON_NUM_THREADS="2", MKL_NUM_THREADS="2",
               OPENBLAS_NUM_THREADS="2")
    for stage in stages:
        out = subprocess.run([sys.executable, __file__, "--stage", stage], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{stage}: failed\n{out.stderr[-2000:]}")
            continue
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--stage":
        print(json.dumps(run_stage(sys.argv[2]), default=float))
    else:
        main(sys.argv[1:] or ["twfe", "event", "imputation", "event_imputation", "twfe_vs_feols"])
