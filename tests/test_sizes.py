"""Sizes checked before a large allocation or a long job (sez.limits): each case is refused from its sizes
alone, with the numbers and the override, and the override lets it through."""

import time
import tracemalloc

import pandas as pd
import pytest

from sez import cli, limits
from sez.data.synthetic import EXIT_0, PAPER_EXIT_0, synthetic
from sez.data.synthetic.generate import expected_records
from sez.errors import SizeError
from sez.model import Grid, Params, simulate, solve
from sez.model.growth import GrowthModel, estimate_growth, solve_growth
from sez.model.simulate import estimate_panel
from sez.smm.grid import factorial_points

#: A small state space (the grid command tests' discretisation): solved in a fraction of a second.
SMALL_GRID = Grid(n_cash=40, n_capital=60, n_shocks=3, type_edges=(0.0, 0.5, 1.0))


def machine_memory() -> str:
    return f"{limits.physical_memory() / 2**30:,.1f} GiB"


def refused(call, *args, **kwargs) -> tuple[str, float, int]:
    """The SizeError message of ``call(*args, **kwargs)``, the seconds it took and its peak allocation."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SizeError) as err:
            call(*args, **kwargs)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(err.value), seconds, peak


def test_a_grid_of_four_billion_points_is_counted_not_built():
    axes = {name: [0.1 + i / 100 for i in range(16)] for name in
            ("xbar_S", "theta_S", "tau_S", "xi_S", "cm", "ce_S", "rho", "sigma")}
    message, seconds, peak = refused(factorial_points, axes)
    assert seconds < 0.5 and peak < 1_000_000  # the 4.3e9 points were never built
    assert "4,294,967,296 points (limit 1,000,000)" in message
    assert "16 xbar_S x 16 theta_S" in message
    assert "4,096.0 GiB of memory" in message and machine_memory() in message  # 1 KB a point
    assert "h on one thread" in message and "--allow-large" in message


def test_a_factorial_grid_over_the_limit_runs_with_the_override(monkeypatch):
    monkeypatch.setattr(limits, "MAX_GRID_POINTS", 5)
    axes = {"xbar_S": [0.1, 0.2], "tau_S": [0.1, 0.15, 0.2]}
    assert "6 points (limit 5)" in refused(factorial_points, axes)[0]
    points = factorial_points(axes, allow_large=True)
    assert points == [{"xbar_S": x, "tau_S": t} for x in (0.1, 0.2) for t in (0.1, 0.15, 0.2)]
    monkeypatch.setattr(limits, "MAX_GRID_POINTS", 6)
    assert factorial_points(axes) == points  # the limit is inclusive


GRID_TOML = """
[grid]
n_cash = 40
n_capital = 60
n_shocks = 3
type_edges = [0.0, 0.5, 1.0]
[points]
xbar_S = [0.1, 0.2]
tau_S = [0.1, 0.15, 0.2]
[output]
checkpoint = "{dir}/g.jsonl"
table = "{dir}/g.csv"
"""


def test_sez_grid_refuses_a_large_grid_before_computing_and_allow_large_overrides(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(limits, "MAX_GRID_POINTS", 5)
    path = tmp_path / "g.toml"
    path.write_text(GRID_TOML.format(dir=tmp_path))
    assert cli.main(["grid", str(path), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: parameter grid of 2 xbar_S x 3 tau_S: 6 points (limit 5)" in err
    assert "--allow-large" in err
    assert not (tmp_path / "g.jsonl").exists()  # nothing was computed

    evaluated = []

    def fake_evaluate_grid(points, **kwargs):
        evaluated.append(points)
        return pd.DataFrame({"error": [None] * len(points)})

    monkeypatch.setattr("sez.smm.evaluate_grid", fake_evaluate_grid)
    assert cli.main(["grid", str(path), "--workers", "1", "--allow-large"]) == 0
    assert len(evaluated[0]) == 6 and evaluated[0][-1] == {"xbar_S": 0.2, "tau_S": 0.2}


def test_a_state_grid_of_a_billion_cash_points_is_refused_before_numpy_allocates():
    message, seconds, peak = refused(Grid, n_cash=10**9)
    assert seconds < 0.5 and peak < 1_000_000
    assert "Grid(n_cash=1000000000, n_capital=200" in message and "100,000,000,000 states" in message
    assert "too much memory" in message and machine_memory() in message
    assert "allow_large=True" in message and "[grid] allow_large = true" in message


def test_a_200000_by_200000_state_grid_is_refused_as_too_long():
    message = refused(Grid, n_cash=200_000, n_capital=200_000)[0]
    assert "20,000,000 states" in message and "too long" in message
    assert " h on one thread (limit 60 min)" in message


def test_the_grid_override_is_not_part_of_the_discretisation():
    big = Grid(n_cash=200_000, n_capital=200_000, allow_large=True)
    assert big.n_cash == 200_000
    assert Grid(allow_large=True) == Grid() and repr(Grid(allow_large=True)) == repr(Grid())  # same fingerprints
    assert "True or False" in refused(Grid, allow_large="yes")[0]


def test_the_grid_estimate_meets_the_memory_and_time_limits_where_they_are_set(monkeypatch):
    states, n_bytes, seconds = Grid().estimate()
    assert states == 2 * 10 * 5 * 120  # zones x types x shocks x cash
    assert Grid(n_cash=240).estimate()[1] == pytest.approx(2 * n_bytes, rel=0.01)  # memory grows with states
    monkeypatch.setattr(limits, "MEMORY_SHARE", 1.01 * n_bytes / limits.physical_memory())
    Grid()
    monkeypatch.setattr(limits, "MEMORY_SHARE", 0.99 * n_bytes / limits.physical_memory())
    assert "too much memory" in refused(Grid)[0]
    assert Grid(allow_large=True).n_cash == 120
    monkeypatch.setattr(limits, "MEMORY_SHARE", 0.5)
    monkeypatch.setattr(limits, "MAX_SECONDS", 0.99 * seconds)
    assert "too long" in refused(Grid)[0]


def test_the_growth_model_refuses_a_200000_by_200000_search(monkeypatch):
    big = GrowthModel(n_capital=200_000)
    assert estimate_growth(big, "grid", 1e-7, 5000)[2] > 50 * limits.MAX_SECONDS  # k x k' x z, 314 times
    assert estimate_growth(big, "monotone", 1e-7, 5000)[2] < limits.MAX_SECONDS  # the same grid, searched locally
    message, seconds, peak = refused(solve_growth, big, method="grid")
    assert seconds < 0.5 and peak < 1_000_000  # refused before the capital grid is built
    assert "n_capital = 200,000 solved by 'grid'" in message and "too long" in message
    assert "solve_growth(..., allow_large=True)" in message
    small = GrowthModel(n_capital=300)
    monkeypatch.setattr(limits, "MAX_SECONDS", 1e-6)
    assert "too long" in refused(solve_growth, small, method="monotone", threads=1)[0]
    assert solve_growth(small, method="monotone", threads=1, allow_large=True).converged


@pytest.fixture(scope="module")
def small_solution():
    return solve(Params.paper(xbar_S=0.3, theta_S=0.7), SMALL_GRID, threads=1)


def test_a_simulated_panel_is_refused_before_it_is_drawn(small_solution, monkeypatch):
    rows, n_bytes, seconds = estimate_panel(10**9, 20, 60)
    assert rows == 2 * 10**10 and n_bytes > 1e12  # a billion firms over 20 years: terabytes
    with pytest.raises(ValueError, match="n_firms = '5'"):
        estimate_panel("5", 20, 60)
    monkeypatch.setattr(limits, "MAX_SECONDS", 1e-6)
    message, _, peak = refused(simulate, small_solution, n_firms=1000, years=3, burn_in=5, threads=1)
    assert peak < 1_000_000  # not even the stationary distribution was computed
    assert "simulated panel of 1,000 firms over 3 years" in message and "3,000 firm-years" in message
    assert "simulate(..., allow_large=True)" in message
    panel = simulate(small_solution, n_firms=1000, years=3, burn_in=5, threads=1, allow_large=True)
    assert set(panel["year"]) == {1, 2, 3}


def test_synthetic_data_is_refused_from_its_size(monkeypatch):
    monkeypatch.setattr(limits, "MEMORY_SHARE", 1e-12)
    message, _, peak = refused(synthetic, n_firms=100, years=(1998, 1999))
    assert peak < 1_000_000
    expected = int(expected_records(100, 2, EXIT_0))  # a firm stays 1 + exp(2.9) = 19 years on average: 2 of 2
    assert expected == 181
    assert f"synthetic(n_firms=100, years=(1998, 1999)): {expected} raw records" in message
    assert "too much memory" in message
    assert "synthetic(..., allow_large=True)" in message
    assert len(synthetic(n_firms=100, years=(1998, 1999), allow_large=True).truth) > 0


@pytest.mark.parametrize("exit_intercept", [EXIT_0, PAPER_EXIT_0])
def test_the_synthetic_estimate_counts_the_records_the_generator_makes(exit_intercept):
    """The memory estimate scales with the records: within 20% of the count at both exit hazards (the paper
    size's hazard gives a third of the default's records a firm, so a count of firm-years overstates it 5x)."""
    made = synthetic(n_firms=2000, seed=1, exit_intercept=exit_intercept, mess="none")
    records = sum(len(frame) for frame in made.raw.values())
    assert expected_records(2000, 16, exit_intercept) == pytest.approx(records, rel=0.2)
