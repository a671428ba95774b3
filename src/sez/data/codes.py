"""District and industry codes: harmonise ASIE location and industry codes.

Two tables shipped in ``sez/data/reference`` drive this module:

``areacodes/result.csv``
    China's county-level administrative division codes 1981-2024, one row per
    *record* (a code with one name over one period). A record is in use from
    ``启用时间`` (inclusive) to ``变更/弃用时间`` (exclusive); ``新代码`` lists the
    codes that took over its area, separated by ``;``. A successor written with a
    bracketed year (``130108[2001]``) is a *partial* transfer of territory in that
    earlier year; a plain successor takes over at the record's end.
``gbcrosswalk/gb_1994_2002.csv``, ``gb_2002_2011.csv``
    the official GB/T 4754 correspondences between the 1994, 2002 and 2011
    industry classifications (4-digit level ``S``).

District codes are mapped to their 2013 equivalents (the last ASIE year), and
industry codes to the GB/T 4754-2002 vintage, as in the concordance practice of
Brandt, Van Biesebroeck and Zhang (2012).
"""

from __future__ import annotations

import re
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
import pandas as pd

from sez.data.refdata import reference_csv

__all__ = [
    "district_crosswalk",
    "to_2013",
    "province_codes",
    "province_code_of",
    "province_name",
    "city_name",
    "area_names",
    "AREA_LEVELS",
    "cic_vintage",
    "cic_to_2002",
    "resolve_splits",
    "DISTRICT_STATUSES",
    "CIC_STATUSES",
]

#: Status of a district code mapped to the target year (see :func:`to_2013`).
DISTRICT_STATUSES = ("valid", "renamed", "merged", "split_resolved", "split_ambiguous", "unknown")
#: Status of an industry code mapped to GB/T 4754-2002 (see :func:`cic_to_2002`).
CIC_STATUSES = ("same", "mapped", "resolved", "ambiguous", "unknown")

_OPEN_END = 9999  # end year of a record still in use
_MAIN_SUCCESSOR = re.compile(r"^(\d{6})$")
_DATED_SUCCESSOR = re.compile(r"^(\d{6})\[(\d{4})\]$")


# ----------------------------------------------------------------------------------------------
# Administrative division records
# ----------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _area_records() -> pd.DataFrame:
    """All records of the code history, with integer periods and parsed successors."""
    raw = reference_csv("areacodes/result.csv")
    expected = ["代码", "一级行政区", "二级行政区", "名称", "级别", "状态", "启用时间", "变更/弃用时间", "新代码"]
    missing = [c for c in expected if c not in raw.columns]
    if missing:
        raise ValueError(f"areacodes/result.csv lacks columns {missing}")
    rec = pd.DataFrame({
        "code": raw["代码"].astype(object),
        "province_name": raw["一级行政区"].astype(object),
        "prefecture_name": raw["二级行政区"].astype(object),
        "name": raw["名称"].astype(object),
        "level": raw["级别"].astype(object),
        "state": raw["状态"].astype(object),
        "start": raw["启用时间"].astype(int),
        "end": pd.to_numeric(raw["变更/弃用时间"]).fillna(_OPEN_END).astype(int),
    })
    main, dated = [], []
    for text in raw["新代码"].fillna(""):
        m, d = [], []
        for token in filter(None, str(text).split(";")):
            if _MAIN_SUCCESSOR.match(token):
                m.append(token)
            elif (hit := _DATED_SUCCESSOR.match(token)):
                d.append((hit.group(1), int(hit.group(2))))
            else:
                raise ValueError(f"areacodes/result.csv: successor {token!r} is neither 'dddddd' nor 'dddddd[yyyy]'")
        main.append(tuple(m))
        dated.append(tuple(d))
    rec["successors"] = main
    rec["partial_transfers"] = dated
    return rec


def _county_units(rec: pd.DataFrame) -> pd.Series:
    """Records that are county-level units: county-level records, and prefecture-level
    cities without any county under them (Dongguan 441900, Zhongshan 442000, Jiayuguan
    620200), whose firms report the prefecture code as their district code.
    """
    county = rec["level"].eq("县级")
    pref = rec[rec["level"].eq("地级")]
    counties = rec[county]
    has_children = []
    by_prefix = {k: g for k, g in counties.groupby(counties["code"].str[:4])}
    for _, r in pref.iterrows():
        kids = by_prefix.get(r["code"][:4])
        overlap = kids is not None and bool(((kids["start"] < r["end"]) & (kids["end"] > r["start"])).any())
        has_children.append(overlap)
    childless = pd.Series(~np.array(has_children, dtype=bool), index=pref.index)
    out = county.copy()
    out.loc[childless.index] = childless
    return out


