"""Location quotient, Ellison-Glaeser index and exporter counts."""

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from sez.agglo import (
    EXPORTER_COUNT_COLUMNS,
    DroppedRowsWarning,
    ellison_glaeser,
    ellison_glaeser_within_city,
    exporter_counts,
    is_agglomerated,
    location_quotient,
    to_firms,
)

# ---------------------------------------------------------------------------
# location quotient


def lq_data():
    """Two industries in two cities and two years; cells split over several firms.

    Year 2001 output by (industry, city): A-X 30, A-Y 10, B-X 20, B-Y 40 (total 100).
    Year 2002: A-X 10, A-Y 10, B-X 10, B-Y 70 (total 100).
    """
    rows = [
        (2001, "A", "X", 10.0), (2001, "A", "X", 20.0), (2001, "A", "Y", 10.0),
        (2001, "B", "X", 5.0), (2001, "B", "X", 15.0), (2001, "B", "Y", 40.0),
        (2002, "A", "X", 10.0), (2002, "A", "Y", 10.0), (2002, "B", "X", 10.0), (2002, "B", "Y", 70.0),
    ]
    df = pd.DataFrame(rows, columns=["year", "cic3", "city", "output"])
    df["employees"] = 1.0  # one worker each: the employment quotient counts firms
    return df


def test_location_quotient_by_hand():
    lq = location_quotient(lq_data()).set_index(["year", "cic3", "city"])["lq"]
    # 2001: LQ = (x_ij / x_i) / (x_j / x)
    assert lq[2001, "A", "X"] == pytest.approx((30 / 40) / (50 / 100), rel=1e-15)  # 1.5
    assert lq[2001, "A", "Y"] == pytest.approx((10 / 40) / (50 / 100), rel=1e-15)  # 0.5
    assert lq[2001, "B", "X"] == pytest.approx((20 / 60) / (50 / 100), rel=1e-15)  # 2/3
    assert lq[2001, "B", "Y"] == pytest.approx((40 / 60) / (50 / 100), rel=1e-15)  # 4/3
    # 2002 uses 2002's totals only
    assert lq[2002, "A", "X"] == pytest.approx((10 / 20) / (20 / 100), rel=1e-15)  # 2.5
    assert lq[2002, "B", "Y"] == pytest.approx((70 / 80) / (80 / 100), rel=1e-15)  # 1.09375
    flags = is_agglomerated(lq_data())
    assert flags.tolist() == [True, True, False, False, False, True, True, False, False, True]


def test_location_quotient_other_levels_and_pooled():
    df = lq_data()
    pooled = location_quotient(df, by=None).set_index(["cic3", "city"])["lq"]
    # pooled: A-X 40, A-Y 20, B-X 30, B-Y 110; A 60, X 70, total 200
    assert pooled["A", "X"] == pytest.approx((40 / 60) / (70 / 200), rel=1e-15)
    by_firms = location_quotient(df, size="employees").set_index(["year", "cic3", "city"])["lq"]
    # 2001 firm counts: A-X 2, A-Y 1, B-X 2, B-Y 1; A 3, X 4, total 6
    assert by_firms[2001, "A", "X"] == pytest.approx((2 / 3) / (4 / 6), rel=1e-15)
    df["province"] = df["city"].map({"X": "P", "Y": "P"})
    one_region = location_quotient(df, region="province")
    np.testing.assert_allclose(one_region["lq"], 1.0, rtol=1e-15)  # one region: every LQ is 1
    assert not one_region["agglomerated"].any()


