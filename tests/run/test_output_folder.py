"""Fault injection on the output folder: never over inputs, never a stranger's folder, one run at a time."""

import hashlib
import json
import multiprocessing

import pytest

from sez import cli
from sez.data import synthetic
from sez.run import pipeline_config, run_pipeline
from sez.store import OutputFolder, OutputFolderError


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    synthetic(n_firms=300, seed=6, out_dir=root / "raw")
    return root


def _cfg(extracts, out, steps=("read",)):
    return pipeline_config({"data": {"source": "files", "files": [str(extracts / "raw" / "asie_*")]},
                            "run": {"out": str(out), "steps": list(steps), "cache": False}})


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_run_never_writes_where_its_inputs_lie(extracts):
    before = _digests(extracts / "raw")
    for out in (extracts / "raw", extracts):  # the input folder itself, and a folder above it
        with pytest.raises(OutputFolderError, match="holds an input of this run"):
            run_pipeline(_cfg(extracts, out), progress=False)
    assert _digests(extracts / "raw") == before and not (extracts / "raw" / "summary.json").exists()


def test_a_folder_no_sez_run_wrote_is_refused_unless_forced(extracts, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.json").write_text(json.dumps({"theirs": True}))
    with pytest.raises(OutputFolderError, match="not a sez output folder.*--force"):
        run_pipeline(_cfg(extracts, other), progress=False)
    assert json.loads((other / "summary.json").read_text()) == {"theirs": True}
    forced = run_pipeline(_cfg(extracts, other), progress=False, force=True)
    assert forced["steps"]["read"]["status"] == "ok"
    again = run_pipeline(_cfg(extracts, other), progress=False)  # now marked as ours: no force needed
    assert again["steps"]["read"]["status"] == "ok"


def _hold(folder, ready, release):
    with OutputFolder(folder):
        ready.set()
        release.wait(30)


def _holder(folder):
    """Another process that has claimed ``folder`` and holds it until ``release`` is set."""
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    process = context.Process(target=_hold, args=(folder, ready, release))
    process.start()
    assert ready.wait(60)
    return process, release


def test_two_runs_never_write_into_one_folder_at_once(extracts, tmp_path):
    out = tmp_path / "shared"
    holder, release = _holder(out)
    try:
        with pytest.raises(OutputFolderError, match=f"being written by another run \\(pid {holder.pid}\\)"):
            run_pipeline(_cfg(extracts, out), progress=False)
    finally:
        release.set()
        holder.join(30)
    assert run_pipeline(_cfg(extracts, out), progress=False)["steps"]["read"]["status"] == "ok"  # lock released


def test_a_killed_run_leaves_no_lock(extracts, tmp_path):
    out = tmp_path / "killed"
    holder, _ = _holder(out)
    holder.kill()
    holder.join(30)
    assert run_pipeline(_cfg(extracts, out), progress=False)["steps"]["read"]["status"] == "ok"


def test_unusable_output_folders_are_clear_errors(extracts, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(OutputFolderError, match="is a file"):
        run_pipeline(_cfg(extracts, a_file), progress=False)
    config = tmp_path / "run.toml"
    config.write_text(f'[data]\nsource = "files"\nfiles = ["{extracts / "raw" / "asie_*"}"]\n'
                      f'[run]\nout = "{extracts / "raw"}"\nsteps = ["read"]\n')
    assert cli.main(["run", str(config)]) == 2
    assert "holds an input of this run" in capsys.readouterr().err


def _model_cfg(out, steps, scenario="no_sez"):
    return pipeline_config({"data": {"source": "synthetic", "synthetic_firms": 300},
                            "model": {"n_cash": 30, "n_capital": 40, "n_firms": 500, "scenario": scenario},
                            "run": {"out": str(out), "steps": list(steps), "cache": False}})


def test_a_rerun_moves_what_it_no_longer_writes_to_stale_and_steps_never_truncate_the_report(tmp_path):
    out = tmp_path / "out"
    run_pipeline(_model_cfg(out, ["model"]), progress=False)
    old_table = out / "tables" / "model_no_sez_counterfactual.csv"
    old_bytes = old_table.read_bytes()
    # 1. the step runs again and writes another table: the old one moves to stale/, noted in its section
    second = run_pipeline(_model_cfg(out, ["model"], scenario="credit"), progress=False)
    assert not old_table.exists()
    assert (out / "stale" / "tables" / "model_no_sez_counterfactual.csv").read_bytes() == old_bytes
    assert (out / "tables" / "model_credit_counterfactual.csv").is_file()
    assert "tables/model_no_sez_counterfactual.csv" not in second["files"]
    report = (out / "report.html").read_text()
    assert "Moved to stale/" in report and "model_no_sez_counterfactual.csv" in report
    # 2. another step alone: the model's section, summary and files stay, marked as an earlier run's
    third = run_pipeline(_model_cfg(out, ["synthetic"]), progress=False)
    assert list(third["steps"]) == ["synthetic", "model"]
    assert "from_earlier_run" in third["steps"]["model"] and "from_earlier_run" not in third["steps"]["synthetic"]
    assert third["model"]["scenario"] == "credit" and "tables/model_credit_counterfactual.csv" in third["files"]
    report = (out / "report.html").read_text()
    assert "Synthetic raw ASIE extracts" in report and "Model: solution and counterfactual" in report
    assert "Not run this time: from the run of" in report
    assert (out / "tables" / "model_credit_counterfactual.csv").is_file()
    assert json.loads((out / "summary.json").read_text())["steps"].keys() == {"synthetic", "model"}


def test_an_input_pattern_that_reaches_the_output_folder_is_refused_before_reading_its_own_output(extracts):
    base = extracts.parent / "project"
    (base / "data").mkdir(parents=True)
    for f in (extracts / "raw").glob("asie_*.parquet"):
        (base / "data" / f.name).write_bytes(f.read_bytes())
    cfg = pipeline_config({"data": {"source": "files", "files": ["**/*.parquet"]},
                           "run": {"out": "results", "steps": ["read"], "cache": False}}, base=base)
    first = run_pipeline(cfg, progress=False)  # the first run: results/ is empty
    assert first["steps"]["read"]["status"] == "ok" and list((base / "results").rglob("*.parquet"))
    with pytest.raises(OutputFolderError, match=r"results.*narrow the pattern"):
        run_pipeline(cfg, progress=False)  # the pattern now matches what the first run wrote


def test_a_folder_name_with_glob_characters_is_read_literally(extracts, tmp_path):
    folder = tmp_path / "run[1]" / "raw"
    folder.mkdir(parents=True)
    for f in (extracts / "raw").iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    cfg = pipeline_config({"data": {"source": "files", "files": ["raw/asie_*"]},
                           "run": {"out": str(tmp_path / "out"), "steps": ["read"], "cache": False}},
                          base=tmp_path / "run[1]")
    summary = run_pipeline(cfg, progress=False)
    assert summary["steps"]["read"]["status"] == "ok"
    assert summary["read"]["files"] == len(list((extracts / "raw").glob("asie_*")))
