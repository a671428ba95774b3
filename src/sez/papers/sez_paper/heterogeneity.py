"""The SEZ paper's Tables 19-20 (effects by pre-entry TFP quintile) and 31-32 (moderation by agglomeration)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from sez.did import DidDataError, imputation, pre_period_quintile
from sez.did._pyfixest import _feols, _n_clusters
from sez.did.event_study import _vcov_support
from sez.did.heterogeneity import _moderated_imputation
from sez.did.mediation import _plain
from sez.did.prepare import RENAMED, _as_treatment, _check_variation, _handle_reversals, _prepare, resolve_vcov
from sez.panel import require_columns
from sez.papers import numbers
from sez.papers.sez_paper.controls import _log_positive, paper_controls
from sez.papers.sez_paper.did import SPECIFICATIONS, Specification, beside_paper
from sez.results import Vcov, degenerate, renamed, renamed_keywords, significance_stars
from sez.tables import LayoutTable

QUINTILE_COLUMNS = ("20%", "40%", "60%", "80%", "100%")


_GROUPED_TITLES = {
    19: "Heterogeneous effects of the SEZs on TFP by pre-entry TFP quintile (SEZ paper, Table 19)",
    20: "Heterogeneous effects of the SEZs on TFP: with control variables (SEZ paper, Table 20)",
    31: "How a high-agglomeration indicator changes the effects of the SEZs on TFP, by Pre1 quintile "
        "(SEZ paper, Table 31)",
    32: "How lnEG changes the effects of the SEZs on TFP (SEZ paper, Table 32)",
}


_GROUPED_LABELS = {
    19: {"sez": "SEZ"}, 20: {"sez": "SEZ"},
    31: {"sez_x_m": "SEZ x High_EG", "sez": "SEZ", "treat_x_m": "sez_ag (Treat x High_EG)",
         "post_x_m": "time_ag (Post x High_EG)", "m": "High_EG"},
    32: {"sez": "SEZ", "sez_x_m": "SEZ x lnEG", "treat_x_m": "Treat x lnEG", "post_x_m": "Post x lnEG",
         "m": "lnEG"},
}


def _paper_grouped(table: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's printed cells of Table 19, 20, 31 or 32: (terms, per-column N and R-sq)."""
    terms = numbers.read("sez_grouped")
    terms = terms.loc[terms["table"] == table].drop(columns="table").reset_index(drop=True)
    terms["omitted"] = terms["omitted"].astype(bool)
    terms["coef"] = terms["coef"].where(~terms["omitted"], 0.0)
    terms["se"] = (terms["coef"] / terms["t"]).abs()
    terms = terms[["panel", "column", "term", "coef", "t", "se", "omitted"]]
    stats_rows = numbers.read("sez_grouped_stats")
    stats_rows = stats_rows.loc[stats_rows["table"] == table].drop(columns="table").reset_index(drop=True)
    return terms, stats_rows


