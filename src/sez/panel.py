"""The firm-year schema: one place for column names, dtypes, units and meaning.

Every analysis reads a firm-year table in this schema, whether it was harmonised
from ASIE files or simulated from the model, so a moment is computed by one piece
of code for both. A model panel holds the columns the model produces and lists
the others in ``df.attrs["not_produced"]``.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sez.errors import SchemaError
from sez.results import renamed
from sez.store import write_atomic


@dataclass(frozen=True)
class Column:
    """One column of the firm-year schema: name, dtype, unit, meaning, and whether it is required."""

    name: str
    dtype: str  # "int", "float", "bool", "str", "Int" (nullable integer), "category"
    unit: str
    meaning: str
    required: bool = False
    nonnegative: bool = False


COLUMNS = (
    Column("firm_id", "int", "", "stable firm identifier across years", required=True),
    Column("year", "int", "year", "calendar year (model: simulated year)", required=True),
    Column("province", "str", "", "province, 2013 administrative code (2 digits)"),
    Column("city", "str", "", "prefecture, 2013 administrative code (4 digits)"),
    Column("county", "str", "", "county/district, 2013 administrative code (6 digits)"),
    Column("cic4", "str", "", "4-digit industry, GB/T 4754-2002"),
    Column("cic3", "str", "", "3-digit industry, GB/T 4754-2002"),
    Column("cic2", "str", "", "2-digit industry, GB/T 4754-2002"),
    Column("ownership", "category", "", "registration type group (state, collective, private, HMT, foreign)"),
    Column("foreign_invested", "bool", "", "foreign or Hong Kong/Macau/Taiwan invested"),
    Column("exporter", "bool", "", "exports > 0"),
    Column("exports", "float", "1000 yuan (real)", "export delivery value", nonnegative=True),
    Column("sez", "bool", "", "located in a special economic zone this year", required=True),
    Column("sez_evidence", "category", "", "how SEZ status was established (address keyword, zone list, ...)"),
    Column("birth_year", "Int", "year", "founding year (model: first year of production)"),
    Column("birth_zone", "category", "", "zone at birth: 'S' (SEZ) or 'N'"),
    Column("mover", "bool", "", "has moved between zones"),
    Column("move_year", "Int", "year", "year of the first move between zones"),
    Column("employees", "float", "persons (model: labour units)", "employment", nonnegative=True),
    Column("wage_bill", "float", "1000 yuan (model: w l)", "wages paid", nonnegative=True),
    Column("output", "float", "1000 yuan, real (model units)", "gross output", nonnegative=True),
    Column("value_added", "float", "1000 yuan, real (model units)", "value added"),
    Column("intermediate_input", "float", "1000 yuan, real", "intermediate inputs", nonnegative=True),
    Column("sales", "float", "1000 yuan (model units)", "main business revenue", nonnegative=True),
    Column("profit", "float", "1000 yuan (model: operating profit y - w l)", "profit before tax"),
    Column("capital", "float", "1000 yuan, real (model units)", "real capital stock", nonnegative=True),
    Column("capital_nominal", "float", "1000 yuan", "net fixed assets at book value", nonnegative=True),
    Column("investment", "float", "1000 yuan, real (model units)", "k_{t+1} - (1 - delta) k_t"),
    Column("depreciation", "float", "1000 yuan, real (model units)", "depreciation"),
    Column("debt", "float", "1000 yuan (model: bonds b, negative = savings)", "total liabilities"),
    Column("total_assets", "float", "1000 yuan", "total assets", nonnegative=True),
    Column("ln_tfp", "float", "log", "firm log TFP (model: ln z)"),
    Column("age", "Int", "years", "year - birth_year"),
    Column("entry", "bool", "", "first year of the firm in the panel is its birth year"),
    Column("exit", "bool", "", "last year before the firm leaves (not the end of the panel)"),
)

SCHEMA = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)

#: Columns the harmonised survey panel carries beyond the schema (a model panel has none of them):
#: described for the Stata labels and the codebook, not checked by :func:`validate`.
SURVEY_ONLY_COLUMNS = (
    Column("va_method", "category", "", "how value added was measured: reported, production or income approach"),
    Column("link_type", "category", "", "rule that linked the record to the firm's earlier year ('new': none)"),
    Column("high_tech", "bool", "", "OECD high-technology industry"),
    Column("coastal", "bool", "", "coastal province"),
    Column("source", "category", "", "extract file the record was read from"),
    Column("source_row", "int", "", "row of the record in its extract (0-based)"),
)
DESCRIBED = {c.name: c for c in (*COLUMNS, *SURVEY_ONLY_COLUMNS)}

STATA_LABEL_LENGTH = 80  # Stata's limit on a variable label (characters), a property of the file format
_STATA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


@renamed(df="data")
def validate(data: pd.DataFrame, name: str = "panel") -> pd.DataFrame:
    """Check a firm-year table against the schema; return it unchanged.

    Raises SchemaError naming the column (and the first offending rows) for a
    missing required column, a wrong dtype, a negative value where none may be,
    or a duplicate (firm_id, year).
    """
    missing = [c for c in REQUIRED if c not in data.columns]
    if missing:
        raise SchemaError(f"{name}: required column(s) missing: {', '.join(missing)}")
    for col in data.columns:
        spec = SCHEMA.get(col)
        if spec is None:
            continue  # extra columns are allowed (model-only quantities, user variables)
        s = data[col]
        if not _dtype_ok(s, spec.dtype):
            raise SchemaError(f"{name}: column {col!r} has dtype {s.dtype}, expected {spec.dtype}")
        if spec.nonnegative:
            bad = np.flatnonzero(s.to_numpy(dtype=float, na_value=np.nan) < 0)
            if len(bad):
                raise SchemaError(f"{name}: column {col!r} is negative in {len(bad)} row(s), e.g. rows "
                                  f"{data.index[bad[:5]].tolist()}")
    dup = _duplicate_firm_years(data)
    if dup.any():
        rows = data.index[np.flatnonzero(dup)[:5]].tolist()
        raise SchemaError(f"{name}: (firm_id, year) is not unique in {int(dup.sum())} row(s), e.g. rows {rows}")
    return data


def _duplicate_firm_years(df: pd.DataFrame) -> np.ndarray:
    firm, year = df["firm_id"].to_numpy(), df["year"].to_numpy()
    # a table sorted strictly by (firm_id, year) has no duplicates: one O(n) pass
    if len(firm) < 2 or np.all((firm[1:] > firm[:-1]) | ((firm[1:] == firm[:-1]) & (year[1:] > year[:-1]))):
        return np.zeros(len(firm), dtype=bool)
    return df.duplicated(["firm_id", "year"], keep=False).to_numpy()


def _dtype_ok(s: pd.Series, kind: str) -> bool:
    if kind == "int":
        return pd.api.types.is_integer_dtype(s) and not s.isna().any()
    if kind == "Int":
        return pd.api.types.is_integer_dtype(s)
    if kind == "float":
        return pd.api.types.is_float_dtype(s)
    if kind == "bool":
        return pd.api.types.is_bool_dtype(s)
    if kind == "category":
        return isinstance(s.dtype, pd.CategoricalDtype)
    if kind == "str":
        return pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)
    raise ValueError(kind)


def as_columns(value, name: str, func: str) -> tuple[str, ...]:
    """A tuple of column names: a string is one column (never its letters), None none."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    out = tuple(value)
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{func}: {name} must be a column name or a sequence of them, got {bad[0]!r} in it")
    return out


