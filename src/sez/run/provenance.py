"""What a run needs to be reproduced: the code, its dependencies, the machine, the seed, the threads, the settings.

:func:`collect` builds the one record that ``summary.json`` holds under ``provenance`` and the report shows in
its Provenance section (:func:`describe` gives that section's rows).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["DEPENDENCIES", "THREAD_VARIABLES", "collect", "describe", "source_commit"]

#: The libraries whose versions can change a run's numbers (estimators, linear algebra, I/O, figures).
DEPENDENCIES = ("numpy", "scipy", "pandas", "pyarrow", "pyfixest", "statsmodels", "matplotlib")

#: Environment variables that set the thread counts of OpenMP (the compiled kernels) and of the BLAS libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: Seconds a git query may take before the commit is recorded as unknown (a hung network file system, a lock).
GIT_TIMEOUT_S = 5.0


def _version(name: str) -> str | None:
    """The version of a library as this process runs it: the imported module's, else the installed one's."""
    module = sys.modules.get(name)
    found = getattr(module, "__version__", None) if module is not None else None
    if isinstance(found, str):
        return found
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(args: list[str], folder: Path) -> str | None:
    """A git command's output in ``folder``, or None when git is missing, fails or takes too long."""
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source_commit() -> dict:
    """The git commit of the checkout the package runs from: ``{"commit": sha or None, "modified": bool or None}``.

    ``modified`` says whether the package's tracked files differ from that commit. Both are None for an
    installed copy (the package's files not tracked by a git repository: a wheel, or a virtual environment
    inside someone else's checkout), without git, or when git does not answer in :data:`GIT_TIMEOUT_S`.
    """
    import sez

    package = Path(sez.__file__).resolve().parent
    if _git(["ls-files", "--error-unmatch", "__init__.py"], package) is None:
        return {"commit": None, "modified": None}
    commit = _git(["rev-parse", "HEAD"], package)
    changes = _git(["status", "--porcelain", "--untracked-files=no", "--", "."], package)
    return {"commit": commit, "modified": None if commit is None or changes is None else bool(changes)}


def _threads() -> dict:
    from sez import _core
    from sez.parallel import available_cores

    return {"kernels": _core.max_threads(),  # OpenMP's default in this process: the pipeline passes none
            "available_cores": available_cores(),
            "environment": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ}}


def collect(cfg, run=None) -> dict:
    """The provenance of a run of configuration ``cfg`` (a :class:`sez.run.PipelineConfig`).

    ``run`` (a :class:`sez.run.context.Run`), when given, adds the options given outside the configuration
    (``deflate``, ``allow_large``). The record holds only JSON values: ``settings`` is the validated
    configuration with every default filled in, which ``sez.run.pipeline_config`` reads back.
    """
    import sez

    record = {
        "package": "sez", "version": sez.__version__, **source_commit(),
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        "openmp": getattr(sez, "HAVE_OPENMP", None),  # None: a build that does not say
        "threads": _threads(),
        "seed": cfg["run"]["seed"],
        "config_file": str(cfg.path) if cfg.path else None,
        "settings": json.loads(json.dumps(cfg.settings, default=str)),
        "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if run is not None:
        record["options"] = {"deflate": run.deflate, "allow_large": run.allow_large}
    return record


def describe(record: dict) -> list[tuple[str, str]]:
    """The record as (what, value) rows for a reader; the settings are left out (shown as a whole)."""
    commit = record.get("commit")
    code = record["version"] + ("" if commit is None else f", commit {commit}"
                                + (" with local changes" if record.get("modified") else ""))
    threads = record["threads"]
    environment = ", ".join(f"{k}={v}" for k, v in threads["environment"].items()) or "none set"
    kernels = {True: "with OpenMP", False: "without OpenMP (one thread)"}.get(record["openmp"], "unknown")
    rows = [("sez", code),
            ("Python", f"{record['python']} ({record['implementation']}) on {record['platform']}"),
            *((name, version or "not installed") for name, version in record["dependencies"].items()),
            ("compiled kernels", kernels),
            ("threads", f"{threads['kernels']} for the kernels, {threads['available_cores']} core(s) available; "
                        f"thread variables: {environment}"),
            ("seed", str(record["seed"])),
            ("configuration", record["config_file"] or "none (the settings below, defaults filled in)")]
    options = record.get("options")
    if options:
        rows.append(("options", ", ".join(f"{k}={v}" for k, v in options.items())))
    rows.append(("written", record["written"]))
    return rows
