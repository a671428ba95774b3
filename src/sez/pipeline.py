"""One run from raw firm data to the papers' tables, on synthetic data with a known truth.

:func:`run_demo` chains the package's components:

1. ``synthetic``: raw yearly ASIE extracts from :func:`sez.data.synthetic` (the
   truth kept beside them: an SEZ effect of 0.10 log points on TFP);
2. ``read`` and ``harmonise``: :func:`sez.data.read_asie`, :func:`sez.data.harmonise`
   (with the generator's output price index as deflators);
3. ``tfp``: Olley-Pakes by 2-digit industry as the SEZ paper does, industries
   below ``min_obs`` pooled; ``elasticities``: the pooled OLS/FE/OP/LP table;
4. ``agglomeration``: the agglomerated flag (LQ > 1), exporter counts, EG within city;
5. ``dominance``: the KS dominance table and the TFP density figure;
6. ``probit``: the export probit on lagged regressors with year and 3-digit industry effects;
7. ``facts``: the SEZ paper's stylised-fact Tables 1-3;
8. ``did``, ``event_study``, ``mediation``: TWFE and imputation DiD of ln_tfp on SEZ status;
9. ``model``: the paper's model solved and its no-SEZ counterfactual.

Each step is timed; a failing step is recorded with its error and the steps that
do not need it go on. Outputs: every table as CSV (``tables/``), the harmonised
panel as Parquet, figures as PNG (``figures/``), ``summary.json`` and ``report.html``.
"""

from __future__ import annotations

import json
import math
import re
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from sez import report

__all__ = ["DemoSize", "SIZES", "STEPS", "SEZ_EFFECT_TOLERANCE_SE", "StepRecord", "run_demo"]


@dataclass(frozen=True)
class DemoSize:
    """How big a demo run is.

    Attributes
    ----------
    n_firms : int
        True firms of the synthetic ASIE (incumbents and entrants over 1998-2013).
    n_cash, n_capital : int
        Model grid sizes.
    model_firms : int
        Firms in the model's simulated panels.
    min_obs : int
        Fewest observations of a 2-digit industry estimated on its own; smaller
        industries are pooled.
    county_effects : bool
        Add county effects to the probit (the paper's specification; needs many
        firms per county, otherwise most counties predict perfectly).
    """

    n_firms: int
    n_cash: int
    n_capital: int
    model_firms: int
    min_obs: int = 200
    county_effects: bool = False


#: ``tiny`` is for tests (about half a minute); ``small`` runs in about a minute on
#: two cores; ``paper`` uses the model's default grid and a large synthetic panel.
SIZES = {
    "tiny": DemoSize(n_firms=1500, n_cash=40, n_capital=50, model_firms=2000, min_obs=150),
    "small": DemoSize(n_firms=4000, n_cash=60, n_capital=80, model_firms=5000, min_obs=200),
    "paper": DemoSize(n_firms=100_000, n_cash=120, n_capital=200, model_firms=20_000, min_obs=500,
                      county_effects=True),
}

#: Steps in order, each with the steps whose results it needs.
STEPS = {
    "synthetic": (),
    "read": ("synthetic",),
    "harmonise": ("read",),
    "tfp": ("harmonise",),
    "elasticities": ("harmonise",),
    "agglomeration": ("tfp",),
    "dominance": ("agglomeration",),
    "probit": ("agglomeration",),
    "facts": ("tfp",),
    "did": ("tfp",),
    "event_study": ("tfp",),
    "mediation": ("agglomeration",),
    "model": (),
}

#: The DiD estimates are judged against the synthetic truth within this many of their standard errors.
SEZ_EFFECT_TOLERANCE_SE = 4.0

# Numbers the papers report for the same statistics, shown beside ours (never used in a computation).
# SEZ paper: Table 1 mean log TFP in and outside zones; Table 3 movers vs stayers; Table 14 OP elasticities.
_PAPER_TABLE1_LN_TFP = {"SEZ": 2.21, "Non-SEZ": 0.85}
_PAPER_TABLE15_LN_TFP_MEAN = {"SEZ": 2.11, "Non-SEZ": 0.85}
_PAPER_TABLE3 = {"Avg log productivity (ln z)": {"Difference before": 0.20, "Difference after": 0.78,
                                                 "Driven by selection": 0.26},
                 "Avg log capital (ln k)": {"Difference before": 0.29, "Difference after": 0.57,
                                            "Driven by selection": 0.51}}
_PAPER_OP_NOTE = ("The SEZ paper's Table 14 reports pooled OP elasticities 0.515 and 0.582 (sum 1.10); its model "
                  "uses alpha = 0.37 and gamma = 0.862 instead (see docs/model.md, defect 6).")

