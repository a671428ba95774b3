"""The second stage's criterion of OP and LP (``ProxySettings(criterion=...)``) and the pooled default of
``sez.tfp.estimate``.

Reference numbers: Table 1 of the vignette of R's ``prodest`` 0.1.1 (Rovigatti, 2017, in the package's
``inst/doc``), estimated on its Chilean panel (the fixture prodest_chilean_sample.csv, 2,544 plant-years),
printed to three decimals; and the criterion of ``prodest`` (Rovigatti and Mollisi, 2018; the
value-added form of Stata's ``levpet``) rebuilt here from raw powers and minimised by a bounded scalar
search.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from sez import tfp
from sez.testing import production_panel

CHILEAN = Path("/work/shared/data/prodest/prodest_chilean_sample.csv")
needs_chilean = pytest.mark.skipif(not CHILEAN.is_file(), reason="prodest fixture (/work/shared/data/prodest) absent")

#: prodest's settings in its vignette: a degree-2 first stage, a cubic law of motion, no year effects
PRODEST = tfp.ProxySettings(degree=2, markov_degree=3, year_effects=False, criterion="prodest")
#: the same for ACF, whose one criterion (GMM, the law of motion fitted on productivity) is prodest's
PRODEST_ACF = tfp.ProxySettings(degree=2, markov_degree=3, year_effects=False)
PROXY = {"op": "log_investment", "lp": "log_materials", "acf": "log_materials"}
FREE = ["log_lab1", "log_lab2"]


def chilean() -> pd.DataFrame:
    # the plant and year columns under other names than firm_id and year: unit= and time= name them
    return pd.read_csv(CHILEAN).rename(columns={"id": "plant", "year": "period"})


def chilean_estimate(method: str, settings: tfp.ProxySettings) -> pd.Series:
    res = tfp.estimate(chilean(), method, unit="plant", time="period", proxy_settings=settings, write_tfp=False,
                       inputs=tfp.Inputs(output="log_y", free=FREE, state="log_k", proxy=PROXY[method], logged=True))
    return res.estimates.loc["all"]


@needs_chilean
@pytest.mark.parametrize(("method", "settings", "printed"), [("op", PRODEST, (0.314, 0.256, 0.168)),
                                                              ("lp", PRODEST, (0.199, 0.169, 0.117)),
                                                              ("acf", PRODEST_ACF, (0.646, 0.644, 0.251))])
def test_prodest_settings_reproduce_the_vignette(method, settings, printed):
    row = chilean_estimate(method, settings)
    estimated = row[["beta_log_lab1", "beta_log_lab2", "beta_log_k"]].to_numpy(dtype=float)
    # to the digits printed: each within half a unit of the third decimal
    assert np.abs(estimated - np.array(printed)).max() <= 0.0005, estimated
    assert row.n_obs == 2544 and row.n_second_stage == 1944


def prodest_criterion(data: pd.DataFrame, proxy: str, year_effects: bool):
    """prodest's second-stage criterion, from raw powers: the first stage regresses log value added on the
    labour inputs and a complete degree-2 polynomial in (k, proxy); the law of motion regresses
    omega = phi - b_k k on (1, omega_lag, omega_lag^2, omega_lag^3), and the criterion is the sum of squares of
    y - b_l l - b_k k less that fit. Year effects, when asked for, enter both regressions as indicators.
    Returns the labour coefficients and the criterion as a function of b_k."""
    d = data.sort_values(["plant", "period"]).reset_index(drop=True)
    k, p = d["log_k"].to_numpy(), d[proxy].to_numpy()
    years = pd.get_dummies(d["period"], drop_first=True, dtype=float).to_numpy()
    first = np.column_stack([d[FREE].to_numpy(), np.ones(len(d)), k, p, k * k, k * p, p * p]
                            + ([years] if year_effects else []))
    coef = np.linalg.lstsq(first, d["log_y"].to_numpy(), rcond=None)[0]
    beta_free = coef[:2]
    phi = first[:, 2:] @ coef[2:]
    net = d["log_y"].to_numpy() - d[FREE].to_numpy() @ beta_free
    previous = d[["plant", "period"]].assign(period=d["period"] + 1, lag=np.arange(len(d)))
    lag = d[["plant", "period"]].merge(previous, how="left", on=["plant", "period"])["lag"].to_numpy()
    now = np.flatnonzero(~np.isnan(lag))
    lag = lag[now].astype(int)
    year_now = pd.get_dummies(d["period"].to_numpy()[now], drop_first=True, dtype=float).to_numpy()

    def criterion(b_k: float) -> float:
        omega, omega_lag = phi[now] - b_k * k[now], phi[lag] - b_k * k[lag]
        basis = np.column_stack([omega_lag ** 0, omega_lag, omega_lag ** 2, omega_lag ** 3]
                                + ([year_now] if year_effects else []))
        fitted = basis @ np.linalg.lstsq(basis, omega, rcond=None)[0]
        innovation = net[now] - b_k * k[now] - fitted
        return float(innovation @ innovation)

    return beta_free, criterion


@needs_chilean
@pytest.mark.parametrize("year_effects", [False, True])
@pytest.mark.parametrize("method", ["op", "lp"])
def test_prodest_criterion_is_minimised(method, year_effects):
    settings = tfp.ProxySettings(degree=2, markov_degree=3, year_effects=year_effects, criterion="prodest")
    row = chilean_estimate(method, settings)
    beta_free, criterion = prodest_criterion(chilean(), PROXY[method], year_effects)
    best = minimize_scalar(criterion, bounds=(-0.5, 1.0), method="bounded", options={"xatol": 1e-8})
    assert row[["beta_log_lab1", "beta_log_lab2"]].to_numpy(dtype=float) == pytest.approx(beta_free, abs=1e-8)
    assert row.beta_log_k == pytest.approx(best.x, abs=1e-4)
    # and the minimum is not shared by the default criterion's estimate: the criteria differ
    default = tfp.ProxySettings(degree=2, markov_degree=3, year_effects=year_effects)
    assert criterion(chilean_estimate(method, default).beta_log_k) > best.fun + 1e-3


@needs_chilean
def test_the_default_criteria_are_kept_and_differ_from_prodest():
    """OP's default stays nonlinear least squares and LP's the moment form; on the Chilean panel both give
    capital coefficients away from prodest's (0.157 and 0.456 against 0.168 and 0.117, measured)."""
    base = tfp.ProxySettings(degree=2, markov_degree=3, year_effects=False)
    for method, default in tfp.DEFAULT_CRITERION.items():
        if method == "acf":
            continue
        implicit = chilean_estimate(method, base)
        explicit = chilean_estimate(method, tfp.ProxySettings(degree=2, markov_degree=3, year_effects=False,
                                                              criterion=default))
        assert implicit.beta_log_k == explicit.beta_log_k
        assert abs(implicit.beta_log_k - chilean_estimate(method, PRODEST).beta_log_k) > 0.005
    assert tfp.DEFAULT_CRITERION == {"op": "nls", "lp": "gmm", "acf": "gmm"}


