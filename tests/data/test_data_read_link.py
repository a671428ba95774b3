"""Reading raw files, linking firms across years, cleaning and derived variables."""

import numpy as np
import pandas as pd
import pytest

from sez.data import InputError, read_asie
from sez.data import clean as cl
from sez.data.link import link_firms


def raw_year(year, n=3, **cols):
    base = {"法人代码": [f"C{i}" for i in range(n)], "企业名称": [f"企业{i}" for i in range(n)],
            "行政区划代码": ["110101"] * n, "行业代码": ["1311"] * n, "从业人数": [10 + i for i in range(n)],
            "工业总产值": [100.0 * (i + 1) for i in range(n)]}
    base.update(cols)
    return pd.DataFrame(base)


def test_reads_every_format_with_chinese_and_english_headers(tmp_path):
    a = raw_year(1998)
    a.to_csv(tmp_path / "asie1998.csv", index=False, encoding="utf-8-sig")
    a.to_csv(tmp_path / "asie_1999.csv", index=False, encoding="gb18030")
    english = a.rename(columns={"法人代码": "legal_code", "企业名称": "name", "行政区划代码": "region_code",
                                "行业代码": "cic", "从业人数": "employment", "工业总产值": "output"})
    english.to_parquet(tmp_path / "y2000.parquet")
    english.to_stata(tmp_path / "y2001.dta", write_index=False, version=118)  # 118: unicode strings
    paths = sorted(tmp_path.iterdir())
    raw = read_asie(paths)
    assert sorted(raw["year"].unique()) == [1998, 1999, 2000, 2001]
    assert len(raw) == 12 and raw["gross_output"].sum() == 4 * 600.0
    assert raw["legal_person_code"].tolist()[:3] == ["C0", "C1", "C2"]
    assert set(raw["source"]) == {p.name for p in paths} and raw["source_row"].max() == 2


