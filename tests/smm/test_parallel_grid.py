"""Executors, seeds, checkpointed grids: results independent of how they are run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grid_helpers
import numpy as np
import pandas as pd
import pytest

from sez.parallel import SerialExecutor, local_executor, map_items
from sez.smm import evaluate_grid

TESTS = Path(__file__).parent
POINTS = [{"x": float(x)} for x in range(8)]


def test_results_do_not_depend_on_executor():
    serial = evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), seed=4, progress=False)
    with local_executor(workers=2) as pool:
        pooled = evaluate_grid(POINTS, grid_helpers.square, executor=pool, seed=4, progress=False)
    pd.testing.assert_frame_equal(serial, pooled)
    assert serial["y"].tolist() == [x * x for x in range(8)]
    # item i gets child i of the SeedSequence: a different seed moves every draw
    other = evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), seed=5, progress=False)
    assert not np.any(other["draw"].to_numpy() == serial["draw"].to_numpy())


def test_dask_executor_gives_the_same_grid(monkeypatch):
    distributed = pytest.importorskip("distributed", reason="Dask is the cluster executor under test")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    serial = evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), seed=4, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            distributed.Client(c) as client:
        dasked = evaluate_grid(POINTS, grid_helpers.square, executor=client.get_executor(), seed=4, progress=False)
    pd.testing.assert_frame_equal(serial, dasked)


def test_mpi_pool_executor_gives_the_same_grid(tmp_path):
    """mpi4py's MPIPoolExecutor under mpiexec (one driver, two workers), as docs/cluster.md runs it."""
    pytest.importorskip("mpi4py", reason="MPI is optional: pip install mpi4py mpich")
    import shutil

    mpiexec = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if mpiexec is None:
        pytest.skip("no mpiexec on PATH (pip install mpich provides one)")
    script = tmp_path / "run_grid_mpi.py"
    script.write_text(
        "import sys\nfrom mpi4py.futures import MPIPoolExecutor\nfrom sez.smm import evaluate_grid\n"
        "import grid_helpers\n"
        f"POINTS = {POINTS!r}\n"
        "if __name__ == '__main__':\n"
        "    with MPIPoolExecutor() as ex:\n"
        "        t = evaluate_grid(POINTS, grid_helpers.square, executor=ex, seed=4, progress=False)\n"
        "    t.to_pickle(sys.argv[1])\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    subprocess.run([mpiexec, "-n", "3", sys.executable, "-m", "mpi4py.futures", str(script),
                    str(tmp_path / "mpi.pkl")], check=True, env=env, timeout=300)
    serial = evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), seed=4, progress=False)
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "mpi.pkl"), serial)


def test_errors_are_recorded_and_the_grid_goes_on(tmp_path):
    out = evaluate_grid(POINTS, grid_helpers.fails_at_two, executor=SerialExecutor(), checkpoint=tmp_path / "g.jsonl",
                        progress=False)
    assert out.loc[2, "error"] == "ValueError: no solution at x = 2"
    assert out["error"].isna().sum() == 7 and out.loc[3, "y"] == 9.0


def test_checkpoint_of_another_grid_is_refused(tmp_path):
    path = tmp_path / "g.jsonl"
    evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), checkpoint=path, progress=False)
    with pytest.raises(ValueError, match="another grid"):
        evaluate_grid(POINTS[:5], grid_helpers.square, executor=SerialExecutor(), checkpoint=path, progress=False)


KILLED_RUN = """
import sys
sys.path.insert(0, {tests!r})
import grid_helpers
from sez.parallel import SerialExecutor
from sez.smm import evaluate_grid
points = [{{"x": float(x), "sleep": 0.15}} for x in range(12)]
evaluate_grid(points, grid_helpers.square, executor=SerialExecutor(), checkpoint={path!r}, seed=9, progress=False)
"""