def require_columns(data: pd.DataFrame, columns: Sequence[str] | str, func: str) -> None:
    """Raise a KeyError naming ``func`` and every column of ``columns`` that ``data`` lacks."""
    columns = [columns] if isinstance(columns, str) else columns
    missing = [c for c in dict.fromkeys(columns) if c not in data.columns]
    if missing:
        raise KeyError(f"{func}: column(s) not in the data: {', '.join(map(repr, missing))}")


def lag_within_firm(data: pd.DataFrame, columns: Sequence[str], unit: str = "firm_id",
                    time: str = "year", periods: int = 1) -> pd.DataFrame:
    """Values of ``columns`` in year ``t - periods`` of the same firm, aligned with ``data``.

    A lag exists only when the firm is observed exactly ``periods`` years
    earlier: across a gap in the firm's years the lag is missing, never the
    value of an older year.

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table with one row per (firm, time).
    columns : sequence of str
        Columns to lag.
    unit, time : str
        Unit (firm) identifier and integer year columns.
    periods : int
        Lag length in years.

    Returns
    -------
    pandas.DataFrame
        Lagged columns named ``"L.<column>"`` (``"L<periods>.<column>"`` for
        longer lags), with ``data``'s index; missing where no lag exists.

    Raises
    ------
    ValueError
        A column is missing, a key has missing values, or (firm, time) is not unique.
    """
    require_columns(data, [unit, time, *columns], "lag_within_firm")
    firm_values = data[unit].to_numpy()
    years = data[time].to_numpy()
    if pd.isna(firm_values).any() or pd.isna(years).any():
        raise ValueError(f"lag_within_firm: columns {unit!r} and {time!r} must not have missing values")
    order = np.lexsort((years, firm_values))
    sorted_firm, sorted_year = firm_values[order], years[order]
    same_firm = sorted_firm[1:] == sorted_firm[:-1]
    duplicate = same_firm & (sorted_year[1:] == sorted_year[:-1])
    if duplicate.any():
        rows = data.index[order[1:][duplicate][:5]].tolist()
        raise ValueError(f"lag_within_firm: ({unit}, {time}) is not unique in {int(duplicate.sum())} row(s), "
                         f"e.g. rows {rows}")
    # row r's lag is the sorted predecessor when it is the same firm exactly `periods` years earlier;
    # for periods > 1 search the firm's own years
    if periods == 1:
        has_lag_sorted = np.zeros(len(order), dtype=bool)
        has_lag_sorted[1:] = same_firm & (sorted_year[1:] - sorted_year[:-1] == 1)
        source_sorted = np.arange(len(order)) - 1
    else:
        keys = pd.MultiIndex.from_arrays([sorted_firm, sorted_year])
        wanted = pd.MultiIndex.from_arrays([sorted_firm, sorted_year - periods])
        source_sorted = keys.get_indexer(wanted)
        has_lag_sorted = source_sorted >= 0
    prefix = "L." if periods == 1 else f"L{periods}."
    source_row = np.full(len(order), -1, dtype=np.int64)
    source_row[order] = np.where(has_lag_sorted, order[np.clip(source_sorted, 0, None)], -1)
    has_lag = source_row >= 0
    out = {}
    for column in columns:
        values = data[column].astype(_nullable_dtype(data[column])).reset_index(drop=True)
        lagged = values.iloc[np.where(has_lag, source_row, 0)].reset_index(drop=True)
        lagged[~has_lag] = np.nan if lagged.dtype == float else pd.NA
        out[prefix + column] = lagged.set_axis(data.index)
    return pd.DataFrame(out, index=data.index)


