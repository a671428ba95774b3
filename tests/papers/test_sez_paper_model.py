"""The SEZ paper's model tables (sez.papers.sez_paper.model): its printed Tables 7-10 beside our results."""

import warnings

import pandas as pd
import pytest

from sez import moments, smm
from sez.model import CollateralWarning, Grid, Params, counterfactual
from sez.papers.sez_paper import model

GRID = Grid(n_cash=60, n_capital=80, n_shocks=3, type_edges=(0.0, 0.5, 0.9, 1.0))


def test_table7_holds_the_papers_targets_for_defined_moments():
    t7 = model.table7()
    assert tuple(t7.index) == moments.CALIBRATION_MOMENTS  # one name per moment, in Table 7's order
    assert t7.loc["i_y", "data"] == 0.0847 and t7.loc["leverage_nsez", "paper_model"] == 1.046  # as printed


def test_counterfactual_table_sets_the_papers_numbers_beside_ours():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        params = Params.paper(xbar_S=0.3, theta_S=0.7)
    cf = counterfactual(params, "no_sez", GRID, n_firms=2000)
    ours, beside = cf.table(), model.counterfactual_table(cf)
    pd.testing.assert_frame_equal(beside[ours.columns], ours)  # ours unchanged
    assert beside.loc["Aggregate TFP (Z)", "paper effect (%)"] == 25.70  # Table 8, as printed
    assert beside.loc["Death rate", "paper benchmark overall"] == 0.2974
    equalised = counterfactual(params, "equalise", GRID, n_firms=2000)
    assert list(model.counterfactual_table(equalised).columns) == list(equalised.table().columns)  # no table


def test_fit_table_adds_the_papers_model_column():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        truth = Params.paper(xbar_S=0.3, theta_S=0.7)
    spec = smm.ModelSpec(grid=GRID, n_firms=1500, years=4, burn_in=30, moments=("leverage_sez", "exit_rate_sez"))
    res = smm.estimate(smm.model_moments(truth, spec, seed=2), truth, ["xbar_S"], spec=spec, seed=2,
                       global_points=0, local_starts=1)
    table = model.fit_table(res)
    assert "paper model" not in res.moments_table()
    assert table.loc["exit_rate_sez", "paper model"] == pytest.approx(0.2827)


def test_effect_bars_put_ours_beside_the_papers_and_cut_an_outlier():
    import numpy as np

    table = pd.DataFrame({"effect (%)": [1.5, -42.4, np.nan], "paper effect (%)": [25.7, 1800.31, -95.55]},
                         index=["Aggregate TFP (Z)", "Effective tax rate", "Birth rate"])
    ax = model.effect_bars(table).axes[0]
    ours, paper = ax.containers[:2]
    assert [p.get_width() for p in ours] == [1.5, -42.4, 0.0]
    # 1800 is more than three times the next largest effect (95.55): drawn to the axis edge, its value printed
    assert [p.get_width() for p in paper] == [25.7, 95.55, -95.55]
    texts = {t.get_text() for t in ax.texts}
    assert {"1.5", "-42.4", "n/a", "25.7", "1,800.3 (cut)", "-95.5"} <= texts
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table.index)
    assert [t.get_text() for t in ax.figure.legends[0].get_texts()] == ["Ours", "The paper's (printed)"]
    with pytest.raises(KeyError, match="no 'effect \\(%\\)' column"):
        model.effect_bars(table.drop(columns="effect (%)"))
