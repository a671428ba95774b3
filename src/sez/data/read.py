"""Reading yearly ASIE extracts (CSV, Parquet, Stata, Excel) into one raw table
with canonical column names.
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from sez.data.columns import INTEGER, NUMBER, TEXT, canonical_columns, name_map
from sez.errors import InputError
from sez.limits import SUPPORTED_YEARS

#: Columns every yearly file must provide (after renaming).
REQUIRED = ("legal_person_code", "firm_name", "district_code", "industry_code", "employees", "gross_output")


def importable(*modules: str) -> str | None:
    """The first of these modules that imports (an optional engine), or None."""
    for module in modules:
        try:
            __import__(module)
            return module
        except ImportError:
            continue
    return None


def excel_reader() -> str | None:
    """Pandas' Excel engine: calamine when installed (about 6x faster than openpyxl on 50,000 rows, the
    same cells), else pandas' default.
    """
    return "calamine" if importable("python_calamine") else None


#: The first bytes of an Excel workbook: a zip archive (.xlsx) or an OLE compound file (.xls).
EXCEL_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")

#: The names pandas gives the second and later copies of a repeated header name ("x.1", "x.2").
_MANGLED = re.compile(r"(.*)\.\d+")


def _read_one(path: Path) -> pd.DataFrame:
    """One file as a table whose columns are the header's names as written, repeated names included."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".parquet", ".dta", ".xlsx", ".xls"):
        raise InputError(f"{path}: unknown format {suffix!r} (use .csv, .parquet, .dta, .xlsx)")
    try:
        if path.is_file() and path.stat().st_size == 0:
            raise InputError(f"{path}: the file is empty (0 bytes), not a {suffix[1:]} file: export this year "
                             f"again, or leave the file out")
        if suffix in (".csv", ".txt"):
            for encoding in ("utf-8-sig", "gb18030"):
                try:
                    table = pd.read_csv(path, dtype=str, encoding=encoding, keep_default_na=False,
                                        na_values=["", "NA", "nan", "NaN", "."])
                    return _with_written_header(table, lambda: pd.read_csv(
                        path, header=None, nrows=1, dtype=str, encoding=encoding, keep_default_na=False))
                except UnicodeDecodeError:
                    continue
            raise InputError(f"{path}: neither UTF-8 nor GB18030 text")
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            if len(set(names)) < len(names):
                return pq.ParquetFile(path).read().to_pandas()  # pandas refuses repeated names: keep them
            return pd.read_parquet(path)
        if suffix == ".dta":
            return pd.read_stata(path, convert_categoricals=False)
        with open(path, "rb") as f:
            if not f.read(4).startswith(EXCEL_SIGNATURES):
                raise InputError(f"{path}: not an Excel workbook (its first bytes are neither those of .xlsx nor "
                                 f"of .xls): if it holds text, name it .csv; otherwise export it again")
        table = pd.read_excel(path, dtype=str, engine=excel_reader())
        return _with_written_header(table, lambda: pd.read_excel(path, header=None, nrows=1, dtype=str,
                                                                  engine=excel_reader()))
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as err:  # the reader's own message says what is wrong with the file
        raise InputError(f"{path}: cannot be parsed as {suffix[1:]}: {err}") from None


def _with_written_header(table: pd.DataFrame, read_header) -> pd.DataFrame:
    """``table`` with the header's names as written where pandas renamed a repeated one ("x" -> "x.1")."""
    names = [str(c) for c in table.columns]
    if not any((m := _MANGLED.fullmatch(n)) and m.group(1) in names for n in names):
        return table
    written = read_header().iloc[0].tolist()
    if len(written) != len(names):
        return table
    return table.set_axis([w if isinstance(w, str) and w != "" else n for w, n in zip(written, names)], axis=1)


