"""SMM: recovery of known parameters under common random numbers, diagnostics."""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sez import moments, smm
from sez.model import CollateralWarning, Grid, Params, simulate, solve, stationary
from sez.smm.grid import _seed_int
from sez.smm.noise import _moments_by_seed, _noise_weights, _precision

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
    assert res.params["xbar_S"] == pytest.approx(0.3, rel=0.01)
    assert res.params["theta_S"] == pytest.approx(0.7, rel=0.01)
    assert res.moments_table()["within 10%"].all()
    # Me scales every mass alike: no moment (all ratios) moves with it
    assert not res.identified["Me"] and res.identified["xbar_S"] and res.identified["theta_S"]
    assert np.isnan(res.bse).all() and np.isnan(res.j_stat)  # point targets: no sampling uncertainty claimed
    assert "paper" in res.params_table().columns


def test_standard_errors_and_j_test_with_a_data_covariance():
    sol = solve(TRUTH, SPEC.grid)
    panel = simulate(sol, n_firms=3000, years=5, burn_in=40, seed=99, distribution=stationary(sol))
    names = ["leverage_sez", "leverage_nsez", "sez_share", "exit_rate_sez"]
    data, cov = moments.bootstrap(panel, names, draws=50, seed=1)
    res = smm.estimate(data, TRUTH, ["xbar_S", "theta_S", "Me"], spec=SPEC, covariance=cov, data_firms=3000,
                       seed=11, global_points=0, local_starts=1, local_maxiter=40, noise_draws=0)
    # efficient weights: V = (1 + 1/S) (G' Omega^-1 G)^-1, S = simulated / data firms; J = g' Omega^-1 g / (1 + 1/S)
    correction = 1 + 3000 / SPEC.n_firms
    G = res.jacobian[["xbar_S", "theta_S"]].to_numpy()
    omega_inv = np.linalg.inv(cov.loc[names, names].to_numpy())
    se = np.sqrt(np.diag(correction * np.linalg.inv(G.T @ omega_inv @ G)))
    assert res.bse[["xbar_S", "theta_S"]].to_numpy() == pytest.approx(se, rel=1e-9)
    # Me scales every mass alike and moves no moment: no standard error, not a spurious 0
    assert np.abs(res.jacobian["Me"]).max() == 0 and np.isnan(res.bse["Me"])
    g = (res.model_moments - data).to_numpy()
    assert res.j_stat == pytest.approx(g @ omega_inv @ g / correction, rel=1e-9)
    assert res.j_df == 2 and res.j_pvalue == pytest.approx(stats.chi2.sf(res.j_stat, 2))


def test_verdict_per_moment():
    res = smm.estimate(pd.Series({"sez_share": 0.5}), TRUTH, ["xbar_S"], spec=SPEC, seed=11, global_points=0,
                       local_starts=1, local_maxiter=3, scan_rounds=0, noise_draws=0)
    names = ["a", "b", "c", "d", "e"]
    made = dataclasses.replace(
        res, data_moments=pd.Series([1.0, 1.0, 5.0, 0.0, 1.0], index=names),
        model_moments=pd.Series([1.05, 0.5, 0.5, 0.05, np.nan], index=names),
        box_ranges=pd.DataFrame({"min": [0.9, 0.2, 0.2, -1.0, 0.0], "max": [1.2, 1.5, 1.0, 1.0, 2.0]}, index=names))
    v = made.verdict()
    # a: 5% off; b: 50% off, 1.0 inside [0.2, 1.5]; c: 5.0 beyond 1.0 (widened by 10%); d: target 0, gap 0.05
    # absolute; e: undefined at the estimate
    assert v["verdict"].tolist() == ["reached", "traded off", "out of reach", "reached", "undefined"]
    assert "outside the model's range [0.2, 1]" in v.loc["c", "reason"]
    assert "parameter points evaluated" in v.loc["c", "reason"]
    # the range is widened by 10% of the target: 1.1 - 0.11 lies below the top 1.0
    edge = dataclasses.replace(made, data_moments=pd.Series([1.0, 1.0, 1.1, 0.0, 1.0], index=names)).verdict()
    assert edge.loc["c", "verdict"] == "traded off"


