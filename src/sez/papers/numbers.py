"""The papers' printed numbers, stored as CSV files in ``sez/papers/numbers/`` and read here.

Each file opens with ``#`` lines saying which table it transcribes and how
ambiguous cells were read. Columns whose non-empty cells are all numbers are
numeric (an empty cell is NaN); the others are text (an empty cell is "").
"""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd

__all__ = ["read", "available"]


def available() -> list[str]:
    """Names of the stored tables (file names without ``.csv``)."""
    folder = resources.files("sez.papers") / "numbers"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".csv"))


@functools.cache
def _read(name: str) -> pd.DataFrame:
    path = resources.files("sez.papers") / "numbers" / f"{name}.csv"
    if not path.is_file():
        raise KeyError(f"sez.papers.numbers: no table {name!r}; stored: {', '.join(available())}")
    with path.open(encoding="utf-8") as fh:
        frame = pd.read_csv(fh, comment="#", dtype=str, keep_default_na=False)
    for column in frame.columns:
        filled = frame[column] != ""
        numeric = pd.to_numeric(frame[column].where(filled), errors="coerce")
        if filled.any() and numeric[filled].notna().all():
            frame[column] = numeric
    return frame


def read(name: str) -> pd.DataFrame:
    """The stored table ``name`` (a copy: callers may change it)."""
    return _read(name).copy()
