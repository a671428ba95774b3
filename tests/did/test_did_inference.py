"""Inference options of sez.did: one vcov vocabulary, weights, the pyfixest fit, formulas.

References are run in the test: statsmodels' dummy-variable regressions (conventional and HC1 errors,
weighted least squares), pyfixest's own ``feols`` (clustered and two-way clustered errors) and a dense
computation of the imputation estimator's analytic variance (Borusyak, Jaravel and Spiess, 2024).
Identities of the same least-squares problem are checked to 1e-6 relative (pyfixest demeans iteratively).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
import statsmodels.formula.api as smf

from sez import did
from sez.testing import unbalanced_panel


@pytest.fixture(scope="module")
def panel():
    df = unbalanced_panel(seed=3)
    df["d"] = df.sez.astype(float)
    df["w"] = np.random.default_rng(7).uniform(0.5, 2.0, len(df))
    return df


# ---------------------------------------------------------------------------
# TWFE: each vcov option against a reference run here


def test_twfe_iid_and_hetero_are_the_dummy_variable_regression(panel):
    ols = smf.ols("y ~ d + x + C(firm_id) + C(year)", data=panel)
    for vcov, cov_type in (("iid", "nonrobust"), ("hetero", "HC1")):
        res = did.twfe(panel, "y", controls="x", vcov=vcov)
        ref = ols.fit(cov_type=cov_type)
        assert res.coef == pytest.approx(ref.params["d"], abs=1e-8)
        assert res.bse["sez"] == pytest.approx(ref.bse["d"], rel=1e-6)
        assert res.bse["x"] == pytest.approx(ref.bse["x"], rel=1e-6)
        assert res.df == ref.df_resid  # t with N - K degrees of freedom
        assert res.n_clusters is None and "N-K" in res.conventions
        # R-squared of the dummy-variable regression; within: of the demeaned one
        assert res.r2 == pytest.approx(ref.rsquared, rel=1e-8)
    # within: 1 - RSS over the variation of y left by the fixed effects alone
    fe_only = smf.ols("y ~ C(firm_id) + C(year)", data=panel).fit()
    assert res.r2_within == pytest.approx(1 - ref.ssr / fe_only.ssr, rel=1e-6)


def test_twfe_two_way_clustering_matches_pyfixest(panel):
    vcov = {"CRV1": "firm_id+city"}
    res = did.twfe(panel, "y", controls=["x"], vcov=vcov)
    ref = pf.feols("y ~ d + x | firm_id + year", data=panel, vcov=vcov)
    assert res.se == pytest.approx(float(ref.se()["d"]), rel=1e-6)
    assert res.n_clusters == panel.city.nunique() and res.df == panel.city.nunique() - 1
    assert "clustered by firm_id and city" in res.summary() and "V_a + V_b - V_ab" in res.conventions


def test_twfe_weights_are_weighted_least_squares(panel):
    res = did.twfe(panel, "y", controls="x", vcov="iid", weights="w")
    ref = smf.wls("y ~ d + x + C(firm_id) + C(year)", data=panel, weights=panel.w).fit()
    assert res.coef == pytest.approx(ref.params["d"], abs=1e-8)
    assert res.se == pytest.approx(ref.bse["d"], rel=1e-6)  # analytic weights: N counts rows
    assert res.weights == "w" and "analytic weights" in res.conventions
    assert abs(res.coef - did.twfe(panel, "y", controls="x", vcov="iid").coef) > 1e-4  # the weights matter


def test_vcov_errors_say_what_is_supported(panel):
    with pytest.raises(ValueError, match=r"cluster-robust.*'hetero'.*CRV1.*a\+b"):
        did.imputation(panel, "y", vcov="iid")
    # a bare column name is not a vcov: the error shows how to spell the clustering
    with pytest.raises(ValueError, match=r"vcov=\{'CRV1': 'firm_id\+city'\}"):
        did.twfe(panel, "y", vcov="firm_id+city")
    with pytest.raises(ValueError, match="Sun-Abraham.*clustered one way"):
        did.event_study(panel, "y", vcov={"CRV1": "firm_id+city"}, window=(-2, 2), reference=-2,
                        estimators=("imputation", "sun_abraham"))


# ---------------------------------------------------------------------------
# the imputation estimator: two-way clustering and weights against a dense computation


def _dense_imputation(df: pd.DataFrame, weights: np.ndarray, clusters: list[str]) -> tuple[float, float]:
    """The estimate and the analytic standard error of Borusyak, Jaravel and Spiess (2024), with
    matrices: a weighted fit of the untreated outcome on firm and year dummies, the average of the
    imputed effects weighted by ``weights``, the variance ``V_a + V_b - V_ab`` of ``sum_g (sum v e)^2``.
    """
    z = pd.get_dummies(df[["firm_id", "year"]].astype(str)).to_numpy(dtype=float)
    treat = df.sez.to_numpy()
    y = df.y.to_numpy()
    z0, w0 = z[~treat], weights[~treat]
    inverse = np.linalg.pinv(z0.T @ (w0[:, None] * z0))
    effects = inverse @ z0.T @ (w0 * y[~treat])
    target = treat & df.firm_id.isin(df.firm_id[~treat]).to_numpy()
    a = np.where(target, weights, 0.0) / weights[target].sum()
    tau = np.where(target, y - z @ effects, 0.0)
    v = a.copy()
    v[~treat] = -w0 * (z0 @ inverse @ (z[treat].T @ a[treat]))
    resid = np.where(~treat, y - z @ effects, 0.0)
    first = df.firm_id.map(df.loc[df.sez].groupby("firm_id").year.min())
    cell = (df.year - first).astype(str) + "_" + first.astype(str)
    a2 = pd.Series(a[target] ** 2)
    cell_mean = (a2 * tau[target]).groupby(cell[target].to_numpy()).transform("sum") / a2.groupby(
        cell[target].to_numpy()).transform("sum")
    resid[target] = tau[target] - cell_mean.to_numpy()
    score = pd.Series(v * resid)

    def meat(key):
        return float(np.sum(score.groupby(key).sum() ** 2))

    keys = [df[c].astype(str).to_numpy() for c in clusters]
    variance = sum(meat(k) for k in keys)
    if len(keys) == 2:
        variance -= meat(np.char.add(np.char.add(keys[0], "|"), keys[1]))
    return float(a @ tau), float(np.sqrt(variance))


def test_imputation_two_way_clustering_matches_dense_formula(panel):
    res = did.imputation(panel, "y", vcov={"CRV1": "firm_id+city"})
    est, se = _dense_imputation(panel, np.ones(len(panel)), ["firm_id", "city"])
    assert res.coef == pytest.approx(est, abs=1e-8)
    assert res.se == pytest.approx(se, rel=1e-6)
    one_way = did.imputation(panel, "y", vcov={"CRV1": "firm_id"})
    assert abs(res.se - one_way.se) > 1e-4 * one_way.se  # the second dimension counts
    assert res.n_clusters == panel.city.nunique() and res.df == panel.city.nunique() - 1


def test_imputation_weights_match_dense_weighted_formula(panel):
    res = did.imputation(panel, "y", weights="w")
    est, se = _dense_imputation(panel, panel.w.to_numpy(), ["firm_id"])
    assert res.coef == pytest.approx(est, abs=1e-8)
    assert res.se == pytest.approx(se, rel=1e-6)
    assert abs(res.coef - did.imputation(panel, "y").coef) > 1e-4  # the weights matter
    assert "weighted by 'w'" in res.conventions


def test_weights_must_be_positive(panel):
    bad = panel.assign(w=panel.w.where(panel.index != 4, -1.0))
    with pytest.raises(did.DidDataError, match=r"weights 'w' must be positive.*rows \[4\]"):
        did.imputation(bad, "y", weights="w")


# ---------------------------------------------------------------------------
# the pyfixest fit travels with the result


def test_fit_works_with_pyfixest_tables_and_wild_bootstrap(panel):
    res = did.twfe(panel, "y", fe=("firm_id", "city^year"), controls="x")
    table = pf.etable([res.fit], type="df")
    text = table.to_string()
    assert "sez" in text and f"{res.coef:.3f}" in text and "city^year" in text
    assert res.fit.coef()["sez"] == pytest.approx(res.coef)
    assert did.imputation(panel, "y").fit is None


def test_a_fit_kept_whole_serves_pyfixest_wild_bootstrap(panel):
    pytest.importorskip("wildboottest")
    full = did.twfe(panel, "y", fe=("firm_id", "city^year"), controls="x", lean=False)
    boot = full.fit.wildboottest(reps=99, param="sez", seed=1)
    assert np.isfinite(float(boot["Pr(>|t|)"]))


# ---------------------------------------------------------------------------
# formulas in fixest's syntax give the list call's results


def test_formula_and_list_calls_give_identical_results(panel):
    pairs = [
        (did.twfe(panel, "y ~ sez + x | firm_id + city^year", vcov="iid"),
         did.twfe(panel, "y", treatment="sez", controls=["x"], fe=("firm_id", "city^year"), vcov="iid")),
        (did.imputation(panel, "y ~ sez + x | firm_id + year", weights="w"),
         did.imputation(panel, "y", controls="x", weights="w")),
    ]
    for formula, listed in pairs:
        pd.testing.assert_series_equal(formula.params, listed.params)
        pd.testing.assert_series_equal(formula.bse, listed.bse)
        assert (formula.outcome, formula.fixed_effects) == (listed.outcome, listed.fixed_effects)
    # no "|": no fixed effects, as in fixest
    assert did.twfe(panel, "y ~ sez + x", vcov="iid").fixed_effects == ()
    events = [did.event_study(panel, spec, window=(-2, 2), reference=-2, **kw).table
              for spec, kw in (("y ~ sez | firm_id + year", {}), ("y", {"fe": ["firm_id", "year"]}))]
    pd.testing.assert_frame_equal(*events)
    with pytest.raises(ValueError, match=r"log\(x\).*create those columns"):
        did.twfe(panel, "y ~ sez + log(x) | firm_id")


@pytest.mark.parametrize("given", [{"controls": ["x"]}, {"fe": ["firm_id"]}, {"treatment": "x"}])
def test_a_formula_with_roles_given_as_well_is_an_error_not_a_silent_choice(panel, given):
    with pytest.raises(ValueError, match=f"twfe: the formula .* {next(iter(given))} given as well would be ignored"):
        did.twfe(panel, "y ~ sez | firm_id + year", **given)
