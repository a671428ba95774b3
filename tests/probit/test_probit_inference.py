"""Inference options of the probit against statsmodels' Probit run in the test: the intercept, each vcov
(two-way clustering included), weights and formulas.

Stata's conventions (``docs/estimators.md``): the inverse observed information for "iid", the sandwich
times n/(n-1) for "hetero", times G/(G-1) for clustered errors; statsmodels' own factors are undone.
"""

import numpy as np
import pandas as pd
import pytest

sm = pytest.importorskip("statsmodels.api")
sandwich = pytest.importorskip("statsmodels.stats.sandwich_covariance")
pytest.importorskip("pyfixest")

from sez.probit import probit  # noqa: E402
from sez.testing import probit_data  # noqa: E402

REGRESSORS = ["x1", "x2", "d"]


@pytest.fixture(scope="module")
def data():
    frame = probit_data(n=1500)
    frame["w"] = np.random.default_rng(3).integers(1, 4, len(frame))
    return frame


def _statsmodels(frame, fe=()):
    dummies = [pd.get_dummies(frame[c], prefix=c, drop_first=True, dtype=float) for c in fe]
    design = sm.add_constant(pd.concat([frame[REGRESSORS], *dummies], axis=1))
    return sm.Probit(frame["y"], design).fit(disp=0, method="newton", tol=1e-12)


def test_intercept_with_its_standard_error_without_fixed_effects(data):
    ref = _statsmodels(data)
    for vcov, factor, kind in (("iid", 1.0, "nonrobust"), ("hetero", len(data) / (len(data) - 1), "HC0")):
        ours = probit(data, "y", REGRESSORS, vcov=vcov)
        assert list(ours.params.index) == ["Intercept", *REGRESSORS]
        cov = ref.cov_params() if kind == "nonrobust" else sandwich.cov_white_simple(ref, use_correction=False)
        np.testing.assert_allclose(ours.params.to_numpy(), ref.params.to_numpy(), atol=1e-7)
        np.testing.assert_allclose(ours.bse.to_numpy(), np.sqrt(np.diag(np.asarray(cov)) * factor), rtol=1e-6)
    # the slopes' marginal effects are unchanged by the intercept's presence
    assert list(ours.marginal_effects().frame.index) == REGRESSORS


def test_two_way_clustering_is_the_sum_of_one_way_sandwiches(data):
    ours = probit(data, "y", REGRESSORS, fe=["year", "ind", "cty"], vcov={"CRV1": "cty+ind"})
    ref = _statsmodels(data, ("year", "ind", "cty"))
    a, b = data["cty"].to_numpy(), data["ind"].to_numpy()
    both = sandwich.cov_cluster_2groups(ref, a, group2=b, use_correction=False)[0]
    fewest = min(len(np.unique(a)), len(np.unique(b)))
    expected = np.asarray(both)[1:4, 1:4] * fewest / (fewest - 1)
    # here V_a + V_b - V_ab is not positive semi-definite: its negative eigenvalue is set to zero
    values, vectors = np.linalg.eigh(expected)
    assert values.min() < 0
    expected = (vectors * np.maximum(values, 0)) @ vectors.T
    np.testing.assert_allclose(ours.cov.to_numpy(), expected, rtol=1e-5, atol=1e-12)
    assert ours.n_clusters == fewest and "clustered by cty and ind" in ours.summary()


def test_weights_are_frequency_weights_of_the_likelihood(data):
    ours = probit(data, "y", REGRESSORS, vcov="iid", weights="w")
    replicated = data.loc[data.index.repeat(data["w"])]
    ref = _statsmodels(replicated)
    np.testing.assert_allclose(ours.params.to_numpy(), ref.params.to_numpy(), atol=1e-7)
    np.testing.assert_allclose(ours.bse.to_numpy(), ref.bse.to_numpy(), rtol=1e-6)
    assert ours.loglik == pytest.approx(ref.llf, rel=1e-9) and ours.pseudo_r2 == pytest.approx(ref.prsquared)
    # clustered: a cluster's weighted score is the sum over its replicated rows
    clustered = probit(data, "y", REGRESSORS, fe=["cty"], vcov={"CRV1": "cty"}, weights="w")
    ref_fe = _statsmodels(replicated, ("cty",))
    groups = replicated["cty"].to_numpy()
    g = len(np.unique(groups))
    expected = sandwich.cov_cluster(ref_fe, groups, use_correction=False)[1:4, 1:4] * g / (g - 1)
    np.testing.assert_allclose(clustered.bse.to_numpy(), np.sqrt(np.diag(expected)), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="weighted"):
        clustered.marginal_effects()


def test_formula_and_list_calls_give_identical_results(data):
    formula = probit(data, "y ~ x1 + x2 + d | year + ind", vcov={"CRV1": "cty"})
    listed = probit(data, "y", REGRESSORS, fe=["year", "ind"], vcov={"CRV1": "cty"})
    pd.testing.assert_series_equal(formula.params, listed.params)
    pd.testing.assert_frame_equal(formula.cov, listed.cov)
    assert formula.fe == ["year", "ind"] and formula.y_name == "y"
    assert list(probit(data, "y ~ x1 + d").params.index) == ["Intercept", "x1", "d"]
    with pytest.raises(ValueError, match="either in the formula"):
        probit(data, "y ~ x1 | year", fe="ind")
