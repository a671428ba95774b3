"""Special Economic Zone status of firms from their addresses.

The evidence used, strongest first, and its grading: ``docs/data.md``, "How SEZ status is identified".
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from sez.data.codes import province_code_of
from sez.data.refdata import reference_csv
from sez.results import renamed

__all__ = ["identify_sez", "classify_firms", "EVIDENCE", "REQUIRED_COLUMNS", "default_catalogue"]

#: Categories of ``sez_evidence``, strongest first.
EVIDENCE = ("zone_name", "strong_keyword", "postcode", "weak_keyword", "none")
#: Columns ``identify_sez`` needs (values may be missing, the columns may not).
REQUIRED_COLUMNS = ("province", "address", "street", "town", "firm_name", "postcode")

# Keyword stems followed directly by a street suffix are street names (经济路, 开发大道).
_STREET_NAME = re.compile(
    r"(?:开发区?|高新区?|经开区?|经济|工业园区?|园区|工业小?区|科技园|产业园|创业园|火炬|保税区?|边境|京开)"
    r"(?:路|大道|大街|街|巷|胡同|道)")
# Zone forms: each one names an approved zone type.
_STRONG = re.compile(
    r"开发区|高新区|高新技术产业园区?|高新技术园区|经开区|综合保税区|保税港区|保税物流园区|保税区"
    r"|出口加工区|(?:边境|跨境)经济合作区|火炬(?:园|区)")
# Park forms: often unapproved township parks or branding.
_WEAK = re.compile(r"工业园|园区|工业小区|工业区|产业园|科技园|创业园|软件园|经济(?:技术)?(?:合作|协作)?区|经济城")


@lru_cache(maxsize=1)
def default_catalogue() -> pd.DataFrame:
    """The 2018 development-zone list shipped with the package (2,543 zones).

    Its ``approved`` dates are approvals at the zone's current level, not founding
    dates: they are evidence, never a treatment date or a reason to rule a firm out.
    """
    return reference_csv("devzones/devzones_2018.csv")


class _ZoneNames:
    """Exact zone names per province, looked up by the names' last characters."""

    def __init__(self, catalogue: pd.DataFrame):
        prov = province_code_of(catalogue["province"])
        # Zone codes carry the province in digits 3-4 (G111001: Beijing).
        from_code = catalogue["code"].astype(str).str[1:3]
        prov = prov.where(prov.notna(), province_code_of(from_code.where(from_code.str.isdigit())))
        self.by_province: dict[str, dict[str, str]] = {}
        for p, name, code in zip(prov, catalogue["name"], catalogue["code"]):
            if p is None or pd.isna(name):
                continue
            self.by_province.setdefault(p, {})[str(name).strip()] = str(code)
        self.lengths = {p: sorted({len(n) for n in names}, reverse=True) for p, names in self.by_province.items()}
        self.last_chars = {p: {n[-1] for n in names} for p, names in self.by_province.items()}

    def find(self, province: str | None, text: str) -> tuple[str | None, str | None]:
        """(zone code, zone name) of the longest catalogue name of ``province`` in ``text``."""
        names = self.by_province.get(province) if province else None
        if not names or not text:
            return None, None
        best = None
        ends = self.last_chars[province]
        for pos, ch in enumerate(text):
            if ch not in ends:
                continue
            for length in self.lengths[province]:
                if best is not None and length <= len(best):
                    break
                if length > pos + 1:
                    continue
                piece = text[pos + 1 - length:pos + 1]
                if piece in names:
                    best = piece
                    break
        return (names[best], best) if best else (None, None)


def _text(frame: pd.DataFrame, columns) -> np.ndarray:
    parts = [frame[c].astype(object).where(frame[c].notna(), "").astype(str).to_numpy(dtype=object)
             for c in columns]
    out = parts[0]
    for p in parts[1:]:
        out = out + " " + p
    return out


