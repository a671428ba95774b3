"""sez.tables.etable: regression tables of any results object, as text, HTML, Markdown, LaTeX and tidy CSV."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from sez import did, probit, tfp
from sez.limits import DEGENERATE_SE
from sez.results import Results
from sez.tables import etable, tidy_frame
from sez.testing import probit_data, production_panel, staggered_panel

TITLES = ["Probit", "TWFE", "Event study", "TFP"]


@pytest.fixture(scope="module")
def models():
    """A probit, a TWFE, an event study and a TFP result: four results with different index shapes."""
    panel = staggered_panel(n_firms=200, years=range(2000, 2008), seed=1)
    vcov = {"CRV1": "firm_id"}
    return [probit.probit(probit_data(n=600), "y", ["x1", "x2", "d"], fe=["ind"]),
            did.twfe(panel, "y", fe=("firm_id", "year"), vcov=vcov),
            did.event_study(panel, "y", window=(-2, 2), reference=-1, estimators=("twfe",), vcov=vcov),
            tfp.estimate(production_panel(n_firms=60), method="fe", by=None)]


class _Fixed(Results):
    """A results object with given estimates, standard errors and p-values (as an estimator may report)."""

    def __init__(self, params: dict, bse: dict, pvalues: dict):
        self.params, self.bse, self._p = pd.Series(params), pd.Series(bse), pd.Series(pvalues)
        self.nobs = 100

    @property
    def pvalues(self) -> pd.Series:
        return self._p


def test_models_are_columns_with_each_estimate_its_stars_and_standard_error(models):
    probit_res, twfe_res, es_res, tfp_res = models
    layout = etable(models, titles=TITLES).layout()
    assert list(layout.columns) == TITLES
    row = list(layout.index).index("sez")
    p = twfe_res.pvalues["sez"]
    stars = "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else ""
    assert layout.iloc[row]["TWFE"] == f"{twfe_res.params['sez']:.3f}{stars}"
    assert layout.iloc[row + 1]["TWFE"] == f"({twfe_res.bse['sez']:.3f})"
    assert layout.iloc[row]["Probit"] == ""  # a term a model does not have stays empty
    # multi-level terms: the event study's (estimator, event time), TFP's (group, term)
    assert layout.loc["twfe: 0", "Event study"].startswith(f"{es_res.params[('twfe', 0)]:.3f}")
    assert f"{tfp_res.params.iloc[0]:.3f}" in layout.loc[tfp_res.tidy().index.map(": ".join)[0], "TFP"]
    # the model rows, read where a result has them and empty where it does not
    assert list(layout.loc["Observations"]) == [f"{m.nobs:,}" for m in models]
    assert list(layout.loc["firm_id fixed effects"]) == ["No", "Yes", "", ""]
    assert list(layout.loc["ind fixed effects"]) == ["Yes", "No", "", ""]
    assert layout.loc["Pseudo R-squared", "Probit"] == f"{probit_res.pseudo_r2:.3f}"
    assert list(layout.loc["Pseudo R-squared"])[1:] == ["", "", ""]
    assert layout.loc["Clusters", "TWFE"] == layout.loc["Clusters", "Event study"] == "200"
    assert layout.loc["Standard errors", "Event study"] == "clustered by firm_id"
    assert layout.loc["Standard errors", "TWFE"] == "clustered by firm_id"
    # R-squared where a result has it (TWFE), empty elsewhere; a table without it has no such row
    assert list(layout.loc["R-squared"]) == ["", f"{twfe_res.r2:.3f}", "", ""]
    assert list(layout.loc["Within R-squared"]) == ["", f"{twfe_res.r2_within:.3f}", "", ""]
    assert "R-squared" not in etable([probit_res, tfp_res]).layout().index


def test_t_statistics_in_place_of_standard_errors(models):
    layout = etable(models[1], inner="t").layout()
    assert layout.iloc[1, 0] == f"({models[1].tvalues['sez']:.3f})"
    assert "t statistics in parentheses" in etable(models[1], inner="t").notes()
    assert f"({models[1].tvalues['sez']:.3f})" in str(etable(models[1], inner="t"))  # every rendering


def test_stars_configurable_and_never_on_a_degenerate_standard_error():
    # both terms report p = 0.001; the second's standard error is degenerate, so its p-value means nothing
    res = _Fixed({"a": 1.0, "b": 1.0}, {"a": 0.2, "b": DEGENERATE_SE / 10}, {"a": 0.001, "b": 0.001})
    assert list(etable(res).layout().iloc[[0, 2], 0]) == ["1.000***", "1.000"]
    assert etable(res, stars={0.05: "+", 0.001: "!"}).layout().iloc[0, 0] == "1.000+"
    no_stars = etable(res, stars=False)
    assert no_stars.layout().iloc[0, 0] == "1.000" and "p <" not in no_stars.notes()
    with pytest.raises(ValueError, match="stars must be"):
        etable(res, stars={5: "*"})


def test_keep_order_labels_and_titles(models):
    table = etable(models[:2], keep=["d", "x1"], labels={"x1": "First", "ind": "Industry"}, title="T")
    assert list(table.layout().index[:4]) == ["d", "", "First", ""]
    assert "Industry fixed effects" in table.layout().index
    assert list(etable(models[0], order=["d"]).layout().index[:3:2]) == ["d", "x1"]
    assert list(etable(models[0], keep="x2").layout().index[:2]) == ["x2", ""]  # one name, not its letters
    assert list(etable(models[:2]).layout().columns) == ["(1)", "(2)"]
    with pytest.raises(ValueError, match="'nope'"):
        etable(models[:2], keep=["nope"])
    with pytest.raises(ValueError, match="unique"):
        etable(models[:2], titles=["a", "a"])


def test_text_html_and_markdown_renderings(models):
    table = etable(models, titles=TITLES, labels={"sez": "SEZ & zone_1 | *"})
    text = table.summary()
    assert text.startswith("Regression results") and "SEZ & zone_1 | *" in text and "Observations" in text
    assert "SEZ &amp; zone_1 | *" in table.to_html() and "<table" in table.to_html()
    md = table.to_markdown()
    assert r"SEZ & zone\_1 \| \*" in md  # a | would split the cell, a * would turn into emphasis
    twfe_cell = table.layout().loc["SEZ & zone_1 | *", "TWFE"]
    assert twfe_cell.replace("*", r"\*") in md and twfe_cell.count("*") > 0
    assert md.splitlines()[2].count("|") == len(TITLES) + 2  # one column per model, and the labels


def test_tidy_csv_holds_the_results_numbers_exactly(models):
    table = etable(models, titles=TITLES)
    back = pd.read_csv(io.StringIO(table.to_csv()))
    numeric = ["estimate", "std_err", "statistic", "p_value", "conf_low", "conf_high", "nobs", "pseudo_r2",
               "n_clusters"]
    assert all(pd.api.types.is_float_dtype(back[c]) for c in numeric)
    for title, res in zip(TITLES, models):
        rows = back[back["model"] == title]
        assert len(rows) == len(res.params)
        np.testing.assert_array_equal(rows["estimate"].to_numpy(), res.params.to_numpy(dtype=float))
        np.testing.assert_array_equal(rows["std_err"].to_numpy(), res.bse.to_numpy(dtype=float))
        np.testing.assert_array_equal(rows["p_value"].to_numpy(), res.pvalues.to_numpy(dtype=float))
        assert (rows["nobs"] == res.nobs).all()
    twfe = back[back["model"] == "TWFE"].iloc[0]
    assert (twfe["term"], twfe["n_clusters"], twfe["fixed_effects"]) == ("sez", 200, "firm_id + year")
    assert back.loc[back["model"] == "Probit", "pseudo_r2"].eq(models[0].pseudo_r2).all()
    assert back.loc[back["model"] != "Probit", "pseudo_r2"].isna().all()


LATEX_DOCUMENT = "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n%s\n\\end{document}\n"


def _pdflatex(tmp_path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "table.tex").write_text(LATEX_DOCUMENT % body)
    return subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "table.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def _has_booktabs() -> bool:
    if shutil.which("pdflatex") is None or shutil.which("kpsewhich") is None:
        return False
    return bool(subprocess.run(["kpsewhich", "booktabs.sty"], capture_output=True, text=True).stdout.strip())


@pytest.mark.skipif(not _has_booktabs(), reason="no LaTeX engine (pdflatex) with booktabs; .ci/run installs Debian's "
                                                "texlive-latex-base and texlive-latex-recommended")
def test_latex_compiles_with_a_real_engine(models, tmp_path):
    labels = {"sez": "SEZ_status & 5% #1", "x1": "R&D_{share} ~ $x^2$", "firm_id": "firm_id"}
    table = etable(models, titles=["Probit_1", "TWFE & FE", "Event study #2", "TFP 100%"], labels=labels,
                   title="Table_1: 50% & more")
    latex = table.to_latex()
    assert r"SEZ\_status \& 5\% \#1" in latex and r"firm\_id fixed effects" in latex
    done = _pdflatex(tmp_path, latex)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "table.pdf").stat().st_size > 0
    # the engine is strict: the same name unescaped does not compile
    assert _pdflatex(tmp_path, r"\begin{tabular}{l} firm_id \\ \end{tabular}").returncode != 0


def test_tidy_frame_has_one_header_and_refuses_formatted_numbers():
    frame = pd.DataFrame({("m1", "coef"): [0.5], ("m1", "flag"): [True]}, index=pd.Index(["sez"], name="term"))
    out = tidy_frame(frame)
    assert list(out.columns) == ["term", "m1 coef", "m1 flag"] and out.loc[0, "m1 flag"] == 1
    with pytest.raises(TypeError, match=r"tables/t16\.csv: column 'm1' holds formatted numbers such as '0\.11\*\*'"):
        tidy_frame(pd.DataFrame({"m1": ["0.11**", "(0.05)"]}), "tables/t16.csv")