def test_location_quotient_bad_input():
    df = lq_data()
    with pytest.raises(ValueError, match="column\\(s\\) missing: 'city'"):
        location_quotient(df.drop(columns="city"))
    with pytest.raises(ValueError, match="the table is empty"):
        location_quotient(df.iloc[:0])
    bad_key = df.astype({"cic3": object})
    bad_key.loc[4, "cic3"] = None
    with pytest.raises(ValueError, match="key column 'cic3' is missing in 1 row\\(s\\), e.g. index \\[4\\]"):
        location_quotient(bad_key)
    negative = df.copy()
    negative.loc[2, "output"] = -1.0
    with pytest.raises(ValueError, match="column 'output' is negative in 1 row\\(s\\), e.g. index \\[2\\]"):
        location_quotient(negative)
    missing = df.copy()
    missing.loc[[0, 9], "output"] = np.nan
    with pytest.warns(DroppedRowsWarning, match="left out 2 of 10 row\\(s\\): 2 with missing 'output'"):
        lq = location_quotient(missing)
    assert lq.attrs["dropped_rows"] == {"output": 2}
    # 2001 without the firm of 10 in A-X: A-X 20, A 30, X 40, total 90
    assert lq.set_index(["year", "cic3", "city"])["lq"][2001, "A", "X"] == pytest.approx((20 / 30) / (40 / 90))


# ---------------------------------------------------------------------------
# Ellison-Glaeser


def eg_data():
    """Plants (industry, county, employees) of one year.

    Counties: c1 = 10 + 30 = 40, c2 = 20 + 40 = 60, c3 = 60 + 40 = 100; total 200.
    Industry I has plants 10, 30 (c1) and 20 (c2) and none in c3.
    """
    rows = [("I", "c1", 10.0), ("I", "c1", 30.0), ("I", "c2", 20.0),
            ("J", "c2", 40.0), ("J", "c3", 60.0), ("J", "c3", 40.0)]
    df = pd.DataFrame(rows, columns=["cic3", "county", "employees"])
    df["year"] = 2005
    return df


def eg_by_hand():
    x = [Fraction(40, 200), Fraction(60, 200), Fraction(100, 200)]
    s = [Fraction(40, 60), Fraction(20, 60), Fraction(0)]
    sum_x2 = sum(v * v for v in x)  # 19/50
    G = sum((sj - xj) ** 2 for sj, xj in zip(s, x))  # 422/900: c3 counts with s = 0
    H = sum(Fraction(e, 60) ** 2 for e in (10, 30, 20))  # 14/36
    gamma = (G - (1 - sum_x2) * H) / ((1 - sum_x2) * (1 - H))
    return G, H, sum_x2, gamma


def test_ellison_glaeser_by_hand():
    G, H, sum_x2, gamma = eg_by_hand()
    row = ellison_glaeser(eg_data()).set_index("cic3").loc["I"]
    # exact fractions vs double arithmetic on the same few numbers: 1e-14
    assert row["G"] == pytest.approx(float(G), rel=1e-14)
    assert row["H"] == pytest.approx(float(H), rel=1e-14)
    assert row["sum_x2"] == pytest.approx(float(sum_x2), rel=1e-14)
    assert row["gamma"] == pytest.approx(float(gamma), rel=1e-14)  # 0.6012
    assert (row["n_plants"], row["n_regions"], row["size"]) == (3, 3, 60.0)


def test_ellison_glaeser_keeps_the_one_minus_sum_x2_factor():
    """The frequent slip (G - H) / ((1 - sum x^2)(1 - H)) drops the factor on H in the
    numerator; summing G only over the industry's own regions is the other slip."""
    G, H, sum_x2, gamma = eg_by_hand()
    dropped_factor = (G - H) / ((1 - sum_x2) * (1 - H))  # 0.211
    own_regions_only = (G - Fraction(1, 4) - (1 - sum_x2) * H) / ((1 - sum_x2) * (1 - H))  # -0.059
    computed = ellison_glaeser(eg_data()).set_index("cic3").loc["I", "gamma"]
    assert abs(float(gamma - dropped_factor)) > 0.3 and abs(float(gamma - own_regions_only)) > 0.3
    assert computed == pytest.approx(float(gamma), rel=1e-14)
    assert computed != pytest.approx(float(dropped_factor), abs=0.1)
    assert computed != pytest.approx(float(own_regions_only), abs=0.1)


