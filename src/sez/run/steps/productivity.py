"""The productivity steps: ``tfp`` (production functions by industry, ln_tfp) and ``elasticities``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sez.data.read import InputError
from sez.limits import MIN_GROUP_OBS
from sez.panel import human_label, with_human_labels
from sez.papers import numbers
from sez.run.context import Run, json_number

_GROUP_NAMES = {"cic2": "2-digit industry", "cic3": "3-digit industry", "cic4": "4-digit industry"}
_METHOD_NAMES = {"op": "Olley-Pakes", "lp": "Levinsohn-Petrin", "acf": "Ackerberg-Caves-Frazer",
                 "wrdg": "Wooldridge", "ols": "OLS", "fe": "Fixed-effects"}


def _log_tfp_everywhere(panel: pd.DataFrame, betas: pd.DataFrame, group_of_row: pd.Series) -> np.ndarray:
    """Ln TFP = ln VA - b_l ln L - b_k ln K for every row with positive inputs.

    The OP estimator writes ln_tfp only on its estimation rows (those with
    positive investment, so never a firm's first year); the elasticities apply
    to every firm-year, as in the papers.
    """
    va, emp, cap = (panel[c].to_numpy(dtype=float) for c in ("value_added", "employees", "capital"))
    b_l = betas["beta_employees"].reindex(group_of_row).to_numpy()
    b_k = betas["beta_capital"].reindex(group_of_row).to_numpy()
    ok = (va > 0) & (emp > 0) & (cap > 0)
    out = np.full(len(panel), np.nan)
    out[ok] = np.log(va[ok]) - b_l[ok] * np.log(emp[ok]) - b_k[ok] * np.log(cap[ok])
    return out


def step_tfp(run: Run) -> None:
    """Production functions and log TFP by industry (the paper's Tables 13-15)."""
    from sez import tfp
    from sez.papers.sez_paper import productivity

    data = run.state["panel"].data
    settings = run.cfg["tfp"]
    method, by, min_obs, trim = settings["method"], settings["by"] or None, settings["min_obs"], settings["trim"]
    if by is not None and by not in data.columns:
        raise InputError(f"[tfp] by = {by!r}: the panel has no such column")
    estimated = tfp.estimate(data, method=method, by=by, small="skip", nonpositive="drop", min_obs=min_obs,
                             write_tfp=False, seed=run.seed)
    skipped = sorted(k for k, v in estimated.diagnostics.items() if "skipped" in v)
    estimates = estimated.estimates.copy()
    estimates["estimated"] = "own industry" if by else "pooled"
    if skipped:
        # small industries share one pooled production function, estimated on their rows together
        small_rows = data[data[by].astype(str).isin(skipped)]
        try:
            pooled = tfp.estimate(small_rows, method=method, by=None, nonpositive="drop", min_obs=MIN_GROUP_OBS,
                                  write_tfp=False, seed=run.seed)
            source = "pooled small industries"
        except tfp.TFPInputError:
            # too few rows even together: use the production function of all industries
            pooled = tfp.estimate(data, method=method, by=None, nonpositive="drop", write_tfp=False, seed=run.seed)
            source = "pooled all industries"
        row = pooled.estimates.iloc[0]
        for label in skipped:
            estimates.loc[label] = row
            estimates.loc[label, "estimated"] = source
    group = data[by].astype(str) if by else pd.Series(estimates.index[0], index=data.index)
    ln_tfp = _log_tfp_everywhere(data, estimates, group)
    ln_tfp, _ = tfp.trim_within_zone(ln_tfp, data, "sez", trim)
    analysed = data.copy()
    analysed["ln_tfp"] = ln_tfp
    run.state["analysed"] = analysed
    run.state["tfp_estimates"] = estimates

    weights = estimates["n_obs"].astype(float)
    run.summary["tfp"] = {
        "method": method, "by": by, "industries_own": int((estimates["estimated"] == "own industry").sum()),
        "industries_pooled": skipped,
        "beta_employees_weighted_mean": float(np.average(estimates["beta_employees"], weights=weights)),
        "beta_capital_weighted_mean": float(np.average(estimates["beta_capital"], weights=weights)),
        "beta_employees_median": float(estimates["beta_employees"].median()),
        "beta_capital_median": float(estimates["beta_capital"].median()),
        "ln_tfp_missing_rows": int(np.isnan(ln_tfp).sum()), "trim_share": trim,
    }
    if run.truth is not None:
        run.summary["tfp"]["truth"] = {k: run.truth.attrs[k] for k in ("beta_l", "beta_k")}
    shown = estimates[["beta_employees", "beta_capital", "returns_to_scale", "n_obs", "n_firms", "converged",
                       "estimated"]].copy()
    shown.index.name = by or "sample"
    name = _METHOD_NAMES[method]
    run.table("tfp", f"tfp_{method}_by_industry", with_human_labels(shown),
              f"{name} production-function elasticities "
              + (f"by {_GROUP_NAMES.get(by, by)} (value added)" if by else "(value added)"),
              f"Industries with fewer than {min_obs} usable observations share a pooled estimate. "
              + _truth_note(run) + _op_note(), tidy=shown)
    run.table("tfp", "production_variables", productivity.production_table(analysed),
              "Production variables in logs (SEZ paper, Table 12 layout)")
    table15 = productivity.tfp_table(analysed)
    paper = paper_mean_ln_tfp(15)
    table15["paper mean"] = [paper["Non-SEZ"], paper["SEZ"]]
    run.table("tfp", "ln_tfp_by_zone", table15, "Log TFP by zone (SEZ paper, Table 15 layout)",
              "'paper mean' is the SEZ paper's Table 15; levels of log TFP depend on units and the omitted constant.")


def _truth_note(run: Run) -> str:
    if run.truth is None:
        return ""
    return f"Synthetic truth: labour {run.truth.attrs['beta_l']}, capital {run.truth.attrs['beta_k']}. "


def step_elasticities(run: Run) -> None:
    """Output elasticities by estimator, side by side (the paper's Table 14)."""
    from sez.papers.sez_paper import productivity

    data = run.state["panel"].data
    table = productivity.elasticity_table(data, methods=tuple(run.cfg["tfp"]["compare"]), nonpositive="drop",
                                          seed=run.seed)
    table.columns = [f"{m} {s}" for m, s in table.columns]
    run.summary["elasticities"] = {col: {k: json_number(v) for k, v in table[col].items()} for col in table.columns}
    shown = table.rename(index=human_label)  # the rows are the production function's terms
    run.table("elasticities", "elasticities_pooled", shown,
              "Pooled production-function elasticities by method, all firms, SEZ and non-SEZ "
              "(SEZ paper, Tables 13-14 layout)",
              "t statistics for OLS and FE only. " + _truth_note(run) + _op_note(), tidy=table)


def paper_mean_ln_tfp(table: int) -> dict[str, float]:
    """The SEZ paper's mean log TFP by zone ("SEZ", "Non-SEZ") in its Table 1 or 15 (shown beside ours)."""
    printed = numbers.read("sez_ln_tfp_by_zone")
    return printed[printed["table"] == table].set_index("zone")["mean_ln_tfp"].to_dict()


def _op_note() -> str:
    """The SEZ paper's Olley-Pakes elasticities beside its model's alpha and gamma (docs/model.md, defect 6)."""
    printed = numbers.read("sez_op_elasticities")
    op = printed.loc[printed["quantity"] == "op_elasticity", "value"].tolist()
    model = printed.set_index("quantity")["value"]
    return (f"The SEZ paper's Table 14 reports pooled OP elasticities {op[0]:g} and {op[1]:g} (sum {sum(op):.2f}); "
            f"its model uses alpha = {model['alpha']:g} and gamma = {model['gamma']:g} instead (see docs/model.md, "
            "defect 6).")
