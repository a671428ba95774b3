"""SEZ identification from addresses and firm classification by zone."""

import pandas as pd
import pytest

from sez.data.sez_id import EVIDENCE, classify_firms, default_catalogue, identify_sez


def frame(address, province="32", street=None, town=None, firm_name=None, postcode=None):
    """One firm-year per address."""
    n = len(address)

    def col(v):
        return v if isinstance(v, list) else [v] * n

    return pd.DataFrame({"province": col(province), "address": address, "street": col(street), "town": col(town),
                         "firm_name": col(firm_name), "postcode": col(postcode)})


def evidence(result):
    return result["sez_evidence"].astype(str).tolist()


def test_strong_keyword_and_street_name_guard():
    out = identify_sez(frame(["江苏省苏州市经济路12号", "北京市海淀区中关村高新技术产业开发区8号",
                              "开发路8号", "某市开发区路3号", "某市高新区科技路1号", "东莞市长安镇保税区2号"],
                             province=["32", "11", "32", "32", "32", "44"]))
    assert out["sez"].tolist() == [False, True, False, False, True, True]
    assert evidence(out) == ["none", "strong_keyword", "none", "none", "strong_keyword", "strong_keyword"]
    assert out.loc[1, "sez_match"] == "开发区"


def test_zone_forms_only_in_firm_names_and_bonded_warehouses():
    out = identify_sez(frame(["某市人民路1号", "某市人民路1号", "某市保税仓库3号"],
                             firm_name=["某某房地产开发有限公司", "某某开发区建设有限公司", "某某物流有限公司"]))
    assert out["sez"].tolist() == [False, True, False]
    assert evidence(out) == ["none", "strong_keyword", "none"]


def test_zone_name_matches_within_the_province_only():
    # 苏州工业园区 (G321090) is a Jiangsu zone; the same text in Zhejiang is no name match
    # (it still holds the weak park form 园区).
    out = identify_sez(frame(["苏州工业园区星湖街328号"] * 4, province=["32", "江苏省", "江苏", "33"]))
    assert evidence(out) == ["zone_name", "zone_name", "zone_name", "weak_keyword"]
    assert out["sez_zone_code"].tolist()[:3] == ["G321090"] * 3 and pd.isna(out.loc[3, "sez_zone_code"])
    assert out["sez"].tolist() == [True, True, True, False]


def test_zone_name_beats_keyword_and_approval_dates_are_ignored():
    # 东丽经济技术开发区 is dated 2014 in the list (its upgrade): the match stands anyway.
    catalogue = default_catalogue()
    assert catalogue.set_index("code").loc["G121050", "approved"] == "2014.02"
    out = identify_sez(frame(["天津市东丽经济技术开发区一经路"], province="12"))
    assert evidence(out) == ["zone_name"] and out.loc[0, "sez_zone_code"] == "G121050"
    # The longest catalogue name wins over a shorter one inside it.
    assert identify_sez(frame(["天津经济技术开发区第三大街"], province="120000")).loc[0, "sez_zone_code"] == "G121002"


def test_weak_keywords_are_flagged_not_counted_by_default():
    data = frame(["某县某镇工业园", "某县工业园路3号", "某市科技园"])
    out = identify_sez(data)
    assert evidence(out) == ["weak_keyword", "none", "weak_keyword"]
    assert not out["sez"].any()
    assert identify_sez(data, weak_sets_sez=True)["sez"].tolist() == [True, False, True]


def test_postcode_evidence_from_a_user_catalogue():
    catalogue = pd.DataFrame({"code": ["X1", "X2"], "name": ["甲开发区", "乙开发区"], "province": ["江苏省", "浙江省"],
                              "postcode": ["215021", "310000"]})
    out = identify_sez(frame(["某路1号", "某路1号", "某路1号"], province=["32", "33", "32"],
                             postcode=["215021", "215021", None]), catalogue=catalogue)
    assert evidence(out) == ["postcode", "none", "none"]
    assert out["sez"].tolist() == [True, False, False]
    assert out.loc[0, "sez_zone_code"] == "X1"


def test_missing_values_and_categories():
    out = identify_sez(frame([None, ""], province=[None, "32"]))
    assert evidence(out) == ["none", "none"]
    assert list(out["sez_evidence"].cat.categories) == list(EVIDENCE)
    assert out["sez"].dtype == bool


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="'town'"):
        identify_sez(frame(["某路"]).drop(columns="town"))
    with pytest.raises(ValueError, match="catalogue lacks column"):
        identify_sez(frame(["某路"]), catalogue=pd.DataFrame({"code": ["X"], "name": ["甲"]}))


# ---- classify_firms -----------------------------------------------------------------------------

@pytest.fixture
def panel():
    return pd.DataFrame({
        "firm_id": [1, 1, 1, 2, 2, 3, 3, 4, 4],
        "year": [2000, 2001, 2002, 2000, 2001, 1999, 2000, 2003, 2004],
        "sez": [False, True, True, True, True, True, True, False, False],
        "birth_year": [2000, 2000, 2000, 2000, 2000, 1990, 1990, 2003, 2003],
    })


def test_birth_zone_and_moves(panel):
    out = classify_firms(panel).set_index("firm_id")
    # Born outside in 2000, moved into a zone in 2001.
    assert out.loc[1, ["birth_zone", "mover", "move_year", "move_direction"]].tolist() == ["N", True, 2001, "into_sez"]
    # Born in a zone and stayed.
    assert out.loc[2, ["birth_zone", "mover", "stayer"]].tolist() == ["S", False, True]
    # Founded 1990, first seen 1999 in a zone: birth not observed, so 'N'.
    assert out.loc[3, ["birth_zone", "birth_observed"]].tolist() == ["N", False]
    assert out.loc[3, "birth_zone"] == "N" and classify_firms(panel, birth_window=9).set_index(
        "firm_id").loc[3, "birth_zone"] == "S"
    assert out.loc[4, ["birth_zone", "birth_observed", "mover"]].tolist() == ["N", True, False]
    assert pd.isna(out.loc[2, "move_year"])


def test_move_out_of_a_zone_and_unsorted_input(panel):
    data = pd.DataFrame({"firm_id": [5, 5, 5], "year": [2007, 2005, 2006], "sez": [False, True, True],
                         "founding_year": [2005] * 3})
    out = classify_firms(data).iloc[0]
    assert (out["birth_zone"], out["move_year"], out["move_direction"]) == ("S", 2007, "out_of_sez")


def test_classify_firms_bad_input(panel):
    with pytest.raises(ValueError, match="birth_year"):
        classify_firms(panel.drop(columns="birth_year"))
    with pytest.raises(ValueError, match="duplicate"):
        classify_firms(pd.concat([panel, panel.iloc[:1]]))
