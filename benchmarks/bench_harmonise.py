"""Harmonise synthetic ASIE at the SEZ paper's size (about 2.3 million firm-years).

    python benchmarks/bench_harmonise.py [--firms N]

Target: under 5 minutes and 8 GiB peak on 2 cores. Prints the time of each stage
and the peak resident memory of the process.
"""

import argparse
import resource
import time
import warnings

from sez.data import harmonise, read_asie, synthetic


def main(n_firms: int) -> None:
    t0 = time.perf_counter()
    syn = synthetic(n_firms=n_firms, seed=0)
    t1 = time.perf_counter()
    raw = read_asie(syn.raw)
    del syn
    t2 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        panel = harmonise(raw)
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(f"generate {n_firms:,} firms: {t1 - t0:.1f} s; read {len(raw):,} records: {t2 - t1:.1f} s")
    print(f"harmonise: {t3 - t2:.1f} s -> {len(panel.data):,} firm-years")
    print(f"peak memory {peak:.2f} GiB (includes generation)")
    print(f"target < 300 s: {'met' if t3 - t2 < 300 else 'NOT met'}; < 8 GiB: {'met' if peak < 8 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--firms", type=int, default=300_000)
    main(parser.parse_args().firms)