def test_a_process_pool_gives_the_serial_estimate():
    # The pool evaluates the Sobol points, each Jacobian's columns and the scans together;
    # with common random numbers every point's moments are those of a serial evaluation,
    # so the whole search, and its count of model evaluations, must be the same.
    from sez.parallel import local_executor

    spec = smm.ModelSpec(grid=Grid(n_cash=40, n_capital=60, n_shocks=3, type_edges=(0.0, 0.5, 1.0)),
                         n_firms=1500, years=4, burn_in=20, moments=("leverage_sez", "sez_share", "exit_rate_sez"))
    data = smm.model_moments(TRUTH, spec, seed=3)
    start = TRUTH.replace(xbar_S=0.36, theta_S=0.6)
    kw = dict(spec=spec, seed=3, global_points=4, local_starts=1, local_maxiter=20, scan_rounds=1, noise_draws=2)
    serial = smm.estimate(data, start, ["xbar_S", "theta_S"], **kw)
    with local_executor(workers=2) as pool:
        pooled = smm.estimate(data, start, ["xbar_S", "theta_S"], executor=pool, **kw)
    assert pooled.params.to_dict() == serial.params.to_dict()
    assert pooled.objective == serial.objective and pooled.evaluations == serial.evaluations
    np.testing.assert_array_equal(pooled.jacobian.to_numpy(), serial.jacobian.to_numpy())
    pd.testing.assert_series_equal(pooled.precision, serial.precision)


def test_nelder_mead_local_stage_recovers_a_parameter():
    spec = smm.ModelSpec(grid=Grid(n_cash=40, n_capital=60, n_shocks=3, type_edges=(0.0, 0.5, 1.0)),
                         n_firms=1500, years=4, burn_in=20, moments=("leverage_sez", "sez_share", "exit_rate_sez"))
    data = smm.model_moments(TRUTH, spec, seed=3)  # at the truth with the estimation's seed: objective 0 there
    res = smm.estimate(data, TRUTH.replace(xbar_S=0.36), ["xbar_S"], spec=spec, seed=3, global_points=0,
                       local_starts=1, local_maxiter=60, scan_rounds=0, noise_draws=0, local="nelder-mead")
    # tolerance 2%: the moments step as firms cross thresholds, flat within about 1% of the truth
    assert res.params["xbar_S"] == pytest.approx(0.3, rel=0.02)
    assert res.objective < 1e-4


def test_simulation_noise_parts_and_weights():
    spec = smm.ModelSpec(grid=Grid(n_cash=40, n_capital=60, n_shocks=3, type_edges=(0.0, 0.5, 1.0)),
                         n_firms=1500, years=4, burn_in=20, moments=("wl_y", "sez_share", "leverage_sez"))
    noise = smm.simulation_noise(TRUTH, ["xbar_S", "theta_S"], spec, seed=3, draws=3)
    # wL/Y is gamma (1 - alpha) for every firm: no Monte Carlo noise, no roughness (rounding only)
    assert noise.loc["wl_y", "total"] < 1e-12
    assert (noise.loc[["sez_share", "leverage_sez"], "monte_carlo"] > 0).all()
    assert noise["total"].to_numpy() == pytest.approx(np.hypot(noise["monte_carlo"], noise["roughness"]))
    cov = noise.attrs["covariance"]
    np.testing.assert_allclose(cov.to_numpy(), np.diag(noise["total"] ** 2))  # diagonal: few panels, no rank
    # the Monte Carlo part is the s.d. over other seeds' panels at the same solution
    seeds = [_seed_int(s) for s in np.random.SeedSequence([3, 1]).spawn(3)]
    by_seed = _moments_by_seed(TRUTH, spec, seeds)
    assert noise["monte_carlo"].to_numpy() == pytest.approx(by_seed.std(ddof=1).to_numpy(), rel=1e-12)
    W = _noise_weights(noise, pd.Series({"wl_y": 0.7, "sez_share": 0.3, "leverage_sez": 0.9}))
    assert W[1, 1] == pytest.approx(1 / noise.loc["sez_share", "total"] ** 2)
    assert np.isfinite(W).all() and W[0, 0] > W[1, 1]  # the noiseless moment floored, finite, heaviest
    with pytest.raises(ValueError, match="draws = 1"):
        smm.simulation_noise(TRUTH, ["xbar_S"], spec, draws=1)


