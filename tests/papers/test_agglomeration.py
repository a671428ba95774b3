"""Tests of the agglomeration paper's tables (sez.papers.agglomeration): Table 2's KS dominance by year, its
density figures, the probit tables (Table 3, the split samples of Tables 4-6) and the summary statistics (Table 1)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from sez.agglo import DroppedRowsWarning, is_agglomerated
from sez.papers.agglomeration import (
    GROUP_LABELS,
    dominance_table,
    plot_dominance_ecdfs,
    plot_tfp_by_zone_and_agglomeration,
    plot_tfp_densities,
    probit_table,
)
from sez.probit import probit
from sez.stats import ks_2samp
from sez.testing import agglomeration_panel, probit_data

REGRESSORS = ["x1", "x2", "d"]


@pytest.fixture(scope="module")
def fitted():
    return probit(probit_data(), "y", REGRESSORS, fe=["year", "ind", "cty"])


def test_dominance_table_equals_single_tests_on_the_groups():
    df = agglomeration_panel()
    df.loc[df.index[:25], "ln_tfp"] = np.nan  # left out, counted and reported
    with pytest.warns(DroppedRowsWarning, match="25 with missing 'ln_tfp'"):
        table = dominance_table(df)
    assert table.attrs["dropped_rows"] == {"ln_tfp": 25}
    assert list(table.index.get_level_values("panel").unique()) == ["a", "b", "c", "d"]
    assert len(table) == 4 * 3
    flag = is_agglomerated(df).to_numpy()
    usable = df["ln_tfp"].notna().to_numpy()
    exporter = df["exporter"].to_numpy()
    members = {
        GROUP_LABELS[0]: ~exporter & ~flag, GROUP_LABELS[1]: exporter & ~flag,
        GROUP_LABELS[2]: ~exporter & flag, GROUP_LABELS[3]: exporter & flag,
    }
    for (_, year), row in table.iterrows():
        in_year = (df["year"].to_numpy() == year) & usable
        a = df["ln_tfp"].to_numpy()[in_year & members[row["group_a"]]]
        b = df["ln_tfp"].to_numpy()[in_year & members[row["group_b"]]]
        single = ks_2samp(a, b, exact=False)
        assert (row["n_a"], row["n_b"]) == (a.size, b.size)
        assert row["d"] == single.d and row["d_plus"] == single.d_plus and row["d_minus"] == single.d_minus
        assert row["p"] == pytest.approx(single.p_value, rel=1e-14)
        assert row["p_minus"] == pytest.approx(single.p_minus, rel=1e-14)
        assert row["share_a"] == pytest.approx(100 * a.size / in_year.sum(), rel=1e-12)
    # the shares of the four groups of a year add up to 100
    shares = table.xs("a", level="panel")[["share_a", "share_b"]].sum(axis=1) + \
        table.xs("b", level="panel")[["share_a", "share_b"]].sum(axis=1)
    np.testing.assert_allclose(shares, 100.0, rtol=1e-12)
    # built in: domestic firms more productive than exporters, agglomerated cells more than others
    assert (table.loc["a", "verdict"] == "A dominates B").all()
    assert (table.loc["c", "verdict"] == "B dominates A").all()


def test_dominance_table_with_a_given_flag_and_years():
    df = agglomeration_panel(seed=4)
    df["agg_flag"] = is_agglomerated(df)
    given = dominance_table(df, agglomerated="agg_flag", years=[2002])
    computed = dominance_table(df).xs(2002, level="year", drop_level=False)
    pd.testing.assert_frame_equal(given, computed)


def test_dominance_table_bad_input():
    df = agglomeration_panel(seed=5, firms_per_year=500)
    with pytest.raises(ValueError, match="column\\(s\\) missing: 'ln_tfp'"):
        dominance_table(df.drop(columns="ln_tfp"))
    with pytest.raises(ValueError, match="the table is empty"):
        dominance_table(df.iloc[:0])
    nan_year = df.astype({"year": float})
    nan_year.loc[7, "year"] = np.nan
    with pytest.raises(ValueError, match="key column 'year' is missing in 1 row\\(s\\), e.g. index \\[7\\]"):
        dominance_table(nan_year)
    no_exporters = df.copy()
    no_exporters.loc[no_exporters["year"] == 2002, "exporter"] = False
    with pytest.raises(ValueError, match="group 'Export, No-agglomeration' is empty in year 2002"):
        dominance_table(no_exporters)
    with pytest.raises(ValueError, match="year\\(s\\) \\[1999\\] not in column 'year'"):
        dominance_table(df, years=[1999])


def test_figures_are_written(tmp_path):
    df = agglomeration_panel(seed=6, firms_per_year=1500)
    df["province"] = "P1"
    df["county"] = df["city"] + np.where(np.arange(len(df)) % 3 == 0, "a", "b")
    df["employees"] = np.round(df["output"] * 2)
    first = plot_tfp_densities(df, tmp_path / "tfp_groups.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedRowsWarning)  # cells where EG is undefined
        second = plot_tfp_by_zone_and_agglomeration(df, tmp_path / "tfp_zones.png", year=2003)
    for path in (first, second):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real plot, not an empty canvas
    with pytest.raises(ValueError, match="no row has year == 1990"):
        plot_tfp_densities(df, tmp_path / "none.png", year=1990)


def test_table_has_paper_layout(fitted):
    ours = fitted
    table = probit_table([ours, ours], labels={"d": "Export status(t-1)"})
    assert list(table.columns.get_level_values(1)) == ["Coef.", "M.E.", "Coef.", "M.E."]
    assert table.index[0] == "x1" and table.iloc[1, 0].startswith("(") and table.iloc[0, 0].endswith("***")
    assert "Export status(t-1)" in table.index and table.loc["Number of obs"].iloc[0] == "3000"
    assert "x1" in table.to_csv()


def test_split_samples_are_separate_probits_side_by_side():
    from sez.papers.agglomeration import probit_by

    data = probit_data(n=4000, seed=3)
    data["coastal"] = data["cty"] < 7
    results, table = probit_by(data, "coastal", "y", REGRESSORS, fe=["year", "ind"])
    assert set(results) == {False, True}
    for value, res in results.items():
        alone = probit(data[data["coastal"] == value], "y", REGRESSORS, fe=["year", "ind"])
        np.testing.assert_allclose(res.params, alone.params, rtol=1e-12)
    assert table.columns.get_level_values(0).unique().tolist() == ["coastal = False", "coastal = True"]
    with pytest.raises(ValueError, match="fewer than two values"):
        probit_by(data.assign(one=1), "one", "y", REGRESSORS)


def test_split_sample_lags_come_from_the_whole_panel():
    from sez.papers.agglomeration import probit_by

    rng = np.random.default_rng(4)
    n_firms, years = 600, range(2000, 2006)
    data = pd.DataFrame({"firm_id": np.repeat(np.arange(n_firms), len(years)),
                         "year": np.tile(list(years), n_firms)})
    data["x1"] = rng.normal(size=len(data))
    data["group"] = rng.integers(0, 2, len(data))  # firms switch groups from year to year
    data["y"] = (0.7 * data.groupby("firm_id")["x1"].shift(1).fillna(0) + rng.normal(size=len(data)) > 0).astype(int)
    results, _ = probit_by(data, "group", "y", ["x1"], lags=["x1"])
    for res in results.values():
        # a group's lag is last year's value wherever the firm was then: about 5/6 of rows have one
        assert res.nobs > 0.75 * (data["group"] == 0).sum() * 0.9
        assert res.params["L.x1"] == pytest.approx(0.7, abs=0.15)


def test_summary_statistics_table_one():
    from sez.papers.agglomeration import summary_statistics

    data = probit_data(n=500)
    t = summary_statistics(data, ["x1", "d"], [2000, 2004], labels={"d": "Dummy"})
    sub = data[data.year == 2004]
    assert t.loc["x1", (2004, "mean")] == pytest.approx(sub.x1.mean())
    assert t.loc["Dummy", (2000, "obs")] == (data.year == 2000).sum()
    with pytest.raises(ValueError, match="no observation"):
        summary_statistics(data, ["x1"], [1990])


def test_tables_render_as_html_and_latex(fitted):
    ours = fitted
    table = probit_table(ours)
    coef = table.iloc[0, 0]
    assert coef in table.to_html() and coef in table.to_latex()


def test_dominance_ecdfs_are_the_compared_groups_and_give_the_ks_distance():
    df = agglomeration_panel(seed=6, firms_per_year=300)
    fig = plot_dominance_ecdfs(df, year=2002)
    table = dominance_table(df, years=[2002]).xs(2002, level="year")
    assert len(fig.axes) == 4
    for ax, (panel, row) in zip(fig.axes, table.iterrows()):
        first, second = ax.lines
        assert ax.get_title() == f"({panel}) {row.group_a} vs {row.group_b}"
        assert first.get_label() == f"{row.group_a} (n = {row.n_a:,})"
        assert second.get_label() == f"{row.group_b} (n = {row.n_b:,})"
        # the largest vertical gap between the two drawn step functions is the table's KS statistic
        steps = [np.asarray(line.get_xdata(), dtype=float)[1:] for line in (first, second)]
        pooled = np.concatenate(steps)
        cdfs = [np.searchsorted(x, pooled, side="right") / x.size for x in steps]
        assert np.max(np.abs(cdfs[0] - cdfs[1])) == pytest.approx(row.d, abs=1e-12)
        assert [line.get_ydata()[-1] for line in (first, second)] == [1.0, 1.0]
    with pytest.raises(ValueError, match="no row has year == 1990"):
        plot_dominance_ecdfs(df, year=1990)
