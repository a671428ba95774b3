"""The yearly files: their formats, writing them with the truth beside, and reading one back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sez.data.columns import TEXT, canonical_columns
from sez.data.read import excel_reader

#: file format by year; "xlsx" falls back to CSV when no Excel writer is installed or the year is not
#: among ``excel_years`` (Excel is slow at the papers' scale: about 12 s to write and 1.4 s to read
#: 50,000 rows with xlsxwriter and calamine, 17 s and 9 s with openpyxl)
FILE_FORMATS = {1998: "csv-bom", 1999: "csv", 2000: "parquet", 2001: "dta", 2002: "csv-gb18030", 2003: "xlsx",
                2004: "parquet", 2005: "dta", 2006: "csv-bom", 2007: "parquet", 2008: "dta", 2009: "csv",
                2010: "xlsx", 2011: "parquet", 2012: "csv-bom", 2013: "dta"}


def file_format(year: int) -> str:
    """Format of a year's file (before any fallback)."""
    if year in FILE_FORMATS:
        return FILE_FORMATS[year]
    cycle = ("csv-bom", "parquet", "dta", "csv")
    return cycle[year % len(cycle)]


def read_raw_file(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """Read one raw yearly file back with text columns as text (leading zeros kept).

    Parameters
    ----------
    path : path
        A file written by ``synthetic``.
    fmt : str, optional
        ``csv``, ``csv-bom``, ``csv-gb18030``, ``parquet``, ``dta`` or ``xlsx``;
        inferred from the suffix when omitted (CSV encoding: UTF-8, else GB18030).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if fmt is None:
        fmt = {".parquet": "parquet", ".dta": "dta", ".xlsx": "xlsx"}.get(suffix, "csv")
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "dta":
        return pd.read_stata(path)
    if fmt == "xlsx":
        engine = excel_reader()
        header = pd.read_excel(path, nrows=0, engine=engine).columns
        text = [c for c, canon in canonical_columns(header).items() if canon in TEXT]
        return pd.read_excel(path, dtype={c: str for c in text}, engine=engine)
    encodings = {"csv": ["utf-8-sig", "gb18030"], "csv-bom": ["utf-8-sig"], "csv-gb18030": ["gb18030"]}[fmt]
    for i, encoding in enumerate(encodings):
        try:
            header = pd.read_csv(path, nrows=0, encoding=encoding).columns
            text = [c for c, canon in canonical_columns(header).items() if canon in TEXT]
            return pd.read_csv(path, encoding=encoding, dtype={c: str for c in text})
        except UnicodeDecodeError:
            if i == len(encodings) - 1:
                raise
    raise AssertionError("unreachable")
