"""The ruff configuration in pyproject.toml passes on the whole tree (docstring rules of the numpy convention)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_ruff_passes(repo_root):
    ruff = shutil.which("ruff") or (Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install '.[test]' brings it)")
    run = subprocess.run([str(ruff), "check", "--no-cache", str(repo_root)], cwd=repo_root, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, f"ruff check found problems:\n{run.stdout}{run.stderr}"
