"""Known ASIE column names (Chinese, pinyin, English; they change across years)
mapped to canonical names. The table ships as ``reference/asie_columns.csv``;
users extend it with ``extra={"their name": "canonical"}``.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from sez.data.refdata import reference_csv
from sez.errors import InputError

#: Monetary columns, in 1000 yuan at current prices in the raw files.
MONEY = ("gross_output", "value_added", "intermediate_input", "exports", "fixed_assets_original", "fixed_assets_net",
         "depreciation", "accumulated_depreciation", "wages_payable", "welfare_payable", "total_profit",
         "vat_payable", "sales", "current_assets", "total_liabilities", "total_assets", "paid_in_capital",
         "capital_state", "capital_collective", "capital_legal_person", "capital_individual", "capital_hmt",
         "capital_foreign")
#: Text columns (identifiers and codes are text: leading zeros matter).
TEXT = ("legal_person_code", "firm_name", "legal_representative", "address", "street", "town", "phone", "postcode",
        "district_code", "industry_code", "registration_type", "main_product")
INTEGER = ("year", "founding_year")
NUMBER = ("employees",) + MONEY


@lru_cache(maxsize=1)
def known_names() -> pd.DataFrame:
    """The shipped table: canonical, raw_name, language, meaning."""
    return reference_csv("asie_columns.csv")


def name_map(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Raw name -> canonical name (case-insensitive for Latin names; ``extra`` wins)."""
    table = known_names()
    out = {raw: canon for raw, canon in zip(table["raw_name"], table["canonical"])}
    out.update({raw.lower(): canon for raw, canon in list(out.items()) if raw.isascii()})
    if extra:
        canon = set(table["canonical"])
        bad = {k: v for k, v in extra.items() if v not in canon}
        if bad:
            raise ValueError(f"extra column names map to unknown canonical names {bad}; known: {sorted(canon)}")
        out.update(extra)
    return out


def canonical_columns(columns, extra: dict[str, str] | None = None, source: str = "input") -> dict[str, str]:
    """Rename map for a raw file's columns; unknown columns are kept under their
    own name. Two raw columns mapping to one canonical name is an error.
    """
    mapping = name_map(extra)
    renamed: dict[str, str] = {}
    seen: dict[str, str] = {}
    for col in columns:
        key = str(col).strip()
        canon = mapping.get(key) or mapping.get(key.lower())
        if canon is None:
            continue
        if canon in seen:
            raise InputError(f"{source}: columns {seen[canon]!r} and {col!r} both mean {canon!r}: keep one of "
                             f"them, or map the other to another name with extra_names")
        seen[canon] = col
        renamed[col] = canon
    return renamed