def _nullable_dtype(series: pd.Series):
    # a lag needs a missing value: booleans and integers move to their nullable or float kinds
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "Int64"
    if pd.api.types.is_float_dtype(series):
        return float
    return series.dtype


# Stata and the codebook ----------------------------------------------------------
def stata_label(column: Column) -> str:
    """``column``'s Stata variable label: "meaning (unit)", or the meaning alone where it has no unit.

    A label longer than Stata's 80 characters keeps its unit whole (a number without its unit
    misleads) and cuts the meaning after the last word that fits, ending it with "..."
    (:func:`textwrap.shorten`, which also collapses runs of spaces).
    """
    unit = f" ({column.unit})" if column.unit else ""
    meaning = textwrap.shorten(column.meaning, STATA_LABEL_LENGTH - len(unit), placeholder="...")
    return (meaning + unit)[:STATA_LABEL_LENGTH]


def stata_labels(data: pd.DataFrame) -> dict[str, str]:
    """The Stata label of each column of ``data``: from the schema (:data:`DESCRIBED`), empty for other columns."""
    return {name: stata_label(DESCRIBED[name]) if name in DESCRIBED else "" for name in data.columns}


def to_stata(data: pd.DataFrame, path: str | Path, data_label: str = "firm-year panel") -> Path:
    """Write a firm-year table as a Stata 14+ ``.dta`` file (format 118, UTF-8) with variable labels; return its path.

    Each column is written as Stata holds it, deliberately:

    - bool: a byte of 0/1 (nullable boolean: missing as ``.``);
    - int64: a long where its values fit 32 bits, else a double (pandas' rule; exact up to 2**53);
    - nullable Int64: a long with Stata's missing value ``.`` for a missing one;
    - float: a double, missing as ``.``;
    - category: an integer with value labels (the categories as text), missing as ``.``;
    - text: a string; a missing text becomes "" (Stata strings have no missing value).

    The labels are :func:`stata_labels`. The file is written beside ``path`` and renamed over it, so a
    killed write leaves the earlier file or the new one. ``pandas.read_stata`` reads it back: 0/1 for
    bool, int32 for long (float64 where a value is missing), categoricals, "" for missing text.

    Raises SchemaError naming a column whose name Stata cannot hold (letters, digits and underscores,
    not starting with a digit, at most 32 characters): rename it first.
    """
    bad = [name for name in data.columns if not (isinstance(name, str) and _STATA_NAME.fullmatch(name))]
    if bad:
        raise SchemaError(f"to_stata: column name(s) {bad} are not Stata variable names (letters, digits and "
                          "underscores, not starting with a digit, at most 32 characters); rename them first")
    path = Path(path)
    frame = pd.DataFrame({name: _stata_values(data[name]) for name in data.columns})
    # a text longer than a fixed-width string column holds (2045 bytes) goes into Stata's strL
    long_texts = [name for name in frame.columns if frame[name].dtype == object
                  and frame[name].str.encode("utf-8").str.len().max() > 2045]
    write_atomic(path, lambda f: frame.to_stata(f, write_index=False, version=118, data_label=data_label,
                                                variable_labels=stata_labels(data), convert_strl=long_texts))
    return path


