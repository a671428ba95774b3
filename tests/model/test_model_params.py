"""Parameters, validation and the discretisation of productivity."""

import warnings

import numpy as np
import pytest

from sez import GridError, ParameterError
from sez.model import CollateralWarning, Grid, Params, build_state_space, pareto_types, rouwenhorst, tauchen
from sez.model.grid import profit_terms, required_marginal_profit


def quiet(**changes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        return Params.paper(**changes)


def test_paper_values_tables_5_and_6():
    p = quiet()
    assert (p.tau_N, p.tau_S, p.beta, p.alpha, p.delta, p.gamma) == (0.33, 0.195, 0.961, 0.37, 0.068, 0.862)
    assert (p.sigma, p.rho, p.mu) == (0.0077, 0.7968, 8.6955)
    assert (p.theta_S, p.theta_N, p.xi_S, p.xi_N, p.xbar_S, p.ce_S, p.ce_N) == (0.88, 0.62, 0.01, 0.034, 0.003,
                                                                                  0.0081, 0.0083)
    assert p.q == p.beta and p.xbar_N == 0.0


def test_paper_values_warn_of_slack_collateral_in_sez():
    with pytest.warns(CollateralWarning, match=r"theta_S = 0\.8457 >= 1 - tau_S = 0\.8050"):
        Params.paper()


@pytest.mark.parametrize(
    "changes, pattern",
    [
        ({"beta": 1.2}, r"beta = 1\.2 is outside \(0\.0, 1\.0\)"),
        ({"delta": float("nan")}, "delta must be finite"),
        ({"sigma": -0.1}, "sigma = -0.1"),
        ({"tau_S": 1.0}, "tau_S"),
        ({"lam": 1.0}, "lam"),
        ({"xi_N": "0.1"}, "xi_N must be a real number"),
        ({"mu": 7.0}, r"mu = 7\.0 must exceed 1/\(1-gamma\) = 7\.2464"),
        ({"liquidation": "free"}, "liquidation"),
        ({"entry_outside_option": "one"}, "entry_outside_option"),
        ({"liquidation": "untaxed"}, r"returns \(1-delta\)/\(1-tau_N\) = 1\.3910 > 1/beta"),
    ],
)
def test_bad_parameters_name_the_bound(changes, pattern):
    with pytest.raises(ParameterError, match=pattern):
        quiet(**changes)


def test_check_false_allows_invalid_sets():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        p = Params(liquidation="untaxed", check=False)
    assert p.liquidation_return(1) == pytest.approx((1 - 0.068) / (1 - 0.195))


def test_replace_revalidates():
    with pytest.raises(ParameterError, match="gamma"):
        quiet().replace(gamma=1.5)


@pytest.mark.filterwarnings("ignore:The API of rouwenhorst has changed")
def test_rouwenhorst_and_tauchen_match_quantecon():
    qe = pytest.importorskip("quantecon", reason="QuantEcon is the reference for the discretisations")
    for n, rho, sigma in ((5, 0.7968, 0.0077), (7, 0.95, 0.1), (2, 0.3, 1.0)):
        ours, theirs = rouwenhorst(n, rho, sigma), qe.markov.approximation.rouwenhorst(n, rho, sigma)
        np.testing.assert_allclose(ours.values, theirs.state_values, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ours.P, theirs.P, rtol=1e-12, atol=1e-15)
        ours, theirs = tauchen(n, rho, sigma), qe.markov.approximation.tauchen(n, rho, sigma)
        np.testing.assert_allclose(ours.values, theirs.state_values, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ours.P, theirs.P, rtol=1e-10, atol=1e-13)


def test_rouwenhorst_matches_ar1_moments():
    rho, sigma = 0.7968, 0.0077
    mc = rouwenhorst(5, rho, sigma)
    pi = mc.stationary()
    var = pi @ mc.values**2 - (pi @ mc.values) ** 2
    assert var == pytest.approx(sigma**2 / (1 - rho**2), rel=1e-10)
    cond_mean = mc.P @ mc.values
    np.testing.assert_allclose(cond_mean, rho * mc.values, atol=1e-14)


def test_pareto_nodes_preserve_mean_output_power():
    mu, power = 8.6955, 1 / (1 - 0.862)
    edges = (0.0, 0.2, 0.4, 0.55, 0.7, 0.8, 0.88, 0.95, 0.98, 0.995, 1.0)
    nodes, mass = pareto_types(mu, power, edges)
    assert mass.sum() == pytest.approx(1.0)
    assert (mass * nodes**power).sum() == pytest.approx(mu / (mu - power), rel=1e-12)  # E[A^p] of Pareto(mu)
    lo = (1 - np.array(edges[:-1])) ** (-1 / mu)
    hi = np.r_[(1 - np.array(edges[1:-1])) ** (-1 / mu), np.inf]
    assert np.all((nodes > lo) & (nodes < hi))
    # Monte Carlo check of one bin's conditional mean
    rng = np.random.default_rng(0)
    a = (1 - rng.uniform(0.4, 0.55, 400_000)) ** (-1 / mu)
    assert nodes[2] == pytest.approx(np.mean(a**power) ** (1 / power), rel=1e-3)


def test_profit_closed_form_matches_numerical_labour_choice():
    from scipy.optimize import minimize_scalar

    p = quiet()
    scale, zp, kp = profit_terms(p)
    for k, z in ((0.5, 1.0), (3.0, 1.3), (20.0, 0.9)):
        res = minimize_scalar(lambda l: -(z * (k**p.alpha * l ** (1 - p.alpha)) ** p.gamma - p.w * l),
                              bounds=(1e-9, 1e4), method="bounded", options={"xatol": 1e-12})
        assert scale * z**zp * k**kp == pytest.approx(-res.fun, rel=1e-8)


def test_unconstrained_capital_from_first_order_condition():
    p = quiet()
    assert required_marginal_profit(p, 0) == pytest.approx((1 / p.beta - 1 + p.delta) / (1 - p.lam), rel=1e-14)
    space = build_state_space(p, Grid(n_shocks=3, type_edges=(0, 0.5, 1)))
    scale, zp, kp = profit_terms(p)
    for t in range(2):
        for s in range(3):
            K = space.khat[0, t, s]
            ez = space.shocks.P[s] @ (space.types[t] * space.shocks.values) ** zp
            assert kp * scale * ez * K ** (kp - 1) == pytest.approx(required_marginal_profit(p, 0), rel=1e-12)


def test_cash_grid_holds_floors_as_nodes():
    p = quiet(xbar_S=0.3, cm=0.05, cm_out=0.02)
    space = build_state_space(p, Grid())
    for t in range(space.cash.shape[0]):
        for node in (0.0, 0.3, 0.35, 0.02):
            assert node in space.cash[t]
        assert np.all(np.diff(space.cash[t]) > 0)
    assert space.floors.tolist() == [0.0, 0.02]


@pytest.mark.parametrize(
    "changes, pattern",
    [
        ({"n_cash": 3}, "n_cash must be an integer >= 8"),
        ({"shock_method": "chebyshev"}, "shock_method"),
        ({"cash_low": 2.0}, "need 0 < cash_low < cash_high"),
        ({"type_edges": (0.0, 0.7, 0.5, 1.0)}, "type_edges must rise"),
        ({"n_shocks": 65}, "at most 64"),
    ],
)
def test_bad_grids(changes, pattern):
    with pytest.raises(GridError, match=pattern):
        Grid(**changes)


def test_floors_beyond_cash_grid_are_an_error():
    with pytest.raises(GridError, match="cash_high"):
        build_state_space(quiet(xbar_S=1e6), Grid())


def test_numpy_real_scalars_are_accepted_and_stored_as_python_values():
    p = quiet(alpha=np.float32(0.3), beta=np.float64(0.95), lam=np.int64(0), sez_exit_to_nsez=np.bool_(False),
              liquidation=np.str_("taxed"))
    assert (type(p.alpha), type(p.beta), type(p.lam), type(p.sez_exit_to_nsez), type(p.liquidation)) == (
        float, float, int, bool, str)
    assert p.alpha == float(np.float32(0.3))
    assert p == quiet(alpha=float(np.float32(0.3)), beta=0.95, lam=0, sez_exit_to_nsez=False)
    # a numpy bool or string is no more a number than a Python one
    for value in (np.bool_(True), np.str_("0.3")):
        with pytest.raises(ParameterError, match="alpha must be a real number"):
            quiet(alpha=value)


@pytest.mark.parametrize("value, pattern", [(np.float32("nan"), "alpha must be finite"),
                                            (np.float32(1.5), r"alpha = 1\.5 is outside")])
def test_numpy_scalars_are_refused_for_the_reason_python_values_are(value, pattern):
    with pytest.raises(ParameterError, match=pattern):
        quiet(alpha=value)
