"""The SEZ paper's counterfactuals (section 6, Tables 8-11) and the SEZ-size sweep.

Each scenario removes some SEZ policies by setting SEZ parameters to their
non-SEZ values; the effect of the SEZ is the benchmark relative to the
counterfactual, in percent (the paper's convention: 0.5305 / 0.4221 - 1 = 25.7%).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sez.model.equilibrium import Economy, economy
from sez.model.grid import Grid
from sez.model.params import Params

#: scenario -> (paper table, what it sets to the non-SEZ value)
SCENARIOS = {
    "no_sez": ("Table 8", ("theta", "tau", "xbar")),
    "credit": ("Table 9", ("theta",)),
    "credit_tax": ("Table 10", ("theta", "tau")),
    # not in the paper: every zone parameter equal, so the SEZ effect must be zero
    "equalise": (None, ("theta", "tau", "xbar", "xi", "ce")),
}

#: Rows of the paper's Tables 8-10 and the aggregate behind each.
ROWS = {
    "Aggregate TFP (Z)": "aggregate_tfp",
    "Firm-level TFP (avg.)": "avg_firm_tfp",
    "Birth rate": "birth_rate",
    "Firm-level TFP at birth (avg.)": "tfp_at_birth",
    "Death rate": "death_rate",
    "rho(ln z, ln k) (avg.)": "corr_ln_z_ln_k",
    "Bond-capital ratio (avg.)": "bond_capital_ratio",
    "Financially constrained firms (share)": "constrained_share",
    "Effective tax rate": "effective_tax_rate",
}

def scenario_params(params: Params, scenario: str) -> Params:
    """The counterfactual parameter set: the scenario's SEZ parameters set to N's."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario = {scenario!r}: use one of {sorted(SCENARIOS)}")
    changes = {}
    for name in SCENARIOS[scenario][1]:
        changes[f"{name}_S"] = 0.0 if name == "xbar" else getattr(params, f"{name}_N")
    return params.replace(**changes)


@dataclass(frozen=True)
class Counterfactual:
    """A counterfactual economy beside its benchmark: the scenario, the equilibrium closure and both economies."""

    scenario: str
    closure: str
    benchmark: Economy = field(repr=False)
    counterfactual: Economy = field(repr=False)

    def table(self) -> pd.DataFrame:
        """The paper's layout: benchmark by zone and overall, the counterfactual overall, and the SEZ
        effect (%) = benchmark / counterfactual - 1 (``sez.papers.sez_paper.model.counterfactual_table``
        sets the paper's numbers beside them).
        """
        b = self.benchmark.aggregates.table
        c = self.counterfactual.aggregates.table
        out = pd.DataFrame(index=list(ROWS))
        for label, row in ROWS.items():
            out.loc[label, "benchmark N"] = b.loc[row, "N"]
            out.loc[label, "benchmark S"] = b.loc[row, "S"]
            out.loc[label, "benchmark overall"] = b.loc[row, "overall"]
            out.loc[label, "counterfactual overall"] = c.loc[row, "overall"]
            out.loc[label, "effect (%)"] = effect(b.loc[row, "overall"], c.loc[row, "overall"])
        out.attrs["closure"] = self.closure
        out.attrs["scenario"] = self.scenario
        return out

    def summary(self) -> str:
        """The scenario, the closure and the counterfactual's aggregates beside the benchmark's."""
        title = SCENARIOS[self.scenario][0] or "no table in the paper"
        head = (f"Counterfactual '{self.scenario}' ({title}): SEZ {', '.join(SCENARIOS[self.scenario][1])} set to "
                f"non-SEZ values; {self.closure} equilibrium (wage {self.benchmark.wage:.4f} -> "
                f"{self.counterfactual.wage:.4f})")
        return head + "\n" + self.table().to_string(float_format=lambda x: f"{x:.4f}")


def effect(benchmark: float, counterfactual: float) -> float:
    """The SEZ effect in percent: benchmark relative to the counterfactual."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(100.0 * (benchmark / counterfactual - 1.0))


def counterfactual(params: Params, scenario: str, grid: Grid | None = None, closure: str = "partial",
                   benchmark: Economy | None = None, **economy_kw) -> Counterfactual:
    """Run one of the paper's scenarios against the benchmark ``params``.

    In general equilibrium the counterfactual uses the benchmark's psi, so the
    wage moves to clear the labour market.
    """
    bench = benchmark or economy(params, grid, closure=closure, **economy_kw)
    if bench.closure != closure:
        raise ValueError(f"benchmark closure {bench.closure!r} differs from {closure!r}")
    cf_params = scenario_params(bench.params, scenario)
    cf = economy(cf_params, grid, closure=closure, psi=bench.psi if closure == "general" else None, **economy_kw)
    return Counterfactual(scenario, closure, bench, cf)


def decomposition(params: Params, grid: Grid | None = None, closure: str = "partial", **economy_kw) -> pd.DataFrame:
    """Table 11: aggregate and average TFP of each counterfactual relative to the
    benchmark (benchmark = 100), with the SEZ effect in percent.
    """
    bench = economy(params, grid, closure=closure, **economy_kw)
    rows = []
    for scenario, label in (("credit", "collateral theta"), ("credit_tax", "+ corporate tax tau"),
                            ("no_sez", "+ minimal profit scale xbar")):
        cf = counterfactual(params, scenario, grid, closure, benchmark=bench, **economy_kw)
        for measure in ("aggregate_tfp", "avg_firm_tfp"):
            b = bench.aggregates.table.loc[measure, "overall"]
            c = cf.counterfactual.aggregates.table.loc[measure, "overall"]
            rows.append({"measure": measure, "policy removed": label, "benchmark": b, "counterfactual": c,
                         "counterfactual (benchmark = 100)": 100 * c / b, "effect (%)": effect(b, c)})
    out = pd.DataFrame(rows)
    out.attrs["closure"] = closure
    return out


def sez_size_sweep(params: Params, lever: str, values, grid: Grid | None = None, closure: str = "partial",
                   **economy_kw) -> pd.DataFrame:
    """The optimal SEZ size: sweep an SEZ policy lever and report the SEZ firm
    share against aggregate TFP, output and consumption. ``attrs['argmax']`` gives
    the lever value maximising each of them.
    """
    allowed = ("xbar_S", "ce_S", "tau_S", "theta_S", "xi_S")
    if lever not in allowed:
        raise ValueError(f"lever = {lever!r}: use one of {allowed}")
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError("values must be a 1-d sequence of at least 2 lever values")
    kw = {"n_firms": 0, **economy_kw}
    psi = None
    rows = []
    for v in values:
        econ = economy(params.replace(**{lever: float(v)}), grid, closure=closure, psi=psi, **kw)
        if closure == "general" and psi is None:
            psi = econ.psi  # the first lever value is the normalisation
        t = econ.aggregates.table
        rows.append({lever: v, "sez_share": t.loc["firm_share", "S"],
                     "aggregate_tfp": t.loc["aggregate_tfp", "overall"],
                     "output": t.loc["output", "overall"], "consumption": econ.aggregates.consumption,
                     "wage": econ.wage})
    out = pd.DataFrame(rows)
    out.attrs["argmax"] = {c: float(out.loc[out[c].idxmax(), lever])
                           for c in ("aggregate_tfp", "output", "consumption")}
    out.attrs["closure"] = closure
    return out