def test_bad_estimation_arguments():
    data = pd.Series(0.5, index=list(moments.CALIBRATION_MOMENTS))
    with pytest.raises(ValueError, match="free must name"):
        smm.estimate(data, TRUTH, ["liquidation"], spec=SPEC)
    with pytest.raises(ValueError, match="free must name distinct"):
        smm.estimate(data, TRUTH, ["xbar_S", "xbar_S"], spec=SPEC)
    with pytest.raises(ValueError, match="unknown data moment"):
        smm.estimate(data.rename({"i_y": "iy"}), TRUTH, ["xbar_S"], spec=SPEC)
    with pytest.raises(ValueError, match="weights must be"):
        smm.estimate(data, TRUTH, ["xbar_S"], spec=SPEC, weights=np.eye(2))


def test_theta_bound_keeps_collateral_finite():
    lo, hi = smm.default_bounds(TRUTH, "theta_S")
    assert lo == 0.0 and TRUTH.q * hi < 1 - TRUTH.tau_S


def test_precision_flags_what_the_moments_cannot_pin_down():
    # bounds [0, 1]: alone they give a relative s.d. of 1 / sqrt(12) / theta
    box = np.array([1.0, 1.0])
    # one moment with noise s.d. 0.01 and slope 2 in a parameter at 0.5: s.d. 0.005, relative 0.01
    jac = np.array([[2.0, 0.0]])
    prec = _precision(jac, np.array([[1e-4]]), np.array([0.5, 0.3]), box)
    assert prec[0] == pytest.approx(0.01, rel=1e-3)
    assert prec[1] == pytest.approx(1 / np.sqrt(12) / 0.3)  # no moment moves it: the bounds' s.d.
    # two parameters moving two moments alike (collinear): neither is pinned down
    jac = np.array([[1.0, 2.0], [0.5, 1.0]])
    prec = _precision(jac, np.eye(2) * 1e-4, np.array([1.0, 1.0]), box)
    assert np.all(prec > 0.1)
    # a distinct second moment identifies both: the closed form (G' S^-1 G)^-1, the bounds negligible
    jac = np.array([[1.0, 2.0], [0.5, -1.0]])
    prec = _precision(jac, np.eye(2) * 1e-4, np.array([1.0, 1.0]), box)
    assert prec == pytest.approx(np.sqrt(np.diag(np.linalg.inv(jac.T @ jac / 1e-4))), rel=1e-3)
    # a slope unknown on both sides (no solution there)
    assert _precision(np.array([[np.nan, 1.0]]), np.array([[1e-4]]), np.ones(2), box)[0] == np.inf