@dataclass(frozen=True)
class GroupedTable(LayoutTable):
    """The paper's Tables 19-20 (effects by pre-entry TFP quintile) and 31-32 (moderation by agglomeration).

    Built by :func:`heterogeneity_table` and :func:`moderation_table`.

    Attributes
    ----------
    table : int
        19, 20, 31 or 32.
    panels : tuple of str
        Row panels (``"Pre1"`` .. ``"Pre5"``; one unnamed panel for Table 32).
    columns : tuple of str
        Column labels (quintiles ``"20%"`` .. ``"100%"``, or ``"m1"``).
    terms : tuple of str
        The terms shown, in the paper's row order.
    estimates : pandas.DataFrame
        Long form: ``panel, column, estimator, term, coef, se, p_value,
        omitted, nobs, n_clusters, r2, constant`` (``r2`` and ``constant``
        for TWFE only; the constant is reghdfe's, the mean of
        ``y - X b`` on the estimation sample).
    paper : pandas.DataFrame
        The paper's printed cells: ``panel, column, term, coef, t, se,
        omitted`` (se implied by |coef / t|; the paper prints t statistics).
    paper_stats : pandas.DataFrame
        The paper's Observations and R-sq per panel and column.
    skipped : dict
        ``{"panel column": reason}`` for cells that could not be estimated.
    """

    table: int
    outcome: str
    panels: tuple
    columns: tuple
    terms: tuple
    estimates: pd.DataFrame
    paper: pd.DataFrame
    paper_stats: pd.DataFrame
    fixed_effects: tuple
    vcov: str
    skipped: dict = field(default_factory=dict)
    notes_extra: tuple = ()
    counts: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The table's title with its outcome."""
        return f"{_GROUPED_TITLES[self.table]}; outcome {self.outcome}"

    def to_frame(self) -> pd.DataFrame:
        """Long form, our estimates with the paper's coefficient, t and implied se beside them."""
        return beside_paper(self.estimates, self.paper, ["panel", "column", "term"])

    def layout(self, inner: str = "se", paper: bool = True, digits: int = 4) -> pd.DataFrame:
        """The paper's layout: per panel, coefficients with stars and ``(se)`` or ``(t)`` below, the
        constant, Observations and R-sq; then the fixed effects and the cluster variable.

        Columns are ``(column, source)`` with source ``TWFE``, ``imputation``
        and, with ``paper=True``, ``paper``. Omitted (collinear) terms show
        ``0`` and ``(.)`` as Stata prints them; cells that could not be
        estimated say ``skipped`` (the reason is in :meth:`notes`).
        """
        if inner not in ("se", "t"):
            raise ValueError(f"layout: inner must be 'se' or 't', got {inner!r}")
        fmt = f"{{:.{digits}g}}"
        sources = ["TWFE", "imputation"] + (["paper"] if paper else [])
        named = len(self.panels) > 1 or self.panels[0] != ""
        labels, where = [], {}
        for panel in self.panels:
            if named:
                labels.append(panel)
            where[panel] = len(labels)
            for term in self.terms:
                labels += [_GROUPED_LABELS[self.table].get(term, term), ""]
            labels += ["constant", "", "Observations", "R-sq"]
        tail = len(labels)
        labels += ["Firm FE", "Year FE", "Region FE", "Region x year FE", "Controls", "Standard errors"]
        columns = pd.MultiIndex.from_tuples([(c, s) for c in self.columns for s in sources])
        body = pd.DataFrame("", index=range(len(labels)), columns=columns)
        est = self.estimates

        def put(row0, col, coef, se, t, p, omitted):
            if omitted:
                body.loc[row0, col], body.loc[row0 + 1, col] = "0", "(.)"
                return
            body.loc[row0, col] = fmt.format(coef) + significance_stars(p)
            body.loc[row0 + 1, col] = f"({fmt.format(se)})" if inner == "se" else f"({t:.2f})"

        for panel in self.panels:
            base = where[panel]
            for column in self.columns:
                for src in sources:
                    col = (column, src)
                    const_row = base + 2 * len(self.terms)
                    if src == "paper":
                        cells = self.paper.loc[(self.paper.panel == panel) & (self.paper.column == column)]
                        for _, r in cells.iterrows():
                            p = 2 * stats.norm.sf(abs(r.t)) if np.isfinite(r.t) else np.nan
                            row0 = (base + 2 * self.terms.index(r.term) if r.term in self.terms
                                    else const_row if r.term == "constant" else None)
                            if row0 is not None:
                                put(row0, col, r.coef, r.se, r.t, p, r.omitted)
                        st = self.paper_stats.loc[(self.paper_stats.panel == panel)
                                                  & (self.paper_stats.column == column)]
                        if len(st):
                            body.loc[const_row + 2, col] = f"{int(st.nobs.iloc[0]):,}"
                            body.loc[const_row + 3, col] = f"{st.r2.iloc[0]:.3f}"
                        continue
                    key = f"{panel} {column}".strip()
                    if key in self.skipped:
                        body.loc[base, col] = "skipped"
                        continue
                    estimator = "twfe" if src == "TWFE" else "imputation"
                    rows = est.loc[(est.panel == panel) & (est.column == column) & (est.estimator == estimator)]
                    if rows.empty:
                        continue
                    for _, r in rows.iterrows():
                        if r.term in self.terms:
                            t = np.nan if degenerate(r.coef, r.se) else r.coef / r.se
                            put(base + 2 * self.terms.index(r.term), col, r.coef, r.se, t, r.p_value,
                                bool(r.omitted))
                    first = rows.iloc[0]
                    if np.isfinite(first.constant):
                        body.loc[const_row, col] = fmt.format(first.constant)
                    body.loc[const_row + 2, col] = f"{int(first.nobs):,}"
                    if np.isfinite(first.r2):
                        body.loc[const_row + 3, col] = f"{first.r2:.3f}"
        marks = {"Firm FE": "firm", "Year FE": "year", "Region FE": "region", "Region x year FE": "region^year"}
        for j, key in enumerate(marks.values()):
            for col in columns:
                body.loc[tail + j, col] = "yes" if key in self.fixed_effects else ""
        for col in columns:
            body.loc[tail + 4, col] = "yes" if "controls" in self.fixed_effects else ""
            body.loc[tail + 5, col] = self.vcov if col[1] != "paper" else ""
        body.index = pd.Index(labels)
        return body

    def notes(self, inner: str = "se") -> str:
        """The notes printed under the table: conventions and skipped cells."""
        inside = "standard errors" if inner == "se" else "t statistics"
        lines = [f"Our {inside} in parentheses, {self.vcov}; the paper prints t statistics"
                 + (" (shown as implied standard errors |coef/t|)" if inner == "se" else "") + ". "
                 "* p < 0.1, ** p < 0.05, *** p < 0.01 (ours: t with G-1 degrees of freedom, G clusters; the "
                 "paper's: normal). Our constant is reghdfe's (mean of y - Xb on the estimation sample); the "
                 "paper's R-sq includes the fixed effects, as ours.",
                 *self.notes_extra]
        for key, reason in self.skipped.items():
            lines.append(f"{key} skipped: {reason}")
        return "\n".join(lines)



