"""Tables: one renderer of the papers' layouts as text, HTML, escaped LaTeX and CSV.

A layout table (the papers' Tables 16-20 and 31-32, and any other built the
same way) provides ``title``, ``layout(inner)`` (a DataFrame of formatted
cells) and ``notes(inner)``; :class:`LayoutTable` derives every rendering
from them, so the formats cannot drift apart.
"""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["LayoutTable", "latex_escape"]

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


class LayoutTable:
    """Renderings of a layout table: text ``summary``, ``to_csv``, ``to_html``, ``to_latex``.

    Subclasses define ``title`` (a string), ``layout(inner)`` and ``notes(inner)``.
    """

    def summary(self, inner: str = "se") -> str:
        """Title, the layout as text, and the notes."""
        with pd.option_context("display.width", 250, "display.max_columns", None):
            return "\n".join([self.title, self.layout(inner).to_string(), self.notes(inner)])

    def __str__(self) -> str:
        return self.summary()

    def to_csv(self, path=None, inner: str = "se"):
        """The layout as CSV (to ``path``, or returned as a string)."""
        return self.layout(inner).to_csv(path)

    def to_html(self, inner: str = "se") -> str:
        """The layout as an HTML table under its title, the notes as paragraphs."""
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes(inner).splitlines())
        return (f"<h3>{html.escape(self.title)}</h3>\n" + self.layout(inner).to_html(classes="did-table")
                + f"\n{notes}")

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_latex(self, inner: str = "se") -> str:
        """The layout as a LaTeX tabular, every cell, label and note escaped."""
        body = self.layout(inner)
        body = body.rename(index=latex_escape, columns=latex_escape).map(latex_escape)
        tabular = body.to_latex(multicolumn=True, multicolumn_format="c", escape=False)
        notes = " ".join(self.notes(inner).splitlines())
        return f"% {self.title}\n" + tabular + f"\\par\\footnotesize {latex_escape(notes)}\n"
