"""Aggregates of the stationary economy (the rows of the paper's Table 8), by zone.

Everything is accumulated on the flow of one stationary period from the
investors' measure ``nu``: each investor's capital and debt, the next shock,
exogenous death, exit by choice, and production by the survivors (docs/model.md,
"Stationary equilibrium and aggregates").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sez.model.distribution import Distribution
from sez.model.grid import profit_terms
from sez.results import renamed

ZONES = ("N", "S", "overall")

#: Row name -> definition, in the order of the paper's Table 8 (then extras).
DEFINITIONS = {
    "aggregate_tfp": "Solow residual Y / (K^alpha L^(1-alpha))^gamma of producing firms",
    "avg_firm_tfp": "mean z = A v over producing firms",
    "avg_firm_ln_tfp": "mean ln z over producing firms",
    "birth_rate": "entrants per period / producing firms",
    "tfp_at_birth": "mean z = A v of entrants at entry",
    "death_rate": "exits per period (exogenous death or choice) / investing firms",
    "corr_ln_z_ln_k": "mean over firms of the within-firm correlation of ln z and ln k "
                      "(simulated panel; firms with fewer than 3 years or no variation in z or k are left out)",
    "bond_capital_ratio": "mean of b'/k' over investing firms with k' > 0",
    "aggregate_bond_capital": "sum of b' / sum of k' over investing firms",
    "constrained_share": "share of investing firms with cash below their payout threshold mbar",
    "collateral_binding_share": "share of investing firms with k' = Kbar(m)",
    "effective_tax_rate": "corporate tax paid (production, liquidation, less expensing) / operating profit",
    "firms": "mass of producing firms",
    "firm_share": "share of producing firms",
    "output": "Y: output of producing firms",
    "capital": "K: capital of producing firms",
    "labour": "L: labour of producing firms",
    "investment_output": "I / Y with I = delta K' (stationary), K' the capital of all investors",
    "wage_share": "w L / Y",
    "consumption": "C = Y - I - operating, entry and moving costs (goods market)",
}


@dataclass(frozen=True)
class Aggregates:
    """Aggregates by zone (columns N, S, overall); ``table`` holds them, with
    ``DEFINITIONS`` saying what each row is. The zone of a firm is the zone it
    produces (or invests) in.
    """

    table: pd.DataFrame
    consumption: float
    wage: float

    def to_frame(self) -> pd.DataFrame:
        """The aggregates table (a copy): rows the aggregates, columns the zones and the economy."""
        return self.table.copy()

    def summary(self) -> str:
        """The aggregates table as text."""
        return self.table.to_string(float_format=lambda x: f"{x:.4f}")

    def __getitem__(self, row: str) -> pd.Series:
        return self.table.loc[row]


def aggregates(dist: Distribution, panel: pd.DataFrame | None = None) -> Aggregates:
    """Aggregates of the stationary distribution; the within-firm correlation of
    ln z and ln k needs a simulated ``panel`` (NaN without one).
    """
    sol = dist.solution
    p, space = sol.params, sol.space
    scale, z_power, k_power = profit_terms(p)
    eta = p.gamma * (1 - p.alpha)
    P = space.shocks.P
    nu = dist.nu
    k = np.nan_to_num(sol.k_policy)
    b = np.nan_to_num(sol.b_policy)
    # producing survivors: nu * P(s'|s) * (1 - lam) * (1 - exit)
    survive = (1 - p.lam) * (~sol.exits)
    w = nu[..., None] * P[None, None, :, None, :] * survive  # (2, T, S, M, S')
    leave = nu[..., None] * P[None, None, :, None, :] - w
    profit = space.zfac[None, :, None, None, :] * k[..., None] ** k_power
    output = profit / (1 - eta)
    labour = eta * output / p.w
    z = np.outer(space.types, space.shocks.values)[None, :, None, None, :]
    tau = np.array([p.tau_N, p.tau_S])
    xi = np.array([p.xi_N, p.xi_S])
    taxed = p.liquidation == "taxed"
    constrained = sol.constrained()
    binding = sol.collateral_binds()

    def by_zone(a):  # sum over everything but the zone
        return a.reshape(2, -1).sum(axis=1)

    firms = by_zone(w)
    Y, L = by_zone(w * output), by_zone(w * labour)
    K = by_zone(w * k[..., None])
    Kinv = by_zone(nu * k)
    invest_mass = by_zone(nu)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(k > 0, b / np.where(k > 0, k, 1), 0.0)
    stats = {
        "firms": firms,
        "output": Y,
        "capital": K,
        "labour": L,
        "z_sum": by_zone(w * z),
        "lnz_sum": by_zone(w * np.log(z)),
        "entered": dist.entrants.entered,
        "tfp_birth_sum": dist.entrants.entered * np.nan_to_num(dist.entrants.tfp_at_birth),
        "exits": by_zone(leave),
        "invest_mass": invest_mass,
        "ratio_sum": by_zone(nu * ratio * (k > 0)),
        "k_pos_mass": by_zone(nu * (k > 0)),
        "b_sum": by_zone(nu * b),
        "k_inv": Kinv,
        "constrained": by_zone(nu * constrained),
        "binding": by_zone(nu * binding),
        "profit": by_zone(w * profit),
        "taxes": tau * (by_zone(w * (profit + (1 - p.delta) * k[..., None]))
                        + (by_zone(leave * (1 - p.delta) * k[..., None]) if taxed else 0.0) - Kinv),
        "xi_cost": xi * firms,
    }
    move_cost = np.array([p.cm, p.cm_out])
    moving = (sol.zone != np.arange(2)[:, None, None, None])
    stats["move_cost"] = move_cost * by_zone(dist.mu * moving)
    stats["entry_cost"] = np.array([p.ce_N, p.ce_S]) * dist.entrants.entered
    totals = {name: np.append(v, v.sum()) for name, v in stats.items()}
    t = totals
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = {
            "aggregate_tfp": t["output"] / (t["capital"] ** p.alpha * t["labour"] ** (1 - p.alpha)) ** p.gamma,
            "avg_firm_tfp": t["z_sum"] / t["firms"],
            "avg_firm_ln_tfp": t["lnz_sum"] / t["firms"],
            "birth_rate": t["entered"] / t["firms"],
            "tfp_at_birth": t["tfp_birth_sum"] / t["entered"],
            "death_rate": t["exits"] / t["invest_mass"],
            "corr_ln_z_ln_k": within_firm_corr(panel) if panel is not None else np.full(3, np.nan),
            "bond_capital_ratio": t["ratio_sum"] / t["k_pos_mass"],
            "aggregate_bond_capital": t["b_sum"] / t["k_inv"],
            "constrained_share": t["constrained"] / t["invest_mass"],
            "collateral_binding_share": t["binding"] / t["invest_mass"],
            "effective_tax_rate": t["taxes"] / t["profit"],
            "firms": t["firms"],
            "firm_share": t["firms"] / t["firms"][-1],
            "output": t["output"],
            "capital": t["capital"],
            "labour": t["labour"],
            "investment_output": p.delta * t["k_inv"] / t["output"],
            "wage_share": p.w * t["labour"] / t["output"],
        }
    consumption = (t["output"] - p.delta * t["k_inv"] - t["xi_cost"] - t["entry_cost"] - t["move_cost"])
    rows["consumption"] = consumption
    table = pd.DataFrame(rows, index=list(ZONES)).T
    return Aggregates(table, float(consumption[-1]), p.w)


@renamed(panel="data")
def within_firm_corr(data: pd.DataFrame, min_years: int = 3) -> np.ndarray:
    """Mean within-firm correlation of ln z (``ln_tfp``) and ln k by zone (a firm's
    zone: where it produced most years) and overall.
    """
    df = data.loc[data["capital"] > 0, ["firm_id", "ln_tfp", "capital", "sez"]].copy()
    df["ln_k"] = np.log(df["capital"])
    g = df.groupby("firm_id", sort=False)
    n = g["ln_tfp"].transform("size")
    df = df[n >= min_years]
    g = df.groupby("firm_id", sort=False)
    dz = df["ln_tfp"] - g["ln_tfp"].transform("mean")
    dk = df["ln_k"] - g["ln_k"].transform("mean")
    parts = pd.DataFrame({"firm_id": df["firm_id"], "zk": dz * dk, "zz": dz * dz, "kk": dk * dk, "sez": df["sez"]})
    s = parts.groupby("firm_id", sort=False).agg(zk=("zk", "sum"), zz=("zz", "sum"), kk=("kk", "sum"),
                                                 sez=("sez", "mean"))
    ok = (s["zz"] > 1e-24) & (s["kk"] > 1e-24)
    s = s[ok]
    corr = s["zk"] / np.sqrt(s["zz"] * s["kk"])
    in_sez = s["sez"] > 0.5
    return np.array([corr[~in_sez].mean(), corr[in_sez].mean(), corr.mean()])
