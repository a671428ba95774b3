"""``sez run CONFIG.toml``: the configuration's validator, the example it prints, and cached re-runs.

The end-to-end test runs the pipeline on extracts written by the synthetic
generator as if they were the user's own files (no truth passed along): a
renamed column mapped back by ``[data] columns``, the years cut by ``[data]
years``, then re-runs after changing a late and an early setting, checking
which steps are reused and that reused outputs equal recomputed ones.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from sez.cli import main
from sez.run import PIPELINE_SCHEMA, ConfigError, config, pipeline_config, run_pipeline

DOCS = Path(__file__).resolve().parents[2] / "docs" / "run.md"


def _valid(**sections):
    raw = {"data": {"files": ["x.csv"]}}
    for section, keys in sections.items():
        raw[section] = {**raw.get(section, {}), **keys} if isinstance(keys, dict) else keys
    return raw


@pytest.mark.parametrize("raw, message", [
    ({"dta": {}}, r"unknown section\(s\) \['dta'\]"),
    (_valid(tfp={"methd": "op"}), r"\[tfp\] has unknown key\(s\) \['methd'\]"),
    (_valid(tfp={"min_obs": "200"}), r"\[tfp\] min_obs must be int, got '200' \(str\)"),
    (_valid(tfp={"min_obs": True}), r"\[tfp\] min_obs must be int, got True"),
    (_valid(tfp={"method": "gmm"}), r"\[tfp\] method: 'gmm' is not one of"),
    (_valid(tfp={"compare": ["ols", "xx"]}), r"\[tfp\] compare: 'xx' is not one of"),
    (_valid(tfp={"trim": 0.7}), r"\[tfp\] trim must lie in \[0, 0.5\)"),
    (_valid(data={"years": [2007]}), r"\[data\] years must have 2 entries"),
    (_valid(data={"years": [2007, 1998]}), r"\[data\] years must be \[first, last\]"),
    (_valid(data={"years": [1998, 2050]}), r"\[data\] years must lie within 1995-2013"),
    (_valid(data={"source": "synthetic"}), r"\[data\] files names extracts, but source = 'synthetic'"),
    (_valid(data={"columns": {"staff": "employes"}}), r"\[data\] columns .*unknown canonical names"),
    (_valid(data={"columns": {"staff": 3}}), r"\[data\] columns must be table\[str\]"),
    ({"data": {"files": []}}, r"\[data\] files is empty"),
    (_valid(run={"steps": ["tfp", "dif"]}), r"\[run\] steps names unknown step\(s\) \['dif'\]"),
    (_valid(event_study={"window": [-3, 5], "reference": -5}), r"\[event_study\] reference must lie in the window"),
    (_valid(did={"fixed_effects": [["firm_id"], []]}), r"\[did\] fixed_effects must list"),
    (_valid(did={"fixed_effects": ["firm_id", "year"]}), r"\[did\] fixed_effects must be list\[list\[str\]\]"),
    (_valid(model={"n_cash": 3}), r"\[model\] n_cash must be at least 10"),
    (_valid(harmonise="not a table"), r"\[harmonise\] must be a table"),
    (_valid(harmonise={"sales_threshold": -20000}), r"\[harmonise\] sales_threshold must be 1000 yuan of sales, "
                                                     r"at least 0 .* got -20000"),
    (_valid(harmonise={"sales_threshold": "20000"}), r"\[harmonise\] sales_threshold must be float"),
])
def test_config_errors_name_the_section_and_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        pipeline_config(raw, source="my.toml")


def test_defaults_filled_and_floats_accepted_from_ints():
    cfg = pipeline_config(_valid(harmonise={"employment_threshold": 10}))
    assert cfg["harmonise"]["employment_threshold"] == 10.0
    assert isinstance(cfg["harmonise"]["employment_threshold"], float)
    for section, keys in PIPELINE_SCHEMA.items():
        assert set(cfg[section]) == set(keys)
    assert cfg["tfp"]["method"] == "op" and cfg["event_study"]["reference"] == -5


@pytest.mark.parametrize("given, passed", [(None, None), (20000, 20000.0)])
def test_the_sales_threshold_reaches_harmonise(monkeypatch, given, passed):
    """[harmonise] sales_threshold is harmonise's sales_threshold; 0, the default, is none (the survey's own)."""
    import sez.data
    from sez.run.steps.data import step_harmonise

    calls = []

    def harmonise(raw, **options):
        calls.append(options)
        raise StopIteration  # the call's arguments are all this test needs

    monkeypatch.setattr(sez.data, "harmonise", harmonise)
    keys = {} if given is None else {"sales_threshold": given}
    run = SimpleNamespace(truth=None, cfg=pipeline_config(_valid(harmonise=keys)), state={"raw": None})
    with pytest.raises(StopIteration):
        step_harmonise(run)
    assert calls[0]["sales_threshold"] == passed


def test_toml_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[tfp\nmethod = 'op'\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        config.load_pipeline(bad)
    with pytest.raises(ConfigError, match="no such file"):
        config.load_pipeline(tmp_path / "absent.toml")
    typo = tmp_path / "typo.toml"
    typo.write_text('[data]\nfiles = ["a.csv"]\n[model]\nn_firm = 10\n')
    with pytest.raises(ConfigError, match=r"typo\.toml: \[model\] has unknown key\(s\) \['n_firm'\]"):
        config.load_pipeline(typo)


def test_example_config_is_complete_and_valid():
    text = config.example_pipeline_config()
    raw = tomllib.loads(text)
    assert set(raw) == set(PIPELINE_SCHEMA) | {"analysis"}
    cfg = pipeline_config(raw)  # every key present, every value of the right type
    assert cfg["analysis"]["tfp_after_2000"]["estimator"] == "twfe"  # the example specification, valid
    for section, keys in PIPELINE_SCHEMA.items():
        assert set(raw[section]) == set(keys), section
        for key, setting in keys.items():
            expected = setting.default if setting.example is None else setting.example
            assert cfg[section][key] == expected, (section, key)


def test_docs_page_documents_every_key():
    if not DOCS.is_file():
        pytest.skip("docs/ is not part of this installation")
    text = DOCS.read_text(encoding="utf-8")
    for section, keys in PIPELINE_SCHEMA.items():
        assert f"[{section}]" in text, section
        for key in keys:
            assert re.search(rf"`{key}`", text), (section, key)


def test_cli_prints_example_and_rejects_missing_config(capsys):
    assert main(["run", "--example"]) == 0
    assert "[event_study]" in capsys.readouterr().out
    assert main(["run"]) == 2
    assert "sez run --example" in capsys.readouterr().err


def test_the_registry_holds_the_steps_the_configuration_names_in_their_order():
    """sez.run.config owns the step names (it imports nothing of the runner); the runner's registry follows them."""
    from sez.run import STEP_NAMES, STEPS

    assert tuple(STEPS) == STEP_NAMES
    for name, step in STEPS.items():
        assert all(STEP_NAMES.index(need) < STEP_NAMES.index(name) for need in step.needs), name


