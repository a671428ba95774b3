"""One run from raw firm data to the papers' tables: ``sez demo`` (synthetic data) and ``sez run`` (yours).

:func:`run_pipeline` chains the package's components, as a configuration
(:func:`sez.config.load_pipeline`) describes; :func:`run_demo` runs it on
synthetic data with a known truth:

1. ``synthetic`` (demo only): raw yearly ASIE extracts from :func:`sez.data.synthetic`
   (the truth kept beside them: an SEZ effect of 0.10 log points on TFP);
2. ``read`` and ``harmonise``: :func:`sez.data.read_asie`, :func:`sez.data.harmonise`;
3. ``tfp``: a production function by 2-digit industry (Olley-Pakes, as the SEZ
   paper does, by default), industries below ``min_obs`` pooled;
   ``elasticities``: the pooled table by method;
4. ``agglomeration``: the agglomerated flag (LQ > 1), exporter counts, EG within city;
5. ``dominance``: the KS dominance table and the TFP density figure;
6. ``probit``: the export probit on lagged regressors with year and 3-digit industry effects;
7. ``facts``: the SEZ paper's stylised-fact Tables 1-3 and Figures 1-2;
8. ``did``, ``event_study``, ``mediation``: TWFE and imputation DiD of ln_tfp on SEZ status;
9. ``model``: the paper's model solved and a counterfactual.

Each step is timed; a failing step is recorded with its error and the steps that
do not need it go on. Outputs: every table as CSV (``tables/``), the harmonised
panel as Parquet, figures as PNG (``figures/``), ``summary.json`` and ``report.html``.
With caching on (``sez run``'s default) a re-run reuses every step whose
settings, inputs and upstream steps are unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import math
import os
import pickle
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
from sez.config import PIPELINE_SCHEMA as _DEFAULTS
from sez.config import PipelineConfig, pipeline_config
from sez.data.read import InputError
from sez.data.synthetic import PAPER_EXIT_0
from sez.panel import require_columns
from sez.progress import MemorySampler, RunLog, track
from sez.store import StepCache, file_digest

__all__ = ["DemoSize", "SIZES", "STEPS", "SEZ_EFFECT_TOLERANCE_SE", "Step", "StepRecord", "demo_config", "run_demo",
           "run_pipeline"]


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
    exit_intercept : float
        Logit intercept of the synthetic firms' exit hazard (``sez.data.synthetic``).
    excel_years : tuple of int
        Years of the synthetic extracts written as Excel.
    tfp_method : str
        Production-function estimator of the productivity step.
    """

    n_firms: int
    n_cash: int
    n_capital: int
    model_firms: int
    min_obs: int = 200
    county_effects: bool = False
    exit_intercept: float = _DEFAULTS["data"]["synthetic_exit_intercept"].default
    excel_years: tuple[int, ...] = tuple(_DEFAULTS["data"]["synthetic_excel_years"].default)
    tfp_method: str = _DEFAULTS["tfp"]["method"].default


#: ``tiny`` is for tests (about 15 s); ``small`` runs in about 20 s on
#: two cores; ``paper`` is the SEZ paper's scale (about 590,000 firms and 2.3 million
#: firm-years after cleaning, from about 3.1 million raw records; one year in Excel)
#: and the model's default grid.
SIZES = {
    "tiny": DemoSize(n_firms=1500, n_cash=40, n_capital=50, model_firms=2000, min_obs=150),
    # the small demo is ``sez run``'s defaults on synthetic data
    "small": DemoSize(n_firms=_DEFAULTS["data"]["synthetic_firms"].default, n_cash=_DEFAULTS["model"]["n_cash"].default,
                      n_capital=_DEFAULTS["model"]["n_capital"].default,
                      model_firms=_DEFAULTS["model"]["n_firms"].default, min_obs=_DEFAULTS["tfp"]["min_obs"].default,
                      county_effects=_DEFAULTS["probit"]["county_effects"].default),
    # 1,125,000 true firms with the ASIE's turnover: about 590,000 firms and 2.3 million firm-years after cleaning.
    # ACF, not the paper's OP: at this size OP's criterion has its minimum at a capital elasticity of 1.1-1.6
    # in 22 of 30 industries (truth 0.35; every start reaches it), because the generator's firm-specific mean of
    # productivity is a second unobservable, which the survey's turnover ties to capital (young firms' capital
    # is set by their productivity at entry); ACF gives 0.41 (docs/estimators.md).
    "paper": DemoSize(n_firms=1_125_000, n_cash=120, n_capital=200, model_firms=20_000, min_obs=500,
                      county_effects=True, exit_intercept=PAPER_EXIT_0, excel_years=(2003,), tfp_method="acf"),
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
    cached: bool = False
    peak_gib: float | None = None


class _Run:
    """State shared by the steps of one run: settings, results, outputs, report sections, summary."""

    def __init__(self, out_dir: Path, cfg: PipelineConfig, deflate: bool = False):
        self.out = out_dir
        self.tables_dir = out_dir / "tables"
        self.figures_dir = out_dir / "figures"
        for d in (self.tables_dir, self.figures_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.cfg = cfg
        self.seed = cfg["run"]["seed"]
        self.deflate = deflate  # synthetic data only: deflate by the generator's true price index
        self.state: dict = {}
        self.summary: dict = {}
        self.sections: dict[str, report.Section] = {}
        self.files: list[Path] = []
        self.part_seconds: dict[str, dict[str, float]] = {}  # wall time of a step's parts (summary.json, steps)

    @contextlib.contextmanager
    def timed(self, step: str, part: str):
        """Time a part of a step (a table) for ``summary.json``'s ``steps.<step>.parts_seconds``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.part_seconds.setdefault(step, {})[part] = time.perf_counter() - t0

    @property
    def truth(self) -> pd.DataFrame | None:
        """The synthetic truth (firm-years with true TFP and SEZ status), or None for the user's data."""
        synthetic = self.state.get("synthetic")
        return None if synthetic is None else synthetic.truth

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

    n_firms = run.cfg["data"]["synthetic_firms"]
    result = synthetic(n_firms=n_firms, seed=run.seed, out_dir=run.out / "raw",
                       exit_intercept=run.cfg["data"]["synthetic_exit_intercept"],
                       excel_years=tuple(run.cfg["data"]["synthetic_excel_years"]))
    # the raw frames are on disk and the read step reads them back: keep the truth, not a second copy
    run.state["synthetic"] = dataclasses.replace(result, raw={})
    truth = result.truth
    run.summary["synthetic"] = {"n_firms": n_firms, "true_firm_years": len(truth),
                                "files": {int(y): str(p.relative_to(run.out)) for y, p in result.files.items()},
                                "formats": {int(y): f for y, f in result.formats.items()},
                                "truth": {k: truth.attrs[k] for k in ("tau_sez", "beta_k", "beta_l", "rho")}}
    formats = pd.DataFrame({"year": list(result.formats), "format": list(result.formats.values()),
                            "file": [str(p.relative_to(run.out)) for p in result.files.values()]})
    run.files.extend(result.files.values())
    run.table("synthetic", "raw_files", formats, "Raw yearly extracts written by the synthetic generator",
              "One file per year in rotating formats and header languages, with the survey's mess injected.",
              index=False)


def _input_files(cfg: PipelineConfig) -> list[Path]:
    """The user's extracts: each entry of [data] files is a path or a glob pattern that must match."""
    found: list[Path] = []
    for entry in cfg["data"]["files"]:
        pattern = cfg.resolve(entry)
        if any(c in entry for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(pattern), recursive=True))
        else:
            matches = [pattern]
        matches = [m for m in matches if m.is_file()]
        if not matches:
            raise InputError(f"[data] files: {entry!r} matches no file (looked for {pattern})")
        found.extend(m for m in matches if m not in found)
    return found


def _step_read(run: _Run) -> None:
    from sez.data import read_asie

    data_cfg = run.cfg["data"]
    if data_cfg["source"] == "synthetic":
        # by their place in this output folder (a stored synthetic step may come from the folder's old place)
        sources = {int(y): run.out / rel for y, rel in run.summary["synthetic"]["files"].items()}
    else:
        sources = _input_files(run.cfg)
    raw = read_asie(sources, extra_names=data_cfg["columns"] or None)
    read_summary = {"rows": len(raw), "columns": len(raw.columns), "files": len(sources)}
    if data_cfg["years"]:
        first, last = data_cfg["years"]
        outside = ~raw["year"].between(first, last)
        raw = raw.loc[~outside].reset_index(drop=True)
        read_summary.update(years=[first, last], rows_outside_years=int(outside.sum()), rows_kept=len(raw))
        if raw.empty:
            raise InputError(f"[data] years {data_cfg['years']}: no rows of the extracts fall in these years")
    run.state["raw"] = raw
    run.summary["read"] = read_summary
    per_file = raw.groupby(["source", "year"], sort=False).size().rename("rows").reset_index()
    run.table("read", "raw_rows_by_file", per_file, "Records read from each extract",
              f"{len(raw):,} records, {len(raw.columns)} canonical columns."
              + (f" Years kept: {read_summary['years'][0]}-{read_summary['years'][1]}; "
                 f"{read_summary['rows_outside_years']:,} records outside them left out."
                 if "years" in read_summary else ""), index=False)


def _step_harmonise(run: _Run) -> None:
    from sez.data import harmonise

    truth = run.truth
    settings = run.cfg["harmonise"]
    if run.cfg["data"]["deflators"]:
        path = run.cfg.resolve(run.cfg["data"]["deflators"])
        deflators = _read_deflators(path)
    elif truth is not None and run.deflate:
        deflators = _synthetic_deflators(truth.attrs["output_price_index"])
    else:
        deflators = None
    panel = harmonise(run.state["raw"], deflators=deflators, employment_threshold=settings["employment_threshold"],
                      min_years=settings["min_years"], weak_keywords_count=settings["weak_keywords_count"])
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
    if truth is not None:
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


def _read_deflators(path: Path) -> pd.DataFrame:
    """The user's output deflators: CSV columns cic2, year, deflator (positive; 100 in the base year)."""
    from sez.data.clean import check_deflators

    try:
        table = pd.read_csv(path, dtype={"cic2": str})
    except FileNotFoundError:
        raise InputError(f"[data] deflators: {path}: no such file") from None
    table.index += 2  # errors name file lines (line 1 is the header)
    try:
        return check_deflators(table, where=f"{path} (rows are file lines)")
    except ValueError as err:
        raise InputError(str(err)) from None


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
            "sez_status_accuracy": float(_with_true_flags(data[["year", "source_row", "sez"]], truth, "inner")
                                         .pipe(lambda d: (d["sez"] == d["true_sez"]).mean()))}


