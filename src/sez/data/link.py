"""Linking firms across years in the manner of Brandt, Van Biesebroeck and Zhang (2012).

Records of consecutive years are matched by a sequence of rules, each applied
only to records the earlier rules left unmatched and only where the key is
unique in both years: legal-person code; firm name; legal representative within
the city; phone number within the city; founding year with industry, town and
main product. Records still unmatched are then tried against the year after
next (a firm missing from one wave). Chains of links give a stable panel id.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

#: Largest gap in years a link bridges: 2, a firm missing from one wave (Brandt et al. 2012).
MAX_GAP = 2

RULES = ("code", "name", "legal_rep_city", "phone_city", "founding_industry_town_product")
_KEY_COLUMNS = {
    "code": ("legal_person_code",),
    "name": ("firm_name",),
    "legal_rep_city": ("legal_representative", "district_code"),
    "phone_city": ("phone", "district_code"),
    "founding_industry_town_product": ("founding_year", "industry_code", "town", "main_product"),
}


def _normalise_text(s: pd.Series) -> pd.Series:
    """Full-width to half-width, no spaces or brackets, upper case: the same name
    typed differently in two waves still matches.
    """
    def norm(v):
        if pd.isna(v):
            return pd.NA
        v = unicodedata.normalize("NFKC", str(v))
        v = "".join(ch for ch in v if not ch.isspace() and ch not in "()（）[]【】\"'“”‘’-_.,，。")
        return v.upper() or pd.NA

    uniq = pd.Series(s.unique())
    mapping = dict(zip(uniq, uniq.map(norm)))
    return s.map(mapping).astype("string")


def rule_keys(raw: pd.DataFrame) -> pd.DataFrame:
    """One key column per rule (NA where a part is missing)."""
    keys = pd.DataFrame(index=raw.index)
    text = {}
    for col in ("legal_person_code", "firm_name", "legal_representative", "town", "main_product"):
        text[col] = _normalise_text(raw[col]) if col in raw.columns else pd.Series(pd.NA, index=raw.index,
                                                                                   dtype="string")
    phone = raw["phone"].astype("string").str.replace(r"\D", "", regex=True) if "phone" in raw.columns else \
        pd.Series(pd.NA, index=raw.index, dtype="string")
    phone = phone.where(phone.str.len() >= 6)
    city = raw["district_code"].astype("string").str[:4] if "district_code" in raw.columns else \
        pd.Series(pd.NA, index=raw.index, dtype="string")
    founding = raw["founding_year"].astype("Int64").astype("string") if "founding_year" in raw.columns else \
        pd.Series(pd.NA, index=raw.index, dtype="string")
    industry = raw["industry_code"].astype("string") if "industry_code" in raw.columns else \
        pd.Series(pd.NA, index=raw.index, dtype="string")
    parts = {
        "code": [text["legal_person_code"]],
        "name": [text["firm_name"]],
        "legal_rep_city": [text["legal_representative"], city],
        "phone_city": [phone, city],
        "founding_industry_town_product": [founding, industry, text["town"], text["main_product"]],
    }
    for rule, cols in parts.items():
        key = cols[0]
        for c in cols[1:]:
            key = key + "|" + c
        keys[rule] = key  # NA if any part is NA
    return keys


def link_firms(raw: pd.DataFrame, max_gap: int = MAX_GAP) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Panel ids for the records of ``raw`` (one row per firm-year record).

    Returns ``(firm_id, link_type, report)``: ``link_type`` is the rule that
    linked a record to its predecessor ("new" for a first appearance); the
    report counts links by year pair and rule (no rows, the same columns, where no two years are within
    ``max_gap`` of each other).
    """
    if "year" not in raw.columns:
        raise ValueError("link_firms needs a 'year' column")
    keys = rule_keys(raw)
    years = np.sort(raw["year"].unique())
    by_year = {y: raw.index[raw["year"].to_numpy() == y] for y in years}
    pred = pd.Series(-1, index=raw.index, dtype=np.int64)
    link_type = pd.Series("new", index=raw.index, dtype=object)
    has_succ = pd.Series(False, index=raw.index)
    report = []
    for gap in range(1, max_gap + 1):
        for y in years:
            if y + gap not in by_year:
                continue
            prev = by_year[y][~has_succ[by_year[y]].to_numpy()]
            nxt = by_year[y + gap][(pred[by_year[y + gap]] < 0).to_numpy()]
            for rule in RULES:
                if len(prev) == 0 or len(nxt) == 0:
                    break
                kp = keys.loc[prev, rule].dropna()
                kn = keys.loc[nxt, rule].dropna()
                kp = kp[~kp.duplicated(keep=False)]  # a key shared by two records links neither
                kn = kn[~kn.duplicated(keep=False)]
                m = pd.DataFrame({"p": kp.index, "key": kp.to_numpy()}).merge(
                    pd.DataFrame({"n": kn.index, "key": kn.to_numpy()}), on="key")
                if len(m):
                    pred[m["n"].to_numpy()] = m["p"].to_numpy()
                    link_type[m["n"].to_numpy()] = rule
                    has_succ[m["p"].to_numpy()] = True
                    prev = prev.difference(m["p"])
                    nxt = nxt.difference(m["n"])
                report.append({"year": int(y), "to_year": int(y + gap), "rule": rule, "links": len(m)})
    # ids along the chains, in year order: a record takes its predecessor's id
    firm_id = pd.Series(-1, index=raw.index, dtype=np.int64)
    next_id = 0
    for y in years:
        idx = by_year[y]
        p = pred[idx].to_numpy()
        ids = np.where(p >= 0, firm_id.reindex(p, fill_value=-1).to_numpy() if len(p) else p, -1)
        new = ids < 0
        ids[new] = np.arange(next_id, next_id + new.sum())
        next_id += int(new.sum())
        firm_id[idx] = ids
    return firm_id, link_type, pd.DataFrame(report, columns=["year", "to_year", "rule", "links"])