def dartboard(gamma, seed, industries=4000):
    """Ellison and Glaeser's (1997) dartboard with an all-or-nothing spillover: with
    probability gamma an industry's plants all land in one region drawn from x, otherwise
    each plant draws its region from x on its own. Then P(two plants share a region) =
    gamma + (1 - gamma) sum x^2, the model under which E[G] = (1 - sum x^2)[gamma + (1 - gamma) H].

    A background industry with 1e10 workers spread exactly as x fixes the aggregate shares
    (the simulated plants move them by under 1e-5).
    """
    rng = np.random.default_rng(seed)
    x = np.array([0.30, 0.20, 0.15, 0.12, 0.10, 0.08, 0.05])
    sizes = np.array([40.0, 20, 10, 10, 5, 5, 5, 5])
    together = rng.random(industries) < gamma
    common = rng.choice(x.size, size=industries, p=x)
    own = rng.choice(x.size, size=(industries, sizes.size), p=x)
    region = np.where(together[:, None], common[:, None], own).ravel()
    plants = pd.DataFrame({
        "year": 2000,
        "cic3": np.repeat([f"i{k}" for k in range(industries)], sizes.size),
        "county": [f"r{j}" for j in region],
        "employees": np.tile(sizes, industries),
    })
    background = pd.DataFrame({"year": 2000, "cic3": "background", "county": [f"r{j}" for j in range(x.size)],
                               "employees": 1e10 * x})
    out = ellison_glaeser(pd.concat([plants, background], ignore_index=True))
    H = float(np.sum((sizes / sizes.sum()) ** 2))
    return out[out["cic3"] != "background"], H, float(np.sum(x**2))


@pytest.mark.parametrize("gamma", [0.0, 0.05, 0.2])
def test_dartboard_recovers_gamma(gamma):
    out, H, sum_x2 = dartboard(gamma, seed=int(gamma * 1000) + 17)
    n = len(out)
    # Monte Carlo standard errors from the simulated industries themselves; 4 SE bounds
    # fail by chance with probability about 6e-5
    se_gamma = out["gamma"].std() / np.sqrt(n)
    se_G = out["G"].std() / np.sqrt(n)
    assert out["H"].to_numpy() == pytest.approx(H, rel=1e-12)
    assert out["sum_x2"].to_numpy() == pytest.approx(sum_x2, abs=1e-5)
    assert out["G"].mean() == pytest.approx((1 - sum_x2) * (gamma + (1 - gamma) * H), abs=4 * se_G)
    assert out["gamma"].mean() == pytest.approx(gamma, abs=4 * se_gamma)
    # the estimator without the (1 - sum x^2) factor on H is biased by about
    # -sum_x2 H / ((1 - sum_x2)(1 - H)) = -0.07 here: far outside the bound above
    dropped_factor = (out["G"] - out["H"]) / ((1 - out["sum_x2"]) * (1 - out["H"]))
    assert abs(dropped_factor.mean() - gamma) > 8 * se_gamma


def test_eg_within_city_equals_eg_city_by_city():
    rng = np.random.default_rng(9)
    n = 600
    df = pd.DataFrame({
        "year": rng.choice([2004, 2005], size=n),
        "city": rng.choice(["3201", "3202", "3301"], size=n),
        "cic3": rng.choice(["131", "132", "371", "372"], size=n),
        "employees": rng.integers(1, 500, size=n).astype(float),
    })
    df["county"] = df["city"] + rng.choice(["01", "02", "03", "04"], size=n)
    within = ellison_glaeser_within_city(df).set_index(["year", "city", "cic3"])
    for city, part in df.groupby("city"):
        alone = ellison_glaeser(part, region="county").set_index(["year", "cic3"])
        for (year, industry), row in alone.iterrows():
            # identical arithmetic on identical numbers, up to summation order
            assert within.loc[(year, city, industry), "gamma"] == pytest.approx(row["gamma"], rel=1e-12, abs=1e-14)
    per_firm = to_firms(df, within.reset_index(), "gamma")
    first = df.iloc[0]
    assert per_firm.iloc[0] == within.loc[(first["year"], first["city"], first["cic3"]), "gamma"]