_PROBIT_LABELS = {"L.ln_tfp": "TFP (t-1), log", "L.ln_employees": "Employees (t-1), log", "L.age": "Age (t-1)",
                  "L.foreign_invested": "Foreign-invested (t-1)", "L.exporter": "Export status (t-1)",
                  "L.agg1_1": "Exporters, same county and industry (t-1)",
                  "L.agg1_2": "Exporters, same county, other industries (t-1)",
                  "L.agg2_1": "Indigenous exporters, same county (t-1)",
                  "L.agg2_2": "Indigenous exporters, same province, other counties (t-1)",
                  "L.agg3_1": "Foreign exporters, same county (t-1)",
                  "L.agg3_2": "Foreign exporters, same province, other counties (t-1)"}


@dataclass
class StepRecord:
    """What happened in one step: ``status`` is ``ok``, ``failed`` or ``skipped``."""

    name: str
    status: str = "pending"
    seconds: float = 0.0
    error: str = ""
    traceback: str = ""
    warnings: list = field(default_factory=list)


class _Run:
    """State shared by the steps of one demo run: results, outputs, report sections, summary."""

    def __init__(self, out_dir: Path, size: DemoSize, size_name: str, seed: int):
        self.out = out_dir
        self.tables_dir = out_dir / "tables"
        self.figures_dir = out_dir / "figures"
        for d in (self.tables_dir, self.figures_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.size, self.size_name, self.seed = size, size_name, seed
        self.state: dict = {}
        self.summary: dict = {}
        self.sections: dict[str, report.Section] = {}
        self.files: list[Path] = []
        self.deflate = False

    # outputs ---------------------------------------------------------------
    def table(self, step: str, name: str, frame: pd.DataFrame, caption: str, note: str = "",
              index: bool = True) -> None:
        """Write ``frame`` as CSV and add it, captioned, to the step's report section."""
        path = self.tables_dir / f"{name}.csv"
        frame.to_csv(path, index=index)
        self.files.append(path)
        shown = frame if index else frame.set_index(frame.columns[0])
        self.sections[step].items.append(report.Table(caption, shown, note, csv=f"tables/{name}.csv"))

    def figure(self, step: str, name: str, draw: Callable[[Path], object], caption: str, note: str = "") -> None:
        """Draw a figure into ``figures/<name>.png`` and add it to the step's section."""
        import matplotlib.pyplot as plt

        path = self.figures_dir / f"{name}.png"
        try:
            draw(path)
        finally:
            plt.close("all")  # the components leave their figures open
        self.files.append(path)
        self.sections[step].items.append(report.Figure(caption, path, note))


# ---------------------------------------------------------------------------
# steps


def _synthetic_deflators(price_index: dict) -> pd.DataFrame:
    """Output deflators (1998 = 100) for every 2-digit manufacturing industry from the generator's price index."""
    rows = [(str(c), int(y), 100.0 * float(p)) for c in range(13, 44) for y, p in price_index.items()]
    return pd.DataFrame(rows, columns=["cic2", "year", "deflator"])


def _step_synthetic(run: _Run) -> None:
    from sez.data import synthetic

    result = synthetic(n_firms=run.size.n_firms, seed=run.seed, out_dir=run.out / "raw")
    run.state["synthetic"] = result
    truth = result.truth
    run.summary["synthetic"] = {"n_firms": run.size.n_firms, "true_firm_years": len(truth),
                                "files": {int(y): str(p.relative_to(run.out)) for y, p in result.files.items()},
                                "formats": {int(y): f for y, f in result.formats.items()},
                                "truth": {k: truth.attrs[k] for k in ("tau_sez", "beta_k", "beta_l", "rho")}}
    formats = pd.DataFrame({"year": list(result.formats), "format": list(result.formats.values()),
                            "file": [str(p.relative_to(run.out)) for p in result.files.values()]})
    run.table("synthetic", "raw_files", formats, "Raw yearly extracts written by the synthetic generator",
              "One file per year in rotating formats and header languages, with the survey's mess injected.",
              index=False)


def _step_read(run: _Run) -> None:
    from sez.data import read_asie

    raw = read_asie(run.state["synthetic"].files)
    run.state["raw"] = raw
    run.summary["read"] = {"rows": len(raw), "columns": len(raw.columns)}


def _step_harmonise(run: _Run) -> None:
    from sez.data import harmonise

    truth = run.state["synthetic"].truth
    deflators = _synthetic_deflators(truth.attrs["output_price_index"]) if run.deflate else None
    panel = harmonise(run.state["raw"], deflators=deflators)
    run.state["panel"] = panel
    data = panel.data
    path = run.out / "panel.parquet"
    data.to_parquet(path, index=False)
    run.files.append(path)
    links = panel.links.groupby("rule", sort=False)["links"].sum()
    run.summary["harmonise"] = {
        "rows_in": int(panel.audit.attrs["rows_in"]), "rows_out": int(panel.audit.attrs["rows_out"]),
        "firms": int(data["firm_id"].nunique()),
        "dropped_by_reason": {f"{r.step}: {r.reason}": int(r.rows) for r in panel.audit.itertuples()},
        "links_by_rule": {str(k): int(v) for k, v in links.items()},
        "sez_share": float(data["sez"].mean()), "notes": list(panel.notes),
    }
    run.summary["harmonise"].update(_linking_accuracy(data, truth))
    run.table("harmonise", "audit", panel.audit, "Rows dropped by step and reason during harmonisation",
              f"Rows in {panel.audit.attrs['rows_in']:,} = rows out {panel.audit.attrs['rows_out']:,} + rows dropped.",
              index=False)
    links_wide = panel.links.pivot_table(index=["year", "to_year"], columns="rule", values="links",
                                         aggfunc="sum").reset_index()
    run.table("harmonise", "links", links_wide, "Firm links across years by rule and year pair",
              "Rules of Brandt, Van Biesebroeck and Zhang (2012), applied in order.", index=False)
    notes = pd.DataFrame({"note": list(panel.notes)})
    run.table("harmonise", "harmonise_notes", notes, "Changes made during harmonisation that dropped no rows",
              index=False)


def _linking_accuracy(data: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Pairwise precision and recall of the consecutive-year links against the true firm ids.

    The harmonised rows carry ``source`` (file) and ``source_row``; the truth's
    ``raw_row`` is the first copy of a firm-year in that year's raw frame.
    """
    key = truth[["year", "raw_row", "firm_id"]].rename(columns={"raw_row": "source_row", "firm_id": "true_id"})
    merged = data[["firm_id", "year", "source_row"]].merge(key, on=["year", "source_row"], how="inner")
    if merged.empty:
        return {}
    # a link is a pair of records of consecutive years sharing the estimated id (or the true id)
    est = merged.assign(y1=merged["year"] + 1).merge(merged, left_on=["firm_id", "y1"], right_on=["firm_id", "year"],
                                                     suffixes=("", "_b"))
    true = merged.assign(y1=merged["year"] + 1).merge(merged, left_on=["true_id", "y1"],
                                                      right_on=["true_id", "year"], suffixes=("", "_b"))
    est_pairs = set(zip(est["year"], est["source_row"], est["source_row_b"]))
    true_pairs = set(zip(true["year"], true["source_row"], true["source_row_b"]))
    hit = len(est_pairs & true_pairs)
    return {"link_precision": hit / len(est_pairs) if est_pairs else None,
            "link_recall": hit / len(true_pairs) if true_pairs else None,
            "sez_status_accuracy": float((data[["year", "source_row", "sez"]]
                                          .merge(truth[["year", "raw_row", "sez"]]
                                                 .rename(columns={"raw_row": "source_row", "sez": "true_sez"}),
                                                 on=["year", "source_row"])
                                          .pipe(lambda d: (d["sez"] == d["true_sez"]).mean())))}


def _log_tfp_everywhere(panel: pd.DataFrame, betas: pd.DataFrame, group_of_row: pd.Series) -> np.ndarray:
    """ln TFP = ln VA - b_l ln L - b_k ln K for every row with positive inputs.

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


def _trim_within_zone(values: np.ndarray, zone: np.ndarray, share: float) -> np.ndarray:
    """Blank the top and bottom ``share`` of ``values`` within each zone (SEZ paper, appendix A1.2)."""
    out = values.copy()
    for flag in (False, True):
        rows = (zone == flag) & np.isfinite(values)
        if rows.sum() < 2:
            continue
        lo, hi = np.quantile(values[rows], [share, 1 - share])
        out[rows & ((values < lo) | (values > hi))] = np.nan
    return out


def _step_tfp(run: _Run) -> None:
    from sez import tfp

    data = run.state["panel"].data
    by_industry = tfp.estimate(data, method="op", by="cic2", small="skip", nonpositive="drop",
                               min_obs=run.size.min_obs, write_tfp=False, seed=run.seed)
    skipped = sorted(k for k, v in by_industry.diagnostics.items() if "skipped" in v)
    estimates = by_industry.estimates.copy()
    estimates["estimated"] = "own industry"
    pooled = None
    if skipped:
        # small industries share one pooled production function, estimated on their rows together
        small_rows = data[data["cic2"].isin(skipped)]
        try:
            pooled = tfp.estimate(small_rows, method="op", by=None, nonpositive="drop", min_obs=50,
                                  write_tfp=False, seed=run.seed)
            source = "pooled small industries"
        except tfp.TFPInputError:
            # too few rows even together: use the production function of all industries
            pooled = tfp.estimate(data, method="op", by=None, nonpositive="drop", write_tfp=False, seed=run.seed)
            source = "pooled all industries"
        row = pooled.estimates.iloc[0]
        for label in skipped:
            estimates.loc[label] = row
            estimates.loc[label, "estimated"] = source
    group = data["cic2"].astype(str)
    ln_tfp = _log_tfp_everywhere(data, estimates, group)
    zone = data["sez"].to_numpy(dtype=bool)
    ln_tfp = _trim_within_zone(ln_tfp, zone, 0.005)
    analysed = data.copy()
    analysed["ln_tfp"] = ln_tfp
    run.state["analysed"] = analysed
    run.state["tfp_estimates"] = estimates

    truth = run.state["synthetic"].truth.attrs
    weights = estimates["n_obs"].astype(float)
    run.summary["tfp"] = {
        "method": "op", "by": "cic2", "industries_own": int((estimates["estimated"] == "own industry").sum()),
        "industries_pooled": skipped,
        "beta_employees_weighted_mean": float(np.average(estimates["beta_employees"], weights=weights)),
        "beta_capital_weighted_mean": float(np.average(estimates["beta_capital"], weights=weights)),
        "beta_employees_median": float(estimates["beta_employees"].median()),
        "beta_capital_median": float(estimates["beta_capital"].median()),
        "truth": {"beta_l": truth["beta_l"], "beta_k": truth["beta_k"]},
        "ln_tfp_missing_rows": int(np.isnan(ln_tfp).sum()), "trim_share": 0.005,
    }
    shown = estimates[["beta_employees", "beta_capital", "returns_to_scale", "n_obs", "n_firms", "converged",
                       "estimated"]].copy()
    shown.index.name = "cic2"
    run.table("tfp", "tfp_op_by_industry", shown,
              "Olley-Pakes production-function elasticities by 2-digit industry (value added)",
              f"Industries with fewer than {run.size.min_obs} usable observations share a pooled estimate. "
              f"Synthetic truth: labour {truth['beta_l']}, capital {truth['beta_k']}. " + _PAPER_OP_NOTE)
    run.table("tfp", "production_variables", tfp.production_table(analysed),
              "Production variables in logs (SEZ paper, Table 12 layout)")
    table15 = tfp.tfp_table(analysed)
    table15["paper mean"] = [_PAPER_TABLE15_LN_TFP_MEAN["Non-SEZ"], _PAPER_TABLE15_LN_TFP_MEAN["SEZ"]]
    run.table("tfp", "ln_tfp_by_zone", table15, "Log TFP by zone (SEZ paper, Table 15 layout)",
              "'paper mean' is the SEZ paper's Table 15; levels of log TFP depend on units and the omitted constant.")


def _step_elasticities(run: _Run) -> None:
    from sez import tfp

    data = run.state["panel"].data
    table = tfp.elasticity_table(data, methods=("ols", "fe", "op", "lp"), nonpositive="drop", seed=run.seed)
    table.columns = [f"{m} {s}" for m, s in table.columns]
    run.summary["elasticities"] = {col: {k: _number(v) for k, v in table[col].items()} for col in table.columns}
    truth = run.state["synthetic"].truth.attrs
    run.table("elasticities", "elasticities_pooled", table,
              "Pooled production-function elasticities by method, all firms, SEZ and non-SEZ "
              "(SEZ paper, Tables 13-14 layout)",
              f"t statistics for OLS and FE only. Synthetic truth: labour {truth['beta_l']}, capital "
              f"{truth['beta_k']}. " + _PAPER_OP_NOTE)


def _step_agglomeration(run: _Run) -> None:
    from sez import agglo

    data = run.state["analysed"]
    data["agglomerated"] = agglo.is_agglomerated(data).to_numpy()
    counts = agglo.exporter_counts(data)
    for col in counts.columns:
        data[col] = counts[col].to_numpy()
    eg = agglo.ellison_glaeser_within_city(data)
    data["eg_city"] = agglo.to_firms(data, eg, "gamma").to_numpy(dtype=float)
    run.summary["agglomeration"] = {"agglomerated_share": float(data["agglomerated"].mean()),
                                    "exporter_share": float(data["exporter"].mean()),
                                    "mean_counts": {c: float(counts[c].mean()) for c in counts.columns},
                                    "eg_city_defined_share": float(np.isfinite(data["eg_city"]).mean())}
    desc = counts.describe().T
    desc.index.name = "count"
    run.table("agglomeration", "exporter_counts", desc,
              "Neighbouring exporters of each firm-year (agglomeration paper's agg1_1 .. agg3_2), summary",
              "Same year, the firm itself excluded: county-industry, county, indigenous and foreign-invested counts.")
    path = run.out / "analysis_panel.parquet"
    data.to_parquet(path, index=False)
    run.files.append(path)


def _testable_years(data: pd.DataFrame) -> list[int]:
    """Years in which all four groups (exporter x agglomerated) have firms with ln_tfp."""
    usable = data[np.isfinite(data["ln_tfp"])]
    sizes = usable.groupby(["year", "exporter", "agglomerated"]).size().unstack(["exporter", "agglomerated"])
    sizes = sizes.reindex(columns=pd.MultiIndex.from_product([[False, True], [False, True]])).fillna(0)
    return [int(y) for y in sizes.index[(sizes > 0).all(axis=1)]]


def _step_dominance(run: _Run) -> None:
    from sez import stats

    data = run.state["analysed"]
    years = _testable_years(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows without ln_tfp (trimmed, first years) are left out by design
        table = stats.dominance_table(data, agglomerated="agglomerated", years=years)
    verdicts = table.reset_index().groupby(["panel", "verdict"]).size()
    run.summary["dominance"] = {
        "years": years,
        "verdicts": {p: {v: int(n) for v, n in verdicts[p].items()} for p in verdicts.index.levels[0]
                     if p in verdicts.index.get_level_values(0)}}
    run.table("dominance", "ks_dominance", table,
              "Kolmogorov-Smirnov dominance of log TFP by export status and agglomeration, by year "
              "(agglomeration paper, Table 2 layout)",
              "Panels: (a) domestic vs exporters, not agglomerated; (b) the same, agglomerated; (c) exporters, "
              "not agglomerated vs agglomerated; (d) domestic firms, not agglomerated vs agglomerated. "
              "In the synthetic data exporters are more productive by construction.")
    year = max(years) if years else None
    run.figure("dominance", "tfp_densities",
               lambda p: stats.plot_tfp_densities(data, p, agglomerated="agglomerated", year=year),
               f"Densities of log TFP by export status and agglomeration, {year} (agglomeration paper, Figure 1)")


def _step_probit(run: _Run) -> None:
    from sez import econometrics

    data = run.state["analysed"].copy()
    data["ln_employees"] = np.log(data["employees"].where(data["employees"] > 0))
    data["age"] = data["age"].astype("float")
    firm_x = ["ln_tfp", "ln_employees", "age", "foreign_invested", "exporter"]
    # agg1_1 + agg1_2 = agg2_1 + agg3_1 (all county exporters but the firm) whenever ownership is known, so the
    # two families of counts enter separate models, as separate columns of the paper's table
    models = {"[1] industry counts": ["agg1_1", "agg1_2"],
              "[2] ownership counts": ["agg2_1", "agg2_2", "agg3_1", "agg3_2"]}
    fe = ["year", "cic3"] + (["county"] if run.size.county_effects else [])
    results, dropped = [], {}
    for title, counts in models.items():
        x = firm_x + counts
        try:
            res = econometrics.probit(data, "exporter", x, fe=fe, lags=x)
        except ValueError as err:
            # a count with no variation left (small samples): drop the regressors named and say so
            named = [n.removeprefix("L.") for n in re.findall(r"'(L\.[\w]+)'", str(err))]
            if "collinear" not in str(err) and "does not vary" not in str(err) or not named:
                raise
            dropped[title] = named
            x = [c for c in x if c not in named]
            res = econometrics.probit(data, "exporter", x, fe=fe, lags=x)
        results.append(res)
    run.summary["probit"] = {
        "fixed_effects": fe, "dropped_regressors": dropped,
        "models": {title: {"nobs": int(r.nobs), "pseudo_r2": float(r.pseudo_r2),
                           "coefficients": {k: float(v) for k, v in r.params.items()},
                           "z": {k: float(v) for k, v in r.zvalues.items()}} for title, r in zip(models, results)}}
    table = econometrics.probit_table(results, labels=_PROBIT_LABELS, column_names=list(models))
    table.columns = [f"{a} {b}" for a, b in table.columns]
    table.index.name = "regressor"
    note = table.attrs.get("notes", "") + f". Fixed effects: {', '.join(fe)}."
    if dropped:
        note += " Dropped for lack of variation: " + "; ".join(f"{t}: {', '.join(v)}" for t, v in dropped.items())
    run.table("probit", "export_probit", table.reset_index(),
              "Export probit with lagged regressors (agglomeration paper, Table 3 layout)", note, index=False)


def _step_facts(run: _Run) -> None:
    from sez import facts

    data = run.state["analysed"]
    zone = facts.zone_table(data)
    zone["paper SEZ"] = np.nan
    zone["paper Non-SEZ"] = np.nan
    zone.loc[facts.ROWS[0], ["paper SEZ", "paper Non-SEZ"]] = [_PAPER_TABLE1_LN_TFP["SEZ"],
                                                                _PAPER_TABLE1_LN_TFP["Non-SEZ"]]
    run.table("facts", "facts_zone", zone, "Firm-years inside vs outside a zone (SEZ paper, Table 1)",
              "'paper' columns: the SEZ paper's Table 1 where quoted in this package.")
    birth = facts.birth_table(data)
    run.table("facts", "facts_birth", birth, "Firms born in a zone vs born outside (SEZ paper, Table 2)")
    movers = facts.movers_table(data)
    for row, values in _PAPER_TABLE3.items():
        for col, v in values.items():
            movers.loc[row, f"paper {col}"] = v
    run.table("facts", "facts_movers", movers,
              "Movers into a zone vs stayers outside, before and after the move (SEZ paper, Table 3)",
              f"Stayers split at year {movers.attrs.get('stayer_cutoff')}; 'paper' columns: the SEZ paper's Table 3.")
    by_year = facts.sez_share_by_year(data)
    by_region = facts.sez_share_by_region(data, region="province")
    run.table("facts", "sez_share_by_year", by_year, "Share of firms in SEZs by year (SEZ paper, Figure 1)")
    run.table("facts", "sez_share_by_province", by_region,
              "Share of firms in SEZs by province, first and last year (SEZ paper, Figure 2, as a ranked chart)")
    run.figure("facts", "sez_shares", lambda path: facts.plot_sez_shares(by_year, by_region, path),
               "Firms in SEZs over time and by province (SEZ paper, Figures 1-2)")
    run.summary["facts"] = {
        "sez_share_first_last_year": [_number(by_year["share"].iloc[0]), _number(by_year["share"].iloc[-1])],
        "zone_mean_ln_tfp": {c: _number(zone.loc[facts.ROWS[0], c]) for c in ("SEZ", "Non-SEZ")},
        "movers_effect_of_sez": {r: _number(movers.loc[r, "Effect of SEZ"]) for r in facts.ROWS},
        "movers": movers.attrs.get("movers"), "stayers": movers.attrs.get("stayers")}


def _did_row(result, truth: float) -> dict:
    ci = result.conf_int().iloc[0]
    return {"estimator": result.estimator, "coef": result.coef, "se": result.se, "ci_lower": float(ci["lower"]),
            "ci_upper": float(ci["upper"]), "nobs": result.nobs, "clusters": result.n_clusters,
            "fixed_effects": " + ".join(result.fixed_effects), "truth": truth,
            "within_tolerance": bool(abs(result.coef - truth) <= SEZ_EFFECT_TOLERANCE_SE * result.se)}


def _step_did(run: _Run) -> None:
    from sez import did

    data = run.state["analysed"]
    data = data[np.isfinite(data["ln_tfp"])]
    synth = run.state["synthetic"]
    tau = float(synth.truth.attrs["tau_sez"])
    rows, labels = [], []
    specs = [("firm_id", "year"), ("firm_id", "city^year")]
    for fe in specs:
        for name, func, reversal in (("TWFE", did.twfe, "keep"), ("imputation", did.imputation, "drop")):
            try:
                res = func(data, "ln_tfp", fe=fe, on_reversal=reversal)
            except Exception as err:  # the region-by-year spec can be unidentified in small samples
                if fe == specs[0]:
                    raise
                warnings.warn(f"{name} with {' + '.join(fe)} effects failed: {err}", stacklevel=2)
                continue
            rows.append(_did_row(res, tau))
            labels.append(f"{name}, harmonised data, {' + '.join(fe)}")
    # the same estimators on the true panel separate sampling error from measurement error
    truth = synth.truth
    for name, func, reversal in (("TWFE", did.twfe, "keep"), ("imputation", did.imputation, "drop")):
        rows.append(_did_row(func(truth, "ln_tfp", fe=specs[0], on_reversal=reversal), tau))
        labels.append(f"{name}, synthetic truth, firm_id + year")
    table = pd.DataFrame(rows, index=pd.Index(labels, name="estimate"))
    main = {"twfe": rows[0], "imputation": rows[1]}
    run.summary["did"] = {"truth": tau, "tolerance_se": SEZ_EFFECT_TOLERANCE_SE, **main,
                          "all": {label: row for label, row in zip(labels, rows)}}
    run.table("did", "did_sez_ln_tfp", table,
              "Difference-in-differences of log TFP on SEZ status: TWFE and imputation estimators vs the "
              f"synthetic truth ({tau})",
              f"'within_tolerance': |estimate - truth| <= {SEZ_EFFECT_TOLERANCE_SE:g} standard errors. Harmonised "
              "data carry estimated TFP and SEZ status with measurement error; the truth rows use the true panel. "
              "Imputation: Borusyak, Jaravel and Spiess (2024); firms leaving a zone dropped.")


def _step_event_study(run: _Run) -> None:
    from sez import did

    data = run.state["analysed"]
    data = data[np.isfinite(data["ln_tfp"])]
    result = did.event_study(data, "ln_tfp", on_reversal="drop")
    table = result.to_frame()
    table.index.name = "event_time"
    run.summary["event_study"] = {
        "reference": result.reference,
        "imputation_post_mean": _number(table.loc[table.index >= 0, "imputation_coef"].mean())
        if "imputation_coef" in table else None,
        "coefficients": {int(k): {c: _number(v) for c, v in r.items() if c.endswith("_coef")}
                         for k, r in table.iterrows()}}
    run.table("event_study", "event_study", table,
              "Event study of log TFP around entry into a zone, TWFE and imputation (SEZ paper, eqs. 11-13)",
              f"Reference period {result.reference}; end points binned. Synthetic truth: 0 before entry, "
              f"{run.state['synthetic'].truth.attrs['tau_sez']} after.")
    run.figure("event_study", "event_study", lambda p: result.plot(p),
               "Dynamic effect of SEZ entry on log TFP with 95% bands (SEZ paper, Figure 12 layout)")


def _step_mediation(run: _Run) -> None:
    from sez import did

    data = run.state["analysed"]
    data = data[np.isfinite(data["ln_tfp"]) & (data["eg_city"] > 0)].copy()
    data["ln_eg_city"] = np.log(data["eg_city"])
    result = did.mediation(data, "ln_tfp", "ln_eg_city")
    run.summary["mediation"] = {"indirect": _number(result.indirect), "total": _number(result.total),
                                "proportion_mediated": _number(result.proportion_mediated)}
    run.table("mediation", "mediation_paths", result.to_frame(),
              "Mediation of the SEZ effect on log TFP through agglomeration (log EG index within the city), paths",
              "SEZ paper, eqs. 1-2 and Table 4. The synthetic generator has no agglomeration channel: the indirect "
              "effect should be near zero.")
    run.table("mediation", "mediation_tests", result.tests, "Tests of the indirect effect: Sobel, Aroian, Goodman")


def _step_model(run: _Run) -> None:
    from sez.model import CollateralWarning, Grid, Params, counterfactual, figures

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollateralWarning)
        params = Params.paper()
    notes = sorted({str(w.message) for w in caught})
    grid = Grid(n_cash=run.size.n_cash, n_capital=run.size.n_capital)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        cf = counterfactual(params, "no_sez", grid, n_firms=run.size.model_firms)
    table = cf.table()
    table.index.name = "aggregate"
    run.summary["model"] = {"grid": {"n_cash": grid.n_cash, "n_capital": grid.n_capital},
                            "n_firms": run.size.model_firms, "closure": cf.closure, "notes": notes,
                            "effect_pct": {k: _number(v) for k, v in table["effect (%)"].items()},
                            "paper_effect_pct": {k: _number(v) for k, v in table["paper effect (%)"].items()}}
    run.table("model", "model_no_sez_counterfactual", table,
              "Model: the SEZ effect, benchmark vs no-SEZ counterfactual (SEZ paper, Table 8), the paper's numbers "
              "beside ours",
              f"Paper's calibration (Tables 5-6), {cf.closure} equilibrium, grid {grid.n_cash} x {grid.n_capital}. "
              "Effect (%) = benchmark / counterfactual - 1. " + " ".join(notes))
    bench = cf.benchmark
    run.figure("model", "model_decision_rules", lambda p: figures.decision_rules(bench.solution, path=p),
               "Model decision rules: capital, debt and dividends against cash on hand (SEZ paper, Figure 8)")
    run.figure("model", "model_location_map", lambda p: figures.location_map(bench.solution, path=p),
               "Model location choice over types and cash on hand (SEZ paper, Figure 9)")
    run.figure("model", "model_lifecycle", lambda p: figures.lifecycle(bench.panel, path=p),
               "Model life cycle by zone of birth (SEZ paper, Figures 10-11)")
    run.figure("model", "model_tfp_density", lambda p: figures.tfp_density(bench.panel, path=p),
               "Model: productivity of producing firms by zone (simulated panel)")


_STEP_FUNCTIONS = {
    "synthetic": (_step_synthetic, "Synthetic raw ASIE extracts"),
    "read": (_step_read, "Reading the yearly extracts"),
    "harmonise": (_step_harmonise, "Harmonising into one firm-year panel"),
    "tfp": (_step_tfp, "Productivity: Olley-Pakes by 2-digit industry"),
    "elasticities": (_step_elasticities, "Productivity: pooled elasticities by method"),
    "agglomeration": (_step_agglomeration, "Agglomeration: LQ flag, exporter counts, EG within city"),
    "dominance": (_step_dominance, "Kolmogorov-Smirnov dominance of TFP"),
    "probit": (_step_probit, "Export probit"),
    "facts": (_step_facts, "SEZ stylised facts"),
    "did": (_step_did, "SEZ effect on TFP: difference in differences"),
    "event_study": (_step_event_study, "SEZ effect on TFP: event study"),
    "mediation": (_step_mediation, "SEZ effect on TFP: mediation through agglomeration"),
    "model": (_step_model, "Model: solution and no-SEZ counterfactual"),
}


# ---------------------------------------------------------------------------
# helpers


def _number(value):
    """A float for JSON: None for missing or non-finite values."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _jsonable(obj):
    """Numpy and pandas scalars to Python, NaN to None, keys to str."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _number(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NA:
        return None
    return str(obj)


class _Progress:
    """A rich progress bar over the steps, or nothing."""

    def __init__(self, enabled: bool, total: int):
        self.enabled = enabled
        if enabled:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
            self.task = self.bar.add_task("starting", total=total)

    def __enter__(self):
        if self.enabled:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)

    def start(self, title: str) -> None:
        if self.enabled:
            self.bar.update(self.task, description=title)

    def finish(self, record: StepRecord, title: str) -> None:
        if not self.enabled:
            return
        colour = {"ok": "green", "failed": "red", "skipped": "yellow"}[record.status]
        detail = f": {record.error}" if record.error else ""
        self.bar.console.print(f"[{colour}]{record.status:>7}[/{colour}] {title} ({record.seconds:.2f} s){detail}",
                               highlight=False, markup=True)
        self.bar.advance(self.task)


# ---------------------------------------------------------------------------
# the run


def run_demo(size: str = "small", out_dir: str | Path = "sez-demo-run", seed: int = 0, progress: bool = True,
             steps: Sequence[str] | None = None, deflate: bool = False) -> dict:
    """Run the whole chain on synthetic data and write tables, figures, a JSON summary and ``report.html``.

    Parameters
    ----------
    size : {"tiny", "small", "paper"}
        Synthetic panel and model grid sizes (:data:`SIZES`); ``small`` (4,000
        firms, a 60 x 80 model grid) takes about a minute on two cores,
        ``tiny`` is for tests, ``paper`` uses 100,000 firms and the model's default grid.
    out_dir : str or Path
        Folder for the outputs (created): ``raw/`` (synthetic extracts),
        ``tables/*.csv``, ``figures/*.png``, ``panel.parquet`` (harmonised),
        ``analysis_panel.parquet`` (with ln_tfp and agglomeration measures),
        ``summary.json`` and ``report.html``.
    seed : int
        Seed of the synthetic data and of the estimators' starting values.
    progress : bool
        Show a progress bar and one line per step.
    steps : sequence of str, optional
        Run only these steps (:data:`STEPS`); the steps they need are added.
    deflate : bool
        Deflate output and value added by the generator's true output price
        index. Off by default: with it, Olley-Pakes capital elasticities by
        industry move far from the truth on the synthetic data (median about 2
        against 0.35; about 0.44 at current prices), a problem of the
        estimator or the generator still to be resolved.

    Returns
    -------
    dict
        The summary written to ``summary.json``: ``steps`` (status, seconds,
        error, warnings of each), key numbers by step, ``files`` written and
        ``total_seconds``.
    """
    if size not in SIZES:
        raise ValueError(f"size = {size!r}: use one of {sorted(SIZES)}")
    wanted = list(STEPS) if steps is None else _with_prerequisites(steps)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")  # figures are written to files, never shown
    run = _Run(out, SIZES[size], size, seed)
    run.deflate = deflate
    records: dict[str, StepRecord] = {}
    started = time.perf_counter()
    with _Progress(progress, len(wanted)) as bar:
        for name in wanted:
            func, title = _STEP_FUNCTIONS[name]
            record = records[name] = StepRecord(name)
            section = run.sections[name] = report.Section(title)
            missing = [need for need in STEPS[name] if records.get(need) is None or records[need].status != "ok"]
            bar.start(title)
            if missing:
                record.status = "skipped"
                record.error = f"needs step(s) {', '.join(missing)}, which did not complete"
            else:
                t0 = time.perf_counter()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        func(run)
                        record.status = "ok"
                    except Exception as err:  # a failing step is recorded and the others go on
                        record.status = "failed"
                        record.error = f"{type(err).__name__}: {err}"
                        record.traceback = traceback.format_exc()
                record.seconds = time.perf_counter() - t0
                record.warnings = sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:20]
            section.status, section.seconds, section.error = record.status, record.seconds, record.error
            bar.finish(record, title)
    total = time.perf_counter() - started
    run.summary = {"size": size, "seed": seed, "total_seconds": total,
                   "steps": {n: {"status": r.status, "seconds": r.seconds, "error": r.error,
                                 "traceback": r.traceback, "warnings": r.warnings} for n, r in records.items()},
                   **run.summary}
    report_path = out / "report.html"
    summary_path = out / "summary.json"
    run.summary["files"] = sorted(str(p.relative_to(out)) for p in run.files) + ["report.html", "summary.json"]
    intro = (f"Synthetic ASIE data ({run.size.n_firms:,} true firms, seed {seed}) through harmonisation, "
             f"productivity, agglomeration, export entry, SEZ effects and the model; size '{size}', "
             f"{total:.1f} s in all. The synthetic truth has an SEZ effect of "
             f"{run.summary.get('synthetic', {}).get('truth', {}).get('tau_sez', 0.10)} log points on TFP.")
    report.write_html([run.sections[n] for n in wanted], report_path, title="SEZ: from raw data to the papers' tables",
                      intro=intro)
    summary_path.write_text(json.dumps(_jsonable(run.summary), indent=2), encoding="utf-8")
    return _jsonable(run.summary)


def _with_prerequisites(steps: Sequence[str]) -> list[str]:
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}: use {list(STEPS)}")
    needed: set[str] = set()

    def add(name: str) -> None:
        if name not in needed:
            needed.add(name)
            for need in STEPS[name]:
                add(need)

    for s in steps:
        add(s)
    return [s for s in STEPS if s in needed]
