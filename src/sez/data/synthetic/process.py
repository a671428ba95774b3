"""The firm process of the synthetic ASIE: its parameters, the reference data it draws from
(counties, their code history, industries, zones), the firms' fixed traits and their year-by-year
dynamics (productivity, inputs, output, investment, exports, exit). See ``sez.data.synthetic``
for the process written out.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

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
    for year in years:
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
