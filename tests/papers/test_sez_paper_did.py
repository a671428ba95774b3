"""Tests of the SEZ paper's DiD tables (sez.papers.sez_paper): Tables 16-21 and 28-32 on panels with known effects.

Tolerances as in tests/did: algebraic identities to 1e-8, estimates within four reported standard errors of
the known truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from sez import did
from sez.papers import sez_paper
from sez.testing import controls_panel, quintile_effect_panel, staggered_panel


def test_paper_controls_follow_their_definitions():
    df = pd.DataFrame({"firm_id": [1, 1, 1, 2], "year": [2000, 2001, 2003, 2001],
                       "total_assets": [100., 300, 50, 10], "profit": [5., 20, -1, 2], "age": [0, 1, 3, 5],
                       "ownership": ["state", "state", "private", "HMT"],
                       "debt": [50., 30, 5, 1]})
    out, unavailable = sez_paper.paper_controls(df, ["ln_roa", "ln_age", "state_owned", "ln_debt_ratio", "ln_sales"])
    # ROA over the mean of this and the previous calendar year's assets of the same firm; 2003 has no 2002
    np.testing.assert_allclose(out.ln_roa, [np.nan, np.log(20 / 200), np.nan, np.nan])
    np.testing.assert_allclose(out.ln_age, [np.nan, 0.0, np.log(3), np.log(5)])
    assert out.state_owned.tolist() == [1, 1, 0, 0]
    np.testing.assert_allclose(out.ln_debt_ratio, np.log(df.debt / df.total_assets))
    assert "ln_sales" not in out and "'sales'" in unavailable["ln_sales"]


def test_table16_runs_every_spec_and_agrees_with_explicit_dummies():
    df = controls_panel(n_firms=300)
    tab = sez_paper.table16(df, outcome="y", region="city")
    assert tab.skipped == {}
    est = tab.estimates
    assert sorted(est.spec.unique(), key=lambda s: int(s[1:])) == [f"m{k}" for k in range(1, 13)]
    sez = est.loc[est.term == "sez"]
    assert set(sez.estimator) == {"twfe", "imputation"} and len(sez) == 24
    # the known effect (0.1) and the known slope on ln(capital/output) (0.5) are recovered in every column
    assert (np.abs(sez.coef - 0.1) < 4 * sez.se).all(), sez
    ky = est.loc[(est.term == "ln_ky") & (est.estimator == "twfe")]
    assert len(ky) == 8 and (np.abs(ky.coef - 0.5) < 4 * ky.se).all()
    # m8 (firm and city-by-year effects, six controls) against statsmodels with explicit dummies
    data, _ = sez_paper.paper_controls(df, sez_paper.SPECIFICATIONS["m8"].controls)
    cols = list(sez_paper.SPECIFICATIONS["m8"].controls)
    data = data.dropna(subset=cols)
    res = did.twfe(data, "y", fe=sez_paper.SPECIFICATIONS["m8"].fixed_effects(region="city"), controls=cols)
    data = data.loc[data.groupby("firm_id").year.transform("size") > 1]  # TWFE drops singleton firms
    data = data.assign(d=data.sez.astype(float), cy=data.city + "_" + data.year.astype(str))
    data = data.loc[data.groupby("cy").year.transform("size") > 1]
    ols = smf.ols("y ~ d + " + " + ".join(cols) + " + C(firm_id) + C(cy)", data=data).fit()
    row = est.loc[(est.spec == "m8") & (est.estimator == "twfe")].set_index("term")
    assert row.loc["sez", "coef"] == pytest.approx(res.coef, abs=1e-10)
    assert row.loc["sez", "coef"] == pytest.approx(ols.params["d"], abs=1e-6)
    assert row.loc["ln_roa", "coef"] == pytest.approx(ols.params["ln_roa"], abs=1e-6)
    # the paper's numbers sit beside ours, in the paper's layout
    layout = tab.layout()
    assert layout.loc["SEZ", ("m1", "paper")] == "0.909***"
    assert layout.loc["Region x year FE", ("m7", "TWFE")] == "yes" and layout.loc["Year FE", ("m7", "TWFE")] == ""
    frame = tab.to_frame()
    assert frame.loc[(frame.spec == "m12") & (frame.term == "ln_output"), "paper_t"].iloc[0] == 18.48
    assert "\\multicolumn{3}{c}{m12}" in tab.to_latex() and "<table" in tab.to_html()
    assert tab.to_csv().splitlines()[0].startswith(",m1,m1,m1")


def test_table16_skips_specs_whose_controls_are_missing_and_names_columns():
    df = controls_panel(n_firms=200).drop(columns=["debt", "eg_city"])
    tab = sez_paper.table16(df, outcome="y", estimators=("twfe",))
    assert set(tab.skipped) == {f"m{k}" for k in (2, 3, 4, 5, 6, 8, 9, 10, 11, 12)}
    assert "'debt'" in tab.skipped["m2"] and "'eg_city'" in tab.skipped["m4"]
    assert set(tab.estimates.spec) == {"m1", "m7"}
    assert "m4 skipped" in tab.summary() and "skipped" in tab.layout().loc["SEZ", ("m4", "TWFE")]
    assert tab.layout().loc["SEZ", ("m4", "paper")].startswith("0.9")  # the paper's number beside a skipped spec
    with pytest.raises(KeyError, match="'province'"):
        sez_paper.table16(df, outcome="y", region="province")
    with pytest.raises(KeyError, match="m13"):
        sez_paper.table16(df, outcome="y", specifications=["m13"])


def test_table18_paper_form_splits_entry_year_and_after():
    df = staggered_panel(n_firms=1500, seed=32, effect=lambda e, c: np.where(e == 0, 0.1, 0.3))
    df["city"] = (df.firm_id % 4).astype(str)
    tab = sez_paper.table18(df, outcome="y", specifications=["m1", "m7"])
    est = tab.estimates.set_index(["spec", "estimator", "term"])
    for spec in ("m1", "m7"):
        for estimator in ("twfe", "imputation"):
            for term, truth in (("current", 0.1), ("post_sez", 0.3)):
                r = est.loc[(spec, estimator, term)]
                assert abs(r.coef - truth) < 4 * r.se
    assert tab.layout().loc["PostSEZ", ("m1", "paper")] == "0.915***"


def test_table17_is_the_event_study_per_spec():
    df = staggered_panel(n_firms=800, seed=33, effect=lambda e, c: 0.05 * (e + 1))
    df["city"] = (df.firm_id % 4).astype(str)
    tab = sez_paper.table17(df, outcome="y", specifications=["m7"])
    es = did.event_study(df, "y", window=(-5, 9), reference=-5, fe=("firm_id", "city^year"), on_reversal="drop")
    est = tab.estimates.set_index(["estimator", "term"])
    assert est.loc[("twfe", "current"), "coef"] == pytest.approx(es.table.loc[0, "twfe_coef"], abs=1e-12)
    assert est.loc[("imputation", "post3"), "se"] == pytest.approx(es.table.loc[3, "imputation_se"], rel=1e-9)
    layout = tab.layout(inner="t")
    assert list(layout.index[:2]) == ["pre4", ""] and layout.loc["current", ("m7", "paper")] == "0.975***"
    assert layout.iloc[1][("m7", "paper")] == "(7.02)"


def test_mediation_tables_in_the_paper_layouts():
    rng = np.random.default_rng(34)
    df = staggered_panel(n_firms=1000, seed=34)
    df["eg"] = 0.3 * df.sez + rng.normal(scale=0.5, size=len(df))
    df["y"] = df.y + 0.2 * df.eg
    med = did.mediation(df, "y", "eg", fe=())
    single = sez_paper.mediation_table(med, paper=21)
    assert single.loc["a coefficient (SEZ -> mediator)", "Coef"] == pytest.approx(med.a)
    assert single.loc["Indirect effect", "Std Err"] == pytest.approx(med.tests.loc["Sobel", "std_err"])
    assert single.loc["Total effect", "Coef"] == pytest.approx(med.c)
    assert single.loc["Proportion of total effect that is mediated", "Coef"] == pytest.approx(med.proportion_mediated)
    assert single.loc["b coefficient (mediator -> outcome)", "paper Table 21 Coef"] == 19.24
    groups = did.mediation_by_group(df, "y", "eg", df.firm_id % 5, fe=("firm_id", "year"))
    wide = sez_paper.mediation_table(groups, paper=30)
    assert list(wide.columns[:5]) == ["0", "1", "2", "3", "4"] and wide.shape[1] == 10
    assert wide.loc["Sobel", "paper Table 30: Bottom 20%"] == "0.0036***"
    z = groups[0].a / groups[0].se_a
    assert wide.iloc[list(wide.index).index("a coefficient (SEZ -> mediator)") + 1]["0"] == f"({z:.2f})"
    with pytest.raises(did.DidDataError, match="group 0: .*no untreated"):
        did.mediation_by_group(df.assign(g=np.where(df.sez, 0, 9)), "y", "eg", "g")
    recorded = did.mediation_by_group(df.assign(g=np.where(df.sez, 0, 9)), "y", "eg", "g", on_error="record")
    assert "skipped" in sez_paper.mediation_table(recorded).loc["Sobel", "0"]


def test_eg_mediator_maps_the_city_index_onto_firms():
    from sez import agglo

    rng = np.random.default_rng(35)
    n = 600
    df = pd.DataFrame({"firm_id": np.arange(n), "year": 2005, "city": rng.choice(["a", "b"], n),
                       "cic3": rng.choice(["101", "102", "103"], n), "employees": rng.lognormal(3, 1, n)})
    df["county"] = df.city + rng.choice(["1", "2", "3", "4"], n)
    level = sez_paper.eg_mediator(df)
    table = agglo.ellison_glaeser_within_city(df)
    for _, cell in table.iterrows():
        rows = (df.city == cell.city) & (df.cic3 == cell.cic3)
        np.testing.assert_allclose(level[rows], cell.gamma)
    logged = sez_paper.eg_mediator(df, log=True)
    positive = level > 0
    np.testing.assert_allclose(logged[positive], np.log(level[positive]))
    assert logged[~positive].isna().all() and logged.attrs["not_positive"] == int((level <= 0).sum())


def test_table19_layout_recovers_quintile_effects_and_names_missing_columns():
    df, entry, base, _ = quintile_effect_panel(seed=3, n_firms=2000)
    df["city"] = (df.firm_id % 4).astype(str)
    treated_firms = np.flatnonzero(entry < 9999)
    quintile = pd.Series(pd.qcut(base[treated_firms], 5, labels=False) + 1, index=treated_firms)
    df["y"] = df["y"] + df["sez"] * 0.05 * df.firm_id.map(quintile).fillna(0).to_numpy()
    t19 = sez_paper.table19(df, "y", variable="level", periods=(1, 5))
    est = t19.estimates.set_index(["panel", "column", "estimator", "term"])
    for j, column in enumerate(sez_paper.QUINTILE_COLUMNS):
        for name in ("twfe", "imputation"):
            r = est.loc[("Pre1", column, name, "sez")]
            # every treated firm is observed a year before entry, so Pre1 quintiles are the quintiles of level
            assert abs(r.coef - 0.05 * (j + 1)) < 4 * r.se, (column, name)
    # reghdfe's constant: mean of y - b D on the estimation sample (no singletons in a balanced panel)
    q1 = did.pre_period_quintile(df, "level", basis="pre1")
    sub = df.loc[(q1 == 1).fillna(False).to_numpy(dtype=bool)]
    r = est.loc[("Pre1", "20%", "twfe", "sez")]
    assert r.constant == pytest.approx(sub.y.mean() - r.coef * sub.sez.mean(), abs=1e-8)
    assert r.nobs == len(sub)
    # Pre5: only the 2005-2006 cohorts are seen five years before entry; the 2004 cohort is counted
    assert t19.counts["Pre5"]["no observation 5 years before entry"] == int((entry == 2004).sum())
    layout = t19.layout(inner="t")
    assert list(dict.fromkeys(layout.columns.get_level_values(0))) == list(sez_paper.QUINTILE_COLUMNS)
    assert layout.shape[1] == 15 and set(layout.columns.get_level_values(1)) == {"TWFE", "imputation", "paper"}
    labels = list(layout.index)
    assert labels[0] == "Pre1" and "Pre5" in labels and labels[-6:] == [
        "Firm FE", "Year FE", "Region FE", "Region x year FE", "Controls", "Standard errors"]
    assert layout.iloc[1][("20%", "paper")] == "1.415***" and layout.iloc[2][("20%", "paper")] == "(108.03)"
    pre5 = labels.index("Pre5")
    assert layout.iloc[pre5 + 1][("100%", "paper")] == "0.779***"
    assert layout.iloc[pre5 + 5][("40%", "paper")] == "19,090"  # Observations
    assert layout.loc["Firm FE", ("60%", "TWFE")] == "yes" and layout.loc["Controls", ("60%", "TWFE")] == ""
    se_layout = t19.layout(inner="se")
    assert se_layout.iloc[2][("20%", "paper")] == f"({1.415 / 108.03:.4g})"
    assert "Table 19" in t19.to_html() and "Table 19" in t19.to_latex() and "Pre5" in t19.to_csv()
    with pytest.raises(KeyError, match="total_assets"):
        sez_paper.table20(df, "y", variable="level", periods=(1,))


def _moderation_panel(seed, effect):
    """Staggered panel with a city-industry EG index varying by firm-year and an effect ``effect(ln EG, high)``."""
    df = staggered_panel(n_firms=1500, never_share=0.3, seed=seed)
    rng = np.random.default_rng(seed)
    df["eg_city"] = np.exp(rng.normal(-4, 1, len(df)))
    ln_eg = np.log(df.eg_city.to_numpy())
    high = (df.eg_city > df.eg_city.median()).to_numpy(dtype=float)
    df["y"] = df.y - df.tau + df.sez * effect(ln_eg, high)
    df["level"] = df.firm_id.map(pd.Series(rng.normal(size=df.firm_id.nunique())))
    return df


def test_table32_recovers_a_continuous_moderated_effect():
    df = _moderation_panel(40, lambda ln_eg, high: 0.5 + 0.05 * ln_eg)
    t32 = sez_paper.table32(df, "y")
    est = t32.estimates.set_index(["estimator", "term"])
    for name in ("twfe", "imputation"):
        # truth 0.5 at lnEG = 0 and 0.05 per unit of lnEG; tolerance 4 reported s.e.
        assert abs(est.loc[(name, "sez"), "coef"] - 0.5) < 4 * est.loc[(name, "sez"), "se"]
        assert abs(est.loc[(name, "sez_x_m"), "coef"] - 0.05) < 4 * est.loc[(name, "sez_x_m"), "se"]
    # the default Post equals the absorbing treatment, so Post x lnEG is the same column as SEZ x lnEG
    assert bool(est.loc[("twfe", "post_x_m"), "omitted"])
    assert abs(est.loc[("twfe", "treat_x_m"), "coef"]) < 4 * est.loc[("twfe", "treat_x_m"), "se"]
    layout = t32.layout()
    assert list(layout.index[:8]) == ["SEZ", "", "SEZ x lnEG", "", "Treat x lnEG", "", "Post x lnEG", ""]
    assert layout.loc["SEZ", ("m1", "paper")] == "0.971***" and layout.iloc[7][("m1", "TWFE")] == "(.)"
    assert layout.loc["Observations", ("m1", "paper")] == "2,294,206"
    assert layout.loc["Region FE", ("m1", "TWFE")] == "yes" and layout.loc["Region x year FE", ("m1", "TWFE")] == ""
    assert "cannot" not in t32.notes() and "projected on (1, M)" in t32.notes()
    with pytest.raises(KeyError, match="eg_city"):
        sez_paper.table32(df.drop(columns="eg_city"), "y")


def test_table31_recovers_a_binary_moderated_effect_by_quintile():
    df = _moderation_panel(41, lambda ln_eg, high: 0.1 + 0.2 * high)
    # quintiles of a firm-level variable without transitory noise (classifying on the outcome's own value a
    # year before entry would add regression to the mean, see the docs)
    group = did.pre_period_quintile(df, "level", basis="pre1")
    t31 = sez_paper.table31(df, "y", group=group)
    assert t31.columns == sez_paper.QUINTILE_COLUMNS and not t31.skipped
    est = t31.estimates.set_index(["column", "estimator", "term"])
    for column in t31.columns:
        for name in ("twfe", "imputation"):
            for term, truth in (("sez", 0.1), ("sez_x_m", 0.2)):
                r = est.loc[(column, name, term)]
                assert abs(r.coef - truth) < 4 * r.se, (column, name, term)
    layout = t31.layout(inner="t")
    assert layout.index[0] == "Pre1" and layout.index[1] == "SEZ x High_EG"
    assert layout.iloc[1][("20%", "paper")] == "0.0557***" and layout.iloc[2][("20%", "paper")] == "(2.61)"
    time_ag = list(layout.index).index("time_ag (Post x High_EG)")
    assert (layout.iloc[time_ag][[(c, s) for c in t31.columns for s in ("TWFE", "paper")]] == "0").all()
    with pytest.raises(KeyError, match="'hq'"):
        sez_paper.table31(df, "y", group="hq")


@pytest.mark.parametrize("table", [16, 17])
def test_specification_where_one_estimator_fails_keeps_the_other_column(monkeypatch, table):
    df = controls_panel(n_firms=200)
    expected = sez_paper.specification_table(df, table, outcome="y", specifications=["m1", "m7"], region="city")

    def failing(real):
        def wrapped(data, outcome, **kwargs):
            if "city^year" in kwargs["fe"] and "imputation" in kwargs.get("estimators", ("imputation",)):
                raise did.DidDataError("forced failure of the imputation estimator")
            return real(data, outcome, **kwargs)
        return wrapped

    target = "imputation" if table == 16 else "event_study"
    from sez.papers.sez_paper import did as paper_did

    monkeypatch.setattr(paper_did, target, failing(getattr(paper_did, target)))
    tab = sez_paper.specification_table(df, table, outcome="y", specifications=["m1", "m7"], region="city")
    assert tab.skipped == {} and list(tab.failed) == [("m7", "imputation")]
    est = tab.estimates
    assert set(est.loc[est.spec == "m7", "estimator"]) == {"twfe"}
    assert set(est.loc[est.spec == "m1", "estimator"]) == {"twfe", "imputation"}
    # the standing columns are those of the unhindered run
    pd.testing.assert_frame_equal(est.reset_index(drop=True),
                                  expected.estimates.loc[~((expected.estimates.spec == "m7")
                                                           & (expected.estimates.estimator == "imputation"))]
                                  .reset_index(drop=True))
    layout = tab.layout()
    assert layout.iloc[0][("m7", "imputation")] == "failed (see notes)"
    assert layout.iloc[0][("m7", "TWFE")] not in ("", "skipped", "failed (see notes)")
    assert "m7, imputation: failed (forced failure" in tab.notes()


def _errorbars(ax) -> dict:
    """``{legend label: (x, y, half-widths of the horizontal bars)}`` of each errorbar series on ``ax``."""
    out = {}
    for c in ax.containers:
        segments = c.lines[2][0].get_segments()
        out[c.get_label()] = (np.asarray(c.lines[0].get_xdata(), dtype=float),
                              np.asarray(c.lines[0].get_ydata(), dtype=float),
                              np.array([(s[1][0] - s[0][0]) / 2 for s in segments]))
    return out


def test_coefficient_plot_draws_our_intervals_beside_the_papers_printed_estimates():
    from scipy import stats

    tab = sez_paper.table16(controls_panel(n_firms=300), outcome="y", region="city", specifications=["m1", "m7"])
    ax = sez_paper.coefficient_plot(tab).axes[0]
    frame = tab.to_frame().query("term == 'sez'").set_index(["estimator", "spec"])
    series = _errorbars(ax)
    assert list(series) == ["Ours: TWFE", "Ours: imputation (Borusyak, Jaravel and Spiess 2024)",
                            "The paper's printed estimate"]
    for label, estimator in zip(list(series)[:2], ("twfe", "imputation")):
        x, _, half = series[label]
        ours = frame.loc[estimator].loc[["m1", "m7"]]
        np.testing.assert_allclose(x, ours.coef)
        np.testing.assert_allclose(half, stats.t.ppf(0.975, ours.n_clusters - 1) * ours.se)
    x, y, half = series["The paper's printed estimate"]
    np.testing.assert_allclose(x, [0.909, 0.922])  # Table 16, SEZ row, m1 and m7 as printed
    np.testing.assert_allclose(half, 1.959964 * frame.loc["twfe"].loc[["m1", "m7"]].paper_se, rtol=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["m1: firm + year + region FE, no controls",
                                                            "m7: firm + region x year FE, no controls"]
    assert ax.get_title() == "SEZ"


def test_coefficient_plot_of_a_quintile_table_leaves_out_omitted_cells():
    from sez.papers.sez_paper.heterogeneity import GroupedTable

    estimates = pd.DataFrame({"panel": "Pre1", "column": ["20%", "20%", "40%", "40%"],
                              "estimator": ["twfe", "imputation"] * 2, "term": "sez",
                              "coef": [0.1, 0.2, 0.0, 0.4], "se": [0.05, 0.05, np.nan, 0.1],
                              "p_value": 0.05, "omitted": [False, False, True, False], "nobs": 100,
                              "n_clusters": 11, "r2": np.nan, "constant": np.nan})
    paper = pd.DataFrame({"panel": "Pre1", "column": ["20%", "40%"], "term": "sez", "coef": [1.415, 1.035],
                          "t": [108.0, np.nan], "se": [1.415 / 108.0, np.nan], "omitted": False})
    tab = GroupedTable(19, "ln_tfp", ("Pre1",), ("20%", "40%"), ("sez",), estimates, paper, pd.DataFrame(),
                       ("firm", "year"), "CRV1 by city")
    ax = sez_paper.coefficient_plot(tab).axes[0]
    series = _errorbars(ax)
    np.testing.assert_allclose(series["Ours: TWFE"][0], [0.1])  # the omitted 40% TWFE cell is not drawn
    np.testing.assert_allclose(series["Ours: imputation (Borusyak, Jaravel and Spiess 2024)"][0], [0.2, 0.4])
    x, _, half = series["The paper's printed estimate"]
    np.testing.assert_allclose(x, [1.415, 1.035])
    np.testing.assert_allclose(half, [1.959964 * 1.415 / 108.0, 0.0], rtol=1e-6)  # no printed t: no bar
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Pre1, 20%", "Pre1, 40%"]
    with pytest.raises(ValueError, match="Table 17 has no coefficient plot"):
        sez_paper.coefficient_plot(GroupedTable(17, "ln_tfp", ("",), ("m1",), ("sez",), estimates, paper,
                                                    pd.DataFrame(), (), ""))
