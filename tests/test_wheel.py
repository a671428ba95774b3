"""The wheel: build it with pip, install it with its test extra into a fresh virtual
environment, check that OpenMP is on, and run the kernels' tests against it.

Slow (a full C++ build and a fresh environment from the package index):
``python -m pytest -m slow tests/test_wheel.py``; CI runs it as its own step.
The tests run from a directory outside the repository with a clean environment,
so the installed wheel is imported, never the source tree or an editable install.
"""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# every compiled kernel: Bellman, growth, distribution and simulation, KS
KERNEL_TESTS = ["test_build.py", "stats/test_stats.py", "model/test_model_params.py", "model/test_model_solver.py",
                "model/test_growth.py", "model/test_model_distribution.py"]


def _run(cmd, cwd, env=None, timeout=900):
    run = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, (f"{' '.join(map(str, cmd))} exited {run.returncode}:\n{run.stdout[-6000:]}\n"
                                 f"{run.stderr[-6000:]}")
    return run.stdout


@pytest.mark.slow
def test_wheel_builds_installs_and_passes_kernel_tests(tmp_path):
    dist = tmp_path / "dist"
    # a build directory of its own: the source tree's build/ (used by an editable install) is left alone
    _run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", dist,
          f"-Cbuild-dir={tmp_path / 'build'}", "-Ccmake.define.SEZ_OPENMP=ON"], cwd=tmp_path, timeout=1800)
    wheels = list(dist.glob("sez-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        assert any(name.startswith("sez/_core.") for name in archive.namelist()), "no compiled sez._core in the wheel"

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["SEZ_EXPECT_OPENMP"] = "1"
    _run([python, "-m", "pip", "install", "--quiet", f"{wheels[0]}[test]"], cwd=tmp_path, env=env, timeout=1800)

    where = _run([python, "-c", "import sez, sys; assert sez.HAVE_OPENMP, 'wheel built without OpenMP'; "
                  "print(sez.__file__); print(sys.prefix)"], cwd=tmp_path, env=env).split()
    assert Path(where[0]).is_relative_to(Path(where[1])), f"imported {where[0]}, not the wheel in {where[1]}"

    out = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", ROOT,
                *[ROOT / "tests" / name for name in KERNEL_TESTS]], cwd=tmp_path, env=env)
    assert " passed" in out and "failed" not in out, out
