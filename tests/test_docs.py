"""The documentation builds with MkDocs in strict mode: no warnings (broken links,
docstrings griffe cannot parse, pages missing from the navigation)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                                reason="mkdocs is not installed (pip install '.[docs]' or '.[test]')")


def test_docs_build_strict_without_warnings(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # the theme's notice about MkDocs 2.0 is not a warning of ours
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                          "--config-file", str(ROOT / "mkdocs.yml"),
                          "--site-dir", str(site)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    output = run.stdout + run.stderr
    warnings = [line for line in output.splitlines() if line.lstrip().startswith(("WARNING", "ERROR"))]
    assert run.returncode == 0 and not warnings, f"mkdocs build --strict failed:\n{output}"
    # the API reference is rendered from the docstrings, not left as `::: module` lines
    for module, member in [("model", "solve"), ("smm", "evaluate_grid"), ("papers", "dominance_table"),
                           ("results", "parse_vcov"),
                           ("did", "event_study"), ("data", "read_asie")]:
        page = (site / "api" / module / "index.html").read_text(encoding="utf-8")
        assert member in page and ":::" not in page, f"api/{module}: {member} missing"
    for page in ("getting-started", "performance", "cluster"):
        assert (site / page / "index.html").is_file()

