"""Fault injection on calibrations: a killed ``sez calibrate`` resumes from its checkpoint with nothing computed
twice and the estimate of an uninterrupted run; a checkpoint of another configuration is refused; a torn final
line is dropped; an interrupt is never recorded as a result.

The calibration is the smallest that runs both stages (4 Sobol points, one Gauss-Newton search with its scans,
the noise at the estimate) on a coarse grid: each model evaluation takes a few hundredths of a second.
"""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sez import cli
from sez.parallel import SerialExecutor
from sez.smm import estimate

CONFIG = """
[model]
xbar_S = 0.3
theta_S = 0.7
[grid]
n_cash = 30
n_capital = 40
n_shocks = 3
type_edges = [0.0, 0.5, 1.0]
[simulation]
n_firms = 500
years = 3
burn_in = 10
seed = {seed}
[calibrate]
free = ["xbar_S"]
bounds = {{ xbar_S = [{low}, 0.45] }}
global_points = 4
local_starts = 1
local_maxiter = 8
[targets]
sez_share = {target}
[output]
checkpoint = "state/calibration.jsonl"
table = "params.csv"
verdict = "verdict.csv"
"""
DEFAULTS = {"seed": 0, "low": 0.05, "target": 0.5}


def write_config(folder: Path, **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "calibrate.toml"
    path.write_text(CONFIG.format(**{**DEFAULTS, **changes}))
    return path


def command(config: Path) -> list[str]:
    # run from another folder: the [output] paths are relative to the configuration's folder
    return [sys.executable, "-m", "sez.cli", "calibrate", str(config), "--workers", "1"]


def calibrate(config: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command(config), capture_output=True, text=True, timeout=120, cwd=config.parent.parent)
    assert done.returncode == 0, done.stderr
    return done


def records(checkpoint: Path) -> list[dict]:
    """The complete records of a checkpoint (a line cut short by a kill is not one)."""
    text = checkpoint.read_text() if checkpoint.exists() else ""
    return [json.loads(line) for line in text.split("\n")[1:-1] if line.strip()]


def evaluations_in(recs: list[dict]) -> int:
    """Model evaluations that records hold: one per evaluated point, and each noise measurement's own count."""
    return sum(r["result"].get("evaluations", 1) for r in recs)


def counts(stdout: str) -> tuple[int, int, int]:
    """(total, read back, computed) from the closing progress line."""
    found = re.search(r"calibration: (\d+) model evaluations, (\d+) read back from the checkpoint \S+, (\d+) "
                      r"computed", stdout)
    assert found, stdout
    return tuple(int(g) for g in found.groups())


def summary(stdout: str) -> str:
    """The printed result, without the timestamped progress lines."""
    return stdout[stdout.index("SMM:"):]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: its folder, output and checkpoint records."""
    folder = tmp_path_factory.mktemp("reference") / "run"
    done = calibrate(write_config(folder))
    return folder, done.stdout, records(folder / "state" / "calibration.jsonl")


def test_a_killed_calibration_resumes_with_nothing_computed_twice(tmp_path, reference):
    ref_folder, ref_out, ref_records = reference
    config = write_config(tmp_path / "run")
    checkpoint = tmp_path / "run" / "state" / "calibration.jsonl"
    run = subprocess.Popen(command(config), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(records(checkpoint)) < 6 and run.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    run.send_signal(signal.SIGKILL)
    assert run.wait(timeout=30) == -signal.SIGKILL
    kept = records(checkpoint)
    assert 6 <= len(kept) < len(ref_records), "the run was not cut short"
    assert all(r["error"] is None for r in kept)

    done = calibrate(config)
    total, read_back, computed = counts(done.stdout)
    assert read_back == evaluations_in(kept)  # every recorded evaluation was read back ...
    assert (total, computed) == (counts(ref_out)[0], total - read_back)  # ... and only the others computed
    resumed = records(checkpoint)
    assert len(resumed) == len(ref_records)  # nothing recorded twice
    points = [tuple(r["result"]["point"]) for r in resumed if "point" in r["result"]]
    assert len(set(points)) == len(points)
    # the estimate to the bit: the CSVs hold each float's repr, and every printed number agrees
    for name in ("params.csv", "verdict.csv"):
        assert (tmp_path / "run" / name).read_bytes() == (ref_folder / name).read_bytes()
    assert summary(done.stdout) == summary(ref_out)


@pytest.mark.parametrize("change", [{"target": 0.55}, {"low": 0.1}, {"seed": 1}])
def test_a_checkpoint_of_another_configuration_is_refused(tmp_path, reference, capsys, change):
    ref_folder = reference[0]
    shutil.copytree(ref_folder / "state", tmp_path / "state")
    config = write_config(tmp_path, **change)
    before = (tmp_path / "state" / "calibration.jsonl").read_bytes()
    assert cli.main(["calibrate", str(config), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "state" / "calibration.jsonl") in err
    assert "written for another calibration" in err and "delete it" in err
    assert (tmp_path / "state" / "calibration.jsonl").read_bytes() == before  # nothing appended


def test_a_torn_final_line_is_dropped_and_its_evaluation_computed_again(tmp_path, reference):
    ref_folder, ref_out, ref_records = reference
    config = write_config(tmp_path / "run")
    (tmp_path / "run" / "state").mkdir()
    lines = (ref_folder / "state" / "calibration.jsonl").read_text().split("\n")
    # the header and every record but the noise at the estimate, then half of the last evaluation's line
    torn = "\n".join(lines[:-3]) + "\n" + lines[-3][: len(lines[-3]) // 2]
    (tmp_path / "run" / "state" / "calibration.jsonl").write_text(torn)
    done = calibrate(config)
    total, read_back, computed = counts(done.stdout)
    assert read_back == len(ref_records) - 2  # the complete evaluations
    assert computed == evaluations_in(ref_records[-2:])  # the torn evaluation and the noise, computed again
    assert records(tmp_path / "run" / "state" / "calibration.jsonl") == ref_records
    for name in ("params.csv", "verdict.csv"):
        assert (tmp_path / "run" / name).read_bytes() == (ref_folder / name).read_bytes()


def test_an_interrupt_is_not_recorded(tmp_path, monkeypatch):
    from sez.model import Grid, Params
    from sez.smm import ModelSpec
    from sez.smm import grid as smm_grid

    spec = ModelSpec(grid=Grid(n_cash=30, n_capital=40, n_shocks=3, type_edges=(0.0, 0.5, 1.0)), n_firms=500,
                     years=3, burn_in=10)
    settings = dict(spec=spec, bounds={"xbar_S": (0.05, 0.45)}, global_points=4, local_starts=1, local_maxiter=4,
                    scan_rounds=0, noise_draws=0, executor=SerialExecutor(), checkpoint=tmp_path / "c.jsonl")
    start = Params.paper(xbar_S=0.3, theta_S=0.7)
    data = pd.Series({"sez_share": 0.5})
    model_moments, calls = smm_grid.model_moments, []

    def interrupted_at_the_third_point(*args, **kw):  # the global stage's third Sobol point
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return model_moments(*args, **kw)

    monkeypatch.setattr(smm_grid, "model_moments", interrupted_at_the_third_point)
    with pytest.raises(KeyboardInterrupt):
        estimate(data, start, ["xbar_S"], **settings)
    kept = records(tmp_path / "c.jsonl")
    assert len(kept) == 3 and all(r["error"] is None for r in kept)  # the start and two Sobol points, no error
    monkeypatch.setattr(smm_grid, "model_moments", model_moments)
    resumed = estimate(data, start, ["xbar_S"], **settings)
    fresh = estimate(data, start, ["xbar_S"], **{**settings, "checkpoint": None})
    assert resumed.params.equals(fresh.params) and resumed.evaluations == fresh.evaluations
    assert all(r["error"] is None for r in records(tmp_path / "c.jsonl"))
