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
from dataclasses import dataclass, field, replace
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
    warnings: list = field(default_factory=list)  # warnings raised while the step computed this table


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
    warnings: list = field(default_factory=list)  # warnings raised while the step drew this figure


@dataclass
class Section:
    """A titled part of the report: an introduction, then tables and figures in order.

    ``status`` is ``"ok"``, ``"failed"`` or ``"skipped"``; a section that did not
    run shows ``error`` instead of (or before) its items. ``warnings`` are the step's warnings that no
    item holds (shown in a box under the title; an item's own warnings are shown beside it).
    """

    title: str
    intro: str = ""
    items: list = field(default_factory=list)
    status: str = "ok"
    seconds: float | None = None
    error: str = ""
    peak_gib: float | None = None  # peak resident memory while the step ran (sampled)
    warnings: list = field(default_factory=list)


def figures_relative(items: list, out: Path) -> list:
    """Report items with figure paths relative to the output folder (stored items survive a moved folder)."""
    return [replace(i, path=os.path.relpath(i.path, out)) if isinstance(i, Figure) else i for i in items]


def figures_located(items: list, out: Path) -> list:
    """Stored report items with their figure paths inside the output folder ``out`` again."""
    return [replace(i, path=out / i.path) if isinstance(i, Figure) else i for i in items]


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #222; line-height: 1.4; }
main { max-width: 78em; margin: 2em 1em 2em 20em; padding: 0 1em; }
nav.contents { position: fixed; top: 0; left: 0; bottom: 0; width: 17em; overflow-y: auto; padding: 1em;
               box-sizing: border-box; font-size: .8em; background: #fafafa; border-right: 1px solid #ddd; }
nav.contents ol { padding-left: 1.2em; margin: .2em 0; } nav.contents li { margin: .15em 0; }
nav.contents ol ol { font-size: .92em; color: #555; } nav.contents a { text-decoration: none; }
nav.contents a:hover { text-decoration: underline; } nav.contents .title { font-weight: 600; }
@media (max-width: 60em) {  /* narrow screens: the contents become a block at the top */
  nav.contents { position: static; width: auto; border-right: none; border-bottom: 1px solid #ddd; }
  main { margin: 1em auto; }
}
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
.warnings { background: #fff8e1; border-left: 4px solid #e0a800; padding: .3em .8em; margin: .5em 0; font-size: .85em; }
.warnings ul { margin: .2em 0; padding-left: 1.2em; }
table.provenance td { text-align: left; }
pre.settings { background: #f7f7f7; padding: .5em; overflow-x: auto; font-size: .8em; }
@media print {  /* the browser's print to PDF: no sidebar, the tables and figures sized to the page */
  @page { margin: 1.5cm; }
  body { font-size: 10pt; } main { margin: 0; max-width: none; padding: 0; }
  nav.contents { display: none; }
  table.data { font-size: 7.5pt; } table.data th, table.data td { padding: .1em .3em; }
  .scroll { overflow: visible; } thead { display: table-header-group; } tr { break-inside: avoid; }
  .item.small, figure, .warnings { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  figure img { max-width: 100%; max-height: 22cm; }
  a { color: inherit; text-decoration: none; }
  .note a[href]::after { content: " (" attr(href) ")"; }  /* a CSV's path, since a printed link cannot be followed */
  pre.error, pre.settings { white-space: pre-wrap; overflow: visible; }
}
"""

#: A table wider than this many columns (besides its row labels) is laid out to fit a printed page:
#: transposed when it has at most this many rows, else split into tables of this many columns.
MAX_COLUMNS = 12

#: A table of at most this many rows is kept on one printed page.
SMALL_TABLE_ROWS = 30


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


def _column_groups(columns: pd.Index) -> list[list[int]]:
    """Positions of the columns in runs sharing their top header (one run per column without a MultiIndex)."""
    groups: list[list[int]] = []
    for j, label in enumerate(columns):
        top = label[0] if isinstance(columns, pd.MultiIndex) else object()
        if groups and groups[-1][1] == top:
            groups[-1][0].append(j)
        else:
            groups.append(([j], top))
    return [positions for positions, _ in groups]


def fit_to_page(frame: pd.DataFrame, caption: str, max_columns: int = MAX_COLUMNS) -> list[tuple[str, pd.DataFrame]]:
    """A table as one or more (caption, frame) pieces of at most ``max_columns`` columns besides the row labels.

    A wider table with at most ``max_columns`` rows is transposed (its rows become the columns); a wider and
    longer one is split into tables of consecutive columns, each repeating the row labels, the later ones
    captioned "(continued)". A split keeps the columns under one top header together where they fit.
    """
    n_columns = frame.shape[1]
    if n_columns <= max_columns:
        return [(caption, frame)]
    if len(frame) <= max_columns:
        return [(f"{caption} (transposed to fit the page: its columns are the rows)", frame.T)]
    pieces: list[list[int]] = [[]]
    for group in _column_groups(frame.columns):
        for start in range(0, len(group), max_columns):  # a group wider than a page is cut
            part = group[start:start + max_columns]
            if len(pieces[-1]) + len(part) > max_columns:
                pieces.append([])
            pieces[-1].extend(part)
    out = []
    for k, positions in enumerate(pieces):
        span = f"columns {positions[0] + 1}-{positions[-1] + 1} of {n_columns}"
        out.append((f"{caption} ({span})" if k == 0 else f"{caption} (continued, {span})",
                    frame.iloc[:, positions]))
    return out


def _warnings_html(lines: Sequence[str], heading: str) -> str:
    """A highlighted box of warnings; ``lines`` are HTML (escaped text, or links)."""
    if not lines:
        return ""
    items = "".join(f"<li>{line}</li>" for line in lines)
    return f'<div class="warnings"><strong>{html.escape(heading)}</strong><ul>{items}</ul></div>'


def _item_warnings_html(item) -> str:
    return _warnings_html([html.escape(line) for line in item.warnings], "Warnings raised while this was computed:")


def _table_html(table: Table, anchor: str) -> str:
    frame = table.frame
    # formatted column by column before any transposition: a number's format is its column's
    body = pd.DataFrame({j: _format_column(list(frame.iloc[:, j]), col, list(frame.index))
                         for j, col in enumerate(frame.columns)}, index=frame.index)
    body.columns = frame.columns
    parts = []
    for k, (caption, piece) in enumerate(fit_to_page(body, table.caption)):
        # a MultiIndex on columns renders as stacked header rows; index names stay as written
        inner = piece.to_html(classes="data", border=0, escape=True, na_rep="")
        # pandas writes <table ...><thead>: put the caption right after the opening tag, the anchor on the first
        head, rest = inner.split(">", 1)
        if k == 0:
            head = f'{head} id="{anchor}"'
        parts.append(f'<div class="scroll">{head}><caption>{html.escape(caption)}</caption>{rest}</div>')
    parts.append(_item_warnings_html(table))
    note = html.escape(table.note)
    links = [f'<a href="{html.escape(path)}">{what}</a>' for what, path in (("layout", table.csv),
                                                                           ("numbers", table.tidy_csv)) if path]
    if links:
        note = (note + " " if note else "") + "CSV: " + ", ".join(links)
    if note:
        parts.append(f'<p class="note">{note}</p>')
    size = " small" if len(frame) <= SMALL_TABLE_ROWS else ""
    return f'<div class="item{size}">' + "\n".join(p for p in parts if p) + "</div>"


def _figure_html(figure: Figure, base: Path, embed: bool, anchor: str) -> str:
    path = Path(figure.path)
    name = html.escape(path.name)
    if embed:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        src = f"data:image/png;base64,{data}"
    else:
        src = html.escape(Path(os.path.relpath(path, base)).as_posix())
    note = f'<p class="note">{html.escape(figure.note)}</p>' if figure.note else ""
    return (f'<figure id="{anchor}"><figcaption>{html.escape(figure.caption)}</figcaption>'
            f'<img src="{src}" alt="{name}" data-file="{name}">{_item_warnings_html(figure)}{note}</figure>')


class _Anchors:
    """Unique, readable ids for the page's sections, tables and figures (from their titles and captions)."""

    def __init__(self, reserved: Sequence[str] = ()):
        self.taken = set(reserved)

    def __call__(self, text: str) -> str:
        slug = "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:60].rstrip("-") or "item"
        anchor, n = slug, 1
        while anchor in self.taken:
            n += 1
            anchor = f"{slug}-{n}"
        self.taken.add(anchor)
        return anchor


def _count_warnings(section: Section) -> int:
    return len(section.warnings) + sum(len(item.warnings) for item in section.items)


def _section_warnings_html(section: Section, item_ids: Sequence[str]) -> str:
    """The box under a section's title: the step's warnings no table or figure holds, and links to those that do."""
    lines = [html.escape(line) for line in section.warnings]
    for item, item_id in zip(section.items, item_ids):
        if item.warnings:
            lines.append(f'<a href="#{item_id}">{len(item.warnings)} warning(s) beside '
                         f'"{html.escape(item.caption)}"</a>')
    return _warnings_html(lines, f"Warnings ({_count_warnings(section)}):")


def _contents_html(sections: Sequence[Section], section_ids: Sequence[str], item_ids: Sequence[Sequence[str]],
                   provenance: bool) -> str:
    """The sidebar: every section and, under it, every table and figure caption, each a link to its anchor."""
    entries = ['<li><a href="#steps">Steps</a></li>']
    for section, anchor_id, ids in zip(sections, section_ids, item_ids):
        items = "".join(f'<li><a href="#{item_id}">{html.escape(item.caption)}</a></li>'
                        for item, item_id in zip(section.items, ids))
        entries.append(f'<li><a href="#{anchor_id}">{html.escape(section.title)}</a>'
                       + (f"<ol>{items}</ol>" if items else "") + "</li>")
    if provenance:
        entries.append(f'<li><a href="#provenance">Provenance</a><ol><li><a href="#{PROVENANCE_TABLE}">'
                       f"{PROVENANCE_CAPTION}</a></li></ol></li>")
    return ('<nav class="contents" id="contents"><div class="title">Contents</div><ol>'
            + "".join(entries) + "</ol></nav>")


PROVENANCE_TABLE, PROVENANCE_CAPTION = "provenance-record", "Code, machine and seed of this run"


def _provenance_html(record: dict) -> str:
    """The report's last section: :func:`sez.run.provenance.describe`'s rows, then the settings as read."""
    from sez.run.provenance import describe

    rows = "".join(f"<tr><th>{html.escape(what)}</th><td>{html.escape(value)}</td></tr>"
                   for what, value in describe(record))
    settings = html.escape(json.dumps(record["settings"], indent=2))
    return ('<h2 id="provenance">Provenance</h2>\n'
            "<p>What reproduces these results: the code and its dependencies, the machine, the seed, the threads "
            "and the configuration as read. summary.json holds the same record under \"provenance\".</p>\n"
            f'<table class="data provenance" id="{PROVENANCE_TABLE}"><caption>{PROVENANCE_CAPTION}</caption><tbody>'
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
    for section in sections:
        for item in section.items:
            if not isinstance(item, (Table, Figure)):
                raise TypeError(f"write_html: section {section.title!r} holds a {type(item).__name__}, "
                                "not a Table or Figure")
    anchor = _Anchors(reserved=("contents", "steps", "provenance", PROVENANCE_TABLE))
    section_ids = [anchor(section.title) for section in sections]
    item_ids = [[anchor(item.caption) for item in section.items] for section in sections]
    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="note">Written {stamp}.</p>']
    if intro:
        body.append(f"<p>{html.escape(intro)}</p>")
    # the steps: each one's status, time and memory, linked to its section
    steps = ['<table class="data" id="steps"><caption>Steps: status, wall time and peak memory (resident, sampled '
             "every 0.25 s)</caption><thead><tr><th>section</th><th>status</th><th>seconds</th>"
             "<th>peak memory (GiB)</th><th>warnings</th></tr></thead><tbody>"]
    for section, anchor_id in zip(sections, section_ids):
        secs = "" if section.seconds is None else f"{section.seconds:.2f}"
        peak = "" if section.peak_gib is None else f"{section.peak_gib:.2f}"
        n_warnings = _count_warnings(section)
        steps.append(f'<tr><td><a href="#{anchor_id}">{html.escape(section.title)}</a></td>'
                     f'<td class="status-{html.escape(section.status)}">{html.escape(section.status)}</td>'
                     f"<td>{secs}</td><td>{peak}</td><td>{n_warnings or ''}</td></tr>")
    steps.append("</tbody></table>")
    body.append("\n".join(steps))
    for section, anchor_id, ids in zip(sections, section_ids, item_ids):
        status = (f' <span class="status-{html.escape(section.status)}">({html.escape(section.status)})</span>'
                  if section.status != "ok" else "")
        body.append(f'<h2 id="{anchor_id}">{html.escape(section.title)}{status}</h2>')
        body.append(_section_warnings_html(section, ids))
        if section.intro:
            body.append(f"<p>{html.escape(section.intro)}</p>")
        if section.error:
            body.append(f'<pre class="error">{html.escape(section.error)}</pre>')
        for item, item_id in zip(section.items, ids):
            body.append(_table_html(item, item_id) if isinstance(item, Table)
                        else _figure_html(item, base, embed_images, item_id))
    if provenance is not None:
        body.append(_provenance_html(provenance))
    contents = _contents_html(sections, section_ids, item_ids, provenance is not None)
    body = [part for part in body if part]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n{contents}\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body></html>\n")
    write_atomic(Path(path), lambda f: f.write(page.encode("utf-8")))
    return path