def _refuse_repeated_columns(raw: pd.DataFrame, source: str, extra_names: dict[str, str] | None) -> None:
    """A column name that the header repeats and that maps to a panel column is an error: which copy is
    right is the user's call. Repeated names of unused columns are left alone (those columns are not read).
    """
    mapping = name_map(extra_names)
    positions: dict[str, list[int]] = {}
    for i, col in enumerate(raw.columns):
        positions.setdefault(str(col).strip(), []).append(i)
    for name, where in positions.items():
        if len(where) < 2 or not (name in mapping or name.lower() in mapping):
            continue
        first = raw.iloc[:, where[0]]
        differ = np.zeros(len(raw), dtype=bool)
        for i in where[1:]:
            copy = raw.iloc[:, i]
            same = (copy == first).to_numpy(dtype=bool, na_value=False) | (copy.isna() & first.isna()).to_numpy()
            differ |= ~same
        if differ.any():
            advice = (f"the copies differ in {int(differ.sum())} row(s), e.g. rows "
                      f"{np.flatnonzero(differ)[:5].tolist()}: keep the right one, and delete or rename the others")
        else:
            advice = "the copies hold identical values: delete all but one"
        raise InputError(f"{source}: column {name!r} appears {len(where)} times in the header (columns "
                         f"{[i + 1 for i in where]}, meaning {mapping.get(name) or mapping[name.lower()]!r}); "
                         f"{advice}")


def source_labels(paths: list[Path]) -> list[str]:
    """How messages and the ``source`` column name each file: its name, or as many of its last folders as
    tell it apart from the other files (``a/asie1998.csv`` and ``b/asie1998.csv``).

    Raises InputError for a file given twice.
    """
    first_given: dict[Path, Path] = {}
    for given in paths:
        if given.resolve() in first_given:
            raise InputError(f"{given}: the same file as {first_given[given.resolve()]} is given twice: its records "
                             f"would count twice; give it once")
        first_given[given.resolve()] = given
    written = [Path(os.path.abspath(p)) for p in paths]  # as given, links not followed
    labels = []
    for full in written:
        for k in range(1, len(full.parts) + 1):
            tail = full.parts[-k:]
            if sum(other.parts[-k:] == tail for other in written) == 1:
                break
        labels.append(Path(*tail).as_posix())
    return labels


def check_year_range(data: pd.DataFrame, source: str) -> None:
    """Raise InputError naming ``source``, the years and the rows (``source_row`` where there is one) of
    records outside ``sez.limits.SUPPORTED_YEARS``.
    """
    first, last = SUPPORTED_YEARS
    outside = ~data["year"].between(first, last).to_numpy()
    if not outside.any():
        return
    bad = data.loc[outside]
    rows = (bad["source_row"] if "source_row" in bad.columns else bad.index.to_series()).head(5).tolist()
    files = f" of {', '.join(sorted(map(str, bad['source'].unique())))}" if "source" in bad.columns else ""
    years = sorted(int(y) for y in bad["year"].unique())
    raise InputError(f"{source}: year(s) {years[:5]} in {int(outside.sum())} row(s){files}, e.g. rows {rows}, lie "
                     f"outside {first}-{last}, the years whose district and industry codes the reference tables "
                     f"cover: correct the year, or leave these records out")


def find_files(entry: str, base: str | Path = ".") -> list[Path]:
    """The files an entry of ``[data] files`` names, sorted: a path, or a glob pattern relative to ``base``.

    Only the pattern is a pattern: ``base``, and the leading folders of ``entry`` that exist under their
    written names, are taken literally, so a folder named ``run[1]`` is found. An entry that names an
    existing file is that file, whatever characters it holds.
    """
    path = Path(entry).expanduser()
    path = path if path.is_absolute() else Path(base) / path
    if path.is_file():
        return [path]
    literal, rest = Path(path.anchor), list(path.parts[1:] if path.anchor else path.parts)
    while rest and (literal / rest[0]).is_dir():
        literal, rest = literal / rest[0], rest[1:]
    if not rest:
        return []
    pattern = str(Path(glob.escape(str(literal)), *rest))
    return sorted(p for p in map(Path, glob.glob(pattern, recursive=True)) if p.is_file())


def _year_of(name: str) -> int | None:
    """The last year in a file name, preferring one of the supported years (a name's other numbers aside)."""
    found = [int(y) for y in re.findall(r"(19\d\d|20\d\d)", name)]
    supported = [y for y in found if SUPPORTED_YEARS[0] <= y <= SUPPORTED_YEARS[1]]
    return (supported or found or [None])[-1]


def _as_text(s: pd.Series) -> pd.Series:
    """Codes and names as text; numbers read as floats lose their '.0'."""
    if pd.api.types.is_float_dtype(s):
        out = s.map(lambda v: np.nan if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v)))
    else:
        out = s.astype("string").str.strip()
        out = out.where(out != "", pd.NA)
    return out.astype("string")