def test_kill_and_resume_loses_and_repeats_nothing(tmp_path, monkeypatch):
    path = tmp_path / "grid.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN.format(tests=str(TESTS), path=str(path))])
    deadline = time.time() + 60
    while time.time() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= 5:  # header + 4 points
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open(path, "a") as f:
        f.write('{"index": 11, "res')  # a line torn by the kill
    before = [json.loads(l)["index"] for l in path.read_text().splitlines()[1:-1]]
    assert 4 <= len(before) < 12

    calls = []
    monkeypatch.setattr(grid_helpers, "square", _counting(grid_helpers.square, calls))
    points = [{"x": float(x), "sleep": 0.15} for x in range(12)]
    # the function is named the same, so the checkpoint accepts it
    out = evaluate_grid(points, grid_helpers.square, executor=SerialExecutor(), checkpoint=path, seed=9,
                        progress=False)
    assert sorted(calls) == sorted(set(range(12)) - set(before))  # nothing done is repeated
    lines = path.read_text().splitlines()[1:]
    indices = [json.loads(l)["index"] for l in lines]
    assert sorted(indices) == list(range(12))  # nothing lost, nothing duplicated
    fresh = evaluate_grid(points, grid_helpers.square.__wrapped__, executor=SerialExecutor(), seed=9, progress=False)
    pd.testing.assert_frame_equal(out, fresh)


def _counting(fn, calls):
    def square(point, seed):
        calls.append(int(point["x"]))
        return fn(point, seed)

    square.__module__, square.__qualname__, square.__wrapped__ = fn.__module__, fn.__qualname__, fn
    return square


def test_map_items_reports_exceptions_in_place():
    got = {i: (r, e) for i, r, e in map_items(grid_helpers.fails_at_two, POINTS[:4], executor=SerialExecutor())}
    assert isinstance(got[2][1], ValueError) and got[2][0] is None
    assert got[3][0]["y"] == 9.0


def test_bad_grid_arguments():
    with pytest.raises(ValueError, match="points is empty"):
        evaluate_grid([], grid_helpers.square)
    with pytest.raises(ValueError, match="workers"):
        local_executor(workers=0)


def _written(tmp_path):
    path = tmp_path / "grid.jsonl"
    evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), checkpoint=path, progress=False)
    return path, path.read_text().splitlines()


def test_corrupt_middle_line_is_skipped_with_its_number_and_kept_aside(tmp_path, monkeypatch):
    from sez.errors import CheckpointWarning

    path, lines = _written(tmp_path)
    lines[3] = '{"index": 2, "result": {"y": 4.0}, "err'  # line 4 damaged, a full line after it
    path.write_text("\n".join(lines) + "\n")
    calls = []
    monkeypatch.setattr(grid_helpers, "square", _counting(grid_helpers.square, calls))
    with pytest.warns(CheckpointWarning, match=r"line\(s\) 4\)"):
        out = evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), checkpoint=path, progress=False)
    # every valid record after the bad line is kept: only the damaged point is computed again
    assert len(calls) == 1
    assert len(out) == len(POINTS)
    side = path.with_name(path.name + ".bad").read_text()
    assert side.startswith("4: ") and '"index": 2' in side
    assert lines[3] in path.read_text()  # the checkpoint keeps the bad line


def test_torn_final_line_is_dropped_and_a_complete_one_kept(tmp_path):
    path, lines = _written(tmp_path)
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1])  # the last record without its newline
    evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), checkpoint=path, progress=False)
    assert path.read_text().endswith("\n") and path.read_text().splitlines() == lines
    path.write_text("\n".join(lines) + "\n" + '{"index": 99, "res')  # a torn line: dropped silently
    evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), checkpoint=path, progress=False)
    assert path.read_text().splitlines() == lines


@pytest.mark.parametrize("line, message", [
    ('{"result": {"y": 1.0}, "error": null}', r"line 10: a record without an integer 'index'"),
    ('{"index": 3, "result": {"y": -1.0}, "error": null}', r"lines 5 and 10: two different records for point 3"),
])
def test_checkpoint_records_without_index_or_in_conflict_are_errors_naming_lines(tmp_path, line, message):
    path, lines = _written(tmp_path)
    path.write_text("\n".join(lines + [line]) + "\n")
    with pytest.raises(ValueError, match=message):
        evaluate_grid(POINTS, grid_helpers.square, executor=SerialExecutor(), checkpoint=path, progress=False)
