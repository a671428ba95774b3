"""Equilibrium closures, counterfactual scenarios and the SEZ-size sweep."""

import warnings

import numpy as np
import pytest

from sez.model import CollateralWarning, Grid, Params, counterfactual, economy, sez_size_sweep
from sez.model.counterfactual import effect, scenario_params

GRID = Grid(n_cash=60, n_capital=80, n_shocks=3, type_edges=(0.0, 0.5, 0.9, 1.0))
FAST = {"n_firms": 0}


def params(**changes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        return Params.paper(**changes)


POPULATED = params(xbar_S=0.3, theta_S=0.7)


def test_scenarios_set_sez_parameters_to_non_sez_values():
    p = POPULATED
    q = scenario_params(p, "credit_tax")
    assert (q.theta_S, q.tau_S, q.xbar_S) == (p.theta_N, p.tau_N, p.xbar_S)
    q = scenario_params(p, "no_sez")
    assert (q.theta_S, q.tau_S, q.xbar_S, q.xi_S) == (p.theta_N, p.tau_N, 0.0, p.xi_S)  # keeps the lower xi
    q = scenario_params(p, "equalise")
    assert all(q.zone(1)[k] == q.zone(0)[k] for k in ("tau", "theta", "xi", "xbar", "ce"))
    with pytest.raises(ValueError, match="scenario"):
        scenario_params(p, "no_tax")


def test_equalised_benchmark_has_zero_sez_effects():
    # Zones already identical: removing the SEZ changes nothing, in either closure.
    p = scenario_params(POPULATED, "equalise")
    for closure in ("partial", "general"):
        cf = counterfactual(p, "no_sez", GRID, closure=closure, **FAST)
        eff = cf.table()["effect (%)"].dropna()
        assert len(eff) >= 8 and np.all(eff == 0.0), eff


def test_general_equilibrium_clears_labour_market():
    bench = economy(POPULATED, GRID, closure="general", **FAST)
    assert bench.wage == POPULATED.w  # the normalisation: psi = w / C at the benchmark
    assert bench.psi == pytest.approx(POPULATED.w / bench.aggregates.consumption, rel=1e-12)
    cf = counterfactual(POPULATED, "credit_tax", GRID, closure="general", benchmark=bench, **FAST).counterfactual
    assert cf.wage != bench.wage
    assert abs(cf.wage - cf.psi * cf.aggregates.consumption) < 1e-7
    assert cf.wage_iterations > 1
    pe = counterfactual(POPULATED, "credit_tax", GRID, closure="partial", **FAST).counterfactual
    assert pe.wage == POPULATED.w


def test_removing_the_tax_break_shrinks_the_sez():
    cf = counterfactual(POPULATED, "credit_tax", GRID, **FAST)
    b = cf.benchmark.aggregates["firm_share"]["S"]
    c = cf.counterfactual.aggregates["firm_share"]["S"]
    assert 0 < c < b
    assert cf.table().loc["Aggregate TFP (Z)", "effect (%)"] == pytest.approx(
        effect(cf.benchmark.aggregates["aggregate_tfp"]["overall"],
               cf.counterfactual.aggregates["aggregate_tfp"]["overall"]))


def test_the_table_is_ours_alone():
    cf = counterfactual(POPULATED, "no_sez", GRID, **FAST)
    t = cf.table()
    assert not [c for c in t.columns if c.startswith("paper")]  # the paper's numbers are sez.papers' business
    assert t.attrs["closure"] == "partial"


def test_sez_size_sweep_reports_share_and_maximiser():
    out = sez_size_sweep(POPULATED, "xbar_S", [0.05, 0.3, 0.6, 1.0], GRID)
    assert np.all(np.diff(out["sez_share"]) < 0)  # a higher floor shrinks the SEZ
    assert set(out.attrs["argmax"]) == {"aggregate_tfp", "output", "consumption"}
    assert out.attrs["argmax"]["output"] == out.loc[out["output"].idxmax(), "xbar_S"]
    with pytest.raises(ValueError, match="lever"):
        sez_size_sweep(POPULATED, "beta", [0.9, 0.95], GRID)


def test_bad_closure():
    with pytest.raises(ValueError, match="closure"):
        economy(POPULATED, GRID, closure="walrasian")


def test_decomposition_matches_the_scenarios():
    from sez.model import decomposition

    table = decomposition(POPULATED, GRID, **FAST)
    assert len(table) == 6 and set(table["measure"]) == {"aggregate_tfp", "avg_firm_tfp"}
    cf = counterfactual(POPULATED, "credit", GRID, **FAST)
    row = table[(table["measure"] == "aggregate_tfp") & (table["policy removed"] == "collateral theta")].iloc[0]
    assert row["effect (%)"] == cf.table().loc["Aggregate TFP (Z)", "effect (%)"]
    assert row["counterfactual (benchmark = 100)"] == pytest.approx(100 * row["counterfactual"] / row["benchmark"])