def _stata_values(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype):
        if not len(series):  # pandas cannot write value labels of an empty column: an empty text column
            return series.astype(object)
        return series.cat.rename_categories(str)  # Stata's value labels are text
    if pd.api.types.is_bool_dtype(series):  # Stata has no bool; a nullable one keeps its missing values
        return series.astype("Int8" if isinstance(series.dtype, pd.BooleanDtype) else np.int8)
    if pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series):
        return series.astype("string").fillna("").astype(object)
    return series


def codebook(data: pd.DataFrame) -> pd.DataFrame:
    """One row per column of ``data``: its name, Stata label, dtype, unit and meaning (from the schema), and
    what it holds.

    ``non_missing`` counts the values present and ``share_missing`` is the share missing. ``min`` and
    ``max`` are given for numeric and bool columns (bool as 0/1); ``distinct_values`` counts the
    distinct values present of a text or categorical column.
    """
    labels = stata_labels(data)
    rows = []
    for name in data.columns:
        series, spec = data[name], DESCRIBED.get(name)
        present = series.dropna()
        numeric = (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)) \
            and not isinstance(series.dtype, pd.CategoricalDtype)
        values = present.astype(float) if numeric else None
        rows.append({
            "variable": name, "label": labels[name], "dtype": str(series.dtype),
            "unit": spec.unit if spec else "", "meaning": spec.meaning if spec else "",
            "non_missing": len(present), "share_missing": series.isna().mean() if len(series) else np.nan,
            "min": values.min() if numeric and len(values) else np.nan,
            "max": values.max() if numeric and len(values) else np.nan,
            "distinct_values": np.nan if numeric else present.nunique(),
        })
    columns = ["variable", "label", "dtype", "unit", "meaning", "non_missing", "share_missing", "min", "max",
               "distinct_values"]
    # summaries as floats, NaN where one does not apply: plain numbers in a CSV, Stata or the report
    return pd.DataFrame(rows, columns=columns).astype({"min": float, "max": float, "distinct_values": float})


# ----------------------------------------------------------------------------------------------
# Human labels for the report's tables
# ----------------------------------------------------------------------------------------------

