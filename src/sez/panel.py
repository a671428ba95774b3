"""The firm-year schema: one place for column names, dtypes, units and meaning.

Every analysis reads a firm-year table in this schema, whether it was harmonised
from ASIE files or simulated from the model, so a moment is computed by one piece
of code for both. A model panel holds the columns the model produces and lists
the others in ``df.attrs["not_produced"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sez.errors import SchemaError
from sez.results import renamed


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
