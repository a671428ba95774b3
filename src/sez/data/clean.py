"""Cleaning and derived variables of the harmonised ASIE panel.

Cleaning follows Brandt, Van Biesebroeck and Zhang (2012) and Cai and Liu (2009):
an employment threshold, missing or non-positive key values, accounting
identities, panel firms with at least two years; optionally one sales threshold
for every year (the survey's rose in 2011). Every dropped row is counted by
reason in the audit table.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from sez.data.columns import MONEY, NUMBER
from sez.data.refdata import reference_csv
from sez.errors import InputError
from sez.limits import PLAUSIBLE_RANGE
from sez.results import renamed

#: Provinces on the coast (2-digit codes): Beijing, Tianjin, Hebei, Liaoning,
#: Shanghai, Jiangsu, Zhejiang, Fujian, Shandong, Guangdong, Guangxi, Hainan.
COASTAL = frozenset({"11", "12", "13", "21", "31", "32", "33", "35", "37", "44", "45", "46"})

#: OECD high-technology manufacturing (Hatzichronoglou 1997) in GB/T 4754-2002:
#: pharmaceuticals (27), communication equipment, computers and electronics (40),
#: office machinery and instruments (41), aircraft and spacecraft (376),
#: medical equipment (368).
HIGH_TECH_CIC2 = frozenset({"27", "40", "41"})
HIGH_TECH_CIC3 = frozenset({"376", "368"})

#: Depreciation rate of the perpetual inventory (Brandt et al. 2012 use 9%).
DEPRECIATION_RATE = 0.09


class Audit:
    """Rows in, rows dropped by step and reason, rows out; notes on changes that drop nothing."""

    def __init__(self, rows_in: int):
        self.rows_in = rows_in
        self.drops: list[dict] = []
        self.notes: list[str] = []

    def drop(self, df: pd.DataFrame, mask, step: str, reason: str) -> pd.DataFrame:
        """Drop the rows of ``df`` where ``mask`` is true, counted under ``step`` and ``reason``."""
        mask = np.asarray(mask, dtype=bool)
        self.drops.append({"step": step, "reason": reason, "rows": int(mask.sum())})
        return df.loc[~mask]

    def note(self, text: str) -> None:
        """Record a note (a step that changed values but dropped no row)."""
        self.notes.append(text)

    def table(self, rows_out: int) -> pd.DataFrame:
        """The audit as a table: rows dropped by step and reason, ending at ``rows_out`` rows kept."""
        t = pd.DataFrame(self.drops, columns=["step", "reason", "rows"])
        t.attrs.update(rows_in=self.rows_in, rows_out=rows_out)
        if self.rows_in != rows_out + int(t["rows"].sum()):
            raise AssertionError("audit does not add up: rows in != rows out + rows dropped")
        return t


def remove_duplicates(raw: pd.DataFrame, audit: Audit) -> pd.DataFrame:
    """Drop exact duplicate records and count them in ``audit``."""
    data_cols = [c for c in raw.columns if c not in ("source", "source_row")]
    return audit.drop(raw, raw.duplicated(data_cols, keep="first"), "duplicates", "exact duplicate row")


def fix_units(raw: pd.DataFrame, audit: Audit, units="auto") -> pd.DataFrame:
    """Money in 1000 yuan. ``units`` maps year -> factor to 1000 yuan; "auto"
    detects a year whose output per worker is about 1000 times the others' (a
    year reported in yuan) and rescales it, saying so in the audit.
    """
    raw = raw.copy()
    money = [c for c in MONEY if c in raw.columns]
    factors = {}
    if units == "auto":
        per_worker = (raw["gross_output"] / raw["employees"].where(raw["employees"] > 0)).groupby(raw["year"]).median()
        typical = per_worker.median()
        factors = {int(y): 1e-3 for y, v in per_worker.items() if v > 300 * typical}
        if len(per_worker) < 3:  # the median of two years lies between them: a year in yuan never stands out
            audit.note(f'units="auto" compares years and cannot find a year reported in yuan among '
                       f'{len(per_worker)} year(s): money is taken as 1000 yuan; pass units={{year: factor}} '
                       f'if a year is in yuan')
    elif units:
        factors = {int(y): float(f) for y, f in dict(units).items()}
    for y, f in factors.items():
        rows = raw["year"] == y
        raw.loc[rows, money] = raw.loc[rows, money] * f
        audit.note(f"money columns of {y} ({int(rows.sum())} rows) multiplied by {f:g} to 1000 yuan")
    return raw


def check_sales_threshold(sales_threshold, columns) -> None:
    """Refuse a ``sales_threshold`` that is not None or a positive number, or one the records cannot apply."""
    if sales_threshold is None:
        return
    if isinstance(sales_threshold, bool) or not isinstance(sales_threshold, (int, float, np.integer, np.floating)) \
            or not 0 < sales_threshold < np.inf:
        raise InputError(f"harmonise: sales_threshold must be a positive number of 1000 yuan of nominal sales "
                         f"(e.g. 20_000, the survey's threshold from 2011) or None for the survey's own "
                         f"thresholds; got {sales_threshold!r} (in sez run: [harmonise] sales_threshold, 0 for none)")
    if "sales" not in columns:
        raise InputError(f"harmonise: sales_threshold={sales_threshold:g} needs the column 'sales' (main business "
                         f"revenue), which the records lack; map your sales column to 'sales' (read_asie "
                         f"extra_names; in sez run: [data] columns), or leave sales_threshold out")


@renamed(df="data")
def clean(data: pd.DataFrame, audit: Audit, employment_threshold: float = 8, min_years: int = 2,
          sales_threshold: float | None = None) -> pd.DataFrame:
    """Drop rows that cannot be used, counting each by reason (in this order).

    ``sales_threshold`` (1000 yuan of nominal sales; None: none) drops firm-years with lower sales in every
    year, the survey's own rule applied alike before and after its threshold rose in 2011; records without
    sales are kept, counted in a note.

    First a value outside its variable's plausible range (``sez.limits.PLAUSIBLE_RANGE``), or not finite,
    drops its whole record: such a value is an overflow, a shifted column or a wrong unit, so the record's
    other values are suspect too, and blanking one cell would silently change what is derived from it
    (value added, capital, ownership shares).
    """
    for col in NUMBER:
        if col in data.columns:
            low, high = PLAUSIBLE_RANGE[col]
            values = data[col].to_numpy(dtype=float, na_value=np.nan)
            implausible = ~np.isnan(values) & ~((values >= low) & (values <= high))
            if implausible.any():
                data = audit.drop(data, implausible, "plausibility",
                                  f"{col} not finite or outside [{low:g}, {high:g}]")
    for col in ("employees", "gross_output", "fixed_assets_net"):
        if col in data.columns:
            data = audit.drop(data, ~(data[col] > 0), "cleaning", f"missing or non-positive {col}")
    data = audit.drop(data, data["employees"] < employment_threshold, "cleaning",
                    f"fewer than {employment_threshold:g} employees")
    if sales_threshold is not None:
        check_sales_threshold(sales_threshold, data.columns)
        # the survey's rule is on nominal sales, and sales are nominal here (only output and value added
        # are deflated, later): one nominal threshold for every year, as the survey applies within a year
        unknown = data["sales"].isna()
        if unknown.any():
            audit.note(f"{int(unknown.sum())} records without sales kept: the common sales threshold cannot be "
                       f"checked for them")
        data = audit.drop(data, data["sales"] < sales_threshold, "cleaning",
                          f"sales below the common threshold of {sales_threshold / 1000:g} million yuan")
    if {"total_assets", "current_assets"} <= set(data.columns):
        data = audit.drop(data, data["total_assets"] < data["current_assets"], "identities",
                        "total assets below current assets")
    if {"total_assets", "fixed_assets_net"} <= set(data.columns):
        data = audit.drop(data, data["total_assets"] < data["fixed_assets_net"], "identities",
                        "total assets below net fixed assets")
    if {"accumulated_depreciation", "depreciation"} <= set(data.columns):
        data = audit.drop(data, data["accumulated_depreciation"] < data["depreciation"], "identities",
                        "accumulated depreciation below current depreciation")
    counts = data.groupby("firm_id")["year"].transform("size")
    return audit.drop(data, counts < min_years, "panel", f"firm observed in fewer than {min_years} years")


@renamed(df="data")
def value_added(data: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Reported value added; else the production approach (output - intermediate
    inputs + VAT payable); else the income approach (wages + welfare +
    depreciation + profit + VAT payable), as the SEZ paper's appendix A1.1 does
    where the survey stopped reporting it (2004, after 2007).
    """
    reported = data.get("value_added", pd.Series(np.nan, index=data.index))
    vat = data.get("vat_payable", pd.Series(0.0, index=data.index)).fillna(0.0)
    production = data["gross_output"] - data.get("intermediate_input", pd.Series(np.nan, index=data.index)) + vat
    income = sum(data.get(c, pd.Series(np.nan, index=data.index)).fillna(0.0)
                 for c in ("wages_payable", "welfare_payable", "depreciation", "total_profit")) + vat
    has_income = data[[c for c in ("wages_payable", "total_profit") if c in data.columns]].notna().any(axis=1) \
        if any(c in data.columns for c in ("wages_payable", "total_profit")) else pd.Series(False, index=data.index)
    va = reported.where(reported.notna(), production)
    method = pd.Series(np.where(reported.notna(), "reported", np.where(production.notna(), "production", "income")),
                       index=data.index)
    va = va.where(va.notna(), income.where(has_income))
    method = method.where(va.notna(), "missing")
    return va, method


