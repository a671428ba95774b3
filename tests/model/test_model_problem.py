"""The kernels' structs: Problem, ZoneRules, Policy and PanelSettings, built once
from Params and Grid with named fields, checked, read-only where derived arrays
depend on them, and pickled by their keyword arguments."""

import pickle
import warnings

import numpy as np
import pytest

from sez import _core
from sez.model import CollateralWarning, Grid, Params, build_state_space, solve
from sez.model.distribution import entrants
from sez.model.solve import initial_values

SMALL = Grid(n_cash=24, n_capital=30, n_shocks=3, type_edges=(0.0, 0.6, 0.95, 1.0))


@pytest.fixture(scope="module")
def params():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        return Params.paper(xbar_S=0.3, cm=0.05, cm_out=0.02, theta_S=0.7, sez_exit_to_nsez=False)


@pytest.fixture(scope="module")
def space(params):
    return build_state_space(params, SMALL)


def fields(obj, names):
    return {name: getattr(obj, name) for name in names}


PROBLEM_FIELDS = ("cash", "capital", "zfac", "P", "zones", "beta", "q", "delta", "lam", "k_exponent", "z", "eta",
                  "w", "type_cdf", "shock_cdf", "m0_log_mean", "m0_log_sd", "outside_is_cash")
ZONE_FIELDS = ("tau", "theta", "xi", "xbar", "ell", "move_cost", "may_move", "lo", "entry_cost")


def same(a, b):
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, tuple):
        return all(fields(x, ZONE_FIELDS) == fields(y, ZONE_FIELDS) for x, y in zip(a, b, strict=True))
    return a == b


def test_problem_holds_the_parameters_by_name(params, space):
    p = space.problem
    assert (p.n_types, p.n_shocks, p.n_cash, p.n_capital) == (3, 3, 24, 30)
    np.testing.assert_array_equal(p.cash, space.cash)
    np.testing.assert_array_equal(p.capital, space.capital)
    np.testing.assert_array_equal(p.zfac, space.zfac)
    np.testing.assert_array_equal(p.P, space.shocks.P)
    np.testing.assert_array_equal(p.z, np.outer(space.types, space.shocks.values))
    np.testing.assert_array_equal(p.type_cdf, np.cumsum(space.type_mass))
    assert (p.beta, p.q, p.delta, p.lam, p.k_exponent) == (params.beta, params.q, params.delta, params.lam,
                                                           space.k_exponent)
    assert p.w == params.w and p.eta == params.gamma * (1 - params.alpha) and p.outside_is_cash
    N, S = p.zones
    assert (N.tau, S.tau, N.theta, S.theta, N.xi, S.xi) == (params.tau_N, params.tau_S, params.theta_N,
                                                            params.theta_S, params.xi_N, params.xi_S)
    assert (N.xbar, S.xbar, N.move_cost, S.move_cost) == (params.xbar_N, params.xbar_S, params.cm, params.cm_out)
    assert (N.may_move, S.may_move) == (True, False)
    assert (N.lo, S.lo) == tuple(space.floors)
    assert (N.entry_cost, S.entry_cost) == (params.ce_N, params.ce_S)
    assert (N.ell, S.ell) == (params.liquidation_factor(0), params.liquidation_factor(1))
    assert "types=3" in repr(p) and "tau=" in repr(N)


def test_problem_is_read_only_and_its_zones_are_copies(space):
    p = space.problem
    with pytest.raises(AttributeError):
        p.beta = 0.5
    with pytest.raises(AttributeError):
        p.cash = p.cash
    zone = p.zones[1]
    zone.tau = 0.9  # ZoneRules fields are writable; the problem keeps its own
    assert p.zones[1].tau != 0.9


