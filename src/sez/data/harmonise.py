"""From raw yearly ASIE records to one validated firm-year panel (``sez.panel``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sez import panel as schema
from sez.data import clean as cl
from sez.data.link import MAX_GAP, link_firms
from sez.data.read import check_year_range
from sez.errors import InputError
from sez.limits import (
    EARLIEST_FOUNDING_YEAR,
    SURVEY_SALES_THRESHOLD_NEW,
    SURVEY_SALES_THRESHOLD_OLD,
    SURVEY_THRESHOLD_CHANGE_YEAR,
)


@dataclass(frozen=True)
class Panel:
    """The harmonised firm-year table and how it was made.

    data : the firm-year table in the ``sez.panel`` schema (validated).
    audit : rows dropped by step and reason; ``audit.attrs`` has rows in and out,
        and rows in = rows out + the rows dropped.
    links : firm links made by each rule, by year pair (Brandt et al. 2012).
    notes : changes that dropped nothing (units rescaled, codes recoded, ...).
    """

    data: pd.DataFrame = field(repr=False)
    audit: pd.DataFrame = field(repr=False)
    links: pd.DataFrame = field(repr=False)
    notes: tuple = ()

    def summary(self) -> str:
        """The panel's size and the audit of rows dropped, as text."""
        d = self.data
        lines = [f"harmonised ASIE panel: {len(d):,} firm-years, {d['firm_id'].nunique():,} firms, "
                 f"years {d['year'].min()}-{d['year'].max()}",
                 f"rows in {self.audit.attrs['rows_in']:,}, out {self.audit.attrs['rows_out']:,}; dropped by reason:",
                 self.audit.to_string(index=False),
                 "links by rule: " + (", ".join(f"{r} {n:,}"
                                                for r, n in self.links.groupby("rule")["links"].sum().items())
                                      or "none (no two years close enough to link)")]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def harmonise(
    raw: pd.DataFrame,
    employment_threshold: float = 8,
    min_years: int = 2,
    units="auto",
    deflators: pd.DataFrame | None = None,
    catalogue: pd.DataFrame | None = None,
    weak_keywords_count: bool = False,
    sales_threshold: float | None = None,
) -> Panel:
    """Harmonise raw records (``sez.data.read_asie``) into a firm-year panel.

    Steps: drop exact duplicates; money to 1000 yuan (``units``: "auto" detects a
    year reported in yuan, or a mapping year -> factor); link firms across years
    (Brandt, Van Biesebroeck and Zhang 2012); district codes to 2013 codes;
    industry codes to GB/T 4754-2002; SEZ status with its evidence; cleaning
    (employment threshold, missing or non-positive key values, accounting
    identities, firms with at least ``min_years`` years); derived variables.
    Every dropped row is counted by reason in ``Panel.audit``.

    The survey covers firms above a threshold of nominal annual sales: 5 million yuan to 2010, 20 million
    from 2011 (``sez.limits``). ``sales_threshold`` (1000 yuan, e.g. 20_000) applies one threshold to every
    year, so that a sample spanning 2011 is consistent; without it (None) a note says when the years span
    the change.

    With ``min_years=1``, years of which no two are within ``sez.data.link.MAX_GAP``
    of each other (one year, or 1998 and 2005) make a cross-section: nothing is
    linked, investment is missing, exit and movers are not observed, and a note
    says so. A year outside ``sez.limits.SUPPORTED_YEARS``, or a ``min_years``
    that no firm can reach in the records' years, raises ``InputError``.
    """
    from sez.data import codes, sez_id

    linked_across_years = _check_years(raw, min_years)
    cl.check_sales_threshold(sales_threshold, raw.columns)
    audit = cl.Audit(len(raw))
    _note_threshold_change(raw, sales_threshold, audit)
    if not linked_across_years:
        audit.note(f"no two years of the records ({_years_text(raw)}) are within {MAX_GAP} years of each other: "
                   f"a cross-section, so no firm is linked across years, investment is missing, and exit, mover "
                   f"and move_year are not observed (False or missing)")
    df = cl.remove_duplicates(raw, audit)
    df = cl.fix_units(df, audit, units)
    if "founding_year" in df.columns:
        founding = df["founding_year"]
        impossible = founding.notna() & ~(founding.between(EARLIEST_FOUNDING_YEAR, df["year"])
                                          & (founding == np.round(founding)))
        if impossible.any():
            df = df.assign(founding_year=founding.where(~impossible))
            audit.note(f"{int(impossible.sum())} founding years are not a whole year between "
                       f"{EARLIEST_FOUNDING_YEAR} and the record's year (e.g. {founding[impossible].iloc[0]!r}): "
                       f"taken as unknown")
    # the same legal-person code twice in one year cannot identify a firm: let the other rules link them
    code_dup = df.duplicated(["year", "legal_person_code"], keep="first") & df["legal_person_code"].notna()
    if code_dup.any():
        df = df.copy()
        df.loc[code_dup, "legal_person_code"] = pd.NA
        audit.note(f"{int(code_dup.sum())} records repeat a legal-person code within a year: linked by other rules")
    firm_id, link_type, links = link_firms(df)
    df = df.assign(firm_id=firm_id.to_numpy(), link_type=link_type.to_numpy())

    geo = codes.to_2013(df["district_code"], df["year"], towns=df.get("town"), addresses=df.get("address"))
    df = df.assign(county=geo["county_2013"].to_numpy(), city=geo["city_2013"].astype("string").str[:4].to_numpy(),
                   province=geo["province"].to_numpy(), district_status=geo["status"].to_numpy())
    for status, n in df["district_status"].value_counts().items():
        if status != "valid" and n:
            audit.note(f"district codes mapped to 2013 as {status}: {n} records")
    df = audit.drop(df, df["county"].isna(), "geography", "district code unknown or split ambiguously")

    cic = codes.cic_to_2002(df["industry_code"], df["year"])
    cic = codes.resolve_splits(cic.assign(firm_id=df["firm_id"].to_numpy(), year=df["year"].to_numpy()))
    df = df.assign(cic4=cic["cic4"].to_numpy(), cic3=cic["cic3"].to_numpy(), cic2=cic["cic2"].to_numpy())
    for status, n in pd.Series(cic["status"]).value_counts().items():
        if status not in ("same",) and n:
            audit.note(f"industry codes to GB/T 4754-2002 as {status}: {n} records")
    df = audit.drop(df, df["cic4"].isna(), "industry", "industry code unknown or split unresolved")

    address_parts = {c: df[c] if c in df.columns else pd.Series(pd.NA, index=df.index, dtype="string")
                     for c in ("address", "street", "town", "firm_name", "postcode")}
    sez = sez_id.identify_sez(pd.DataFrame({"province": df["province"], **address_parts}), catalogue=catalogue,
                              weak_sets_sez=weak_keywords_count)
    df = df.assign(sez=sez["sez"].to_numpy(), sez_evidence=sez["sez_evidence"].to_numpy())

    df = cl.clean(df, audit, employment_threshold, min_years, sales_threshold)
    out = _derive(df, deflators, audit)
    firms = sez_id.classify_firms(out[["firm_id", "year", "sez", "birth_year"]])
    if "firm_id" not in firms.columns:
        firms = firms.reset_index()
    out = out.merge(firms[["firm_id", "birth_zone", "mover", "move_year"]], on="firm_id", how="left")
    out["birth_zone"] = pd.Categorical(out["birth_zone"], categories=["N", "S"])
    out["mover"] = out["mover"].astype(bool)
    out["move_year"] = out["move_year"].astype("Int64")
    out = out.sort_values(["firm_id", "year"], ignore_index=True)
    schema.validate(out, "harmonised panel")
    return Panel(out, audit.table(len(out)), links, tuple(audit.notes))


