"""A self-contained HTML report of tables and figures.

:func:`write_html` turns a list of :class:`Section` objects, each holding
captioned :class:`Table` and :class:`Figure` items, into one HTML page. Tables
are rendered from DataFrames; figures are embedded as base64 PNG (so the page
can be mailed or archived alone) or linked by a path relative to the page.
Every table and figure carries a caption saying what it is and, where the
papers report the same statistic, the papers' numbers (as extra columns of the
table or in the caption's note).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from sez.store import write_atomic

__all__ = ["Table", "Figure", "Section", "write_html"]


@dataclass
class Table:
    """A captioned table.

    Attributes
    ----------
    caption : str
        What the table is (shown above it; also the anchor the tests look for).
    frame : pandas.DataFrame
        The table.
    note : str
        Reading notes and, where the papers report the statistic, their numbers.
    csv : str
        Path of the CSV copy, relative to the report (linked under the table).
    tidy_csv : str
        Path of its numbers as a tidy CSV (``tables/tidy/``), linked beside it.
    """

    caption: str
    frame: pd.DataFrame
    note: str = ""
    csv: str = ""
    tidy_csv: str = ""


@dataclass
class Figure:
    """A captioned figure stored as an image file.

    Attributes
    ----------
    caption : str
        What the figure shows.
    path : str or Path
        The image file (PNG); embedded or linked by :func:`write_html`.
    note : str
        Reading notes.
    """

    caption: str
    path: str | Path
    note: str = ""


@dataclass
class Section:
    """A titled part of the report: an introduction, then tables and figures in order.

    ``status`` is ``"ok"``, ``"failed"`` or ``"skipped"``; a section that did not
    run shows ``error`` instead of (or before) its items.
    """

    title: str
    intro: str = ""
    items: list = field(default_factory=list)
    status: str = "ok"
    seconds: float | None = None
    error: str = ""
    peak_gib: float | None = None  # peak resident memory while the step ran (sampled)


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 78em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table.data { border-collapse: collapse; font-size: .82em; margin: .3em 0 .2em 0; }
table.data th, table.data td { border: 1px solid #ddd; padding: .2em .5em; text-align: right; }
table.data th { background: #f3f3f3; }
table.data td:first-child, table.data th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: .3em 0; font-size: 1.05em; }
.note { font-size: .85em; color: #555; margin: .1em 0 1.2em 0; }
.status-failed { color: #a00; } .status-skipped { color: #a60; } .status-ok { color: #070; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-weight: 600; } pre.error { background: #fff3f3; padding: .5em; overflow-x: auto; font-size: .8em; }
.scroll { overflow-x: auto; }
table.provenance td { text-align: left; }
pre.settings { background: #f7f7f7; padding: .5em; overflow-x: auto; font-size: .8em; }
"""


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _is_year(label) -> bool:
    """Whether a column or row label names a year ("year", "birth_year"; not "firm-years")."""
    text = " ".join(map(str, label if isinstance(label, tuple) else (label,))).lower()
    return "year" in re.split(r"[^a-z]+", text)


def _column_format(values) -> Callable[[float, bool], str]:
    """One number format for a column: whole numbers with thousands separators when every number is whole,
    else fixed decimals chosen from the column's largest magnitude (4 below 1,000, 2 below a million, 0 above),
    or scientific notation when every number is below 0.001 in size.
    """
    finite = [float(v) for v in values if _is_number(v) and np.isfinite(float(v))]
    if finite and all(v == int(v) for v in finite):
        return lambda v, year: f"{int(v)}" if year else f"{int(v):,}"
    largest = max((abs(v) for v in finite), default=0.0)
    if 0 < largest < 1e-3:
        return lambda v, year: f"{v:.3e}"
    decimals = 4 if largest < 1e3 else 2 if largest < 1e6 else 0
    return lambda v, year: f"{int(v)}" if year and v == int(v) else f"{v:,.{decimals}f}"


def _format_column(values, column_label, row_labels) -> list[str]:
    """A column's cells in its one format; a year (a whole number from 1000 to 2999 in a column or row that
    says "year") without separators.
    """
    number = _column_format(values)
    cells = []
    for value, row in zip(values, row_labels):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            cells.append("")
        elif isinstance(value, (bool, np.bool_)):
            cells.append(str(bool(value)))
        elif _is_number(value):
            v = float(value)
            year = (_is_year(column_label) or _is_year(row)) and v == int(v) and 1000 <= v <= 2999
            cells.append(number(v, year) if np.isfinite(v) else str(v))
        else:
            cells.append(str(value))
    return cells


