"""Tests of sez.tfp: production-function estimators and TFP tables.

Reference numbers: statsmodels for OLS/FE; a Monte Carlo DGP in the manner of
Ackerberg, Caves and Frazer (2015, DGP1) simulated here; the prodest fixtures
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
from sez.parallel import SerialExecutor

FIXTURES = Path("/work/shared/data/prodest")


# ----------------------------------------------------------------------------- Monte Carlo DGP
def simulate_acf_dgp1(n_firms=1000, periods=100, keep=10, seed=0):
    """ACF (2015) DGP1-style panel in levels (value added, Leontief materials).

    beta_l = 0.6, beta_k = 0.4; omega AR(1) with rho = 0.7 and stationary sd 0.3,
    evolving in two half-period steps; labour chosen at t - 1/2 from
    E[omega_t | omega_{t-1/2}], capital and the log wage (AR(1), rho 0.3, sd 0.1);
    investment chosen at t from the expected discounted marginal value of capital
    (discount 0.95, depreciation 0.2) with a firm-specific quadratic adjustment cost;
    output error sd 0.1; materials proportional to planned output (Leontief), so
    m = beta_l l + beta_k k + omega + const with no measurement error.
    """
    rng = np.random.default_rng(seed)
    beta_l, beta_k, rho, sd_omega, delta, discount = 0.6, 0.4, 0.7, 0.3, 0.2, 0.95
    rho_w, sd_w = 0.3, 0.1
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
        expected_omega = np.sqrt(rho) * omega_half
        labour = c * (np.log(beta_l) + beta_k * k + expected_omega + 0.5 * half_sd ** 2 - wage)
        omega = np.sqrt(rho) * omega_half + rng.normal(0, half_sd, n_firms)
        planned = beta_l * labour + beta_k * k + omega
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
                                      "intermediate_input": np.exp(planned), "investment": investment}))
        k = np.log((1 - delta) * np.exp(k) + investment)
    return pd.concat(rows, ignore_index=True)


def _panel(n_firms=300, years=8, seed=1):
    """Small clean panel with gaps for OLS/FE comparisons."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_firms):
        years_f = np.sort(rng.choice(np.arange(2000, 2000 + years + 2), years, replace=False))
        a = rng.normal()
        k = rng.normal(8, 1, years)
        l = 0.5 * k + rng.normal(0, 0.5, years) + 0.3 * a
        rows.append(pd.DataFrame({"firm_id": f, "year": years_f, "capital": np.exp(k), "employees": np.exp(l),
                                  "value_added": np.exp(1 + 0.35 * k + 0.6 * l + a + rng.normal(0, 0.2, years)),
                                  "cic2": "13" if f % 2 else "14", "sez": bool(f % 3 == 0)}))
    return pd.concat(rows, ignore_index=True)


# ----------------------------------------------------------------------------- OLS and FE
def test_ols_and_fe_match_statsmodels():
    # same normal equations, so agreement to rounding (1e-8)
    panel = _panel()
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


def test_lags_never_cross_gaps():
    firm = np.array([1, 1, 1, 2, 2])
    year = np.array([2000, 2001, 2003, 2001, 2002])
    assert tfp._lag_index(firm, year).tolist() == [-1, 0, -1, -1, 3]


# ----------------------------------------------------------------------------- ACF Monte Carlo
def test_acf_recovers_dgp1_and_lp_collapses():
    """Three DGP1 replications of 1,000 firms x 10 years.

    Over 12 replications (seeds 0-11) ACF gave mean (0.60, 0.40) within 0.01 and
    per-replication deviations below 0.04; the tolerance 0.06 is about 4 Monte Carlo
    standard deviations. Default starts: the root selection must find the right root. LP's labour coefficient collapses to zero because
    materials are an exact function of (l, k, omega) (Ackerberg, Caves and Frazer, 2015).
    """
    for seed in range(3):
        panel = simulate_acf_dgp1(seed=seed)
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
    panel = simulate_acf_dgp1(seed=0)
    res = tfp.estimate(panel, method="acf", by=None, starts=3)
    starts = res.diagnostics["all"]["starts"]
    spurious = [t for t in starts if t["estimate"][0] > 0.9]
    assert spurious and all(t["persistence"] < 0.3 and t["objective"] < 1e-8 for t in spurious)
    assert res.estimates.loc["all"].beta_employees == pytest.approx(0.6, abs=0.06)
    chosen = min(starts, key=lambda t: abs(t["estimate"][0] - res.estimates.loc["all"].beta_employees))
    assert chosen["persistence"] == pytest.approx(0.7, abs=0.1)
    assert "start_spread" in res.estimates