def _twfe_rows(data: pd.DataFrame, outcome: str, regressors: dict, fe: Sequence[str], vcov: Vcov,
               omitted: Sequence[str] = ()) -> tuple[list[dict], object]:
    """TWFE of ``outcome`` on ``regressors`` ({term: column}); one row per term with reghdfe's constant and R-sq.

    Terms in ``omitted`` (and any the fit drops as collinear) get ``omitted=True``.
    """
    columns = [c for t, c in regressors.items() if t not in omitted]
    fit = _feols(data, outcome, columns, fe, vcov)
    coef, se = fit.coef(), fit.se()
    g = _n_clusters(fit, data, vcov)
    used = np.ones(len(data), dtype=bool)
    used[np.fromiter(getattr(fit, "_na_index", None) or (), dtype=np.int64)] = False  # singletons
    kept = [str(c) for c in coef.index]
    constant = float(data[outcome].to_numpy(dtype=float)[used].mean()
                     - data[kept].to_numpy(dtype=float)[used].mean(axis=0) @ coef.to_numpy(dtype=float))
    rows = []
    for term, column in regressors.items():
        dropped = term in omitted or column not in coef.index
        c = 0.0 if dropped else float(coef[column])
        s = np.nan if dropped else float(se[column])
        p = np.nan if dropped or degenerate(c, s) else float(2 * stats.t.sf(abs(c / s), fit._df_t))
        rows.append({"estimator": "twfe", "term": term, "coef": c, "se": s, "p_value": p, "omitted": dropped,
                     "nobs": int(fit._N), "n_clusters": g, "r2": float(fit._r2), "constant": constant})
    return rows, fit


