"""The SEZ paper's productivity tables (Tables 12-15), built on :mod:`sez.tfp`.

``production_table`` (Table 12: the production variables in logs, firm age in years),
``elasticity_table`` (Tables 13-14: pooled elasticities by method for all firms, SEZ and
non-SEZ firms, with the paper's Olley-Pakes ``age`` row), ``tfp_table`` (Table 15: log TFP by
zone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd

from sez.results import renamed
from sez.tfp import Inputs, TFPInputError, bootstrap, estimate, firm_age

__all__ = ["PRODUCTION_VARIABLES", "production_table", "elasticity_table", "tfp_table"]

#: Table 12's rows: label -> column
PRODUCTION_VARIABLES = {"Output": "output", "Value-Added": "value_added", "Input": "intermediate_input",
                        "Capital": "capital", "Investment": "investment", "Employment": "employees"}


@renamed(panel="data")
def production_table(data: pd.DataFrame, time: str = "year") -> pd.DataFrame:
    """Descriptive statistics of the production variables in logs (SEZ paper, Table 12)."""
    rows = {}
    for label, col in PRODUCTION_VARIABLES.items():
        if col in data.columns:
            x = data[col].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.log(x[x > 0])
            rows[label] = _describe(v)
    age = firm_age(data, time)
    if age is not None:
        rows["age"] = _describe(age.dropna().to_numpy(dtype=float))       # in years, not logs (the paper's row)
    table = pd.DataFrame(rows).T[["mean", "sd", "p25", "p50", "p75", "max"]]
    table.attrs["observations"] = len(data)
    return table


def _describe(v: np.ndarray) -> dict:
    v = v[np.isfinite(v)]
    q = np.quantile(v, [0.25, 0.5, 0.75]) if len(v) else [np.nan] * 3
    from scipy.stats import skew

    return {"skewness": float(skew(v)) if len(v) > 2 else np.nan, "mean": v.mean(), "sd": v.std(ddof=1),
            "p25": q[0], "p50": q[1], "p75": q[2], "min": v.min(), "max": v.max(), "observations": len(v)}


def elasticity_table(data: pd.DataFrame, methods: Sequence[str] = ("ols", "fe", "op", "lp"),
                     zone: str = "sez", reps: int = 0, executor=None, seed: int = 0,
                     op_age: bool | None = None, **options) -> pd.DataFrame:
    """Pooled elasticities by method for all firms, SEZ and non-SEZ firms (SEZ paper, Tables 13-14).

    Columns are (method, sample); rows the coefficients, ``t_<term>`` t statistics
    (analytic for OLS/FE/WRDG, firm bootstrap with ``reps`` replications otherwise),
    ``constant`` and ``t_constant`` (OLS, FE: the mean firm effect, as Stata's ``xtreg, fe``),
    ``observations`` (second stage where there is one), ``r2`` and ``r2_adj`` (OLS; FE:
    within R-squared, adjusted for the firm effects). ``options`` go to
    :func:`sez.tfp.estimate` (``inputs=``, ``proxy_settings=``, ``nonpositive=`` ...).

    op_age : bool, optional
        Olley-Pakes with firm age (years, in levels) as a second state variable, the
        paper's Table 14 ``age`` row (Stata's ``opreg ..., state(lnk age)``). None: when the
        panel has ``age`` or ``birth_year`` (see :func:`sez.tfp.firm_age`); True requires it.
    """
    age = firm_age(data, options.get("time", "year"))
    if op_age and age is None:
        raise TFPInputError("op_age=True needs column 'age' or 'birth_year' in the panel")
    use_age = age is not None if op_age is None else op_age
    aged = data.assign(age=age) if use_age else data
    samples = {"Overall": aged, "SEZ": aged[aged[zone].astype(bool)], "nSEZ": aged[~aged[zone].astype(bool)]}
    columns = {}
    for method in methods:
        method_options = dict(options)
        if method == "op" and use_age:
            inputs = method_options.get("inputs")
            inputs = Inputs(**inputs) if isinstance(inputs, Mapping) else inputs or Inputs()
            method_options["inputs"] = replace(inputs, state=(*inputs.state, "age"), levels=(*inputs.levels, "age"))
        for name, sample in samples.items():
            if reps and method not in ("ols", "fe", "wrdg"):
                res = bootstrap(sample, method, reps=reps, executor=executor, seed=seed, by=None,
                                **method_options).point
            else:
                res = estimate(sample, method=method, by=None, seed=seed, write_tfp=False, **method_options)
            row = res.estimates.iloc[0]
            entry = {c: row[f"beta_{c}"] for c in res.terms}
            if res.standard_errors is not None:
                se = res.standard_errors.iloc[0]
                entry.update({f"t_{c}": row[f"beta_{c}"] / se[c] for c in res.terms})
                if "constant" in row and "constant" in se:
                    entry.update(constant=row["constant"], t_constant=row["constant"] / se["constant"])
            entry["observations"] = row.get("n_second_stage", row["n_obs"])
            for key in ("r2", "r2_adj"):
                if key in row:
                    entry[key] = row[key]
            columns[(method.upper(), name)] = entry
    return pd.DataFrame(columns)


@renamed(panel="data")
def tfp_table(data: pd.DataFrame, zone: str = "sez", column: str = "ln_tfp") -> pd.DataFrame:
    """Log TFP by zone: skewness, mean, sd, quantiles, extremes (SEZ paper, Table 15)."""
    rows = {}
    for value, label in ((False, "Non-SEZ"), (True, "SEZ")):
        v = data.loc[data[zone].astype(bool) == value, column].to_numpy(dtype=float)
        rows[label] = _describe(v)
    return pd.DataFrame(rows).T[["skewness", "mean", "sd", "p25", "p50", "p75", "min", "max", "observations"]]
