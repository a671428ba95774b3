"""Provenance (``summary.json``'s ``provenance``, the report's last section) and the closing summary of a run."""

import html
import importlib
import json
import subprocess
from pathlib import Path

import pytest

import sez
from sez import cli, run
from sez.run import provenance

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def did_run(tmp_path_factory):
    """A tiny synthetic run up to the DiD step (about 10 s): its folder, summary and configuration."""
    out = tmp_path_factory.mktemp("provenance")
    summary = run.run_demo("tiny", out, seed=0, progress=False, steps=["did"])
    return out, summary, run.demo_config("tiny", 0, out, ["did"])


def test_record_names_the_code_dependencies_seed_threads_and_settings():
    cfg = run.demo_config("tiny", seed=7, out_dir="somewhere", steps=["tfp"])
    record = provenance.collect(cfg)
    assert record["version"] == sez.__version__
    for name in provenance.DEPENDENCIES:  # the versions this process runs
        assert record["dependencies"][name] == importlib.import_module(name).__version__, name
    assert record["openmp"] is sez.HAVE_OPENMP
    assert record["threads"]["kernels"] == sez._core.max_threads() >= 1
    assert record["seed"] == 7
    assert record["settings"] == cfg.settings
    # the settings as recorded are a configuration that validates to the same run
    assert run.pipeline_config(record["settings"]).settings == cfg.settings
    assert json.loads(json.dumps(record)) == record  # JSON values only


def test_commit_is_the_checkouts_head():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0 or not Path(sez.__file__).resolve().is_relative_to(ROOT / "src"):
        pytest.skip("the package does not run from a git checkout here")
    assert provenance.source_commit()["commit"] == head.stdout.strip()


def test_without_git_or_when_git_hangs_the_commit_is_unknown_not_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git to be found
    assert provenance.source_commit() == {"commit": None, "modified": None}
    monkeypatch.undo()

    def hang(*args, **kw):
        raise subprocess.TimeoutExpired(args[0], kw.get("timeout"))

    monkeypatch.setattr(provenance.subprocess, "run", hang)
    assert provenance.collect(run.demo_config("tiny"))["commit"] is None


def test_summary_json_and_the_report_hold_the_record(did_run):
    out, summary, cfg = did_run
    stored = json.loads((out / "summary.json").read_text())["provenance"]
    assert stored == summary["provenance"]
    assert stored["version"] == sez.__version__ and stored["seed"] == 0
    assert stored["settings"] == cfg.settings
    assert stored["options"] == {"deflate": False, "allow_large": False}
    page = (out / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<h2 id="provenance">Provenance</h2>'):]
    assert f"<th>numpy</th><td>{stored['dependencies']['numpy']}</td>" in section
    assert "<th>seed</th><td>0</td>" in section
    assert html.escape(json.dumps(stored["settings"], indent=2)) in section  # the configuration as read


def test_closing_summary_shows_the_effects_the_warnings_and_the_files(did_run, capsys):
    out, _, _ = did_run
    summary = json.loads((out / "summary.json").read_text())
    assert cli._report_end(summary, out) == 0
    shown = capsys.readouterr().out
    twfe = summary["did"]["twfe"]
    assert f"TWFE: {twfe['coef']:.3f} (s.e. {twfe['se']:.3f})" in shown
    warnings = sum(len(s["warnings"]) for s in summary["steps"].values())
    assert warnings > 0 and f"Warnings: {warnings} in" in shown
    assert f"Report:  {out.resolve() / 'report.html'}" in shown
    assert 10 <= len(shown.splitlines()) <= 25  # compact


def test_closing_summary_leaves_out_what_a_run_lacks(did_run, capsys):
    out, summary, _ = did_run
    failed = {**summary, "steps": {**summary["steps"], "did": {**summary["steps"]["did"], "status": "failed",
                                                            "error": "DidDataError: no treated firm"}}}
    for key in ("did", "tfp", "elasticities"):
        failed.pop(key, None)
    assert cli._report_end(failed, out) == 1
    shown = capsys.readouterr().out
    assert "not run or failed: did" in shown and "did: DidDataError: no treated firm" in shown
    assert "SEZ effect" not in shown and "Production function" not in shown