def _years_text(raw: pd.DataFrame) -> str:
    return ", ".join(str(y) for y in np.unique(raw["year"]))


def _note_threshold_change(raw: pd.DataFrame, sales_threshold, audit: cl.Audit) -> None:
    """Note records that span the survey's change of threshold without a common one at least as high."""
    first, last = int(raw["year"].min()), int(raw["year"].max())
    if not first < SURVEY_THRESHOLD_CHANGE_YEAR <= last:
        return
    if sales_threshold is None:
        audit.note(f"the records span {SURVEY_THRESHOLD_CHANGE_YEAR} ({first}-{last}), when the survey's size "
                   f"threshold rose from {SURVEY_SALES_THRESHOLD_OLD / 1000:g} to "
                   f"{SURVEY_SALES_THRESHOLD_NEW / 1000:g} million yuan of annual sales: firms between the two "
                   f"leave the sample then, which looks like exit and changes entry and treatment composition; "
                   f"for one threshold in every year pass sales_threshold={SURVEY_SALES_THRESHOLD_NEW:_} "
                   f"(in sez run: [harmonise] sales_threshold = {SURVEY_SALES_THRESHOLD_NEW})")
    elif sales_threshold < SURVEY_SALES_THRESHOLD_NEW:
        audit.note(f"sales_threshold={sales_threshold:g} is below the survey's threshold from "
                   f"{SURVEY_THRESHOLD_CHANGE_YEAR} ({SURVEY_SALES_THRESHOLD_NEW:,} thousand yuan), which the "
                   f"records span ({first}-{last}): the firms between the two are still kept only before "
                   f"{SURVEY_THRESHOLD_CHANGE_YEAR}; use at least {SURVEY_SALES_THRESHOLD_NEW:_} for one "
                   f"threshold in every year")