def investment_deflator(years) -> pd.Series:
    """Brandt and Rawski's investment deflator (1998 = 100), extended after 2007
    at its 2003-2007 mean growth (a stated extrapolation).
    """
    d = reference_csv("bvz/brandt_rawski_investment_deflator_1978_2007.csv", dtype=None).set_index("year")[
        "br_investment_deflator_1998eq100"]
    growth = (d.loc[2007] / d.loc[2003]) ** (1 / 4)
    out = {}
    for y in sorted(set(int(v) for v in years)):
        out[y] = d.loc[y] if y in d.index else d.loc[2007] * growth ** (y - 2007)
    return pd.Series(out)


@renamed(df="data")
def real_capital(data: pd.DataFrame) -> pd.Series:
    """Perpetual inventory in the manner of Brandt et al. (2012): the first year's
    net fixed assets deflated, then K_t = (1 - delta) K_{t-1} + I_t / P_t with
    nominal investment from the change in fixed assets at original price, in
    1998 yuan. Falls back to deflated net fixed assets where the recursion
    leaves no positive capital.
    """
    P = investment_deflator(data["year"]).reindex(data["year"]).to_numpy() / 100.0
    order = np.lexsort((data["year"].to_numpy(), data["firm_id"].to_numpy()))
    firm = data["firm_id"].to_numpy()[order]
    year = data["year"].to_numpy()[order]
    fa_net = data["fixed_assets_net"].to_numpy()[order] / P[order]
    fa_orig = (data["fixed_assets_original"].to_numpy()[order] if "fixed_assets_original" in data.columns
               else np.full(len(order), np.nan))
    P_sorted = P[order]
    K = np.empty(len(order))
    for j in range(len(order)):
        continuing = j > 0 and firm[j] == firm[j - 1] and year[j] == year[j - 1] + 1
        inv = fa_orig[j] - fa_orig[j - 1] if continuing else np.nan
        if continuing and np.isfinite(inv):
            K[j] = (1 - DEPRECIATION_RATE) * K[j - 1] + inv / P_sorted[j]
        else:
            K[j] = fa_net[j]
        if not K[j] > 0:
            K[j] = fa_net[j]
    out = np.empty(len(order))
    out[order] = K
    return pd.Series(out, index=data.index)


