"""Each year's raw records: the firm-years with the survey's accounts in current prices, the
row-level mess (identity violations, missing cells, duplicates, units, gaps, headers) and the
truth table beside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sez.data.columns import MONEY, TEXT
from sez.data.synthetic.files import file_format
from sez.data.synthetic.mess import MONEY_IN_YUAN_YEAR, VALUE_ADDED_ABSENT, MessRates, _header_for
from sez.data.synthetic.process import INTEREST_RATE, OWNERSHIP, VAT_RATE, WELFARE_RATE, WHOLLY_OWNED

RAW_COLUMNS = ("year", "legal_person_code", "firm_name", "address", "district_code", "industry_code",
               "registration_type", "founding_year", "employees", "gross_output", "value_added", "intermediate_input",
               "sales", "exports", "fixed_assets_original", "fixed_assets_net", "depreciation",
               "accumulated_depreciation", "wages_payable", "welfare_payable", "vat_payable", "total_profit",
               "current_assets", "total_assets", "total_liabilities", "paid_in_capital", "capital_state",
               "capital_collective", "capital_legal_person", "capital_individual", "capital_hmt", "capital_foreign")
#: canonical columns every year's file carries
REQUIRED_RAW = tuple(c for c in RAW_COLUMNS if c != "value_added")


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
    draws are seeded from the firm: rows of one firm share them).
    """
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
