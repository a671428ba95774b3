"""Tests of the fixed-effects probit against statsmodels' Probit with explicit dummies."""

import numpy as np
import pandas as pd
import pytest

sm = pytest.importorskip("statsmodels.api")
pytest.importorskip("pyfixest")

from sez.panel import lag_within_firm  # noqa: E402
from sez.probit import probit  # noqa: E402
from sez.testing import probit_data  # noqa: E402

REGRESSORS = ["x1", "x2", "d"]


def _dense_design(data):
    dummies = [pd.get_dummies(data[c], prefix=c, drop_first=True, dtype=float) for c in ("year", "ind", "cty")]
    return sm.add_constant(pd.concat([data[REGRESSORS], *dummies], axis=1))


@pytest.fixture(scope="module")
def fitted():
    data = probit_data()
    ours = probit(data, "y", REGRESSORS, fe=["year", "ind", "cty"])
    reference = sm.Probit(data["y"], _dense_design(data)).fit(disp=0, method="newton", tol=1e-12)
    return data, ours, reference


def test_coefficients_and_observed_information_errors_match_statsmodels(fitted):
    _, ours, reference = fitted
    np.testing.assert_allclose(ours.params.to_numpy(), reference.params.iloc[1:4].to_numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.bse.to_numpy(), reference.bse.iloc[1:4].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(ours.tvalues.to_numpy(), reference.tvalues.iloc[1:4].to_numpy(), rtol=1e-4)


def test_loglikelihood_null_and_pseudo_r2_match_statsmodels(fitted):
    _, ours, reference = fitted
    assert ours.loglik == pytest.approx(reference.llf, rel=1e-10)
    assert ours.loglik_null == pytest.approx(reference.llnull, rel=1e-10)  # intercept-only null model
    assert ours.pseudo_r2 == pytest.approx(reference.prsquared, rel=1e-8)
    assert ours.nobs == 3000 and ours.n_dropped == 0


@pytest.mark.parametrize("discrete", [False, True])
def test_marginal_effects_at_means_match_statsmodels(fitted, discrete):
    _, ours, reference = fitted
    expected = reference.get_margeff(at="mean", dummy=discrete)
    got = ours.marginal_effects(at="mean", discrete=discrete).frame
    np.testing.assert_allclose(got["effect"].to_numpy(), expected.margeff[:3], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(got["std_err"].to_numpy(), expected.margeff_se[:3], rtol=1e-4)


def test_average_partial_effects_match_statsmodels(fitted):
    _, ours, reference = fitted
    expected = reference.get_margeff(at="overall", dummy=True)
    got = ours.marginal_effects(at="average").frame
    np.testing.assert_allclose(got["effect"].to_numpy(), expected.margeff[:3], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(got["std_err"].to_numpy(), expected.margeff_se[:3], rtol=1e-4)


@pytest.mark.parametrize("held, bound, column_index", [("x1", "min", 1), ("x2", "max", 2), ("d", "min", 3),
                                                       ("d", "max", 3)])
def test_marginal_effects_at_extremes_match_statsmodels(fitted, held, bound, column_index):
    data, ours, reference = fitted
    value = data[held].min() if bound == "min" else data[held].max()
    # statsmodels' atexog takes column positions in its design (0 is the constant), not names
    expected = reference.get_margeff(at="mean", dummy=True, atexog={column_index: value})
    got = ours.marginal_effects(at="mean", values={held: bound}).frame
    np.testing.assert_allclose(got["effect"].to_numpy(), expected.margeff[:3], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(got["std_err"].to_numpy(), expected.margeff_se[:3], rtol=1e-4)
    table = ours.marginal_effects_at_extremes(of=["x1"], by=[held])
    assert table.loc[("x1", bound.capitalize()), held] == pytest.approx(got.loc["x1", "effect"], rel=1e-12)


def test_robust_and_cluster_errors_follow_stata_small_sample_factors():
    data = probit_data()
    design = _dense_design(data)
    n, clusters, params = len(data), data["cty"].nunique(), design.shape[1]
    robust = probit(data, "y", REGRESSORS, fe=["year", "ind", "cty"], vcov="hetero")
    hc0 = sm.Probit(data["y"], design).fit(disp=0, method="newton", tol=1e-12, cov_type="HC0")
    # Stata's vce(robust) multiplies the sandwich by n/(n-1)
    np.testing.assert_allclose(robust.bse.to_numpy(), hc0.bse.iloc[1:4].to_numpy() * np.sqrt(n / (n - 1)), rtol=1e-4)
    clustered = probit(data, "y", REGRESSORS, fe=["year", "ind", "cty"], vcov={"CRV1": "cty"})
    sm_cluster = sm.Probit(data["y"], design).fit(disp=0, method="newton", tol=1e-12, cov_type="cluster",
                                                  cov_kwds={"groups": data["cty"].to_numpy()})
    # statsmodels scales by G/(G-1) (n-1)/(n-k); Stata's probit by G/(G-1) only
    expected = sm_cluster.bse.iloc[1:4].to_numpy() / np.sqrt((n - 1) / (n - params))
    np.testing.assert_allclose(clustered.bse.to_numpy(), expected, rtol=1e-4)
    assert clustered.n_clusters == clusters
    me = clustered.marginal_effects().frame
    assert np.all(np.isfinite(me["std_err"])) and np.all(me["std_err"] > 0)


def test_lags_exist_only_for_consecutive_years():
    panel = pd.DataFrame({"firm_id": [1, 1, 1, 2, 2, 1], "year": [2000, 2001, 2003, 2001, 2002, 2004],
                          "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "exporter": [True, False, True, True, False, False]},
                         index=list("abcdef"))
    lagged = lag_within_firm(panel, ["x", "exporter"])
    expected_x = pd.Series([np.nan, 1.0, np.nan, np.nan, 4.0, 3.0], index=panel.index)
    pd.testing.assert_series_equal(lagged["L.x"], expected_x, check_names=False)
    assert lagged["L.exporter"].isna().tolist() == [True, False, True, True, False, False]
    # b takes a (2000), e takes d (2001), f takes c (2003); c skips the missing 2002
    assert lagged.loc[["b", "e", "f"], "L.exporter"].tolist() == [True, True, True]
    assert lagged.loc["f", "L.x"] == 3.0 and np.isnan(lagged.loc["c", "L.x"])
    with pytest.raises(ValueError, match="not unique"):
        lag_within_firm(pd.concat([panel, panel.iloc[:1]]), ["x"])


def test_probit_with_lags_counts_rows_without_a_previous_year():
    rng = np.random.default_rng(3)
    firms, years = 400, np.arange(2000, 2006)
    panel = pd.DataFrame([(f, t) for f in range(firms) for t in years], columns=["firm_id", "year"])
    panel = panel[rng.uniform(size=len(panel)) > 0.2].reset_index(drop=True)  # gaps in firms' years
    panel["ln_tfp"] = rng.normal(size=len(panel))
    panel["exporter"] = rng.uniform(size=len(panel)) < 0.4
    panel.loc[panel.index[:3], "ln_tfp"] = np.nan  # missing values in the lagged column
    result = probit(panel, "exporter", ["ln_tfp", "exporter"], fe=["year"], lags=["ln_tfp", "exporter"])
    prior = lag_within_firm(panel, ["ln_tfp"])["L.ln_tfp"]
    observed_prior = lag_within_firm(panel.assign(seen=1.0), ["seen"])["L.seen"].notna()
    assert result.dropped["no_lag"] == int((~observed_prior).sum())
    assert result.dropped["missing"] == int((observed_prior & prior.isna()).sum())
    assert result.nobs == int(prior.notna().sum())
    assert list(result.params.index) == ["L.ln_tfp", "L.exporter"]


def test_perfect_prediction_by_fixed_effects_is_dropped_and_counted():
    data = probit_data()
    data.loc[data["cty"] == 3, "y"] = 0  # county 3 predicts failure perfectly
    data.loc[data["cty"] == 7, "y"] = 1  # county 7 predicts success perfectly
    data.loc[len(data)] = {"year": 2000, "ind": 0, "cty": 99, "x1": 0.1, "x2": 0.2, "d": 1.0, "y": 1}  # singleton
    ours = probit(data, "y", REGRESSORS, fe=["year", "ind", "cty"])
    counts = data["cty"].value_counts()
    assert ours.dropped["fe_all_0"] == counts[3]
    assert ours.dropped["fe_all_1"] == counts[7]
    assert ours.dropped["singleton"] == 1
    assert ours.nobs == len(data) - counts[3] - counts[7] - 1
    table = ours.perfect_prediction.set_index("level")
    assert table.loc[3, "outcome"] == 0 and table.loc[7, "outcome"] == 1 and table.loc[99, "reason"] == "singleton"
    kept = data[~data["cty"].isin([3, 7, 99])]
    reference = sm.Probit(kept["y"], _dense_design(kept)).fit(disp=0, method="newton", tol=1e-12)
    np.testing.assert_allclose(ours.params.to_numpy(), reference.params.iloc[1:4].to_numpy(), atol=1e-6)
    assert ours.loglik == pytest.approx(reference.llf, rel=1e-10)


def test_bad_input_raises_clear_errors():
    data = probit_data(n=500)
    with pytest.raises(ValueError, match="must be 0/1"):
        probit(data.assign(y=data["y"] * 2), "y", REGRESSORS, fe=["year"])
    with pytest.raises(KeyError, match="'nope'"):
        probit(data, "y", ["x1", "nope"], fe=["year"])
    with pytest.raises(KeyError, match="'region'"):
        probit(data, "y", REGRESSORS, fe=["region"])
    with pytest.raises(ValueError, match=r"\['x1', 'x3'\] are collinear|\['x1', 'x2', 'x3'\] are collinear"):
        probit(data.assign(x3=2 * data["x1"] - 1), "y", ["x1", "x2", "x3"], fe=["year"])
    with pytest.raises(ValueError, match="collinear with the fixed effects"):
        probit(data.assign(z=data["year"] * 1.5), "y", ["x1", "z"], fe=["year"])
    with pytest.raises(ValueError, match="do not vary"):
        probit(data.assign(c=1.0), "y", ["x1", "c"], fe=["year"])
    with pytest.raises(ValueError, match="vcov"):
        probit(data, "y", REGRESSORS, vcov="hc1")


def test_perfect_separation_by_a_regressor_is_named():
    data = probit_data(n=800, seed=5)
    data["x1"] = np.where(data["y"] == 1, 1.0 + np.abs(data["x1"]), -np.abs(data["x1"]))
    with pytest.raises(ValueError, match="regressor 'x1' separates the outcome perfectly"):
        probit(data, "y", REGRESSORS, fe=["year"])


