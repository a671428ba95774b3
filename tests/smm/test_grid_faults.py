"""Fault injection on grids: killed workers, killed or terminated runs, retries of failed points.

A fault of the machine is not a result: the points in flight are not recorded, and a rerun computes them.
The worker processes of a run end with it, however it ends.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import grid_helpers
import pytest

from sez.parallel import SerialExecutor, WorkerLost, local_executor
from sez.smm import evaluate_grid

TESTS = Path(__file__).parent
psutil = pytest.importorskip("psutil")


def _records(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()[1:] if line.strip()]


def test_a_killed_worker_records_nothing_and_the_rerun_computes_the_rest(tmp_path):
    points = [{"x": x, "sleep": 0.4} for x in range(12)]
    checkpoint = tmp_path / "grid.jsonl"

    def kill_a_worker(ex):
        while len(_records(checkpoint)) < 2 if checkpoint.exists() else True:
            time.sleep(0.05)
        os.kill(next(iter(ex._processes)), signal.SIGKILL)

    with local_executor(workers=2) as ex:
        killer = threading.Thread(target=kill_a_worker, args=(ex,))
        killer.start()
        with pytest.raises(WorkerLost, match="run again to compute them"):
            evaluate_grid(points, grid_helpers.square, executor=ex, checkpoint=checkpoint, seed=4, progress=False)
        killer.join()
    kept = _records(checkpoint)
    assert 2 <= len(kept) < len(points)
    assert all(r["error"] is None for r in kept)  # no BrokenProcessPool stored as a result
    with local_executor(workers=2) as ex:
        table = evaluate_grid(points, grid_helpers.square, executor=ex, checkpoint=checkpoint, seed=4,
                              progress=False)
    reference = evaluate_grid(points, grid_helpers.square, executor=SerialExecutor(), seed=4, progress=False)
    assert table["error"].isna().all() and table["y"].tolist() == reference["y"].tolist()
    assert table["draw"].tolist() == reference["draw"].tolist()  # the same seeds, whoever computed the point


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_end_with_their_run(tmp_path, how):
    script = tmp_path / "run_grid.py"
    script.write_text(textwrap.dedent("""
        import grid_helpers
        from sez.parallel import local_executor
        from sez.smm import evaluate_grid
        if __name__ == "__main__":
            with local_executor(workers=2) as ex:
                evaluate_grid([{"x": x, "sleep": 2.0} for x in range(40)], grid_helpers.square, executor=ex,
                              progress=False)
        """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.Popen([sys.executable, str(script)], env=env)
    main = psutil.Process(run.pid)
    deadline = time.time() + 60
    workers = []
    while time.time() < deadline and len(workers) < 2:
        # the workers are forked by the forkserver, a child of the run: the run's grandchildren
        workers = [p for p in main.children(recursive=True) if p.ppid() != main.pid]
        time.sleep(0.2)
    assert len(workers) >= 2, "the pool's workers did not start"
    family = main.children(recursive=True)
    run.send_signal(how)
    run.wait(timeout=30)
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"processes left behind 10 s after the run ended: {[p.pid for p in alive]}"


def test_retry_failed_computes_recorded_failures_again(tmp_path):
    gate = tmp_path / "fixed"
    points = [{"x": x, "gate": str(gate)} for x in range(4)]
    checkpoint = tmp_path / "grid.jsonl"
    first = evaluate_grid(points, grid_helpers.fails_until_allowed, executor=SerialExecutor(), checkpoint=checkpoint,
                          progress=False)
    assert first.loc[2, "error"] == "ValueError: no solution at x = 2"
    gate.touch()  # the cause is fixed
    again = evaluate_grid(points, grid_helpers.fails_until_allowed, executor=SerialExecutor(),
                          checkpoint=checkpoint, progress=False)
    assert again.loc[2, "error"] == first.loc[2, "error"]  # a plain rerun keeps recorded model errors
    retried = evaluate_grid(points, grid_helpers.fails_until_allowed, executor=SerialExecutor(),
                            checkpoint=checkpoint, progress=False, retry_failed=True)
    assert retried["error"].isna().all() and retried.loc[2, "y"] == 4
    assert len(_records(checkpoint)) == 5  # the retry appended; the later record supersedes the failure
    reread = evaluate_grid(points, grid_helpers.fails_until_allowed, executor=SerialExecutor(),
                           checkpoint=checkpoint, progress=False)
    assert reread["error"].isna().all()


def test_an_interrupt_in_a_serial_grid_is_not_a_result(tmp_path):
    checkpoint, gate = tmp_path / "grid.jsonl", tmp_path / "go on"
    points = [{"x": x, "gate": str(gate)} for x in range(4)]
    with pytest.raises(KeyboardInterrupt):
        evaluate_grid(points, grid_helpers.interrupted_until_allowed, executor=SerialExecutor(),
                      checkpoint=checkpoint, progress=False)
    assert sorted(r["index"] for r in _records(checkpoint)) == [0, 1]  # the interrupted point is not recorded
    gate.touch()
    done = evaluate_grid(points, grid_helpers.interrupted_until_allowed, executor=SerialExecutor(),
                         checkpoint=checkpoint, progress=False)
    assert done["error"].isna().all() and done["y"].tolist() == [0, 1, 4, 9]

