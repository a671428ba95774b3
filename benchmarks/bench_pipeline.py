"""Benchmark: the whole pipeline at the SEZ paper's size, per step (wall time, peak memory) against the targets.

Runs ``sez demo --size paper`` (or ``--size small``) in a fresh process with its
standard output to a file, as a batch job would, then reads ``summary.json``:

- the synthetic generation, measured and reported apart (a user with the real
  files does not wait for it);
- every later step's wall time and peak resident memory (sampled every 0.25 s),
  and their sum, the time from the raw files to the report;
- Tables 16, 17 and 18 and the heterogeneity tables on their own.

Targets (issue: the SEZ paper's full scale, on 2 cores): raw files to report
under 20 minutes with every step completed, no step over 8 minutes, peak memory
under 12 GiB, Table 16 under 3 minutes, Table 17 under 5 minutes.

    python benchmarks/bench_pipeline.py [--size paper|small|tiny] [--out FOLDER]

``docs/performance.md`` records the figures, measured on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

LIMITS = {"raw files to report (s)": 20 * 60, "longest step (s)": 8 * 60, "peak memory (GiB)": 12.0,
          "Table 16 (s)": 3 * 60, "Table 17 (s)": 5 * 60}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="paper", choices=("tiny", "small", "paper"))
    parser.add_argument("--out", default="bench-pipeline", help="output folder of the demo (replaced)")
    args = parser.parse_args()
    out = Path(args.out)
    log = out.with_name(out.name + ".log")
    t0 = time.perf_counter()
    with open(log, "w") as stdout:
        done = subprocess.run([sys.executable, "-m", "sez.cli", "demo", "--size", args.size, "--out", str(out)],
                              stdout=stdout, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    summary = json.loads((out / "summary.json").read_text())
    steps = summary["steps"]
    print(f"sez demo --size {args.size}: exit {done.returncode}, {wall:.0f} s wall in all (log: {log})")
    print(f"{'step':16s} {'status':8s} {'seconds':>9s} {'peak GiB':>9s}")
    for name, s in steps.items():
        peak = s.get("peak_memory_gib")
        print(f"{name:16s} {s['status']:8s} {s['seconds']:9.1f} {'' if peak is None else f'{peak:9.2f}'}")
    after = {n: s for n, s in steps.items() if n != "synthetic"}
    parts = {part: seconds for s in steps.values() for part, seconds in s.get("parts_seconds", {}).items()}
    figures = {
        "raw files to report (s)": sum(s["seconds"] for s in after.values()),
        "longest step (s)": max(s["seconds"] for s in after.values()),
        "peak memory (GiB)": max((s.get("peak_memory_gib") or 0.0) for s in after.values()),
        "Table 16 (s)": parts.get("table16", float("nan")),
        "Table 17 (s)": parts.get("table17", float("nan")),
    }
    print(f"synthetic generation (apart): {steps['synthetic']['seconds']:.0f} s, "
          f"peak {steps['synthetic'].get('peak_memory_gib') or 0:.2f} GiB; tables: "
          + "; ".join(f"{k} {v:.0f} s" for k, v in parts.items()))
    harmonise = summary.get("harmonise", {})
    print(f"harmonised panel: {harmonise.get('rows_out')} firm-years of {harmonise.get('firms')} firms "
          f"from {harmonise.get('rows_in')} raw records")
    failed = [n for n, s in steps.items() if s["status"] != "ok"]
    ok = not failed
    for key, value in figures.items():
        met = value <= LIMITS[key]
        ok &= met
        print(f"{key:26s} {value:9.1f}  target {LIMITS[key]:g}  {'met' if met else 'MISSED'}")
    if failed:
        print(f"steps not completed: {', '.join(failed)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