def _with_true_flags(data: pd.DataFrame, truth: pd.DataFrame, how: str) -> pd.DataFrame:
    """Harmonised rows with the generator's SEZ status of the raw record they come from (``true_sez``)."""
    flags = truth[["year", "raw_row", "sez"]].rename(columns={"raw_row": "source_row", "sez": "true_sez"})
    return data.merge(flags, on=["year", "source_row"], how=how, validate="many_to_one")


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


def _step_tfp(run: _Run) -> None:
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
            pooled = tfp.estimate(small_rows, method=method, by=None, nonpositive="drop", min_obs=50,
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
    run.table("tfp", f"tfp_{method}_by_industry", shown,
              f"{name} production-function elasticities "
              + (f"by {_GROUP_NAMES.get(by, by)} (value added)" if by else "(value added)"),
              f"Industries with fewer than {min_obs} usable observations share a pooled estimate. "
              + _truth_note(run) + _PAPER_OP_NOTE)
    run.table("tfp", "production_variables", productivity.production_table(analysed),
              "Production variables in logs (SEZ paper, Table 12 layout)")
    table15 = productivity.tfp_table(analysed)
    table15["paper mean"] = [_PAPER_TABLE15_LN_TFP_MEAN["Non-SEZ"], _PAPER_TABLE15_LN_TFP_MEAN["SEZ"]]
    run.table("tfp", "ln_tfp_by_zone", table15, "Log TFP by zone (SEZ paper, Table 15 layout)",
              "'paper mean' is the SEZ paper's Table 15; levels of log TFP depend on units and the omitted constant.")


_GROUP_NAMES = {"cic2": "2-digit industry", "cic3": "3-digit industry", "cic4": "4-digit industry"}
_SCENARIO_NAMES = {"no_sez": "no-SEZ", "credit": "equal-credit", "credit_tax": "equal credit and tax",
                   "equalise": "equal-zones"}
_METHOD_NAMES = {"op": "Olley-Pakes", "lp": "Levinsohn-Petrin", "acf": "Ackerberg-Caves-Frazer",
                 "wrdg": "Wooldridge", "ols": "OLS", "fe": "Fixed-effects"}


def _truth_note(run: _Run) -> str:
    if run.truth is None:
        return ""
    return f"Synthetic truth: labour {run.truth.attrs['beta_l']}, capital {run.truth.attrs['beta_k']}. "


def _step_elasticities(run: _Run) -> None:
    from sez.papers.sez_paper import productivity

    data = run.state["panel"].data
    table = productivity.elasticity_table(data, methods=tuple(run.cfg["tfp"]["compare"]), nonpositive="drop",
                                          seed=run.seed)
    table.columns = [f"{m} {s}" for m, s in table.columns]
    run.summary["elasticities"] = {col: {k: _number(v) for k, v in table[col].items()} for col in table.columns}
    run.table("elasticities", "elasticities_pooled", table,
              "Pooled production-function elasticities by method, all firms, SEZ and non-SEZ "
              "(SEZ paper, Tables 13-14 layout)",
              "t statistics for OLS and FE only. " + _truth_note(run) + _PAPER_OP_NOTE)


def _step_agglomeration(run: _Run) -> None:
    from sez import agglo

    data = run.state["analysed"]
    settings = run.cfg["agglomeration"]
    data["agglomerated"] = agglo.is_agglomerated(data, industry=settings["industry"],
                                                 region=settings["region"]).to_numpy()
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
    from sez.papers import agglomeration

    data = run.state["analysed"]
    years = _testable_years(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows without ln_tfp (trimmed, first years) are left out by design
        table = agglomeration.dominance_table(data, agglomerated="agglomerated", years=years)
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
               lambda p: agglomeration.plot_tfp_densities(data, p, agglomerated="agglomerated", year=year),
               f"Densities of log TFP by export status and agglomeration, {year} (agglomeration paper, Figure 1)")


def _step_probit(run: _Run) -> None:
    from sez import probit as probit_module
    from sez.papers import agglomeration

    data = run.state["analysed"].copy()
    data["ln_employees"] = np.log(data["employees"].where(data["employees"] > 0))
    data["age"] = data["age"].astype("float")
    firm_x = ["ln_tfp", "ln_employees", "age", "foreign_invested", "exporter"]
    # agg1_1 + agg1_2 = agg2_1 + agg3_1 (all county exporters but the firm) whenever ownership is known, so the
    # two families of counts enter separate models, as separate columns of the paper's table
    models = {"[1] industry counts": ["agg1_1", "agg1_2"],
              "[2] ownership counts": ["agg2_1", "agg2_2", "agg3_1", "agg3_2"]}
    fe = ["year", "cic3"] + (["county"] if run.cfg["probit"]["county_effects"] else [])
    results, dropped = [], {}
    for title, counts in models.items():
        x = firm_x + counts
        try:
            res = probit_module.probit(data, "exporter", x, fe=fe, lags=x)
        except ValueError as err:
            # a count with no variation left (small samples): drop the regressors named and say so
            named = [n.removeprefix("L.") for n in re.findall(r"'(L\.[\w]+)'", str(err))]
            if "collinear" not in str(err) and "does not vary" not in str(err) or not named:
                raise
            dropped[title] = named
            x = [c for c in x if c not in named]
            res = probit_module.probit(data, "exporter", x, fe=fe, lags=x)
        results.append(res)
    run.summary["probit"] = {
        "fixed_effects": fe, "dropped_regressors": dropped,
        "models": {title: {"nobs": int(r.nobs), "pseudo_r2": float(r.pseudo_r2),
                           "coefficients": {k: float(v) for k, v in r.params.items()},
                           "z": {k: float(v) for k, v in r.tvalues.items()}} for title, r in zip(models, results)}}
    table = agglomeration.probit_table(results, labels=_PROBIT_LABELS, column_names=list(models))
    table.columns = [f"{a} {b}" for a, b in table.columns]
    table.index.name = "regressor"
    note = table.attrs.get("notes", "") + f". Fixed effects: {', '.join(fe)}."
    if dropped:
        note += " Dropped for lack of variation: " + "; ".join(f"{t}: {', '.join(v)}" for t, v in dropped.items())
    run.table("probit", "export_probit", table.reset_index(),
              "Export probit with lagged regressors (agglomeration paper, Table 3 layout)", note, index=False)


def _step_facts(run: _Run) -> None:
    from sez.papers.sez_paper import facts

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
    settings = run.cfg["facts"]
    region = settings["region"]
    by_region = facts.sez_share_by_region(data, region=region)
    run.table("facts", "sez_share_by_year", by_year, "Share of firms in SEZs by year (SEZ paper, Figure 1)")
    run.table("facts", f"sez_share_by_{region}", by_region,
              f"Share of firms in SEZs by {region}, first and last year (SEZ paper, Figure 2, as a ranked chart)")
    run.figure("facts", "sez_shares", lambda path: facts.plot_sez_shares(by_year, by_region, path),
               f"Firms in SEZs over time and by {region} (SEZ paper, Figures 1-2)")
    if settings["boundaries"]:
        on_map = {}
        try:
            run.figure("facts", "sez_share_map",
                       lambda path: on_map.update(table=facts.plot_sez_share_map(
                           by_region, run.cfg.resolve(settings["boundaries"]), path, key=settings["boundary_key"])),
                       f"Share of firms in SEZs by {region}, first and last year, as a map (SEZ paper, Figure 2)")
        except (OSError, ValueError, KeyError, TypeError) as err:  # the ranked chart above still stands
            warnings.warn(f"[facts] boundaries: the map was not drawn: {type(err).__name__}: {err}", stacklevel=2)
        else:
            absent = on_map["table"].index[~on_map["table"]["on_map"]].tolist()
            if absent:
                warnings.warn(f"[facts] boundaries: no boundary for {len(absent)} {region}(s) of the panel: "
                              f"{absent[:10]}", stacklevel=2)
    run.summary["facts"] = {
        "sez_share_first_last_year": [_number(by_year["share"].iloc[0]), _number(by_year["share"].iloc[-1])],
        "zone_mean_ln_tfp": {c: _number(zone.loc[facts.ROWS[0], c]) for c in ("SEZ", "Non-SEZ")},
        "movers_effect_of_sez": {r: _number(movers.loc[r, "Effect of SEZ"]) for r in facts.ROWS},
        "movers": movers.attrs.get("movers"), "stayers": movers.attrs.get("stayers")}


def _did_row(result, truth: float | None) -> dict:
    ci = result.conf_int().iloc[0]
    row = {"estimator": result.estimator, "coef": result.coef, "se": result.se, "ci_lower": float(ci["conf_low"]),
           "ci_upper": float(ci["conf_high"]), "nobs": result.nobs, "clusters": result.n_clusters,
           "fixed_effects": " + ".join(result.fixed_effects)}
    if truth is not None:
        row.update(truth=truth, within_tolerance=bool(abs(result.coef - truth) <= SEZ_EFFECT_TOLERANCE_SE * result.se))
    return row


def _did_sample(run: _Run) -> tuple[pd.DataFrame, str]:
    """The DiD steps' sample (firm-years with log TFP) and the vcov ``[did] cluster`` gives every DiD step."""

    data = run.state["analysed"]
    data = data[np.isfinite(data["ln_tfp"])]
    cluster = run.cfg["did"]["cluster"]
    require_columns(data, [cluster], "[did] cluster")
    return data, {"CRV1": cluster}


def _step_did(run: _Run) -> None:
    from sez import did
    from sez.papers import sez_paper

    data, vcov = _did_sample(run)
    tau = None if run.truth is None else float(run.truth.attrs["tau_sez"])
    specs = [tuple(fe) for fe in run.cfg["did"]["fixed_effects"]]
    # every specification's columns up front: a later one failing is otherwise only a warning
    require_columns(data, [c for fe in specs for c in did.prepare._fe_columns(fe)], "[did] fixed_effects")
    estimators = (("TWFE", did.twfe, "keep"), ("imputation", did.imputation, "drop"))
    rows, labels, failures = [], [], {}
    for fe in specs:
        for name, func, reversal in estimators:
            label = f"{name}, harmonised data, {' + '.join(fe)}"
            try:
                res = func(data, "ln_tfp", fe=fe, vcov=vcov, on_reversal=reversal)
            except Exception as err:  # the region-by-year spec can be unidentified in small samples
                if fe == specs[0]:
                    raise
                failures[label] = f"{type(err).__name__}: {err}"
                warnings.warn(f"{name} with {' + '.join(fe)} effects failed: {err}", stacklevel=2)
                continue
            rows.append(_did_row(res, tau))
            labels.append(label)
    main = {"twfe": rows[0], "imputation": rows[1]}
    if run.truth is not None:
        # the same estimators on the true panel separate sampling error from measurement error
        for name, func, reversal in estimators:
            rows.append(_did_row(func(run.truth, "ln_tfp", fe=specs[0], vcov=vcov, on_reversal=reversal), tau))
            labels.append(f"{name}, synthetic truth, {' + '.join(specs[0])}")
    table = pd.DataFrame(rows, index=pd.Index(labels, name="estimate"))
    run.summary["did"] = {"truth": tau, "tolerance_se": SEZ_EFFECT_TOLERANCE_SE, **main,
                          "all": {label: row for label, row in zip(labels, rows)}, "failed": failures}
    if tau is None:
        caption = "Difference-in-differences of log TFP on SEZ status: TWFE and imputation estimators"
        note = ""
    else:
        caption = ("Difference-in-differences of log TFP on SEZ status: TWFE and imputation estimators vs the "
                   f"synthetic truth ({tau})")
        note = (f"'within_tolerance': |estimate - truth| <= {SEZ_EFFECT_TOLERANCE_SE:g} standard errors. Harmonised "
                "data carry estimated TFP and SEZ status with measurement error; the truth rows use the true panel. ")
    note += (f"Standard errors clustered by {vcov['CRV1']}. Imputation: Borusyak, Jaravel and Spiess (2024); firms "
             "leaving a zone dropped.")
    if failures:
        note += " Not estimable: " + "; ".join(f"{k} ({v})" for k, v in failures.items())
    run.table("did", "did_sez_ln_tfp", table, caption, note)
    if run.truth is not None:
        on_truth = {name: row for name, row in zip(("TWFE", "imputation"), rows[-2:])}  # the true panel's rows
        accuracy, detail = _accuracy_at_scale(run, data, specs[0], vcov, tau, main, on_truth)
        run.summary["did"]["accuracy"] = detail
        run.table("did", "accuracy_at_scale", accuracy,
                  "Accuracy at this size: the headline numbers beside the synthetic truth",
                  "The DiD on harmonised TFP with the generator's true SEZ flags separates the TFP estimation "
                  "from the flagging. Misclassified flags attenuate TWFE by lambda, the TWFE coefficient of the "
                  "true flag on the measured one with the same fixed effects (a flag error uncorrelated with the "
                  "outcome's noise); the predicted estimate is lambda times the true-flag estimate. TFP "
                  "elasticities: medians over industries. Firm links: pairs of consecutive-year records.")
    with run.timed("did", "table16"):
        table16 = sez_paper.table16(data, "ln_tfp", region="city", eg="eg_city", vcov=vcov)
    run.summary["did"]["table16_skipped"] = table16.skipped
    run.table("did", "table16", table16.layout(), table16.title, table16.notes())


def _accuracy_at_scale(run: _Run, data: pd.DataFrame, fe: tuple, vcov: dict, tau: float,
                       main: dict, on_truth: dict) -> tuple[pd.DataFrame, dict]:
    """Headline estimates beside the synthetic truth, and the attenuation misclassified SEZ flags predict."""
    from sez import did

    flagged = _with_true_flags(data, run.truth, "left")
    unmatched = int(flagged["true_sez"].isna().sum())
    flagged = flagged.loc[flagged["true_sez"].notna()].reset_index(drop=True)
    flagged["true_sez"] = flagged["true_sez"].astype(bool)
    flagged["true_sez_value"] = flagged["true_sez"].astype(float)
    measured, true = flagged["sez"].to_numpy(dtype=bool), flagged["true_sez"].to_numpy()
    on_true = {"TWFE": did.twfe(flagged, "ln_tfp", treatment="true_sez", fe=fe, vcov=vcov, on_reversal="keep"),
               "imputation": did.imputation(flagged, "ln_tfp", treatment="true_sez", fe=fe, vcov=vcov,
                                            on_reversal="drop")}
    slope = did.twfe(flagged, "true_sez_value", treatment="sez", fe=fe, vcov=vcov, on_reversal="keep")
    predicted = on_true["TWFE"].coef * slope.coef
    rows = []

    def row(label, estimate, se=None, target=None):
        within = None if se is None or target is None else bool(abs(estimate - target) <= SEZ_EFFECT_TOLERANCE_SE * se)
        rows.append({"quantity": label, "estimate": estimate, "se": se, "truth or benchmark": target,
                     f"within {SEZ_EFFECT_TOLERANCE_SE:g} s.e.": within})

    method = run.summary.get("tfp", {}).get("method", "")
    for key, name in (("twfe", "TWFE"), ("imputation", "imputation")):
        row(f"SEZ effect, {name}, harmonised TFP ({method}) and flags", main[key]["coef"], main[key]["se"], tau)
    for name, res in on_true.items():
        row(f"SEZ effect, {name}, harmonised TFP ({method}), true flags", res.coef, res.se, tau)
    for name, res in on_truth.items():
        row(f"SEZ effect, {name}, true TFP and flags (the generator's panel)", res["coef"], res["se"], tau)
    row("attenuation lambda (TWFE of the true flag on the measured one)", slope.coef, slope.se)
    row("SEZ effect, TWFE, predicted from the flags' attenuation (lambda x true-flag TWFE; benchmark: the "
        "harmonised TWFE)", predicted, None, main["twfe"]["coef"])
    row("SEZ flags: false positive rate (flagged, not in a zone)", float(np.mean(measured[~true])) if (~true).any()
        else np.nan)
    row("SEZ flags: false negative rate (in a zone, not flagged)", float(np.mean(~measured[true])) if true.any()
        else np.nan)
    harmonise = run.summary.get("harmonise", {})
    for key, label in (("sez_status_accuracy", "SEZ flags: share of firm-years right"),
                       ("link_precision", "firm links: precision"), ("link_recall", "firm links: recall")):
        if harmonise.get(key) is not None:
            row(label, harmonise[key], None, 1.0)
    tfp = run.summary.get("tfp", {})
    for key, label, true_key in (("beta_employees_median", f"TFP ({method}): labour elasticity (median)", "beta_l"),
                                 ("beta_capital_median", f"TFP ({method}): capital elasticity (median)", "beta_k")):
        if key in tfp:
            row(label, tfp[key], None, float(run.truth.attrs[true_key]))
    table = pd.DataFrame(rows).set_index("quantity")
    detail = {"rows": {r["quantity"]: {k: v for k, v in r.items() if k != "quantity"} for r in rows},
              "unmatched_rows": unmatched, "predicted_twfe": predicted, "lambda": slope.coef}
    return table, detail


def _step_event_study(run: _Run) -> None:
    from sez import did
    from sez.papers import sez_paper

    data, vcov = _did_sample(run)
    settings = run.cfg["event_study"]
    result = did.event_study(data, "ln_tfp", window=tuple(settings["window"]), reference=settings["reference"],
                             estimators=("twfe", "imputation", "sun_abraham"), on_reversal="drop", vcov=vcov)
    table = result.table.copy()
    table.index.name = "event_time"
    run.summary["event_study"] = {
        "reference": result.reference,
        "imputation_post_mean": _number(table.loc[table.index >= 0, "imputation_coef"].mean())
        if "imputation_coef" in table else None,
        "coefficients": {int(k): {c: _number(v) for c, v in r.items() if c.endswith("_coef")}
                         for k, r in table.iterrows()}}
    run.table("event_study", "event_study", table,
              "Event study of log TFP around entry into a zone, TWFE and imputation (SEZ paper, eqs. 11-13)",
              f"Reference period {result.reference}; end points binned."
              + ("" if run.truth is None else
                 f" Synthetic truth: 0 before entry, {run.truth.attrs['tau_sez']} after."))
    run.figure("event_study", "event_study", lambda p: result.plot(p),
               "Dynamic effect of SEZ entry on log TFP with 95% bands, firm and year effects: TWFE, imputation "
               "(Borusyak, Jaravel and Spiess, 2024) and interaction-weighted (Sun and Abraham, 2021)")
    with run.timed("event_study", "table17"):
        table17 = sez_paper.table17(data, "ln_tfp", region="city", eg="eg_city", vcov=vcov)
    run.table("event_study", "table17", table17.layout(), table17.title, table17.notes())
    if "m7" in table17.fits:
        figure12 = table17.fits["m7"]["event_study"]
        run.figure("event_study", "figure12", lambda p: figure12.plot(p),
                   "Dynamic effect of SEZ entry on log TFP, specification m7 (SEZ paper, Figure 12), 95% bands")
    with run.timed("event_study", "table18"):
        table18 = sez_paper.table18(data, "ln_tfp", region="city", eg="eg_city", vcov=vcov)
    run.table("event_study", "table18", table18.layout(), table18.title, table18.notes())
    run.summary["event_study"]["skipped"] = {"table17": table17.skipped, "table18": table18.skipped}


def _step_heterogeneity(run: _Run) -> None:
    from sez.papers import sez_paper

    data, vcov = _did_sample(run)
    builders = {"table19": lambda: sez_paper.table19(data, "ln_tfp", region="city", vcov=vcov),
                "table20": lambda: sez_paper.table20(data, "ln_tfp", region="city", eg="eg_city", vcov=vcov),
                "table31": lambda: sez_paper.table31(data, "ln_tfp", eg="eg_city", region="city", vcov=vcov),
                "table32": lambda: sez_paper.table32(data, "ln_tfp", eg="eg_city", region="city", vcov=vcov)}
    tables = {}
    for name, build in track(builders.items(), "heterogeneity", name=lambda item: item[0]):
        with run.timed("heterogeneity", name):
            tables[name] = build()
    run.summary["heterogeneity"] = {name: {"skipped": t.skipped} for name, t in tables.items()}
    for name, t in tables.items():
        run.table("heterogeneity", name, t.layout(), t.title, t.notes())


def _step_mediation(run: _Run) -> None:
    from sez import did
    from sez.papers import sez_paper

    data, vcov = _did_sample(run)
    # the paper's Tables 21 and 28-30: the EG level of the firm's city-industry as mediator
    paper = did.mediation(data, "ln_tfp", "eg_city", fe=(), vcov=vcov)
    run.summary["mediation"] = {"mediator": "eg_city", "indirect": _number(paper.indirect),
                                "total": _number(paper.total),
                                "proportion_mediated": _number(paper.proportion_mediated)}
    run.table("mediation", "table21", sez_paper.mediation_table(paper, paper=21),
              "Sobel-Goodman tests of the SEZ effect on log TFP through agglomeration (EG level), no fixed effects "
              "(SEZ paper, Tables 21 and 28)",
              "SEZ paper, eqs. 1-2. The paper's Table 28 prints several cells at ten times Table 21's values; they "
              "are shown as printed."
              + (" The synthetic generator has no agglomeration channel: the indirect effect should be near zero."
                 if run.truth is not None else ""))
    quintile = did.pre_period_quintile(data, "ln_tfp", basis="pre5")
    for number, fe in ((29, ()), (30, ("firm_id", "year", "city"))):
        groups = did.mediation_by_group(data, "ln_tfp", "eg_city", quintile, fe=fe, on_error="record",
                                        vcov=vcov)
        run.table("mediation", f"table{number}", sez_paper.mediation_table(groups, paper=number),
                  "Mediation by pre-period productivity quintile, "
                  + ("no fixed effects" if not fe else "firm, year and city effects") + f" (SEZ paper, Table {number})",
                  "Quintiles of log TFP five years before entry, as the paper's Pre5; firms without that year are "
                  "left out.")
    # within firms, with the log of EG (positive EG only): the channel net of permanent firm differences
    positive = data[data["eg_city"] > 0].assign(ln_eg_city=lambda d: np.log(d["eg_city"]))
    try:
        within = did.mediation(positive, "ln_tfp", "ln_eg_city", vcov=vcov)
    except ValueError as err:  # small samples: the mediator can lack within-firm variation
        run.summary["mediation"]["within_firm_log_eg"] = f"not estimable: {err}"
        warnings.warn(f"mediation through log EG with firm effects not estimable: {err}", stacklevel=2)
        return
    run.summary["mediation"]["within_firm_log_eg"] = {"indirect": _number(within.indirect),
                                                      "total": _number(within.total),
                                                      "proportion_mediated": _number(within.proportion_mediated)}
    run.table("mediation", "mediation_paths", within.to_frame(),
              "Mediation through log EG within the city, with the estimator's default fixed effects, paths",
              "Firm-years with a positive EG index only.")
    run.table("mediation", "mediation_tests", within.tests, "Tests of the indirect effect through log EG: Sobel, "
                                                            "Aroian, Goodman")


def _step_model(run: _Run) -> None:
    from sez.model import CollateralWarning, Grid, Params, counterfactual, figures
    from sez.model.counterfactual import SCENARIOS

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollateralWarning)
        params = Params.paper()
    notes = sorted({str(w.message) for w in caught})
    settings = run.cfg["model"]
    grid = Grid(n_cash=settings["n_cash"], n_capital=settings["n_capital"])
    scenario = settings["scenario"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        cf = counterfactual(params, scenario, grid, closure=settings["closure"], n_firms=settings["n_firms"])
    table = cf.table()
    table.index.name = "aggregate"
    run.summary["model"] = {"grid": {"n_cash": grid.n_cash, "n_capital": grid.n_capital}, "scenario": scenario,
                            "n_firms": settings["n_firms"], "closure": cf.closure, "notes": notes,
                            "effect_pct": {k: _number(v) for k, v in table["effect (%)"].items()},
                            "paper_effect_pct": {k: _number(v) for k, v in table["paper effect (%)"].items()}}
    paper_table = SCENARIOS[scenario][0]
    run.table("model", f"model_{scenario}_counterfactual", table,
              f"Model: the SEZ effect, benchmark vs {_SCENARIO_NAMES[scenario]} counterfactual"
              + (f" (SEZ paper, {paper_table}), the paper's numbers beside ours" if paper_table else ""),
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


def _step_calibrate(run: _Run) -> None:
    from sez import smm
    from sez.model import CollateralWarning, Grid, Params
    from sez.moments import TABLE7

    settings, model = run.cfg["calibrate"], run.cfg["model"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)  # the model step states it
        start = Params.paper()
        spec = smm.ModelSpec(grid=Grid(n_cash=model["n_cash"], n_capital=model["n_capital"]),
                             n_firms=settings["n_firms"])
        targets = TABLE7.loc[settings["targets"], "data"]
        result = smm.estimate(targets, start, settings["free"], spec=spec, global_points=settings["global_points"],
                              local_maxiter=settings["local_maxiter"], seed=run.seed)
    params, moments = result.params_table(), result.moments_table()
    params.index.name, moments.index.name = "parameter", "moment"
    run.summary["calibrate"] = {"free": list(result.free), "objective": result.objective,
                                "evaluations": result.evaluations, "converged": bool(result.converged),
                                "estimate": {k: _number(v) for k, v in result.params.items()},
                                "within_10pct": {k: bool(v) for k, v in moments["within 10%"].items()}}
    run.table("calibrate", "smm_parameters", params,
              "SMM estimates of the free parameters (SEZ paper, Table 6 layout), the paper's values beside ours",
              f"A short run: {settings['global_points']} Sobol points, local searches of at most "
              f"{settings['local_maxiter']} iterations, {settings['n_firms']:,} simulated firms, grid "
              f"{model['n_cash']} x {model['n_capital']}; {result.evaluations} model evaluations, objective "
              f"{result.objective:.4g}. Standard errors need a data covariance: with the paper's point targets none "
              "is claimed. 'precision': the relative s.d. to which the targeted moments, at their simulation noise, "
              "pin the parameter down; 'identified': precision at most 0.1 (docs/calibration.md).")
    run.table("calibrate", "smm_moments", moments,
              "Targeted moments: data, our model at the estimates, the paper's model (SEZ paper, Table 7 layout)",
              "Data: the paper's Table 7. docs/model.md (defect 5) says which targets the model cannot reach at the "
              "paper's external parameters.")
    verdict = result.verdict()
    verdict.index.name = "moment"
    run.summary["calibrate"]["verdict"] = verdict["verdict"].to_dict()
    run.table("calibrate", "smm_verdict", verdict,
              "Verdict per targeted moment: reached (within 10%), traded off against the others, or out of reach",
              "'box min'/'box max': the moment's range over every parameter point the search evaluated; a target "
              "outside it (widened by 10%) is out of reach of the free parameters (docs/calibration.md).")


@dataclass(frozen=True)
class Step:
    """One step of the pipeline.

    Attributes
    ----------
    title : str
        Shown in the progress lines and the report.
    needs : tuple of str
        Steps whose results it reads.
    settings : tuple of str
        Configuration sections (``"tfp"``) or keys (``"run.seed"``) its results depend on.
    produces : tuple of str
        Keys of the run's state it sets (stored with its cached results).
    """

    title: str
    needs: tuple
    settings: tuple
    produces: tuple
    func: Callable
    optional: bool = False  # run only when named in [run] steps (or ``sez demo --calibrate``)


#: The steps in order (``sez run`` and ``sez demo`` run them all unless told otherwise).
STEPS: dict[str, Step] = {
    "synthetic": Step("Synthetic raw ASIE extracts", (),
                      ("data.synthetic_firms", "data.synthetic_exit_intercept", "data.synthetic_excel_years",
                       "run.seed"), ("synthetic",), _step_synthetic),
    "read": Step("Reading the yearly extracts", ("synthetic",), ("data.source", "data.files", "data.columns", "data.years"),
                 ("raw",), _step_read),
    "harmonise": Step("Harmonising into one firm-year panel", ("read",), ("harmonise", "data.deflators"), ("panel",),
                      _step_harmonise),
    "tfp": Step("Productivity: production functions by industry", ("harmonise",),
                ("tfp.method", "tfp.by", "tfp.min_obs", "tfp.trim", "run.seed"),
                ("analysed", "tfp_estimates"), _step_tfp),
    "elasticities": Step("Productivity: pooled elasticities by method", ("harmonise",), ("tfp.compare", "run.seed"),
                         (), _step_elasticities),
    "agglomeration": Step("Agglomeration: LQ flag, exporter counts, EG within city", ("tfp",), ("agglomeration",),
                          ("analysed",), _step_agglomeration),
    "dominance": Step("Kolmogorov-Smirnov dominance of TFP", ("agglomeration",), (), (), _step_dominance),
    "probit": Step("Export probit", ("agglomeration",), ("probit",), (), _step_probit),
    "facts": Step("SEZ stylised facts", ("tfp",), ("facts",), (), _step_facts),
    "did": Step("SEZ effect on TFP: difference in differences", ("agglomeration",), ("did",), (), _step_did),
    "event_study": Step("SEZ effect on TFP: event study", ("agglomeration",), ("event_study", "did.cluster"), (),
                        _step_event_study),
    "heterogeneity": Step("SEZ effect on TFP: by pre-entry productivity and by agglomeration", ("agglomeration",),
                          ("did.cluster",), (), _step_heterogeneity),
    "mediation": Step("SEZ effect on TFP: mediation through agglomeration", ("agglomeration",), ("did.cluster",), (),
                      _step_mediation),
    "model": Step("Model: solution and counterfactual", (), ("model",), (), _step_model),
    "calibrate": Step("Model: a short SMM calibration to the paper's targets", (),
                      ("calibrate", "model.n_cash", "model.n_capital", "run.seed"),
                      (), _step_calibrate, optional=True),
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
    """Step progress: a rich bar on a terminal, timestamped lines in a batch log and in ``--log FILE``."""

    def __init__(self, log: RunLog, display: bool, total: int):
        self.log, self.total, self.count = log, total, 0
        self.bar = None
        if display and not log.plain:
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
            self.task = self.bar.add_task("starting", total=total)
            log.display, log.display_task = self.bar, self.task

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        self.log.display = None

    def start(self, name: str, title: str) -> None:
        self.count += 1
        self.log.context = name
        self.log.line(f"start   {name}: {title} (step {self.count} of {self.total})")
        if self.bar is not None:
            self.bar.update(self.task, description=title)

    def finish(self, record: StepRecord, title: str) -> None:
        status = "stored" if record.cached else record.status
        detail = f": {record.error}" if record.error else ""
        when = " in an earlier run" if record.cached else ""
        memory = "" if record.peak_gib is None else f", peak memory {record.peak_gib:.2f} GiB"
        self.log.context = ""
        self.log.line(f"{status:<7} {record.name}: {title} in {record.seconds:.1f} s{when}{memory}{detail}")
        if self.bar is not None:
            colour = {"ok": "green", "stored": "cyan", "failed": "red", "skipped": "yellow"}[status]
            self.bar.console.print(f"[{colour}]{status:>7}[/{colour}] {title} ({record.seconds:.2f} s{when}"
                                   f"{memory}){detail}", highlight=False, markup=True)
            self.bar.advance(self.task)


# ---------------------------------------------------------------------------
# cached step results


def _code_fingerprint() -> str:
    """A hash of the installed package (Python sources, reference data, the compiled kernels).

    Part of every cache key: results stored by another version of the code are never reused.
    """
    import sez
    import sez._core

    h = hashlib.sha256()
    root = Path(sez.__file__).parent
    paths = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for p in paths + [Path(sez._core.__file__)]:
        h.update(str(p.relative_to(root) if p.is_relative_to(root) else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _setting(cfg: PipelineConfig, name: str):
    section, _, key = name.partition(".")
    return cfg[section][key] if key else cfg[section]


def _free_finished_state(run: _Run, wanted: Sequence[str], current: str, cfg: PipelineConfig) -> None:
    """Drop the results no step still to run needs, directly or through the steps it needs (at the papers'
    scale the raw records and the first harmonised panel take gigabytes). The synthetic truth stays: the
    estimation steps compare their results with it."""
    later = wanted[wanted.index(current) + 1:]
    still_needed = {"synthetic", *(_with_prerequisites(later, cfg) if later else ())}
    kept = {key for name in still_needed for key in STEPS[name].produces}  # two steps may write one key
    for key in [k for k in run.state if k not in kept]:
        del run.state[key]


def _needs(name: str, cfg: PipelineConfig) -> tuple:
    """The steps ``name`` needs with this configuration (the user's files need no synthetic step)."""
    synthetic = cfg["data"]["source"] == "synthetic"
    return tuple(n for n in STEPS[name].needs if synthetic or n != "synthetic")


#: Settings naming a file a step reads: its contents are part of the step's cache key.
_INPUT_FILES = {"harmonise": (("data", "deflators"),), "facts": (("facts", "boundaries"),)}


def _step_keys(cfg: PipelineConfig, wanted: Sequence[str], deflate: bool) -> dict[str, str]:
    """Cache key of each step: its settings, its inputs, the keys of the steps it needs and the code."""
    code = _code_fingerprint()
    keys: dict[str, str] = {}
    for name in wanted:
        inputs: list = []
        if name == "read" and cfg["data"]["source"] == "files":
            try:
                inputs = [(str(p), file_digest(p)) for p in _input_files(cfg)]
            except InputError as err:
                inputs = [f"unreadable: {err}"]  # never stored: the step fails and says why
        for section, key in _INPUT_FILES.get(name, ()):
            path = cfg[section][key]
            inputs.append(file_digest(cfg.resolve(path)) if path and cfg.resolve(path).is_file() else path)
        if name == "harmonise":
            inputs.append(deflate)
        content = {"step": name, "code": code, "inputs": inputs,
                   "settings": {s: _setting(cfg, s) for s in STEPS[name].settings},
                   "needs": [keys[n] for n in _needs(name, cfg)]}
        keys[name] = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return keys


def _figures_relative(items: list, out: Path) -> list:
    """Report items with figure paths relative to the output folder (stored entries survive a moved folder)."""
    return [dataclasses.replace(i, path=os.path.relpath(i.path, out)) if isinstance(i, report.Figure) else i
            for i in items]


def _figures_located(items: list, out: Path) -> list:
    return [dataclasses.replace(i, path=out / i.path) if isinstance(i, report.Figure) else i for i in items]


#: At most this many distinct warnings are kept per step (the package's own first).
MAX_WARNINGS = 20


def _warning_lines(caught: list) -> list[str]:
    """Distinct warnings, the package's own first. Deprecation notices raised inside other
    libraries' code concern those libraries, not the results: counted in one line."""
    own_dir = str(Path(__file__).parent)
    seen: dict[str, bool] = {}
    library_notices: dict[str, int] = {}
    for w in caught:
        own = str(w.filename).startswith(own_dir)
        if not own and issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            parts = Path(str(w.filename)).parts
            library = parts[parts.index("site-packages") + 1] if "site-packages" in parts else Path(w.filename).stem
            library_notices[library] = library_notices.get(library, 0) + 1
            continue
        text = f"{w.category.__name__}: {w.message}"
        seen[text] = seen.get(text, False) or own
    ordered = sorted(seen, key=lambda t: (not seen[t], t))
    if len(ordered) > MAX_WARNINGS:
        ordered = ordered[:MAX_WARNINGS] + [f"... and {len(ordered) - MAX_WARNINGS} more distinct warnings"]
    if library_notices:
        ordered.append(f"{sum(library_notices.values())} deprecation notice(s) raised inside "
                       f"{', '.join(sorted(library_notices))} left out (they concern those libraries' code)")
    return ordered


# ---------------------------------------------------------------------------
# the run


def demo_config(size: str = "small", seed: int = 0, out_dir: str | Path = "sez-demo-run",
                steps: Sequence[str] = ()) -> PipelineConfig:
    """The configuration ``sez demo`` runs: synthetic extracts of the given size (:data:`SIZES`), no cache."""
    if size not in SIZES:
        raise ValueError(f"size = {size!r}: use one of {sorted(SIZES)}")
    d = SIZES[size]
    raw = {"run": {"out": str(out_dir), "seed": seed, "steps": list(steps), "cache": False},
           "data": {"source": "synthetic", "synthetic_firms": d.n_firms, "synthetic_exit_intercept": d.exit_intercept,
                    "synthetic_excel_years": list(d.excel_years)},
           "tfp": {"min_obs": d.min_obs, "method": d.tfp_method}, "probit": {"county_effects": d.county_effects},
           "model": {"n_cash": d.n_cash, "n_capital": d.n_capital, "n_firms": d.model_firms}}
    return pipeline_config(raw, base=".", source=f"demo size {size!r}")


def run_demo(size: str = "small", out_dir: str | Path = "sez-demo-run", seed: int = 0, progress: bool = True,
             steps: Sequence[str] | None = None, deflate: bool = False, calibrate: bool = False,
             log_file: str | Path | None = None) -> dict:
    """Run the whole chain on synthetic data and write tables, figures, a JSON summary and ``report.html``.

    Parameters
    ----------
    size : {"tiny", "small", "paper"}
        Synthetic panel and model grid sizes (:data:`SIZES`); ``small`` (4,000
        firms, a 60 x 80 model grid) takes about 20 s on two cores,
        ``tiny`` is for tests, ``paper`` the SEZ paper's scale (about 590,000
        firms and 2.3 million firm-years after cleaning) and the model's default grid.
    out_dir : str or Path
        Folder for the outputs (created): ``raw/`` (synthetic extracts),
        ``tables/*.csv``, ``figures/*.png``, ``panel.parquet`` (harmonised),
        ``analysis_panel.parquet`` (with ln_tfp and agglomeration measures),
        ``summary.json`` and ``report.html``.
    seed : int
        Seed of the synthetic data and of the estimators' starting values.
    progress : bool
        Show progress: a live display on a terminal, timestamped lines when
        standard output is not one (a batch job's log).
    steps : sequence of str, optional
        Run only these steps (:data:`STEPS`); the steps they need are added.
    log_file : path, optional
        Append the timestamped progress lines to this file as well.
    deflate : bool
        Deflate output and value added by the generator's true output price
        index (as a user's ``[data] deflators`` would). Investment, the
        Olley-Pakes proxy, stays at current prices either way; the year effects
        of the control function absorb the difference in units (docs/estimators.md:
        median capital elasticity by industry 0.47-0.51 deflated and 0.46-0.49
        not, over three seeds, against a truth of 0.35 that the firm-specific
        mean of productivity biases up by about 0.07).
    calibrate : bool
        Add a short SMM calibration of the model to the paper's targets (the
        optional ``calibrate`` step).

    Returns
    -------
    dict
        The summary written to ``summary.json`` (see :func:`run_pipeline`).
    """
    chosen = list(steps or ())
    if calibrate:
        chosen = (chosen or [n for n, step in STEPS.items() if not step.optional]) + ["calibrate"]
    return run_pipeline(demo_config(size, seed, out_dir, chosen), progress=progress, deflate=deflate,
                        log_file=log_file)


def run_pipeline(cfg: PipelineConfig, progress: bool = True, deflate: bool = False,
                 log_file: str | Path | None = None) -> dict:
    """Run the pipeline a configuration describes (``sez run``; :func:`sez.config.load_pipeline`).

    With ``[run] cache = true`` each step's results are stored under
    ``<out>/cache`` with a key made of its settings, its input files' contents,
    the keys of the steps it needs and the package's code; a re-run reuses every
    step whose key is unchanged (changing a late step's settings redoes only it
    and the steps after it that need it).

    Returns
    -------
    dict
        The summary written to ``summary.json``: ``steps`` (status, seconds,
        cached, error, warnings of each), key numbers by step, ``files`` written
        and ``total_seconds``.
    """
    out = cfg.resolve(cfg["run"]["out"])
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")  # figures are written to files, never shown
    synthetic = cfg["data"]["source"] == "synthetic"
    chosen = cfg["run"]["steps"] or [n for n, step in STEPS.items() if not step.optional]
    wanted = [n for n in _with_prerequisites(chosen, cfg) if synthetic or n != "synthetic"]
    run = _Run(out, cfg, deflate=deflate)
    use_cache = cfg["run"]["cache"]
    cache = StepCache(out)
    keys = _step_keys(cfg, wanted, deflate) if use_cache else {}
    records: dict[str, StepRecord] = {}
    started = time.perf_counter()
    with RunLog(plain=None if progress else False, log_file=log_file) as log, MemorySampler() as memory, \
            _Progress(log, progress, len(wanted)) as bar:
        for name in wanted:
            step = STEPS[name]
            record = records[name] = StepRecord(name)
            section = run.sections[name] = report.Section(step.title)
            missing = [n for n in _needs(name, cfg) if records[n].status != "ok"]
            bar.start(name, step.title)
            memory.reset()
            t0 = time.perf_counter()
            meta = cache.lookup(name, keys[name]) if use_cache and not missing else None
            if missing:
                record.status = "skipped"
                record.error = f"needs step(s) {', '.join(missing)}, which did not complete"
            elif meta is not None and _restore(run, cache, name, record, section, meta):
                pass
            else:
                cache.forget(name)  # with or without the cache: the entry's files are about to change
                files_before = len(run.files)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        step.func(run)
                        record.status = "ok"
                    except Exception as err:  # a failing step is recorded and the others go on
                        record.status = "failed"
                        record.error = f"{type(err).__name__}: {err}"
                        record.traceback = traceback.format_exc()
                record.warnings = _warning_lines(caught)
                record.seconds = time.perf_counter() - t0
                if use_cache and record.status == "ok":
                    written = [os.path.relpath(p, out) for p in run.files[files_before:]]
                    payload = {"state": {k: run.state[k] for k in step.produces}, "summary": run.summary.get(name),
                               "items": _figures_relative(section.items, out), "warnings": record.warnings,
                               "files": written}
                    try:
                        cache.store(name, keys[name], payload, written, record.seconds)
                    except (OSError, pickle.PicklingError, TypeError, AttributeError) as err:
                        cache.forget(name)
                        record.warnings.append(f"results not stored for re-use: {type(err).__name__}: {err}")
            if not record.cached:
                record.seconds = time.perf_counter() - t0
            if not record.cached and record.status != "skipped":
                record.peak_gib = memory.peak / 2 ** 30
            section.status, section.seconds, section.error = record.status, record.seconds, record.error
            section.peak_gib = record.peak_gib
            bar.finish(record, step.title)
            _free_finished_state(run, wanted, name, cfg)
    total = time.perf_counter() - started
    run.summary = {"source": cfg["data"]["source"], "config": str(cfg.path) if cfg.path else None,
                   "seed": run.seed, "total_seconds": total,
                   "steps": {n: {"status": r.status, "seconds": r.seconds, "peak_memory_gib": r.peak_gib,
                                 "parts_seconds": run.part_seconds.get(n, {}), "cached": r.cached, "error": r.error,
                                 "traceback": r.traceback, "warnings": r.warnings} for n, r in records.items()},
                   **run.summary}
    report_path = out / "report.html"
    summary_path = out / "summary.json"
    run.summary["files"] = sorted({str(p.relative_to(out)) for p in run.files}) + ["report.html", "summary.json"]
    if synthetic:
        truth = run.summary.get("synthetic", {}).get("truth", {})
        intro = (f"Synthetic ASIE data ({cfg['data']['synthetic_firms']:,} true firms, seed {run.seed}) through "
                 "harmonisation, productivity, agglomeration, export entry, SEZ effects and the model; "
                 f"{total:.1f} s in all. The synthetic truth has an SEZ effect of {truth.get('tau_sez', 0.10)} "
                 "log points on TFP.")
    else:
        n_files = run.summary.get("read", {}).get("files")
        intro = (f"Your ASIE extracts ({n_files} files) through harmonisation, productivity, agglomeration, export "
                 f"entry, SEZ effects and the model; {total:.1f} s in all"
                 + (f", configuration {cfg.path}" if cfg.path else "") + ".")
    summary_path.write_text(json.dumps(_jsonable(run.summary), indent=2), encoding="utf-8")
    report.write_html([run.sections[n] for n in wanted], report_path,
                      title="SEZ: from raw data to the papers' tables", intro=intro)
    return _jsonable(run.summary)


#: What reading a stored entry written by another build or cut short can raise.
_UNREADABLE = (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, KeyError)


def _restore(run: _Run, cache: StepCache, name: str, record: StepRecord, section: report.Section,
             meta: dict) -> bool:
    """Reuse a step's stored results, state included, as if it had just run (steps are visited in order).

    False when the stored entry cannot be read: the step then runs.
    """
    try:
        payload = cache.load(name)
        state, summary, items = payload["state"], payload["summary"], payload["items"]
    except _UNREADABLE:
        return False
    run.state.update(state)
    if summary is not None:
        run.summary[name] = summary
    section.items.extend(_figures_located(items, run.out))
    section.intro = f"Stored results reused (computed in {meta['seconds']:.2f} s in an earlier run)."
    run.files.extend(run.out / f for f in payload["files"])
    record.status, record.cached, record.warnings = "ok", True, payload["warnings"]
    record.seconds = meta["seconds"]
    return True


def _with_prerequisites(steps: Sequence[str], cfg: PipelineConfig) -> list[str]:
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}: use {list(STEPS)}")
    needed: set[str] = set()

    def add(name: str) -> None:
        if name not in needed:
            needed.add(name)
            for need in _needs(name, cfg):
                add(need)

    for s in steps:
        add(s)
    return [s for s in STEPS if s in needed]
