"""Faults of the DiD estimators (issue 16): regressors the fixed effects absorb get no coefficient (NaN, named
in the counts) or an error naming them, never a number; a column that empties the sample is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest

from sez import did
from sez.errors import DidDataError
from sez.testing import staggered_panel

ABSORBED = "regressors collinear with the fixed effects (no coefficient)"


def all_at_once(n_firms: int = 200) -> pd.DataFrame:
    """Every firm enters a zone in 2004: event time is calendar time, which the year effects absorb."""
    return staggered_panel(n_firms=n_firms, years=range(2000, 2010), never_share=0.0, seed=1).assign(
        sez=lambda d: d.year >= 2004)


def with_assets(seed: int = 1) -> pd.DataFrame:
    """A staggered panel with a firm's assets in yuan (about 1e9, constant within the firm: the firm effects
    absorb it; pyfixest's absolute collinearity test, on the demeaned sum of squares, does not see it)."""
    df = staggered_panel(n_firms=300, years=range(2000, 2010), seed=seed)
    df["assets"] = np.random.default_rng(seed).lognormal(14, 1, 300)[df.firm_id] * 1e3
    return df


def test_event_study_with_every_firm_entering_at_once_reports_nan_with_a_note():
    res = did.event_study(all_at_once(), "y", window=(-3, 4), reference=-3)
    estimated = res.table.drop(index=-3)
    assert estimated["twfe_coef"].isna().all() and estimated["twfe_se"].isna().all()
    note = next(k for k in res.counts if k.startswith(ABSORBED))
    assert all(f"ev_{k}" in note for k in ("m2", "m1", "p0", "p4"))
    # the imputation column says why it has nothing either, and the study is still returned
    assert estimated["imputation_coef"].isna().all()
    assert res.counts["treated observations whose year has no untreated observation"] == 1200


def test_event_study_drops_an_absorbed_control_and_keeps_the_event_times():
    df = with_assets()
    res = did.event_study(df, "y", controls=("assets", "x"), window=(-3, 4), reference=-3, estimators=("twfe",))
    fit = res.fits["twfe"]
    assert "assets" not in fit.coef().index and res.counts[f"{ABSORBED}: assets"] == 1
    # the event-time coefficients are pyfixest's without the absorbed control
    sample = df.copy()
    first = sample.year.where(sample.sez).groupby(sample.firm_id).transform("min")
    event = np.clip(sample.year - first, -3, 4)
    names = []
    for k in (-2, -1, 0, 1, 2, 3, 4):
        name = f"e{k + 3}"
        sample[name] = (event == k).astype(float)
        names.append(name)
    always = sample.groupby("firm_id").sez.transform("first")
    reference = pf.feols(f"y ~ {' + '.join(names)} + x | firm_id + year", data=sample.loc[~always],
                         vcov={"CRV1": "firm_id"})
    ours = res.table.loc[[-2, -1, 0, 1, 2, 3, 4]]
    np.testing.assert_allclose(ours.twfe_coef, reference.coef()[names], rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.twfe_se, reference.se()[names], rtol=1e-8)


def test_sun_abraham_keeps_its_cells_beside_a_control_in_large_units():
    # the cells' collinearity test was relative to the largest column: a control in yuan erased every cell
    df = staggered_panel(n_firms=400, years=range(2000, 2010), seed=1)
    runs = [did.event_study(df.assign(x=df.x * scale), "y", controls=("x",), window=(-3, 4), reference=-3,
                            estimators=("sun_abraham",)) for scale in (1.0, 1e6)]
    unit, yuan = (r.table[["sun_abraham_coef", "sun_abraham_se"]] for r in runs)
    assert unit.drop(index=-3).notna().all().all()
    np.testing.assert_allclose(yuan.to_numpy(), unit.to_numpy(), rtol=1e-7)
    assert not any("collinear" in k for k in runs[1].counts)


def test_twfe_gives_an_absorbed_control_nan_and_pyfixest_estimates_for_the_rest():
    df = with_assets()
    res = did.twfe(df, "y", controls=("assets", "x"))
    assert np.isnan(res.params["assets"]) and np.isnan(res.bse["assets"])
    assert res.counts[f"{ABSORBED}: assets"] == 1
    reference = pf.feols("y ~ d + x | firm_id + year", data=df.assign(d=df.sez.astype(float)),
                         vcov={"CRV1": "firm_id"})
    np.testing.assert_allclose(res.params[["sez", "x"]], reference.coef()[["d", "x"]], rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.bse[["sez", "x"]], reference.se()[["d", "x"]], rtol=1e-8)


def test_by_group_names_a_group_whose_treatment_the_fixed_effects_absorb():
    # in city 0 every firm enters in 2004, so its treatment is a city-by-year effect
    df = staggered_panel(n_firms=400, years=range(2000, 2010), seed=2)
    city0 = df.city == "0"
    df.loc[city0, "sez"] = df.loc[city0, "year"] >= 2004
    res = did.by_group(df, "y", "city", fe=("firm_id", "city^year"))
    assert np.isnan(res.params["0"]) and res.params.drop("0").notna().all()
    assert res.counts[f"{ABSORBED}: 0"] == 1


def test_triple_difference_names_a_moderator_the_firm_effects_absorb():
    df = staggered_panel(n_firms=300, years=range(2000, 2010), seed=3)
    df["m"] = (df.firm_id % 2).astype(float)  # constant within firms
    res = did.triple_difference(df, "y", "m")
    assert np.isnan(res.params["m"]) and res.params[["sez", "sez x m"]].notna().all()
    assert res.counts[f"{ABSORBED}: m"] == 1


def test_mediation_with_an_absorbed_mediator_is_an_error_naming_it():
    df = staggered_panel(n_firms=300, years=range(2000, 2010), seed=4)
    df["eg"] = np.random.default_rng(4).normal(size=300)[df.firm_id]  # constant within firms
    with pytest.raises(DidDataError, match=r"mediation: path b_c_prime, y on sez, eg: 'eg' is collinear with the "
                                           r"fixed effects \(firm_id, year\)"):
        did.mediation(df, "y", "eg")


@pytest.mark.parametrize("estimator", [did.twfe, did.imputation, did.event_study])
def test_an_all_missing_control_is_named(estimator):
    df = staggered_panel(n_firms=50, seed=5).assign(z=np.nan)
    with pytest.raises(DidDataError, match=r"'z' have no usable \(non-missing, finite\) value in any row"):
        estimator(df, "y", controls=("x", "z"))


def test_columns_that_empty_the_sample_together_are_counted():
    df = staggered_panel(n_firms=50, seed=5)
    df["early"] = np.where(df.year < 2005, 1.0, np.nan)
    df["late"] = np.where(df.year >= 2005, 1.0, np.nan)
    with pytest.raises(DidDataError, match=r"usable rows by column: 'y' 600, 'early' 250, 'late' 350"):
        did.twfe(df, "y", controls=("early", "late"))


@pytest.mark.parametrize("window, reference", [((-3.5, 4), -1), ((-3, 4), -1.0), ((-3, True), -1), ((-3,), -1)])
def test_an_event_window_that_is_not_whole_years_is_refused_not_truncated(window, reference):
    panel = staggered_panel(n_firms=200, years=range(2000, 2008), seed=2)
    with pytest.raises(ValueError, match=r"event_study: window = \(first, last\) and reference are whole event"):
        did.event_study(panel, "y", window=window, reference=reference)
