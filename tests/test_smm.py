"""SMM: recovery of known parameters under common random numbers, diagnostics."""

import warnings

import numpy as np
import pytest

from sez import moments, smm
from sez.model import CollateralWarning, Grid, Params, simulate, solve, stationary

SPEC = smm.ModelSpec(grid=Grid(n_cash=60, n_capital=80, n_shocks=3, type_edges=(0.0, 0.5, 0.9, 1.0)),
                     n_firms=4000, years=5, burn_in=40,
                     moments=("leverage_sez", "leverage_nsez", "sez_share", "exit_rate_sez", "entrant_debt_ratio",
                              "tfp_gap_sez"))


def params(**changes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        return Params.paper(**changes)


TRUTH = params(xbar_S=0.3, theta_S=0.7)


def test_recovers_known_parameters_from_a_perturbed_start():
    # Data simulated at the truth with the estimation's seed: the objective is
    # zero there, so the search must find it. Tolerance 1%: simulated moments are
    # step functions of the parameters (firms cross thresholds), flat near the truth.
    data = smm.model_moments(TRUTH, SPEC, seed=11)
    start = TRUTH.replace(xbar_S=0.36, theta_S=0.8)  # +20%, theta capped below its bound 0.838
    res = smm.estimate(data, start, ["xbar_S", "theta_S", "Me"], spec=SPEC, seed=11, global_points=4,
                       local_starts=1)
    assert res.estimate["xbar_S"] == pytest.approx(0.3, rel=0.01)
    assert res.estimate["theta_S"] == pytest.approx(0.7, rel=0.01)
    assert res.moments_table()["within 10%"].all()
    # Me scales every mass alike: no moment (all ratios) moves with it
    assert not res.identified["Me"] and res.identified["xbar_S"] and res.identified["theta_S"]
    assert np.isnan(res.se).all() and np.isnan(res.j_stat)  # point targets: no sampling uncertainty claimed
    assert "paper" in res.params_table().columns


def test_standard_errors_and_j_test_with_a_data_covariance():
    sol = solve(TRUTH, SPEC.grid)
    panel = simulate(sol, n_firms=3000, years=5, burn_in=40, seed=99, distribution=stationary(sol))
    names = ["leverage_sez", "leverage_nsez", "sez_share", "exit_rate_sez"]
    data, cov = moments.bootstrap(panel, names, draws=50, seed=1)
    res = smm.estimate(data, TRUTH, ["xbar_S", "theta_S"], spec=SPEC, covariance=cov, data_firms=3000, seed=11,
                       global_points=0, local_starts=1, local_maxiter=40)
    assert np.all(np.isfinite(res.se)) and np.all(res.se > 0)
    assert res.j_df == 2 and 0 <= res.j_pvalue <= 1


def test_bad_estimation_arguments():
    data = moments.TABLE7["data"]
    with pytest.raises(ValueError, match="free must name"):
        smm.estimate(data, TRUTH, ["liquidation"], spec=SPEC)
    with pytest.raises(ValueError, match="unknown data moment"):
        smm.estimate(data.rename({"i_y": "iy"}), TRUTH, ["xbar_S"], spec=SPEC)
    with pytest.raises(ValueError, match="weights must be"):
        smm.estimate(data, TRUTH, ["xbar_S"], spec=SPEC, weights=np.eye(2))


def test_theta_bound_keeps_collateral_finite():
    lo, hi = smm.default_bounds(TRUTH, "theta_S")
    assert lo == 0.0 and TRUTH.q * hi < 1 - TRUTH.tau_S


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="not achieved yet: from a +20% start the bounded Nelder-Mead (with restarts) "
                   "stops at objective 0.025 after 11,102 evaluations, theta_S 0.652 vs 0.7, xbar_S 0.48 vs 0.3; "
                   "the profit-share moments are 1 at both points (uninformative about xi)")
def test_recovers_all_seven_internal_parameters():
    internal = ["theta_S", "theta_N", "xi_S", "xi_N", "xbar_S", "ce_S", "ce_N"]
    spec = smm.ModelSpec(grid=SPEC.grid, n_firms=6000, years=6, burn_in=40,
                         moments=("leverage_sez", "leverage_nsez", "sez_share", "exit_rate_sez", "entrant_debt_ratio",
                                  "tfp_gap_sez", "tfp_birth_gap_sez", "profit_share_sez", "profit_share_nsez",
                                  "i_y"))
    truth = params(theta_S=0.7, theta_N=0.5, xi_S=0.05, xi_N=0.08, xbar_S=0.3, ce_S=0.01, ce_N=0.02)
    data = smm.model_moments(truth, spec, seed=3)
    start = truth.replace(**{n: 1.2 * getattr(truth, n) for n in internal})
    res = smm.estimate(data, start, internal, spec=spec, seed=3, global_points=32, local_maxiter=1500)
    for n in internal:
        if res.identified[n]:
            assert res.estimate[n] == pytest.approx(getattr(truth, n), rel=0.05), n
