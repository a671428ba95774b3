"""End-to-end tests of sez.run.run_demo and the HTML report.

The demo runs once at its ``tiny`` size (about 1,500 synthetic firms, a coarse
model grid). The DiD estimates are checked against the synthetic truth (0.10)
within ``SEZ_EFFECT_TOLERANCE_SE`` (four) reported standard errors: the run is
seeded, so the check is deterministic, and four standard errors leave room for
the measurement error of harmonised SEZ status and estimated TFP.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sez
from sez import run
from sez.run import report, runner


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    summary = run.run_demo("tiny", out, seed=0, progress=False)
    return out, summary


def test_every_step_succeeds_and_is_timed(demo):
    _, summary = demo
    # every default step; the analysis step runs only for a configuration with [analysis]
    assert list(summary["steps"]) == [n for n, step in run.STEPS.items() if not step.optional and n != "analysis"]
    for name, step in summary["steps"].items():
        if name == "mediation" and step["status"] == "failed":
            # at the tiny size EG within a city is defined for few firm-years and the mediator can lack
            # within-firm variation; the failure must then be recorded with its error
            assert "collinear" in step["error"], step["error"]
            continue
        assert step["status"] == "ok", (name, step["error"], step["traceback"])
        assert step["seconds"] >= 0


def test_expected_files_exist(demo):
    out, summary = demo
    expected = ["summary.json", "report.html", "panel.parquet", "panel.dta", "analysis_panel.parquet",
                "tables/audit.csv", "tables/links.csv", "tables/codebook.csv", "figures/harmonise_audit.png",
                "tables/tfp_op_by_industry.csv",
                "tables/elasticities_pooled.csv", "tables/production_variables.csv", "tables/ln_tfp_by_zone.csv",
                "tables/exporter_counts.csv", "tables/ks_dominance.csv", "tables/export_probit.csv",
                "tables/facts_zone.csv", "tables/facts_birth.csv", "tables/facts_movers.csv",
                "tables/did_sez_ln_tfp.csv", "tables/event_study.csv", "tables/model_no_sez_counterfactual.csv",
                "figures/tfp_densities.png", "figures/event_study.png", "figures/model_decision_rules.png",
                "figures/model_location_map.png", "figures/model_lifecycle.png", "figures/model_tfp_density.png",
                "figures/table16_coefficients.png", "figures/table18_coefficients.png",
                "figures/table19_coefficients.png", "figures/table20_coefficients.png",
                "figures/ks_dominance_ecdfs.png", "figures/model_no_sez_effects.png"]
    for name in expected:
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
        assert name in summary["files"]
    for name in summary["files"]:
        assert (out / name).is_file(), name
    assert len(list((out / "raw").glob("asie_*"))) == 16  # one raw extract per year 1998-2013
    panel = pd.read_parquet(out / "panel.parquet")
    assert len(panel) == summary["harmonise"]["rows_out"]
    # the Stata copy holds the same firm-years, labelled; the codebook has a row per column
    stata = pd.read_stata(out / "panel.dta")
    assert stata[["firm_id", "year"]].values.tolist() == panel[["firm_id", "year"]].values.tolist()
    with pd.io.stata.StataReader(out / "panel.dta") as reader:
        assert reader.variable_labels()["sez"] == "located in a special economic zone this year"
    codebook = pd.read_csv(out / "tables" / "codebook.csv")
    assert codebook["variable"].tolist() == list(panel.columns)
    assert codebook.set_index("variable").loc["sez", "non_missing"] == len(panel)


def test_every_table_has_a_tidy_numeric_twin(demo):
    out, summary = demo
    formatted = sorted(p.name for p in (out / "tables").glob("*.csv"))
    assert formatted and formatted == sorted(p.name for p in (out / "tables" / "tidy").glob("*.csv"))
    assert all(f"tables/tidy/{name}" in summary["files"] for name in formatted)
    for name in formatted:
        tidy = pd.read_csv(out / "tables" / "tidy" / name)
        for column in tidy.columns:
            if pd.api.types.is_numeric_dtype(tidy[column]):
                continue
            # a text column holds labels: no number with stars or parentheses, no True/False for Stata to trip on
            cells = tidy[column].dropna().astype(str)
            numbers = pd.to_numeric(cells.str.replace(r"[*(),]", "", regex=True), errors="coerce")
            assert numbers.isna().all() and not cells.isin(["True", "False"]).any(), (name, column, cells.head(3))
    # the paper's layout shows the tidy file's numbers: Table 16's first TWFE estimate and its standard error
    layout = pd.read_csv(out / "tables" / "table16.csv", header=[0, 1], index_col=0)
    tidy = pd.read_csv(out / "tables" / "tidy" / "table16.csv")
    first = tidy[(tidy["spec"] == "m1") & (tidy["estimator"] == "twfe") & (tidy["term"] == "sez")].iloc[0]
    assert {c: pd.api.types.is_float_dtype(tidy[c]) for c in ("coef", "se", "p_value")} == dict.fromkeys(
        ("coef", "se", "p_value"), True)
    assert layout[("m1", "TWFE")].iloc[0].rstrip("*") == f"{first['coef']:.4g}"
    assert layout[("m1", "TWFE")].iloc[1] == f"({first['se']:.4g})"
    probit = pd.read_csv(out / "tables" / "tidy" / "export_probit.csv")
    assert [pd.api.types.is_float_dtype(probit[c]) for c in ("estimate", "std_err", "p_value", "marginal_effect")] \
        == [True] * 4
    coefficients = summary["probit"]["models"]["[1] industry counts"]["coefficients"]
    rows = probit[probit["model"] == "[1] industry counts"].set_index("term")["estimate"]
    assert rows.to_dict() == pytest.approx(coefficients, rel=1e-12)


def test_summary_json_has_the_key_numbers(demo):
    out, summary = demo
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["harmonise"]["rows_out"] == summary["harmonise"]["rows_out"]
    h = on_disk["harmonise"]
    assert h["rows_in"] == h["rows_out"] + sum(h["dropped_by_reason"].values())
    assert h["links_by_rule"]["code"] > 0 and h["link_precision"] > 0.95 and h["link_recall"] > 0.95
    tfp = on_disk["tfp"]
    assert 0.3 < tfp["beta_employees_median"] < 1.0 and tfp["truth"] == {"beta_l": 0.6, "beta_k": 0.35}
    assert set(on_disk["dominance"]["verdicts"]) <= {"a", "b", "c", "d"} and on_disk["dominance"]["years"]
    for model in on_disk["probit"]["models"].values():
        assert "L.exporter" in model["coefficients"] and model["coefficients"]["L.exporter"] > 0
    assert on_disk["did"]["truth"] == 0.1
    for key in ("twfe", "imputation"):
        assert {"coef", "se", "ci_lower", "ci_upper", "within_tolerance"} <= set(on_disk["did"][key])
    assert "Aggregate TFP (Z)" in on_disk["model"]["effect_pct"]
    assert on_disk["model"]["paper_effect_pct"]["Aggregate TFP (Z)"] == pytest.approx(25.70)
    assert on_disk["total_seconds"] > 0


def test_did_recovers_the_synthetic_effect(demo):
    _, summary = demo
    truth = summary["did"]["truth"]
    for key in ("twfe", "imputation"):
        est = summary["did"][key]
        assert est["se"] < 0.1, est  # informative enough for the check to mean something
        assert abs(est["coef"] - truth) <= run.SEZ_EFFECT_TOLERANCE_SE * est["se"], est
        assert est["within_tolerance"]


def test_html_has_every_caption_and_image(demo):
    out, summary = demo
    page = (out / "report.html").read_text(encoding="utf-8")
    tables = [t for s in _sections(page) for t in s]
    assert "<caption>Steps: status, wall time and peak memory" in page and "<th>peak memory (GiB)</th>" in page
    for caption in ("Rows dropped by step and reason during harmonisation",
                    "Codebook of the harmonised panel (panel.parquet, panel.dta)",
                    f"From {summary['harmonise']['rows_in']:,} rows in to {summary['harmonise']['rows_out']:,} "
                    "rows out: rows dropped by step and reason",
                    "Olley-Pakes production-function elasticities by 2-digit industry (value added)",
                    "Kolmogorov-Smirnov dominance of log TFP by export status and agglomeration",
                    "Export probit with lagged regressors (agglomeration paper, Table 3 layout)",
                    "Firm-years inside vs outside a zone (SEZ paper, Table 1)",
                    "Movers into a zone vs stayers outside, before and after the move (SEZ paper, Table 3)",
                    "Difference-in-differences of log TFP on SEZ status",
                    "Event study of log TFP around entry into a zone",
                    "Model: the SEZ effect, benchmark vs no-SEZ counterfactual (SEZ paper, Table 8)",
                    "Share of firms in SEZs by year (SEZ paper, Figure 1)",
                    "Table 16", "Table 17", "Table 18", "(SEZ paper, Tables 21 and 28)",
                    "(SEZ paper, Table 29)", "(SEZ paper, Table 30)", "(SEZ paper, Table 19)",
                    "(SEZ paper, Table 20)", "(SEZ paper, Table 31)", "(SEZ paper, Table 32)"):
        assert caption in page, caption
    assert tables  # every table carries a caption
    images = ("harmonise_audit.png", "tfp_densities.png", "event_study.png", "model_decision_rules.png",
              "model_location_map.png", "model_lifecycle.png", "model_tfp_density.png", "sez_shares.png",
              "figure12.png", "table16_coefficients.png", "table18_coefficients.png", "table19_coefficients.png",
              "table20_coefficients.png", "ks_dominance_ecdfs.png", "model_no_sez_effects.png")
    for image in images:
        assert f'data-file="{image}"' in page, image
    assert page.count('src="data:image/png;base64,') == len(images)
    assert "paper effect (%)" in page  # the paper's numbers beside ours
    # each table links its layout and its numbers
    assert 'CSV: <a href="tables/event_study.csv">layout</a>, <a href="tables/tidy/event_study.csv">numbers</a>' in page


def _sections(page: str):
    # every <table> of the page is followed by its <caption>
    chunks = page.split("<table")[1:]
    return [[chunk.split(">", 1)[1].startswith("<caption>") for chunk in chunks]]


def test_failing_step_is_recorded_and_the_rest_go_on(tmp_path, monkeypatch):
    from sez.papers import agglomeration

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(agglomeration, "dominance_table", broken)
    summary = run.run_demo("tiny", tmp_path, progress=False, steps=["dominance", "facts"])
    steps = summary["steps"]
    assert list(steps) == ["synthetic", "read", "harmonise", "tfp", "agglomeration", "dominance", "facts"]
    assert steps["dominance"]["status"] == "failed"
    assert steps["dominance"]["error"] == "RuntimeError: injected failure"
    assert "injected failure" in steps["dominance"]["traceback"]
    assert steps["facts"]["status"] == "ok"
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "RuntimeError: injected failure" in page
    assert json.loads((tmp_path / "summary.json").read_text())["steps"]["dominance"]["status"] == "failed"


def test_step_after_a_failed_prerequisite_is_skipped(tmp_path, monkeypatch):
    from sez import tfp

    monkeypatch.setattr(tfp, "estimate", lambda *a, **k: (_ for _ in ()).throw(ValueError("no TFP today")))
    summary = run.run_demo("tiny", tmp_path, progress=False, steps=["facts", "model"])
    steps = summary["steps"]
    assert steps["tfp"]["status"] == "failed" and "no TFP today" in steps["tfp"]["error"]
    assert steps["facts"]["status"] == "skipped" and "tfp" in steps["facts"]["error"]
    assert steps["model"]["status"] == "ok"


def test_write_html_links_images_and_rejects_other_items(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    (tmp_path / "figs").mkdir()
    fig.savefig(tmp_path / "figs" / "line.png")
    plt.close(fig)
    frame = pd.DataFrame({"ours": [1.5, float("nan")], "paper": [1.4, 2.0], "firms": [12345, 2],
                          "to_year": [1999, 2000]}, index=["a", "b"])
    sections = [report.Section("One", "intro <text>", [report.Table("A table & more", frame, "a note"),
                                                       report.Figure("A line", tmp_path / "figs" / "line.png")])]
    path = report.write_html(sections, tmp_path / "r.html", embed_images=False)
    page = path.read_text()
    assert "<caption>A table &amp; more</caption>" in page and "intro &lt;text&gt;" in page
    assert 'src="figs/line.png"' in page and "1.5000" in page
    assert "<td>12,345</td>" in page and "<td>1999</td>" in page  # counts grouped, years not
    with pytest.raises(TypeError, match="not a Table or Figure"):
        report.write_html([report.Section("Bad", items=["text"])], tmp_path / "bad.html")


_BROWSER_PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  var decoded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-images", images.length);
  document.body.setAttribute("data-images-decoded", decoded.length);
  document.body.setAttribute("data-min-image-width", Math.min.apply(null, decoded.map(function (i) {
    return i.naturalWidth; })));
  document.body.setAttribute("data-tables", document.querySelectorAll("table").length);
  document.body.setAttribute("data-rendered-rows", Array.from(document.querySelectorAll("table tr")).filter(
    function (r) { return r.getBoundingClientRect().height > 0; }).length);
  var links = Array.from(document.querySelectorAll('a[href^="#"]'));
  document.body.setAttribute("data-links", links.length);
  document.body.setAttribute("data-links-resolved", links.filter(function (a) {
    return document.getElementById(a.getAttribute("href").slice(1)) !== null; }).length);
  // follow the sidebar's link to the event study's figure: the page goes there and the target is the figure
  var figureLink = document.querySelector('nav.contents a[href^="#event-study"]');
  figureLink.click();
  var target = document.querySelector(":target");
  document.body.setAttribute("data-followed", (target !== null && "#" + target.id === figureLink.getAttribute(
    "href") && window.scrollY > 0) ? 1 : 0);
});
</script>"""


