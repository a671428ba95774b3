"""Synthetic raw ASIE extracts generated from a known truth.

The generator draws a panel of manufacturing firms from a documented firm
process, writes what a statistical office would have published about them in
yearly files with the real survey's mess, and keeps the truth beside the files,
so that harmonisation, SEZ flagging, TFP estimators and treatment-effect
regressions can be checked against known answers.

Firm process (every parameter is a module constant or an argument)
------------------------------------------------------------------
Firms. ``n_firms`` true firms over the survey years. A share
``INCUMBENT_SHARE`` is alive in the first year with founding years before it
(founded ``G`` years before it, ``G`` geometric with mean ``INCUMBENT_MEAN_AGE``); the others are founded
in a year drawn uniformly from the survey years. Each firm has a 4-digit
industry (GB/T 4754-2002 manufacturing codes, 2-digit 13-43, taken from the
2002->2011 crosswalk), a county (a county-level code valid in 2013 from the
administrative code history, drawn with log-normal weights, coastal provinces
``COASTAL_PROVINCES`` weighted by ``COASTAL_WEIGHT``) and an ownership group
(state, collective, private, HMT, foreign; ``OWNERSHIP_SHARES_INCUMBENT`` and
``OWNERSHIP_SHARES_ENTRANT``) with a registration-type code
(``REGISTRATION_TYPES``) and paid-in capital shares consistent with it
(state: state capital 60-100 %; collective: collective 60-100 %; private:
individuals 50-100 %; joint ventures: HMT/foreign 25-75 %, wholly owned 100 %).

Zones. A share ``ZONE_COUNTY_SHARE`` of counties (of provinces in the 2018
development-zone catalogue) hosts one zone drawn from the catalogue's zones of
that province. In a host county a firm is born inside the zone with
probability ``P_BORN_IN_ZONE`` (``P_BORN_IN_ZONE_FOREIGN`` for HMT/foreign
firms). A share ``MOVER_SHARE`` of host-county firms moves across the zone
border once, in a year drawn uniformly after its first survey year (into the
zone when born outside, out of it otherwise); its address changes that year.

Productivity. Log TFP is ``ln_tfp = omega + TAU_SEZ * sez`` where
``omega_t = RHO * omega_{t-1} + (1 - RHO) * mu_i + xi_t``,
``xi ~ N(0, SIGMA_XI)``, ``mu_i ~ N(industry + ownership shift, SIGMA_MU)``;
``TAU_SEZ`` is the known treatment effect of being inside a zone.

Production (Cobb-Douglas in value added, real 1000 yuan of the base year)::

    ln VA = BETA_0 + BETA_K k + BETA_L l + ln_tfp + eps,  eps ~ N(0, SIGMA_EPS)

Materials are the flexible input of the gross-output function
``Q = A K^{a_k} L^{a_l} M^{ALPHA_M}`` with ``a_k = BETA_K (1 - ALPHA_M)`` and
``a_l = BETA_L (1 - ALPHA_M)``: its first-order condition ``M = ALPHA_M Q``
gives ``M = ALPHA_M / (1 - ALPHA_M) * VA_planned`` (planned = before eps),
so materials are strictly increasing in ``ln_tfp`` given capital
(Levinsohn and Petrin, 2003), and ``Q = VA + M``.
Capital follows ``K_{t+1} = (1 - DELTA) K_t + I_t`` with investment
``ln I_t = IOTA_0 + IOTA_K k_t + IOTA_OMEGA ln_tfp_t``, strictly increasing in
productivity given capital (Olley and Pakes, 1996). Labour is chosen after
productivity is seen: ``l = LABOUR_0 + LABOUR_K k + LABOUR_OMEGA ln_tfp -
LABOUR_WAGE w + u`` with ``w`` the log county-year and firm wage deviation and
``u ~ N(0, SIGMA_LABOUR)`` an optimisation error, plus a fixed firm labour
intensity ``N(0, SIGMA_LABOUR_FIRM)`` (a partial adjustment to the static
first-order condition, whose productivity elasticity would be 1 / (1 - BETA_L);
Ackerberg, Caves and Frazer, 2015). Initial capital is
``INITIAL_K_MEAN (+ ENTRANT_K_SHIFT for entrants) + 0.5 IOTA_OMEGA / (1 - IOTA_K) ln_tfp
+ N(0, INITIAL_K_SD)``, half way to the investment rule's steady state. Firms exit
with probability ``logistic(EXIT_0 - EXIT_OMEGA (omega - mu_i) - EXIT_L (l -
LABOUR_MEAN))`` at the end of each year; ``exit_intercept`` replaces
``EXIT_0`` (the paper-size demo uses ``PAPER_EXIT_0`` with 1,125,000 true
firms, so that about 590,000 firms and 2.3 million firm-years remain after
cleaning, as in the SEZ paper).

Exports. Exporter status is persistent: a probit with
``EXPORT_0 + EXPORT_PERSIST * exporter_{t-1} + EXPORT_OMEGA ln_tfp +
EXPORT_FOREIGN * foreign + EXPORT_SEZ * sez``; exporters ship a firm-specific
share of sales (Beta distributed, higher for foreign firms).

Money. Nominal values (1000 yuan, current prices) are real values times
``OUTPUT_PRICE_INDEX[year]`` (1998 = 1). Wages per worker start at
``WAGE_1998`` and grow by ``WAGE_GROWTH`` a year; welfare is ``WELFARE_RATE``
of wages, VAT ``VAT_RATE`` of value added, depreciation ``DELTA`` of last year's
net book value, accumulated depreciation its running sum, total assets = net
fixed assets + current assets (a firm share of sales) + other assets >= net
fixed assets, liabilities a firm leverage times assets, profit = value added -
wages - welfare - depreciation - VAT - interest (``INTEREST_RATE`` of debt).

The mess (``mess="default"``, rates in ``MessRates``)
----------------------------------------------------
* Headers change by year: Chinese in most years (synonyms rotate), English in
  ``ENGLISH_HEADER_YEARS``, pinyin where one exists (else English) in
  ``PINYIN_HEADER_YEARS``; all from ``reference/asie_columns.csv`` so that
  ``sez.data.columns.canonical_columns`` maps them.
* Legal-person codes (9-character organisation codes with the GB 11714 check
  character) change once for ``code_change`` of firms while the name persists;
  names change once for ``name_change`` of firms while the code persists;
  ``shared_code`` of firm-years carry another firm's code of that year.
* District codes are those valid in the survey year, following the real code
  history back from the 2013 code (renames, retirements, merges and splits; a
  firm in a county formed from several old ones gets one of them).
* Industry codes are in the vintage of the year: GB/T 4754-1994 up to 2002,
  2002 from 2003 to 2011, 2011 from 2012 (a firm keeps one target code where a
  code maps to several).
* Addresses: zone firms name their zone (or a short form with a strong
  keyword); ``zone_address_omitted`` of them do not mention it;
  ``false_positive_street`` of other firms sit on streets such as 经济路,
  开发大道, 高新路, and ``weak_keyword`` in a township 工业园 that is no zone.
* ``missing_cell`` of numeric cells and ``missing_text`` of address /
  registration cells are missing; ``duplicate_row`` of rows appear twice.
* Money is in yuan instead of 1000 yuan in ``MONEY_IN_YUAN_YEAR`` (2006).
* Value added is absent in 2004 and after 2007, as in the real survey.
* Identity violations, each at ``identity_violation`` of rows: total assets
  below net fixed assets, accumulated below current depreciation, founding
  year after the survey year.
* A few firm-years have fewer than 8 employees (the labour process produces
  them; Brandt, Van Biesebroeck and Zhang, 2012, drop them).

``mess="none"`` writes clean files: English headers, 2013 district codes, 2002
industry codes, 1000 yuan, value added in every year, none of the rates above.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sez.data.columns import MONEY, TEXT, canonical_columns, known_names
from sez.data.read import excel_reader, importable

# ----------------------------------------------------------------------------- parameters
BETA_0 = 2.3            # value-added intercept (ln 1000 yuan)
BETA_K = 0.35           # value-added elasticity of capital
BETA_L = 0.60           # value-added elasticity of labour
ALPHA_M = 0.70          # materials elasticity of gross output (= materials share of output)
SIGMA_EPS = 0.10        # ex-post output shock, unknown to the firm when choosing inputs
RHO = 0.80              # AR(1) persistence of omega
SIGMA_XI = 0.12         # innovation sd of omega
SIGMA_MU = 0.25         # sd of firm-specific mean productivity
SIGMA_INDUSTRY = 0.08   # sd of 2-digit industry productivity shifts
OWNERSHIP_TFP_SHIFT = {"state": -0.10, "collective": -0.05, "private": 0.0, "HMT": 0.05, "foreign": 0.10}
TAU_SEZ = 0.10          # treatment effect of being inside a zone on ln TFP
DELTA = 0.09            # depreciation rate
IOTA_0, IOTA_K, IOTA_OMEGA = -1.09, 0.85, 0.60   # ln I = IOTA_0 + IOTA_K k + IOTA_OMEGA ln_tfp
LABOUR_0, LABOUR_K, LABOUR_OMEGA, LABOUR_WAGE = 0.95, 0.45, 1.0, 1.0
SIGMA_LABOUR_FIRM = 0.5   # firm labour intensity (technology), fixed over time
LABOUR_MEAN = 4.9       # typical ln employment (about 130 workers)
SIGMA_LABOUR = 0.25     # labour optimisation error
INITIAL_K_MEAN, INITIAL_K_SD = 8.8, 1.2     # ln capital of incumbents and entrants
ENTRANT_K_SHIFT = -0.6
EXIT_0, EXIT_OMEGA, EXIT_L = -2.9, 3.0, 0.3   # exit hazard about 6 % a year
#: The exit intercept of the paper-size demo (a hazard of about a third a year: firms leave the ASIE when
#: their sales fall below its threshold as well as when they close). Measured on 40,000 true firms: 2.76 raw
#: records a firm; after cleaning (firms seen once dropped) 52.5% of the firms remain with 3.97 firm-years
#: each, the SEZ paper's 3.9 (2.3 million firm-years of 586,599 firms); ``EXIT_0`` gives 8.7
#: (4,000 true firms: 29,882 firm-years of 3,452 firms after cleaning).
PAPER_EXIT_0 = -0.6
EXPORT_0, EXPORT_PERSIST, EXPORT_OMEGA, EXPORT_FOREIGN, EXPORT_SEZ = -1.6, 2.6, 1.5, 0.9, 0.35
INCUMBENT_SHARE = 0.38
INCUMBENT_MEAN_AGE = 11.0
OWNERSHIP = ("state", "collective", "private", "HMT", "foreign")
OWNERSHIP_SHARES_INCUMBENT = (0.18, 0.14, 0.43, 0.11, 0.14)
OWNERSHIP_SHARES_ENTRANT = (0.03, 0.04, 0.71, 0.09, 0.13)
REGISTRATION_TYPES = {   # code: probability within ownership group
    "state": {"110": 0.6, "151": 0.3, "141": 0.1},
    "collective": {"120": 0.7, "130": 0.2, "142": 0.1},
    "private": {"171": 0.15, "172": 0.05, "173": 0.45, "159": 0.2, "160": 0.1, "190": 0.05},
    "HMT": {"210": 0.4, "220": 0.1, "230": 0.45, "240": 0.05},
    "foreign": {"310": 0.4, "320": 0.1, "330": 0.45, "340": 0.05},
}
WHOLLY_OWNED = {"230", "330"}
ZONE_COUNTY_SHARE = 0.30
P_BORN_IN_ZONE, P_BORN_IN_ZONE_FOREIGN = 0.30, 0.55
MOVER_SHARE = 0.15
COASTAL_PROVINCES = ("12", "31", "32", "33", "35", "37", "44")
COASTAL_WEIGHT = 3.0
WAGE_1998, WAGE_GROWTH = 9.0, 0.10          # 1000 yuan per worker, nominal growth
SIGMA_WAGE_COUNTY, SIGMA_WAGE_FIRM = 0.15, 0.15
WELFARE_RATE, VAT_RATE, INTEREST_RATE = 0.14, 0.17, 0.05
#: PPI-like output price index, 1998 = 1 (National Bureau of Statistics ex-factory prices, rounded)
OUTPUT_PRICE_INDEX = {1998: 1.000, 1999: 0.976, 2000: 1.004, 2001: 0.991, 2002: 0.969, 2003: 0.991, 2004: 1.052,
                      2005: 1.103, 2006: 1.136, 2007: 1.171, 2008: 1.286, 2009: 1.217, 2010: 1.284, 2011: 1.372,
                      2012: 1.348, 2013: 1.322}
TARGET_CODE_YEAR = 2013   # the vintage of the true county codes

# ----------------------------------------------------------------------------- mess
MONEY_IN_YUAN_YEAR = 2006


def VALUE_ADDED_ABSENT(year: int) -> bool:  # noqa: N802  (a rule read like a constant)
    """Value added is not in the real survey's 2004 file nor after 2007."""
    return year == 2004 or year > 2007


