"""District codes to 2013 and CIC codes to GB/T 4754-2002, on real cases of the shipped tables."""

import numpy as np
import pandas as pd
import pytest

from sez.data import codes

# ---- district crosswalk ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def crosswalk():
    return codes.district_crosswalk()


def _rows(cw, code):
    return cw[cw["code"] == code].sort_values("county_2013")


def test_crosswalk_rename_merge_split_from_the_code_history(crosswalk):
    # 大兴县 became 大兴区 (110115) in 2001.
    daxing = _rows(crosswalk, "110224")
    assert daxing[["county_2013", "status", "valid_until"]].values.tolist() == [["110115", "renamed", 2000]]
    # 崇文区 was merged into 东城区 (110101) in 2010.
    chongwen = _rows(crosswalk, "110103")
    assert chongwen[["county_2013", "name_2013", "status"]].values.tolist() == [["110101", "东城区", "merged"]]
    # 呼兰县 was split between 松北区 and 呼兰区 in 2004.
    hulan = _rows(crosswalk, "230121")
    assert hulan["county_2013"].tolist() == ["230109", "230111"]
    assert set(hulan["status"]) == {"split"} and set(hulan["n_targets"]) == {2}


def test_crosswalk_window_and_targets(crosswalk):
    # Only codes in use in some year 1998-2013; every target is a 2013 code.
    assert (crosswalk["valid_from"] <= 2013).all()
    assert (crosswalk["valid_until"].fillna(9999) >= 1998).all()
    # 130107 井陉矿区 of 1983-1988 (merged into 井陉县) is outside the window; its reuse since 1992 is in.
    assert _rows(crosswalk, "130107")["valid_from"].tolist() == [1992]
    targets = set(crosswalk["county_2013"].dropna())
    rec = codes._area_records()
    in_2013 = set(rec.loc[(rec["start"] <= 2013) & (rec["end"] > 2013), "code"])
    assert targets <= in_2013
    assert len(targets) > 2800
    assert crosswalk["status"].isin(["valid", "renamed", "merged", "split", "unknown"]).all()


# ---- to_2013 -----------------------------------------------------------------------------------

def test_to_2013_statuses_on_real_codes():
    out = codes.to_2013(["110101", "110224", "110103", "441900"], [2013, 1999, 2005, 2005])
    assert out["county_2013"].tolist() == ["110101", "110115", "110101", "441900"]
    assert out["status"].astype(str).tolist() == ["valid", "renamed", "merged", "valid"]
    assert out["city_2013"].tolist() == ["110100", "110100", "110100", "441900"]
    assert out["province"].tolist() == ["11", "11", "11", "44"]
    assert out["code_in_use"].all()


def test_to_2013_reads_a_reused_code_by_year():
    # 130107 meant 井陉矿区 in 1983-1988 (then merged into 井陉县 130121) and again from 1992.
    out = codes.to_2013(["130107", "130107"], [1988, 1999])
    assert out["county_2013"].tolist() == ["130121", "130107"]
    assert out["status"].astype(str).tolist() == ["merged", "valid"]


def test_to_2013_stale_code_is_mapped_and_flagged():
    # 崇文区 was abolished in 2010; a firm still reporting it in 2012 is mapped to 东城区.
    out = codes.to_2013(["110103"], [2012])
    assert out.loc[0, "county_2013"] == "110101"
    assert not out.loc[0, "code_in_use"]


def test_split_resolved_by_town_name_and_left_ambiguous_otherwise():
    out = codes.to_2013(["230121", "230121", "230121"], [2001, 2001, 2001],
                        towns=["呼兰县康金镇", "", None],
                        addresses=["", "黑龙江省哈尔滨市松北区某路1号", "黑龙江省哈尔滨市某路1号"])
    assert out["status"].astype(str).tolist() == ["split_resolved", "split_resolved", "split_ambiguous"]
    assert out["county_2013"].tolist()[:2] == ["230111", "230109"]
    assert pd.isna(out.loc[2, "county_2013"])
    assert out.loc[2, "candidates"] == "230109;230111"
    # Both candidates lie in Harbin: the city is known even though the county is not.
    assert out.loc[2, "city_2013"] == "230100" and out.loc[2, "province"] == "23"


def test_split_without_text_is_ambiguous():
    out = codes.to_2013(["230121"], [2001])
    assert out.loc[0, "status"] == "split_ambiguous" and pd.isna(out.loc[0, "county_2013"])


def test_unknown_codes_are_flagged_and_counted():
    out = codes.to_2013(["999999", "999999", None, "12ab56", "320205"], [2000, 2001, 2000, 2000, 2005])
    assert out["status"].astype(str).tolist() == ["unknown"] * 4 + ["valid"]
    assert out["county_2013"].isna().tolist() == [True] * 4 + [False]
    assert out.attrs["unknown_codes"] == {"999999": 2, "<missing>": 1, "12ab56": 1}
    # An unknown code with a real province prefix keeps its province.
    assert codes.to_2013(["329999"], [2000]).loc[0, "province"] == "32"