def _table_html(table: Table) -> str:
    frame = table.frame
    body = pd.DataFrame({j: _format_column(list(frame.iloc[:, j]), col, list(frame.index))
                         for j, col in enumerate(frame.columns)}, index=frame.index)
    body.columns = frame.columns
    # a MultiIndex on columns renders as stacked header rows; index names stay as written
    inner = body.to_html(classes="data", border=0, escape=True, na_rep="")
    # pandas writes <table ...><thead>: put the caption right after the opening tag
    head, rest = inner.split(">", 1)
    out = f'{head}><caption>{html.escape(table.caption)}</caption>{rest}'
    parts = [f'<div class="scroll">{out}</div>']
    note = html.escape(table.note)
    links = [f'<a href="{html.escape(path)}">{what}</a>' for what, path in (("layout", table.csv),
                                                                           ("numbers", table.tidy_csv)) if path]
    if links:
        note = (note + " " if note else "") + "CSV: " + ", ".join(links)
    if note:
        parts.append(f'<p class="note">{note}</p>')
    return "\n".join(parts)


def _figure_html(figure: Figure, base: Path, embed: bool) -> str:
    path = Path(figure.path)
    name = html.escape(path.name)
    if embed:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        src = f"data:image/png;base64,{data}"
    else:
        src = html.escape(Path(os.path.relpath(path, base)).as_posix())
    note = f'<p class="note">{html.escape(figure.note)}</p>' if figure.note else ""
    return (f'<figure><figcaption>{html.escape(figure.caption)}</figcaption>'
            f'<img src="{src}" alt="{name}" data-file="{name}">{note}</figure>')


def _provenance_html(record: dict) -> str:
    """The report's last section: :func:`sez.run.provenance.describe`'s rows, then the settings as read."""
    from sez.run.provenance import describe

    rows = "".join(f"<tr><th>{html.escape(what)}</th><td>{html.escape(value)}</td></tr>"
                   for what, value in describe(record))
    settings = html.escape(json.dumps(record["settings"], indent=2))
    return ('<h2 id="provenance">Provenance</h2>\n'
            "<p>What reproduces these results: the code and its dependencies, the machine, the seed, the threads "
            "and the configuration as read. summary.json holds the same record under \"provenance\".</p>\n"
            '<table class="data provenance"><caption>Code, machine and seed of this run</caption><tbody>'
            f"{rows}</tbody></table>\n"
            '<p class="note">The configuration as read, every default filled in (JSON, one object per TOML '
            "section):</p>\n"
            f'<pre class="settings">{settings}</pre>')


def write_html(sections: Sequence[Section], path: str | Path, title: str = "SEZ pipeline report",
               intro: str = "", embed_images: bool = True, provenance: dict | None = None) -> Path:
    """Write the sections as one HTML page.

    Parameters
    ----------
    sections : sequence of Section
        In the order they appear; each holds :class:`Table` and :class:`Figure` items.
    path : str or Path
        The HTML file to write (its folder is created).
    title : str
        Page title and top heading.
    intro : str
        A paragraph under the heading (plain text).
    embed_images : bool
        Embed figures as base64 PNG (a self-contained page, the default) or link
        them by their path relative to the page.
    provenance : dict, optional
        The run's :func:`sez.run.provenance.collect` record, shown in a last section, "Provenance".

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="note">Written {stamp}.</p>']
    if intro:
        body.append(f"<p>{html.escape(intro)}</p>")
    # a table of contents with each section's status and time
    toc = ['<table class="data"><caption>Steps: status, wall time and peak memory (resident, sampled every '
           "0.25 s)</caption><thead><tr><th>section</th><th>status</th><th>seconds</th><th>peak memory (GiB)</th>"
           "</tr></thead><tbody>"]
    for k, section in enumerate(sections):
        secs = "" if section.seconds is None else f"{section.seconds:.2f}"
        peak = "" if section.peak_gib is None else f"{section.peak_gib:.2f}"
        toc.append(f'<tr><td><a href="#s{k}">{html.escape(section.title)}</a></td>'
                   f'<td class="status-{html.escape(section.status)}">{html.escape(section.status)}</td>'
                   f"<td>{secs}</td><td>{peak}</td></tr>")
    toc.append("</tbody></table>")
    body.append("\n".join(toc))
    for k, section in enumerate(sections):
        status = (f' <span class="status-{html.escape(section.status)}">({html.escape(section.status)})</span>'
                  if section.status != "ok" else "")
        body.append(f'<h2 id="s{k}">{html.escape(section.title)}{status}</h2>')
        if section.intro:
            body.append(f"<p>{html.escape(section.intro)}</p>")
        if section.error:
            body.append(f'<pre class="error">{html.escape(section.error)}</pre>')
        for item in section.items:
            if isinstance(item, Table):
                body.append(_table_html(item))
            elif isinstance(item, Figure):
                body.append(_figure_html(item, base, embed_images))
            else:
                raise TypeError(f"write_html: section {section.title!r} holds a {type(item).__name__}, "
                                "not a Table or Figure")
    if provenance is not None:
        body.append(_provenance_html(provenance))
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    write_atomic(Path(path), lambda f: f.write(page.encode("utf-8")))
    return path
