"""Tables: the papers' layouts and regression tables, rendered as text, HTML, Markdown, escaped LaTeX and CSV.

A layout table (the papers' Tables 16-20 and 31-32, :func:`etable`'s regression
tables, and any other built the same way) provides ``title``, ``layout(inner)``
(a DataFrame of formatted cells) and ``notes(inner)``; :class:`LayoutTable`
derives every rendering from them, so the formats cannot drift apart. The
numbers behind the formatted cells travel separately, as a tidy frame of
numeric columns (:meth:`RegressionTable.tidy`, :func:`tidy_frame`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .results import TIDY_COLUMNS, degenerate, parse_vcov

__all__ = ["DEFAULT_STARS", "LayoutTable", "RegressionTable", "etable", "latex_escape", "markdown_escape",
           "tidy_frame"]

_LATEX_SPECIALS = (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                   ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}"),
                   ("<", r"$<$"), (">", r"$>$"))


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (so that ``firm_id`` compiles)."""
    out = []
    for ch in str(text):
        for special, escaped in _LATEX_SPECIALS:
            if ch == special:
                out.append(escaped)
                break
        else:
            out.append(ch)
    return "".join(out)


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>|])")


def markdown_escape(text: str) -> str:
    """``text`` with Markdown's special characters backslash-escaped (so that ``0.12***`` shows its stars
    and a ``|`` does not split a table cell).
    """
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text))


def _one_header(columns: pd.MultiIndex) -> list[str]:
    """A two-level header as one row: the levels of each column joined by a space (``m1 TWFE``)."""
    return [" ".join(str(level) for level in column if str(level)) for column in columns]


class LayoutTable:
    """Renderings of a layout table: text ``summary``, ``to_csv``, ``to_html``, ``to_markdown``, ``to_latex``.

    Subclasses define ``title`` (a string), ``layout(inner)`` and ``notes(inner)``; ``inner`` (``"se"`` or
    ``"t"``, what the parentheses hold) defaults to the table's own ``inner``.
    """

    inner = "se"

    def _parts(self, inner: str | None) -> tuple[pd.DataFrame, str]:
        """The layout and the notes (on one line) for ``inner``, the table's own where None."""
        inner = self.inner if inner is None else inner
        return self.layout(inner), " ".join(self.notes(inner).splitlines())

    def summary(self, inner: str | None = None) -> str:
        """Title, the layout as text, and the notes."""
        inner = self.inner if inner is None else inner
        with pd.option_context("display.width", 250, "display.max_columns", None):
            return "\n".join([self.title, self.layout(inner).to_string(), self.notes(inner)])

    def __str__(self) -> str:
        return self.summary()

    def to_csv(self, path=None, inner: str | None = None):
        """The layout as CSV (to ``path``, or returned as a string)."""
        return self._parts(inner)[0].to_csv(path)

    def to_html(self, inner: str | None = None) -> str:
        """The layout as an HTML table under its title, the notes as paragraphs."""
        inner = self.inner if inner is None else inner
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes(inner).splitlines())
        return (f"<h3>{html.escape(self.title)}</h3>\n" + self.layout(inner).to_html(classes="did-table")
                + f"\n{notes}")

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_markdown(self, inner: str | None = None) -> str:
        """The layout as a Markdown (pipe) table under its title in bold, every cell and label escaped."""
        body, notes = self._parts(inner)
        if isinstance(body.columns, pd.MultiIndex):  # Markdown has one header row
            body.columns = _one_header(body.columns)
        body = body.rename(index=markdown_escape, columns=markdown_escape).map(markdown_escape)
        return f"**{markdown_escape(self.title)}**\n\n{body.to_markdown()}\n\n{markdown_escape(notes)}\n"

    def to_latex(self, inner: str | None = None) -> str:
        """The layout as a LaTeX tabular (booktabs rules), every cell, label and note escaped."""
        body, notes = self._parts(inner)
        body = body.rename(index=latex_escape, columns=latex_escape).map(latex_escape)
        tabular = body.to_latex(multicolumn=True, multicolumn_format="c", escape=False)
        return f"% {self.title}\n" + tabular + f"\\par\\footnotesize {latex_escape(notes)}\n"


# --------------------------------------------------------------------------- regression tables

#: Stars of :func:`etable` by default, as in the papers and Stata's ``esttab``: p-value threshold -> symbol.
DEFAULT_STARS = {0.01: "***", 0.05: "**", 0.1: "*"}