def test_codes_are_coerced_or_rejected_clearly():
    out = codes.to_2013(pd.Series([110101, 110101.0, " 110101 ", "110101001000"]), [2013] * 4)
    assert out["county_2013"].tolist() == ["110101"] * 4
    with pytest.raises(ValueError, match="position 1 holds 1.5"):
        codes.to_2013(["110101", 1.5], [2013, 2013])
    with pytest.raises(ValueError, match="boolean"):
        codes.to_2013([True], [2013])
    with pytest.raises(ValueError, match="years has 1 entries but codes has 2"):
        codes.to_2013(["110101", "110102"], [2013])
    with pytest.raises(ValueError, match="not an integer year"):
        codes.to_2013(["110101"], ["soon"])


def test_to_2013_keeps_the_callers_index_and_order():
    codes_s = pd.Series(["110224", "110101"], index=[10, 3])
    out = codes.to_2013(codes_s, [1999, 2013])
    assert out.index.tolist() == [10, 3]
    assert out["county_2013"].tolist() == ["110115", "110101"]


def test_to_2013_is_fast_on_repeated_codes():
    rng = np.random.default_rng(1)
    pool = np.array(["110101", "110224", "110103", "230121", "441900", "999999"], dtype=object)
    n = 200_000
    out = codes.to_2013(pool[rng.integers(0, len(pool), n)], rng.integers(1998, 2014, n))
    assert len(out) == n
    assert out["status"].isin(codes.DISTRICT_STATUSES).all()


# ---- industry codes ----------------------------------------------------------------------------

def test_cic_vintages_by_year():
    assert codes.cic_vintage([1998, 2002, 2003, 2011, 2012, 2013]).tolist() == [1994, 1994, 2002, 2002, 2011, 2011]


def test_cic_code_changed_in_2003():
    # GB/T 4754-1994 1313 is 1431 in the 2002 classification.
    out = codes.cic_to_2002(["1313"], [2000])
    assert out.loc[0, ["cic4", "cic3", "cic2"]].tolist() == ["1431", "143", "14"]
    assert out.loc[0, "status"] == "mapped"
    # The same number in 2005 is a 2002 code that does not exist.
    assert codes.cic_to_2002(["1313"], [2005]).loc[0, "status"] == "unknown"


def test_cic_code_changed_in_2012():
    # GB/T 4754-2002 1351 was split in 2011 into 1351 and 1352; 2011's 1352 goes back to 1351.
    out = codes.cic_to_2002(["1352", "1352"], [2012, 2008])
    assert out["cic4"].tolist() == ["1351", "1352"]
    assert out["status"].astype(str).tolist() == ["mapped", "same"]


def test_cic_one_to_many_is_ambiguous_with_candidates():
    out = codes.cic_to_2002(["1359", "1320"], [2001, 2013])
    assert out["cic4"].isna().all()
    assert out["status"].astype(str).tolist() == ["ambiguous", "ambiguous"]
    assert out["candidates"].tolist() == ["1364;1369", "1320;1352"]
    # Shared prefixes are kept: 1364/1369 share 136; 1320/1352 only 13.
    assert out["cic3"].tolist()[0] == "136" and pd.isna(out.loc[1, "cic3"])
    assert out["cic2"].tolist() == ["13", "13"]


def test_cic_integer_codes_are_zero_padded():
    out = codes.cic_to_2002([610, "0610"], [2005, 2005])
    assert out["cic4"].tolist() == ["0610", "0610"]
    with pytest.raises(ValueError, match="position 0"):
        codes.cic_to_2002([6.5], [2005])


def test_resolve_splits_uses_the_firms_unambiguous_years():
    years = [2001, 2004, 2005, 2001, 2004]
    raw = ["1359", "1369", "1369", "1359", "1340"]
    panel = pd.concat([pd.DataFrame({"firm_id": [1, 1, 1, 2, 2], "year": years}),
                       codes.cic_to_2002(raw, years)], axis=1)
    out = codes.resolve_splits(panel)
    # Firm 1 reports 1369 (a candidate of 1359) later: its 2001 is resolved.
    assert out.loc[0, ["cic4", "cic3", "status"]].tolist() == ["1369", "136", "resolved"]
    # Firm 2's other code 1340 is not a candidate: 2001 stays ambiguous.
    assert pd.isna(out.loc[3, "cic4"]) and out.loc[3, "status"] == "ambiguous"
    with pytest.raises(ValueError, match="firm_id"):
        codes.resolve_splits(panel.drop(columns="firm_id"))