def test_code_fingerprint_covers_every_module_of_the_package(tmp_path, monkeypatch):
    """A change anywhere in the package (an estimator, a step, a data file) invalidates every stored step."""
    import sez
    from sez.run import runner

    for relative in ("__init__.py", "did/twfe.py", "run/steps/did.py", "papers/numbers/table.csv"):
        (tmp_path / "sez" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sez" / relative).write_text("x = 1\n")
    monkeypatch.setattr(sez, "__file__", str(tmp_path / "sez" / "__init__.py"))
    seen = {runner._code_fingerprint()}
    for relative in ("did/twfe.py", "run/steps/did.py", "papers/numbers/table.csv"):
        (tmp_path / "sez" / relative).write_text("x = 2\n")
        seen.add(runner._code_fingerprint())
    assert len(seen) == 4


# ---------------------------------------------------------------------------
# end to end on the user's files, with the cache


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    """Synthetic extracts standing in for a user's: the 2000 file's employment column renamed."""
    from sez.data import synthetic

    root = tmp_path_factory.mktemp("user")
    result = synthetic(n_firms=1200, seed=4, out_dir=root / "raw")
    renamed = result.files[2000]
    frame = pd.read_parquet(renamed)
    from sez.data.columns import canonical_columns

    employment = [raw for raw, canon in canonical_columns(frame.columns).items() if canon == "employees"]
    assert len(employment) == 1
    frame.rename(columns={employment[0]: "staff_on_payroll"}).to_parquet(renamed, index=False)
    # boundaries for the map of Figure 2: one square per province code (the package ships none)
    codes = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54,
             61, 62, 63, 64, 65]
    features = [{"type": "Feature", "properties": {"code": str(c)},
                 "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1]]]}}
                for i, c in enumerate(codes) for x, y in [(100 + 1.5 * (i % 6), 25 + 1.5 * (i // 6))]]
    (root / "provinces.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return root


def _write(root: Path, name: str, **sections) -> Path:
    base = {"run": {"out": "out", "steps": ["facts", "did", "event_study"]},
            "data": {"files": ["raw/asie_*"], "years": [1998, 2010], "columns": {"staff_on_payroll": "employees"}},
            "tfp": {"min_obs": 150}, "did": {"fixed_effects": [["firm_id", "year"]]},
            "facts": {"boundaries": "provinces.geojson"}}
    for section, keys in sections.items():
        base.setdefault(section, {}).update(keys)
    lines = []
    for section, keys in base.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {config._toml_value(v)}" for k, v in keys.items()]
    path = root / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _statuses(summary):
    """What this run did with each step it ran (steps kept from an earlier run aside)."""
    return {n: ("stored" if s["cached"] else s["status"]) for n, s in summary["steps"].items()
            if "from_earlier_run" not in s}


def test_unmapped_column_is_named_in_the_error(user_files):
    path = _write(user_files, "nomap.toml", run={"out": "nomap", "cache": False, "steps": ["read"]},
                  data={"columns": {}})
    summary = run_pipeline(config.load_pipeline(path), progress=False)
    step = summary["steps"]["read"]
    assert step["status"] == "failed"
    assert "asie_2000" in step["error"] and "employees" in step["error"], step["error"]


def test_run_on_user_files_then_reuse_stored_steps(user_files):
    path = _write(user_files, "run.toml")
    first = run_pipeline(config.load_pipeline(path), progress=False)
    out = user_files / "out"
    assert "synthetic" not in first["steps"] and first["source"] == "files"
    assert _statuses(first) == {n: "ok" for n in ("read", "harmonise", "tfp", "agglomeration", "facts", "did",
                                                  "event_study")}
    assert first["read"]["rows_outside_years"] > 0 and first["read"]["years"] == [1998, 2010]
    panel = pd.read_parquet(out / "panel.parquet")
    assert panel["year"].between(1998, 2010).all() and 2000 in set(panel["year"])
    assert "truth" not in first["did"]["twfe"] and first["did"]["truth"] is None
    assert (out / "figures" / "sez_share_map.png").stat().st_size > 10_000
    assert not [w for w in first["steps"]["facts"]["warnings"] if "no boundary" in w]  # every province on the map
    table_before = pd.read_csv(out / "tables" / "did_sez_ln_tfp.csv")

    # the same configuration again: everything reused, identical outputs
    again = run_pipeline(config.load_pipeline(path), progress=False)
    assert set(_statuses(again).values()) == {"stored"}
    assert again["did"] == first["did"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "tables" / "did_sez_ln_tfp.csv"), table_before)
    assert "Stored results reused" in (out / "report.html").read_text(encoding="utf-8")

    # a late step's setting changes: only that step runs
    late = _write(user_files, "run.toml", event_study={"window": [-4, 6], "reference": -4})
    third = run_pipeline(config.load_pipeline(late), progress=False)
    assert _statuses(third) == {"read": "stored", "harmonise": "stored", "tfp": "stored", "agglomeration": "stored",
                                "facts": "stored", "did": "stored", "event_study": "ok"}
    events = pd.read_csv(out / "tables" / "tidy" / "event_study.csv")
    assert events["event_time"].min() == -4 and events["event_time"].max() == 6
    assert third["event_study"]["reference"] == -4

    # the partly stored run equals a run that computes everything afresh
    fresh_out = user_files / "fresh"
    fresh = run_pipeline(config.load_pipeline(_write(
        user_files, "fresh.toml", run={"out": "fresh", "cache": False},
        event_study={"window": [-4, 6], "reference": -4})), progress=False)
    assert set(_statuses(fresh).values()) == {"ok"}
    for step in ("harmonise", "tfp", "facts", "did", "event_study"):
        assert third[step] == fresh[step], step
    for table in ("did_sez_ln_tfp", "event_study", "ln_tfp_by_zone", "table17"):
        pd.testing.assert_frame_equal(pd.read_csv(out / "tables" / f"{table}.csv"),
                                      pd.read_csv(fresh_out / "tables" / f"{table}.csv"), obj=table)
    assert not (fresh_out / "cache").exists()

    # the output folder moved: its stored steps are still used, figures and all
    shutil.copytree(out, user_files / "moved")
    moved = run_pipeline(config.load_pipeline(_write(
        user_files, "moved.toml", run={"out": "moved"}, event_study={"window": [-4, 6], "reference": -4})),
        progress=False)
    assert set(_statuses(moved).values()) == {"stored"}
    page = (user_files / "moved" / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == (out / "report.html").read_text(
        encoding="utf-8").count("data:image/png;base64,") >= 3

    # tfp.compare changes only the pooled elasticity table: the by-industry TFP stays stored
    compare = _write(user_files, "run.toml", run={"steps": ["tfp", "elasticities"]},
                     event_study={"window": [-4, 6], "reference": -4}, tfp={"min_obs": 150, "compare": ["ols"]})
    fifth = run_pipeline(config.load_pipeline(compare), progress=False)
    assert _statuses(fifth) == {"read": "stored", "harmonise": "stored", "tfp": "stored", "elasticities": "ok"}

    # an early step's setting changes: it and every step after it that needs it run again
    early = _write(user_files, "run.toml", event_study={"window": [-4, 6], "reference": -4},
                   tfp={"min_obs": 150, "trim": 0.02})
    fourth = run_pipeline(config.load_pipeline(early), progress=False)
    assert _statuses(fourth) == {"read": "stored", "harmonise": "stored", "tfp": "ok", "agglomeration": "ok",
                                 "facts": "ok", "did": "ok", "event_study": "ok"}
    assert fourth["tfp"]["trim_share"] == 0.02
    assert fourth["did"]["twfe"]["nobs"] < first["did"]["twfe"]["nobs"]  # more trimmed, fewer rows with ln_tfp
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["steps"]["read"]["cached"] is True and on_disk["steps"]["tfp"]["cached"] is False


def test_changed_input_file_invalidates_reading(user_files, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(user_files / "raw", root / "raw")
    shutil.copy(user_files / "provinces.geojson", root)
    path = _write(root, "run.toml", run={"out": "out", "steps": ["harmonise"]})
    run_pipeline(config.load_pipeline(path), progress=False)
    victim = root / "raw" / "asie_2004.parquet"
    frame = pd.read_parquet(victim)
    frame.iloc[: len(frame) // 2].to_parquet(victim, index=False)
    again = run_pipeline(config.load_pipeline(path), progress=False)
    assert _statuses(again) == {"read": "ok", "harmonise": "ok"}


def test_missing_input_files_are_named(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[data]\nfiles = ["nowhere/asie_*.csv"]\n[run]\nsteps = ["read"]\n')
    summary = run_pipeline(config.load_pipeline(path), progress=False)
    assert summary["steps"]["read"]["status"] == "failed"
    assert "'nowhere/asie_*.csv' matches no file" in summary["steps"]["read"]["error"]


def test_calibrate_step_reports_the_model_at_its_estimates(tmp_path):
    """The optional SMM step: its moments table must be the model evaluated at the reported estimates."""
    from sez import smm
    from sez.model import Grid, Params

    cfg = pipeline_config({"run": {"out": str(tmp_path), "steps": ["calibrate"], "seed": 2},
                           "data": {"source": "synthetic"}, "model": {"n_cash": 30, "n_capital": 40},
                           "calibrate": {"free": ["xbar_S"], "targets": ["exit_rate_sez", "leverage_nsez"],
                                         "global_points": 2, "local_maxiter": 5, "n_firms": 500}})
    summary = run_pipeline(cfg, progress=False)
    assert list(summary["steps"]) == ["calibrate"], summary["steps"]
    assert summary["steps"]["calibrate"]["status"] == "ok", summary["steps"]["calibrate"]["traceback"]
    moments = pd.read_csv(tmp_path / "tables" / "smm_moments.csv", index_col=0)
    params = pd.read_csv(tmp_path / "tables" / "smm_parameters.csv", index_col=0)
    assert list(moments.index) == ["exit_rate_sez", "leverage_nsez"] and list(params.index) == ["xbar_S"]
    estimate = summary["calibrate"]["estimate"]["xbar_S"]
    assert params.loc["xbar_S", "estimate"] == pytest.approx(estimate, rel=1e-12)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at_estimate = Params.paper(xbar_S=estimate)
    spec = smm.ModelSpec(grid=Grid(n_cash=30, n_capital=40), n_firms=500, moments=("exit_rate_sez", "leverage_nsez"))
    recomputed = smm.model_moments(at_estimate, spec, seed=2)
    # the same parameters, grid, panel size and seed (common random numbers): equal up to rounding
    assert moments["model"].to_numpy() == pytest.approx(recomputed.to_numpy(), rel=1e-9)
    assert moments["data"].tolist() == [0.10, 0.9622]  # the paper's Table 7 data column


def test_cli_runs_a_config_with_steps_and_no_cache(tmp_path, capsys):
    path = tmp_path / "model.toml"
    path.write_text('[data]\nsource = "synthetic"\n[model]\nn_cash = 30\nn_capital = 40\nn_firms = 500\n'
                    '[run]\nout = "out"\n')
    assert main(["run", str(path), "--steps", "model", "--no-cache"]) == 0
    printed = capsys.readouterr().out
    assert "1 of 1 steps ran" in printed and str(tmp_path / "out" / "report.html") in printed
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(summary["steps"]) == ["model"] and summary["config"] == str(path)
    assert not (tmp_path / "out" / "cache").exists()  # --no-cache writes nothing to the store
    assert main(["run", str(path), "--steps", "modle"]) == 2
    assert "(command line): [run] steps names unknown step(s) ['modle']" in capsys.readouterr().err


def test_unreadable_stored_entry_is_recomputed(tmp_path):
    path = tmp_path / "model.toml"
    path.write_text('[data]\nsource = "synthetic"\n[model]\nn_cash = 30\nn_capital = 40\nn_firms = 500\n'
                    '[run]\nout = "out"\nsteps = ["model"]\n')
    cfg = config.load_pipeline(path)
    first = run_pipeline(cfg, progress=False)
    (tmp_path / "out" / "cache" / "model" / "payload.json").write_bytes(b"torn")  # key intact, payload broken
    again = run_pipeline(cfg, progress=False)
    assert again["steps"]["model"]["status"] == "ok" and again["steps"]["model"]["cached"] is False
    assert again["model"]["effect_pct"] == first["model"]["effect_pct"]
    third = run_pipeline(cfg, progress=False)  # stored again, now readable
    assert third["steps"]["model"]["cached"] is True


def test_outputs_rewritten_without_the_cache_are_never_taken_for_stored_ones(tmp_path):
    """A run with --no-cache (or sez demo) into a folder that holds stored steps rewrites their files: those
    entries must go, or a later cached run would report the other run's outputs as its own."""
    path = tmp_path / "model.toml"
    path.write_text('[data]\nsource = "synthetic"\n[model]\nn_cash = 30\nn_capital = 40\nn_firms = 500\n'
                    '[run]\nout = "out"\nsteps = ["model"]\n')
    table = tmp_path / "out" / "tables" / "model_no_sez_counterfactual.csv"
    first = run_pipeline(config.load_pipeline(path), progress=False)
    before = pd.read_csv(table)
    other = config.load_pipeline(path)
    other.settings["run"]["cache"] = False
    other.settings["model"]["n_firms"] = 700
    run_pipeline(other, progress=False)
    assert not pd.read_csv(table).equals(before)  # another simulated panel rewrote the table
    again = run_pipeline(config.load_pipeline(path), progress=False)
    assert again["steps"]["model"]["cached"] is False  # recomputed, not taken from the store
    pd.testing.assert_frame_equal(pd.read_csv(table), before)
    assert again["model"]["effect_pct"] == first["model"]["effect_pct"]
    # a file edited by hand after storing: the entry is not used either
    assert run_pipeline(config.load_pipeline(path), progress=False)["steps"]["model"]["cached"] is True
    table.write_text(table.read_text() + "\n")
    assert run_pipeline(config.load_pipeline(path), progress=False)["steps"]["model"]["cached"] is False


@pytest.mark.parametrize("raw, message", [
    (_valid(run={"seed": -1}), r"\[run\] seed must be non-negative"),
    (_valid(tfp={"compare": []}), r"\[tfp\] compare is empty"),
    (_valid(calibrate={"free": ["xi_S", "xi_S"]}), r"\[calibrate\] free names \['xi_S'\] more than once"),
    (_valid(calibrate={"free": ["liquidation"]}), r"\[calibrate\] free names unknown parameter\(s\) \['liquidation'\]"),
    (_valid(calibrate={"targets": ["exit_rate_sez", "exit_rate_sez"]}), r"\[calibrate\] targets names"),
    (_valid(data={"deflators": "nowhere.csv"}), r"\[data\] deflators: .*nowhere.csv: no such file"),
    (_valid(facts={"boundaries": "nowhere.geojson"}), r"\[facts\] boundaries: .*nowhere.geojson: no such file"),
])
def test_value_errors_name_the_section_and_key(raw, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        pipeline_config(raw, base=tmp_path, source="my.toml")