@lru_cache(maxsize=4)
def _record_targets(target_year: int) -> pd.DataFrame:
    """For every county-level record, its target-year record(s) and the kind of path.

    A record in use in ``target_year`` maps to itself. A record that ended in year E
    maps to the records of its plain successors in use in year E, followed on until
    ``target_year``. Partial transfers (bracketed successors) are not followed: the
    code's main area goes with its plain successors, and firms in a transferred
    township cannot be told apart from the code alone.
    """
    rec = _area_records()
    units = _county_units(rec)
    by_code: dict[str, list[tuple[int, int, int]]] = {}
    for idx, code, start, end in zip(rec.index, rec["code"], rec["start"], rec["end"]):
        by_code.setdefault(code, []).append((start, end, idx))

    def record_in_use(code: str, year: int) -> int | None:
        for start, end, idx in by_code.get(code, ()):
            if start <= year < end:
                return idx
        return None

    # How many ended records hand their area (as sole or joint plain successor) to each record:
    # a one-to-one step into a record that starts then and has one predecessor is a renaming.
    predecessors: dict[int, int] = {}
    for end, succ in zip(rec["end"], rec["successors"]):
        if end == _OPEN_END:
            continue
        for s in succ:
            j = record_in_use(s, end)
            if j is not None:
                predecessors[j] = predecessors.get(j, 0) + 1

    memo: dict[int, tuple[frozenset, frozenset]] = {}
    start_col, end_col, succ_col = rec["start"].to_dict(), rec["end"].to_dict(), rec["successors"].to_dict()

    def resolve(i: int) -> tuple[frozenset, frozenset]:
        if i in memo:
            return memo[i]
        start, end, succ = start_col[i], end_col[i], succ_col[i]
        if start <= target_year < end:
            result = (frozenset([i]), frozenset())
        elif start > target_year or not succ:
            result = (frozenset(), frozenset(["dead_end"]))
        else:
            targets: set = set()
            kinds: set = {"split"} if len(succ) > 1 else set()
            for s in succ:
                j = record_in_use(s, end)
                if j is None:
                    kinds.add("dead_end")
                    continue
                if len(succ) == 1:
                    one_to_one = start_col[j] == end and predecessors.get(j, 0) == 1
                    kinds.add("rename" if one_to_one else "merge")
                t, k = resolve(j)
                targets |= t
                kinds |= k
            result = (frozenset(targets), frozenset(kinds))
        memo[i] = result
        return result

    rows = []
    for i in rec.index[units.to_numpy()]:
        targets, kinds = resolve(i)
        target_codes = sorted({rec.at[t, "code"] for t in targets})
        if not target_codes:
            status = "unknown"
        elif len(target_codes) > 1:
            status = "split"
        elif target_codes[0] == rec.at[i, "code"] and not kinds & {"merge", "split"}:
            status = "valid"
        elif kinds & {"merge", "split"}:
            status = "merged"  # absorbed by an existing unit, or split parts converged again
        else:
            status = "renamed"
        names = {rec.at[t, "code"]: rec.at[t, "name"] for t in targets}
        for code in target_codes or [None]:
            rows.append((i, code, names.get(code), status, len(target_codes)))
    out = pd.DataFrame(rows, columns=["record", "county_2013", "name_2013", "status", "n_targets"])
    return out


