"""The data steps: ``synthetic`` (demo extracts with a known truth), ``read`` and ``harmonise``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from sez.data.read import InputError, find_files
from sez.panel import codebook, glossary, to_stata
from sez.run.config import PipelineConfig
from sez.run.context import Run


def _synthetic_deflators(price_index: dict) -> pd.DataFrame:
    """Output deflators (1998 = 100) for every 2-digit manufacturing industry from the generator's price index."""
    rows = [(str(c), int(y), 100.0 * float(p)) for c in range(13, 44) for y, p in price_index.items()]
    return pd.DataFrame(rows, columns=["cic2", "year", "deflator"])


def step_synthetic(run: Run) -> None:
    """Write the synthetic raw ASIE extracts (and their truth) that a demo reads."""
    from sez.data import synthetic

    n_firms = run.cfg["data"]["synthetic_firms"]
    result = synthetic(n_firms=n_firms, seed=run.seed, out_dir=run.out / "raw",
                       exit_intercept=run.cfg["data"]["synthetic_exit_intercept"],
                       excel_years=tuple(run.cfg["data"]["synthetic_excel_years"]), allow_large=run.allow_large)
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


def input_files(cfg: PipelineConfig) -> list[Path]:
    """The user's extracts: each entry of [data] files is a path or a glob pattern that must match."""
    found: list[Path] = []
    for entry in cfg["data"]["files"]:
        matches = find_files(entry, cfg.base)
        if not matches:
            raise InputError(f"[data] files: {entry!r} matches no file (looked for {cfg.resolve(entry)})")
        found.extend(m for m in matches if m not in found)
    return found


def step_read(run: Run) -> None:
    """Read the yearly extracts the configuration names."""
    from sez.data import read_asie

    data_cfg = run.cfg["data"]
    if data_cfg["source"] == "synthetic":
        # by their place in this output folder (a stored synthetic step may come from the folder's old place)
        sources = {int(y): run.out / rel for y, rel in run.summary["synthetic"]["files"].items()}
    else:
        sources = input_files(run.cfg)
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


def step_harmonise(run: Run) -> None:
    """Harmonise the yearly extracts into the firm-year panel, with the audit of rows dropped."""
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
                      min_years=settings["min_years"], weak_keywords_count=settings["weak_keywords_count"],
                      sales_threshold=settings["sales_threshold"] or None)
    run.state["panel"] = panel
    data = panel.data
    run.panel("panel", data)
    with run.timed("harmonise", "panel.dta"):
        run.files.append(to_stata(data, run.out / "panel.dta"))
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
    rows_in, rows_out = panel.audit.attrs["rows_in"], panel.audit.attrs["rows_out"]
    run.figure("harmonise", "harmonise_audit", lambda path: _plot_audit(panel.audit, path),
               f"From {rows_in:,} rows in to {rows_out:,} rows out: rows dropped by step and reason",
               "Reasons in the order they are applied; each bar is labelled with the rows it drops, their share "
               "of the rows in, and the rows left after it. A reason that dropped none is shown with 0: its check "
               "ran.")
    run.table("harmonise", "codebook", codebook(data), "Codebook of the harmonised panel (panel.parquet, panel.dta)",
              "Labels are the Stata variable labels of panel.dta: \"meaning (unit)\", at most 80 characters. "
              "min and max of bool columns are 0/1; distinct values count text and categorical columns. "
              "In panel.dta bool columns are 0/1 bytes, categories labelled integers, and a missing text is \"\".",
              index=False)
    run.table("harmonise", "glossary", glossary(),
              "Glossary: the labels of the report's tables and the names they stand for",
              "The report's tables show the labels; the CSV files of numbers (tables/tidy) and the panel keep "
              "the names. TWFE: two-way fixed effects; imputation: Borusyak, Jaravel and Spiess (2024); "
              "Sun-Abraham: Sun and Abraham (2021); Callaway-Sant'Anna: Callaway and Sant'Anna (2021).",
              index=False)


def _plot_audit(audit: pd.DataFrame, path: Path) -> None:
    """Horizontal bars of the rows each step and reason dropped, top to bottom in the order applied."""
    from matplotlib.figure import Figure

    rows_in = audit.attrs["rows_in"]
    labels = [f"{r.step}: {r.reason}" for r in audit.itertuples()]
    left = rows_in - audit["rows"].cumsum()
    fig = Figure(figsize=(8.5, 1.0 + 0.35 * max(len(audit), 1)), layout="constrained")
    ax = fig.subplots()
    ax.barh(range(len(audit)), audit["rows"], color="tab:red")
    ax.set_yticks(range(len(audit)), labels, fontsize=8)
    ax.invert_yaxis()  # the first reason applied on top
    for i, (dropped, remaining) in enumerate(zip(audit["rows"], left)):
        ax.annotate(f" {dropped:,} ({dropped / max(rows_in, 1):.1%}); {remaining:,} left", (dropped, i), va="center",
                    fontsize=8)
    ax.set_xlim(0, max(int(audit["rows"].max()) if len(audit) else 0, 1) * 1.6)  # room for the labels
    ax.set_xlabel("rows dropped")
    ax.set_title(f"Harmonisation: {rows_in:,} rows in, {audit.attrs['rows_out']:,} rows out", fontsize=10)
    fig.savefig(path, dpi=150)


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
            "sez_status_accuracy": float(with_true_flags(data[["year", "source_row", "sez"]], truth, "inner")
                                         .pipe(lambda d: (d["sez"] == d["true_sez"]).mean()))}


def with_true_flags(data: pd.DataFrame, truth: pd.DataFrame, how: str) -> pd.DataFrame:
    """Harmonised rows with the generator's SEZ status of the raw record they come from (``true_sez``)."""
    flags = truth[["year", "raw_row", "sez"]].rename(columns={"raw_row": "source_row", "sez": "true_sez"})
    return data.merge(flags, on=["year", "source_row"], how=how, validate="many_to_one")
