"""The survey's mess and the firms' identities: rates of the injected irregularities
(:class:`MessRates`), names, legal-person codes, addresses, district and industry codes of the
year, and the headers of each year's file. See ``sez.data.synthetic`` for every kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sez.data.columns import known_names
from sez.data.synthetic.process import _county_paths, _industries

MONEY_IN_YUAN_YEAR = 2006


def VALUE_ADDED_ABSENT(year: int) -> bool:  # noqa: N802  (a rule read like a constant)
    """Value added is not in the real survey's 2004 file nor after 2007."""
    return year == 2004 or year > 2007


ENGLISH_HEADER_YEARS = (2004, 2011)
PINYIN_HEADER_YEARS = (2009,)
FALSE_POSITIVE_STREETS = ("经济路", "开发大道", "高新路", "开发路", "园区路", "高新大道", "经济街")
STRONG_KEYWORDS = ("开发区", "高新区", "经开区", "工业园区", "出口加工区")


@dataclass(frozen=True)
class MessRates:
    """Rates of the injected mess; see the module docstring for each kind."""

    code_change: float = 0.04          # share of multi-year firms whose legal-person code changes once
    name_change: float = 0.04          # share of multi-year firms whose name changes once
    shared_code: float = 0.002         # share of firm-years carrying another firm's code
    missing_cell: float = 0.01         # share of numeric cells missing
    missing_text: float = 0.01         # share of address / registration-type cells missing
    duplicate_row: float = 0.005       # share of rows written twice
    false_positive_street: float = 0.04   # share of non-zone firms on a street named like a zone
    weak_keyword: float = 0.03         # share of non-zone firms in a township industrial park
    zone_address_omitted: float = 0.10    # share of zone firms whose address does not name the zone
    identity_violation: float = 0.002  # share of rows for each kind of accounting-identity violation
    headers: bool = True               # year-varying Chinese / pinyin / English headers
    code_history: bool = True          # district codes of the year rather than 2013 codes
    industry_vintage: bool = True      # industry codes of the year's GB/T 4754 vintage
    units: bool = True                 # money in yuan in MONEY_IN_YUAN_YEAR
    value_added_gaps: bool = True      # value added absent in 2004 and after 2007


NO_MESS = MessRates(code_change=0, name_change=0, shared_code=0, missing_cell=0, missing_text=0, duplicate_row=0,
                    false_positive_street=0, weak_keyword=0, zone_address_omitted=0, identity_violation=0,
                    headers=False, code_history=False, industry_vintage=False, units=False, value_added_gaps=False)


INDUSTRY_WORDS = {"13": "食品", "14": "食品", "15": "饮料", "16": "烟草", "17": "纺织", "18": "服装", "19": "皮革",
                  "20": "木业", "21": "家具", "22": "纸业", "23": "印刷", "24": "文体用品", "25": "石化", "26": "化工",
                  "27": "制药", "28": "化纤", "29": "橡胶", "30": "塑料", "31": "建材", "32": "钢铁", "33": "有色金属",
                  "34": "金属制品", "35": "机械", "36": "设备", "37": "汽车配件", "39": "电气", "40": "电子", "41": "仪器",
                  "42": "工艺品", "43": "再生资源"}
TRADE_CHARS = "华兴达盛源丰鑫宏泰隆昌恒力通嘉瑞顺宇新金永安信德明科鸿海天中东方远正大利威佳凯腾龙飞宝发祥和福康光美艺创联星汇豪广益协晨阳"
STREETS = ("人民路", "解放路", "建设路", "中山路", "新华路", "和平路", "胜利路", "文化路", "工业路", "朝阳路", "长江路",
           "黄河路", "东风路", "青年路", "光明路", "南京路", "北京路", "迎宾大道", "环城路", "滨江路")
TOWNS = ("城关镇", "新城镇", "城南街道", "城北街道", "东城街道", "西城街道", "南湖镇", "河口镇", "新桥镇", "白沙镇")