def district_crosswalk(target_year: int = 2013, first_year: int = 1998) -> pd.DataFrame:
    """Every county-level code in use in some year of ``first_year..target_year``,
    with its ``target_year`` code(s).

    Parameters
    ----------
    target_year : int
        Year whose codes are the target (2013: the last ASIE year).
    first_year : int
        First year of the window of source codes (1998: the first ASIE year).

    Returns
    -------
    DataFrame
        One row per (source record, target code): ``code, name, province_name,
        valid_from, valid_until`` (last year in use, inclusive; missing if still in
        use), ``county_2013, name_2013, status, n_targets``. ``status`` is
        ``valid`` (the code itself is a target-year code), ``renamed`` (one-to-one
        change of code or name), ``merged`` (absorbed by another unit), ``split``
        (several target codes: one row each) or ``unknown`` (the history has no
        successor in use). The column names say 2013 whatever ``target_year`` is.

    Notes
    -----
    A code can name different areas in different periods (``130107`` was merged
    into ``130121`` in 1989 and reused in 1992): each period is a row of its own,
    so look codes up by year with :func:`to_2013`.
    """
    target_year, first_year = int(target_year), int(first_year)
    if first_year > target_year:
        raise ValueError(f"first_year {first_year} is after target_year {target_year}")
    rec = _area_records()
    links = _record_targets(target_year)
    links = links.join(rec[["code", "name", "province_name", "start", "end"]], on="record")
    in_window = (links["start"] <= target_year) & (links["end"] > first_year)
    links = links[in_window]
    out = pd.DataFrame({
        "code": links["code"],
        "name": links["name"],
        "province_name": links["province_name"],
        "valid_from": links["start"].astype("Int64"),
        "valid_until": (links["end"] - 1).where(links["end"] != _OPEN_END).astype("Int64"),
        "county_2013": links["county_2013"],
        "name_2013": links["name_2013"],
        "status": links["status"],
        "n_targets": links["n_targets"],
    })
    return out.sort_values(["code", "valid_from", "county_2013"]).reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# Provinces
# ----------------------------------------------------------------------------------------------

_PROVINCE_SUFFIX = re.compile(r"(壮族|回族|维吾尔)?自治区$|特别行政区$|省$|市$")


@lru_cache(maxsize=1)
def province_codes() -> dict[str, str]:
    """Province name (full and short form) or code -> 2-digit province code.

    Full names come from the code history (``广西壮族自治区``); short forms drop
    the suffix (``广西``, ``北京``). 2-digit and 6-digit codes map to themselves.
    """
    rec = _area_records()
    prov = rec[rec["level"].eq("省级")]
    out: dict[str, str] = {}
    for code, name in zip(prov["code"], prov["name"]):
        two = code[:2]
        out[name] = two
        out[_PROVINCE_SUFFIX.sub("", name)] = two
        out[two] = two
        out[code] = two
    return out


def province_code_of(values) -> pd.Series:
    """2-digit province codes for province names or codes (missing where unknown).

    Accepts 2-digit or 6-digit codes (strings or integers) and full or short names.
    """
    lookup = province_codes()
    s = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values.astype(object)

    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return None
        if isinstance(v, (bool, np.bool_)):
            return None
        if isinstance(v, Integral):
            v = str(int(v))
        elif isinstance(v, Real) and float(v).is_integer():
            v = str(int(v))
        text = str(v).strip()
        if text.isdigit() and len(text) >= 2:
            return lookup.get(text[:2])
        return lookup.get(text) or lookup.get(_PROVINCE_SUFFIX.sub("", text))

    uniques = pd.unique(s)
    mapping = {u: one(u) for u in uniques}
    return s.map(mapping).astype(object)


# ----------------------------------------------------------------------------------------------
# Names of 2013 codes, for tables a reader reads
# ----------------------------------------------------------------------------------------------

#: Digits of a 2013 code at each administrative level (the panel's ``province``, ``city``, ``county``).
AREA_LEVELS = {"province": 2, "city": 4, "county": 6}

# The shipped code history names places in Chinese only; province names are short and few enough to
# give in English here. Prefectures and counties keep their Chinese names.
_PROVINCE_ENGLISH = {
    "11": "Beijing", "12": "Tianjin", "13": "Hebei", "14": "Shanxi", "15": "Inner Mongolia", "21": "Liaoning",
    "22": "Jilin", "23": "Heilongjiang", "31": "Shanghai", "32": "Jiangsu", "33": "Zhejiang", "34": "Anhui",
    "35": "Fujian", "36": "Jiangxi", "37": "Shandong", "41": "Henan", "42": "Hubei", "43": "Hunan",
    "44": "Guangdong", "45": "Guangxi", "46": "Hainan", "50": "Chongqing", "51": "Sichuan", "52": "Guizhou",
    "53": "Yunnan", "54": "Tibet", "61": "Shaanxi", "62": "Gansu", "63": "Qinghai", "64": "Ningxia",
    "65": "Xinjiang", "71": "Taiwan", "81": "Hong Kong", "82": "Macau",
}
_MUNICIPALITIES = ("11", "12", "31", "50")  # their districts sit directly under the province
_DIRECTLY_ADMINISTERED = "直辖"  # the code history's prefecture of a county under no prefecture