@renamed(frame="data")
def identify_sez(data: pd.DataFrame, catalogue: pd.DataFrame | None = None, keywords: pd.DataFrame | None = None,
                 weak_sets_sez: bool = False) -> pd.DataFrame:
    """SEZ status of each firm-year from its address, town, street, firm name and postcode.

    Parameters
    ----------
    data : DataFrame
        Firm-years with columns ``province`` (2- or 6-digit code, or name: 广东,
        广东省), ``address``, ``street``, ``town``, ``firm_name``, ``postcode``.
        Values may be missing; a missing column is an error.
    catalogue : DataFrame, optional
        Zone list in the format of ``devzones_2018.csv`` (at least ``code, name,
        province``; an optional ``postcode`` column enables postcode evidence).
        Default: the 2018 list shipped with the package.
    keywords : DataFrame, optional
        The keyword table (``reference/keywords/dz_address_keywords.csv``); only
        checked for its ``hanzi`` column and kept for the record: the zone-form
        regular expressions of this module encode its guidance.
    weak_sets_sez : bool
        Whether a weak keyword alone makes ``sez`` true (default False: reported
        in ``sez_evidence`` only).

    Returns
    -------
    DataFrame
        Indexed like ``frame``: ``sez`` (bool), ``sez_evidence`` (category, see
        :data:`EVIDENCE`), ``sez_zone_code`` (catalogue code of a name or postcode
        match, else missing), ``sez_match`` (the matched text).

    Notes
    -----
    The catalogue's approval dates are approvals at the zone's *current* level
    (596 zones dated 2006 are re-approvals after the 2003-2006 clean-up; many are
    upgrades dated 2010 or later), not founding dates. They are never used to rule
    a firm out of a zone, nor as treatment dates.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"identify_sez: expected a DataFrame, got {type(data).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in data.columns]
    if missing:
        raise ValueError(f"identify_sez: frame lacks column(s) {missing}; needed: {list(REQUIRED_COLUMNS)}")
    catalogue = default_catalogue() if catalogue is None else catalogue
    lacking = [c for c in ("code", "name", "province") if c not in catalogue.columns]
    if lacking:
        raise ValueError(f"identify_sez: catalogue lacks column(s) {lacking}")
    if keywords is not None and "hanzi" not in keywords.columns:
        raise ValueError("identify_sez: keywords table lacks column 'hanzi'")

    n = len(data)
    province = province_code_of(data["province"]).to_numpy(dtype=object)
    location = _text(data, ["address", "street", "town"])
    firm_name = _text(data, ["firm_name"])

    # Each distinct (province, location, firm name) is examined once.
    keys = pd.DataFrame({"p": province, "loc": location, "name": firm_name})
    key_of_row, key_table = pd.factorize(pd.MultiIndex.from_frame(keys.fillna({"p": ""})))
    zones = _ZoneNames(catalogue)
    results = []
    for p, loc, name in key_table:
        loc_clean = _STREET_NAME.sub("#", loc)
        name_clean = _STREET_NAME.sub("#", name)
        code, zone = zones.find(p, loc_clean)
        if code is None:
            code, zone = zones.find(p, name_clean)
        if code is not None:
            results.append(("zone_name", code, zone))
            continue
        hit = _STRONG.search(loc_clean) or _STRONG.search(name_clean)
        if hit:
            results.append(("strong_keyword", None, hit.group(0)))
            continue
        weak = _WEAK.search(loc_clean)
        results.append(("weak_keyword", None, weak.group(0)) if weak else ("none", None, None))
    table = np.array(results, dtype=object).reshape(-1, 3)
    evidence = table[key_of_row, 0] if n else np.array([], dtype=object)
    zone_code = table[key_of_row, 1] if n else np.array([], dtype=object)
    matched = table[key_of_row, 2] if n else np.array([], dtype=object)

    if "postcode" in catalogue.columns and n:
        post = _postcode_zones(catalogue)
        firm_post = data["postcode"].astype(object).where(data["postcode"].notna(), "").astype(str).str.strip()
        firm_post = firm_post.str.replace(r"\.0$", "", regex=True).to_numpy(dtype=object)
        for pos in np.flatnonzero(np.isin(evidence, ["weak_keyword", "none"])):
            code = post.get((province[pos], firm_post[pos]))
            if code is not None:
                evidence[pos], zone_code[pos], matched[pos] = "postcode", code, firm_post[pos]

    sez = np.isin(evidence, ["zone_name", "strong_keyword", "postcode"])
    if weak_sets_sez:
        sez |= evidence == "weak_keyword"
    return pd.DataFrame({
        "sez": sez.astype(bool),
        "sez_evidence": pd.Categorical(evidence, categories=EVIDENCE),
        "sez_zone_code": pd.Series(zone_code, dtype=object).to_numpy(),
        "sez_match": pd.Series(matched, dtype=object).to_numpy(),
    }, index=data.index)


def _postcode_zones(catalogue: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(province, postcode) -> zone code, for postcodes that name one zone only."""
    prov = province_code_of(catalogue["province"])
    seen: dict[tuple[str, str], set] = {}
    for p, pc, code in zip(prov, catalogue["postcode"], catalogue["code"]):
        if p is None or pd.isna(pc):
            continue
        seen.setdefault((p, str(pc).strip()), set()).add(str(code))
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}