def _org_codes(rng, size: int) -> np.ndarray:
    """Unique 9-character organisation codes: 8 digits and the GB 11714 check character."""
    draws = np.unique(rng.integers(0, 10 ** 8, int(size * 1.3) + 100))
    draws = rng.permutation(draws)[:size]
    digits = (draws[:, None] // 10 ** np.arange(7, -1, -1)) % 10
    check = 11 - (digits @ np.array([3, 7, 9, 10, 5, 8, 4, 2])) % 11
    check_char = np.where(check == 10, "X", np.where(check == 11, "0", check.astype(str)))
    return np.char.add(np.char.zfill(draws.astype(str), 8), check_char)


def _attach_identities(firms: pd.DataFrame, panel: pd.DataFrame, first: int, rates: MessRates, rng) -> None:
    """Names, legal-person codes, addresses, district and industry codes per firm-year (in place)."""
    n = len(firms)
    fi = panel.firm_index.to_numpy()
    year = panel.year.to_numpy()
    # names: county short name + unique 3-character trade name + industry word + ownership suffix
    pool = len(TRADE_CHARS)
    combos = (rng.choice(pool ** 3, n, replace=False) if n <= pool ** 3 else rng.integers(0, pool ** 3, n))
    trade = [TRADE_CHARS[c // pool ** 2] + TRADE_CHARS[(c // pool) % pool] + TRADE_CHARS[c % pool] for c in combos]
    county_short = [c[:-1] if len(c) > 2 and c[-1] in "县区市旗" else c for c in firms.county_name]
    suffix = {"state": "厂", "collective": "厂", "private": "有限公司", "HMT": "有限公司", "foreign": "有限公司"}
    base_name = np.array([f"{cs}{tr}{INDUSTRY_WORDS.get(c2, '实业')}{suffix[o]}" for cs, tr, c2, o in
                          zip(county_short, trade, firms.cic2, firms.ownership)], dtype=object)
    if n > pool ** 3:   # no longer unique by construction: append the firm number
        base_name = np.array([f"{b}{i}" for b, i in zip(base_name, firms.firm_id)], dtype=object)
    renamed = np.array([b.replace("有限公司", "股份有限公司") if b.endswith("有限公司") and not b.endswith("股份有限公司")
                        else b[:-1] + "有限责任公司" for b in base_name], dtype=object)
    codes = _org_codes(rng, 2 * n)
    base_code, new_code = codes[:n], codes[n:]
    # one-off changes, in a year strictly inside the firm's observed span
    span = panel.groupby("firm_index").year.agg(["min", "max"]).reindex(range(n))
    lo, hi = span["min"].fillna(0).to_numpy().astype(int), span["max"].fillna(0).to_numpy().astype(int)
    multi = hi > lo
    change_high = np.maximum(hi + 1, lo + 2)   # valid bounds for single-year firms, which never change
    code_change_year = np.where(multi & (rng.random(n) < rates.code_change), rng.integers(lo + 1, change_high), 9999)
    name_change_year = np.where(multi & (rng.random(n) < rates.name_change), rng.integers(lo + 1, change_high), 9999)
    panel["legal_person_code"] = np.where(year >= code_change_year[fi], new_code[fi], base_code[fi])
    panel["firm_name"] = np.where(year >= name_change_year[fi], renamed[fi], base_name[fi])
    shared = rng.random(len(panel)) < rates.shared_code
    for y in np.unique(year[shared]):
        rows_y = np.flatnonzero(year == y)
        take = np.flatnonzero(shared & (year == y))
        donor = rows_y[rng.integers(0, len(rows_y), len(take))]
        keep = panel.firm_index.to_numpy()[donor] != fi[take]
        panel.loc[panel.index[take[keep]], "legal_person_code"] = panel.legal_person_code.to_numpy()[donor[keep]]
        shared[take[~keep]] = False
    panel["shared_code"] = shared
    panel["code_changed"] = year >= code_change_year[fi]
    panel["name_changed"] = year >= name_change_year[fi]
    # district code of the year: each firm follows one code path of its 2013 county
    paths = _county_paths(first)
    path_pick = rng.random(n)
    county = firms.county.to_numpy()
    firm_path = [paths[c][int(u * len(paths[c]))] for c, u in zip(county, path_pick)]
    path_matrix = np.array(firm_path)                       # n x (2013 - first + 1)
    if rates.code_history:
        panel["district_code_raw"] = path_matrix[fi, year - first]
    else:
        panel["district_code_raw"] = county[fi]
    # industry code of the year's vintage
    codes_2002, to_2011, from_1994 = _industries()
    cic4 = firms.cic4.to_numpy()
    pick = rng.random(n)
    code_1994 = np.array([from_1994.get(c, [c])[int(u * len(from_1994.get(c, [c])))] for c, u in zip(cic4, pick)])
    code_2011 = np.array([to_2011.get(c, [c])[int(u * len(to_2011.get(c, [c])))] for c, u in zip(cic4, pick)])
    if rates.industry_vintage:
        panel["industry_code_raw"] = np.where(year <= 2002, code_1994[fi], np.where(year >= 2012, code_2011[fi],
                                                                                      cic4[fi]))
    else:
        panel["industry_code_raw"] = cic4[fi]
    # addresses: one outside-zone and one inside-zone form per firm; the year's state picks one
    m = len(STREETS)
    street = np.array(STREETS, dtype=object)[rng.integers(0, m, n)]
    false_pos = rng.random(n) < rates.false_positive_street
    street = np.where(false_pos, np.array(FALSE_POSITIVE_STREETS, dtype=object)[rng.integers(0, 7, n)], street)
    weak = ~false_pos & (rng.random(n) < rates.weak_keyword)
    number = rng.integers(1, 999, n).astype(str)
    town = np.array(TOWNS, dtype=object)[rng.integers(0, len(TOWNS), n)]
    town = np.where(weak, np.char.add(np.array(county_short, dtype=str), "工业园").astype(object), town)
    place = (firms.province_name + np.where(firms.city_name == firms.province_name, "", firms.city_name)
             + firms.county_name).to_numpy()
    outside = place + town + street + number + "号"
    zone_street = np.array(STREETS, dtype=object)[rng.integers(0, m, n)]
    short_zone = np.char.add(np.array(county_short, dtype=str),
                             np.array(STRONG_KEYWORDS)[rng.integers(0, len(STRONG_KEYWORDS), n)]).astype(object)
    zone_form = np.where(rng.random(n) < 0.7, firms.zone_name.to_numpy(), short_zone)
    omitted = rng.random(n) < rates.zone_address_omitted
    inside = np.where(omitted, place + town + zone_street + number + "号",
                      place + zone_form + zone_street + number + "号")
    sez = panel.sez.to_numpy()
    panel["address"] = np.where(sez, inside[fi], outside[fi])
    panel["false_positive_street"] = ~sez & false_pos[fi]
    panel["weak_keyword"] = ~sez & weak[fi]
    panel["zone_address_omitted"] = sez & omitted[fi]
    firms["cic_1994"], firms["cic_2011"] = code_1994, code_2011


def _header_for(canonical: str, year: int, rates: MessRates, stata: bool) -> str:
    names = known_names()
    cands = names[names.canonical == canonical]
    if stata:   # Stata variable names: letters, digits, underscore, at most 32 characters
        cands = cands[cands.raw_name.map(lambda s: bool(re.fullmatch(r"[^\W\d]\w{0,31}", s)))]
    english = cands[cands.language == "en"].raw_name.tolist()
    if not rates.headers:
        return english[-1]
    if year in ENGLISH_HEADER_YEARS:
        return english[year % len(english)]
    if year in PINYIN_HEADER_YEARS:
        pinyin = cands[cands.language == "pinyin"].raw_name.tolist()
        return (pinyin or english)[0]
    chinese = cands[cands.language == "zh"].raw_name.tolist()
    return chinese[year % len(chinese)] if chinese else english[0]