def test_structs_pickle_to_equal_values(params, space):
    p = space.problem
    again = pickle.loads(pickle.dumps(p))
    assert all(same(getattr(p, f), getattr(again, f)) for f in PROBLEM_FIELDS)
    V = initial_values(space)
    a = _core.bellman_apply(p, V, threads=1)
    b = _core.bellman_apply(again, V, threads=1)
    assert all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)
    zone = pickle.loads(pickle.dumps(p.zones[0]))
    assert fields(zone, ZONE_FIELDS) == fields(p.zones[0], ZONE_FIELDS)
    sol = solve(params, SMALL)
    pol = sol.policy()
    pol2 = pickle.loads(pickle.dumps(pol))
    for f in ("V", "Q", "k", "mbar", "move", "m_next", "exits"):
        assert same(getattr(pol, f), getattr(pol2, f)), f
    run = _core.PanelSettings(init_cdf=np.linspace(0.1, 1.0, 4), n_init=3, potential_per_year=1.5, years=4,
                              record_from=2, seed=2**64 - 1)
    run2 = pickle.loads(pickle.dumps(run))
    assert np.array_equal(run.init_cdf, run2.init_cdf)
    assert (run2.n_init, run2.potential_per_year, run2.years, run2.record_from, run2.seed) == (3, 1.5, 4, 2, 2**64 - 1)


def test_policy_holds_the_solution(params):
    sol = solve(params, SMALL)
    pol = sol.policy()
    np.testing.assert_array_equal(pol.V, sol.V)
    np.testing.assert_array_equal(pol.k, sol.k_policy)
    np.testing.assert_array_equal(pol.exits, sol.exits.astype(np.int8))
    np.testing.assert_array_equal(pol.move == 1, sol.zone != np.arange(2)[:, None, None, None])


def test_bad_structs_are_refused(params, space):
    p = space.problem
    kw = dict(fields(p, PROBLEM_FIELDS))
    with pytest.raises(TypeError):
        _core.Problem(*kw.values())  # keywords only
    with pytest.raises(ValueError, match="zfac must have shape"):
        _core.Problem(**{**kw, "zfac": p.zfac[:, :2]})
    with pytest.raises(ValueError, match="zones must hold"):
        _core.Problem(**{**kw, "zones": p.zones[:1]})
    with pytest.raises(ValueError, match="lam"):
        _core.Problem(**{**kw, "lam": 1.0})
    with pytest.raises(ValueError, match="64 shock states"):
        _core.Problem(**{**kw, "P": np.eye(65), "zfac": np.ones((3, 65)), "z": np.ones((3, 65)),
                         "shock_cdf": np.ones(65)})
    with pytest.raises(ValueError, match="V must have shape"):
        _core.bellman_apply(p, np.zeros((2, 2, 2, 2)))
    sol = solve(params, SMALL)
    pol = sol.policy()
    with pytest.raises(ValueError, match="m_next must have shape"):
        _core.Policy(**{**fields(pol, ("V", "Q", "k", "mbar", "move", "exits")), "m_next": pol.V})
    other = build_state_space(params, Grid(n_cash=20, n_capital=30, n_shocks=3, type_edges=(0.0, 0.6, 0.95, 1.0)))
    ent = entrants(sol).measure
    with pytest.raises(ValueError, match="entrants must have shape"):
        _core.push_forward(other.problem, pol, ent, ent)
    with pytest.raises(ValueError, match="differ from the problem's"):
        _core.push_forward(other.problem, pol, np.zeros((2, 3, 3, 20)), np.zeros((2, 3, 3, 20)))
    with pytest.raises(ValueError, match="record_from"):
        _core.PanelSettings(init_cdf=np.ones(4), n_init=1, potential_per_year=0.0, years=3, record_from=4, seed=0)
    run = _core.PanelSettings(init_cdf=np.ones(4), n_init=1, potential_per_year=0.0, years=3, record_from=1, seed=0)
    with pytest.raises(ValueError, match="init_cdf must have one entry per state"):
        _core.simulate_panel(p, pol, run)