@lru_cache(maxsize=1)
def _names_2013() -> dict[str, dict[str, str]]:
    """Level -> 2013 code -> name: provinces in English, prefectures and counties as the code history
    names them. A 4-digit code of counties under no prefecture (a municipality's districts, Hainan's
    and Henan's directly administered cities) is named after its province.
    """
    rec = _area_records()
    live = rec[(rec["start"] <= 2013) & (rec["end"] > 2013)]
    province = {code[:2]: _PROVINCE_ENGLISH.get(code[:2], name)
                for code, name in zip(live["code"], live["name"]) if code.endswith("0000")}
    city = {code[:4]: name for code, name, level in zip(live["code"], live["name"], live["level"])
            if level == "地级"}
    direct = live[live["level"].eq("县级") & live["prefecture_name"].eq(_DIRECTLY_ADMINISTERED)]
    for four in set(direct["code"].str[:4]) - set(city):
        home = province.get(four[:2], four[:2])
        city[four] = home if four[:2] in _MUNICIPALITIES else f"{home}, directly administered"
    county = {code: name for code, name in zip(live["code"], live["name"]) if not code.endswith("00")}
    county.update({code: name for code, name, level in zip(live["code"], live["name"], live["level"])
                   if level == "地级" and code not in county})  # prefectures without counties (Dongguan)
    return {"province": province, "city": city, "county": county}


def _area_code_text(code) -> str | None:
    """A code as its digits (``44``, ``"44"``, ``44.0`` -> ``"44"``); None for a missing value."""
    if code is None or code is pd.NA or (isinstance(code, float) and np.isnan(code)):
        return None
    if isinstance(code, Real) and not isinstance(code, (bool, np.bool_)) and float(code).is_integer():
        return str(int(code))
    return str(code).strip()


def _names_at(level: str) -> dict[str, str]:
    if level not in AREA_LEVELS:
        raise ValueError(f"level={level!r} is not an administrative level: use one of {sorted(AREA_LEVELS)}")
    return _names_2013()[level]


def province_name(code) -> str | None:
    """English name of a 2-digit 2013 province code (``44`` -> ``"Guangdong"``); None where unknown."""
    return _names_at("province").get(_area_code_text(code))


def city_name(code) -> str | None:
    """Name of a 4-digit 2013 prefecture code as the code history gives it (``4403`` -> ``"深圳市"``);
    None where unknown.
    """
    return _names_at("city").get(_area_code_text(code))


def area_names(codes, level: str) -> pd.Series:
    """Labels ``"name (code)"`` of 2013 codes at ``level`` (``"province"``, ``"city"`` or ``"county"``),
    for tables a reader reads: ``44`` -> ``"Guangdong (44)"``.

    A code that names no 2013 unit is kept and flagged, ``"99 (unknown code)"``; a missing code stays
    missing. The index of ``codes`` (a Series) is kept.
    """
    names = _names_at(level)
    s = codes if isinstance(codes, pd.Series) else pd.Series(list(codes), dtype=object)

    def label(code):
        text = _area_code_text(code)
        if text is None:
            return None
        name = names.get(text)
        return f"{name} ({text})" if name is not None else f"{text} (unknown code)"

    return s.map({c: label(c) for c in pd.unique(s)}).astype(object)


# ----------------------------------------------------------------------------------------------
# Mapping firm-year district codes
# ----------------------------------------------------------------------------------------------

def _coerce_one(v, pos_of, what: str, width: int):
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, str):
        return v.strip() or None
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{what}: position {pos_of(v)} holds the boolean {v!r}, not a code")
    if isinstance(v, Integral):
        return str(int(v)).zfill(width)
    if isinstance(v, Real) and float(v).is_integer():
        return str(int(v)).zfill(width)
    raise ValueError(f"{what}: position {pos_of(v)} holds {v!r} ({type(v).__name__}); "
                     f"expected a string of digits or an integer")