def test_common_random_numbers_survive_a_change_in_the_number_of_entrants():
    # xi_N changes the stationary mass, hence the number of potential entrants a
    # year; each entrant's draws are keyed by its year and rank, not by its id, so
    # a 0.6-1.2% change moves the moments far less than a new seed does: measured
    # 4-5% of a new seed's change, against 25-37% when entrants' draws followed a
    # running id (one entrant more in a year gave every later entrant new draws).
    spec = smm.ModelSpec(grid=SPEC.grid, n_firms=4000, years=5, burn_in=40, moments=("i_y", "entrant_debt_ratio",
                                                                                     "top5_va_share", "tfp_gap_sez"))
    base = TRUTH.replace(xi_N=0.08)
    m0 = smm.model_moments(base, spec, seed=11)
    other = smm.model_moments(base, spec, seed=12)
    for xi_N in (0.0805, 0.081):
        m1 = smm.model_moments(base.replace(xi_N=xi_N), spec, seed=11)
        assert (m1 - m0).abs().sum() < 0.15 * (other - m0).abs().sum(), xi_N


@pytest.mark.slow
def test_recovers_all_seven_internal_parameters():
    # Moments simulated at known parameters are estimated back with all seven
    # internal parameters free from a start 20% above the truth (theta_S is capped
    # below its bound 0.837), with the estimation's seed (common random numbers:
    # the objective is 0 at the truth). Weights: the inverse simulation noise.
    internal = ["theta_S", "theta_N", "xi_S", "xi_N", "xbar_S", "ce_S", "ce_N"]
    spec = smm.ModelSpec(grid=Grid(n_cash=60, n_capital=80, n_shocks=3, type_edges=(0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0)),
                         n_firms=6000, years=6, burn_in=40,
                         moments=("leverage_sez", "leverage_nsez", "sez_share", "exit_rate_sez", "entrant_debt_ratio",
                                  "tfp_gap_sez", "i_y", "top5_va_share"))
    truth = params(theta_S=0.7, theta_N=0.5, xi_S=0.05, xi_N=0.08, xbar_S=0.3, ce_S=0.01, ce_N=0.02)
    data = smm.model_moments(truth, spec, seed=3)
    with warnings.catch_warnings():  # theta_S 0.84 breaks q theta < 1 - tau; estimate caps it at its bound
        warnings.simplefilter("ignore", CollateralWarning)
        start = truth.replace(**{n: 1.2 * getattr(truth, n) for n in internal})
    res = smm.estimate(data, start, internal, spec=spec, seed=3, weights="noise", global_points=16, local_starts=2,
                       local_maxiter=400, profile=True)
    # The fit is as good as the truth's at the panel's noise: the objective is a sum of
    # squared z-scores of the 8 moments (noise = Monte Carlo and roughness), so an
    # average |z| below 1 means no moment is distinguishable from its target.
    assert res.objective < len(data)
    # Entry costs are under 0.3% of a firm's value at these scales: every potential
    # entrant enters whatever ce_S is, so no moment moves with it (MODEL.md defect 5).
    assert not res.identified["ce_S"]
    # Leverage sits at theta for unconstrained firms and xi_N moves the top-5% and SEZ
    # shares (elasticities about -3 and +3): their precision is 0.3-1.5% (theta) and
    # 2-6% (xi_N) wherever the search ends, so they must be identified. Tolerances:
    # theta 2%; xi_N 15%, 2-3 times its precision.
    for n, tol in {"theta_S": 0.02, "theta_N": 0.02, "xi_N": 0.15}.items():
        assert res.identified[n], (n, res.precision[n], res.profile_rise[n])
        assert res.params[n] == pytest.approx(getattr(truth, n), rel=tol), n
    # xbar_S moves the SEZ share (elasticity about -0.8) and the TFP gap, but xi_S moves
    # both nearly in proportion: its precision is 4-17% depending on where the search
    # ends, so it may be reported either way; it must still be recovered to 20%.
    assert res.params["xbar_S"] == pytest.approx(0.3, rel=0.2)
    # Every parameter reported identified lies within 3 of its own noise-implied
    # relative standard deviations of the truth (about 99.7% under normal noise).
    for n in internal:
        if res.identified[n]:
            assert abs(res.params[n] / getattr(truth, n) - 1) <= 3 * res.precision[n], (n, res.precision[n])