@renamed(df="data")
def ownership(data: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Ownership group from the registration type, the largest paid-in capital
    share where the type is mixed; foreign-invested: a Hong Kong/Macau/Taiwan or
    foreign registration, or at least 25% of paid-in capital from them (the
    threshold of China's foreign-invested enterprise law).
    """
    reg = data.get("registration_type", pd.Series(pd.NA, index=data.index)).astype("string").str[:3]
    group = pd.Series(pd.NA, index=data.index, dtype="object")
    group[reg.isin(["110", "141", "151"])] = "state"
    group[reg.isin(["120", "130", "142"])] = "collective"
    group[reg.str.startswith("17").fillna(False)] = "private"
    group[reg.str.startswith("2").fillna(False)] = "hmt"
    group[reg.str.startswith("3").fillna(False)] = "foreign"
    shares = {"state": "capital_state", "collective": "capital_collective", "private": "capital_individual",
              "hmt": "capital_hmt", "foreign": "capital_foreign"}
    have = {k: v for k, v in shares.items() if v in data.columns}
    if have:
        cap = pd.DataFrame({k: data[v].fillna(0.0) for k, v in have.items()})
        if "capital_legal_person" in data.columns:
            cap["private"] = cap.get("private", 0.0) + data["capital_legal_person"].fillna(0.0)
        largest = cap.idxmax(axis=1).where(cap.sum(axis=1) > 0)
        group = group.where(group.notna(), largest)
        paid = data.get("paid_in_capital", cap.sum(axis=1)).replace(0, np.nan)
        foreign_share = (cap.get("hmt", 0.0) + cap.get("foreign", 0.0)) / paid
    else:
        foreign_share = pd.Series(0.0, index=data.index)
    group = group.fillna("private")
    foreign = group.isin(["hmt", "foreign"]) | (foreign_share.fillna(0.0) >= 0.25)
    return pd.Categorical(group, categories=["state", "collective", "private", "hmt", "foreign"]), foreign


def check_deflators(table: pd.DataFrame, where: str = "deflators") -> pd.DataFrame:
    """Output deflators with columns cic2, year and a positive deflator, typed
    (cic2 text, year integer); errors name ``where`` and the first bad rows by
    the table's index labels.
    """
    missing = [c for c in ("cic2", "year", "deflator") if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: deflators need columns cic2, year, deflator; missing {missing}")
    year = pd.to_numeric(table["year"], errors="coerce")
    value = pd.to_numeric(table["deflator"], errors="coerce")
    for column, bad in (("year", ~(year == year.round())), ("deflator", ~(value > 0))):
        if bad.any():
            raise ValueError(f"{where}: column {column!r} must hold "
                             f"{'whole years' if column == 'year' else 'positive numbers'}; it does not at rows "
                             f"{list(table.index[bad.to_numpy()][:5])}")
    return table.assign(cic2=table["cic2"].astype(str), year=year.astype(int), deflator=value)


@renamed(df="data")
def deflate_output(data: pd.DataFrame, deflators: pd.DataFrame | None, audit: Audit) -> pd.Series:
    """Output deflator by 2-digit industry and year (columns cic2, year, deflator;
    1998 = 100). Without one, values stay nominal and the audit says so.
    """
    if deflators is None:
        warnings.warn("no output deflators given: output and value added stay at current prices", stacklevel=4)
        audit.note("no output deflators given: output and value added are at current prices")
        return pd.Series(1.0, index=data.index)
    d = check_deflators(deflators)
    merged = data[["cic2", "year"]].merge(d, on=["cic2", "year"], how="left")
    missing = merged["deflator"].isna()
    if missing.any():
        pairs = merged.loc[missing, ["cic2", "year"]].drop_duplicates().head(5).values.tolist()
        raise ValueError(f"deflators lack {int(missing.sum())} firm-years' industry-year pairs, e.g. {pairs}")
    return pd.Series(merged["deflator"].to_numpy() / 100.0, index=data.index)