def test_bad_inputs_name_file_column_and_rows(tmp_path):
    with pytest.raises(InputError, match=r"frame\[0\]: required column\(s\) missing: \['employees'\]"):
        read_asie([raw_year(1998).drop(columns="从业人数")], years=[1998])
    bad = raw_year(1998, 工业总产值=["100", "n/a", "300"])
    with pytest.raises(InputError, match=r"frame\[0\]: column 'gross_output' has 1 non-numeric value\(s\), e\.g\. "
                                         r"rows \[1\]"):
        read_asie([bad], years=[1998])
    (tmp_path / "broken.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(InputError, match="broken.parquet: cannot be parsed"):
        read_asie([tmp_path / "broken.parquet"], years=[2000])
    with pytest.raises(InputError, match="no year"):
        read_asie([raw_year(1998)])
    with pytest.raises(ValueError, match="both mean 'legal_person_code'"):
        read_asie([raw_year(1998).assign(frdm="x")], years=[1998])


def linked(records):
    raw = pd.DataFrame(records)
    for col in ("legal_person_code", "firm_name", "legal_representative", "phone", "district_code", "town",
                "main_product", "industry_code"):
        if col not in raw:
            raw[col] = pd.NA
    if "founding_year" not in raw:
        raw["founding_year"] = np.nan
    return link_firms(raw)


@pytest.mark.parametrize("rule, first, second", [
    ("code", {"legal_person_code": "A", "firm_name": "甲"}, {"legal_person_code": "A", "firm_name": "乙"}),
    ("name", {"legal_person_code": "A", "firm_name": "甲 公司"}, {"legal_person_code": "B", "firm_name": "甲公司"}),
    ("legal_rep_city", {"legal_person_code": "A", "legal_representative": "张三", "district_code": "110101"},
     {"legal_person_code": "B", "legal_representative": "张三", "district_code": "110102"}),
    ("phone_city", {"legal_person_code": "A", "phone": "010-1234567", "district_code": "110101"},
     {"legal_person_code": "B", "phone": "0101234567", "district_code": "110105"}),
    ("founding_industry_town_product", {"legal_person_code": "A", "founding_year": 1990, "industry_code": "1311",
                                        "town": "城关镇", "main_product": "大米"},
     {"legal_person_code": "B", "founding_year": 1990, "industry_code": "1311", "town": "城关镇",
      "main_product": "大米"}),
])
def test_each_linking_rule(rule, first, second):
    firm_id, link_type, report = linked([{"year": 1998, **first}, {"year": 1999, **second}])
    assert firm_id[0] == firm_id[1] and link_type[1] == rule
    assert report.set_index("rule").loc[rule, "links"] == 1


def test_links_need_a_unique_key_and_bridge_one_missing_year():
    # two firms share a name in 1999: the name identifies neither
    firm_id, _, _ = linked([{"year": 1998, "legal_person_code": "A", "firm_name": "甲"},
                            {"year": 1999, "legal_person_code": "B", "firm_name": "甲"},
                            {"year": 1999, "legal_person_code": "C", "firm_name": "甲"}])
    assert len(set(firm_id)) == 3
    firm_id, link_type, _ = linked([{"year": 1998, "legal_person_code": "A"},
                                    {"year": 2000, "legal_person_code": "A"}])
    assert firm_id[0] == firm_id[1] and link_type[1] == "code"


def test_audit_adds_up_and_names_reasons():
    df = pd.DataFrame({"firm_id": [1, 1, 2, 2, 3, 3, 4], "year": [1, 2, 1, 2, 1, 2, 1],
                       "employees": [10, 10, 5, 10, 10, np.nan, 10], "gross_output": [1.0] * 7,
                       "fixed_assets_net": [1.0] * 7, "total_assets": [2, 2, 2, 2, 2, 2, 2],
                       "current_assets": [1, 3, 1, 1, 1, 1, 1]})
    audit = cl.Audit(len(df))
    out = cl.clean(df, audit)
    t = audit.table(len(out))
    by = t.set_index("reason")["rows"]
    assert by["missing or non-positive employees"] == 1 and by["fewer than 8 employees"] == 1
    assert by["total assets below current assets"] == 1
    assert by["firm observed in fewer than 2 years"] == 4  # firms 1 (one row left), 2, 3 and 4
    assert t.attrs["rows_in"] == t.attrs["rows_out"] + t["rows"].sum() and len(out) == 0


def test_value_added_methods():
    df = pd.DataFrame({"gross_output": [10.0, 10.0, 10.0], "value_added": [4.0, np.nan, np.nan],
                       "intermediate_input": [5.0, 6.0, np.nan], "vat_payable": [1.0, 1.0, 1.0],
                       "wages_payable": [1.0, 1.0, 2.0], "depreciation": [0.5, 0.5, 0.5],
                       "total_profit": [1.0, 1.0, 1.0]})
    va, method = cl.value_added(df)
    assert va.tolist() == [4.0, 10 - 6 + 1, 2 + 0.5 + 1 + 1] and method.tolist() == ["reported", "production",
                                                                                     "income"]


def test_ownership_and_foreign_investment():
    df = pd.DataFrame({"registration_type": ["110", "173", "310", "159", "159"],
                       "capital_state": [1, 0, 0, 0.2, 0.6], "capital_individual": [0, 1, 0, 0.5, 0.1],
                       "capital_foreign": [0, 0, 1, 0.3, 0.1], "paid_in_capital": [1, 1, 1, 1, 1]})
    group, foreign = cl.ownership(df)
    assert list(group) == ["state", "private", "foreign", "private", "state"]
    assert foreign.tolist() == [False, False, True, True, False]  # 30% foreign capital is foreign-invested


def test_perpetual_inventory_by_hand():
    df = pd.DataFrame({"firm_id": [7, 7, 7], "year": [1998, 1999, 2000], "fixed_assets_net": [100.0, 1.0, 1.0],
                       "fixed_assets_original": [150.0, 170.0, 160.0]})
    K = cl.real_capital(df)
    P = cl.investment_deflator([1998, 1999, 2000]) / 100
    k98 = 100 / P[1998]
    k99 = 0.91 * k98 + 20 / P[1999]
    k00 = 0.91 * k99 - 10 / P[2000]
    np.testing.assert_allclose(K.to_numpy(), [k98, k99, k00], rtol=1e-12)


def test_harmonise_end_to_end_small():
    from sez import panel as schema
    from sez.data import harmonise

    def year(y, codes, address):
        n = len(codes)
        return pd.DataFrame({"法人代码": codes, "企业名称": [f"企业{c}" for c in codes], "行政区划代码": ["110101"] * n,
                             "行业代码": ["1311"] * n, "从业人数": [20, 20, 5], "工业总产值": [100.0] * n,
                             "固定资产净值": [50.0] * n, "地址": address, "开业年份": [1995] * n,
                             "出口交货值": [0.0, 10.0, 0.0], "登记注册类型": ["110", "173", "310"]})

    address = ["北京经济技术开发区1号", "经济路5号", "某街"]
    raw = read_asie({2001: year(2001, ["A", "B", "C"], address), 2002: year(2002, ["A", "B", "C"], address)})
    with pytest.warns(UserWarning, match="no output deflators"):
        p = harmonise(raw)
    schema.validate(p.data)
    # firm C has 5 employees: both its rows dropped, and the audit says so
    assert p.audit.set_index("reason").loc["fewer than 8 employees", "rows"] == 2
    assert p.audit.attrs["rows_in"] == 6 and p.audit.attrs["rows_out"] == 4
    d = p.data.set_index(["firm_id", "year"])
    assert d["sez"].tolist() == [True, True, False, False]  # a zone name; 经济路 is a street
    assert d["sez_evidence"].tolist()[:2] == ["zone_name", "zone_name"]
    assert d["exporter"].tolist() == [False, False, True, True]
    assert d["ownership"].tolist() == ["state", "state", "private", "private"]
    assert (p.data["county"] == "110101").all() and (p.data["city"] == "1101").all()
    assert p.links.set_index("rule").loc["code", "links"] == 3  # C is linked before it is cleaned away


def test_a_fractional_year_is_refused_and_an_empty_file_is_named(tmp_path):
    half = raw_year(1998).assign(year=[1998, 1998.5, 1998])
    with pytest.raises(InputError, match=r"frame\[0\]: column 'year' holds years that are not whole numbers in "
                                         r"rows \[1\] \(e\.g\. 1998\.5\)"):
        read_asie([half])
    raw_year(1999).iloc[:0].to_csv(tmp_path / "asie_1999.csv", index=False)
    with pytest.warns(UserWarning, match=r"asie_1999\.csv: no rows \(a header only\)"):
        out = read_asie([tmp_path / "asie_1999.csv", raw_year(2000)], years=[1999, 2000])
    assert set(out["year"]) == {2000}
