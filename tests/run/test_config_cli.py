"""Run configurations and the grid/calibrate commands."""

import re

import pandas as pd
import pytest

from sez import cli
from sez.run import config

BASE = """
[model]
xbar_S = 0.3
theta_S = 0.7
[grid]
n_cash = 40
n_capital = 60
n_shocks = 3
type_edges = [0.0, 0.5, 1.0]
[simulation]
n_firms = 1500
years = 4
burn_in = 20
moments = ["sez_share", "leverage_sez"]
"""


def write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def grid_config(tmp_path, stem, xbar_S):
    """A grid configuration over ``xbar_S`` writing ``<stem>.jsonl`` and ``<stem>.csv`` into ``tmp_path``."""
    return write(tmp_path, BASE + f"""
[points]
xbar_S = {list(xbar_S)}
[output]
checkpoint = "{tmp_path / f'{stem}.jsonl'}"
table = "{tmp_path / f'{stem}.csv'}"
""", name=f"{stem}.toml")


def test_grid_command_writes_table_and_resumes(tmp_path, capsys):
    path = grid_config(tmp_path, "g", [0.1, 0.6])
    assert cli.main(["grid", str(path), "--workers", "1"]) == 0
    table = pd.read_csv(tmp_path / "g.csv", index_col=0)
    assert table["xbar_S"].tolist() == [0.1, 0.6]
    assert table.loc[0, "sez_share"] > table.loc[1, "sez_share"]  # a higher floor, a smaller SEZ
    lines = (tmp_path / "g.jsonl").read_text().splitlines()
    assert cli.main(["grid", str(path), "--workers", "1"]) == 0  # all done: nothing recomputed
    assert (tmp_path / "g.jsonl").read_text().splitlines() == lines


def test_sez_grid_exit_codes_tell_a_batch_script_what_happened(tmp_path, capsys):
    ok = grid_config(tmp_path, "ok", [0.2, 0.3])
    assert cli.main(["grid", str(ok), "--workers", "1"]) == cli.EXIT_OK == 0
    bad = grid_config(tmp_path, "bad", [0.3, -5.0])
    assert cli.main(["grid", str(bad), "--workers", "1"]) == cli.EXIT_POINTS_FAILED != cli.EXIT_RUN_FAILED
    assert "1 point(s) raised an error" in capsys.readouterr().err


def test_a_scheduler_without_dask_is_an_error(tmp_path, capsys):
    path = write(tmp_path, BASE + "[points]\nxbar_S = [0.2]\n")
    assert cli.main(["grid", str(path), "--scheduler", "tcp://somewhere:8786"]) == 2
    assert "--scheduler tcp://somewhere:8786 needs --executor dask" in capsys.readouterr().err


def test_calibrate_command(tmp_path, capsys):
    path = write(tmp_path, BASE + f"""
[calibrate]
free = ["xbar_S"]
bounds = {{ xbar_S = [0.05, 0.45] }}
global_points = 0
local_starts = 1
local_maxiter = 15
[targets]
sez_share = 0.5
[output]
table = "{tmp_path / 'params.csv'}"
verdict = "{tmp_path / 'verdict.csv'}"
""")
    assert cli.main(["calibrate", str(path), "--workers", "1"]) == 0
    assert "Verdict per moment" in capsys.readouterr().out
    params = pd.read_csv(tmp_path / "params.csv", index_col=0)
    assert 0.05 <= params.loc["xbar_S", "estimate"] <= 0.45  # the configured box, not the default one
    verdict = pd.read_csv(tmp_path / "verdict.csv", index_col=0)
    assert list(verdict.index) == ["sez_share"]
    row = verdict.loc["sez_share"]
    assert row["deviation (%)"] == pytest.approx(100 * (row["model"] / 0.5 - 1))
    if abs(row["deviation (%)"]) <= 10:
        assert row["verdict"] == "reached"
    else:  # missed: out of reach exactly when 0.5 lies outside the range searched, widened by 10%
        outside = 0.5 + 0.05 < row["box min"] or 0.5 - 0.05 > row["box max"]
        assert row["verdict"] == ("out of reach" if outside else "traded off")


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("[modle]\nx = 1\n", r"unknown section\(s\) \['modle'\]"),
        ("[model]\nbeta = 2.0\n", "beta = 2.0 is outside"),
        ("[grid]\nn_cahs = 10\n", r"\[grid\] has unknown key\(s\) \['n_cahs'\]"),
        ("[points]\nxbar_S = 0.3\n", r"\[points\] xbar_S must be a non-empty list"),
        ("[calibrate]\nfree = ['zeta']\n", r"unknown parameter\(s\) \['zeta'\]"),
        ("[calibrate]\nfree = ['xi_S', 'xi_S']\n", r"free names \['xi_S'\] more than once"),
        ("[calibrate]\nfree = ['xi_S']\nbounds = { xi_N = [0, 1] }\n", r"bounds.xi_N: xi_N is not in free"),
        ("[calibrate]\nfree = ['xi_S']\nbounds = { xi_S = [1, 0] }\n", r"bounds.xi_S must be \[low, high\]"),
        ("[calibrate]\nfree = ['xi_S']\nlocal_starts = -1\n", r"local_starts must be a non-negative integer"),
        ("[calibrate]\nprofile = 'yes'\n", r"profile must be true or false"),
        ("[targets]\ntfp = 1.0\n", r"\[targets\] has unknown key"),
        ("model = [", "not valid TOML"),
    ],
)
def test_bad_configs_name_file_section_and_key(tmp_path, text, pattern):
    path = write(tmp_path, text)
    with pytest.raises(config.ConfigError, match=pattern):
        config.load(path)
    assert cli.main(["grid", str(path)]) == 2  # the command reports it and exits 2


