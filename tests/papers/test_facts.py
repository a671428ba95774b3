"""Tests of sez.papers.sez_paper.facts (the SEZ paper's Tables 1-3) on hand-made panels with worked answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sez.papers.sez_paper import facts

Z, K, C = facts.ROWS


def frame(rows):
    df = pd.DataFrame(rows, columns=["firm_id", "year", "sez", "ln_tfp", "lnk"])
    df["capital"] = np.exp(df.pop("lnk"))
    return df


def test_zone_table_by_hand():
    df = frame([
        (1, 2000, True, 2.0, 9.0), (1, 2001, True, 3.0, 11.0),    # cov = (-.5)(-1) + (.5)(1) = 1
        (2, 2000, False, 1.0, 8.0), (2, 2001, False, 1.0, 9.0), (2, 2002, False, 1.0, 10.0),  # cov 0
        (3, 2000, False, 0.0, 7.0), (3, 2001, False, 2.0, 5.0),   # cov = (-1)(1)+(1)(-1) = -2
        (4, 2000, False, 5.0, 6.0),                                # one year: no covariance
    ])
    t = facts.zone_table(df)
    assert t.loc[Z, "SEZ"] == pytest.approx(2.5)
    assert t.loc[K, "SEZ"] == pytest.approx(10.0)
    assert t.loc[C, "SEZ"] == pytest.approx(1.0)
    assert t.loc[Z, "Non-SEZ"] == pytest.approx(10 / 6)
    assert t.loc[K, "Non-SEZ"] == pytest.approx(45 / 6)
    assert t.loc[C, "Non-SEZ"] == pytest.approx((0.0 - 2.0) / 2)
    assert t.loc["firms with >= 2 years", "Non-SEZ"] == 2


def test_zone_table_counts_missing_capital():
    df = frame([(1, 2000, True, 2.0, 9.0), (1, 2001, True, 3.0, 11.0), (2, 2000, False, 1.0, 8.0)])
    df.loc[2, "capital"] = 0.0
    t = facts.zone_table(df)
    assert t.attrs["n_missing"] == 1
    assert t.loc[Z, "Non-SEZ"] == pytest.approx(1.0) and np.isnan(t.loc[K, "Non-SEZ"])


def test_birth_table_by_hand():
    df = frame([(1, 2000, True, 2.0, 9.0), (1, 2001, False, 4.0, 11.0),
                (2, 2000, False, 1.0, 8.0), (2, 2001, False, 3.0, 6.0)])
    df["birth_zone"] = pd.Categorical(["S", "S", "N", "N"])
    df["mover"] = [True, True, False, False]
    t = facts.birth_table(df)
    assert t.loc[Z, "SEZ"] == pytest.approx(3.0) and t.loc[C, "SEZ"] == pytest.approx(2.0)
    assert t.loc[Z, "Non-SEZ"] == pytest.approx(2.0) and t.loc[C, "Non-SEZ"] == pytest.approx(-2.0)
    t2 = facts.birth_table(df, exclude_movers=True)
    assert t2.loc["firm-years", "SEZ"] == 0 and np.isnan(t2.loc[Z, "SEZ"])
    with pytest.raises(ValueError, match="'S' or 'N'"):
        facts.birth_table(df.assign(birth_zone=["X", "S", "N", "N"]))


def test_movers_table_by_hand():
    df = frame([
        # mover: outside 2000-2001, inside from 2002
        (1, 2000, False, 1.0, 8.0), (1, 2001, False, 1.4, 8.4), (1, 2002, True, 2.0, 9.0), (1, 2003, True, 2.6, 9.4),
        # stayers: split at the movers' median move year, 2002
        (2, 2000, False, 0.6, 8.0), (2, 2001, False, 0.8, 8.2), (2, 2002, False, 1.0, 8.5), (2, 2003, False, 1.2, 8.5),
        # born inside: neither mover nor stayer
        (3, 2000, True, 9.0, 9.0), (3, 2001, True, 9.0, 9.0),
    ])
    t = facts.movers_table(df)
    assert t.attrs["stayer_cutoff"] == 2002 and t.attrs["movers"] == 1 and t.attrs["stayers"] == 1
    assert t.loc[Z, "Before SEZ"] == pytest.approx(1.2)
    assert t.loc[Z, "Before NSEZ"] == pytest.approx(0.7)
    assert t.loc[Z, "After SEZ"] == pytest.approx(2.3)
    assert t.loc[Z, "After NSEZ"] == pytest.approx(1.1)
    assert t.loc[Z, "Difference before"] == pytest.approx(0.5)
    assert t.loc[Z, "Difference after"] == pytest.approx(1.2)
    assert t.loc[Z, "Effect of SEZ"] == pytest.approx(0.7)
    assert t.loc[Z, "Driven by selection"] == pytest.approx(0.5 / 1.2)
    # within-firm covariance before the move: (1.0,8.0),(1.4,8.4): (-.2)(-.2)+(.2)(.2) = .08
    assert t.loc[C, "Before SEZ"] == pytest.approx(0.08)
    assert t.loc[C, "After NSEZ"] == pytest.approx(0.0)


def test_movers_table_paper_definitions():
    # the paper's Table 3 numbers: the shares follow from the four group means
    before_s, before_n, after_s, after_n = 0.84, 0.64, 1.73, 0.95
    rows = [(1, 2000, False, before_s, 9.0), (1, 2001, True, after_s, 9.0),
            (2, 2000, False, before_n, 9.0), (2, 2001, False, after_n, 9.0)]
    t = facts.movers_table(frame(rows))
    assert t.loc[Z, "Effect of SEZ"] == pytest.approx(0.58)
    assert round(t.loc[Z, "Driven by selection"], 2) == 0.26


def test_movers_table_errors_and_move_out():
    no_movers = frame([(1, 2000, False, 1.0, 8.0), (2, 2000, True, 1.0, 8.0)])
    with pytest.raises(ValueError, match="no firm moves"):
        facts.movers_table(no_movers)
    no_stayers = frame([(1, 2000, False, 1.0, 8.0), (1, 2001, True, 1.0, 8.0)])
    with pytest.raises(ValueError, match="no stayer"):
        facts.movers_table(no_stayers)
    back_out = frame([(1, 2000, False, 1.0, 8.0), (1, 2001, True, 2.0, 8.0), (1, 2002, False, 7.0, 8.0),
                      (2, 2000, False, 1.0, 8.0), (2, 2002, False, 1.0, 8.0)])
    t = facts.movers_table(back_out)
    assert t.attrs["mover firm-years back outside after the move (left out)"] == 1
    assert t.loc[Z, "After SEZ"] == pytest.approx(2.0)


def test_sez_shares_by_year_and_region(tmp_path):
    from sez.papers.sez_paper import facts

    df = pd.DataFrame({"firm_id": [1, 2, 3, 1, 2, 3], "year": [2000, 2000, 2000, 2001, 2001, 2001],
                       "sez": [True, False, False, True, True, False],
                       "province": ["11", "11", "44", "11", "11", "44"]})
    by_year = facts.sez_share_by_year(df)
    assert by_year["share"].tolist() == pytest.approx([1 / 3, 2 / 3])
    by_region = facts.sez_share_by_region(df)
    assert by_region.index.tolist() == ["11", "44"]  # ranked by 2001's share
    assert by_region.loc["11"].tolist() == [0.5, 1.0] and by_region.loc["44"].tolist() == [0.0, 0.0]
    facts.plot_sez_shares(by_year, by_region, tmp_path / "shares.png")
    assert (tmp_path / "shares.png").stat().st_size > 5_000
    with pytest.raises(ValueError, match="no firm in year = 1990"):
        facts.sez_share_by_region(df, years=(1990, 2001))


def _square(lon, lat, side):
    return [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]]


def test_sez_share_map_colours_each_region_by_its_share(tmp_path):
    """Regions of different areas get distinct shares: the pixel count of each share's colour must scale with
    the area of the region that has that share (a swapped or shifted mapping breaks the ratios)."""
    import matplotlib
    import matplotlib.image as mpimg
    import numpy as np

    from sez.papers.sez_paper import facts

    by_region = pd.DataFrame({2000: [0.1, 0.3, 0.6], 2013: [0.2, 0.5, 0.9]},
                             index=pd.Index(["11", "44", "35"], name="province"))
    geo = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "11"}, "geometry": {"type": "Polygon",
                                                                      "coordinates": [_square(100, 30, 1)]}},
        {"type": "Feature", "properties": {"code": 44}, "geometry": {"type": "MultiPolygon", "coordinates": [
            [_square(103, 30, 1)], [_square(103, 31.5, 1)], [_square(104.5, 30, 1)], [_square(104.5, 31.5, 1)]]}},
        {"type": "Feature", "properties": {"code": "99"}, "geometry": {"type": "Polygon",
                                                                      "coordinates": [_square(100, 32, 1)]}},
    ]}
    path = tmp_path / "map.png"
    table = facts.plot_sez_share_map(by_region, geo, path)
    assert table["on_map"].to_dict() == {"11": True, "44": True, "35": False}  # 35 has no boundary: listed
    image = mpimg.imread(path)[..., :3]
    norm = matplotlib.colors.Normalize(0.0, 0.9)
    cmap = matplotlib.colormaps["viridis"]

    def pixels(share):
        colour = np.array(cmap(norm(share))[:3])
        return int((np.abs(image - colour).max(axis=2) < 2.5 / 255).sum())

    # last year: region 11 (area 1) at 0.2, region 44 (area 4) at 0.5; first year: 0.1 and 0.3
    for small, large in ((0.2, 0.5), (0.1, 0.3)):
        assert pixels(small) > 200
        assert pixels(large) / pixels(small) == pytest.approx(4.0, rel=0.15)
    # region 35 has no boundary: its colours appear only in the colour bar, far fewer pixels than a region
    assert max(pixels(0.9), pixels(0.6)) < pixels(0.1) / 5
    with pytest.raises(ValueError, match="no feature's 'code' matches a province"):
        facts.plot_sez_share_map(by_region.rename(index={"11": "x", "44": "y"}), geo, tmp_path / "none.png")
    with pytest.raises(ValueError, match=r"lack the property 'name'"):
        facts.plot_sez_share_map(by_region, geo, tmp_path / "bad.png", key="name")
    # a feature without geometry (allowed by GeoJSON) is skipped: its region stays listed as not on the map
    unknown_shape = {"type": "Feature", "properties": {"code": "35"}, "geometry": None}
    with_null = {**geo, "features": geo["features"] + [unknown_shape]}
    assert facts.plot_sez_share_map(by_region, with_null, tmp_path / "null.png")["on_map"].to_dict() == {
        "11": True, "44": True, "35": False}
    with pytest.raises(ValueError, match="no feature has a geometry"):
        facts.plot_sez_share_map(by_region, {**geo, "features": [unknown_shape]}, tmp_path / "empty.png")
