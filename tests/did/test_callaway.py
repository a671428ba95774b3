"""Tests of sez.did.callaway_santanna and the aggregations of group-time and Sun-Abraham cohort effects.

References: the numbers the R package ``did`` prints for its ``mpdta`` example
(to its 4 decimals), moderndid (a Python port of ``did``) run in the test, and
hand computations on tiny panels. Tolerances: moderndid computes the same
closed-form estimator with the same influence functions, so estimates,
standard errors and aggregations agree to rounding (1e-10); hand computations
likewise (1e-12); estimates on simulated panels against the known effect
within four standard errors (a false failure rate below 1e-4, seeds fixed).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sez import did
from sez.errors import DidDataError
from sez.testing import staggered_panel

KINDS = ("simple", "dynamic", "group", "calendar")


@pytest.fixture(scope="module")
def moderndid():
    return pytest.importorskip("moderndid", reason="moderndid (a port of R's did) is the reference implementation")


@pytest.fixture(scope="module")
def mpdta(moderndid):
    return moderndid.load_mpdta().to_pandas()


def _panel(effect=lambda g, e: 0.1 + 0.0 * e, n_units=300, years=range(2000, 2008), noise=0.3, seed=0):
    """Balanced panel: unit and year effects, cohorts from the third year on (about 30% never treated)."""
    rng = np.random.default_rng(seed)
    years = np.array(list(years))
    cohort = np.where(rng.random(n_units) < 0.3, 0, rng.choice(years[2:], n_units))
    unit = np.repeat(np.arange(n_units), len(years))
    year = np.tile(years, n_units)
    g = cohort[unit]
    treated = (g > 0) & (year >= g)
    y = (rng.normal(0, 1, n_units)[unit] + rng.normal(0, 0.5, len(years))[year - years[0]]
         + noise * rng.normal(size=len(unit)) + np.where(treated, effect(g, year - g), 0.0))
    return pd.DataFrame({"firm_id": unit, "year": year, "y": y, "cohort": g, "sez": treated,
                         "region": unit % 7})


# ---------------------------------------------------------------------------
# the published example and moderndid


def test_mpdta_matches_the_published_numbers(mpdta):
    res = did.callaway_santanna(mpdta, "lemp", cohort="first.treat", unit="countyreal")
    published = {2004: [-0.0105, -0.0704, -0.1373, -0.1008], 2006: [0.0065, -0.0028, -0.0046, -0.0412],
                 2007: [0.0305, -0.0027, -0.0311, -0.0261]}
    for g, values in published.items():
        for t, value in zip(range(2004, 2008), values):
            assert round(res.params[f"ATT({g},{t})"], 4) == value
    # did's documentation prints -0.04 for aggte(type = "simple"); moderndid gives the same (below)
    assert round(res.aggregate("simple").params["ATT"], 4) == -0.0400
    assert res.counts == {} and res.n_units == 500 and res.nobs == 2500


def _assert_as_moderndid(ours, theirs, moderndid):
    assert np.allclose(ours.params.to_numpy(), theirs.att_gt, rtol=0, atol=1e-10)
    assert np.allclose(ours.bse.to_numpy(), theirs.se_gt, rtol=0, atol=1e-10, equal_nan=True)
    for kind in KINDS:
        agg = ours.aggregate(kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = moderndid.aggte(theirs, type=kind)
        overall = "ATT" if kind == "simple" else "overall"
        assert agg.params[overall] == pytest.approx(ref.overall_att, abs=1e-10)
        assert agg.bse[overall] == pytest.approx(ref.overall_se, abs=1e-10)
        if kind != "simple":
            parts = agg.components
            assert np.allclose(parts.iloc[:, 0], ref.event_times, atol=0)
            assert np.allclose(parts["estimate"], ref.att_by_event, rtol=0, atol=1e-10)
            assert np.allclose(parts["std_err"], ref.se_by_event, rtol=0, atol=1e-10, equal_nan=True)


@pytest.mark.parametrize("control", ["never", "not_yet"])
@pytest.mark.parametrize("base_period", ["varying", "universal"])
def test_matches_moderndid_on_mpdta(mpdta, moderndid, control, base_period):
    ours = did.callaway_santanna(mpdta, "lemp", cohort="first.treat", unit="countyreal", control=control,
                                 base_period=base_period)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = moderndid.att_gt(data=mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                                  est_method="reg", control_group={"never": "nevertreated",
                                                                   "not_yet": "notyettreated"}[control],
                                  base_period=base_period, cband=False)
    _assert_as_moderndid(ours, theirs, moderndid)


@pytest.mark.parametrize("control", ["never", "not_yet"])
def test_matches_moderndid_on_a_simulated_panel(moderndid, control):
    data = _panel(effect=lambda g, e: 0.05 + 0.03 * e + 0.01 * (g - 2000))
    ours = did.callaway_santanna(data, "y", "sez", control=control)
    data = data.assign(first=data["cohort"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = moderndid.att_gt(data=data, yname="y", tname="year", idname="firm_id", gname="first",
                                  est_method="reg", control_group={"never": "nevertreated",
                                                                   "not_yet": "notyettreated"}[control], cband=False)
    _assert_as_moderndid(ours, theirs, moderndid)


# ---------------------------------------------------------------------------
# independent computations


def test_one_att_by_hand_as_a_difference_of_mean_differences():
    # units 0-1 enter in 2002, 2-3 in 2003, 4-6 never; three years, two regions
    y = {0: [1.0, 2.0, 4.5], 1: [0.0, 1.5, 2.0], 2: [2.0, 2.5, 4.0], 3: [1.0, 1.0, 2.5],
         4: [0.5, 1.0, 1.2], 5: [3.0, 3.1, 3.9], 6: [1.0, 2.2, 2.4]}
    cohort = {0: 2002, 1: 2002, 2: 2003, 3: 2003, 4: 0, 5: 0, 6: 0}
    data = pd.DataFrame([{"firm_id": i, "year": 2001 + k, "y": v, "cohort": cohort[i], "region": i % 2}
                         for i, values in y.items() for k, v in enumerate(values)])
    never = [4, 5, 6]
    change = {i: y[i][2] - y[i][0] for i in y}  # ATT(2002, 2003): 2003 against the base year 2001
    by_hand = np.mean([change[0], change[1]]) - np.mean([change[i] for i in never])
    # the influence of each unit (over n): its change net of its group's mean, over the group's size
    psi = {0: (change[0] - np.mean([change[0], change[1]])) / 2, 1: (change[1] - np.mean([change[0], change[1]])) / 2}
    psi.update({i: -(change[i] - np.mean([change[j] for j in never])) / 3 for i in never})
    res = did.callaway_santanna(data, "y", cohort="cohort")
    assert res.params["ATT(2002,2003)"] == pytest.approx(by_hand, abs=1e-12)
    assert res.bse["ATT(2002,2003)"] == pytest.approx(np.sqrt(sum(v * v for v in psi.values())), abs=1e-12)
    clustered = did.callaway_santanna(data, "y", cohort="cohort", vcov={"CRV1": "region"})
    by_region = [sum(v for i, v in psi.items() if i % 2 == r) for r in (0, 1)]
    assert clustered.bse["ATT(2002,2003)"] == pytest.approx(np.sqrt(sum(s * s for s in by_region)), abs=1e-12)
    # not-yet-treated controls add cohort 2003 to the controls of ATT(2002, 2002) (base 2001, both years < 2003)
    controls = [2, 3, *never]
    not_yet = did.callaway_santanna(data, "y", cohort="cohort", control="not_yet")
    step = {i: y[i][1] - y[i][0] for i in y}
    assert not_yet.params["ATT(2002,2002)"] == pytest.approx(
        np.mean([step[0], step[1]]) - np.mean([step[i] for i in controls]), abs=1e-12)
    assert not_yet.table.loc["ATT(2002,2002)", "n_control"] == 5


def test_unbalanced_panel_recovers_a_constant_effect_and_counts_what_it_leaves_out():
    data = staggered_panel(n_firms=1500, years=range(2000, 2010), seed=4)  # effect 0.1 in every treated year
    rng = np.random.default_rng(4)
    thinned = data.loc[rng.random(len(data)) > 0.3].reset_index(drop=True)
    res = did.callaway_santanna(thinned, "y", "sez")
    simple = res.aggregate("simple")
    assert abs(simple.params["ATT"] - 0.1) < 4 * simple.bse["ATT"]
    dropped = res.counts["firms treated in their first observed year (dropped)"]
    first_seen = thinned.groupby("firm_id").year.min()
    entry = thinned.loc[thinned.sez].groupby("firm_id").year.min()
    assert dropped == int((entry <= first_seen.reindex(entry.index)).sum()) > 0
    assert res.n_units + dropped == thinned.firm_id.nunique()
    assert res.counts["their observations"] == len(thinned) - res.nobs
    # each ATT(g,t) uses only the cohort's units observed in both of its years
    assert (res.table["n_treated"] < res.table["n_cohort"]).all()
    assert res.counts["units in no comparison (not observed in both years of any ATT(g,t) they could enter)"] > 0


def test_treatment_indicator_and_cohort_column_give_identical_results():
    data = _panel(seed=2)
    by_indicator = did.callaway_santanna(data, "y", "sez", control="not_yet")
    by_cohort = did.callaway_santanna(data, "y", cohort="cohort", control="not_yet")
    pd.testing.assert_series_equal(by_indicator.params, by_cohort.params, rtol=0, atol=0)
    pd.testing.assert_series_equal(by_indicator.bse, by_cohort.bse, rtol=0, atol=0)
    assert by_indicator.aggregate("group").params.equals(by_cohort.aggregate("group").params)


def test_bootstrap_standard_errors_are_close_to_the_analytic_ones_and_reproducible():
    data = _panel(n_units=400, seed=5)
    analytic = did.callaway_santanna(data, "y", cohort="cohort")
    boot = did.callaway_santanna(data, "y", cohort="cohort", bootstrap=2000, seed=1)
    again = did.callaway_santanna(data, "y", cohort="cohort", bootstrap=2000, seed=1)
    assert boot.bse.equals(again.bse)
    # the IQR of 2000 draws estimates a standard error to about 2.6%: within 12%, ~4.5 standard deviations
    ratio = boot.bse / analytic.bse
    assert ratio.between(0.88, 1.12).all()
    for kind in KINDS:
        r = boot.aggregate(kind).bse / analytic.aggregate(kind).bse
        assert r.between(0.88, 1.12).all(), kind
    # a simultaneous band is wider than a pointwise one
    assert 1.96 < boot.aggregate("dynamic").critical_value < 4


# ---------------------------------------------------------------------------
# errors


def test_bad_inputs_name_the_column_and_what_to_do():
    data = _panel(seed=6)
    reverting = data.copy()
    reverting.loc[(reverting.firm_id == reverting.loc[reverting.sez, "firm_id"].iloc[0])
                  & (reverting.year == 2007), "sez"] = False
    with pytest.raises(DidDataError, match=r"treatment 'sez' switches off.*on_reversal='drop'"):
        did.callaway_santanna(reverting, "y", "sez")
    treated_only = data.loc[data.cohort > 0]
    with pytest.raises(DidDataError, match=r"control='never' needs never-treated units and 'cohort' has none.*"
                                           r"control='not_yet'"):
        did.callaway_santanna(treated_only, "y", cohort="cohort")
    fractional = data.assign(cohort=np.where(data.cohort > 0, data.cohort + 0.5, 0))
    with pytest.raises(DidDataError, match=r"cohort 'cohort' must hold whole first-treatment years"):
        did.callaway_santanna(fractional, "y", cohort="cohort")
    varying = data.assign(cohort=np.where((data.firm_id == 0) & (data.year == 2001), 2003, data.cohort))
    with pytest.raises(DidDataError, match=r"cohort 'cohort' must be constant within each unit.*firm_id \[0\]"):
        did.callaway_santanna(varying, "y", cohort="cohort")
    with pytest.raises(DidDataError, match=r"cluster column 'year' must be constant within each unit"):
        did.callaway_santanna(data, "y", "sez", vcov={"CRV1": "year"})
    with pytest.raises(ValueError, match="give one of treatment=.*not both"):
        did.callaway_santanna(data.assign(d=data.sez), "y", "d", cohort="cohort")
    with pytest.raises(ValueError, match="give treatment="):
        did.callaway_santanna(data, "y", None)


# ---------------------------------------------------------------------------
# Sun and Abraham's cohort effects, aggregated


def test_sun_abraham_aggregations_equal_a_hand_computation():
    data = staggered_panel(n_firms=400, years=range(2000, 2008), seed=7)
    es = did.event_study(data, "y", window=(-7, 5), reference=-1, estimators=("sun_abraham",))
    fit, cells = es.fits["sun_abraham"], es.fits["sun_abraham_weights"]
    b = fit.coef[cells["name"]].to_numpy()
    v = fit.vcov.loc[cells["name"], cells["name"]].to_numpy()
    cohort = cells.index.get_level_values("cohort").to_numpy()
    event = cells.index.get_level_values("event_time").to_numpy()
    size = data.loc[data.sez].groupby("firm_id").year.min().value_counts()  # firms per cohort
    n = size.reindex(cohort).to_numpy(dtype=float)
    w = np.where(event >= 0, n, 0.0) / n[event >= 0].sum()
    simple = did.sun_abraham_aggregate(es, "simple")
    assert simple.params["ATT"] == pytest.approx(w @ b, abs=1e-12)
    assert simple.bse["ATT"] == pytest.approx(np.sqrt(w @ v @ w), abs=1e-12)
    # the dynamic aggregation is the event study's own interaction-weighted estimator (balanced, nothing binned)
    dynamic = did.sun_abraham_aggregate(es, "dynamic").event_study_table("sun_abraham")
    shown = es.table.drop(index=-1)[["sun_abraham_coef", "sun_abraham_se"]]
    assert np.allclose(dynamic.loc[shown.index, ["sun_abraham_coef", "sun_abraham_se"]], shown, rtol=0, atol=1e-12)
    group = did.sun_abraham_aggregate(es, "group")
    on = (cohort == 2004) & (event >= 0)
    assert group.params["ATT(g=2004)"] == pytest.approx(b[on].mean(), abs=1e-12)


def test_sun_abraham_and_callaway_santanna_aggregate_the_same_exact_effects_alike():
    # no noise, parallel trends, effects that differ by cohort and event time: both recover every effect
    # exactly, so their aggregations differ only if the weighting does
    data = _panel(effect=lambda g, e: 0.1 + 0.05 * e + 0.02 * (g - 2002), noise=0.0, seed=8)
    es = did.event_study(data, "y", window=(-7, 5), reference=-1, estimators=("sun_abraham",))
    cs = did.callaway_santanna(data, "y", "sez")
    for kind in ("simple", "group", "calendar"):
        a, b = did.sun_abraham_aggregate(es, kind).params, cs.aggregate(kind).params
        assert np.allclose(a.loc[b.index], b, rtol=0, atol=1e-8), kind
    post = cs.aggregate("dynamic").params.filter(regex=r"e=\d")
    assert np.allclose(did.sun_abraham_aggregate(es, "dynamic").params.loc[post.index], post, atol=1e-8)


def test_chunked_accumulation_equals_one_pass(monkeypatch):
    from sez.did import callaway

    data = _panel(n_units=200, seed=9)
    vcovs = (None, {"CRV1": "region"})
    whole = [did.callaway_santanna(data, "y", "sez", vcov=v, bootstrap=50, seed=3) for v in vcovs]
    monkeypatch.setattr(callaway, "_CHUNK_ENTRIES", 97)  # a few units per chunk, cut where a cluster ends
    for v, res in zip(vcovs, whole):
        chunked = did.callaway_santanna(data, "y", "sez", vcov=v, bootstrap=50, seed=3)
        assert np.allclose(chunked.cov_params(), res.cov_params(), rtol=1e-12, atol=0)
        assert np.allclose(chunked._analytic_cov, res._analytic_cov, rtol=1e-12, atol=1e-18)
        assert np.allclose(chunked.aggregate("group").bse, res.aggregate("group").bse, rtol=1e-12)


def test_the_event_study_puts_callaway_santanna_beside_the_others():
    panel = staggered_panel(n_firms=300, years=range(2000, 2009), seed=4)
    both = did.event_study(panel, "y", window=(-3, 3), reference=-3,
                           estimators=("twfe", "imputation", "sun_abraham", "callaway_santanna"))
    alone = did.callaway_santanna(panel, "y", base_period="universal").aggregate("dynamic").event_study_table()
    for column in ("coef", "se", "lower", "upper"):
        np.testing.assert_allclose(both.table[f"callaway_santanna_{column}"],
                                   alone[f"callaway_santanna_{column}"].reindex(range(-3, 4)), rtol=1e-12)
    assert both.table.loc[-1, "callaway_santanna_coef"] == 0.0  # its base year, whatever the reference
    assert both.estimators[-1] == "callaway_santanna" and both.nobs_by_estimator["callaway_santanna"] > 0
    with pytest.raises(ValueError, match="no covariates"):
        did.event_study(panel, "y", controls="x", estimators=("callaway_santanna",))
    with pytest.raises(ValueError, match="clustered one way"):
        did.event_study(panel, "y", vcov="hetero", estimators=("twfe", "callaway_santanna"))


def test_in_the_event_study_a_unit_whose_cluster_changes_is_clustered_by_its_first_one():
    panel = staggered_panel(n_firms=300, years=range(2000, 2009), seed=4).assign(
        city=lambda d: (d.firm_id % 7 + (d.year > 2005) * (d.firm_id % 3 == 0)).astype(str))
    moved = panel.groupby("firm_id")["city"].nunique().gt(1).sum()
    result = did.event_study(panel, "y", window=(-3, 3), reference=-1, vcov={"CRV1": "city"},
                             estimators=("callaway_santanna",))
    assert result.counts["units clustered by their first city (Callaway-Sant'Anna; it changes within them)"] == moved
    first_city = panel.assign(city=panel.groupby("firm_id")["city"].transform("first"))
    alone = did.callaway_santanna(first_city, "y", base_period="universal", vcov={"CRV1": "city"})
    np.testing.assert_allclose(result.table["callaway_santanna_se"],
                               alone.event_study_table()["callaway_santanna_se"].reindex(range(-3, 4)), rtol=1e-12)
