"""The numbers the stored model reference holds (tests/results/model_reference.npz).

``compute()`` solves the model at two parameter sets on the default grid with every
search method, computes the stationary distribution and simulates a small panel
with a fixed seed; ``tests/results/make_model_reference.py`` stores the result and
``tests/test_model_reference.py`` compares a fresh computation with it, bit for bit.
"""

import platform
import warnings

import numpy as np

from sez.model import CollateralWarning, Grid, Params, simulate, solve, stationary

#: parameter sets: the paper's values (every solvent firm picks the SEZ), and both
#: zones populated with moving costs and a binding collateral constraint in S
CASES = {
    "paper": {},
    "populated": {"xbar_S": 0.3, "cm": 0.05, "cm_out": 0.02, "theta_S": 0.7, "xi_N": 0.05},
}
#: methods solved per case; the first is the default and feeds the distribution and panel
METHODS = ("howard", "grid", "monotone", "continuous")
#: a small panel: its rows (firm, then year) are all stored
PANEL = {"n_firms": 120, "years": 4, "burn_in": 6, "seed": 20240501}
PANEL_COLUMNS = ("firm_id", "year", "sez", "birth_year", "mover", "move_year", "employees", "output", "profit",
                 "capital", "debt", "ln_tfp", "exit", "cash", "dividends", "investment")


def platform_key() -> str:
    """Where bit-identity is promised: libm's pow/exp and numpy's may round differently elsewhere."""
    return f"{platform.system()}-{platform.machine()}"


def compute() -> dict[str, np.ndarray]:
    """Every stored array, named case/method/what or case/what."""
    out: dict[str, np.ndarray] = {}
    for case, changes in CASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CollateralWarning)
            params = Params.paper(**changes)
        for method in METHODS:
            sol = solve(params, Grid(), method=method)
            pre = f"{case}/{method}/"
            out[pre + "V"], out[pre + "k_search"] = sol.V, sol.k_search
            out[pre + "iterations"] = np.array(sol.iterations)
            if method != METHODS[0]:
                continue
            out[pre + "Q"], out[pre + "zone"], out[pre + "mbar"] = sol.Q, sol.zone, sol.mbar
            out[pre + "k_policy"], out[pre + "b_policy"] = sol.k_policy, sol.b_policy
            out[pre + "m_next"], out[pre + "exits"] = sol.m_next, sol.exits
            out[pre + "liquidation_value"] = sol.liquidation_value
            dist = stationary(sol)
            out[pre + "mu"], out[pre + "nu"] = dist.mu, dist.nu
            out[pre + "dist_iterations"] = np.array(dist.iterations)
            df = simulate(sol, distribution=dist, **PANEL)
            for col in PANEL_COLUMNS:
                out[f"{pre}panel/{col}"] = df[col].to_numpy(dtype=float, na_value=np.nan)
    return out