def _as_number(s: pd.Series, source: str, col: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    text = s.astype("string").str.strip().str.replace(",", "", regex=False)
    num = pd.to_numeric(text, errors="coerce")
    bad = num.isna() & text.notna() & (text != "")
    if bad.any():
        rows = s.index[bad.to_numpy()][:5].tolist()
        raise InputError(f"{source}: column {col!r} has {int(bad.sum())} non-numeric value(s), e.g. rows {rows}: "
                         f"{s[bad].head(3).tolist()}")
    return num.astype(float)


def read_asie(
    sources: Iterable[str | Path | pd.DataFrame] | Mapping[int, str | Path | pd.DataFrame],
    years: Iterable[int] | None = None,
    extra_names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Read yearly ASIE extracts into one table with canonical column names.

    Parameters
    ----------
    sources : file paths or DataFrames, or a mapping year -> path/frame.
    years : the year of each source when neither the mapping, a year column nor
        the file name gives it.
    extra_names : user additions to the known column names (raw -> canonical).

    Returns
    -------
    DataFrame
        The canonical columns found, ``year``, ``source`` (file name, with as
        many of its folders as tell apart two files of one name, or
        ``frame[i]``) and ``source_row`` (0-based row in the source).

    Raises
    ------
    InputError
        Naming the file, column and rows for a file that is empty or does not
        parse, a file given twice, a missing required column, a column the
        header repeats, a non-numeric value in a numeric column, or a year
        that is not whole or lies outside ``sez.limits.SUPPORTED_YEARS``.
    """
    if isinstance(sources, Mapping):
        items = [(src, year) for year, src in sources.items()]
    else:
        srcs = list(sources)
        ys = list(years) if years is not None else [None] * len(srcs)
        if len(ys) != len(srcs):
            raise InputError(f"{len(srcs)} sources but {len(ys)} years")
        items = list(zip(srcs, ys))
    if not items:
        raise InputError("no sources given")
    paths = [Path(src) for src, _ in items if not isinstance(src, pd.DataFrame)]
    labels = iter(source_labels(paths))
    frames = []
    for k, (src, year) in enumerate(items):
        if isinstance(src, pd.DataFrame):
            raw, name = src.copy(), f"frame[{k}]"
        else:
            raw, name = _read_one(Path(src)), next(labels)
        _refuse_repeated_columns(raw, name, extra_names)
        rename = canonical_columns(raw.columns, extra_names, source=name)
        df = raw[list(rename)].rename(columns=rename)
        missing = [c for c in REQUIRED if c not in df.columns]
        if missing:
            raise InputError(f"{name}: required column(s) missing: {missing} (known names are in "
                             f"sez.data.known_names(); add yours with extra_names)")
        if "year" in df.columns:
            df["year"] = _as_number(df["year"], name, "year")
        else:
            y = year if year is not None else (_year_of(Path(src).name) if not isinstance(src, pd.DataFrame)
                                               else None)
            if y is None:
                raise InputError(f"{name}: no year column, no year given and none in the file name")
            df["year"] = float(y)
        for col in df.columns:
            if col in TEXT:
                df[col] = _as_text(df[col])
            elif col in NUMBER or col in INTEGER:
                df[col] = _as_number(df[col], name, col)
        if df["year"].isna().any():
            rows = df.index[df["year"].isna().to_numpy()][:5].tolist()
            raise InputError(f"{name}: column 'year' is missing in rows {rows}")
        fractional = (df["year"] != np.round(df["year"])).to_numpy()
        if fractional.any():
            rows = df.index[fractional][:5].tolist()
            example = float(df["year"].to_numpy()[fractional][0])
            raise InputError(f"{name}: column 'year' holds years that are not whole numbers in rows {rows} (e.g. "
                             f"{example!r}): a year is never rounded; correct the file")
        check_year_range(df, name)
        if len(df) == 0:
            warnings.warn(f"{name}: no rows (a header only): it adds nothing to the panel", stacklevel=2)
        df["year"] = df["year"].astype(int)
        df["source"] = name
        df["source_row"] = np.arange(len(df))
        frames.append(df)
    out = pd.concat(frames, ignore_index=True, sort=False)
    return out