def _browser():
    import shutil

    return next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium on this machine (.ci/run installs Debian's chromium)")
def test_report_opens_in_a_real_browser(demo, tmp_path):
    """Headless Chromium loads the report; a probe script counts the images it decoded and the tables it laid out."""
    import re
    import subprocess

    out, _ = demo
    page = (out / "report.html").read_text(encoding="utf-8")
    probe = tmp_path / "report_probe.html"
    probe.write_text(page.replace("</body>", _BROWSER_PROBE + "</body>"), encoding="utf-8")
    done = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body, done.stdout[:500]
    attrs = dict(re.findall(r'data-([\w-]+)="(\d+)"', body.group(1)))
    n_images = page.count('src="data:image/png;base64,')
    assert int(attrs["images"]) == n_images >= 7
    assert int(attrs["images-decoded"]) == n_images  # every embedded PNG decodes in the browser
    assert int(attrs["min-image-width"]) >= 300
    assert int(attrs["tables"]) == page.count("<table")
    assert int(attrs["rendered-rows"]) > 100  # the tables are laid out, not hidden
    assert int(attrs["links"]) == page.count('href="#') > 50 and int(attrs["links-resolved"]) == int(attrs["links"])
    assert attrs["followed"] == "1"  # a sidebar link scrolls to its target
    for caption in ("Steps: status, wall time and peak memory", "Export probit with lagged regressors",
                    "Event study of log TFP around entry into a zone"):
        assert caption in done.stdout, caption


def test_step_warnings_keep_the_package_s_own_first_and_say_how_many_more():
    from types import SimpleNamespace

    own = str(Path(sez.__file__).parent / "did" / "twfe.py")  # any module of the package
    caught = ([SimpleNamespace(category=FutureWarning, message=f"pandas {i}", filename="/site/pandas/x.py")
               for i in range(30)]
              + [SimpleNamespace(category=UserWarning, message="zone dropped", filename=own)] * 3)
    caught = [SimpleNamespace(category=UserWarning, message=f"other {i}", filename="/site/other/x.py")
              for i in range(30)] + caught
    lines = runner._warning_lines(caught)
    assert lines[0] == "UserWarning: zone dropped"  # deduplicated, and ahead of the others' warnings
    assert len(lines) == runner.MAX_WARNINGS + 2
    assert lines[-2] == f"... and {31 - runner.MAX_WARNINGS} more distinct warnings"
    # libraries' deprecation notices about their own code: counted, by library, in one line
    assert lines[-1] == "30 deprecation notice(s) raised inside x left out (they concern those libraries' code)"
    pyfixest = SimpleNamespace(category=DeprecationWarning, message="inplace",
                               filename="/venv/lib/python3.11/site-packages/pyfixest/estimation/feols_.py")
    own_deprecation = SimpleNamespace(category=FutureWarning, message="ours", filename=own)
    assert runner._warning_lines([pyfixest, pyfixest, own_deprecation]) == [
        "FutureWarning: ours", "2 deprecation notice(s) raised inside pyfixest left out (they concern those "
        "libraries' code)"]


def test_every_did_step_honours_the_did_cluster_setting(tmp_path, monkeypatch):
    """[did] cluster serves the DiD, event-study, heterogeneity and mediation steps: every regression and
    imputation they run clusters by it (Tables 17-18 and the mediation tables once stayed clustered by firm)."""
    import importlib
    import sys

    from sez.run import pipeline_config

    _pyfixest, imputation, event_study = (importlib.import_module(f"sez.did.{m}")
                                          for m in ("_pyfixest", "imputation", "event_study"))

    seen = []
    real_feols, real_imputer, real_sun_abraham = _pyfixest._feols, imputation._Imputer, event_study._sun_abraham

    def feols(data, outcome, regressors, fe, vcov, *args, **kwargs):
        seen.append(("feols", vcov))
        return real_feols(data, outcome, regressors, fe, vcov, *args, **kwargs)

    class Imputer(real_imputer):
        def __init__(self, data, outcome, treatment, fe, controls, vcov, tol, *args, **kwargs):
            seen.append(("imputation", vcov))
            super().__init__(data, outcome, treatment, fe, controls, vcov, tol, *args, **kwargs)

    def sun_abraham(*args):
        seen.append(("sun_abraham", args[8]))
        return real_sun_abraham(*args)

    # every module that imported them refers to them by name: patch each one
    for module in [m for name, m in sys.modules.items() if name.startswith("sez.")]:
        for attribute, real, fake in (("_feols", real_feols, feols), ("_Imputer", real_imputer, Imputer),
                                      ("_sun_abraham", real_sun_abraham, sun_abraham)):
            if getattr(module, attribute, None) is real:
                monkeypatch.setattr(module, attribute, fake)
    base = run.demo_config("tiny", out_dir=tmp_path, steps=["did", "event_study", "heterogeneity", "mediation"])
    cfg = pipeline_config({**base.settings, "did": {**base["did"], "cluster": "city"}}, base=base.base)
    summary = run.run_pipeline(cfg, progress=False)
    assert all(summary["steps"][s]["status"] == "ok" for s in ("did", "event_study", "heterogeneity", "mediation"))
    kinds = {kind for kind, _ in seen}
    assert kinds == {"feols", "imputation", "sun_abraham"}
    assert {str(vcov) for _, vcov in seen} == {"clustered by city"}, sorted(map(str, seen))
    for table in ("table16", "table17", "table18", "table19"):
        layout = pd.read_csv(tmp_path / "tables" / f"{table}.csv", index_col=0, header=[0, 1])
        row = layout.loc["Standard errors"]
        assert set(row[[c for c in layout.columns if c[1] != "paper"]].dropna()) == {"clustered by city"}, table


def test_every_numeric_report_column_has_one_number_format(demo):
    """Within each numeric column of every report table, every number has the same decimals (a year aside).
    Cells the papers' layouts format themselves (text) are theirs, not the report's."""
    import re

    from sez.run.earlier import EarlierSteps
    from sez.run.report import _format_column

    out, summary = demo
    earlier, mixed, checked = EarlierSteps(out), [], 0
    for step in summary["steps"]:
        for item in earlier.recall(step)["section"].items:
            if not isinstance(item, report.Table):
                continue
            frame = item.frame
            for j, column in enumerate(frame.columns):
                values = frame.iloc[:, j]
                if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
                    continue
                cells = _format_column(list(values), column, list(frame.index))
                decimals = {len(c.partition(".")[2]) if "e" not in c else "sci" for c in cells
                            if c and not re.fullmatch(r"(19|20)\d\d", c)}
                checked += 1
                if len(decimals) > 1:
                    mixed.append(f"{item.caption}: {column} {sorted(map(str, decimals))}")
    assert checked > 50 and not mixed, mixed


def test_a_column_is_formatted_as_one():
    from sez.run.report import _format_column

    assert _format_column([0.1234567, 2.0, np.nan], "coef", ["a", "b", "c"]) == ["0.1235", "2.0000", ""]
    assert _format_column([3, 4000, 12], "firms", ["a", "b", "c"]) == ["3", "4,000", "12"]
    assert _format_column([1998.0, 1234567.5], "min", ["year", "sales"]) == ["1998", "1,234,568"]
    assert _format_column([1111.0, 1.5], "SEZ", ["firm-years", "ln z"]) == ["1,111.00", "1.50"]
    assert _format_column([1e-5, 2e-6], "p", ["a", "b"]) == ["1.000e-05", "2.000e-06"]


def _ids_and_links(page: str) -> tuple[list[str], list[str]]:
    import re

    return re.findall(r'\sid="([^"]+)"', page), re.findall(r'href="#([^"]*)"', page)


def test_every_caption_has_an_anchor_the_sidebar_links_to(demo):
    """Each section, table and figure has a unique id; the sidebar links each one; every link on the page
    resolves to an id; the steps table links each step to its section; the page has a print stylesheet."""
    import re

    out, summary = demo
    page = (out / "report.html").read_text(encoding="utf-8")
    ids, links = _ids_and_links(page)
    assert len(ids) == len(set(ids)) and set(links) <= set(ids)
    sidebar = page[page.index('<nav class="contents"'):page.index("</nav>")]
    sidebar_links = set(re.findall(r'href="#([^"]*)"', sidebar))
    anchored = re.findall(r'<table class="[^"]*" id="([^"]+)">\s*<caption>|<figure id="([^"]+)">', page)
    captions = page.count("<caption>") + page.count("<figcaption>")
    # split tables carry their anchor on the first piece only; every other table and figure has one
    assert captions - page.count("(continued, ") == len(anchored) > 30
    assert {a or b for a, b in anchored} <= sidebar_links
    sections = re.findall(r'<h2 id="([^"]+)">', page)
    assert len(sections) == len(summary["steps"]) + 1 and sections[-1] == "provenance"
    assert set(sections) <= sidebar_links
    steps_table = page[page.index('id="steps"'):].split("</table>")[0]
    assert re.findall(r'href="#([^"]*)"', steps_table) == sections[:-1]
    style = page[page.index("<style>"):page.index("</style>")]
    printed = style[style.index("@media print"):]
    assert "nav.contents { display: none; }" in printed and "break-inside: avoid" in printed


def test_a_step_warning_is_shown_in_its_section(demo):
    """The demo's harmonisation warns that no deflators were given: the warning is in that step's section."""
    out, summary = demo
    page = (out / "report.html").read_text(encoding="utf-8")
    warning = next(w for w in summary["steps"]["harmonise"]["warnings"] if "no output deflators" in w)
    start = page.index('<h2 id="harmonising-into-one-firm-year-panel">')
    section = page[start:page.index("<h2", start + 1)]
    assert 'class="warnings"' in section and html.escape(warning) in section
    assert page.count(html.escape(warning)) == 1


def test_wide_tables_are_split_or_transposed(tmp_path):
    """37 columns and 40 rows: four tables of at most report.MAX_COLUMNS columns, each with the row labels;
    37 columns and 3 rows: one table, transposed; 12 column groups of 3 are split between groups."""
    wide = pd.DataFrame(np.arange(40 * 37, dtype=float).reshape(40, 37) / 7,
                        index=[f"row {i}" for i in range(40)], columns=[f"c{j}" for j in range(37)])
    pieces = report.fit_to_page(wide, "Wide")
    assert [p.shape for _, p in pieces] == [(40, 12), (40, 12), (40, 12), (40, 1)]
    assert [c for _, p in pieces for c in p.columns] == list(wide.columns)
    assert [c for c, _ in pieces] == ["Wide (columns 1-12 of 37)", "Wide (continued, columns 13-24 of 37)",
                                      "Wide (continued, columns 25-36 of 37)", "Wide (continued, columns 37-37 of 37)"]
    (caption, short), = report.fit_to_page(wide.head(3), "Short")
    assert "transposed" in caption and short.shape == (37, 3) and list(short.columns) == ["row 0", "row 1", "row 2"]
    grouped = pd.DataFrame(np.ones((20, 36)), columns=pd.MultiIndex.from_product([[f"m{i}" for i in range(1, 13)],
                                                                                  ["TWFE", "imp", "paper"]]))
    assert [sorted(set(p.columns.get_level_values(0)), key=lambda m: int(m[1:])) for _, p in
            report.fit_to_page(grouped, "G")] == [["m1", "m2", "m3", "m4"], ["m5", "m6", "m7", "m8"],
                                                  ["m9", "m10", "m11", "m12"]]
    page = report.write_html([report.Section("Wide", items=[report.Table("Wide", wide)])],
                             tmp_path / "r.html").read_text()
    assert page.count("<table") == 5 and page.count("<th>row 39</th>") == 4  # the steps table, then four pieces
    assert page.count("(continued, columns") == 3 and page.count(f"<td>{wide.iloc[0, 36]:.4f}</td>") == 1


def test_a_warning_raised_while_a_table_is_computed_is_shown_beside_it_and_printed(tmp_path, monkeypatch, capsys):
    """A TFPWarning raised while the productivity step estimates its production functions: printed when the
    step ends, and shown under the production-function table (the section's box links to it)."""
    import warnings

    from sez import tfp
    from sez.errors import TFPWarning

    real = tfp.estimate
    message = "lp: the estimates are not consistent; use method='acf'"

    def estimate(*args, **kwargs):
        warnings.warn(message, TFPWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(tfp, "estimate", estimate)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False, raising=False)
    run.run_demo("tiny", tmp_path, progress=True, steps=["tfp"])
    assert f"warning tfp: TFPWarning: {message}" in capsys.readouterr().out
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    table = page.index("<caption>Olley-Pakes production-function elasticities")
    beside = page[table:page.index("<table", table)]
    assert 'class="warnings"' in beside and html.escape(f"TFPWarning: {message}") in beside
    section = page[page.index('<h2 id="productivity-production-functions-by-industry">'):table]
    assert 'href="#olley-pakes-production-function-elasticities' in section

def _table_headers(page: str) -> dict[str, set[str]]:
    """Caption -> the header cells (column and row labels) of each table of the report."""
    import re

    headers = {}
    for chunk in page.split("<table")[1:]:
        caption = re.search(r"<caption>(.*?)</caption>", chunk, re.S)
        headers[caption.group(1) if caption else ""] = {re.sub(r"<[^>]+>", "", h).strip()
                                                        for h in re.findall(r"<th[^>]*>(.*?)</th>", chunk, re.S)}
    return headers


def test_report_tables_show_labels_names_and_a_glossary(demo):
    from sez.panel import LABELS

    out, _ = demo
    page = (out / "report.html").read_text(encoding="utf-8")
    headers = _table_headers(page)
    glossary = [c for c in headers if c.startswith("Glossary")]
    assert len(glossary) == 1 and {"beta_employees", "twfe_lower", "ln_tfp"} <= headers[glossary[0]]
    mapped = ("beta_employees", "beta_capital", "returns_to_scale", "n_obs", "in_sez", "t_employees", "r2_adj",
              "cic2", "twfe_lower", "callaway_santanna_coef", "n_treated_obs")
    # the glossary and the codebook list the names on purpose
    listed = (*glossary, "Codebook of the harmonised panel (panel.parquet, panel.dta)")
    shown = {caption: names & set(mapped) for caption, names in headers.items() if caption not in listed}
    assert not any(shown.values()), {c: n for c, n in shown.items() if n}
    assert {"labour elasticity", "2-digit industry", "firms in SEZs", "adjusted R-squared"} <= set().union(
        *headers.values())
    by_province = headers[next(c for c in headers if c.startswith("Share of firms in SEZs by province"))]
    assert "Guangdong (44)" in by_province and "44" not in by_province
    # the numbers' files keep the machine names and codes
    tidy = pd.read_csv(out / "tables" / "tidy" / "tfp_op_by_industry.csv")
    assert {"cic2", "beta_employees"} <= set(tidy.columns)
    assert 44 in pd.read_csv(out / "tables" / "tidy" / "sez_share_by_province.csv")["province"].tolist()
    assert LABELS["twfe_lower"][0] == "TWFE, lower 95% bound"


def test_a_name_has_one_human_label():
    from sez.panel import glossary, human_label, with_human_labels

    assert [human_label(n) for n in ("beta_employees", "ln_tfp", "twfe_lower", "sun_abraham_se", "no_such")] == [
        "labour elasticity", "log TFP", "TWFE, lower 95% bound", "Sun-Abraham, standard error", "no_such"]
    frame = pd.DataFrame({"beta_capital": [0.3], "other": [1]}, index=pd.Index(["13"], name="cic2"))
    labelled = with_human_labels(frame)
    assert list(labelled.columns) == ["capital elasticity", "other"] and labelled.index.name == "2-digit industry"
    assert list(frame.columns) == ["beta_capital", "other"]  # the frame given is left as it was
    table = glossary()
    assert table["name"].is_unique and not table["meaning"].eq("").any()
