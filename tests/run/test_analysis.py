"""The [analysis] section: a researcher's own specifications run by `sez run` equal the estimators called directly."""

import numpy as np
import pandas as pd
import pytest

from sez import did, probit, run
from sez.errors import ConfigError
from sez.run import pipeline_config
from sez.run.context import SEZ_EFFECT_TOLERANCE_SE

SPECS = {
    "after_2003": {"estimator": "twfe", "formula": "ln_tfp ~ sez | firm_id + year", "vcov": {"CRV1": "city"},
                   "sample": "year >= 2003", "title": "SEZ effect on log TFP, 2003 onwards"},
    "exporters": {"estimator": "probit", "formula": "exporter ~ ln_tfp | year", "vcov": "hetero"},
    "imputed": {"estimator": "imputation", "formula": "ln_tfp ~ sez | firm_id + year"},
    "dynamics": {"estimator": "event_study", "formula": "ln_tfp ~ sez | firm_id + year", "window": [-3, 3],
                 "reference": -1, "estimators": ["twfe", "callaway_santanna"]},
    "cs": {"estimator": "callaway_santanna", "outcome": "ln_tfp", "control": "not_yet"},
    "broken": {"estimator": "twfe", "formula": "ln_tfp ~ sez | no_such_column"},
}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis")
    base = run.demo_config("tiny", out_dir=out, steps=["analysis"])
    cfg = pipeline_config({**base.settings, "analysis": SPECS}, base=base.base)
    summary = run.run_pipeline(cfg, progress=False)
    return out, summary, pd.read_parquet(out / "analysis_panel.parquet")


def _same(ours: dict, result) -> None:
    np.testing.assert_allclose([ours["params"][str(k)] for k in result.params.index], result.params, rtol=1e-9)
    np.testing.assert_allclose([ours["bse"][str(k)] for k in result.bse.index], result.bse, rtol=1e-9)


def test_each_specification_equals_the_estimator_called_directly(analysed):
    out, summary, data = analysed
    assert summary["steps"]["analysis"]["status"] == "ok"
    ours = summary["analysis"]
    _same(ours["after_2003"], did.twfe(data.query("year >= 2003"), "ln_tfp ~ sez | firm_id + year",
                                       vcov={"CRV1": "city"}))
    assert ours["after_2003"]["rows"] == int((data.year >= 2003).sum())
    _same(ours["exporters"], probit.probit(data, "exporter ~ ln_tfp | year", vcov="hetero"))
    _same(ours["imputed"], did.imputation(data, "ln_tfp ~ sez | firm_id + year", on_reversal="drop"))
    _same(ours["cs"], did.callaway_santanna(data, "ln_tfp", control="not_yet", on_reversal="drop")
          .aggregate("simple"))
    for name in ("after_2003", "exporters", "imputed", "dynamics", "cs"):
        assert (out / "tables" / f"analysis_{name}.csv").is_file()
        assert (out / "tables" / "tidy" / f"analysis_{name}.csv").is_file()
    assert (out / "figures" / "analysis_dynamics.png").is_file()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "SEZ effect on log TFP, 2003 onwards" in page and "Your specifications ([analysis])" in page


def test_a_specification_other_than_the_papers_recovers_the_synthetic_truth(analysed):
    _, summary, data = analysed
    truth = 0.10  # the generator's SEZ effect on log TFP (sez.data.synthetic.process.TAU_SEZ)
    estimate, se = (summary["analysis"]["after_2003"][k]["sez"] for k in ("params", "bse"))
    assert abs(estimate - truth) < SEZ_EFFECT_TOLERANCE_SE * se


def test_a_failing_specification_is_named_and_the_others_stay(analysed):
    _, summary, _ = analysed
    assert "no_such_column" in summary["analysis"]["broken"]["error"]
    assert any("[analysis.broken] failed" in w for w in summary["steps"]["analysis"]["warnings"])
    assert all("error" not in summary["analysis"][n] for n in SPECS if n != "broken")


def test_without_analysis_the_step_does_not_run(tmp_path):
    base = run.demo_config("tiny", out_dir=tmp_path, steps=["synthetic"])
    assert "analysis" not in run.run_pipeline(base, progress=False)["steps"]


@pytest.mark.parametrize("spec, message", [
    ({"estimator": "ols", "formula": "y ~ x"}, r"\[analysis.s\] estimator must be one of"),
    ({"estimator": "twfe", "formula": "y ~ x", "window": [-2, 2]}, r"key\(s\) \['window'\] that twfe does not take"),
    ({"estimator": "twfe"}, r"\[analysis.s\] needs formula = "),
    ({"estimator": "callaway_santanna"}, r"\[analysis.s\] needs outcome = "),
    ({"estimator": "twfe", "formula": "y ~ x", "sample": 3}, r"sample must be a non-empty string"),
    ({"estimator": "event_study", "formula": "y ~ d", "window": [-2.5, 2]}, r"window must be \[first, last\]"),
    ({"estimator": "twfe", "formula": "y ~ x", "vcov": ["CRV1"]}, r"vcov must be"),
])
def test_bad_specifications_are_refused_when_the_configuration_is_read(spec, message):
    with pytest.raises(ConfigError, match=message):
        pipeline_config({"analysis": {"s": spec}})


def test_a_sample_condition_cannot_call_code():
    from sez.run.steps.analysis import sample_of

    data = pd.DataFrame({"year": [1999, 2001], "x": [1.0, 2.0]})
    assert sample_of(data, "year >= 2000", "s")["x"].tolist() == [2.0]
    for condition in ("@pd.DataFrame()", "__import__('os').getcwd() == ''", "year >= "):
        with pytest.raises(ValueError, match=r"\[analysis.s\] sample = .* cannot be read"):
            sample_of(data, condition, "s")