#: Model-level rows of :func:`etable`: the attribute read from each result (``getattr``; empty where a result
#: lacks it) -> the row's label. ``nobs`` is part of the results protocol; the others are optional.
_MODEL_STATISTICS = {"nobs": "Observations", "r2": "R-squared", "r2_within": "Within R-squared",
                     "pseudo_r2": "Pseudo R-squared", "n_clusters": "Clusters"}


def _term_name(term) -> str:
    """A term as one string: the levels of a (group, term) or (estimator, event time) index joined by ': '."""
    return ": ".join(map(str, term)) if isinstance(term, tuple) else str(term)


def _number(value) -> float | None:
    """``value`` as a float, or None where a result has no such number."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _fixed_effects(result) -> tuple[str, ...] | None:
    """The absorbed fixed effects (``fixed_effects``, or a probit's ``fe``); None where a result does not say."""
    for name in ("fixed_effects", "fe"):
        value = getattr(result, name, None)
        if value is not None and not callable(value):
            return (value,) if isinstance(value, str) else tuple(value)
    return None


def _vcov_text(result) -> str:
    """The standard errors in words (``clustered by firm_id``); empty where a result does not say."""
    vcov = getattr(result, "vcov", None)
    if vcov is None or callable(vcov):
        return ""
    try:
        return str(parse_vcov(vcov, "etable", max_clusters=2))
    except ValueError:  # a kind sez's spelling does not know (e.g. a bootstrap): as the result spells it
        return str(vcov)


def _check_stars(stars) -> dict[float, str]:
    if stars is True:
        return dict(DEFAULT_STARS)
    if stars is False or stars is None:
        return {}
    if not isinstance(stars, Mapping) or not all(
            isinstance(p, (int, float)) and 0 < p < 1 and isinstance(s, str) for p, s in stars.items()):
        raise ValueError(f"etable: stars must be True, False or a mapping of p-value thresholds in (0, 1) to "
                         f"symbols, e.g. {DEFAULT_STARS}; got {stars!r}")
    return dict(sorted(stars.items()))


class RegressionTable(LayoutTable):
    """Regression results side by side, models as columns (made by :func:`etable`).

    Renderings: ``summary()`` (text, also ``str``), ``to_html()``, ``to_markdown()``, ``to_latex()``
    (from :class:`LayoutTable`); ``layout(inner)`` is the grid of formatted cells; ``tidy()`` the numbers,
    one row per model and term; ``to_csv(path)`` writes ``tidy()``, numbers only, for Stata and R.
    """

    def __init__(self, results: Sequence, titles: Sequence[str], labels: Mapping[str, str], terms: list[str],
                 inner: str, stars: dict[float, str], digits: int, alpha: float, title: str):
        self.results, self.titles, self.labels, self.terms = list(results), list(titles), dict(labels), terms
        self.inner, self.stars, self.digits, self.alpha, self.title = inner, stars, digits, alpha, title

    def _star(self, estimate: float, std_err: float, p_value: float) -> str:
        """The symbol of the smallest threshold above ``p_value``; none on a degenerate standard error."""
        if degenerate(estimate, std_err) or not np.isfinite(p_value):
            return ""
        return next((symbol for threshold, symbol in self.stars.items() if p_value < threshold), "")

    def _model_tidy(self, result) -> pd.DataFrame:
        """One model's ``tidy()`` on string terms, in the table's term order."""
        frame = result.tidy(self.alpha)
        frame.index = [_term_name(t) for t in frame.index]
        return frame.reindex([t for t in self.terms if t in frame.index])[list(TIDY_COLUMNS)]

    def _model_rows(self) -> dict[str, list]:
        """Fixed-effect, statistic and vcov rows: label -> one value per model (None where a model lacks it)."""
        effects = [_fixed_effects(r) for r in self.results]
        rows = {}
        for fe in dict.fromkeys(f for found in effects if found for f in found):
            rows[f"{self.labels.get(fe, fe)} fixed effects"] = [None if found is None else "Yes" if fe in found
                                                                else "No" for found in effects]
        for attribute, label in _MODEL_STATISTICS.items():
            rows[label] = [_number(getattr(r, attribute, None)) for r in self.results]
        rows["Standard errors"] = [_vcov_text(r) or None for r in self.results]
        return {label: values for label, values in rows.items() if any(v is not None for v in values)}

    def layout(self, inner: str | None = None) -> pd.DataFrame:
        """The grid of formatted cells: each term's estimate with stars and ``(se)`` or ``(t)`` below, then
        the fixed effects, observations, R-squared, pseudo R-squared, clusters and standard errors.
        """
        inner = self.inner if inner is None else _check_inner(inner)
        fmt = f"{{:.{self.digits}f}}".format
        labels = [label for term in self.terms for label in (self.labels.get(term, term), "")]
        body = pd.DataFrame("", index=range(len(labels)), columns=self.titles)
        for title, result in zip(self.titles, self.results):
            frame = self._model_tidy(result)
            for position, term in enumerate(self.terms):
                if term not in frame.index or not np.isfinite(frame.loc[term, "estimate"]):
                    continue
                estimate, std_err, statistic, p_value = frame.loc[term, ["estimate", "std_err", "statistic",
                                                                           "p_value"]]
                body.loc[2 * position, title] = fmt(estimate) + self._star(estimate, std_err, p_value)
                below = std_err if inner == "se" else statistic
                body.loc[2 * position + 1, title] = f"({fmt(below)})" if np.isfinite(below) else ""
        body.index = pd.Index(labels)
        extra = self._model_rows()
        counts = {"Observations", "Clusters"}
        footer = pd.DataFrame(
            [["" if v is None else f"{int(v):,}" if label in counts else fmt(v) if isinstance(v, float) else v
              for v in values] for label, values in extra.items()],
            index=pd.Index(list(extra)), columns=self.titles)
        return pd.concat([body, footer])

    def notes(self, inner: str | None = None) -> str:
        """Below the table: what the parentheses hold and what the stars mean."""
        inner = self.inner if inner is None else _check_inner(inner)
        kinds = sorted({getattr(r, "statistic_name", "t") for r in self.results})
        inside = "Standard errors" if inner == "se" else f"{' or '.join(kinds)} statistics"
        stars = ", ".join(f"{s} p < {p:g}" for p, s in sorted(self.stars.items(), reverse=True))
        return (f"{inside} in parentheses."
                + (f" {stars}; no stars where the standard error is degenerate." if stars else ""))

    def tidy(self) -> pd.DataFrame:
        """One row per model and term: ``model, term, estimate, std_err, statistic, p_value, conf_low,
        conf_high`` and the model's ``nobs, r2, r2_within, pseudo_r2, n_clusters`` (numbers, NaN where a
        model lacks one), ``fixed_effects`` and ``vcov`` (text).
        """
        parts = []
        for title, result in zip(self.titles, self.results):
            frame = self._model_tidy(result).rename_axis("term").reset_index()
            frame.insert(0, "model", title)
            for attribute in _MODEL_STATISTICS:
                frame[attribute] = _number(getattr(result, attribute, None))
            effects = _fixed_effects(result)
            frame["fixed_effects"] = None if effects is None else " + ".join(effects)
            frame["vcov"] = _vcov_text(result) or None
            parts.append(frame)
        out = pd.concat(parts, ignore_index=True)
        return out.astype({c: float for c in (*TIDY_COLUMNS, *_MODEL_STATISTICS)})

    def to_csv(self, path=None, inner: str | None = None):
        """The tidy numbers (:meth:`tidy`) as CSV, to ``path`` or returned as a string: one header row, numbers
        in full precision, missing values empty, as Stata's ``import delimited`` and R's ``read.csv`` read them.
        ``layout().to_csv()`` gives the formatted grid instead.
        """
        return self.tidy().to_csv(path, index=False)


def _check_inner(inner: str) -> str:
    if inner not in ("se", "t"):
        raise ValueError(f"etable: inner must be 'se' (standard errors) or 't' (t or z statistics), got {inner!r}")
    return inner


def etable(results, *, titles: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
           keep: Sequence[str] | None = None, order: Sequence[str] | None = None, inner: str = "se",
           stars: bool | Mapping[float, str] = True, digits: int = 3, alpha: float = 0.05,
           title: str = "Regression results") -> RegressionTable:
    """Regression results side by side, as fixest's ``etable`` and Stata's ``esttab`` show them.

    Parameters
    ----------
    results : sequence of results objects (or one)
        Anything following the results protocol of :mod:`sez.results` (``params``, ``bse``, ``tidy()``,
        ``nobs``): :func:`sez.probit.probit`, :func:`sez.did.twfe`, ``imputation``, ``event_study``,
        ``mediation``, :func:`sez.tfp.estimate`. Terms indexed by several levels (an event study's
        estimator and event time, TFP's group and term) are named with the levels joined by ``": "``.
    titles : sequence of str, optional
        Column titles, one per model (unique); default ``(1)``, ``(2)``, ...
    labels : mapping, optional
        Display names of terms and fixed effects, e.g. ``{"sez": "SEZ", "firm_id": "Firm"}``.
    keep : str or sequence of str, optional
        Show only these terms (names as in ``params``), in this order.
    order : str or sequence of str, optional
        These terms first, then the rest in the order the models give them.
    inner : {"se", "t"}
        Standard errors or t (z) statistics in parentheses below the estimates.
    stars : bool or mapping
        ``True``: ``*** p<0.01, ** p<0.05, * p<0.1`` (:data:`DEFAULT_STARS`); a mapping of thresholds to
        symbols for others; ``False`` for none. A degenerate standard error (:func:`sez.results.degenerate`,
        ``sez.limits.DEGENERATE_SE``) never gets stars.
    digits : int
        Decimals of the formatted cells (the tidy numbers are exact).
    alpha : float
        ``tidy()``'s confidence intervals are at level ``1 - alpha``.
    title : str
        Shown above the table.

    Returns
    -------
    RegressionTable
        ``summary()`` (text), ``to_html()``, ``to_markdown()``, ``to_latex()`` (booktabs rules, every
        cell escaped), ``tidy()`` and ``to_csv()`` (the numbers).

    Notes
    -----
    Below the coefficients come rows read from each result where it has them (``getattr``; the cell is
    empty where it does not): fixed effects (``fixed_effects``, or a probit's ``fe``), observations
    (``nobs``), ``r2``, ``r2_within``, ``pseudo_r2``, ``n_clusters`` and the standard errors (``vcov``).
    """
    if not isinstance(results, Sequence):
        results = [results]
    if not results:
        raise ValueError("etable: no results given; pass a list of fitted results")
    titles = [f"({i + 1})" for i in range(len(results))] if titles is None else [str(t) for t in titles]
    if len(titles) != len(results) or len(set(titles)) != len(titles):
        raise ValueError(f"etable: titles must be {len(results)} unique names, one per model; got {titles!r}")
    keep, order = ([names] if isinstance(names, str) else names for names in (keep, order))  # one term alone
    found = list(dict.fromkeys(_term_name(t) for r in results for t in r.params.index))
    for argument, names in (("keep", keep), ("order", order)):
        missing = [n for n in (names or ()) if n not in found]
        if missing:
            raise ValueError(f"etable: {argument} names terms no model has: {missing}; the terms are {found}")
    terms = list(keep) if keep is not None else list(dict.fromkeys([*(order or ()), *found]))
    return RegressionTable(results, titles, labels or {}, terms, _check_inner(inner), _check_stars(stars),
                           digits, alpha, title)


# --------------------------------------------------------------------------- tidy files

# a formatted number: stars, parentheses or thousands separators around digits ("0.12***", "(3.4)", "1,234")
_FORMATTED_NUMBER = re.compile(r"^\(?[-+]?[\d.,]+(?:e[-+]?\d+)?\)?\**$", re.IGNORECASE)


def tidy_frame(frame: pd.DataFrame, name: str = "table", index: bool = True) -> pd.DataFrame:
    """``frame`` as a tidy file holds it: one header row (a two-level header joined by a space), the row
    labels as a column (``index=True`` and not plain row numbers; named ``row`` where unnamed or taken),
    numbers as numbers, true/false as 1/0.

    Raises a TypeError naming ``name``, the column and a cell where a text column holds formatted numbers
    (stars, parentheses, thousands separators): such a table must be given its numbers separately.
    """
    out = frame.copy()
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = _one_header(out.columns)
    if index and not (isinstance(out.index, pd.RangeIndex) and out.index.name is None):  # row numbers: left out
        names = [n if n is not None and n not in out.columns else "row" if out.index.nlevels == 1 else f"row{i}"
                 for i, n in enumerate(out.index.names)]
        out = out.rename_axis(names).reset_index()
    for column in out.columns:
        present = out[column].dropna()
        if len(present) and present.map(lambda v: isinstance(v, (bool, np.bool_))).all():
            out[column] = out[column].map({True: 1, False: 0})  # 1/0: Stata reads no True/False
    for column in [c for c in out.columns if not pd.api.types.is_numeric_dtype(out[c])]:
        cells = out[column].dropna().astype(str)
        formatted = cells[cells.str.contains(r"[*(),]") & cells.str.match(_FORMATTED_NUMBER)]
        if len(formatted):
            raise TypeError(f"{name}: column {column!r} holds formatted numbers such as {formatted.iloc[0]!r}; "
                            "give the table's numbers as a tidy frame (estimates, standard errors and "
                            "p-values in numeric columns)")
    return out