ENGLISH_HEADER_YEARS = (2004, 2011)
PINYIN_HEADER_YEARS = (2009,)
FALSE_POSITIVE_STREETS = ("经济路", "开发大道", "高新路", "开发路", "园区路", "高新大道", "经济街")
STRONG_KEYWORDS = ("开发区", "高新区", "经开区", "工业园区", "出口加工区")
#: file format by year; "xlsx" falls back to CSV when no Excel writer is installed or the year is not
#: among ``excel_years`` (Excel is slow at the papers' scale: about 12 s to write and 1.4 s to read
#: 50,000 rows with xlsxwriter and calamine, 17 s and 9 s with openpyxl)
FILE_FORMATS = {1998: "csv-bom", 1999: "csv", 2000: "parquet", 2001: "dta", 2002: "csv-gb18030", 2003: "xlsx",
                2004: "parquet", 2005: "dta", 2006: "csv-bom", 2007: "parquet", 2008: "dta", 2009: "csv",
                2010: "xlsx", 2011: "parquet", 2012: "csv-bom", 2013: "dta"}


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


@dataclass
class SyntheticASIE:
    """Raw yearly extracts, where they were written, and the truth behind them.

    Attributes
    ----------
    raw : dict[int, DataFrame]
        One raw frame per year, with that year's headers, codes and units.
    truth : DataFrame
        One row per true firm-year: ``firm_id``, ``year``, ``raw_row`` (row of
        the first copy in that year's raw frame), the raw ``legal_person_code``
        and ``firm_name``, true codes and states, real quantities and
        ``ln_tfp``; the parameters are in ``truth.attrs``.
    files : dict[int, Path]
        Year -> file written (empty when no ``out_dir``).
    formats : dict[int, str]
        Year -> format actually written (``csv``, ``csv-bom``, ``csv-gb18030``,
        ``parquet``, ``dta``, ``xlsx``).
    mess_log : DataFrame
        ``kind, year, firm_id`` of every injected irregularity (missing
        numeric cells are not listed: they are visible as NaN).

    Notes
    -----
    In years written as Stata files a missing text cell is ``""`` in ``raw``
    (Stata has no missing string), elsewhere it is missing.
    notes : list[str]
        E.g. a format fallback.
    """

    raw: dict[int, pd.DataFrame]
    truth: pd.DataFrame
    files: dict[int, Path] = field(default_factory=dict)
    formats: dict[int, str] = field(default_factory=dict)
    mess_log: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- reference data