def _grouped_spec(table: int, specification: str | None, unit: str, time: str,
                  region: str) -> tuple[Specification, tuple, tuple]:
    name = specification or ("m2" if table == 20 else "m1")
    if name not in SPECIFICATIONS:
        raise KeyError(f"table{table}: unknown specification {name!r}; known: {', '.join(SPECIFICATIONS)}")
    spec = SPECIFICATIONS[name]
    fe = spec.fixed_effects(unit, time, region)
    marks = ("firm", "region^year") if spec.region_by_year else ("firm", "year", "region")
    return spec, fe, marks + (("controls",) if spec.controls else ())


def heterogeneity_table(data: pd.DataFrame, table: int = 19, outcome: str = "ln_tfp", variable: str | None = None,
                        periods: Sequence[int] = (1, 2, 3, 4, 5), specification: str | None = None,
                        treatment: str = "sez", region: str = "city", vcov: str | dict | None = None,
                        eg: str = "eg_city", unit: str = "firm_id", time: str = "year",
                        estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "drop",
                        tol: float = 1e-10, **old) -> GroupedTable:
    """The paper's Tables 19-20: the effect of entry by quintile of TFP k years before entry, k = 1..5.

    For each k (panel ``Pre<k>``), firms are cut into quintiles of
    ``variable`` in the calendar year k years before their entry
    (:func:`pre_period_quintile` with ``basis="pre<k>"``) and the DiD is run
    on each quintile's firms separately, by TWFE (with reghdfe's constant and
    R-sq) and by the imputation estimator.

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table with the outcome, treatment, region and, for Table 20,
        the columns :func:`paper_controls` builds the controls from.
    table : {19, 20}
        19: no controls; 20: with the firm controls of ``specification``.
    variable : str, optional
        The pre-entry variable classified (the outcome by default: the paper's
        log TFP).
    periods : sequence of int
        The k of the panels (the paper: 1 to 5).
    specification : str, optional
        Fixed effects and controls from ``SPECIFICATIONS``: ``"m1"`` (firm,
        year and region effects) for Table 19 and ``"m2"`` (the same with the
        controls of m2) for Table 20 by default; the paper names neither (its
        notes are those of Table 16), its constant and the sample sizes
        suggest these.
    on_reversal : {"drop", "error"}
        Firms leaving a zone after entering it.

    Returns
    -------
    GroupedTable
        A quintile whose sample cannot identify the effect is listed in
        ``skipped`` with the reason; ``counts[panel]`` holds the
        classification counts of :func:`pre_period_quintile` (firms never
        treated, treated from their first year, or unobserved k years before
        entry are not classified, so each quintile's DiD compares treated
        firms entering at different times).

    Raises
    ------
    KeyError
        A column is missing (named in the message).

    Notes
    -----
    Classifying firms on the outcome's own value k years before entry puts
    that year's transitory shock into the classification: firms in the bottom
    quintile had, on average, a bad draw in a pre-entry year, which lowers
    their pre-entry mean, so their estimated effect is too large (regression
    to the mean), and the top quintile's too small, even when the effect is
    the same for all firms. The distortion is largest at k = 1 and fades as k
    grows. On a simulated panel with a constant effect of 0.1 (3,000 firms,
    12 years, noise s.d. 0.3) the imputation estimates by Pre1 quintile ran
    from 0.18 (bottom) to 0.02 (top), by Pre5 quintile between 0.06 and 0.12
    with no gradient; the paper's Table 19 shows the same pattern (a gradient
    of 1.415 to 0.487 at Pre1, 0.893 to 0.779 at Pre5). Classifying on a
    variable without the outcome's transitory noise (``variable``) avoids it.
    """
    func = f"table{table}"
    renamed_keywords(old, RENAMED, func)
    if table not in (19, 20):
        raise ValueError(f"heterogeneity_table: table must be 19 or 20, got {table!r}")
    variable = variable or outcome
    vcov = resolve_vcov(vcov, unit, func, *_vcov_support(estimators))
    require_columns(data, [unit, time, outcome, treatment, region, *vcov.cluster, variable], func)
    spec, fe, marks = _grouped_spec(table, specification, unit, time, region)
    sample, unavailable = paper_controls(data, list(spec.controls), eg=eg, unit=unit, time=time)
    missing = [unavailable[c] for c in spec.controls if c in unavailable]
    if missing:
        raise KeyError(f"{func}: specification {spec.name}: " + "; ".join(missing))
    controls = list(spec.controls)
    rows, skipped, counts, fits = [], {}, {}, {}
    panels = tuple(f"Pre{k}" for k in periods)
    for k, panel_name in zip(periods, panels):
        q = pre_period_quintile(sample, variable, treatment, unit, time, basis=f"pre{k}")
        counts[panel_name] = q.attrs["counts"]
        for level, column in enumerate(QUINTILE_COLUMNS, start=1):
            sub = sample.loc[(q == level).fillna(False).to_numpy(dtype=bool)]
            key = f"{panel_name} {column}"
            try:
                if len(sub) == 0:
                    raise DidDataError("no firm in this quintile")
                prepared, c = _prepare(sub, outcome, treatment, fe, controls, vcov, unit, time, func)
                prepared, _ = _handle_reversals(prepared, treatment, unit, time, on_reversal, func, c, False)
                _check_variation(prepared, treatment, func)
                prepared["_treated"] = prepared[treatment].to_numpy(dtype=float)
                out = []
                if "twfe" in estimators:
                    r, fit = _twfe_rows(prepared, outcome, {"sez": "_treated", **{x: x for x in controls}}, fe,
                                        vcov)
                    out += r
                    fits[key] = {"twfe": fit}
                if "imputation" in estimators:
                    res = imputation(prepared, outcome, treatment=treatment, fe=fe, controls=controls, vcov=vcov.spec,
                                     unit=unit, time=time, on_reversal="error", tol=tol)
                    fits.setdefault(key, {})["imputation"] = res
                    out.append({"estimator": "imputation", "term": "sez", "coef": res.coef, "se": res.se,
                                "p_value": float(res.pvalues.iloc[0]), "omitted": False, "nobs": res.nobs,
                                "n_clusters": res.n_clusters, "r2": np.nan, "constant": np.nan})
                rows += [{"panel": panel_name, "column": column, **r} for r in out]
            except (DidDataError, RuntimeError) as err:
                skipped[key] = str(err)
    paper, paper_stats = _paper_grouped(table)
    paper = paper.loc[paper.panel.isin(panels)].reset_index(drop=True)
    paper_stats = paper_stats.loc[paper_stats.panel.isin(panels)].reset_index(drop=True)
    notes = (f"Columns: quintiles of {variable} k years before entry (Pre<k>), cut over the classified firms; "
             "each quintile estimated on its own firms (treated firms only: not-yet-treated firms are the "
             "controls).",
             f"Specification {spec.name}: fixed effects {', '.join(fe)}; controls "
             f"{', '.join(controls) or 'none'} (the paper does not name Table {table}'s).",
             "Imputation: Borusyak, Jaravel and Spiess (2024); where it differs from TWFE the effects differ by "
             "entry cohort or time since entry within the quintile.",
             "Classifying on the outcome's own pre-entry value adds regression to the mean (larger effects in "
             "low quintiles, smaller in high ones, most at Pre1); see heterogeneity_table.")
    estimates = pd.DataFrame(rows, columns=["panel", "column", "estimator", "term", "coef", "se", "p_value",
                                            "omitted", "nobs", "n_clusters", "r2", "constant"])
    return GroupedTable(table, outcome, panels, QUINTILE_COLUMNS, ("sez",), estimates, paper, paper_stats, marks,
                        str(vcov), skipped, notes, counts, fits)


