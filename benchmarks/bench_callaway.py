"""Benchmark: Callaway and Sant'Anna (2021) ATT(g,t) and their four aggregations, beside moderndid.

    python benchmarks/bench_callaway.py [--units 20000 100000] [--large 600000] [--skip-moderndid]

- ``balanced``: a balanced panel of N units x 10 years (seven cohorts and
  never-treated units), ``sez.did.callaway_santanna`` against moderndid's
  ``att_gt`` (``est_method="reg"``, analytic standard errors, the same
  estimator without covariates) plus ``aggte`` for the simple, dynamic, group
  and calendar aggregations; the two sets of estimates are checked to agree,
  and the time ratio printed.
- ``unbalanced``: ours alone on the papers' scale, 600,000 units over 16 years
  with spells of consecutive years (about 2.3 million unit-years) and 15
  cohorts, which moderndid 0.2.0 cannot take (``allow_unbalanced_panel=True``
  stops with a TypeError).

Measured on an otherwise idle machine (2 cores), analytic standard errors:
see ``docs/estimators.md`` ("Callaway and Sant'Anna (2021)", Speed).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from sez.did import callaway_santanna

KINDS = ("simple", "dynamic", "group", "calendar")


def balanced_panel(n_units: int, n_years: int = 10, seed: int = 0) -> pd.DataFrame:
    """Unit and year effects, cohorts entering from the third year on (30% never), effect 0.1 + 0.02 e."""
    rng = np.random.default_rng(seed)
    years = np.arange(2000, 2000 + n_years)
    cohort = np.where(rng.random(n_units) < 0.3, 0, rng.choice(years[2:-1], n_units))
    unit = np.repeat(np.arange(n_units), n_years)
    year = np.tile(years, n_units)
    g = cohort[unit]
    event = year - g
    treated = (g > 0) & (event >= 0)
    y = (rng.normal(0, 1, n_units)[unit] + 0.05 * (year - years[0]) + rng.normal(0, 0.3, len(unit))
         + np.where(treated, 0.1 + 0.02 * event, 0.0))
    return pd.DataFrame({"firm_id": unit, "year": year, "y": y, "cohort": g})


def unbalanced_panel(n_units: int, first: int = 1998, last: int = 2013, seed: int = 0) -> pd.DataFrame:
    """Spells of consecutive years (geometric, mean ~3.9 years); 30% of units ever enter, in any year of the
    panel after its first (an entry before a unit's first year makes it always treated: dropped, counted).
    """
    rng = np.random.default_rng(seed)
    n_years = last - first + 1
    length = np.minimum(rng.geometric(1 / 3.95, n_units), n_years)
    start = first + (rng.random(n_units) * (n_years - length + 1)).astype(np.int64)
    unit = np.repeat(np.arange(n_units), length)
    year = start[unit] + np.arange(len(unit)) - np.repeat(np.cumsum(length) - length, length)
    cohort = np.where(rng.random(n_units) < 0.3, rng.integers(first + 1, last + 1, n_units), 0)
    g = cohort[unit]
    treated = (g > 0) & (year >= g)
    y = rng.normal(0, 1, n_units)[unit] + 0.03 * (year - first) + rng.normal(0, 0.3, len(unit)) + 0.1 * treated
    return pd.DataFrame({"firm_id": unit, "year": year, "y": y, "cohort": g})


def ours(data: pd.DataFrame) -> tuple[float, dict]:
    start = time.perf_counter()
    res = callaway_santanna(data, "y", cohort="cohort")
    aggregated = {kind: res.aggregate(kind) for kind in KINDS}
    return time.perf_counter() - start, {"att": res.params.to_numpy(), "se": res.bse.to_numpy(),
                                         **{k: float(a.params.iloc[-1]) for k, a in aggregated.items()}}


def theirs(data: pd.DataFrame) -> tuple[float, dict]:
    import moderndid

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = moderndid.att_gt(data=data, yname="y", tname="year", idname="firm_id", gname="cohort",
                               est_method="reg")
        aggregated = {kind: moderndid.aggte(res, type=kind) for kind in KINDS}
    return time.perf_counter() - start, {"att": np.asarray(res.att_gt), "se": np.asarray(res.se_gt),
                                         **{k: float(a.overall_att) for k, a in aggregated.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="*", default=[20_000, 100_000])
    parser.add_argument("--large", type=int, default=600_000)
    parser.add_argument("--skip-moderndid", action="store_true")
    args = parser.parse_args()
    for n in args.units:
        data = balanced_panel(n)
        ours_s, ours_out = ours(data)
        line = f"balanced {n:,} units x 10 years ({len(data):,} rows): ours {ours_s:.2f} s"
        if not args.skip_moderndid:
            theirs_s, theirs_out = theirs(data)
            gap = max(float(np.max(np.abs(ours_out[k] - theirs_out[k]))) for k in ours_out)
            line += f", moderndid {theirs_s:.2f} s, ratio {theirs_s / ours_s:.1f}x; largest difference {gap:.1e}"
        print(line, flush=True)
    if args.large:
        data = unbalanced_panel(args.large)
        seconds, _ = ours(data)
        res = callaway_santanna(data, "y", cohort="cohort")
        print(f"unbalanced {args.large:,} units x 16 years ({len(data):,} rows, {len(res.params)} ATT(g,t)): "
              f"ours {seconds:.2f} s (ATT(g,t) and the four aggregations); simple ATT "
              f"{res.aggregate('simple').params.iloc[0]:.4f} (truth 0.1000)", flush=True)


if __name__ == "__main__":
    main()