@renamed(panel="data")
def classify_firms(data: pd.DataFrame, birth_window: int = 0) -> pd.DataFrame:
    """Birth zone and moves between SEZ and non-SEZ, per firm.

    Parameters
    ----------
    data : DataFrame
        Firm-years with ``firm_id``, ``year``, ``sez`` (bool; missing years are
        skipped) and the founding year as ``birth_year`` (or ``founding_year``).
    birth_window : int
        Years after founding within which the first observation still counts as
        the birth (0: the first observed year must be the founding year).

    Returns
    -------
    DataFrame
        One row per firm: ``firm_id, first_year, birth_year, birth_observed,
        birth_zone, mover, move_year, move_direction, stayer``.

        - ``birth_zone`` is ``'S'`` when the firm's first observed year is its
          founding year (``birth_observed``) and it is in an SEZ that year, else
          ``'N'``; filter on ``birth_observed`` to compare births only (firms
          founded before 1998, or before they reached the survey threshold, are
          ``'N'`` with ``birth_observed`` false).
        - ``mover`` is true when the firm's SEZ status changes between two of its
          observed years; ``move_year`` is the first year with the new status and
          ``move_direction`` its direction (``into_sez`` or ``out_of_sez``).
        - ``stayer`` is ``not mover`` (in either zone type; combine with ``sez``
          for the paper's non-SEZ stayers).
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"classify_firms: expected a DataFrame, got {type(data).__name__}")
    missing = [c for c in ("firm_id", "year", "sez") if c not in data.columns]
    birth_col = "birth_year" if "birth_year" in data.columns else "founding_year" \
        if "founding_year" in data.columns else None
    if birth_col is None:
        missing.append("birth_year (or founding_year)")
    if missing:
        raise ValueError(f"classify_firms: panel lacks column(s) {missing}")
    sample = data[["firm_id", "year", "sez", birth_col]].rename(columns={birth_col: "birth_year"})
    sample = sample[sample["sez"].notna()].copy()
    sample["sez"] = sample["sez"].astype(bool)
    sample["year"] = pd.to_numeric(sample["year"], errors="raise").astype(np.int64)
    sample["birth_year"] = pd.to_numeric(sample["birth_year"], errors="coerce")
    if sample.duplicated(["firm_id", "year"]).any():
        dup = sample.loc[sample.duplicated(["firm_id", "year"], keep=False), ["firm_id", "year"]].head(5)
        raise ValueError(f"classify_firms: duplicate (firm_id, year) rows, e.g. {dup.to_dict('records')}")
    sample = sample.sort_values(["firm_id", "year"])

    first = sample.groupby("firm_id", sort=True).agg(first_year=("year", "first"), first_sez=("sez", "first"),
                                                   birth_year=("birth_year", "min"))
    gap = first["first_year"] - first["birth_year"]
    birth_observed = (gap >= 0) & (gap <= birth_window)
    changed = sample["sez"].ne(sample.groupby("firm_id")["sez"].shift()) & sample["firm_id"].duplicated()
    moves = sample[changed].groupby("firm_id").agg(move_year=("year", "first"), moved_to=("sez", "first"))

    out = first.join(moves)
    out["birth_observed"] = birth_observed.fillna(False).astype(bool)
    out["birth_zone"] = pd.Categorical(np.where(out["birth_observed"] & out["first_sez"], "S", "N"),
                                       categories=["S", "N"])
    out["mover"] = out["move_year"].notna()
    out["move_year"] = out["move_year"].astype("Int64")
    out["move_direction"] = pd.Categorical(
        np.where(out["mover"], np.where(out["moved_to"].fillna(False).astype(bool), "into_sez", "out_of_sez"), None),
        categories=["into_sez", "out_of_sez"])
    out["stayer"] = ~out["mover"]
    out["birth_year"] = out["birth_year"].astype("Int64")
    return out.reset_index()[["firm_id", "first_year", "birth_year", "birth_observed", "birth_zone", "mover",
                              "move_year", "move_direction", "stayer"]]