def test_criterion_errors_name_the_choice_and_the_method():
    panel = production_panel(n_firms=60).assign(investment=lambda d: 0.2 * d.capital)
    with pytest.raises(ValueError, match=r"criterion must be one of \('nls', 'gmm', 'prodest'\) or None, got 'ls'"):
        tfp.ProxySettings(criterion="ls")
    for method in ("acf", "wrdg", "ols"):
        with pytest.raises(ValueError, match=rf"criterion='prodest'\) is not available for method '{method}'"):
            tfp.estimate(panel, method, proxy_settings={"criterion": "prodest"})
    with pytest.raises(TypeError, match=r"'criterion' is now 'proxy_settings=ProxySettings\(criterion=...\)'"):
        tfp.estimate(panel, "op", criterion="prodest")


def test_estimation_is_pooled_unless_by_names_a_column():
    panel = production_panel(n_firms=100)
    pooled = tfp.estimate(panel, "ols", write_tfp=False)
    assert pooled.by is None and pooled.estimates.index.tolist() == ["all"]
    explicit = tfp.estimate(panel, "ols", by=None, write_tfp=False)
    pd.testing.assert_frame_equal(pooled.estimates, explicit.estimates)
    by_industry = tfp.estimate(panel, "ols", by="cic2", write_tfp=False)
    assert sorted(by_industry.estimates.index) == ["13", "14"]