def _reference(path: str):
    return resources.files("sez.data").joinpath("reference/" + path)


@lru_cache(maxsize=1)
def _counties() -> pd.DataFrame:
    """County-level codes valid in TARGET_CODE_YEAR with province / city names."""
    d = _area_table()
    valid = d[(d.start <= TARGET_CODE_YEAR) & (d.end > TARGET_CODE_YEAR) & (d.name != "市辖区")]
    valid = valid.drop_duplicates("code", keep="last")
    out = pd.DataFrame({"county": valid.code.to_numpy(), "province_name": valid.prov.to_numpy(),
                        "city_name": np.where(valid.pref.isin(["直辖", ""]), valid.prov, valid.pref),
                        "county_name": valid.name.to_numpy()})
    return out.reset_index(drop=True)


@lru_cache(maxsize=1)
def _area_table() -> pd.DataFrame:
    with _reference("areacodes/result.csv").open("r", encoding="utf-8-sig") as f:
        d = pd.read_csv(f, dtype=str, keep_default_na=False)
    d.columns = ["code", "prov", "pref", "name", "level", "status", "start", "end", "new"]
    d = d[d.level == "县级"].copy()
    d["start"] = d.start.astype(int)
    d["end"] = pd.to_numeric(d.end.replace("", np.nan)).fillna(9999).astype(int)
    return d


@lru_cache(maxsize=4)
def _county_paths(first_year: int) -> dict[str, list[tuple[str, ...]]]:
    """For each 2013 county, the possible code sequences from first_year to 2013.

    Walk back year by year: a code valid in the earlier year is kept; codes
    retired at the turn of the year whose successor list names the current code
    are predecessors (a merge gives several, a split of an old code into an
    existing one gives a branch). Branches are capped at 8 per county.
    Counties without a valid sequence back to first_year are left out.
    """
    d = _area_table()
    valid_years: dict[str, list[tuple[int, int]]] = {}
    for code, s, e in zip(d.code, d.start, d.end):
        valid_years.setdefault(code, []).append((s, e))
    # (year of change, successor) -> predecessors; "code[year]" dates a change that is not the record's end,
    # e.g. territory of a code still in use given to a new county
    retired_into: dict[tuple[int, str], list[str]] = {}
    for code, e, new in zip(d.code, d.end, d.new):
        for successor, when in re.findall(r"(\d{6})(?:\[(\d{4})\])?", new):
            change = int(when) if when else e
            if successor != code and change != 9999:
                retired_into.setdefault((change, successor), []).append(code)

    def is_valid(code, year):
        return any(s <= year < e for s, e in valid_years.get(code, ()))

    paths = {}
    for county in _counties().county:
        branches = [(county,)]
        for year in range(TARGET_CODE_YEAR - 1, first_year - 1, -1):
            grown = []
            for path in branches:
                current = path[0]
                options = [current] if is_valid(current, year) else []
                options += [p for p in retired_into.get((year + 1, current), ()) if is_valid(p, year)
                            and p not in options]
                grown += [(o,) + path for o in (options or [current])]
            branches = grown[:8]
        # keep only sequences valid in every year; a county with none (no recorded origin) is not drawn
        branches = [b for b in branches if all(is_valid(c, first_year + i) for i, c in enumerate(b))]
        if branches:
            paths[county] = branches
    return paths


