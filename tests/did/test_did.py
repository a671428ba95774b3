"""Tests of sez.did: TWFE against explicit-dummy OLS, the imputation estimator, event studies, mediation.

Tolerances: exact algebraic identities (the same least-squares problem solved two
ways) are checked to 1e-8; estimates from simulated data are checked against the
known truth within four reported standard errors (a false failure rate below
1e-4 for a correct estimator, with fixed seeds making each test deterministic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from sez import did
from sez.testing import quintile_effect_panel, staggered_panel, unbalanced_panel

# ---------------------------------------------------------------------------
# TWFE against OLS with explicit dummies


def test_twfe_matches_explicit_dummy_ols():
    df = unbalanced_panel()
    df["d"] = df.sez.astype(float)
    res = did.twfe(df, "y", fe=("firm_id", "year"), controls=["x"])
    ols = smf.ols("y ~ d + x + C(firm_id) + C(year)", data=df).fit(
        cov_type="cluster", cov_kwds={"groups": df.firm_id.to_numpy()})
    assert res.nobs == len(df) and res.counts["singleton observations"] == 0
    assert res.coef == pytest.approx(ols.params["d"], abs=1e-8)
    assert res.params["x"] == pytest.approx(ols.params["x"], abs=1e-8)
    # statsmodels counts every dummy (and the constant) in K; the absorbed-FE convention counts the slopes
    # and every level of the year effect, and drops the firm effects as nested in the firm clusters
    n = len(df)
    k_dummies = len(ols.params)
    k_absorbed = 2 + df.year.nunique()
    factor = np.sqrt((n - k_dummies) / (n - k_absorbed))
    assert res.se == pytest.approx(ols.bse["d"] * factor, rel=1e-8)
    assert res.bse["x"] == pytest.approx(ols.bse["x"] * factor, rel=1e-8)


def test_twfe_counts_singletons():
    df = unbalanced_panel()
    extra = pd.DataFrame({"firm_id": [10_001], "year": [2003], "sez": [False], "y": [0.3], "tau": [0.0],
                          "city": ["0"], "x": [0.1]})
    res = did.twfe(pd.concat([df, extra], ignore_index=True), "y")
    assert res.counts["singleton observations"] == 1
    assert res.nobs == len(df)
    assert "singleton" in res.summary()


# ---------------------------------------------------------------------------
# the imputation estimator


def test_imputation_matches_brute_force_ols_on_untreated():
    df = unbalanced_panel(seed=3)
    untreated = df.loc[~df.sez]
    ols = smf.ols("y ~ C(firm_id) + C(year)", data=untreated).fit()
    treated = df.loc[df.sez & df.firm_id.isin(untreated.firm_id)]
    tau = treated.y - ols.predict(treated)
    res = did.imputation(df, "y")
    assert res.coef == pytest.approx(tau.mean(), abs=1e-8)
    # analytic variance: v = w on treated, -Z0 (Z0'Z0)^+ Z1'w on untreated, computed densely here
    z = pd.get_dummies(df[["firm_id", "year"]].astype(str)).to_numpy(dtype=float)
    treat = df.sez.to_numpy()
    w = np.where(treat & df.firm_id.isin(untreated.firm_id).to_numpy(), 1.0, 0.0)
    w /= w.sum()
    z0, z1 = z[~treat], z[treat]
    v = w.copy()
    v[~treat] = -z0 @ np.linalg.pinv(z0.T @ z0) @ (z1.T @ w[treat])
    resid = np.zeros(len(df))
    resid[~treat] = ols.resid.to_numpy()
    tau_all = np.full(len(df), np.nan)
    tau_all[treat & (w > 0)] = tau.to_numpy()
    cell = df.year - df.firm_id.map(df.loc[df.sez].groupby("firm_id").year.min())
    key = (cell.astype(str) + "_" + df.firm_id.map(df.loc[df.sez].groupby("firm_id").year.min()).astype(str))
    on = w > 0
    cell_mean = pd.Series(tau_all[on]).groupby(key[on].to_numpy()).transform("mean").to_numpy()
    resid[on] = tau_all[on] - cell_mean
    se = np.sqrt(np.sum(pd.Series(v * resid).groupby(df.firm_id.to_numpy()).sum() ** 2))
    assert res.se == pytest.approx(se, rel=1e-6)


def test_constant_effect_recovered_by_both_estimators():
    df = staggered_panel(seed=4)
    for res in (did.twfe(df, "y"), did.imputation(df, "y"),
                did.twfe(df, "y", fe=("firm_id", "city^year")), did.imputation(df, "y", fe=("firm_id", "city^year"))):
        assert 0.001 < res.se < 0.02
        assert abs(res.coef - 0.1) < 4 * res.se, res.summary()


def test_heterogeneous_effects_bias_twfe_not_imputation():
    # effects grow with time since entry and are larger for early cohorts: TWFE compares late entrants
    # with already-treated early entrants and is pulled down (Goodman-Bacon, 2021)
    df = staggered_panel(effect=lambda e, c: 0.05 * (e + 1) + 0.02 * (2011 - c), never_share=0.1, seed=5)
    att = df.loc[df.sez, "tau"].mean()
    robust = did.imputation(df, "y")
    classic = did.twfe(df, "y")
    assert abs(robust.coef - att) < 4 * robust.se
    assert att - classic.coef > 0.05 and att - classic.coef > 6 * classic.se


def test_synthetic_asie_effect_recovered():
    from sez.data import synthetic

    truth = synthetic(n_firms=20_000, seed=11, mess="none").truth
    tau = truth.attrs["tau_sez"]
    classic = did.twfe(truth, "ln_tfp", fe=("firm_id", "year"), on_reversal="keep")
    robust = did.imputation(truth, "ln_tfp", fe=("firm_id", "year"), on_reversal="drop")
    for res in (classic, robust):
        # the effect is identified by roughly a thousand movers; four standard errors (about 0.08) covers
        # the sampling error, and the SE bound keeps the test able to reject a zero effect
        assert res.se < 0.025, res.summary()
        assert abs(res.coef - tau) < 4 * res.se, res.summary()
    assert robust.counts["firms whose treatment switches off (dropped)"] > 0


# ---------------------------------------------------------------------------
# event study


def test_event_study_dynamic_effects_and_figure(tmp_path):
    df = staggered_panel(effect=lambda e, c: 0.05 * (e + 1), seed=6)
    es = did.event_study(df, "y", window=(-5, 6), reference=-5)
    table = es.table
    assert list(table.index) == list(range(-5, 7))
    assert table.loc[-5, "twfe_coef"] == 0 and np.isnan(table.loc[-5, "twfe_se"])
    for k in range(0, 5):
        truth = 0.05 * (k + 1)
        assert abs(table.loc[k, "imputation_coef"] - truth) < 4 * table.loc[k, "imputation_se"]
    for k in (-4, -3, -2, -1):
        for name in ("twfe", "imputation"):
            assert abs(table.loc[k, f"{name}_coef"]) < 4 * table.loc[k, f"{name}_se"]
    # the last bin pools event times 6..9; its imputation coefficient is their average effect
    late = df.loc[df.sez & (df.year - df.groupby("firm_id").year.transform(lambda s: s[df.loc[s.index, "sez"]].min())
                            >= 6), "tau"].mean()
    assert abs(table.loc[6, "imputation_coef"] - late) < 4 * table.loc[6, "imputation_se"]
    z = 1.959963984540054
    assert np.allclose(table.twfe_upper.iloc[1:] - table.twfe_coef.iloc[1:], z * table.twfe_se.iloc[1:])
    path = tmp_path / "event.png"
    es.plot(path)
    assert path.stat().st_size > 5_000
    assert "reference period -5" in es.summary()


def test_event_study_drops_always_treated_firms():
    df = staggered_panel(n_firms=400, seed=7)
    always = pd.DataFrame({"firm_id": np.repeat([90_001, 90_002], 12), "year": np.tile(range(2000, 2012), 2),
                           "sez": True, "y": 1.0, "tau": 0.0, "city": "0", "x": 0.0})
    es = did.event_study(pd.concat([df, always], ignore_index=True), "y", window=(-3, 3), reference=-3)
    assert es.counts["firms treated in their first observed year (dropped)"] == 2


# ---------------------------------------------------------------------------
# mediation


def test_mediation_tests_match_formulas():
    rng = np.random.default_rng(8)
    df = staggered_panel(n_firms=800, seed=8)
    df["ln_eg"] = 0.3 * df.sez + rng.normal(scale=0.5, size=len(df))
    df["y"] = df.y + 0.2 * df.ln_eg
    med = did.mediation(df, "y", "ln_eg", fe=("firm_id", "year"))
    a, sa, b, sb = med.a, med.se_a, med.b, med.se_b
    tests = med.tests
    sobel = np.sqrt(b ** 2 * sa ** 2 + a ** 2 * sb ** 2)
    aroian = np.sqrt(b ** 2 * sa ** 2 + a ** 2 * sb ** 2 + sa ** 2 * sb ** 2)
    goodman = np.sqrt(b ** 2 * sa ** 2 + a ** 2 * sb ** 2 - sa ** 2 * sb ** 2)
    assert tests.loc["Sobel", "std_err"] == pytest.approx(sobel, rel=1e-12)
    assert tests.loc["Goodman-1 (Aroian)", "std_err"] == pytest.approx(aroian, rel=1e-12)
    assert tests.loc["Goodman-2", "std_err"] == pytest.approx(goodman, rel=1e-12)
    assert tests.loc["Sobel", "statistic"] == pytest.approx(a * b / sobel, rel=1e-12)
    # on one sample with the same fixed effects, least squares gives c = c' + a b exactly
    assert med.c == pytest.approx(med.c_prime + a * b, abs=1e-8)
    assert med.proportion_mediated == pytest.approx(a * b / (a * b + med.c_prime), rel=1e-12)
    # and each path is the TWFE regression it claims to be
    assert med.a == pytest.approx(did.twfe(df, "ln_eg").coef, abs=1e-10)
    assert abs(med.b - 0.2) < 4 * med.se_b and abs(med.a - 0.3) < 4 * med.se_a
    assert "Proportion of total effect that is mediated" in med.summary()


# ---------------------------------------------------------------------------
# bad input


def test_no_treated_or_no_untreated_raise():
    df = staggered_panel(n_firms=100, seed=9)
    with pytest.raises(did.DidDataError, match="no treated"):
        did.twfe(df.assign(sez=False), "y")
    with pytest.raises(did.DidDataError, match="no untreated"):
        did.imputation(df.assign(sez=True), "y")
    with pytest.raises(did.DidDataError, match="no treated"):
        did.event_study(df.assign(sez=False), "y")


def test_treatment_switching_off():
    df = staggered_panel(n_firms=300, seed=10)
    leaver = df.firm_id == df.loc[df.sez, "firm_id"].iloc[0]
    last_year = df.loc[leaver, "year"].max()
    df.loc[leaver & (df.year == last_year), "sez"] = False
    bad_firm = int(df.loc[leaver, "firm_id"].iloc[0])
    for func in (did.imputation, did.event_study):
        with pytest.raises(did.DidDataError, match=f"switches off.*{bad_firm}"):
            func(df, "y")
    res = did.imputation(df, "y", on_reversal="drop")
    assert res.counts["firms whose treatment switches off (dropped)"] == 1
    with pytest.raises(ValueError, match="on_reversal"):
        did.imputation(df, "y", on_reversal="keep")
    # TWFE regresses on the treatment as it is by default
    assert np.isfinite(did.twfe(df, "y").coef)


def test_invalid_columns_and_values():
    df = staggered_panel(n_firms=100, seed=12)
    with pytest.raises(KeyError, match="nope"):
        did.twfe(df, "nope")
    with pytest.raises(did.DidDataError, match="0/1"):
        did.twfe(df.assign(sez=df.sez * 2.0), "y")
    with pytest.raises(did.DidDataError, match="not unique"):
        did.twfe(pd.concat([df, df.iloc[:1]]), "y")
    with pytest.raises(ValueError, match="reference"):
        did.event_study(df, "y", window=(-5, 5), reference=0)
    res = did.twfe(df.assign(y=np.where(np.arange(len(df)) < 3, np.nan, df.y)), "y")
    assert res.counts["missing or non-finite values"] == 3


def test_effects_by_pre_period_quintile():
    df, entry, base, _ = quintile_effect_panel()
    q = did.pre_period_quintile(df, "level")
    df["y"] = df["y"] + df["sez"] * 0.05 * q.astype(float).fillna(0).to_numpy()
    out = did.by_group(df, "y", q)
    assert out.params.index.tolist() == [1, 2, 3, 4, 5]
    # effects 0.05 q; noise s.d. 0.05 over ~300 treated firms x 4-6 years: s.e. ~0.003, tolerance 4 s.e.
    np.testing.assert_allclose(out.params, 0.05 * np.arange(1, 6), atol=4 * out.bse.max())
    # firms treated from their first year have no pre-period
    always = df.assign(sez=True)
    assert did.pre_period_quintile(always, "level").isna().all()


def test_triple_difference_recovers_moderated_effect():
    df, _, _, _ = quintile_effect_panel(seed=1)
    df["y"] = df["y"] + df["sez"] * (0.1 + 0.2 * df["moderator"])
    out = did.triple_difference(df, "y", "moderator")
    assert out.params["sez"] == pytest.approx(0.1, abs=4 * out.bse["sez"])
    assert out.params["sez x moderator"] == pytest.approx(0.2, abs=4 * out.bse["sez x moderator"])


# ---------------------------------------------------------------------------
# identification of the imputation with region-by-year effects


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")  # by construction: two components
def test_imputation_counts_treated_rows_whose_effects_are_not_connected():
    # firm 2 is untreated in region S in 2000 and treated in region R in 2001: its firm effect is tied to
    # S-2000 (with firm 4), R-2001 to firms 1 and 3; the two groups share no untreated observation, so its
    # untreated outcome in R-2001 is not identified and must be set aside, not imputed from a normalisation
    rng = np.random.default_rng(21)
    rows = [(1, 2000, "R", False), (1, 2001, "R", False), (3, 2000, "R", False), (3, 2001, "R", False),
            (5, 2000, "R", False), (5, 2001, "R", True), (5, 2002, "R", True),
            (2, 2000, "S", False), (2, 2001, "R", True), (4, 2000, "S", False), (4, 2001, "S", False)]
    df = pd.DataFrame(rows, columns=["firm_id", "year", "city", "sez"])
    df["y"] = rng.normal(size=len(df))
    res = did.imputation(df, "y", fe=("firm_id", "city^year"))
    key = "treated observations whose firm_id and city^year effects are not connected through untreated observations"
    assert res.counts[key] == 1
    assert res.counts["treated observations whose city^year has no untreated observation"] == 1  # firm 5, R-2002
    # the one identified treated row (firm 5, R-2001) against OLS with explicit dummies on the untreated rows
    untreated = df.loc[~df.sez]
    ols = smf.ols("y ~ C(firm_id) + C(city):C(year) - 1", data=untreated).fit()
    target = df.loc[(df.firm_id == 5) & (df.year == 2001)]
    assert res.coef == pytest.approx(float(target.y.iloc[0] - ols.predict(target).iloc[0]), abs=1e-8)


# ---------------------------------------------------------------------------
# trend specification and Tables 17-18


def _trend_panel(seed=31, pre=0.02, jump=0.2, slope=0.03):
    df = staggered_panel(n_firms=2000, seed=seed, effect=lambda e, c: jump + slope * e)
    first = df.loc[df.sez].groupby("firm_id").year.min()
    event = (df.year - df.firm_id.map(first)).fillna(0.0)
    df["y"] = df.y + pre * event  # movers trend upwards relative to other firms, before and after entry
    return df


def test_trend_specification_recovers_pre_and_post_trends():
    df = _trend_panel()
    for name, res in did.trend_specification(df, "y", form="linear").items():
        for term, truth in (("pre_trend", 0.02), ("sez", 0.2), ("post_trend", 0.03)):
            assert abs(res.params[term] - truth) < 4 * res.bse[term], (name, res.summary())
            assert res.bse[term] < 0.01
    flat = did.trend_specification(_trend_panel(pre=0.0, slope=0.0), "y", form="linear")
    assert abs(flat["twfe"].params["post_trend"]) < 4 * flat["twfe"].bse["post_trend"]
    with pytest.raises(ValueError, match="form"):
        did.trend_specification(df, "y", form="cubic")


# ---------------------------------------------------------------------------
# pre-entry quintiles on the paper's "Pre<k>" basis (Tables 19-20)


def test_pre_period_quintile_pre5_basis_on_a_hand_made_panel():
    # firms 1-5 enter in 2006 and are observed 2000-2008; in 2001 (five years before entry) their values rank
    # 1 < 2 < 3 < 4 < 5, but their pre-entry means rank the other way round (2002-2005 values reverse it)
    rows = []
    for f in range(1, 6):
        for year in range(2000, 2009):
            value = f if year == 2001 else (10 - 3 * f if year < 2006 else 0.0)
            rows.append((f, year, year >= 2006, float(value)))
    for year in range(2000, 2009):
        rows.append((6, year, False, 1.0))            # never treated
        rows.append((7, year, True, 1.0))             # treated from its first year
        if year != 2001:
            rows.append((8, year, year >= 2006, 1.0))  # no observation in 2001
        rows.append((9, year, year >= 2006, np.nan if year == 2001 else 1.0))  # missing value in 2001
    df = pd.DataFrame(rows, columns=["firm_id", "year", "sez", "tfp"])
    q = did.pre_period_quintile(df, "tfp", basis="pre5")
    by_firm = q.groupby(df.firm_id).first()
    assert [by_firm[f] for f in range(1, 6)] == [1, 2, 3, 4, 5]
    assert by_firm[[6, 7, 8, 9]].isna().all()
    assert q.attrs["counts"] == {"firms": 9, "never treated (no entry year)": 1,
                                 "treated from their first observed year (no pre-entry year)": 1,
                                 "no observation 5 years before entry": 2, "classified": 5}
    mean = did.pre_period_quintile(df, "tfp", basis="mean").groupby(df.firm_id).first()
    # the pre-entry means (50 - 14 f) / 6 reverse the ranking (firms 6, 8 and 9 with mean 1 are cut with them)
    ranks = [mean[f] for f in range(1, 6)]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] == 5 and ranks[-1] == 1
    assert mean[6] in (1, 2, 3, 4, 5) and pd.isna(mean[7])  # never-treated firms use all their years
    assert did.pre_period_quintile(df, "tfp", basis="pre1").groupby(df.firm_id).first()[8] in range(1, 6)
    with pytest.raises(ValueError, match="basis must be"):
        did.pre_period_quintile(df, "tfp", basis="pre0")


# ---------------------------------------------------------------------------
# Sun and Abraham (2021) interaction-weighted event study


def test_sun_abraham_matches_explicit_cohort_dummies_aggregated_by_shares():
    df = unbalanced_panel(seed=4)
    lo, hi, ref = -2, 3, -2
    es = did.event_study(df, "y", window=(lo, hi), reference=ref, estimators=("sun_abraham",))
    # independent computation: statsmodels OLS with firm, year and cohort x binned event-time dummies
    first = df.loc[df.sez].groupby("firm_id").year.min()
    d = df.assign(cohort=df.firm_id.map(first))
    always = d.groupby("firm_id").sez.transform("first")
    d = d.loc[~always].reset_index(drop=True)
    d["e"] = (d.year - d.cohort).clip(lo, hi)
    cells, names = [], []
    for g in sorted(d.cohort.dropna().unique()):
        for k in range(lo, hi + 1):
            on = (d.cohort == g) & (d.e == k)
            if k != ref and on.any():
                names.append(f"c{len(names)}")
                d[names[-1]] = on.astype(float)
                cells.append((g, k, int(on.sum())))
    ols = smf.ols("y ~ " + " + ".join(names) + " + C(firm_id) + C(year)", data=d).fit(
        cov_type="cluster", cov_kwds={"groups": d.firm_id.to_numpy()})
    factor = np.sqrt((len(d) - len(ols.params)) / (len(d) - len(names) - d.year.nunique()))
    cells = pd.DataFrame(cells, columns=["cohort", "e", "n"]).assign(name=names)
    for k, c in cells.groupby("e"):
        w = (c.n / c.n.sum()).to_numpy()
        coef = w @ ols.params[c.name].to_numpy()
        se = np.sqrt(w @ ols.cov_params().loc[c.name, c.name].to_numpy() @ w) * factor
        assert es.table.loc[k, "sun_abraham_coef"] == pytest.approx(coef, abs=1e-8)
        assert es.table.loc[k, "sun_abraham_se"] == pytest.approx(se, rel=1e-6)
    assert es.table.loc[ref, "sun_abraham_coef"] == 0
    w = es.fits["sun_abraham_weights"]
    np.testing.assert_allclose(w.groupby(level="event_time").weight.sum(), 1.0)


def test_sun_abraham_unbiased_where_twfe_event_study_is_not():
    # effects grow with time since entry at a rate that rises with the entry year: TWFE leads pick up
    # other cohorts' effects; the interaction-weighted estimator does not
    df = staggered_panel(n_firms=2000, effect=lambda e, c: 0.02 * (c - 2000) * (e + 1), never_share=0.3, seed=3)
    es = did.event_study(df, "y", window=(-4, 6), reference=-4, estimators=("twfe", "sun_abraham"))
    dropped = [k for k in es.counts if k.startswith("Sun-Abraham: cohorts never observed")]
    assert dropped and "2002, 2003" in dropped[0]  # entering less than four years after the panel starts
    first = df.loc[df.sez].groupby("firm_id").year.min()
    cohort = df.firm_id.map(first)
    kept = df.sez & ~cohort.isin([2002, 2003])
    truth = df.loc[kept].groupby((df.year - cohort).clip(-4, 6)[kept]).tau.mean()
    t = es.table
    for k in range(0, 7):  # cohort-share-weighted true effects, within 4 s.e.
        assert abs(t.loc[k, "sun_abraham_coef"] - truth[k]) < 4 * t.loc[k, "sun_abraham_se"], k
    for k in (-3, -2, -1):
        assert abs(t.loc[k, "sun_abraham_coef"]) < 4 * t.loc[k, "sun_abraham_se"], k
    # TWFE: spurious pre-trends (more than 4 s.e. from zero at some lead)
    assert max(abs(t.loc[k, "twfe_coef"]) / t.loc[k, "twfe_se"] for k in (-3, -2, -1)) > 4
    # without never-treated firms the last cohort is the control, before it enters
    no_never = staggered_panel(n_firms=600, never_share=0.0, seed=8)
    es2 = did.event_study(no_never, "y", window=(-2, 3), reference=-2, estimators=("sun_abraham",))
    key = [k for k in es2.counts if k.startswith("Sun-Abraham: no never-treated firm")]
    last = no_never.loc[no_never.sez].groupby("firm_id").year.min().max()
    assert key and es2.counts[key[0]] == int((no_never.year >= last).sum())
    assert np.isfinite(es2.table.loc[0:3, "sun_abraham_coef"]).all()


def test_sample_emptied_by_singletons_is_a_clear_error_not_an_abort():
    """pyfixest's compiled demeaning aborts the process when its singleton removal leaves no row; the wrapper
    counts what singleton removal leaves first (repeatedly: dropping one level can make another a singleton)."""
    # firm 1 has two years, firm 2 one: dropping firm 2's row leaves year 2001 with one row, then firm 1's
    # remaining row is a singleton too, and nothing is left
    chain = pd.DataFrame({"firm_id": [1, 1, 2], "year": [2000, 2001, 2001], "y": [1.0, 2.0, 3.0],
                          "sez": [False, True, True]})
    def left(fe):
        return int(did.prepare._non_singleton_rows([did.prepare._codes(chain, term)[0] for term in fe]).sum())

    assert left(["firm_id", "year"]) == 0
    assert left(["firm_id"]) == 2
    assert left(["firm_id^year"]) == 0
    with pytest.raises(did.DidDataError, match="too few left once singleton fixed effects"):
        did.twfe(chain, "y", fe=("firm_id", "year"))