def _check_years(raw: pd.DataFrame, min_years: int) -> bool:
    """Refuse years the reference tables do not cover, and a ``min_years`` that would drop every firm; say
    whether any two years are close enough for firms to be linked across them.
    """
    check_year_range(raw, "harmonise")
    years = np.unique(raw["year"])
    if min_years > len(years):
        raise InputError(f"harmonise: min_years={min_years} keeps firms observed in at least {min_years} years, "
                         f"but the records cover {len(years)} year(s) ({_years_text(raw)}): every firm would be "
                         f"dropped; give more years, or a smaller min_years (1 for a cross-section; in sez run: "
                         f"[harmonise] min_years)")
    linked_across_years = bool(np.any(np.diff(years) <= MAX_GAP))
    if min_years > 1 and not linked_across_years:
        raise InputError(f"harmonise: no two years of the records ({_years_text(raw)}) are within {MAX_GAP} years "
                         f"of each other, so no firm can be linked across years and min_years={min_years} would "
                         f"drop every firm; give extracts of consecutive years, or min_years=1 for a "
                         f"cross-section (in sez run: [harmonise] min_years = 1)")
    return linked_across_years


def _derive(df: pd.DataFrame, deflators, audit: cl.Audit) -> pd.DataFrame:
    df = df.sort_values(["firm_id", "year"], ignore_index=True)
    va, method = cl.value_added(df)
    price = cl.deflate_output(df, deflators, audit)
    group, foreign = cl.ownership(df)
    firm, year = df["firm_id"], df["year"]
    prev_same = (firm.shift(1) == firm) & (year.shift(1) == year - 1)
    next_same = (firm.shift(-1) == firm) & (year.shift(-1) == year + 1)
    capital_nominal = df["fixed_assets_net"]
    dep = df.get("depreciation", pd.Series(np.nan, index=df.index))
    investment = (capital_nominal - capital_nominal.shift(1) + dep).where(prev_same)
    birth = df.get("founding_year", pd.Series(np.nan, index=df.index))
    first_year = year.groupby(firm).transform("min")
    last_year = year.groupby(firm).transform("max")
    # a firm can be seen to exit only where a later survey year is within a link's reach
    survey_years = np.unique(year)
    followed = year.map({y: bool(((survey_years > y) & (survey_years <= y + MAX_GAP)).any()) for y in survey_years})
    exports = df.get("exports", pd.Series(np.nan, index=df.index))
    out = pd.DataFrame({
        "firm_id": firm.astype(np.int64),
        "year": year.astype(np.int64),
        "province": df["province"].astype("string"),
        "city": df["city"].astype("string"),
        "county": df["county"].astype("string"),
        "cic4": df["cic4"].astype("string"),
        "cic3": df["cic3"].astype("string"),
        "cic2": df["cic2"].astype("string"),
        "ownership": group,
        "foreign_invested": foreign.astype(bool),
        "exporter": (exports.fillna(0) > 0).astype(bool),
        "exports": exports.astype(float),
        "sez": df["sez"].astype(bool),
        "sez_evidence": df["sez_evidence"].astype("category"),
        "birth_year": birth.astype("Int64"),
        "employees": df["employees"].astype(float),
        "wage_bill": df.get("wages_payable", pd.Series(np.nan, index=df.index)).astype(float),
        "output": (df["gross_output"] / price).astype(float),
        "value_added": (va / price).astype(float),
        "va_method": method.astype("category"),
        "intermediate_input": df.get("intermediate_input", pd.Series(np.nan, index=df.index)).astype(float),
        "sales": df.get("sales", pd.Series(np.nan, index=df.index)).astype(float),
        "profit": df.get("total_profit", pd.Series(np.nan, index=df.index)).astype(float),
        "capital": cl.real_capital(df).astype(float),
        "capital_nominal": capital_nominal.astype(float),
        "investment": investment.astype(float),
        "depreciation": dep.astype(float),
        "debt": df.get("total_liabilities", pd.Series(np.nan, index=df.index)).astype(float),
        "total_assets": df.get("total_assets", pd.Series(np.nan, index=df.index)).astype(float),
        "ln_tfp": np.nan,
        "age": (year - birth).astype("Int64"),
        "entry": ((year == first_year) & (birth == year)).fillna(False).astype(bool),
        "exit": ((year == last_year) & followed).astype(bool),
        "link_type": df["link_type"].astype("category"),
        "high_tech": (df["cic2"].isin(cl.HIGH_TECH_CIC2) | df["cic3"].isin(cl.HIGH_TECH_CIC3)).astype(bool),
        "coastal": df["province"].astype("string").str[:2].isin(cl.COASTAL).fillna(False).astype(bool),
        "source": df["source"].astype("category"),  # where each row came from: file and row
        "source_row": df["source_row"].astype(np.int64),
    })
    out["exit"] = out["exit"] & ~next_same.fillna(False).astype(bool)
    return out
