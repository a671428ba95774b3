"""The SEZ paper's Tables 16-18: specifications m1-m12 by TWFE beside the imputation estimator."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from sez.did import DidDataError, EventStudyResults, event_study, imputation, trend_specification, twfe
from sez.did.event_study import _vcov_support
from sez.did.prepare import RENAMED, resolve_vcov
from sez.panel import require_columns
from sez.papers import numbers
from sez.papers.sez_paper.controls import PAPER_CONTROLS, paper_controls
from sez.progress import track
from sez.results import renamed_keywords, significance_stars, two_sided_p
from sez.tables import LayoutTable


@dataclass(frozen=True)
class Specification:
    """One column of the paper's Tables 16-18.

    ``region_by_year`` False: firm, year and region effects separately (the
    paper's eq. 12 and Table 4 "SepFE", columns m1-m6); True: firm and
    region-by-year effects (eqs. 10, 13, "crossFE", m7-m12). ``controls``
    are names from ``PAPER_CONTROLS``.
    """

    name: str
    region_by_year: bool
    controls: tuple[str, ...]

    def fixed_effects(self, unit: str = "firm_id", time: str = "year", region: str = "city") -> tuple[str, ...]:
        """The absorbed fixed effects of this column, named with the panel's columns."""
        return (unit, f"{region}^{time}") if self.region_by_year else (unit, time, region)


_CONTROL_SETS = (
    (),
    ("size", "ln_age", "ln_roa", "ln_debt_ratio", "export", "state_owned"),
    ("size", "ln_age", "ln_roa", "ln_debt_ratio", "state_owned", "ln_ky", "ln_export_density"),
    ("size", "ln_age", "ln_roa", "ln_debt_ratio", "state_owned", "ln_ky", "ln_export_density", "ln_eg"),
    ("ln_age", "ln_debt_ratio", "state_owned", "ln_ky", "ln_export_density", "ln_eg", "ln_sales", "ln_profit"),
    ("ln_age", "ln_debt_ratio", "state_owned", "ln_ky", "ln_export_density", "ln_eg", "ln_profit", "ln_output"),
)


SPECIFICATIONS = {
    f"m{k + 1 + 6 * cross}": Specification(f"m{k + 1 + 6 * cross}", bool(cross), controls)
    for cross in (0, 1) for k, controls in enumerate(_CONTROL_SETS)
}


def _paper_spec_numbers(table: int) -> pd.DataFrame:
    """The paper's printed cells of Table 16, 17 or 18: spec, term, coef, t, implied se."""
    cells = numbers.read("sez_specifications")
    cells = cells.loc[cells["table"] == table, ["spec", "term", "coef", "t"]].reset_index(drop=True)
    cells["se"] = (cells["coef"] / cells["t"]).abs()
    return cells


def _paper_nobs(spec: str) -> int:
    """The paper's Observations row of a specification (the same in Tables 16-18)."""
    return int(numbers.read("sez_specifications_nobs").set_index("spec").loc[spec, "nobs"])


_EVENT_TERMS = {k: ("current" if k == 0 else f"pre{-k}" if k < 0 else f"post{k}") for k in range(-4, 10)}


_TABLE_TITLES = {
    16: "The effects of the SEZs on TFP (SEZ paper, Table 16)",
    17: "An event study: the effects of the SEZs on TFP (SEZ paper, Table 17)",
    18: "The effects of the SEZs on TFP and its trend (SEZ paper, Table 18)",
}


_TERM_LABELS = {"sez": "SEZ", "current": "current", "post_sez": "PostSEZ",
                **{k: c.label for k, c in PAPER_CONTROLS.items()},
                **{v: v for v in _EVENT_TERMS.values()}}


@dataclass(frozen=True)
class SpecificationTable(LayoutTable):
    """The paper's Tables 16, 17 or 18: every specification by TWFE and the imputation estimator.

    Attributes
    ----------
    table : int
        16 (static DiD, eq. 10), 17 (event study, eqs. 11-13) or 18 (entry year
        and after, Appendix A4).
    estimates : pandas.DataFrame
        Long form: ``spec, estimator, term, coef, se, p_value, nobs, n_clusters``.
    skipped : dict
        ``{spec: reason}`` for specifications not run (a control the panel
        cannot provide, or a sample that cannot identify the effect).
    specifications : dict
        The :class:`Specification` objects run or skipped.
    paper : pandas.DataFrame
        The paper's printed cells (``spec, term, coef, t, se``; se implied by
        coef / t, since the paper prints t statistics).
    fits : dict
        ``{spec: {estimator: DidResults | EventStudyResults | dict}}``.
    failed : dict
        ``{(spec, estimator): reason}`` for an estimator that failed on a
        specification the other estimator ran: its column says so, the other
        column stands.
    """

    table: int
    outcome: str
    region: str
    vcov: str
    estimates: pd.DataFrame
    skipped: dict
    specifications: dict
    paper: pd.DataFrame
    fits: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The table's title with its outcome."""
        return f"{_TABLE_TITLES[self.table]}; outcome {self.outcome}"

    def to_frame(self) -> pd.DataFrame:
        """Long form, our estimates with the paper's coefficient, t and implied se beside them."""
        return beside_paper(self.estimates, self.paper, ["spec", "term"])

    def layout(self, inner: str = "se", paper: bool = True, digits: int = 4) -> pd.DataFrame:
        """The paper's layout: coefficient with stars, ``(se)`` or ``(t)`` below, then N and fixed effects.

        Columns are ``(spec, source)`` with source ``TWFE``, ``imputation``
        (treatment terms only) and, with ``paper=True``, ``paper`` (its
        printed coefficients with stars; below them its t, or its implied
        standard error |coef/t| when ``inner="se"``). A skipped specification's
        own columns say so; the paper's stay filled.
        """
        if inner not in ("se", "t"):
            raise ValueError(f"layout: inner must be 'se' or 't', got {inner!r}")
        est = self.estimates
        # the paper's row order, then any term of ours it does not print; rows nobody estimated are left out
        shown = set(est["term"]) | (set(self.paper["term"]) if paper else set())
        terms = [t for t in dict.fromkeys([*_paper_terms(self.table), *est["term"]]) if t in shown]
        sources = ["TWFE", "imputation"] + (["paper"] if paper else [])
        columns = pd.MultiIndex.from_tuples([(s, src) for s in self.specifications for src in sources])
        labels = []
        for term in terms:
            labels += [_TERM_LABELS.get(term, term), ""]
        labels += ["Observations", "Firm FE", "Year FE", "Region FE", "Region x year FE", "Standard errors"]
        body = pd.DataFrame("", index=range(len(labels)), columns=columns)
        fmt = f"{{:.{digits}g}}"
        for spec_name, spec in self.specifications.items():
            for src in sources:
                col = (spec_name, src)
                if spec_name in self.skipped and src != "paper":  # the paper's numbers stay beside a skipped spec
                    body.loc[0, col] = "skipped"
                    continue
                if (spec_name, {"TWFE": "twfe"}.get(src, src)) in self.failed:
                    body.loc[0, col] = "failed (see notes)"
                    continue
                if src == "paper":
                    cells = self.paper.loc[self.paper.spec == spec_name].set_index("term")
                    for i, term in enumerate(terms):
                        if term in cells.index:
                            c, t = cells.loc[term, "coef"], cells.loc[term, "t"]
                            p = 2 * stats.norm.sf(abs(t))
                            body.loc[2 * i, col] = fmt.format(c) + significance_stars(p)
                            body.loc[2 * i + 1, col] = f"({fmt.format(abs(c / t)) if inner == 'se' else f'{t:.2f}'})"
                    body.loc[2 * len(terms), col] = f"{_paper_nobs(spec_name):,}"
                    _fill_fixed_effects(body, col, 2 * len(terms) + 1, spec)
                    continue
                estimator = "twfe" if src == "TWFE" else "imputation"
                rows = est.loc[(est.spec == spec_name) & (est.estimator == estimator)].set_index("term")
                if rows.empty:
                    continue
                for i, term in enumerate(terms):
                    if term in rows.index and np.isfinite(rows.loc[term, "coef"]):
                        r = rows.loc[term]
                        body.loc[2 * i, col] = fmt.format(r.coef) + significance_stars(r.p_value)
                        inside = r.se if inner == "se" else r.coef / r.se
                        body.loc[2 * i + 1, col] = f"({fmt.format(inside) if inner == 'se' else f'{inside:.2f}'})"
                base = 2 * len(terms)
                body.loc[base, col] = f"{int(rows['nobs'].iloc[0]):,}"
                _fill_fixed_effects(body, col, base + 1, spec)
                body.loc[base + 5, col] = self.vcov
        body.index = pd.Index(labels)
        return body

    def notes(self, inner: str = "se") -> str:
        """The notes printed under the table: conventions, skipped and failed specifications."""
        inside = "standard errors" if inner == "se" else "t statistics"
        lines = [f"Our {inside} in parentheses, {self.vcov}; the paper prints t statistics "
                 + ("(shown as implied standard errors |coef/t|)" if inner == "se" else "") + ". "
                 "* p < 0.1, ** p < 0.05, *** p < 0.01 (ours: t with G-1 degrees of freedom, G clusters; the "
                 "paper's: normal).",
                 f"Region: {self.region}. m1-m6: firm, year and region effects separately; m7-m12: firm and "
                 "region-by-year effects. Each column on the complete cases of its controls.",
                 "Imputation: Borusyak, Jaravel and Spiess (2024); fixed effects and controls fitted on untreated "
                 "firm-years only, so already-treated firms never serve as controls; where it differs from TWFE "
                 "the effects differ by entry cohort or time since entry."]
        if self.table == 17:
            lines.append("Reference period: five years before entry (earlier years binned into it); imputation "
                         "leads come from its pre-trend test on untreated firm-years.")
        if self.table == 18:
            lines.append("current: the entry year; PostSEZ: the years after entry.")
        for spec, reason in self.skipped.items():
            lines.append(f"{spec} skipped: {reason}")
        for (spec, estimator), reason in self.failed.items():
            lines.append(f"{spec}, {estimator}: failed ({reason}); the other estimators' columns stand")
        return "\n".join(lines)



def beside_paper(estimates: pd.DataFrame, paper: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Our long-form estimates with the paper's printed ``coef``, ``t`` and implied ``se`` (as ``paper_*``) merged on
    ``keys``, and our t statistic.
    """
    printed = paper[[*keys, "coef", "t", "se"]].rename(
        columns={"coef": "paper_coef", "t": "paper_t", "se": "paper_se"})
    out = estimates.merge(printed, on=keys, how="left")
    out["t"] = out["coef"] / out["se"]
    return out


def _fill_fixed_effects(body: pd.DataFrame, col, first_row: int, spec: Specification) -> None:
    """The rows Firm FE, Year FE, Region FE, Region x year FE of one column."""
    marks = ("yes", "", "", "yes") if spec.region_by_year else ("yes", "yes", "yes", "")
    for offset, mark in enumerate(marks):
        body.loc[first_row + offset, col] = mark


def _paper_terms(table: int) -> tuple[str, ...]:
    table16_terms = tuple(_paper_spec_numbers(16)["term"].drop_duplicates())
    if table == 16:
        return table16_terms
    if table == 17:
        return tuple(_EVENT_TERMS.values())
    return ("current", "post_sez", *[t for t in table16_terms if t != "sez"])


def _spec_rows(spec: str, estimator: str, params: pd.Series, bse: pd.Series, pvalues: pd.Series, nobs: int,
               n_clusters: int) -> list[dict]:
    return [{"spec": spec, "estimator": estimator, "term": term, "coef": float(params[term]),
             "se": float(bse[term]), "p_value": float(pvalues[term]), "nobs": nobs, "n_clusters": n_clusters}
            for term in params.index]


def specification_table(data: pd.DataFrame, table: int = 16, outcome: str = "ln_tfp",
                        specifications: Sequence[str] | None = None, treatment: str = "sez", region: str = "city",
                        vcov: str | dict | None = None, eg: str = "eg_city", unit: str = "firm_id",
                        time: str = "year",
                        estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "drop",
                        tol: float = 1e-10, **old) -> SpecificationTable:
    """Run the paper's specifications m1-m12 for Table 16, 17 or 18, TWFE beside imputation.

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table with the outcome, treatment, region and the columns
        the controls are built from (:func:`paper_controls`).
    table : {16, 17, 18}
        16: static DiD (eq. 10); 17: event study with leads pre4..pre1 and lags
        current..post9 relative to five years before entry (eqs. 11-13); 18:
        entry year and after (Appendix A4, :func:`trend_specification`).
    specifications : sequence of str, optional
        Names from ``SPECIFICATIONS`` (all twelve by default).
    region : str
        Region of the region and region-by-year effects (the paper's r).
    eg : str
        Column with the level of EG_irt for the ``lnEG`` control
        (:func:`eg_mediator`); specs m4-m6 and m10-m12 need it.
    on_reversal : {"drop", "error"}
        Firms leaving a zone after entering it; dropped (counted) by default
        so that both estimators use the same firms.

    Returns
    -------
    SpecificationTable
        A specification whose control the panel cannot provide, or whose
        sample cannot identify the effect, is listed in ``skipped`` with the
        reason (never left out silently); :meth:`SpecificationTable.summary`
        prints the reasons under the table.

    Raises
    ------
    KeyError
        The outcome, treatment, region, cluster, unit or time column is missing,
        or a specification name is unknown.
    """
    func = f"table{table}"
    renamed_keywords(old, RENAMED, func)
    if table not in (16, 17, 18):
        raise ValueError(f"specification_table: table must be 16, 17 or 18, got {table!r}")
    names = list(SPECIFICATIONS) if specifications is None else list(specifications)
    unknown = [n for n in names if n not in SPECIFICATIONS]
    if unknown:
        raise KeyError(f"{func}: unknown specification(s) {unknown}; known: {', '.join(SPECIFICATIONS)}")
    vcov = resolve_vcov(vcov, unit, func, *_vcov_support(estimators))
    require_columns(data, [unit, time, outcome, treatment, region, *vcov.cluster], func)
    specs = {n: SPECIFICATIONS[n] for n in names}
    needed = list(dict.fromkeys(c for s in specs.values() for c in s.controls))
    sample, unavailable = paper_controls(data, needed, eg=eg, unit=unit, time=time)
    rows, skipped, failed, fits, counts = [], {}, {}, {}, {}
    for name, spec in track(specs.items(), f"Table {table}", name=lambda item: item[0]):
        missing = [unavailable[c] for c in spec.controls if c in unavailable]
        if missing:
            skipped[name] = "; ".join(missing)
            continue
        fe = spec.fixed_effects(unit, time, region)
        common = dict(treatment=treatment, fe=fe, controls=list(spec.controls), vcov=vcov.spec, unit=unit,
                      time=time, on_reversal=on_reversal)
        parts, errors = {}, {}
        # each estimator on its own: one that fails leaves the others' columns standing
        for est in estimators:
            try:
                if table == 16:
                    parts[est] = (twfe(sample, outcome, **common) if est == "twfe"
                                  else imputation(sample, outcome, tol=tol, **common))
                elif table == 17:
                    parts[est] = event_study(sample, outcome, window=(-5, 9), reference=-5, estimators=(est,),
                                             tol=tol, **common)
                else:
                    parts[est] = trend_specification(sample, outcome, form="paper", estimators=(est,), tol=tol,
                                                     **common)[est]
            except (DidDataError, RuntimeError) as err:  # RuntimeError: a fixed-effect solve that cannot converge
                errors[est] = str(err)
        if not parts:
            complete = np.isfinite(sample[[outcome, *spec.controls]].apply(pd.to_numeric, errors="coerce")
                                   .to_numpy(dtype=float)).all(axis=1)
            skipped[name] = (f"not identified on this panel ({int(complete.sum())} firm-years with the outcome "
                             f"and all its controls): " + "; ".join(f"{e}: {m}" for e, m in errors.items()))
            continue
        failed.update({(name, est): message for est, message in errors.items()})
        if table == 17:
            es = _merge_event_studies(list(parts.values()))
            fits[name] = {"event_study": es}
            counts[name] = es.counts
            for est in es.estimators:
                sub = es.table.loc[es.table.index != -5]
                params = pd.Series(sub[f"{est}_coef"].to_numpy(), index=[_EVENT_TERMS[k] for k in sub.index])
                bse = pd.Series(sub[f"{est}_se"].to_numpy(), index=params.index)
                n_clusters = es.n_clusters_by_estimator[est]
                df = None if n_clusters is None else n_clusters - 1
                pvalues = pd.Series(two_sided_p(params / bse, df), index=params.index)
                rows += _spec_rows(name, est, params, bse, pvalues, es.nobs_by_estimator[est], n_clusters)
            continue
        fits[name] = parts
        counts[name] = {e: r.counts for e, r in parts.items()}
        for est, res in parts.items():
            params = res.params.rename({treatment: "sez"})
            rows += _spec_rows(name, est, params, res.bse.set_axis(params.index), res.pvalues.set_axis(params.index),
                               res.nobs, res.n_clusters)
    estimates = pd.DataFrame(rows, columns=["spec", "estimator", "term", "coef", "se", "p_value", "nobs",
                                            "n_clusters"])
    # Table 18's control rows are not transcribed (they agree with Table 16's to the third digit)
    paper = _paper_spec_numbers(table)
    paper = paper.loc[paper.spec.isin(names)].reset_index(drop=True)
    return SpecificationTable(table, outcome, region, str(vcov), estimates, skipped, specs, paper, fits, counts, failed)


def _merge_event_studies(parts: list[EventStudyResults]) -> EventStudyResults:
    """One event study from several run with one estimator each (same panel, window and reference)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    table = first.table.copy()
    estimators, fits, counts, nobs, n_clusters = [], {}, {}, {}, {}
    for part in parts:
        for column in part.table.columns:
            table[column] = part.table[column]
        estimators += part.estimators
        fits.update(part.fits)
        counts.update(part.counts)
        nobs.update(part.nobs_by_estimator)
        n_clusters.update(part.n_clusters_by_estimator)
    ordered = [c for e in estimators for c in (f"{e}_coef", f"{e}_se")]
    bands = [c for e in estimators for c in (f"{e}_lower", f"{e}_upper")]
    table = table[["n_treated_obs", *ordered, *bands]]
    return dataclasses.replace(first, table=table, estimators=tuple(estimators), fits=fits, counts=counts,
                               nobs_by_estimator=nobs, n_clusters_by_estimator=n_clusters)


def table16(data: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> SpecificationTable:
    """The paper's Table 16 (eq. 10, specifications m1-m12); see :func:`specification_table`."""
    return specification_table(data, 16, outcome, **kwargs)


def table17(data: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> SpecificationTable:
    """The paper's Table 17 (event study, eqs. 11-13, m1-m12); see :func:`specification_table`.

    Figure 12 is ``table.fits[spec]["event_study"].plot(path)`` (the paper draws m7, region-by-year effects).
    """
    return specification_table(data, 17, outcome, **kwargs)


def table18(data: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> SpecificationTable:
    """The paper's Table 18 (entry year and after, Appendix A4, m1-m12); see :func:`specification_table`."""
    return specification_table(data, 18, outcome, **kwargs)


# the effect terms a coefficient plot shows (the controls' coefficients stay in the tables)
_PLOTTED_TERMS = {16: ("sez",), 18: ("current", "post_sez"), 19: ("sez",), 20: ("sez",)}
_OUR_ESTIMATORS = {"twfe": ("Ours: TWFE", "tab:blue", "o"),
                   "imputation": ("Ours: imputation (Borusyak, Jaravel and Spiess 2024)", "tab:orange", "D")}
_PAPER_STYLE = ("The paper's printed estimate", "black", "s")
_PLOTTED_TITLES = {"sez": "SEZ", "current": "entry year (current)", "post_sez": "years after entry (PostSEZ)"}


def _row_label(keys: tuple, specifications: dict) -> str:
    """A specification's row in words: its fixed effects and number of controls; a quintile cell as printed."""
    if len(keys) == 2:
        return f"{keys[0]}, {keys[1]}"
    spec = specifications.get(keys[0])
    if spec is None:
        return str(keys[0])
    effects = "firm + region x year FE" if spec.region_by_year else "firm + year + region FE"
    controls = f"{len(spec.controls)} controls" if spec.controls else "no controls"
    return f"{keys[0]}: {effects}, {controls}"


def _plotted(table) -> tuple[pd.DataFrame, list[str]]:
    """The estimates a coefficient plot draws (finite, not omitted) and its effect terms that have any."""
    frame = table.to_frame()
    if "omitted" in frame:
        frame = frame.loc[~frame["omitted"].astype(bool)]
    frame = frame.loc[np.isfinite(frame["coef"]) & np.isfinite(frame["se"])]
    return frame, [t for t in _PLOTTED_TERMS.get(table.table, ()) if t in set(frame["term"])]


def has_coefficient_plot(table) -> bool:
    """Whether :func:`coefficient_plot` can draw this table: a plotted table with an effect estimated."""
    return bool(_plotted(table)[1])


def coefficient_plot(table, path=None):
    """Our estimates of a table's effect terms with 95% intervals beside the paper's printed estimates.

    ``table`` is a :class:`SpecificationTable` (Tables 16, 18) or a
    ``GroupedTable`` (Tables 19, 20); one row per specification (or panel
    and quintile), one panel per effect term. Our intervals use t with
    G - 1 degrees of freedom (G clusters), as the tables' stars do; the
    paper's use the normal and its standard error implied by |coef / t|.
    Returns the matplotlib Figure, also saved to ``path`` when given.
    """
    from matplotlib.figure import Figure

    if table.table not in _PLOTTED_TERMS:
        raise ValueError(f"coefficient_plot: Table {table.table} has no coefficient plot; "
                         f"pass Table {', '.join(map(str, _PLOTTED_TERMS))}")
    frame, terms = _plotted(table)
    keys = ["spec"] if "spec" in frame else ["panel", "column"]
    if not terms:
        raise ValueError(f"coefficient_plot: Table {table.table} has no estimate of "
                         f"{', '.join(_PLOTTED_TERMS[table.table])} to plot; its notes say why")
    rows = list(dict.fromkeys(map(tuple, frame[keys].to_numpy())))
    position = {r: i for i, r in enumerate(rows)}
    fig = Figure(figsize=(4.2 * len(terms) + 3.2, 0.32 * len(rows) + 1.9), layout="constrained")
    axes = fig.subplots(1, len(terms), sharey=True, squeeze=False)[0]
    for ax, term in zip(axes, terms):
        here = frame.loc[frame["term"] == term]
        for offset, (estimator, (label, colour, marker)) in zip((-0.22, 0.0), _OUR_ESTIMATORS.items()):
            ours = here.loc[here["estimator"] == estimator]
            if ours.empty:
                continue
            half = stats.t.ppf(0.975, ours["n_clusters"].astype(float) - 1) * ours["se"]
            y = [position[tuple(k)] + offset for k in ours[keys].to_numpy()]
            ax.errorbar(ours["coef"], y, xerr=half.to_numpy(), fmt=marker, color=colour, markersize=4,
                        capsize=2, label=label)
        paper = here.drop_duplicates(keys).loc[lambda d: np.isfinite(d["paper_coef"])]
        if len(paper):
            label, colour, marker = _PAPER_STYLE
            half = stats.norm.ppf(0.975) * paper["paper_se"].fillna(0.0)
            y = [position[tuple(k)] + 0.22 for k in paper[keys].to_numpy()]
            ax.errorbar(paper["paper_coef"], y, xerr=half.to_numpy(), fmt=marker, color=colour, markersize=4,
                        capsize=2, label=label)
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_title(_PLOTTED_TITLES[term])
        ax.set_xlabel("effect on log TFP" if table.outcome == "ln_tfp" else f"effect on {table.outcome}")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(rows)), [_row_label(r, getattr(table, "specifications", {})) for r in rows])
    axes[0].set_ylim(len(rows) - 0.5, -0.5)  # the table's first row on top
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=len(names), frameon=False, fontsize="small")
    subject = textwrap.fill(table.title.split(" (SEZ paper")[0], 40 + 45 * len(terms))
    fig.suptitle(f"{subject}\n(SEZ paper, Table {table.table}): estimates with 95% intervals", fontsize="medium")
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