# Schema columns whose meaning, shortened, would make a poor column header.
_SHORT_LABELS = {"firm_id": "firm", "year": "year", "sez": "in an SEZ", "ln_tfp": "log TFP",
                 "employees": "employment", "capital": "capital", "city": "prefecture", "county": "county",
                 "exporter": "exporter", "birth_zone": "zone at birth", "investment": "investment", "age": "age",
                 "entry": "entry", "exit": "exit", "ownership": "ownership", "foreign_invested": "foreign-invested",
                 "va_method": "value-added measure", "link_type": "link rule", "source": "extract file",
                 "source_row": "row in extract"}

#: Label and meaning of each name the pipeline derives (estimates and statistics) that its report shows.
DERIVED_NAMES = {
    "beta_employees": ("labour elasticity", "output elasticity of employment in the production function"),
    "beta_capital": ("capital elasticity", "output elasticity of the capital stock in the production function"),
    "returns_to_scale": ("returns to scale", "labour elasticity + capital elasticity"),
    "n_obs": ("observations", "firm-years the estimate uses"),
    "n_firms": ("firms", "distinct firms the estimate uses"),
    "converged": ("converged", "the estimator's optimiser met its convergence criterion"),
    "estimated": ("estimated on", "the industry's own rows, or a production function pooled over small industries"),
    "firms": ("firms", "firms in the panel that year"),
    "in_sez": ("firms in SEZs", "firms located in a special economic zone that year"),
    "share": ("share in SEZs", "firms in SEZs / firms"),
    "t_employees": ("t statistic, employment", "t statistic of the employment elasticity"),
    "t_capital": ("t statistic, capital", "t statistic of the capital elasticity"),
    "constant": ("constant", "intercept of the production function"),
    "t_constant": ("t statistic, constant", "t statistic of the intercept"),
    "r2": ("R-squared", "share of the variance of log value added explained"),
    "r2_adj": ("adjusted R-squared", "R-squared adjusted for the number of regressors"),
    "n_treated_obs": ("treated firm-years", "firm-years at this time relative to entry into a zone"),
    "event_time": ("years since entry", "year minus the year of entry into a zone"),
}
_ESTIMATORS = {"twfe": "TWFE", "imputation": "imputation", "sun_abraham": "Sun-Abraham",
               "callaway_santanna": "Callaway-Sant'Anna"}
_ESTIMATES = {"coef": ("estimate", "point estimate"), "se": ("standard error", "standard error"),
              "lower": ("lower 95% bound", "estimate - 1.96 standard errors"),
              "upper": ("upper 95% bound", "estimate + 1.96 standard errors")}


def _labels() -> dict[str, tuple[str, str]]:
    """Name -> (label, meaning): the schema's columns (label: the meaning up to its first comma or
    parenthesis), the pipeline's derived names, and each estimator's estimates (``twfe_lower``).
    """
    out = {}
    for column in DESCRIBED.values():
        short = re.split(r",| \(", column.meaning, maxsplit=1)[0]
        out[column.name] = (_SHORT_LABELS.get(column.name, short), stata_label(column))
    out.update(DERIVED_NAMES)
    for key, estimator in _ESTIMATORS.items():
        for suffix, (label, meaning) in _ESTIMATES.items():
            out[f"{key}_{suffix}"] = (f"{estimator}, {label}", f"{estimator} estimator: {meaning}")
    return out


#: Name -> (label, meaning) of every column name the report translates (:func:`human_label`).
LABELS = _labels()


def human_label(name) -> str:
    """The label a reader sees for a column name (``beta_employees`` -> ``"labour elasticity"``); a name
    without one is returned unchanged.
    """
    entry = LABELS.get(name) if isinstance(name, str) else None
    return entry[0] if entry else name


def with_human_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with human labels for its column names and index names (values unchanged), for the report;
    the tidy CSVs keep the machine names.
    """
    return frame.rename(columns=human_label).rename_axis(index=[human_label(n) for n in frame.index.names])


def glossary() -> pd.DataFrame:
    """One row per name the report translates: ``name``, ``label`` and ``meaning`` (:data:`LABELS`)."""
    return pd.DataFrame([(name, label, meaning) for name, (label, meaning) in LABELS.items()],
                        columns=["name", "label", "meaning"])
