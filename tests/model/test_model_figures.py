"""Figures are drawn from the objects they describe and saved to files."""

import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="figures need matplotlib")

from sez.model import (  # noqa: E402
    CollateralWarning,
    Grid,
    Params,
    economy,
    figures,  # noqa: E402
)

GRID = Grid(n_cash=40, n_capital=60, n_shocks=3, type_edges=(0.0, 0.5, 1.0))


@pytest.fixture(scope="module")
def econ():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        p = Params.paper(xbar_S=0.3, theta_S=0.7)
    return economy(p, GRID, n_firms=2000, years=10, burn_in=10)


def test_figures_are_saved_and_show_the_solution(econ, tmp_path):
    sol = econ.solution
    fig = figures.decision_rules(sol, path=tmp_path / "rules.png")
    assert (tmp_path / "rules.png").stat().st_size > 10_000
    line = fig.axes[0].get_lines()[0]  # capital of the lowest type
    ok = np.isfinite(sol.Q[0, 0, 1])
    np.testing.assert_array_equal(line.get_ydata(), sol.k_policy[0, 0, 1][ok])
    figures.location_map(sol, path=tmp_path / "map.png")
    figures.lifecycle(econ.panel, path=tmp_path / "life.png")
    figures.tfp_density(econ.panel, path=tmp_path / "tfp.png")
    for name in ("map", "life", "tfp"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
