"""Moments: hand-computed on a tiny panel, bootstrap against a closed form, bad input."""

import numpy as np
import pandas as pd
import pytest

from sez import moments

TINY = pd.DataFrame({
    "firm_id": [1, 1, 2, 2, 3],
    "year": [1, 2, 1, 2, 2],
    "sez": [True, True, False, False, True],
    "entry": [True, False, True, False, True],
    "exit": [False, True, False, False, False],
    "ln_tfp": [1.0, 2.0, 0.5, 0.5, 3.0],
    "investment": [1.0, np.nan, 2.0, 1.0, 0.5],
    "value_added": [10.0, 20.0, 5.0, 5.0, 10.0],
    "wage_bill": [5.0, 8.0, 3.0, 3.0, 6.0],
    "debt": [2.0, 4.0, 1.0, -1.0, 3.0],
    "capital": [4.0, 8.0, 2.0, 2.0, 0.0],
    "profit": [1.0, -1.0, 0.5, 0.2, -0.1],
})


def test_moments_by_hand():
    m = moments.compute(TINY)
    assert m["i_y"] == pytest.approx((1 + 2 + 1 + 0.5) / (10 + 5 + 5 + 10))  # row 2 has no investment
    assert m["wl_y"] == pytest.approx(25 / 50)
    assert m["tfp_ratio_sez"] == pytest.approx(2.0 / 0.5)  # mean ln TFP: S (1+2+3)/3, N 0.5
    assert m["tfp_gap_sez"] == pytest.approx(1.5)
    assert m["tfp_birth_ratio_sez"] == pytest.approx(2.0 / 0.5)  # births: S (1+3)/2, N 0.5
    assert m["exit_rate_sez"] == pytest.approx(1 / 3)
    assert m["entrant_debt_ratio"] == pytest.approx(((2 + 1 + 3) / 3) / ((4 - 1) / 2))
    assert m["leverage_sez"] == pytest.approx((2 / 4 + 4 / 8) / 2)  # capital 0 left out
    assert m["leverage_nsez"] == pytest.approx((1 / 2 - 1 / 2) / 2)
    assert m["sez_share"] == pytest.approx(3 / 5)
    assert m["profit_share_sez"] == pytest.approx(1 / 3)
    assert m["profit_share_nsez"] == pytest.approx(1.0)
    # top 5%: with 2-3 firms a year the top firm; year 1: 10/15, year 2: 20/35
    assert m["top5_va_share"] == pytest.approx((10 / 15 + 20 / 35) / 2)


def test_bootstrap_covariance_matches_binomial_variance():
    # one year of independent firms: var(share) = p (1 - p) / n
    rng = np.random.default_rng(0)
    n = 2000
    df = TINY.iloc[:0].reindex(range(n)).assign(
        firm_id=np.arange(n), year=1, sez=rng.uniform(size=n) < 0.3, profit=rng.normal(size=n))
    point, cov = moments.bootstrap(df, ["sez_share"], draws=400, seed=1)
    p = point["sez_share"]
    # 400 draws estimate a variance to about sqrt(2/400) = 7%: allow 25%
    assert cov.loc["sez_share", "sez_share"] == pytest.approx(p * (1 - p) / n, rel=0.25)


def test_bootstrap_keeps_firms_together():
    # a moment that is exactly 1 within every firm stays 1 in every resample
    df = TINY.assign(profit=1.0)
    _, cov = moments.bootstrap(df, ["profit_share_sez"], draws=20, seed=2)
    assert cov.loc["profit_share_sez", "profit_share_sez"] == 0.0


def test_bad_moment_requests():
    with pytest.raises(ValueError, match="unknown moment"):
        moments.compute(TINY, ["tfp_dispersion"])
    with pytest.raises(ValueError, match=r"needs column\(s\) \['wage_bill'\]"):
        moments.compute(TINY.drop(columns="wage_bill"), ["wl_y"])
    with pytest.raises(ValueError, match="empty"):
        moments.compute(TINY.iloc[:0])
    with pytest.raises(ValueError, match="draws"):
        moments.bootstrap(TINY, draws=1)


def test_calibration_moments_are_defined_moments():
    assert set(moments.CALIBRATION_MOMENTS) <= set(moments.MOMENTS) and len(moments.CALIBRATION_MOMENTS) == 8