def test_ellison_glaeser_undefined_cases_and_bad_input():
    single_plant = pd.DataFrame({"year": 2001, "cic3": ["A", "B", "B"], "county": ["c1", "c1", "c2"],
                                 "employees": [5.0, 3.0, 4.0]})
    out = ellison_glaeser(single_plant).set_index("cic3")
    assert np.isnan(out.loc["A", "gamma"])  # H = 1: one plant says nothing about spillovers
    assert np.isfinite(out.loc["B", "gamma"])
    with pytest.raises(ValueError, match="column\\(s\\) missing: 'employees'"):
        ellison_glaeser(single_plant.drop(columns="employees"))
    with_nan = eg_data()
    with_nan.loc[0, "employees"] = np.nan
    with pytest.warns(DroppedRowsWarning, match="1 with missing 'employees'"):
        out = ellison_glaeser(with_nan)
    assert out.attrs["dropped_rows"] == {"employees": 1}
    assert out.set_index("cic3").loc["I", "n_plants"] == 2


# ---------------------------------------------------------------------------
# exporter counts


def random_firms(seed, n=400):
    rng = np.random.default_rng(seed)
    county = rng.choice(["110101", "110102", "120101", "120102", "120103", "130101"], size=n)
    return pd.DataFrame({
        "firm_id": np.arange(n),
        "year": rng.choice([2001, 2002], size=n),
        "province": [c[:2] for c in county],
        "county": county,
        "cic3": rng.choice(["131", "132", "371", "401"], size=n),
        "exporter": rng.random(n) < 0.4,
        "foreign_invested": rng.random(n) < 0.3,
    })


def counts_by_loop(df):
    """Plain double loop over firms: the definitions of the paper's section 3.3 read literally."""
    rows = df.to_dict("records")
    out = []
    for i, me in enumerate(rows):
        c = dict.fromkeys(EXPORTER_COUNT_COLUMNS, 0)
        for j, other in enumerate(rows):
            if j == i or other["year"] != me["year"] or not other["exporter"]:
                continue
            same_county = other["county"] == me["county"]
            same_province = other["province"] == me["province"]
            if same_county and other["cic3"] == me["cic3"]:
                c["agg1_1"] += 1
            if same_county and other["cic3"] != me["cic3"]:
                c["agg1_2"] += 1
            group = "agg3" if other["foreign_invested"] else "agg2"
            if same_county:
                c[group + "_1"] += 1
            elif same_province:
                c[group + "_2"] += 1
        out.append(c)
    return pd.DataFrame(out, index=df.index)


@pytest.mark.parametrize("seed", [1, 2])
def test_exporter_counts_equal_a_slow_loop(seed):
    df = random_firms(seed)
    df.index = df.index * 3 + 5  # counts are aligned by index, not position
    fast = exporter_counts(df)
    pd.testing.assert_frame_equal(fast, counts_by_loop(df), check_dtype=False)
    assert list(fast.columns) == list(EXPORTER_COUNT_COLUMNS)
    assert (fast["agg2_1"] + fast["agg3_1"] == fast["agg1_1"] + fast["agg1_2"]).all()  # county exporters


def test_exporter_counts_bad_input():
    df = random_firms(3, n=60)
    with pytest.raises(ValueError, match="column\\(s\\) missing: 'foreign_invested'"):
        exporter_counts(df.drop(columns="foreign_invested"))
    with pytest.raises(ValueError, match="the table is empty"):
        exporter_counts(df.iloc[:0])
    nan_county = df.astype({"county": object})
    nan_county.loc[[3, 8], "county"] = np.nan
    with pytest.raises(ValueError, match="key column 'county' is missing in 2 row\\(s\\), e.g. index \\[3, 8\\]"):
        exporter_counts(nan_county)
    moved = df.copy()
    moved.loc[moved["county"] == "110101", "province"] = "99"
    moved.loc[moved.index[moved["county"] == "110101"][0], "province"] = "11"
    with pytest.raises(ValueError, match="places a county in more than one 'province'"):
        exporter_counts(moved)
    unknown = df.astype({"exporter": "boolean", "foreign_invested": "boolean"})
    unknown.loc[0, "exporter"] = pd.NA
    with pytest.warns(DroppedRowsWarning, match="1 with missing 'exporter'"):
        counts = exporter_counts(unknown)
    known = df.copy()
    known.loc[0, "exporter"] = False  # an unknown status counts as no one's exporter neighbour
    pd.testing.assert_frame_equal(counts, exporter_counts(known))