# ----------------------------------------------------------------------------- fixtures
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="prodest fixtures (/work/shared/data/prodest) absent")


def _dgp3():
    d = pd.read_stata(FIXTURES / "f_DGP3_replica.dta")
    return d.rename(columns={"firm": "firm_id", "period": "year", "lny": "value_added", "lnk": "capital",
                             "lnl": "employees", "lnm1": "intermediate_input"}).astype({"firm_id": int, "year": int})


@needs_fixtures
def test_acf_on_dgp3_replica_near_truth():
    # 5,000 firms x 10 years: sampling sd of ACF is about 0.01 here, tolerance 0.03
    res = tfp.estimate(_dgp3(), method="acf", by=None, logged=True)
    row = res.estimates.loc["all"]
    assert row.beta_employees == pytest.approx(0.6, abs=0.03)
    assert row.beta_capital == pytest.approx(0.4, abs=0.03)


@needs_fixtures
def test_bootstrap_chilean_is_executor_independent():
    c = pd.read_csv(FIXTURES / "prodest_chilean_sample.csv").rename(columns={
        "id": "firm_id", "log_y": "value_added", "log_k": "capital", "log_materials": "intermediate_input",
        "log_investment": "investment"})
    options = dict(by=None, logged=True, free=["log_lab1", "log_lab2"], starts=1)
    a = tfp.bootstrap(c, "op", reps=4, executor=SerialExecutor(), seed=7, **options)
    b = tfp.bootstrap(c, "op", reps=4, seed=7, executor=SerialExecutor(), **options)
    pd.testing.assert_frame_equal(a.draws, b.draws)
    assert not a.failed and (a.standard_errors > 0).all(axis=None)
    assert a.to_frame().filter(like="se_").notna().all(axis=None)


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


def test_tables_and_trimming(synthetic_truth):
    res = tfp.estimate(synthetic_truth, method="op", by="cic2", min_obs=20, trim=0.005)
    per_zone = res.panel.groupby("sez").ln_tfp.apply(lambda s: s.isna().mean())
    assert ((per_zone > 0.008) & (per_zone < 0.012)).all()     # 0.5 % each tail, within each zone
    assert res.trimmed == res.panel.ln_tfp.isna().sum()
    t15 = tfp.tfp_table(res.panel)
    assert list(t15.index) == ["Non-SEZ", "SEZ"] and "skewness" in t15
    t12 = tfp.production_table(synthetic_truth)
    assert t12.loc["Capital", "mean"] == pytest.approx(np.log(synthetic_truth.capital).mean())
    t13 = tfp.elasticity_table(synthetic_truth, methods=("ols", "fe"))
    assert ("OLS", "SEZ") in t13.columns and "t_capital" in t13.index
    assert "beta_capital" in res.summary()


# ----------------------------------------------------------------------------- bad input
def test_bad_input_names_column_and_industry():
    panel = _panel()
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
        tfp.estimate(tiny, method="ols")
    skipped = tfp.estimate(tiny, method="ols", small="skip")
    assert "99" not in skipped.estimates.index and "skipped" in skipped.diagnostics["99"]


def test_gross_output_and_exit_correction_run(synthetic_truth):
    """Smoke test of the gross-output forms and the OP survival probit (no truth asserted
    for gross output: with a flexible input the Cobb-Douglas gross-output function is not
    identified by these moments; Gandhi, Navarro and Rivers, 2020)."""
    gross = tfp.estimate(synthetic_truth, method="acf", output="gross", by=None, write_tfp=False)
    assert gross.inputs == ["employees", "capital", "intermediate_input"]
    assert np.isfinite(gross.estimates.filter(like="beta_").to_numpy()).all()
    op = tfp.estimate(synthetic_truth, method="op", by=None, exit_correction=True, write_tfp=False)
    assert op.estimates.loc["all", "beta_employees"] == pytest.approx(0.6, abs=0.03)
    with pytest.raises(ValueError, match="exit_correction"):
        tfp.estimate(synthetic_truth, method="acf", exit_correction=True)