def table19(data: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> GroupedTable:
    """The paper's Table 19 (effects by pre-entry TFP quintile); see :func:`heterogeneity_table`."""
    return heterogeneity_table(data, 19, outcome, **kwargs)


def table20(data: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> GroupedTable:
    """The paper's Table 20 (Table 19 with firm controls); see :func:`heterogeneity_table`."""
    return heterogeneity_table(data, 20, outcome, **kwargs)


@renamed(panel="data")
def high_agglomeration(data: pd.DataFrame, eg: str = "eg_city") -> pd.Series:
    """The paper's EG^H_irt: 1 where the EG index is above its median over the full sample, else 0.

    The median is over every firm-year with a finite index (the paper: "above
    the median of the full sample"); rows without one are NaN. The median is
    in ``attrs["median"]``.
    """
    require_columns(data, [eg], "high_agglomeration")
    level = pd.to_numeric(data[eg], errors="coerce").astype(float)
    median = float(level.median())
    out = pd.Series(np.where(level.notna(), (level > median).astype(float), np.nan), index=data.index,
                    name="high_eg")
    out.attrs["median"] = median
    return out


def moderation_table(data: pd.DataFrame, table: int = 31, outcome: str = "ln_tfp", moderator: str | None = None,
                     eg: str = "eg_city", group=None, specification: str = "m1", post: str | None = None,
                     main_effect: bool = False, treatment: str = "sez", region: str = "city",
                     vcov: str | dict | None = None, unit: str = "firm_id", time: str = "year",
                     estimators: Sequence[str] = ("twfe", "imputation"), on_reversal: str = "drop",
                     tol: float = 1e-10, **old) -> GroupedTable:
    """The paper's Tables 31-32: triple differences with an agglomeration moderator (its eqs. 14-15).

    TWFE regresses the outcome on ``D_it``, ``D_it x M``, ``treat_i x M`` and
    ``post_it x M`` with the fixed effects of ``specification`` (m1: firm,
    year and region effects, as eqs. 14-15), where ``treat_i`` is one for
    firms that ever enter a zone and ``post_it`` one from a firm's entry year
    on. M is the high-agglomeration indicator (Table 31,
    :func:`high_agglomeration`) or log EG (Table 32).

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table with the outcome, treatment, region and ``eg`` (or
        ``moderator``).
    table : {31, 32}
        31: M = 1[EG above its full-sample median], one column per quintile
        of TFP one year before entry; 32: M = ln EG, one column (m1).
    moderator : str, optional
        A column to use as M instead of the one built from ``eg``.
    eg : str
        Column with the level of EG_irt (:func:`eg_mediator`).
    group : str, pandas.Series or None, optional
        Columns of the table: a column name or a Series of group labels
        (e.g. :func:`pre_period_quintile`). Table 31 defaults to the quintiles
        of the outcome one year before entry (``basis="pre1"``, the paper's
        note); Table 32 to the full sample.
    specification : str
        Fixed effects from ``SPECIFICATIONS`` (its controls are not added).
    post : str, optional
        Column with ``post_it``; by default one from the firm's first
        treated year on (zero for never-treated firms). With an absorbing
        treatment that ``post_it`` equals ``D_it``, so ``post_it x M`` is the
        same column as ``D_it x M`` and is reported as omitted, as the
        paper's Table 31 prints ``time_ag`` (its Table 32 estimates it, so its
        ``post`` must differ from the treatment there; pass that column).
    main_effect : bool
        Add M itself (the paper's equations leave it out; with it the
        design is the textbook triple difference).
    on_reversal : {"drop", "error"}
        Firms leaving a zone after entering it.

    Returns
    -------
    GroupedTable
        TWFE and imputation estimates of the ``SEZ`` and ``SEZ x M`` rows
        (TWFE alone for the ``treat x M`` and ``post x M`` rows), the paper's
        printed numbers beside them.

    Raises
    ------
    KeyError
        A column is missing (named in the message).

    Notes
    -----
    The imputation estimator (Borusyak, Jaravel and Spiess, 2024) handles the
    moderator, binary or continuous, through the weights of its estimand:
    fixed effects and ``treat_i x M`` (and M with ``main_effect``) are fitted
    on untreated firm-years, each treated firm-year's effect ``tau_it`` is
    imputed, and ``tau_it`` is projected on ``(1, M_it)`` over the treated
    firm-years. The intercept (the ``SEZ`` row: the effect at M = 0) and the
    slope (the ``SEZ x M`` row) are linear in the outcomes, so their standard
    errors follow from the same analytic formula (treated residuals: ``tau``
    minus the projection, minus its (cohort, event time) means). With a 0/1
    M the slope is the difference of the average effects at M = 1 and M = 0.
    The TWFE coefficients agree with them when the effect is constant within
    each level of M (binary) or linear in M and the same for all entry
    cohorts; otherwise TWFE weights the firm-year effects by its regression
    weights (which can be negative under staggered entry) and the imputation
    projection is the one with a causal reading. ``treat_i x M`` and
    ``post_it x M`` have no imputation counterpart (their cells are blank).
    Agglomeration may itself respond to entry (the paper's mediation
    analysis says it does), in which case neither estimator's ``SEZ x M``
    is a causal moderation: it describes how the effect covaries with M.
    """
    func = f"table{table}"
    renamed_keywords(old, RENAMED, func)
    if table not in (31, 32):
        raise ValueError(f"moderation_table: table must be 31 or 32, got {table!r}")
    vcov = resolve_vcov(vcov, unit, func, *_vcov_support(estimators))
    needed = [unit, time, outcome, treatment, region, *vcov.cluster, moderator or eg]
    if isinstance(group, str):
        needed.append(group)
    if post is not None:
        needed.append(post)
    require_columns(data, needed, func)
    spec, fe, marks = _grouped_spec(table, specification, unit, time, region)
    marks = tuple(m for m in marks if m != "controls")
    sample = data.copy()
    if moderator is None:
        m = high_agglomeration(data, eg) if table == 31 else pd.Series(_log_positive(data[eg]), index=data.index)
        moderator_name = "High_EG" if table == 31 else "lnEG"
        sample["_moderator"] = m.to_numpy(dtype=float)
    else:
        moderator_name = moderator
        sample["_moderator"] = pd.to_numeric(data[moderator], errors="coerce").to_numpy(dtype=float)
    if group is None and table == 31:
        group = pre_period_quintile(data, outcome, treatment, unit, time, basis="pre1")
    counts = {}
    if group is None:
        labels = pd.Series("m1", index=data.index)
        columns = ("m1",)
        panel_names = ("",)
    else:
        labels = data[group] if isinstance(group, str) else pd.Series(group, index=data.index)
        if isinstance(labels, pd.Series) and "counts" in labels.attrs:
            counts["classification"] = labels.attrs["counts"]
        levels = sorted(labels.dropna().unique())
        if not levels:
            raise DidDataError(f"{func}: the group is missing in every row")
        names = QUINTILE_COLUMNS if len(levels) == 5 and table == 31 and list(levels) == [1, 2, 3, 4, 5] else \
            tuple(str(_plain(v)) for v in levels)
        labels = labels.map(dict(zip(levels, names)))
        columns = names
        panel_names = ("Pre1",) if table == 31 and group is not None else ("",)
    extra = ["_moderator"] + ([post] if post is not None else [])
    rows, skipped, fits = [], {}, {}
    for column in columns:
        key = f"{panel_names[0]} {column}".strip()
        sub = sample.loc[(labels == column).fillna(False).to_numpy(dtype=bool)]
        try:
            if len(sub) == 0:
                raise DidDataError("no observation in this group")
            prepared, c = _prepare(sub, outcome, treatment, fe, ["_moderator"], vcov, unit, time, func,
                                   extra=extra)
            prepared, timing = _handle_reversals(prepared, treatment, unit, time, on_reversal, func, c, False)
            _check_variation(prepared, treatment, func)
            prepared = prepared.reset_index(drop=True)
            counts[key] = c
            mod = prepared["_moderator"].to_numpy(dtype=float)
            d = prepared[treatment].to_numpy(dtype=float)
            first = prepared[unit].map(timing.first_treated).to_numpy(dtype=float)
            treat_i = np.isfinite(first).astype(float)
            post_it = (prepared[time].to_numpy(dtype=float) >= first).astype(float) if post is None else \
                _as_treatment(prepared[post], post, func).astype(float)
            prepared["_treated"], prepared["_sez_x_m"] = d, d * mod
            prepared["_treat_x_m"], prepared["_post_x_m"] = treat_i * mod, post_it * mod
            regressors = {"sez_x_m": "_sez_x_m", "sez": "_treated", "treat_x_m": "_treat_x_m",
                          "post_x_m": "_post_x_m"} if table == 31 else \
                {"sez": "_treated", "sez_x_m": "_sez_x_m", "treat_x_m": "_treat_x_m", "post_x_m": "_post_x_m"}
            if main_effect:
                regressors["m"] = "_moderator"
            omitted = ["post_x_m"] if np.allclose(prepared["_post_x_m"], prepared["_sez_x_m"]) else []
            out = []
            if "twfe" in estimators:
                r, fit = _twfe_rows(prepared, outcome, regressors, fe, vcov, omitted)
                out += r
                fits[key] = {"twfe": fit}
            if "imputation" in estimators:
                out += _moderated_imputation(prepared, outcome, treatment, fe, vcov, time, first, main_effect,
                                              tol)
            rows += [{"panel": panel_names[0], "column": column, **r} for r in out]
        except (DidDataError, RuntimeError) as err:
            skipped[key] = str(err)
    paper, paper_stats = _paper_grouped(table)
    if list(columns) != list(paper_stats.column.unique()):
        paper = paper.iloc[0:0]
        paper_stats = paper_stats.iloc[0:0]
        counts["paper numbers"] = "not shown: the columns differ from the paper's"
    terms = (("sez_x_m", "sez", "treat_x_m", "post_x_m") if table == 31 else
             ("sez", "sez_x_m", "treat_x_m", "post_x_m")) + (("m",) if main_effect else ())
    estimates = pd.DataFrame(rows, columns=["panel", "column", "estimator", "term", "coef", "se", "p_value",
                                            "omitted", "nobs", "n_clusters", "r2", "constant"])
    notes = (f"M = {moderator_name}" + (f" (1 where {eg} is above its full-sample median)"
                                        if moderator is None and table == 31 else "")
             + "; Treat: firm ever enters a zone; Post: from the firm's entry year on"
             + (f" (column {post})" if post else "") + f". Fixed effects: {', '.join(fe)}.",
             "Omitted rows (0 and (.)): collinear with the other regressors; Post x M equals SEZ x M when Post "
             "is the absorbing treatment itself.",
             "Imputation (Borusyak, Jaravel and Spiess, 2024): the imputed effects tau_it projected on (1, M) over "
             "the treated firm-years; SEZ row: the intercept (effect at M = 0); SEZ x M row: the slope. Treat x M "
             "and Post x M have no imputation counterpart.",
             "Agglomeration may respond to entry (the paper's mediation tables): SEZ x M then describes how the "
             "effect covaries with M rather than a causal moderation.")
    return GroupedTable(table, outcome, panel_names, tuple(columns), terms, estimates,
                        paper.reset_index(drop=True), paper_stats.reset_index(drop=True), marks, str(vcov), skipped,
                        notes, counts, fits)


def table31(data: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> GroupedTable:
    """The paper's Table 31 (high-agglomeration moderator by Pre1 quintile); see :func:`moderation_table`."""
    return moderation_table(data, 31, outcome, **kwargs)


def table32(data: pd.DataFrame, outcome: str = "ln_tfp", **kwargs) -> GroupedTable:
    """The paper's Table 32 (lnEG moderator, m1); see :func:`moderation_table`."""
    return moderation_table(data, 32, outcome, **kwargs)