def _factorize_codes(codes, what: str, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes as (row -> unique position, unique coerced strings); position -1 is missing.

    Integers and integer-valued floats are written in decimal (zero-padded to
    ``width``); strings are stripped. Anything else (bool, non-integer float,
    list, ...) is rejected with its position. Each distinct value is coerced once.
    """
    if isinstance(codes, pd.Series):
        values = codes.to_numpy(dtype=object)
    else:
        values = np.empty(len(codes), dtype=object)
        values[:] = list(codes)
    try:
        index, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError as err:  # unhashable entries such as lists
        bad = next(i for i, v in enumerate(values) if not isinstance(v, (str, Real, type(None))))
        raise ValueError(f"{what}: position {bad} holds {values[bad]!r} ({type(values[bad]).__name__}); "
                         f"expected a string of digits or an integer") from err

    def pos_of(v):
        return int(np.flatnonzero(np.array([x is v or x == v for x in values], dtype=bool))[0])

    coerced = np.array([_coerce_one(u, pos_of, what, width) for u in uniques], dtype=object)
    missing = np.array([c is None for c in coerced], dtype=bool)
    if missing.any():  # blank strings count as missing
        index = np.where(np.isin(index, np.flatnonzero(missing)), -1, index)
    return index, coerced


def _coerce_codes(codes, what: str, width: int) -> np.ndarray:
    """Codes as strings of digits (object array, None where missing)."""
    index, uniques = _factorize_codes(codes, what, width)
    return np.append(uniques, None).astype(object)[index]


def _coerce_years(years, n: int, what: str = "years") -> np.ndarray:
    y = pd.Series(years) if not isinstance(years, pd.Series) else years
    if len(y) != n:
        raise ValueError(f"{what} has {len(y)} entries but codes has {n}")
    num = pd.to_numeric(y.reset_index(drop=True), errors="coerce")
    bad = num.isna() | (num != np.floor(num))
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{what}: position {pos} holds {y.iloc[pos]!r}, not an integer year")
    return num.to_numpy().astype(np.int64)


def _record_lookup() -> pd.DataFrame:
    rec = _area_records()
    units = _county_units(rec)
    r = rec[units]
    return pd.DataFrame({"code": r["code"].to_numpy(), "start": r["start"].to_numpy(),
                         "end": r["end"].to_numpy(), "record": r.index.to_numpy()})


_NAME_SUFFIX = re.compile(r"(各族自治县|自治县|自治旗|林区|特区|矿区|新区|区|县|市|旗)$")


def _match_successor(text: str, candidates: tuple[str, ...], names: tuple[str, ...]) -> str | None:
    """The one candidate whose name occurs in ``text`` (full name first, then the name
    without its suffix if at least two characters remain); None if none or several.
    """
    if not text:
        return None
    hits = [c for c, n in zip(candidates, names) if n and n in text]
    if len(hits) == 1:
        return hits[0]
    if hits:
        return None
    stems = [(c, _NAME_SUFFIX.sub("", n or "")) for c, n in zip(candidates, names)]
    hits = [c for c, stem in stems if len(stem) >= 2 and stem in text]
    return hits[0] if len(hits) == 1 else None


def to_2013(codes, years, towns=None, addresses=None, target_year: int = 2013) -> pd.DataFrame:
    """Map firm-year district codes to ``target_year`` (2013) county, city and province.

    Parameters
    ----------
    codes : array-like
        6-digit administrative division codes as reported (strings; integers are
        accepted; longer statistical codes are cut to their first 6 digits).
    years : array-like of int
        The year each code was reported in (a code can name different areas in
        different years).
    towns, addresses : array-like of str, optional
        Township and address text, used only to resolve codes whose area was split
        between several target counties: the successor whose name (e.g. ``崇川区``,
        or ``崇川`` without the suffix) occurs in the text, if exactly one does.
    target_year : int
        Year of the target codes.

    Returns
    -------
    DataFrame
        Same index order and length as ``codes``, with

        - ``county_2013``: 6-digit target county code (missing when split and
          unresolved, or unknown);
        - ``city_2013``: first 4 digits of the county + ``'00'`` (for splits left
          ambiguous, filled when all candidates share it);
        - ``province``: 2-digit province code (the panel's convention; for unknown
          codes, the first two digits if they are a province code);
        - ``status``: one of ``valid``, ``renamed``, ``merged``,
          ``split_resolved``, ``split_ambiguous``, ``unknown``;
        - ``candidates``: ``;``-joined target codes of a split (else empty);
        - ``code_in_use``: whether the code was in use in the reported year. A
          stale code (abolished before the year) is mapped through its last
          period; a code reported before it came into use, through its first.

        ``attrs["unknown_codes"]`` counts the unknown codes (raw value -> rows)
        and ``attrs["status_counts"]`` the statuses, for the harmoniser's audit.

    Notes
    -----
    Unique (code, year) pairs are mapped once and joined back, so millions of
    firm-years cost a few merges. Unknown codes raise nothing here.
    """
    code_index, raw_uniques = _factorize_codes(codes, "codes", 6)
    n = len(code_index)
    year_arr = _coerce_years(years, n)
    # Longer statistical division codes begin with the county code; shorter or
    # non-numeric ones cannot be mapped.
    clean_uniques = np.array([u[:6] if u is not None and u.isdigit() and len(u) >= 6 else None
                              for u in raw_uniques], dtype=object)

    # Work on unique (code, year) pairs, then broadcast back by position.
    years_min = int(year_arr.min()) if n else 0
    span = int(year_arr.max()) - years_min + 1 if n else 1
    pair_key = (code_index.astype(np.int64) + 1) * span + (year_arr - years_min)
    pair_of_row, pair_keys = pd.factorize(pair_key)
    pair_code_pos = pair_keys // span - 1
    pairs = pd.DataFrame({
        "code": np.append(clean_uniques, None).astype(object)[pair_code_pos],
        "raw": np.append(raw_uniques, None).astype(object)[pair_code_pos],
        "year": pair_keys % span + years_min,
    })

    # The record of each (code, year): in use that year; else the latest one ended
    # before it (a stale code); else the first one starting after it.
    cand = pairs.reset_index(names="pair").dropna(subset=["code"]).merge(_record_lookup(), on="code", how="inner")
    inside = (cand["start"] <= cand["year"]) & (cand["year"] < cand["end"])
    stale = cand["end"] <= cand["year"]
    gap = np.where(inside, 0, np.where(stale, cand["year"] - cand["end"] + 1, cand["start"] - cand["year"]))
    cand = cand.assign(gap=gap, rank_kind=np.where(inside, 0, np.where(stale, 1, 2)), code_in_use=inside)
    cand = cand.sort_values(["pair", "rank_kind", "gap"]).drop_duplicates("pair")

    links = _record_targets(int(target_year))
    grouped = links.groupby("record", sort=False).agg(
        targets=("county_2013", lambda s: tuple(x for x in s if x is not None)),
        target_names=("name_2013", lambda s: tuple(x for x in s if x is not None)),
        status=("status", "first"))
    cand = cand.join(grouped, on="record").set_index("pair")
    pairs = pairs.join(cand[["targets", "target_names", "status", "code_in_use"]])
    pairs["status"] = pairs["status"].fillna("unknown").astype(object)
    pairs["code_in_use"] = pairs["code_in_use"].fillna(False).astype(bool)
    targets = [t if isinstance(t, tuple) else () for t in pairs["targets"]]
    county = [t[0] if len(t) == 1 else None for t in targets]
    pairs["county"] = county
    pairs["city"] = [c[:4] + "00" if c else None for c in county]
    pairs["province"] = [c[:2] if c else None for c in county]
    pairs["candidates"] = [";".join(t) if len(t) > 1 else "" for t in targets]
    split = pairs["status"].eq("split").to_numpy()
    for pos in np.flatnonzero(split):
        # A split still has a city (or province) when all candidates share it.
        cities = {t[:4] for t in targets[pos]}
        provs = {t[:2] for t in targets[pos]}
        pairs.iat[pos, pairs.columns.get_loc("city")] = next(iter(cities)) + "00" if len(cities) == 1 else None
        pairs.iat[pos, pairs.columns.get_loc("province")] = next(iter(provs)) if len(provs) == 1 else None
    pairs.loc[split, "status"] = "split_ambiguous"
    # Unknown codes keep their province when the first two digits are one.
    known_provinces = set(province_codes().values())
    unknown_pair = pairs["status"].eq("unknown").to_numpy()
    prefix = pairs["raw"].str[:2]
    fill = unknown_pair & prefix.isin(known_provinces).to_numpy()
    pairs.loc[fill, "province"] = prefix[fill]

    def take(column):
        return pairs[column].to_numpy(dtype=object)[pair_of_row]

    county_r, city_r, province_r = take("county"), take("city"), take("province")
    status_r, candidates_r = take("status"), take("candidates")

    split_rows = np.flatnonzero(split[pair_of_row])
    if len(split_rows) and (towns is not None or addresses is not None):
        text = _joined_text(n, towns, addresses, split_rows)
        row_pair = pair_of_row[split_rows]
        keys = pd.DataFrame({"pair": row_pair, "text": text})
        key_of_row, key_table = pd.factorize(pd.MultiIndex.from_frame(keys))
        names = pairs["target_names"].to_numpy(dtype=object)
        picks_by_key = np.array([_match_successor(t, targets[p], names[p]) for p, t in key_table], dtype=object)
        picks = picks_by_key[key_of_row]
        hit = ~pd.isna(picks)
        rows_hit = split_rows[hit]
        county_r[rows_hit] = picks[hit]
        city_r[rows_hit] = [c[:4] + "00" for c in picks[hit]]
        province_r[rows_hit] = [c[:2] for c in picks[hit]]
        status_r[rows_hit] = "split_resolved"
        candidates_r[rows_hit] = ""

    index = codes.index if isinstance(codes, pd.Series) else pd.RangeIndex(n)
    out = pd.DataFrame({
        "county_2013": county_r,
        "city_2013": city_r,
        "province": province_r,
        "status": pd.Categorical(status_r, categories=DISTRICT_STATUSES),
        "candidates": candidates_r,
        "code_in_use": pairs["code_in_use"].to_numpy(dtype=bool)[pair_of_row],
    }, index=index)
    unknown_rows = status_r == "unknown"
    raw_rows = np.append(raw_uniques, "<missing>").astype(object)[code_index]
    out.attrs["unknown_codes"] = pd.Series(raw_rows[unknown_rows]).value_counts().to_dict()
    out.attrs["status_counts"] = out["status"].value_counts().to_dict()
    return out


def _joined_text(n: int, towns, addresses, rows: np.ndarray) -> np.ndarray:
    """Town and address text of the given rows, joined by a space."""
    parts = []
    for name, values in (("towns", towns), ("addresses", addresses)):
        if values is None:
            continue
        arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
        if len(arr) != n:
            raise ValueError(f"{name} has {len(arr)} entries but codes has {n}")
        parts.append(np.array(["" if pd.isna(v) else str(v) for v in arr[rows]], dtype=object))
    out = parts[0]
    for p in parts[1:]:
        out = out + " " + p
    return out


# ----------------------------------------------------------------------------------------------
# Industry codes (CIC, GB/T 4754)
# ----------------------------------------------------------------------------------------------

def cic_vintage(year) -> np.ndarray:
    """GB/T 4754 vintage of ASIE industry codes by year: 1994 up to 2002, 2002 for
    2003-2011, 2011 from 2012 (the reclassifications took effect in 2003 and 2012).
    """
    y = np.asarray(year, dtype=np.int64)
    return np.where(y <= 2002, 1994, np.where(y <= 2011, 2002, 2011))


@lru_cache(maxsize=1)
def _cic_maps() -> dict[int, dict[str, tuple[str, ...]]]:
    """Vintage -> {4-digit code of that vintage: 2002 candidates}."""
    fwd = reference_csv("gbcrosswalk/gb_1994_2002.csv")
    fwd = fwd[fwd["level"].eq("S")].dropna(subset=["from_code", "to_code"])
    nxt = reference_csv("gbcrosswalk/gb_2002_2011.csv")
    nxt = nxt[nxt["level"].eq("S")].dropna(subset=["from_code", "to_code"])
    from_1994 = {k: tuple(sorted(set(g))) for k, g in fwd.groupby("from_code")["to_code"]}
    # 2011 -> 2002 reverses the 2002 -> 2011 table: a 2011 code that gathers several
    # 2002 codes is ambiguous going back.
    from_2011 = {k: tuple(sorted(set(g))) for k, g in nxt.groupby("to_code")["from_code"]}
    codes_2002 = set(nxt["from_code"]) | set(fwd["to_code"])
    from_2002 = {c: (c,) for c in codes_2002}
    return {1994: from_1994, 2002: from_2002, 2011: from_2011}


def _common_prefix(codes: tuple[str, ...], width: int) -> str | None:
    heads = {c[:width] for c in codes}
    return next(iter(heads)) if len(heads) == 1 else None


def cic_to_2002(codes, years) -> pd.DataFrame:
    """Map 4-digit CIC codes to the GB/T 4754-2002 vintage.

    The vintage of each code follows its year (:func:`cic_vintage`): 1994 codes up to
    2002, 2002 codes in 2003-2011, 2011 codes in 2012-2013.

    Parameters
    ----------
    codes : array-like
        4-digit industry codes (strings; integers are zero-padded to 4 digits).
    years : array-like of int
        Reporting years.

    Returns
    -------
    DataFrame
        Same length and order as ``codes``: ``cic4`` (2002 vintage; missing when
        ambiguous or unknown), ``cic3``, ``cic2`` (from ``cic4``; for an ambiguous
        code, filled when all candidates share them), ``status`` (``same``: a code
        that keeps its number, ``mapped``: one candidate with another number,
        ``ambiguous``: one-to-many, ``unknown``: not a code of its vintage),
        ``candidates`` (``;``-joined 2002 candidates), ``vintage``.

    Notes
    -----
    One-to-one and many-to-one correspondences map directly; a 1994 code split
    into several 2002 codes, or a 2011 code gathering several 2002 codes, is
    ambiguous; :func:`resolve_splits` settles many of these within firms.
    """
    code_index, uniques = _factorize_codes(codes, "codes", 4)
    n = len(code_index)
    year_arr = _coerce_years(years, n)
    vintage = cic_vintage(year_arr)
    key_of_row, keys = pd.factorize((code_index.astype(np.int64) + 1) * 10000 + vintage)
    maps = _cic_maps()
    padded = np.append(uniques, None).astype(object)
    table = []
    for key in keys:
        code, vin = padded[key // 10000 - 1], int(key % 10000)
        cands = maps[vin].get(code, ()) if code is not None else ()
        if not cands:
            table.append((None, None, None, "unknown", ""))
        elif len(cands) == 1:
            c = cands[0]
            table.append((c, c[:3], c[:2], "same" if c == code else "mapped", c))
        else:
            table.append((None, _common_prefix(cands, 3), _common_prefix(cands, 2), "ambiguous", ";".join(cands)))
    columns = [np.array([row[k] for row in table], dtype=object) for k in range(5)]
    index = codes.index if isinstance(codes, pd.Series) else pd.RangeIndex(n)
    return pd.DataFrame({
        "cic4": columns[0][key_of_row],
        "cic3": columns[1][key_of_row],
        "cic2": columns[2][key_of_row],
        "status": pd.Categorical(columns[3][key_of_row], categories=CIC_STATUSES),
        "candidates": columns[4][key_of_row],
        "vintage": vintage,
    }, index=index)


def resolve_splits(panel_codes: pd.DataFrame) -> pd.DataFrame:
    """Settle a firm's ambiguous industry years with its unambiguous ones.

    Rule: for an ambiguous firm-year, take the 2002 code that the same firm reports
    unambiguously (status ``same`` or ``mapped``) in the largest number of years,
    provided that code is among the year's candidates; ties go to the code of the
    firm's latest unambiguous year. Years resolved so get status ``resolved``; the
    others stay ``ambiguous``. Firms rarely switch 4-digit industry, so this
    follows the concordance practice of Brandt, Van Biesebroeck and Zhang (2012).

    Parameters
    ----------
    panel_codes : DataFrame
        Columns ``firm_id, year`` and the output of :func:`cic_to_2002`
        (``cic4, cic3, cic2, status, candidates``).

    Returns
    -------
    DataFrame
        A copy with ``cic4, cic3, cic2, status`` filled where resolved.
    """
    need = ["firm_id", "year", "cic4", "cic3", "cic2", "status", "candidates"]
    missing = [c for c in need if c not in panel_codes.columns]
    if missing:
        raise ValueError(f"resolve_splits: panel_codes lacks column(s) {missing}")
    original_index = panel_codes.index
    out = panel_codes.reset_index(drop=True)  # positional rows: the caller's index may repeat
    status = out["status"].astype(object)
    sure = status.isin(["same", "mapped"])
    amb = status.eq("ambiguous")
    if not amb.any() or not sure.any():
        return out.set_axis(original_index)
    votes = (out.loc[sure, ["firm_id", "year", "cic4"]]
             .groupby(["firm_id", "cic4"]).agg(n_years=("year", "size"), last_year=("year", "max"))
             .reset_index())
    ask = out.loc[amb, ["firm_id", "candidates"]].copy()
    ask["row"] = ask.index
    ask["cic4"] = ask["candidates"].str.split(";")
    ask = ask.explode("cic4")
    hits = ask.merge(votes, on=["firm_id", "cic4"], how="inner")
    if hits.empty:
        return out.set_axis(original_index)
    best = hits.sort_values(["row", "n_years", "last_year"], ascending=[True, False, False]).drop_duplicates("row")
    rows = best["row"].to_numpy()
    code = best["cic4"].to_numpy(dtype=object)
    out.loc[rows, "cic4"] = code
    out.loc[rows, "cic3"] = [c[:3] for c in code]
    out.loc[rows, "cic2"] = [c[:2] for c in code]
    if isinstance(out["status"].dtype, pd.CategoricalDtype):
        out["status"] = out["status"].astype(object)
        out.loc[rows, "status"] = "resolved"
        out["status"] = pd.Categorical(out["status"], categories=CIC_STATUSES)
    else:
        out.loc[rows, "status"] = "resolved"
    return out.set_axis(original_index)
