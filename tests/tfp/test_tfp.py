"""Tests of sez.tfp (production-function estimators, the results protocol) and the SEZ paper's
productivity tables (sez.papers.sez_paper.productivity).

Reference numbers: statsmodels for OLS/FE (Cobb-Douglas and translog); linearmodels'
IV-GMM for Wooldridge's GMM standard errors; the Monte Carlo designs of Ackerberg, Caves
and Frazer (2015, DGP1-3 with measurement error in materials) simulated here; the prodest fixtures
(Rovigatti and Mollisi, 2018) in /work/shared/data/prodest; the synthetic ASIE
generator's known elasticities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from sez import tfp
from sez.papers.sez_paper import productivity
from sez.parallel import SerialExecutor
from sez.testing import production_panel
from sez.tfp.prepare import _lag_index

FIXTURES = Path("/work/shared/data/prodest")


# ----------------------------------------------------------------------------- Monte Carlo DGP
# Ackerberg, Caves and Frazer (2015), section 4.3: wage shocks, labour timing, optimisation error
ACF_DESIGNS = {1: dict(sd_wage=0.1, labour_timing=0.5, sd_optimisation=0.0),
               2: dict(sd_wage=0.0, labour_timing=0.0, sd_optimisation=0.37),
               3: dict(sd_wage=0.1, labour_timing=0.5, sd_optimisation=0.37)}


def simulate_acf(dgp=1, measurement_error=0.0, n_firms=1000, periods=100, keep=10, seed=0, translog=None,
                 materials_for="actual"):
    """ACF (2015) Monte Carlo panel in levels (value added, Leontief materials).

    beta_l = 0.6, beta_k = 0.4; omega AR(1) with rho = 0.7 and stationary sd 0.3,
    evolving in two half-period steps. Labour is chosen at t - 1/2 from
    E[omega_t | omega_{t-1/2}] (``labour_timing`` 0.5) or at t from omega_t (timing 0),
    given capital and the log wage (AR(1), rho 0.3, stationary sd ``sd_wage``), then
    missed by an i.i.d. optimisation error of sd ``sd_optimisation``; ``dgp`` picks the
    design in ``ACF_DESIGNS``. Investment is chosen at t from the expected discounted
    marginal value of capital (discount 0.95, depreciation 0.2) with a firm-specific
    adjustment cost (log sd 0.6); output error sd 0.1. Materials are Leontief, proportional
    to planned output, so m = f(l, k) + omega + const; the observed log materials carry
    measurement error of sd sqrt(measurement_error) times their within-firm sd.

    ``materials_for="intended"``: materials are ordered for the output the intended labour
    (before the optimisation error) would give, so with no wage variation (DGP2) they are a
    function of (k, omega) alone and labour varies apart from them: the model in which
    Levinsohn-Petrin and Wooldridge (2009) are consistent (correctly specified moments).

    ``translog = (b_ll, b_kk, b_lk)`` adds ``b_ll l^2 + b_kk k^2 + b_lk l k`` to the
    production function (labour and investment keep the Cobb-Douglas rules, which are then
    not optimal; the estimators' timing assumptions still hold).
    """
    design = ACF_DESIGNS[dgp]
    rng = np.random.default_rng(seed)
    beta_l, beta_k, rho, sd_omega, delta, discount = 0.6, 0.4, 0.7, 0.3, 0.2, 0.95
    rho_w, sd_w = 0.3, design["sd_wage"]
    b_ll, b_kk, b_lk = translog if translog is not None else (0.0, 0.0, 0.0)
    half_sd = sd_omega * np.sqrt(1 - rho)           # each half step keeps the variance stationary
    adjust_cost = np.exp(rng.normal(0.0, 0.6, n_firms))
    omega = rng.normal(0, sd_omega, n_firms)
    wage = rng.normal(0, sd_w, n_firms)
    k = rng.normal(1.0, 0.5, n_firms)
    c = 1 / (1 - beta_l)
    horizon = np.arange(40)
    weights = (discount * (1 - delta)) ** horizon
    rows = []
    for t in range(periods):
        omega_half = np.sqrt(rho) * omega + rng.normal(0, half_sd, n_firms)
        wage = rho_w * wage + rng.normal(0, sd_w * np.sqrt(1 - rho_w ** 2), n_firms)
        omega = np.sqrt(rho) * omega_half + rng.normal(0, half_sd, n_firms)
        if design["labour_timing"] == 0.5:
            known, unknown_var = np.sqrt(rho) * omega_half, half_sd ** 2
        else:
            known, unknown_var = omega, 0.0
        labour = c * (np.log(beta_l) + beta_k * k + known + 0.5 * unknown_var - wage)
        intended = labour
        labour = intended + rng.normal(0, design["sd_optimisation"], n_firms)
        planned = beta_l * labour + beta_k * k + b_ll * labour ** 2 + b_kk * k ** 2 + b_lk * labour * k + omega
        ordered_for = intended if materials_for == "intended" else labour
        materials = (beta_l * ordered_for + beta_k * k + b_ll * ordered_for ** 2 + b_kk * k ** 2
                     + b_lk * ordered_for * k + omega)
        y = planned + rng.normal(0, 0.1, n_firms)
        # profit is linear in K (beta_k = 1 - beta_l): marginal value of capital from expected
        # future profit per unit of capital, exp(c omega - c beta_l w) up to constants
        future = (c * np.outer(omega, rho ** (horizon + 1)) - c * beta_l * np.outer(wage, rho_w ** (horizon + 1))
                  + 0.5 * c ** 2 * sd_omega ** 2 * (1 - rho ** (2 * (horizon + 1))))
        marginal_value = (np.exp(future) * weights).sum(axis=1) * (1 - beta_l) * beta_l ** (beta_l * c)
        investment = discount * marginal_value / adjust_cost
        if t >= periods - keep:
            rows.append(pd.DataFrame({"firm_id": np.arange(n_firms), "year": t, "value_added": np.exp(y),
                                      "employees": np.exp(labour), "capital": np.exp(k),
                                      "log_materials": materials, "investment": investment,
                                      "omega": omega}))
        k = np.log((1 - delta) * np.exp(k) + investment)
    panel = pd.concat(rows, ignore_index=True)
    m = panel.pop("log_materials")
    within_sd = (m - m.groupby(panel.firm_id).transform("mean")).std()
    noise = rng.normal(0, np.sqrt(measurement_error) * within_sd, len(m)) if measurement_error else 0.0
    panel["intermediate_input"] = np.exp(m + noise)
    return panel


# ----------------------------------------------------------------------------- OLS and FE
def test_ols_and_fe_match_statsmodels():
    # same normal equations, so agreement to rounding (1e-8)
    panel = production_panel()
    logs = panel.assign(y=np.log(panel.value_added), k=np.log(panel.capital), l=np.log(panel.employees))
    ols = smf.ols("y ~ l + k", logs).fit()
    res = tfp.estimate(panel, method="ols", by=None)
    assert res.estimates.loc["all", "beta_employees"] == pytest.approx(ols.params["l"], abs=1e-8)
    assert res.estimates.loc["all", "beta_capital"] == pytest.approx(ols.params["k"], abs=1e-8)
    assert res.standard_errors.loc["all", "capital"] == pytest.approx(ols.bse["k"], rel=1e-8)
    fe = smf.ols("y ~ l + k + C(firm_id)", logs).fit()
    res = tfp.estimate(panel, method="fe", by=None)
    assert res.estimates.loc["all", "beta_employees"] == pytest.approx(fe.params["l"], abs=1e-8)
    assert res.estimates.loc["all", "beta_capital"] == pytest.approx(fe.params["k"], abs=1e-8)
    assert res.standard_errors.loc["all", "capital"] == pytest.approx(fe.bse["k"], rel=1e-6)
    # by industry equals separate regressions
    byind = tfp.estimate(panel, method="ols", by="cic2")
    sub = smf.ols("y ~ l + k", logs[logs.cic2 == "13"]).fit()
    assert byind.estimates.loc["13", "beta_capital"] == pytest.approx(sub.params["k"], abs=1e-8)
    # ln_tfp is y - b_l l - b_k k on a copy
    out = byind.panel
    assert "ln_tfp" not in panel
    expected = logs.y - sub.params["l"] * logs.l - sub.params["k"] * logs.k
    np.testing.assert_allclose(out.ln_tfp[logs.cic2 == "13"], expected[logs.cic2 == "13"], atol=1e-8)


TRANSLOG_TRUTH = (-0.02, 0.015, 0.01)      # (b_ll, b_kk, b_lk)


def test_translog_ols_and_fe_match_statsmodels():
    """Translog OLS and FE against statsmodels formulas (same normal equations: 1e-8), and the
    mean output elasticities with their standard errors against statsmodels' t_test of the
    same linear combination (the mean elasticity of labour is b_l + 2 b_ll mean(l) + b_lk mean(k))."""
    panel = production_panel(n_firms=60, second_order=TRANSLOG_TRUTH)
    logs = panel.assign(y=np.log(panel.value_added), k=np.log(panel.capital), l=np.log(panel.employees))
    formula = "y ~ l + k + I(l**2) + I(l*k) + I(k**2)"
    terms = ["employees", "capital", "employees^2", "employees*capital", "capital^2"]
    reference_names = ["l", "k", "I(l ** 2)", "I(l * k)", "I(k ** 2)"]
    for method, model in (("ols", formula), ("fe", formula + " + C(firm_id)")):
        reference = smf.ols(model, logs).fit()
        res = tfp.estimate(panel, method=method, by=None, form="translog")
        assert res.terms == terms
        row, se = res.estimates.loc["all"], res.standard_errors.loc["all"]
        b = reference.params
        np.testing.assert_allclose([row[f"beta_{t}"] for t in terms], b[reference_names], atol=1e-8)
        np.testing.assert_allclose([se[t] for t in terms], reference.bse[reference_names], rtol=1e-6)
        combination = pd.DataFrame(0.0, index=["labour", "capital"], columns=b.index)
        combination.loc["labour", ["l", "I(l ** 2)", "I(l * k)"]] = [1, 2 * logs.l.mean(), logs.k.mean()]
        combination.loc["capital", ["k", "I(k ** 2)", "I(l * k)"]] = [1, 2 * logs.k.mean(), logs.l.mean()]
        mean_elasticity = reference.t_test(combination.to_numpy())
        np.testing.assert_allclose([row.elasticity_employees, row.elasticity_capital],
                                   mean_elasticity.effect, atol=1e-8)
        np.testing.assert_allclose([se.elasticity_employees, se.elasticity_capital], mean_elasticity.sd.ravel(),
                                   rtol=1e-6)
        assert row.returns_to_scale == pytest.approx(mean_elasticity.effect.sum())
        by_hand = b["l"] + 2 * b["I(l ** 2)"] * logs.l + b["I(l * k)"] * logs.k
        np.testing.assert_allclose(res.panel.elasticity_employees, by_hand, atol=1e-8)
        f_x = sum(b[r] * logs.eval(r.replace("I(", "(").replace("**", "**")) for r in reference_names)
        np.testing.assert_allclose(res.panel.ln_tfp, logs.y - f_x, atol=1e-8)


def test_translog_fe_recovers_translog_and_cobb_douglas():
    """FE is consistent in ``_panel`` (firm effects correlated with labour). On the translog
    DGP every coefficient is within 4 standard errors of the truth; on the Cobb-Douglas DGP
    the second-order terms are within 4 standard errors of zero (and first-order terms of
    the truth); a Cobb-Douglas fit of the translog DGP is not a translog with zero terms."""
    truth = dict(zip(["employees", "capital", "employees^2", "capital^2", "employees*capital"],
                     (0.6, 0.35) + TRANSLOG_TRUTH))
    for second_order in (TRANSLOG_TRUTH, (0.0, 0.0, 0.0)):
        res = tfp.estimate(production_panel(second_order=second_order), method="fe", by=None, form="translog",
                           write_tfp=False)
        row, se = res.estimates.loc["all"], res.standard_errors.loc["all"]
        expected = truth if second_order == TRANSLOG_TRUTH else {**truth, "employees^2": 0, "capital^2": 0,
                                                                  "employees*capital": 0}
        for term, value in expected.items():
            assert abs(row[f"beta_{term}"] - value) < 4 * se[term], (second_order, term)
    assert abs(row["beta_employees^2"]) < 4 * se["employees^2"]
    with pytest.raises(ValueError, match="translog"):
        tfp.estimate(production_panel(), method="op", form="translog")


def test_lags_never_cross_gaps():
    firm = np.array([1, 1, 1, 2, 2])
    year = np.array([2000, 2001, 2003, 2001, 2002])
    assert _lag_index(firm, year).tolist() == [-1, 0, -1, -1, 3]


# ----------------------------------------------------------------------------- results protocol and settings
@pytest.mark.filterwarnings("ignore::sez.tfp.TFPWarning")  # the OP case: no standard errors, any root
def test_results_protocol():
    """TFPResults and BootstrapResults follow sez.results.Results: params and bse on one (group, term)
    index, the tidy columns, intervals params -/+ z bse (normal inference), each group's analytic
    covariance, a summary naming the method, a short repr."""
    from scipy import stats

    from sez.results import TIDY_COLUMNS

    res = tfp.estimate(production_panel(n_firms=120), method="ols", by="cic2")
    params, bse = res.params, res.bse
    assert params.index.names == ["group", "term"] and params.index.equals(bse.index)
    assert list(params.index) == [(g, t) for g in ("13", "14") for t in ("employees", "capital", "constant")]
    assert params["13", "capital"] == res.estimates.loc["13", "beta_capital"]
    assert bse["14", "constant"] == res.standard_errors.loc["14", "constant"]
    assert res.nobs == res.estimates.n_obs.sum() == 120 * 8
    tidy = res.tidy()
    assert tuple(tidy.columns) == TIDY_COLUMNS and tidy.index.equals(params.index)
    pd.testing.assert_frame_equal(res.to_frame(), tidy)
    ci, z = res.conf_int(0.1), stats.norm.ppf(0.95)
    np.testing.assert_allclose(ci.conf_low, params - z * bse)
    np.testing.assert_allclose(ci.conf_high, params + z * bse)
    np.testing.assert_allclose(tidy.p_value, 2 * stats.norm.sf(np.abs(params / bse)))
    cov = res.cov_params()
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), bse)
    assert cov.loc[("13", "employees"), ("13", "capital")] == res.covariances["13"].loc["employees", "capital"]
    assert np.isnan(cov.loc[("13", "employees"), ("14", "capital")])
    text = res.summary()
    assert "OLS (method='ols')" in text and "normal (z)" in text and "Standard errors: classical" in text
    assert repr(res).startswith("<TFPResults: Production function, OLS") and "\n" not in repr(res)
    assert res._repr_html_().startswith("<pre>") and "se_capital" in res.wide()
    boot = tfp.bootstrap(production_panel(n_firms=120), "ols", reps=5, seed=1, by=None)
    draws = boot.draws.beta_capital
    assert boot.bse["all", "capital"] == pytest.approx(draws.std(ddof=1))
    assert np.isnan(boot.bse["all", "constant"])          # the constant is not resampled
    assert boot.cov_params().loc[("all", "employees"), ("all", "capital")] == pytest.approx(
        np.cov(boot.draws.beta_employees, draws)[0, 1])
    assert "Firm bootstrap (5 replications, 0 failed)" in boot.summary() and boot.tidy().shape == (3, 6)
    op = tfp.estimate(production_panel(n_firms=120).assign(investment=1.0 + np.arange(960) % 7), method="op", by=None,
                      proxy_settings=tfp.ProxySettings(starts=1, degree=2), write_tfp=False)
    assert op.bse.isna().all() and op.tidy().std_err.isna().all() and "none (NaN)" in op.summary()


def test_old_keywords_and_settings_errors_name_the_new_spelling():
    panel = production_panel(n_firms=40)
    with pytest.raises(TypeError, match=r"'starts' is now 'proxy_settings=ProxySettings\(starts=...\)'"):
        tfp.estimate(panel, method="ols", starts=1)
    with pytest.raises(TypeError, match=r"'free' is now 'inputs=Inputs\(free=...\)'"):
        tfp.estimate(panel, method="ols", free="employees")
    with pytest.raises(TypeError, match="'year_effects' is now"):
        tfp.bootstrap(panel, "op", reps=2, year_effects=False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        tfp.estimate(panel, colour=1)
    with pytest.raises(TypeError):
        tfp.estimate(panel, "ols", "va")                   # output is no longer the third positional
    with pytest.raises(ValueError, match="'robust' is now 'hetero'"):
        tfp.estimate(panel, method="wrdg", vcov="robust")
    with pytest.raises(ValueError, match=r"'cluster' is now \{'CRV1': column\}"):
        tfp.estimate(panel, method="wrdg", vcov="cluster")
    with pytest.raises(TypeError, match=r"proxy_settings has no field\(s\) \['stars'\]"):
        tfp.estimate(panel, method="ols", proxy_settings={"stars": 2})
    with pytest.raises(ValueError, match="ProxySettings: starts must be a positive integer"):
        tfp.ProxySettings(starts=0)
    with pytest.raises(TypeError, match="Inputs: free must be a column name"):
        tfp.Inputs(free=3)
    with pytest.raises(ValueError, match="Inputs: state must name at least one column"):
        tfp.Inputs(state=[])
    assert tfp.Inputs(free="employees", levels="age") == tfp.Inputs(free=["employees"], levels=("age",))
    with pytest.raises(AttributeError, match="sez.papers.sez_paper.productivity.tfp_table"):
        tfp.tfp_table  # noqa: B018 (the paper's tables left the estimator package)


def test_unit_time_and_cluster_columns_are_parameters():
    """Other names of the firm and year columns give the same numbers (lags, clusters, ln_tfp); WRDG
    clustered by a copy of the firm column equals the default clustering by unit."""
    panel = simulate_acf(3, 0.2, n_firms=150, periods=40, seed=11)
    a = tfp.estimate(panel, method="wrdg", by=None)
    renamed = panel.rename(columns={"firm_id": "id", "year": "period"}).assign(plant=panel.firm_id)
    b = tfp.estimate(renamed, method="wrdg", by=None, unit="id", time="period")
    c = tfp.estimate(renamed, method="wrdg", by=None, unit="id", time="period", vcov={"CRV1": "plant"})
    for other in (b, c):
        pd.testing.assert_frame_equal(a.estimates, other.estimates)
        pd.testing.assert_frame_equal(a.standard_errors, other.standard_errors)
        np.testing.assert_array_equal(a.panel.ln_tfp, other.panel.ln_tfp)
    assert a.vcov == {"CRV1": "firm_id"} and c.vcov == {"CRV1": "plant"}
    with pytest.raises(tfp.TFPInputError, match=r"'firm_id' \(unit=\) is missing"):
        tfp.estimate(renamed, method="wrdg", by=None)
    with pytest.raises(tfp.TFPInputError, match="'region'"):
        tfp.estimate(renamed, method="wrdg", by=None, unit="id", time="period", vcov={"CRV1": "region"})


# ----------------------------------------------------------------------------- ACF Monte Carlo
def test_acf_recovers_dgp1_and_lp_collapses():
    """Three DGP1 replications of 1,000 firms x 10 years.

    Over 12 replications (seeds 0-11) ACF gave mean (0.60, 0.40) within 0.01 and
    per-replication deviations below 0.04; the tolerance 0.06 is about 4 Monte Carlo
    standard deviations. Default starts: the root selection must find the right root. LP's labour
    coefficient collapses to zero because
    materials are an exact function of (l, k, omega) (Ackerberg, Caves and Frazer, 2015).
    """
    for seed in range(3):
        panel = simulate_acf(1, seed=seed)
        acf = tfp.estimate(panel, method="acf", by=None, seed=seed)
        row = acf.estimates.loc["all"]
        assert row.converged
        assert row.beta_employees == pytest.approx(0.6, abs=0.06)
        assert row.beta_capital == pytest.approx(0.4, abs=0.06)
        lp = tfp.estimate(panel, method="lp", by=None).estimates.loc["all"]
        assert abs(lp.beta_employees) < 0.05


def test_acf_keeps_the_persistent_root():
    """The least-squares start lands on a second root, b_l ~ 1 and b_k ~ 0, where implied
    productivity is nearly white noise; the estimate must be the persistent root (the
    DGP's rho is 0.7), and the other must stay visible in the diagnostics."""
    panel = simulate_acf(1, seed=0)
    res = tfp.estimate(panel, method="acf", by=None, proxy_settings=tfp.ProxySettings(starts=3))
    starts = res.diagnostics["all"]["starts"]
    spurious = [t for t in starts if t["estimate"][0] > 0.9]
    assert spurious and all(t["persistence"] < 0.3 and t["objective"] < 1e-8 for t in spurious)
    assert res.estimates.loc["all"].beta_employees == pytest.approx(0.6, abs=0.06)
    chosen = min(starts, key=lambda t: abs(t["estimate"][0] - res.estimates.loc["all"].beta_employees))
    assert chosen["persistence"] == pytest.approx(0.7, abs=0.1)
    assert "start_spread" in res.estimates


@pytest.mark.parametrize("dgp", [2, 3])
def test_acf_recovers_dgp2_and_dgp3_and_lp_collapses(dgp):
    """DGP2 (labour at t with optimisation error sd 0.37, no wage variation) and DGP3 (both
    wage shocks with labour at t - 1/2 and the optimisation error), no measurement error.

    Over 20 replications (seeds 0-19, 1,000 firms x 10 years) ACF's means were within
    0.002 of (0.6, 0.4) with Monte Carlo sd at most 0.013 (labour) and 0.016 (capital);
    the tolerance 0.05 is over 3 sd. LP's first stage cannot separate labour from
    materials that are Leontief in (l, k, omega), whatever the timing: y - m is constant
    plus noise, so its labour coefficient is 0 (|b_l| <= 0.012 in the replications) and
    capital takes the scale (b_k 0.95-1.11), as Ackerberg, Caves and Frazer (2015) report.
    """
    for seed in range(2):
        panel = simulate_acf(dgp, seed=seed)
        row = tfp.estimate(panel, method="acf", by=None, seed=seed, write_tfp=False).estimates.loc["all"]
        assert row.converged
        assert row.beta_employees == pytest.approx(0.6, abs=0.05)
        assert row.beta_capital == pytest.approx(0.4, abs=0.05)
        lp = tfp.estimate(panel, method="lp", by=None, write_tfp=False).estimates.loc["all"]
        assert abs(lp.beta_employees) < 0.05 and lp.beta_capital > 0.85


def test_acf_with_measurement_error_finds_the_persistent_root():
    """Measurement error in materials (c = 0.1, DGP1) moves starts near least squares to the
    spurious root (b_l ~ 0.95); the balanced start reaches the persistent one. Over 20
    replications ACF's labour coefficient averaged 0.595 (sd 0.013), so 0.05 is ~4 sd;
    the spurious root is 0.35 away."""
    panel = simulate_acf(1, measurement_error=0.1, seed=1)
    row = tfp.estimate(panel, method="acf", by=None, write_tfp=False).estimates.loc["all"]
    assert row.beta_employees == pytest.approx(0.6, abs=0.05)


@pytest.mark.slow
def test_acf_monte_carlo_all_designs_and_measurement_error():
    """The ACF (2015) grid: DGP1-3 x measurement error c in {0, 0.1, 0.2, 0.5}, 10 replications each.

    Without measurement error ACF's mean is within 4 Monte Carlo standard errors (plus
    0.005 for the polynomial approximation) of the truth and its sd below 0.03. With it,
    every proxy estimator is biased (the proxy no longer inverts exactly); as in ACF (2015)
    ACF degrades gradually while LP does not recover: ACF's mean absolute error (labour plus
    capital) is below LP's in every cell (measured: ACF 0.03-0.14, LP 0.06-0.55).
    LP's labour coefficient collapses without measurement error in every design.
    """
    reps = 10
    for dgp in (1, 2, 3):
        for c in (0.0, 0.1, 0.2, 0.5):
            acf, lp = [], []
            for seed in range(reps):
                panel = simulate_acf(dgp, measurement_error=c, seed=1000 + seed)
                for method, store in (("acf", acf), ("lp", lp)):
                    row = tfp.estimate(panel, method=method, by=None, seed=seed,
                                       write_tfp=False).estimates.loc["all"]
                    store.append([row.beta_employees, row.beta_capital])
            acf, lp = np.array(acf), np.array(lp)
            truth = np.array([0.6, 0.4])
            where = f"DGP{dgp}, c={c}"
            if c == 0:
                spread = acf.std(axis=0, ddof=1)
                assert (spread < 0.03).all(), where
                assert (np.abs(acf.mean(axis=0) - truth) < 4 * spread / np.sqrt(reps) + 0.005).all(), where
                assert np.abs(lp[:, 0]).max() < 0.05, where
            else:
                assert np.abs(acf.mean(axis=0) - truth).sum() < np.abs(lp.mean(axis=0) - truth).sum(), where


@pytest.mark.slow
def test_wooldridge_standard_errors_match_monte_carlo_spread():
    """In a design where Wooldridge's moments hold (DGP2 with materials ordered for the
    intended labour: materials a function of (k, omega), labour apart from them), the
    Monte Carlo sd of the estimates over 40 panels of 1,500 firms should equal the mean
    clustered analytic standard error. Measured ratios 1.11 (labour), 0.98 (capital), 0.94
    (rho). An sd from 40 draws has a relative sd of about 11%, so [0.7, 1.35] is about 3 of
    them. (At 300 firms the capital ratio is 1.28: two-step GMM standard errors with 25
    moments understate in small samples, Windmeijer, 2005. Under misspecified moments, e.g.
    Leontief materials with measurement error, the ratio for labour is about 1.75: the
    formula presumes the moments hold.)"""
    estimates, errors = [], []
    for seed in range(40):
        panel = simulate_acf(2, n_firms=1500, seed=100 + seed, materials_for="intended")
        res = tfp.estimate(panel, method="wrdg", by=None, write_tfp=False)
        row, se = res.estimates.loc["all"], res.standard_errors.loc["all"]
        estimates.append([row.beta_employees, row.beta_capital, row.rho])
        errors.append([se.employees, se.capital, se.rho])
    estimates, errors = np.array(estimates), np.array(errors)
    np.testing.assert_allclose(estimates.mean(axis=0)[:2], [0.6, 0.4], atol=0.01)
    ratio = estimates.std(axis=0, ddof=1) / errors.mean(axis=0)
    assert ((ratio > 0.7) & (ratio < 1.35)).all(), ratio


ACF_TRANSLOG = (-0.05, 0.03, 0.02)        # (b_ll, b_kk, b_lk) added to DGP1


def _true_mean_elasticities(panel, second_order):
    b_ll, b_kk, b_lk = second_order
    l, k = np.log(panel.employees), np.log(panel.capital)
    return (0.6 + 2 * b_ll * l + b_lk * k).mean(), (0.4 + 2 * b_kk * k + b_lk * l).mean()


def test_acf_translog_recovers_mean_elasticities():
    """ACF with a translog on DGP1 made translog (the true mean capital elasticity becomes 0.50)
    and on plain DGP1 (0.40). Over 8 replications (seeds 200-207) the mean elasticities had
    Monte Carlo sd 0.011 (labour) and 0.020 (capital) and bias at most 0.006; tolerances 0.045
    and 0.06 are about 4 and 3 sd, and 0.06 < 0.10 separates the two designs. The coefficient
    on l^2 had sd 0.016 (truth -0.05 or 0): within 0.065 (4 sd). The capital second-order
    terms are weakly identified in this design (sd 0.07-0.08), so only the slow test checks
    them, on the replication mean."""
    for second_order in (ACF_TRANSLOG, (0.0, 0.0, 0.0)):
        panel = simulate_acf(1, seed=200, translog=second_order)
        row = tfp.estimate(panel, method="acf", by=None, form="translog", write_tfp=False).estimates.loc["all"]
        labour, capital = _true_mean_elasticities(panel, second_order)
        assert row.elasticity_employees == pytest.approx(labour, abs=0.045), second_order
        assert row.elasticity_capital == pytest.approx(capital, abs=0.06), second_order
        assert row["beta_employees^2"] == pytest.approx(second_order[0], abs=0.065), second_order


@pytest.mark.slow
def test_acf_translog_monte_carlo_coefficients():
    """Mean over 10 replications of every translog coefficient within 4 Monte Carlo standard
    errors of the truth (translog DGP) or of zero for the second-order terms (Cobb-Douglas DGP)."""
    for second_order in (ACF_TRANSLOG, (0.0, 0.0, 0.0)):
        draws = []
        for seed in range(10):
            panel = simulate_acf(1, seed=300 + seed, translog=second_order)
            res = tfp.estimate(panel, method="acf", by=None, form="translog", write_tfp=False)
            draws.append(res.estimates.loc["all", [f"beta_{t}" for t in res.terms]].to_numpy(dtype=float))
        draws = np.array(draws)
        b_ll, b_kk, b_lk = second_order
        truth = np.array([0.6, 0.4, b_ll, b_lk, b_kk])      # terms: l, k, l^2, l*k, k^2
        error = np.abs(draws.mean(axis=0) - truth)
        assert (error < 4 * draws.std(axis=0, ddof=1) / np.sqrt(len(draws)) + 0.01).all(), (second_order, error)


# ----------------------------------------------------------------------------- fixtures
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="prodest fixtures (/work/shared/data/prodest) absent")


def _dgp3():
    d = pd.read_stata(FIXTURES / "f_DGP3_replica.dta")
    return d.rename(columns={"firm": "firm_id", "period": "year", "lny": "value_added", "lnk": "capital",
                             "lnl": "employees", "lnm1": "intermediate_input"}).astype({"firm_id": int, "year": int})


@needs_fixtures
def test_acf_on_dgp3_replica_near_truth():
    # 5,000 firms x 10 years: sampling sd of ACF is about 0.01 here, tolerance 0.03
    res = tfp.estimate(_dgp3(), method="acf", by=None, inputs=tfp.Inputs(logged=True))
    row = res.estimates.loc["all"]
    assert row.beta_employees == pytest.approx(0.6, abs=0.03)
    assert row.beta_capital == pytest.approx(0.4, abs=0.03)


@needs_fixtures
def test_bootstrap_chilean_is_executor_independent():
    c = pd.read_csv(FIXTURES / "prodest_chilean_sample.csv").rename(columns={
        "id": "firm_id", "log_y": "value_added", "log_k": "capital", "log_materials": "intermediate_input",
        "log_investment": "investment"})
    options = dict(by=None, inputs=tfp.Inputs(logged=True, free=["log_lab1", "log_lab2"]),
                   proxy_settings=tfp.ProxySettings(starts=1))
    a = tfp.bootstrap(c, "op", reps=4, executor=SerialExecutor(), seed=7, **options)
    b = tfp.bootstrap(c, "op", reps=4, seed=7, executor=SerialExecutor(), **options)
    pd.testing.assert_frame_equal(a.draws, b.draws)
    assert not a.failed and (a.standard_errors > 0).all(axis=None)
    assert a.wide().filter(like="se_").notna().all(axis=None)


def test_acf_bootstrap_starts_at_the_point_estimate_and_reports_robust_errors():
    """The Chilean panel's two labour inputs are weakly identified: ACF's exactly identified moments have
    distant exact roots. Replications start from the point estimate (one local search), so most stay on its
    root; the IQR-based errors are unmoved by the few that do not."""
    c = pd.read_csv(FIXTURES / "prodest_chilean_sample.csv").rename(columns={
        "id": "firm_id", "log_y": "value_added", "log_k": "capital", "log_materials": "intermediate_input",
        "log_investment": "investment"})
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        boot = tfp.bootstrap(c, "acf", reps=20, executor=SerialExecutor(), seed=0, by=None,
                             inputs=tfp.Inputs(logged=True, free=["log_lab1", "log_lab2"]))
    # replications outside the parameter space are counted in one warning, not one each
    flagged = [str(w.message) for w in caught if issubclass(w.category, tfp.TFPWarning) and "bootstrap" in
               str(w.message)]
    outside = boot.draws.loc[~boot.draws["plausible"].astype(bool), "rep"].nunique()
    assert outside >= 1  # with this seed one replication reaches a root with a negative elasticity (measured)
    assert len(flagged) == 1 and flagged[0].startswith(f"acf bootstrap: {outside} of 20 replications")
    others = [w for w in caught if issubclass(w.category, tfp.TFPWarning) and "bootstrap" not in str(w.message)]
    assert len(others) <= 1  # at most the point estimate's own flag, none from the replications
    cols = ["beta_log_lab1", "beta_log_lab2", "beta_capital"]
    point = boot.point.estimates[cols].iloc[0]
    draws = boot.draws[cols]
    # with three starts and the most-persistent-root rule, 47 of 100 replications ended more than 1 away
    assert ((draws - point).abs().max(axis=1) > 1).mean() <= 0.2
    assert (draws.median() - point).abs().max() < 0.15
    quartiles = draws.quantile([0.25, 0.75])
    expected = (quartiles.loc[0.75] - quartiles.loc[0.25]) / 1.349
    pd.testing.assert_series_equal(boot.robust_standard_errors[cols].iloc[0], expected, check_names=False)
    assert (expected < 0.4).all() and (expected > 0.01).all()


# ----------------------------------------------------------------------------- synthetic ASIE truth
@pytest.fixture(scope="module")
def synthetic_truth():
    import sez.data

    return sez.data.synthetic(n_firms=4000, seed=3, mess="none").truth


def test_op_and_acf_near_synthetic_truth(synthetic_truth):
    """Pooled estimates on 31,000 firm-years.

    The generator's productivity has a firm-specific mean (mu_i), which the first-order
    Markov assumption of OP/ACF ignores; it biases b_k up by about 0.07 (0.42 found), so
    the tolerance is 0.1 on b_k and 0.03 on b_l (found within 0.01).
    """
    beta_k, beta_l = synthetic_truth.attrs["beta_k"], synthetic_truth.attrs["beta_l"]
    for method in ("op", "acf"):
        row = tfp.estimate(synthetic_truth, method=method, by=None,
                           write_tfp=False).estimates.loc["all"]
        assert row.beta_employees == pytest.approx(beta_l, abs=0.03), method
        assert row.beta_capital == pytest.approx(beta_k, abs=0.1), method


def test_lp_keeps_the_root_in_the_parameter_space(synthetic_truth):
    """LP where its assumptions hold: materials a function of capital and productivity alone.

    The moment E[xi k_t] = 0 has a second root at b_k ~ -0.9, where phi - b_k k is mostly
    capital (implied persistence 0.99); the most-persistent-root rule used to pick it
    (b_k -0.86 to -0.93 in four industries of the benchmark design). The estimate must be the
    root in the parameter space, as OP's (pooled OP and LP both found 0.42 here; truth 0.35 plus
    the firm-mean bias of test_op_and_acf_near_synthetic_truth), with no flag raised.
    """
    panel = synthetic_truth.assign(intermediate_input=np.exp(1.0 + 0.5 * np.log(synthetic_truth.capital)
                                                             + 1.5 * synthetic_truth.ln_tfp))
    lp = tfp.estimate(panel, method="lp", by=None, write_tfp=False)
    row = lp.estimates.loc["all"]
    op = tfp.estimate(panel, method="op", by=None, write_tfp=False).estimates.loc["all"]
    assert row.beta_employees == pytest.approx(panel.attrs["beta_l"], abs=0.03)
    assert row.beta_capital == pytest.approx(op.beta_capital, abs=0.05)
    assert row.beta_capital == pytest.approx(panel.attrs["beta_k"], abs=0.1)
    assert row.plausible and not row.first_stage_collapse
    starts = lp.diagnostics["all"]["starts"]
    assert all({"plausible", "sum_of_squares", "persistence"} <= set(t) for t in starts)


def test_lp_flags_the_first_stage_collapse_on_the_synthetic_dgp(synthetic_truth):
    """The generator orders materials for the planned output of the realised labour
    (M = ALPHA_M / (1 - ALPHA_M) VA_planned), so given capital and materials labour carries no
    information on y: y - m is a constant plus noise and LP's first-stage labour coefficient is 0
    (0.00 found; truth 0.6), as Ackerberg, Caves and Frazer (2015) show. No root of LP's moment is
    near the truth (measured by industry: 0.65-0.80 and -5.4); the distant negative one, chosen
    before by the persistence rule, gave the benchmark's median b_k of -5. The estimator must flag
    the collapse with a TFPWarning and report the root in the parameter space."""
    with pytest.warns(tfp.TFPWarning, match="first-stage coefficient of employees"):
        lp = tfp.estimate(synthetic_truth, method="lp", by=None, write_tfp=False)
    row = lp.estimates.loc["all"]
    assert abs(row.beta_employees) < 0.05 and row.first_stage_collapse
    assert 0 < row.beta_capital < 1.5
    acf = tfp.estimate(synthetic_truth, method="acf", by=None, write_tfp=False).estimates.loc["all"]
    assert acf.plausible and not acf.first_stage_collapse
    assert acf.beta_employees == pytest.approx(synthetic_truth.attrs["beta_l"], abs=0.03)


def test_proxy_in_other_units_than_output(synthetic_truth):
    """Harmonisation with deflators makes output real but leaves investment (OP's proxy) at
    current prices, so the inversion omega = h(k, i) shifts by year with the price index
    (1.00 in 1998, 1.37 in 2011). Without year effects OP's capital coefficient went to 4.0
    (truth 0.35, 0.42 on real investment); with them (the default) in the control function
    and in the law of motion, any year-specific units of the proxy or output are absorbed."""
    nominal_proxy = synthetic_truth.assign(investment=synthetic_truth.investment * synthetic_truth.price_index)
    real = tfp.estimate(synthetic_truth, method="op", by=None, write_tfp=False).estimates.loc["all"]
    for panel in (nominal_proxy,
                  nominal_proxy.assign(value_added=nominal_proxy.value_added * nominal_proxy.price_index)):
        row = tfp.estimate(panel, method="op", by=None, write_tfp=False).estimates.loc["all"]
        assert row.beta_employees == pytest.approx(real.beta_employees, abs=0.01)
        assert row.beta_capital == pytest.approx(real.beta_capital, abs=0.03)
    off = tfp.estimate(nominal_proxy, method="op", by=None, write_tfp=False,
                       proxy_settings=tfp.ProxySettings(year_effects=False)).estimates
    assert off.loc["all"].beta_capital > 1.0     # the failure the year effects remove


def test_acf_by_industry_keeps_roots_in_the_parameter_space(synthetic_truth):
    """By industry the ACF moments also have roots with b_k < 0 (implied productivity mostly
    capital, persistence 0.99) that the persistence rule preferred; with the parameter space
    first no industry's capital coefficient is negative."""
    res = tfp.estimate(synthetic_truth, method="acf", by="cic2", min_obs=200, small="skip", write_tfp=False)
    est = res.estimates
    assert (est.beta_capital > 0).all() and est.plausible.all()
    assert est.beta_capital.median() == pytest.approx(synthetic_truth.attrs["beta_k"], abs=0.1)


def test_tables_and_trimming(synthetic_truth):
    res = tfp.estimate(synthetic_truth, method="op", by="cic2", min_obs=20, trim=0.005)
    per_zone = res.panel.groupby("sez").ln_tfp.apply(lambda s: s.isna().mean())
    assert ((per_zone > 0.008) & (per_zone < 0.012)).all()     # 0.5 % each tail, within each zone
    assert res.trimmed == res.panel.ln_tfp.isna().sum()
    t15 = productivity.tfp_table(res.panel)
    assert list(t15.index) == ["Non-SEZ", "SEZ"] and "skewness" in t15
    t12 = productivity.production_table(synthetic_truth)
    assert t12.loc["Capital", "mean"] == pytest.approx(np.log(synthetic_truth.capital).mean())
    t13 = productivity.elasticity_table(synthetic_truth, methods=("ols", "fe"))
    assert ("OLS", "SEZ") in t13.columns and "t_capital" in t13.index
    assert "beta_capital" in res.estimates and "Olley-Pakes" in res.summary()


# ----------------------------------------------------------------------------- bad input
def test_bad_input_names_column_and_industry():
    panel = production_panel()
    with pytest.raises(tfp.TFPInputError, match="'investment'"):
        tfp.estimate(panel, method="op")
    bad = panel.assign(investment=1.0)
    bad.loc[3, "capital"] = 0.0
    with pytest.raises(tfp.TFPInputError, match="'capital'.*non-positive"):
        tfp.estimate(bad, method="ols")
    ok = tfp.estimate(bad, method="ols", nonpositive="drop")
    assert ok.dropped == {"capital": 1}
    tiny = panel.assign(investment=1.0, cic2=np.where(panel.firm_id == 0, "99", panel.cic2))
    with pytest.raises(tfp.TFPInputError, match="industry '99'"):
        tfp.estimate(tiny, method="ols", by="cic2")
    skipped = tfp.estimate(tiny, method="ols", by="cic2", small="skip")
    assert "99" not in skipped.estimates.index and "skipped" in skipped.diagnostics["99"]
    with pytest.raises(ValueError, match="form must be one of"):
        tfp.estimate(panel, method="ols", form="ces")
    with pytest.raises(ValueError, match="vcov must be"):
        tfp.estimate(panel, method="wrdg", vcov="hac")
    aged = panel.assign(age=np.where(panel.index == 7, np.nan, 3.0 + panel.firm_id % 20))
    with pytest.raises(tfp.TFPInputError, match="'age' is missing or non-finite in 1 row"):
        tfp.estimate(aged, method="ols", inputs=tfp.Inputs(state=["capital", "age"], levels="age"))
    aged.loc[7, "age"] = 0.0                       # in levels, zero is a valid age
    res = tfp.estimate(aged, method="ols", by="cic2", inputs=tfp.Inputs(state=["capital", "age"], levels="age"))
    row = res.estimates.loc["13"]
    assert row.returns_to_scale == pytest.approx(row.beta_employees + row.beta_capital)   # age is no input share


def test_gross_output_and_exit_correction_run(synthetic_truth):
    """Smoke test of the gross-output forms and the OP survival probit (no truth asserted
    for gross output: with a flexible input the Cobb-Douglas gross-output function is not
    identified by these moments; Gandhi, Navarro and Rivers, 2020)."""
    gross = tfp.estimate(synthetic_truth, method="acf", inputs=tfp.Inputs(output="gross"), by=None, write_tfp=False)
    assert gross.inputs == ["employees", "capital", "intermediate_input"]
    assert np.isfinite(gross.estimates.filter(like="beta_").to_numpy()).all()
    op = tfp.estimate(synthetic_truth, method="op", by=None, proxy_settings=tfp.ProxySettings(exit_correction=True),
                      write_tfp=False)
    assert op.estimates.loc["all", "beta_employees"] == pytest.approx(0.6, abs=0.03)
    with pytest.raises(ValueError, match="exit_correction"):
        tfp.estimate(synthetic_truth, method="acf", proxy_settings={"exit_correction": True})


# ----------------------------------------------------------------------------- Wooldridge GMM standard errors
def _wooldridge_linear_system(panel, rho, gamma=None, degree=3):
    """The moment conditions of Wooldridge (2009) written out here, independently of sez.tfp,
    as a stacked linear IV problem: rows (equation 1 | equation 2) of every firm-year with a
    previous year, regressors (a1, a2, b_l, b_k, gamma) at a fixed rho, block-diagonal
    instruments (1, l, c(k, m) | 1, k, l_{t-1}, c(k, m)_{t-1}).

    With ``gamma`` given, one more regressor, the derivative of equation 2 in rho
    (``c_{t-1} gamma``), and the dependent variable shifted by rho times it: the
    linearisation whose linear-GMM covariance is the nonlinear one, rho included.
    """
    d = panel.sort_values(["firm_id", "year"]).reset_index(drop=True)
    y, l, k, m = (np.log(d[c]).to_numpy() for c in ("value_added", "employees", "capital", "intermediate_input"))
    c = tfp.polynomial(np.column_stack([k, m]), degree)[:, 1:]
    firm, year = d.firm_id.to_numpy(), d.year.to_numpy()
    now = np.flatnonzero((firm[1:] == firm[:-1]) & (year[1:] == year[:-1] + 1)) + 1
    lag = now - 1
    n = len(now)
    one, zero = np.ones((n, 1)), np.zeros((n, 1))
    x = np.column_stack([l[now], k[now]])
    eq1 = np.column_stack([one, zero, x, c[now]])
    eq2 = np.column_stack([zero, one, x, rho * c[lag]])
    z1 = np.column_stack([one, l[now], c[now]])
    z2 = np.column_stack([one, k[now], l[lag], c[lag]])
    Z = np.block([[z1, np.zeros((n, z2.shape[1]))], [np.zeros((n, z1.shape[1])), z2]])
    R = np.vstack([eq1, eq2])
    Y = np.concatenate([y[now], y[now]])
    if gamma is not None:
        d_rho = np.concatenate([np.zeros(n), c[lag] @ gamma])
        R = np.column_stack([R, d_rho])
        Y = Y + rho * d_rho
    return Y, R, Z, np.concatenate([firm[now], firm[now]]), np.tile(np.arange(n), 2)


@pytest.mark.parametrize("vcov", [{"CRV1": "firm_id"}, "hetero"])
def test_wooldridge_standard_errors_match_linearmodels(vcov):
    """Analytic GMM standard errors of WRDG against linearmodels' IVGMM on the same moments.

    Given rho and the weight matrix, the estimator is linear GMM; linearmodels must return
    the same coefficients (1e-8: the same closed form) and, with clusters by firm (or by
    firm-year for vcov='hetero', both equations of a firm-year one unit), the same
    sandwich standard errors taking rho as known (relative 1e-6, rounding of different
    algebra). Then the linearised problem with rho as a regressor: its linear-GMM solution
    is the estimate itself only if the estimate is a stationary point of the GMM objective
    in all parameters (rho to the scalar search's tolerance, so 1e-6), and its covariance is
    the one with rho estimated (relative 1e-4).
    """
    linearmodels = pytest.importorskip("linearmodels", reason="linearmodels is the reference for GMM covariances")
    panel = simulate_acf(3, 0.2, n_firms=300, seed=11)     # materials with error: not collinear with (l, k)
    res = tfp.estimate(panel, method="wrdg", by=None, write_tfp=False, vcov=vcov)
    row, se, diag = res.estimates.loc["all"], res.standard_errors.loc["all"], res.diagnostics["all"]
    Y, R, Z, firm, firm_year = _wooldridge_linear_system(panel, row.rho)
    clusters = firm_year if vcov == "hetero" else firm
    fixed = linearmodels.IVGMM(Y, None, R, Z).fit(iter_limit=1, initial_weight=diag["weight_matrix"],
                                                  cov_type="clustered", clusters=clusters)
    b = np.asarray(fixed.params)[2:4]
    np.testing.assert_allclose(b, [row.beta_employees, row.beta_capital], atol=1e-8)
    np.testing.assert_allclose(np.asarray(fixed.std_errors)[2:4], diag["se_rho_known"], rtol=1e-6)
    gamma = np.asarray(fixed.params)[4:]
    Y, R, Z, firm, firm_year = _wooldridge_linear_system(panel, row.rho, gamma)
    full = linearmodels.IVGMM(Y, None, R, Z).fit(iter_limit=1, initial_weight=diag["weight_matrix"],
                                                 cov_type="clustered", clusters=clusters)
    params, errors = np.asarray(full.params), np.asarray(full.std_errors)
    np.testing.assert_allclose(params[[2, 3, -1]], [row.beta_employees, row.beta_capital, row.rho], atol=1e-6)
    np.testing.assert_allclose(errors[[2, 3, -1]], [se.employees, se.capital, se.rho], rtol=1e-4)
    assert diag["j_df"] == Z.shape[1] - R.shape[1]


# ----------------------------------------------------------------------------- ln_tfp rows and paper tables
def test_ln_tfp_is_written_where_the_proxy_is_not_usable():
    """Zero investment leaves a firm-year out of Olley-Pakes estimation (the inversion needs
    i > 0) but not out of productivity: ln_tfp = y - b_l l - b_k k there too. Rows without
    usable output or inputs get none."""
    panel = production_panel(n_firms=200)
    rng = np.random.default_rng(4)
    panel["investment"] = np.exp(rng.normal(0, 1, len(panel))) * (rng.random(len(panel)) > 0.2)
    expected_logs = {c: np.log(panel[c].to_numpy()) for c in ("value_added", "employees", "capital")}
    panel.loc[5, "employees"] = 0.0
    res = tfp.estimate(panel, method="op", by=None, nonpositive="drop", proxy_settings=tfp.ProxySettings(starts=1))
    zero = (panel.investment == 0).to_numpy()
    assert res.dropped == {"investment": int(zero.sum()), "employees": 1}
    row = res.estimates.loc["all"]
    expected = (expected_logs["value_added"] - row.beta_employees * expected_logs["employees"]
                - row.beta_capital * expected_logs["capital"])
    out = res.panel.ln_tfp.to_numpy()
    usable = np.arange(len(panel)) != 5
    assert np.isnan(out[5]) and np.isfinite(out[usable]).all()
    np.testing.assert_allclose(out[zero & usable], expected[zero & usable], atol=1e-10)
    assert row.n_obs == (~zero & usable).sum()


def test_elasticity_table_has_the_papers_rows(synthetic_truth):
    """Tables 13-14: constant, R-squared and adjusted R-squared for OLS and FE (FE as Stata's
    xtreg, fe: constant = mean(y) - mean(x) b, within R-squared, adjusted for the firm
    effects), and the OP age row (age a state variable in levels)."""
    data = synthetic_truth[synthetic_truth.firm_id.isin(synthetic_truth.firm_id.unique()[:1200])]
    table = productivity.elasticity_table(data, methods=("ols", "fe", "op"),
                                          proxy_settings=tfp.ProxySettings(starts=1))
    logs = pd.DataFrame({"y": np.log(data.value_added), "l": np.log(data.employees), "k": np.log(data.capital),
                         "firm_id": data.firm_id})
    ols = smf.ols("y ~ l + k", logs).fit()
    overall = table[("OLS", "Overall")]
    assert overall["constant"] == pytest.approx(ols.params["Intercept"], abs=1e-8)
    assert overall["t_constant"] == pytest.approx(ols.tvalues["Intercept"], rel=1e-6)
    assert overall["r2_adj"] == pytest.approx(ols.rsquared_adj, abs=1e-10)
    fe = table[("FE", "Overall")]
    means = logs[["y", "l", "k"]].mean()
    assert fe["constant"] == pytest.approx(means.y - fe.employees * means.l - fe.capital * means.k, abs=1e-8)
    within = logs[["y", "l", "k"]] - logs.groupby("firm_id")[["y", "l", "k"]].transform("mean")
    ssr = ((within.y - fe.employees * within.l - fe.capital * within.k) ** 2).sum()
    r2 = 1 - ssr / (within.y ** 2).sum()
    n, firms = len(logs), logs.firm_id.nunique()
    assert fe["r2"] == pytest.approx(r2, abs=1e-10)
    assert fe["r2_adj"] == pytest.approx(1 - (1 - r2) * (n - 1) / (n - 2 - firms), abs=1e-10)
    assert np.isfinite(table.loc["age", [("OP", "Overall"), ("OP", "SEZ"), ("OP", "nSEZ")]]).all()
    assert np.isnan(table.loc["age", ("OLS", "Overall")])
    assert "age" not in productivity.elasticity_table(data, methods=("op",), op_age=False,
                                                      proxy_settings={"starts": 1}).index
    with pytest.raises(tfp.TFPInputError, match="'age' or 'birth_year'"):
        productivity.elasticity_table(data.drop(columns=["birth_year"]), methods=("op",), op_age=True)
    assert productivity.production_table(data).loc["age", "mean"] == pytest.approx((data.year - data.birth_year).mean())
