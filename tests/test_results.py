"""One results protocol for every estimator (sez.results), one vcov spelling, one argument vocabulary.

Each estimator's results are checked against the protocol's definitions (a statistic is estimate over
standard error, an interval is estimate +- the t or normal quantile times the standard error), and the vcov
options against pyfixest run in the test.
"""

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sez import did, probit, tfp
from sez import stats as ks
from sez.results import TIDY_COLUMNS, Results, parse_vcov
from sez.testing import probit_data, production_panel, staggered_panel

PANEL = staggered_panel(n_firms=300, years=range(2000, 2009), seed=5)


def _smm_result():
    from sez import smm
    from sez.model import CollateralWarning, Grid, Params

    spec = smm.ModelSpec(grid=Grid(n_cash=40, n_capital=50, n_shocks=3, type_edges=(0.0, 0.5, 0.9, 1.0)),
                         n_firms=1500, years=4, burn_in=30, moments=("leverage_sez", "sez_share", "exit_rate_sez"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        truth = Params.paper(xbar_S=0.3, theta_S=0.7)
    data = smm.model_moments(truth, spec, seed=2)
    return smm.estimate(data, truth, ["xbar_S"], spec=spec, seed=2, global_points=0, local_starts=1)


RESULTS = {
    "twfe": lambda: did.twfe(PANEL, "y", controls="x"),
    "twfe hetero": lambda: did.twfe(PANEL, "y", vcov="hetero"),
    "imputation": lambda: did.imputation(PANEL, "y"),
    "event study": lambda: did.event_study(PANEL, "y", window=(-3, 3), reference=-3,
                                           estimators=("twfe", "imputation", "sun_abraham")),
    "callaway-santanna": lambda: did.callaway_santanna(PANEL, "y"),
    "callaway-santanna dynamic": lambda: did.callaway_santanna(PANEL, "y", control="not_yet").aggregate("dynamic"),
    "sun-abraham group": lambda: did.sun_abraham_aggregate(
        did.event_study(PANEL, "y", window=(-3, 3), reference=-1, estimators=("sun_abraham",)), "group"),
    "trend": lambda: did.trend_specification(PANEL, "y", form="linear")["imputation"],
    "mediation": lambda: did.mediation(PANEL.assign(m=PANEL.x + 0.2 * PANEL.sez), "y", "m"),
    "by group": lambda: did.by_group(PANEL, "y", PANEL.firm_id % 2),
    "triple difference": lambda: did.triple_difference(PANEL.assign(m=PANEL.firm_id % 2), "y", "m"),
    "probit": lambda: probit.probit(probit_data(), "y", ["x1", "x2", "d"], fe=["ind", "cty"]),
    "probit clustered": lambda: probit.probit(probit_data(), "y", ["x1", "x2"], fe="ind", vcov={"CRV1": "cty"}),
    "smm": _smm_result,
    "tfp fe": lambda: tfp.estimate(production_panel(), method="fe"),
    "tfp op": lambda: tfp.estimate(production_panel().assign(investment=lambda d: 0.2 * d.capital), method="op",
                                   by=None),
}


@pytest.fixture(scope="module", params=list(RESULTS))
def result(request):
    return RESULTS[request.param]()


def test_every_result_follows_the_protocol(result):
    assert isinstance(result, Results)
    params, bse = result.params, result.bse
    assert isinstance(params, pd.Series) and params.index.equals(bse.index) and len(params) > 0
    assert isinstance(result.nobs, int) and result.nobs > 0
    finite = np.isfinite(bse.to_numpy(dtype=float)) & (bse.to_numpy(dtype=float) > 0)
    # the statistic is the estimate over its standard error; the p-value its two-sided tail
    np.testing.assert_allclose(result.tvalues[finite], (params / bse)[finite], rtol=1e-12)
    df = result.df_inference
    tail = stats.norm.sf if df is None else (lambda z: stats.t.sf(z, df))
    np.testing.assert_allclose(result.pvalues[finite], 2 * tail(np.abs(params / bse)[finite]), rtol=1e-10)
    # intervals: estimate -+ quantile x s.e., at any level; wider at 99% than at 90%
    q = stats.norm.ppf(0.95) if df is None else stats.t.ppf(0.95, df)
    ci = result.conf_int(alpha=0.10)
    assert list(ci.columns) == ["conf_low", "conf_high"]
    np.testing.assert_allclose(ci["conf_low"][finite], (params - q * bse)[finite], rtol=1e-10)
    assert ((result.conf_int(0.01)["conf_high"] - result.conf_int(0.01)["conf_low"])[finite]
            > (ci["conf_high"] - ci["conf_low"])[finite]).all()
    # one tidy frame with the same columns everywhere; to_frame is the same frame
    tidy = result.tidy()
    assert tuple(tidy.columns) == TIDY_COLUMNS
    np.testing.assert_array_equal(tidy["estimate"].to_numpy(), params.to_numpy())
    pd.testing.assert_frame_equal(result.to_frame(), tidy)
    cov = result.cov_params()
    np.testing.assert_allclose(np.sqrt(np.diag(cov.to_numpy(dtype=float)))[finite], bse[finite], rtol=1e-10)
    # a summary that says its inference, a one-line repr, HTML for notebooks
    summary = result.summary()
    assert ("normal (z)" if df is None else "t with") in summary or "SMM" in summary
    assert "\n" not in repr(result) and len(repr(result)) < 200
    assert result._repr_html_().startswith("<")


def test_ks_result_keeps_stata_names_and_adds_scipys():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.3, size=400)
    ours, scipy_res = ks.ks_2samp(a, b, exact=False), stats.ks_2samp(a, b, method="asymp")
    assert ours.statistic == ours.d == pytest.approx(scipy_res.statistic, abs=1e-12)
    assert ours.pvalue == ours.p_value
    assert list(ours.tidy().columns[:2]) == ["statistic", "p_value"]
    assert "\n" not in repr(ours) and ours._repr_html_().startswith("<pre>")


# ---------------------------------------------------------------------------
# vcov in pyfixest's spelling, checked against pyfixest itself


@pytest.mark.parametrize("vcov", ["iid", "hetero", {"CRV1": "firm_id"}, {"CRV1": "firm_id+city"}])
def test_twfe_standard_errors_are_pyfixests(vcov):
    import pyfixest as pf

    data = PANEL.assign(d=PANEL.sez.astype(float))
    ours = did.twfe(data, "y", vcov=vcov)
    theirs = pf.feols("y ~ d | firm_id + year", data=data, vcov=vcov)
    assert ours.coef == pytest.approx(float(theirs.coef()["d"]), rel=1e-10)
    assert ours.se == pytest.approx(float(theirs.se()["d"]), rel=1e-8)
    assert ours.pvalues.iloc[0] == pytest.approx(float(theirs.pvalue()["d"]), rel=1e-6)


def test_imputation_hetero_is_each_firm_year_its_own_cluster():
    ours = did.imputation(PANEL, "y", vcov="hetero")
    by_row = did.imputation(PANEL.assign(row=np.arange(len(PANEL))), "y", vcov={"CRV1": "row"})
    assert ours.coef == by_row.coef and ours.se == pytest.approx(by_row.se, rel=1e-12)
    assert ours.df is None and ours.n_clusters is None  # normal inference without clusters
    assert did.imputation(PANEL, "y").se > ours.se  # firm clusters: serially correlated residuals count


def test_vcov_the_estimator_cannot_give_is_refused_by_name():
    with pytest.raises(ValueError, match="imputation: vcov 'iid' is not available"):
        did.imputation(PANEL, "y", vcov="iid")
    with pytest.raises(ValueError, match="imputation: clustering by 3 columns"):
        did.imputation(PANEL, "y", vcov={"CRV1": "firm_id+city+year"})
    with pytest.raises(ValueError, match="'robust' is now 'hetero'"):
        probit.probit(probit_data(), "y", ["x1"], vcov="robust")
    with pytest.raises(ValueError, match=r"'cluster' is now \{'CRV1': column\}"):
        probit.probit(probit_data(), "y", ["x1"], vcov={"cluster": "cty"})
    assert parse_vcov({"CRV1": "a + b"}, "f", max_clusters=2).cluster == ("a", "b")


# ---------------------------------------------------------------------------
# one argument vocabulary


def test_old_keywords_name_the_new_ones():
    with pytest.raises(TypeError, match="'cluster' is now 'vcov"):
        did.twfe(PANEL, "y", cluster="firm_id")
    with pytest.raises(TypeError, match="'firm' is now 'unit'"):
        did.imputation(PANEL, "y", firm="firm_id")
    with pytest.raises(TypeError, match="'firm' is now 'unit'"):
        probit.probit(probit_data(), "y", ["x1"], firm="firm_id")
    with pytest.raises(TypeError, match="unexpected keyword argument 'clustr'"):
        did.twfe(PANEL, "y", clustr="firm_id")
    res = did.twfe(PANEL, "y")
    with pytest.raises(AttributeError, match=r"DidResults.cluster is now .vcov"):
        res.cluster  # noqa: B018
    with pytest.raises(AttributeError, match=r"\.tvalues"):
        probit.probit(probit_data(), "y", ["x1"]).zvalues  # noqa: B018


def test_the_data_comes_first_and_is_called_data():
    from sez import agglo
    from sez.papers.sez_paper import facts

    # functions that take **options: Python's own error names the argument
    with pytest.raises(TypeError, match="required positional argument: 'data'"):
        did.twfe(outcome="y", panel=PANEL)
    with pytest.raises(TypeError, match="required positional argument: 'data'"):
        tfp.estimate(panel=production_panel(), method="ols")
    with pytest.raises(TypeError, match="'df' is now 'data'"):
        agglo.location_quotient(df=PANEL)
    with pytest.raises(TypeError, match="'panel' is now 'data'"):
        facts.zone_table(panel=PANEL)
    assert did.twfe(data=PANEL, outcome="y").coef == did.twfe(PANEL, "y").coef


def test_warnings_point_at_the_callers_line():
    """A warning about the user's data names the line that called the package, not a line inside it."""
    from sez import agglo
    from sez.errors import DroppedRowsWarning

    gaps = PANEL.assign(cic3="1", output=np.where(np.arange(len(PANEL)) < 5, np.nan, 1.0))
    with pytest.warns(DroppedRowsWarning) as caught:
        agglo.location_quotient(gaps)
    assert caught[0].filename == __file__


def test_a_string_is_one_column_never_its_letters():
    one = did.twfe(PANEL, "y", fe="firm_id", controls="x")
    listed = did.twfe(PANEL, "y", fe=["firm_id"], controls=["x"])
    pd.testing.assert_series_equal(one.params, listed.params)
    assert one.fixed_effects == ("firm_id",)
    assert list(one.params.index) == ["sez", "x"]
    by_string = probit.probit(probit_data(), "y", ["x1", "x2"], fe="ind")
    by_list = probit.probit(probit_data(), "y", ["x1", "x2"], fe=["ind"])
    pd.testing.assert_series_equal(by_string.params, by_list.params)


def test_unit_names_the_firm_column():
    renamed = PANEL.rename(columns={"firm_id": "plant"})
    ours = did.imputation(renamed, "y", fe=("plant", "year"), unit="plant")
    assert ours.coef == pytest.approx(did.imputation(PANEL, "y").coef, rel=1e-12)
    assert ours.vcov == {"CRV1": "plant"}  # clustered by the unit by default


def test_layout_tables_escape_every_latex_cell():
    """The papers' layout tables as LaTeX: column names such as firm_id and the notes' characters are escaped
    (an unescaped _ or % stops LaTeX); the escaping itself is checked on LaTeX's ten special characters."""
    from sez.papers import sez_paper
    from sez.tables import latex_escape
    from sez.testing import controls_panel

    assert latex_escape("a_b & 5% #1 $x$ {y} ~ ^ \\") == (r"a\_b \& 5\% \#1 \$x\$ \{y\} \textasciitilde{} \^{} "
                                                          r"\textbackslash{}")
    tab = sez_paper.table16(controls_panel(n_firms=200), outcome="y", specifications=["m1"], region="city")
    tex = tab.to_latex()
    assert "firm\\_id" in tex and "firm_id" not in tex.replace("firm\\_id", "")
    body = tex.split("\n", 1)[1]  # the first line is a % comment with the title
    assert not re.search(r"(?<!\\)[_%#]", body), "an unescaped special character"


def test_one_cluster_is_refused_by_every_clustered_estimator():
    one = PANEL.assign(region="all")
    for estimate in (did.twfe, did.imputation):
        with pytest.raises(did.DidDataError, match="at least 2 clusters; 'region' has 1"):
            estimate(one, "y", vcov={"CRV1": "region"})
    with pytest.raises(did.DidDataError, match="at least 2 clusters"):
        did.event_study(one, "y", window=(-3, 3), reference=-3, vcov={"CRV1": "region"})


def test_a_degenerate_standard_error_gets_no_statistic_and_no_stars():
    from sez.results import significance_stars

    res = did.twfe(PANEL, "y")
    rounding = dataclasses.replace(res, params=pd.Series([0.5], index=["sez"]), bse=pd.Series([1e-15], index=["sez"]))
    assert np.isnan(rounding.tvalues["sez"]) and np.isnan(rounding.pvalues["sez"])
    assert significance_stars(rounding.pvalues["sez"]) == ""
    small = dataclasses.replace(rounding, bse=pd.Series([1e-6], index=["sez"]))  # small, but sampling variation
    assert small.pvalues["sez"] < 0.01 and significance_stars(small.pvalues["sez"]) == "***"


def test_thread_counts_are_whole_numbers_and_warn_beyond_the_cores():
    from sez.model import Grid, Params, solve
    from sez.parallel import available_cores, thread_count

    for bad in (2.5, "2", True):
        with pytest.raises(TypeError, match="a whole number of threads"):
            thread_count(bad, "solve")
    for bad in (0, -1):
        with pytest.raises(ValueError, match="must be >= 1"):
            thread_count(bad, "solve")
    assert thread_count(None, "solve") == 0 and thread_count(np.int64(1), "solve") == 1
    with pytest.warns(UserWarning, match=f"exceeds the {available_cores()} core"):
        thread_count(available_cores() + 1, "solve")
    grid = Grid(n_cash=20, n_capital=24, n_shocks=3, type_edges=(0.0, 0.5, 1.0))
    with pytest.raises(TypeError, match="solve: threads = 2.5"):
        solve(Params.paper(), grid, threads=2.5)
