"""Progress a batch job's log can read: timestamped lines per step and inside long steps, ``--log FILE``,
and each step's peak memory."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import numpy as np

from sez import parallel
from sez.progress import MemorySampler, RunLog, track

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def test_cli_prints_timestamped_lines_for_every_step_when_stdout_is_a_file(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[data]\nsource = "synthetic"\nsynthetic_firms = 300\n[run]\nout = "out"\n'
                      'steps = ["harmonise"]\ncache = false\n')
    log = tmp_path / "progress.log"
    with open(tmp_path / "stdout.txt", "w") as stdout:  # not a terminal, as under SLURM or PBS
        done = subprocess.run([sys.executable, "-m", "sez.cli", "run", str(config), "--log", str(log)],
                              stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    printed = (tmp_path / "stdout.txt").read_text()
    assert "\x1b[" not in printed  # no terminal control sequences in a log
    steps = ["synthetic", "read", "harmonise"]
    for k, step in enumerate(steps, start=1):
        assert re.search(rf"^{STAMP} start +{step}: .*\(step {k} of 3\)$", printed, re.M), (step, printed)
        assert re.search(rf"^{STAMP} ok +{step}: .* in \d+\.\d s, peak memory \d+\.\d\d GiB$", printed, re.M), step
    # --log FILE holds the same timestamped lines
    stamped = [line for line in printed.splitlines() if re.match(STAMP, line)]
    assert log.read_text().splitlines() == stamped
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert all(s["peak_memory_gib"] > 0.05 for s in summary["steps"].values())


def test_track_reports_each_item_with_the_time_left():
    stream = io.StringIO()
    with RunLog(plain=True, stream=stream) as log:
        log.context = "did"
        assert list(track(["m1", "m2", "m3"], "Table 16")) == ["m1", "m2", "m3"]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert re.match(rf"{STAMP} did: Table 16 m1 \(1 of 3\), 0 s elapsed$", lines[0])
    assert re.match(rf"{STAMP} did: Table 16 m3 \(3 of 3\), \d+ s elapsed, about \d+ s left$", lines[2])


def test_track_outside_a_run_prints_nothing(capsys):
    assert list(track(range(3), "x")) == [0, 1, 2]
    assert capsys.readouterr().out == ""


def _square(x, seed):
    return x * x


def test_grid_progress_in_a_batch_log_is_lines_with_the_time_left(capsys):
    items = list(range(40))
    results = dict((i, r) for i, r, _ in parallel.map_items(_square, items, executor=parallel.SerialExecutor(),
                                                           progress="grid"))
    assert results == {i: i * i for i in items}
    lines = capsys.readouterr().out.splitlines()  # captured: not a terminal
    assert len(lines) == 20 and all(re.match(rf"{STAMP} grid: \d+ of 40 done", line) for line in lines)
    assert lines[-1].endswith("elapsed") and "left" in lines[0]


def test_memory_sampler_sees_a_step_allocate():
    with MemorySampler(interval=0.02) as memory:
        before = memory.peak
        block = np.ones(40_000_000)  # 320 MB, held while the sampler looks
        import time

        time.sleep(0.2)
        del block
    assert memory.peak - before > 250e6