@lru_cache(maxsize=1)
def _industries() -> tuple[np.ndarray, dict[str, list[str]], dict[str, list[str]]]:
    """Manufacturing CIC 2002 4-digit codes and their 1994 / 2011 counterparts."""
    with _reference("gbcrosswalk/gb_2002_2011.csv").open("r", encoding="utf-8") as f:
        fwd = pd.read_csv(f, dtype=str)
    with _reference("gbcrosswalk/gb_1994_2002.csv").open("r", encoding="utf-8") as f:
        back = pd.read_csv(f, dtype=str)
    fwd = fwd[(fwd.level == "S") & fwd.from_code.str[:2].astype(int).between(13, 43)]
    back = back[(back.level == "S") & back.to_code.isin(fwd.from_code)]
    codes = np.array(sorted(fwd.from_code.unique()))
    to_2011 = fwd.groupby("from_code").to_code.apply(lambda s: sorted(set(s))).to_dict()
    from_1994 = back.groupby("to_code").from_code.apply(lambda s: sorted(set(s))).to_dict()
    return codes, to_2011, from_1994


@lru_cache(maxsize=1)
def _zones() -> pd.DataFrame:
    with _reference("devzones/devzones_2018.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype=str)


INDUSTRY_WORDS = {"13": "食品", "14": "食品", "15": "饮料", "16": "烟草", "17": "纺织", "18": "服装", "19": "皮革",
                  "20": "木业", "21": "家具", "22": "纸业", "23": "印刷", "24": "文体用品", "25": "石化", "26": "化工",
                  "27": "制药", "28": "化纤", "29": "橡胶", "30": "塑料", "31": "建材", "32": "钢铁", "33": "有色金属",
                  "34": "金属制品", "35": "机械", "36": "设备", "37": "汽车配件", "39": "电气", "40": "电子", "41": "仪器",
                  "42": "工艺品", "43": "再生资源"}
TRADE_CHARS = "华兴达盛源丰鑫宏泰隆昌恒力通嘉瑞顺宇新金永安信德明科鸿海天中东方远正大利威佳凯腾龙飞宝发祥和福康光美艺创联星汇豪广益协晨阳"
STREETS = ("人民路", "解放路", "建设路", "中山路", "新华路", "和平路", "胜利路", "文化路", "工业路", "朝阳路", "长江路",
           "黄河路", "东风路", "青年路", "光明路", "南京路", "北京路", "迎宾大道", "环城路", "滨江路")
TOWNS = ("城关镇", "新城镇", "城南街道", "城北街道", "东城街道", "西城街道", "南湖镇", "河口镇", "新桥镇", "白沙镇")


# ----------------------------------------------------------------------------- generator
def synthetic(n_firms: int = 20_000, years: tuple[int, int] = (1998, 2013), seed: int = 0,
              out_dir: str | Path | None = None, mess: str | MessRates = "default",
              exit_intercept: float = EXIT_0, excel_years: tuple[int, ...] | None = None) -> SyntheticASIE:
    """Generate raw yearly ASIE extracts and the truth behind them.

    Parameters
    ----------
    n_firms : int
        Number of true firms over the whole period (incumbents and entrants).
    years : (int, int)
        First and last survey year, inclusive, within 1990-2013.
    seed : int
        Seed of ``numpy.random.SeedSequence``; independent streams for the firm
        process, the addresses and identities, and the mess.
    out_dir : path, optional
        Write one file per year (format by ``FILE_FORMATS``) and
        ``truth.parquet`` / ``truth_params.json`` there.
    mess : {"default", "none"} or MessRates
        Which irregularities to inject.
    exit_intercept : float
        Intercept of the exit hazard's logit: ``EXIT_0`` (about 8.7 firm-years
        a firm after cleaning over 1998-2013) or ``PAPER_EXIT_0`` (about 3.9,
        the SEZ paper's turnover).
    excel_years : tuple of int, optional
        Years written as Excel among those ``FILE_FORMATS`` says (the others
        as UTF-8 CSV with a byte-order mark); default: all of them.

    Returns
    -------
    SyntheticASIE
    """
    first, last = int(years[0]), int(years[1])
    if not (1990 <= first <= last <= TARGET_CODE_YEAR):
        raise ValueError(f"years must lie within 1990-{TARGET_CODE_YEAR} and be ordered, got {years}")
    if n_firms < 10:
        raise ValueError(f"n_firms must be at least 10, got {n_firms}")
    rates = {"default": MessRates(), "none": NO_MESS}.get(mess, mess) if isinstance(mess, str) else mess
    if not isinstance(rates, MessRates):
        raise ValueError(f"mess must be 'default', 'none' or a MessRates, got {mess!r}")
    firm_stream, identity_stream, mess_stream = (np.random.default_rng(s)
                                                 for s in np.random.SeedSequence(seed).spawn(3))
    firms = _draw_firms(n_firms, first, last, firm_stream)
    panel = _simulate(firms, first, last, firm_stream, exit_intercept)
    _attach_identities(firms, panel, first, rates, identity_stream)
    raw, truth, mess_log = _write_raw(firms, panel, first, last, rates, mess_stream)
    truth.attrs.update(_parameters(rates))
    result = SyntheticASIE(raw=raw, truth=truth, mess_log=mess_log)
    if out_dir is not None:
        _write_files(result, Path(out_dir), excel_years)
    return result


def _draw_firms(n: int, first: int, last: int, rng) -> pd.DataFrame:
    counties = _counties()
    counties = counties[counties.county.isin(_county_paths(first))].reset_index(drop=True)
    weights = np.exp(rng.normal(0, 1.0, len(counties)))
    weights[counties.county.str[:2].isin(COASTAL_PROVINCES).to_numpy()] *= COASTAL_WEIGHT
    county_idx = rng.choice(len(counties), n, p=weights / weights.sum())
    incumbent = rng.random(n) < INCUMBENT_SHARE
    birth = np.where(incumbent, first - 1 - rng.geometric(1 / INCUMBENT_MEAN_AGE, n) + 1,
                     rng.integers(first, last + 1, n))
    birth = np.maximum(birth, 1949)
    own_idx = np.where(incumbent, rng.choice(5, n, p=OWNERSHIP_SHARES_INCUMBENT),
                       rng.choice(5, n, p=OWNERSHIP_SHARES_ENTRANT))
    ownership = np.array(OWNERSHIP)[own_idx]
    registration = np.empty(n, dtype=object)
    for group, table in REGISTRATION_TYPES.items():
        sel = ownership == group
        registration[sel] = rng.choice(list(table), sel.sum(), p=list(table.values()))
    codes, _, _ = _industries()
    cic4 = codes[rng.choice(len(codes), n)]
    cic2 = np.array([c[:2] for c in cic4])
    industry_shift = dict(zip(sorted(set(cic2)), rng.normal(0, SIGMA_INDUSTRY, len(set(cic2)))))
    mu = (np.array([industry_shift[c] for c in cic2]) + np.array([OWNERSHIP_TFP_SHIFT[o] for o in ownership])
          + rng.normal(0, SIGMA_MU, n))
    # zones: a share of counties in catalogue provinces host one zone of their province
    zones = _zones()
    zones_by_prov = {p: g for p, g in zones.groupby("province")}
    host = rng.random(len(counties)) < ZONE_COUNTY_SHARE
    host &= counties.province_name.isin(zones_by_prov).to_numpy()
    zone_name = np.full(len(counties), "", dtype=object)
    zone_code = np.full(len(counties), "", dtype=object)
    for i in np.flatnonzero(host):
        g = zones_by_prov[counties.province_name.iat[i]]
        j = rng.integers(len(g))
        zone_name[i], zone_code[i] = g.name.iat[j], g.code.iat[j]
    foreign = np.isin(ownership, ("HMT", "foreign"))
    in_host = host[county_idx]
    born_in_zone = in_host & (rng.random(n) < np.where(foreign, P_BORN_IN_ZONE_FOREIGN, P_BORN_IN_ZONE))
    planned_move = in_host & (rng.random(n) < MOVER_SHARE)
    first_seen = np.maximum(birth, first)
    move_year = np.where(planned_move & (first_seen < last),
                         rng.integers(first_seen + 1, last + 2), 0)  # last + 1 means after the panel
    move_year[move_year > last] = 0
    c = counties.iloc[county_idx].reset_index(drop=True)
    return pd.DataFrame({
        "firm_id": np.arange(1, n + 1), "county": c.county, "province": c.county.str[:2],
        "city": c.county.str[:4], "province_name": c.province_name, "city_name": c.city_name,
        "county_name": c.county_name, "cic4": cic4, "cic2": cic2, "ownership": ownership,
        "registration_type": registration, "foreign_invested": foreign, "birth_year": birth, "mu": mu,
        "zone_name": zone_name[county_idx], "zone_code": zone_code[county_idx], "born_in_zone": born_in_zone,
        "move_year": move_year, "wage_premium": rng.normal(0, SIGMA_WAGE_FIRM, n),
        "export_share": np.where(foreign, rng.beta(3, 3, n), rng.beta(1.5, 5, n)),
        "labour_intensity": rng.normal(0, SIGMA_LABOUR_FIRM, n),
        "current_asset_ratio": rng.uniform(0.3, 0.8, n), "other_asset_ratio": rng.uniform(0.05, 0.3, n),
        "leverage": rng.beta(5, 4, n), "equity_paid_in": rng.uniform(0.5, 1.0, n),
        "book_value_ratio": rng.uniform(0.6, 0.95, n), "county_idx": county_idx,
    })


def _simulate(firms: pd.DataFrame, first: int, last: int, rng, exit_intercept: float = EXIT_0) -> pd.DataFrame:
    """Year-by-year firm dynamics, vectorised over firms."""
    n = len(firms)
    years = np.arange(first, last + 1)
    mu, birth = firms.mu.to_numpy(), firms.birth_year.to_numpy()
    n_counties = int(firms.county_idx.max()) + 1
    county_wage = rng.normal(0, SIGMA_WAGE_COUNTY, n_counties)
    alive = np.zeros(n, dtype=bool)
    gone = np.zeros(n, dtype=bool)
    omega = np.full(n, np.nan)
    k = np.full(n, np.nan)
    exporter = np.zeros(n, dtype=bool)
    fa_net = np.full(n, np.nan)         # nominal book value
    acc_dep = np.full(n, np.nan)
    foreign = firms.foreign_invested.to_numpy()
    born_in_zone, move_year = firms.born_in_zone.to_numpy(), firms.move_year.to_numpy()
    rows = []
    for t, year in enumerate(years):
        price = OUTPUT_PRICE_INDEX.get(int(year), 1.0 + 0.02 * (year - 1998))
        new = ~alive & ~gone & (birth <= year)
        stationary_sd = SIGMA_XI / np.sqrt(1 - RHO ** 2)
        omega = np.where(new, mu + rng.normal(0, stationary_sd, n),
                         RHO * omega + (1 - RHO) * mu + rng.normal(0, SIGMA_XI, n))
        alive = alive | new
        sez = np.where(move_year > 0, np.where(year >= move_year, ~born_in_zone, born_in_zone), born_in_zone)
        ln_tfp = omega + TAU_SEZ * sez
        entrant = birth >= first
        k_start = (INITIAL_K_MEAN + ENTRANT_K_SHIFT * entrant + 0.5 * IOTA_OMEGA / (1 - IOTA_K) * ln_tfp
                   + rng.normal(0, INITIAL_K_SD, n))
        k = np.where(new, k_start, k)
        county_wage = 0.7 * county_wage + rng.normal(0, SIGMA_WAGE_COUNTY * np.sqrt(1 - 0.49), n_counties)
        wage_dev = county_wage[firms.county_idx.to_numpy()] + firms.wage_premium.to_numpy()
        labour = (LABOUR_0 + firms.labour_intensity.to_numpy() + LABOUR_K * k + LABOUR_OMEGA * ln_tfp
                  - LABOUR_WAGE * wage_dev
                  + rng.normal(0, SIGMA_LABOUR, n))
        ln_va_planned = BETA_0 + BETA_K * k + BETA_L * labour + ln_tfp
        eps = rng.normal(0, SIGMA_EPS, n)
        value_added = np.exp(ln_va_planned + eps)
        materials = ALPHA_M / (1 - ALPHA_M) * np.exp(ln_va_planned)
        investment = np.exp(IOTA_0 + IOTA_K * k + IOTA_OMEGA * ln_tfp)
        capital = np.exp(k)
        # nominal book values: historical cost below replacement value for incumbents
        fa_start = capital * price * firms.book_value_ratio.to_numpy()
        age0 = np.clip(year - birth, 0, 40)
        fa_net = np.where(new, fa_start, fa_net)
        acc_dep = np.where(new, fa_start * (1 - (1 - DELTA) ** age0) / (1 - DELTA) ** age0 * 0.5, acc_dep)
        depreciation = DELTA * fa_net
        index = np.flatnonzero(alive)
        latent = (EXPORT_0 + EXPORT_PERSIST * exporter + EXPORT_OMEGA * (ln_tfp - 0.0)
                  + EXPORT_FOREIGN * foreign + EXPORT_SEZ * sez + rng.normal(0, 1, n))
        exporter = alive & (latent > 0)
        exit_p = 1 / (1 + np.exp(-(exit_intercept - EXIT_OMEGA * (omega - mu) - EXIT_L * (labour - LABOUR_MEAN))))
        exits = alive & (rng.random(n) < exit_p) & (year < last)
        wage_per_worker = WAGE_1998 * (1 + WAGE_GROWTH) ** (year - 1998) * np.exp(wage_dev)
        rows.append(pd.DataFrame({
            "firm_index": index, "year": int(year), "price_index": price, "sez": sez[index],
            "omega": omega[index], "ln_tfp": ln_tfp[index], "ln_capital": k[index], "ln_labour": labour[index],
            "capital": capital[index], "employees_true": np.exp(labour[index]), "value_added": value_added[index],
            "intermediate_input": materials[index], "output": value_added[index] + materials[index],
            "investment": investment[index], "exporter": exporter[index],
            "wage_per_worker": wage_per_worker[index], "fa_net_nominal": fa_net[index],
            "depreciation_nominal": depreciation[index], "acc_dep_nominal": acc_dep[index] + depreciation[index],
            "exit": exits[index], "first_year": new[index],
        }))
        # next year's state: capital accumulation in real and book terms
        k = np.where(alive, np.log((1 - DELTA) * capital + investment), k)
        acc_dep = np.where(alive, acc_dep + depreciation, acc_dep)
        fa_net = np.where(alive, fa_net - depreciation + investment * price, fa_net)
        gone |= exits
        alive &= ~exits
    panel = pd.concat(rows, ignore_index=True)
    return panel


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


RAW_COLUMNS = ("year", "legal_person_code", "firm_name", "address", "district_code", "industry_code",
               "registration_type", "founding_year", "employees", "gross_output", "value_added", "intermediate_input",
               "sales", "exports", "fixed_assets_original", "fixed_assets_net", "depreciation",
               "accumulated_depreciation", "wages_payable", "welfare_payable", "vat_payable", "total_profit",
               "current_assets", "total_assets", "total_liabilities", "paid_in_capital", "capital_state",
               "capital_collective", "capital_legal_person", "capital_individual", "capital_hmt", "capital_foreign")
#: canonical columns every year's file carries
REQUIRED_RAW = tuple(c for c in RAW_COLUMNS if c != "value_added")


def file_format(year: int) -> str:
    """Format of a year's file (before any fallback)."""
    if year in FILE_FORMATS:
        return FILE_FORMATS[year]
    cycle = ("csv-bom", "parquet", "dta", "csv")
    return cycle[year % len(cycle)]


def _write_raw(firms, panel, first, last, rates: MessRates, rng):
    """Build each year's raw frame from the panel and inject the row-level mess."""
    fi = panel.firm_index.to_numpy()
    f = firms.iloc[fi].reset_index(drop=True)
    price = panel.price_index.to_numpy()
    nominal = {name: panel[name].to_numpy() * price for name in ("output", "value_added", "intermediate_input")}
    sales = nominal["output"] * np.exp(rng.normal(0, 0.03, len(panel)))
    exports = np.where(panel.exporter, f.export_share.to_numpy() * sales, 0.0)
    wages = panel.employees_true.to_numpy() * panel.wage_per_worker.to_numpy()
    welfare = WELFARE_RATE * wages
    vat = VAT_RATE * nominal["value_added"]
    fa_net = panel.fa_net_nominal.to_numpy()
    current = f.current_asset_ratio.to_numpy() * sales
    total_assets = fa_net + current + f.other_asset_ratio.to_numpy() * fa_net
    liabilities = f.leverage.to_numpy() * total_assets
    paid_in = f.equity_paid_in.to_numpy() * (total_assets - liabilities)
    profit = (nominal["value_added"] - wages - welfare - panel.depreciation_nominal.to_numpy() - vat
              - INTEREST_RATE * liabilities)
    shares = _capital_shares(f, rng)
    employees = np.round(panel.employees_true.to_numpy())
    money = {"gross_output": nominal["output"], "value_added": nominal["value_added"],
             "intermediate_input": nominal["intermediate_input"], "sales": sales, "exports": exports,
             "fixed_assets_original": fa_net + panel.acc_dep_nominal.to_numpy(), "fixed_assets_net": fa_net,
             "depreciation": panel.depreciation_nominal.to_numpy(),
             "accumulated_depreciation": panel.acc_dep_nominal.to_numpy(), "wages_payable": wages,
             "welfare_payable": welfare, "vat_payable": vat, "total_profit": profit, "current_assets": current,
             "total_assets": total_assets, "total_liabilities": liabilities, "paid_in_capital": paid_in}
    money.update({k: v * paid_in for k, v in shares.items()})
    money = {k: np.round(v) for k, v in money.items()}    # the survey reports whole 1000 yuan
    data = pd.DataFrame({"year": panel.year.to_numpy(), "legal_person_code": panel.legal_person_code.to_numpy(),
                         "firm_name": panel.firm_name.to_numpy(), "address": panel.address.to_numpy(),
                         "district_code": panel.district_code_raw.to_numpy(),
                         "industry_code": panel.industry_code_raw.to_numpy(),
                         "registration_type": f.registration_type.to_numpy(),
                         "founding_year": f.birth_year.to_numpy().astype(float), "employees": employees, **money})
    log = []
    year = data.year.to_numpy()
    # identity violations, each kind at its rate
    n_rows = len(data)
    for kind, column, bad_value in (("total_assets_below_fixed_assets", "total_assets", 0.5 * data.fixed_assets_net),
                                    ("accumulated_below_current_depreciation", "accumulated_depreciation",
                                     np.floor(0.5 * data.depreciation)),
                                    ("founding_after_survey_year", "founding_year", data.year + 1 + year % 3)):
        hit = rng.random(n_rows) < rates.identity_violation
        if kind == "accumulated_below_current_depreciation":
            hit &= data.depreciation.to_numpy() >= 2   # a halved zero would not violate anything
        data.loc[hit, column] = np.asarray(bad_value)[hit]
        log.append(pd.DataFrame({"kind": kind, "year": year[hit], "firm_id": fi[hit] + 1}))
    # missing cells
    numeric = [c for c in data.columns if c not in ("year",) + TEXT]
    for c in numeric:
        hit = rng.random(n_rows) < rates.missing_cell
        data.loc[hit, c] = np.nan
    for c in ("address", "registration_type"):
        hit = rng.random(n_rows) < rates.missing_text
        data[c] = data[c].where(~hit, None)
        log.append(pd.DataFrame({"kind": f"missing_{c}", "year": year[hit], "firm_id": fi[hit] + 1}))
    for kind in ("code_changed", "name_changed", "shared_code", "false_positive_street", "weak_keyword",
                 "zone_address_omitted"):
        hit = panel[kind].to_numpy()
        log.append(pd.DataFrame({"kind": kind, "year": year[hit], "firm_id": fi[hit] + 1}))
    raw, raw_row = {}, np.zeros(n_rows, dtype=np.int64)
    for y in range(first, last + 1):
        rows = np.flatnonzero(year == y)
        frame = data.iloc[rows].reset_index(drop=True)
        if rates.units and y == MONEY_IN_YUAN_YEAR:
            for c in MONEY:
                if c in frame:
                    frame[c] = frame[c] * 1000.0
        if rates.value_added_gaps and VALUE_ADDED_ABSENT(y):
            frame = frame.drop(columns="value_added")
        dup = np.flatnonzero(rng.random(len(frame)) < rates.duplicate_row)
        log.append(pd.DataFrame({"kind": "duplicate_row", "year": y, "firm_id": fi[rows[dup]] + 1}))
        frame = pd.concat([frame, frame.iloc[dup]], ignore_index=True)
        order = rng.permutation(len(frame))
        position = np.empty(len(frame), dtype=np.int64)
        position[order] = np.arange(len(frame))
        raw_row[rows] = position[: len(rows)]
        frame = frame.iloc[order].reset_index(drop=True)
        if file_format(y) == "dta":   # Stata stores a missing string as ""
            for c in frame.columns:
                if c in TEXT:
                    frame[c] = frame[c].fillna("")
        stata = file_format(y) == "dta"
        frame.columns = [_header_for(c, y, rates, stata) for c in frame.columns]
        raw[y] = frame
    truth = pd.DataFrame({
        "firm_id": fi + 1, "year": year, "raw_row": raw_row,
        "legal_person_code": panel.legal_person_code.to_numpy(), "firm_name": panel.firm_name.to_numpy(),
        "province": f.province.to_numpy(), "city": f.city.to_numpy(), "county": f.county.to_numpy(),
        "district_code_raw": panel.district_code_raw.to_numpy(), "cic4": f.cic4.to_numpy(),
        "cic3": f.cic4.str[:3].to_numpy(), "cic2": f.cic2.to_numpy(),
        "industry_code_raw": panel.industry_code_raw.to_numpy(),
        "ownership": pd.Categorical(f.ownership, categories=OWNERSHIP),
        "registration_type": f.registration_type.to_numpy(), "foreign_invested": f.foreign_invested.to_numpy(),
        "birth_year": f.birth_year.to_numpy(), "sez": panel.sez.to_numpy().astype(bool),
        "zone_name": np.where(panel.sez, f.zone_name, ""), "zone_code": np.where(panel.sez, f.zone_code, ""),
        "birth_zone": pd.Categorical(np.where(f.born_in_zone, "S", "N"), categories=["S", "N"]),
        "move_year": f.move_year.to_numpy(),
        "ln_tfp": panel.ln_tfp.to_numpy(), "omega": panel.omega.to_numpy(),
        "capital": panel.capital.to_numpy(), "employees": panel.employees_true.to_numpy(),
        "value_added": panel.value_added.to_numpy(), "output": panel.output.to_numpy(),
        "intermediate_input": panel.intermediate_input.to_numpy(), "investment": panel.investment.to_numpy(),
        "exporter": panel.exporter.to_numpy(), "price_index": price, "entry": panel.first_year.to_numpy()
        & (panel.year.to_numpy() == f.birth_year.to_numpy()), "exit": panel.exit.to_numpy(),
    })
    # a planned move shows only when the firm is still there in its move year
    moved = truth.groupby("firm_id").sez.transform("nunique") > 1
    truth["mover"] = moved.to_numpy()
    truth["move_year"] = pd.array(np.where(truth.mover, truth.move_year, 0), dtype="Int64")
    truth.loc[~truth.mover, "move_year"] = pd.NA
    truth = truth.sort_values(["firm_id", "year"], ignore_index=True)
    mess_log = pd.concat(log, ignore_index=True) if log else None
    return raw, truth, mess_log


def _capital_shares(f: pd.DataFrame, rng) -> dict[str, np.ndarray]:
    """Paid-in capital shares by source, consistent with the registration type (per firm, so per row
    draws are seeded from the firm: rows of one firm share them)."""
    n_firm = int(f.firm_id.max()) + 1
    u = rng.uniform(0, 1, n_firm)[f.firm_id.to_numpy()]
    reg, own = f.registration_type.to_numpy(), f.ownership.to_numpy()
    zeros = np.zeros(len(f))
    out = {k: zeros.copy() for k in ("capital_state", "capital_collective", "capital_legal_person",
                                     "capital_individual", "capital_hmt", "capital_foreign")}
    main = {"state": "capital_state", "collective": "capital_collective", "private": "capital_individual",
            "HMT": "capital_hmt", "foreign": "capital_foreign"}
    low = {"state": 0.6, "collective": 0.6, "private": 0.5, "HMT": 0.25, "foreign": 0.25}
    high = {"state": 1.0, "collective": 1.0, "private": 1.0, "HMT": 0.75, "foreign": 0.75}
    for group, column in main.items():
        sel = own == group
        share = low[group] + (high[group] - low[group]) * u[sel]
        share = np.where(np.isin(reg[sel], list(WHOLLY_OWNED)), 1.0, share)
        out[column][sel] = share
        rest = "capital_individual" if group == "collective" else "capital_legal_person"
        out[rest][sel] += 1 - share
    return out


def _parameters(rates: MessRates) -> dict:
    return {"beta_0": BETA_0, "beta_k": BETA_K, "beta_l": BETA_L, "alpha_m": ALPHA_M,
            "alpha_k_gross_output": BETA_K * (1 - ALPHA_M), "alpha_l_gross_output": BETA_L * (1 - ALPHA_M),
            "sigma_eps": SIGMA_EPS, "rho": RHO, "sigma_xi": SIGMA_XI, "sigma_mu": SIGMA_MU, "tau_sez": TAU_SEZ,
            "delta": DELTA, "iota": [IOTA_0, IOTA_K, IOTA_OMEGA],
            "labour": [LABOUR_0, LABOUR_K, LABOUR_OMEGA, LABOUR_WAGE, SIGMA_LABOUR],
            "money_in_yuan_year": MONEY_IN_YUAN_YEAR if rates.units else None,
            "output_price_index": {str(k): v for k, v in OUTPUT_PRICE_INDEX.items()},
            "real_units": "1000 yuan at 1998 prices", "mess": {k: v for k, v in vars(rates).items()}}


# ----------------------------------------------------------------------------- files
def _write_files(result: SyntheticASIE, out_dir: Path, excel_years: tuple[int, ...] | None = None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = importable("xlsxwriter", "openpyxl")  # xlsxwriter writes about 1.3x faster
    for year, frame in result.raw.items():
        fmt = file_format(year)
        if fmt == "xlsx" and not writer:
            result.notes.append(f"{year}: no Excel writer (openpyxl/xlsxwriter) installed; wrote CSV instead")
            fmt = "csv-bom"
        elif fmt == "xlsx" and excel_years is not None and year not in excel_years:
            result.notes.append(f"{year}: CSV instead of Excel (Excel is kept for {list(excel_years)} only)")
            fmt = "csv-bom"
        path = out_dir / f"asie_{year}.{ {'parquet': 'parquet', 'dta': 'dta', 'xlsx': 'xlsx'}.get(fmt, 'csv') }"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        elif fmt == "dta":
            frame.to_stata(path, write_index=False, version=118)
        elif fmt == "xlsx":
            frame.to_excel(path, index=False, engine=writer)
        else:
            encoding = {"csv": "utf-8", "csv-bom": "utf-8-sig", "csv-gb18030": "gb18030"}[fmt]
            frame.to_csv(path, index=False, encoding=encoding)
        result.files[year], result.formats[year] = path, fmt
    truth = result.truth
    truth.to_parquet(out_dir / "truth.parquet", index=False)
    params = dict(truth.attrs, formats={str(k): v for k, v in result.formats.items()}, notes=result.notes)
    (out_dir / "truth_params.json").write_text(json.dumps(params, ensure_ascii=False, indent=1), encoding="utf-8")


def read_raw_file(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """Read one raw yearly file back with text columns as text (leading zeros kept).

    Parameters
    ----------
    path : path
        A file written by ``synthetic``.
    fmt : str, optional
        ``csv``, ``csv-bom``, ``csv-gb18030``, ``parquet``, ``dta`` or ``xlsx``;
        inferred from the suffix when omitted (CSV encoding: UTF-8, else GB18030).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if fmt is None:
        fmt = {".parquet": "parquet", ".dta": "dta", ".xlsx": "xlsx"}.get(suffix, "csv")
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "dta":
        return pd.read_stata(path)
    if fmt == "xlsx":
        engine = excel_reader()
        header = pd.read_excel(path, nrows=0, engine=engine).columns
        text = [c for c, canon in canonical_columns(header).items() if canon in TEXT]
        return pd.read_excel(path, dtype={c: str for c in text}, engine=engine)
    encodings = {"csv": ["utf-8-sig", "gb18030"], "csv-bom": ["utf-8-sig"], "csv-gb18030": ["gb18030"]}[fmt]
    for i, encoding in enumerate(encodings):
        try:
            header = pd.read_csv(path, nrows=0, encoding=encoding).columns
            text = [c for c, canon in canonical_columns(header).items() if canon in TEXT]
            return pd.read_csv(path, encoding=encoding, dtype={c: str for c in text})
        except UnicodeDecodeError:
            if i == len(encodings) - 1:
                raise
    raise AssertionError("unreachable")