def test_missing_config_file(tmp_path):
    with pytest.raises(config.ConfigError, match="no such file"):
        config.load(tmp_path / "nope.toml")


def test_demo_command_runs_the_chain_and_reports(tmp_path, capsys):
    import json

    code = cli.main(["demo", "--size", "tiny", "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "summary.json").read_text())
    failed = [n for n, s in summary["steps"].items() if s["status"] != "ok"]
    assert code == (1 if failed else 0)  # a failed step is the command's failure too
    assert set(failed) <= {"mediation"}  # the tiny panel has too little EG variation for it
    out = capsys.readouterr().out
    assert "report.html" in out and (tmp_path / "report.html").stat().st_size > 10_000


def test_model_command(tmp_path, capsys):
    assert cli.main(["model", "--n-cash", "40", "--n-capital", "60", "--n-firms", "2000", "--out",
                     str(tmp_path)]) == 0
    assert "paper effect" in capsys.readouterr().out and (tmp_path / "no_sez_counterfactual.csv").exists()


def test_paths_in_a_config_file_are_relative_to_it_wherever_the_command_runs(tmp_path, monkeypatch, capsys):
    folder, elsewhere = tmp_path / "configs", tmp_path / "elsewhere"
    folder.mkdir(), elsewhere.mkdir()
    path = write(folder, BASE + '[points]\nxbar_S = [0.2]\n[output]\ncheckpoint = "g.jsonl"\ntable = "out/g.csv"\n',
                 name="g.toml")
    (folder / "out").mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["grid", str(path), "--workers", "1"]) == 0
    assert (folder / "g.jsonl").is_file() and (folder / "out" / "g.csv").is_file()
    assert not any(elsewhere.iterdir())
    assert config.load(path).output == {"checkpoint": str(folder / "g.jsonl"), "table": str(folder / "out" / "g.csv")}


@pytest.mark.parametrize("output, pattern", [
    ('checkpoint = "g.toml"', r"\[output\] checkpoint is the configuration file itself"),
    ('checkpoint = "same.csv"\ntable = "same.csv"', r"\[output\] names .*same.csv for two outputs"),
    ("table = 3", r"\[output\] table must be a path"),
])
def test_outputs_never_overwrite_the_config_or_each_other(tmp_path, capsys, output, pattern):
    path = write(tmp_path, BASE + f"[points]\nxbar_S = [0.2]\n[output]\n{output}\n", name="g.toml")
    before = path.read_text()
    assert cli.main(["grid", str(path), "--workers", "1"]) == 2
    assert re.search(pattern, capsys.readouterr().err) and path.read_text() == before


def test_model_command_refuses_a_strangers_folder_before_solving(tmp_path, capsys):
    (tmp_path / "no_sez_counterfactual.csv").write_text("mine")
    assert cli.main(["model", "--n-cash", "40", "--n-capital", "60", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr()
    assert "not a sez output folder" in err.err and "solving" not in err.out
    assert (tmp_path / "no_sez_counterfactual.csv").read_text() == "mine"


def test_python_dash_m_sez_is_the_sez_command(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "sez", "run", "--example"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "[data]" in done.stdout
