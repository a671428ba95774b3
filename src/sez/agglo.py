"""Agglomeration measures on a firm-year table.

- :func:`location_quotient` and :func:`is_agglomerated`: the location quotient
  of an industry in a region and the agglomerated flag LQ > 1 used to split
  firms in the KS dominance tests.
- :func:`ellison_glaeser` and :func:`ellison_glaeser_within_city`: the
  Ellison and Glaeser (1997) index with the plant Herfindahl, by industry and
  year, and the city-level EG_irt (industry i across the counties of city r in
  year t) used as a mediator of SEZ effects.
- :func:`exporter_counts`: the counts of incumbent exporters ``agg1_1`` ..
  ``agg3_2`` of the export-entry probit (Greenaway and Kneller 2008).

Every function takes a table in the firm-year schema of :mod:`sez.panel`.
Missing keys (year, region, industry) are errors; rows with a missing size
or status are left out, counted, and reported by a :class:`DroppedRowsWarning`
and in ``result.attrs["dropped_rows"]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sez.errors import DroppedRowsWarning
from sez.results import renamed

__all__ = [
    "DroppedRowsWarning",
    "location_quotient",
    "is_agglomerated",
    "ellison_glaeser",
    "ellison_glaeser_within_city",
    "to_firms",
    "exporter_counts",
    "EXPORTER_COUNT_COLUMNS",
]

EXPORTER_COUNT_COLUMNS = ("agg1_1", "agg1_2", "agg2_1", "agg2_2", "agg3_1", "agg3_2")


# ---------------------------------------------------------------------------
# input checks shared by the agglomeration and KS functions


def _as_list(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _rows_hint(df: pd.DataFrame, mask: np.ndarray, limit: int = 5) -> str:
    rows = df.index[np.flatnonzero(mask)[:limit]].tolist()
    return f"{int(mask.sum())} row(s), e.g. index {rows}"


def _check_frame(df: pd.DataFrame, columns: Sequence[str], func: str) -> None:
    """Raise ValueError for a non-DataFrame, empty data or a missing column."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{func}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in dict.fromkeys(columns) if c not in df.columns]
    if missing:
        raise ValueError(f"{func}: column(s) missing: {', '.join(map(repr, missing))}")
    if len(df) == 0:
        raise ValueError(f"{func}: the table is empty")


def _check_keys(df: pd.DataFrame, keys: Sequence[str], func: str) -> None:
    """Grouping keys may not be missing: a firm without a region or industry cannot be placed."""
    for key in dict.fromkeys(keys):
        bad = df[key].isna().to_numpy()
        if bad.any():
            raise ValueError(f"{func}: key column {key!r} is missing in {_rows_hint(df, bad)}")


def _usable_values(df: pd.DataFrame, column: str, func: str, nonnegative: bool = False) -> np.ndarray:
    """Mask of rows whose numeric `column` is present; negative values are an error when barred."""
    try:
        values = pd.to_numeric(df[column]).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{func}: column {column!r} is not numeric ({exc})") from None
    if nonnegative:
        bad = values < 0
        if bad.any():
            raise ValueError(f"{func}: column {column!r} is negative in {_rows_hint(df, bad)}")
    return ~np.isnan(values)


def _report_dropped(func: str, dropped: dict[str, int], total: int, stacklevel: int = 4) -> None:
    dropped = {k: v for k, v in dropped.items() if v}
    if dropped:
        what = ", ".join(f"{n} with missing {c!r}" for c, n in dropped.items())
        warnings.warn(f"{func}: left out {sum(dropped.values())} of {total} row(s): {what}", DroppedRowsWarning,
                      stacklevel=stacklevel)


class _KeyCodes:
    """Integer codes of key columns, each column factorised once and reused.

    ``codes(keys)`` gives dense codes (0 .. n - 1) of the combinations of
    `keys`, in order of first appearance. Keys are folded in one at a time and
    re-coded after each, so a combined code never exceeds (rows)^2 and cannot
    overflow.
    """

    def __init__(self, df: pd.DataFrame):
        self._df = df
        self._columns: dict[str, tuple[np.ndarray, int]] = {}

    def column(self, key: str) -> tuple[np.ndarray, int]:
        if key not in self._columns:
            codes, uniques = pd.factorize(self._df[key], sort=False)
            self._columns[key] = (codes.astype(np.int64, copy=False), len(uniques))
        return self._columns[key]

    def codes(self, keys: Sequence[str]) -> tuple[np.ndarray, int]:
        combined = np.zeros(len(self._df), dtype=np.int64)
        n = 1
        for key in keys:
            key_codes, n_key = self.column(key)
            combined, uniques = pd.factorize(combined * n_key + key_codes, sort=False)
            n = len(uniques)
        return combined.astype(np.int64, copy=False), n


def _parent(child: np.ndarray, n_child: int, parent: np.ndarray) -> np.ndarray:
    """For codes nested in coarser codes (every row of a child shares one parent): the parent of each child."""
    out = np.empty(n_child, dtype=np.int64)
    out[child] = parent
    return out


def _first_rows(codes: np.ndarray, n: int) -> np.ndarray:
    """Position of the first row of each code."""
    first = np.empty(n, dtype=np.int64)
    positions = np.arange(len(codes), dtype=np.int64)
    first[codes[::-1]] = positions[::-1]  # later writes win: the first row is written last
    return first


# ---------------------------------------------------------------------------
# location quotient


def _checked_cells(df: pd.DataFrame, industry: str, region: str, size: str, by, func: str, stacklevel: int):
    """Keys of an industry x region cell table, checked; rows with a usable size
    (missing ones counted and announced); an error when none is usable.
    """
    by_keys = _as_list(by)
    keys = [*by_keys, industry, region]
    _check_frame(df, [*keys, size], func)
    _check_keys(df, keys, func)
    usable = _usable_values(df, size, func, nonnegative=True)
    dropped = {size: int((~usable).sum())}
    if not usable.any():
        raise ValueError(f"{func}: no row has a value of {size!r}")
    _report_dropped(func, dropped, len(df), stacklevel=stacklevel)
    return by_keys, keys, usable, dropped


def _lq_cells(df: pd.DataFrame, industry: str, region: str, size: str, by: str | Sequence[str] | None,
              func: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Cell code of every row and the cell table of location quotients (all cells, usable or not)."""
    by_keys, keys, usable, dropped = _checked_cells(df, industry, region, size, by, func, stacklevel=6)
    weight = np.where(usable, pd.to_numeric(df[size]).to_numpy(dtype=float, na_value=np.nan), 0.0)

    coder = _KeyCodes(df)
    group, n_group = coder.codes(by_keys)
    ind, n_ind = coder.codes([*by_keys, industry])
    reg, n_reg = coder.codes([*by_keys, region])
    cell, n_cell = coder.codes(keys)
    cell_ind, cell_reg = _parent(cell, n_cell, ind), _parent(cell, n_cell, reg)
    cell_group = _parent(cell, n_cell, group)

    size_ij = np.bincount(cell, weight, n_cell)
    size_i = np.bincount(ind, weight, n_ind)[cell_ind]
    size_j = np.bincount(reg, weight, n_reg)[cell_reg]
    size_total = np.bincount(group, weight, n_group)[cell_group]
    with np.errstate(divide="ignore", invalid="ignore"):
        lq = (size_ij / size_i) / (size_j / size_total)
    lq[size_i <= 0] = np.nan  # an industry without output has no quotient

    table = df.iloc[_first_rows(cell, n_cell)][keys].reset_index(drop=True)
    table["size_ij"] = size_ij
    table["size_i"] = size_i
    table["size_j"] = size_j
    table["size_total"] = size_total
    table["lq"] = lq
    table["agglomerated"] = lq > 1  # NaN compares False
    table["usable"] = np.bincount(cell, usable.astype(np.int64), n_cell) > 0
    table.attrs["dropped_rows"] = dropped
    return cell, table


@renamed(df="data")
def location_quotient(data: pd.DataFrame, industry: str = "cic3", region: str = "city", size: str = "output",
                      by: str | Sequence[str] | None = "year") -> pd.DataFrame:
    """Location quotient of each industry in each region.

    LQ_ij = (x_ij / x_i) / (x_j / x), with x_ij the size (output by default) of
    industry i in region j, x_i of industry i, x_j of region j and x the total,
    computed within each `by` group (each year by default). Industry i is
    agglomerated in region j when LQ_ij > 1.

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table (:mod:`sez.panel` schema).
    industry, region, size : str
        Column names: the industry level (``cic3``: 3-digit), the region level
        (``city``) and the size variable (``output``).
    by : str, sequence of str or None
        Columns within which shares are taken (``year``); None pools all rows.

    Returns
    -------
    pandas.DataFrame
        One row per (by, industry, region) cell holding at least one usable
        size, sorted by the keys, with columns ``size_ij``, ``size_i``,
        ``size_j``, ``size_total``, ``lq`` and ``agglomerated`` (LQ > 1). LQ is
        NaN where the industry's total size is 0.

    Raises
    ------
    ValueError
        A column is missing, the table is empty, a key is missing, or the size
        is negative (the message names the column and rows).

    Warns
    -----
    DroppedRowsWarning
        Rows with a missing size are left out; their number is in
        ``result.attrs["dropped_rows"]``.
    """
    _, table = _lq_cells(data, industry, region, size, by, "location_quotient")
    keys = [*_as_list(by), industry, region]
    out = table[table["usable"]].drop(columns="usable").sort_values(keys, kind="stable").reset_index(drop=True)
    out.attrs["dropped_rows"] = table.attrs["dropped_rows"]
    return out


@renamed(df="data")
def is_agglomerated(data: pd.DataFrame, industry: str = "cic3", region: str = "city", size: str = "output",
                    by: str | Sequence[str] | None = "year") -> pd.Series:
    """For each firm-year, whether its industry is agglomerated in its region (LQ > 1).

    Parameters are those of :func:`location_quotient`. A row whose own size is
    missing still gets the flag of its industry-region cell; a cell with no
    usable size at all has LQ 0 and is not agglomerated.

    Returns
    -------
    pandas.Series
        Boolean, aligned with ``df.index``, named ``agglomerated``; the number
        of rows left out of the quotients is in ``attrs["dropped_rows"]``.
    """
    cell, table = _lq_cells(data, industry, region, size, by, "is_agglomerated")
    flags = pd.Series(table["agglomerated"].to_numpy()[cell], index=data.index, name="agglomerated")
    flags.attrs["dropped_rows"] = table.attrs["dropped_rows"]
    return flags


@renamed(df="data")
def to_firms(data: pd.DataFrame, table: pd.DataFrame, column: str) -> pd.Series:
    """Map a cell-level `column` of `table` onto the firm rows of `df` by their shared key columns.

    The keys are the columns of `table` that are also in `df`, other than
    `column` itself; each key combination must appear once in `table`.

    Returns
    -------
    pandas.Series
        Aligned with ``df.index``; NaN where a firm's cell is not in `table`.
    """
    if column not in table.columns:
        raise ValueError(f"to_firms: column {column!r} is not in the table")
    keys = [c for c in table.columns if c in data.columns and c != column]
    if not keys:
        raise ValueError("to_firms: the table shares no key column with the firm table")
    if table.duplicated(keys).any():
        raise ValueError(f"to_firms: the table has duplicate cells on keys {keys}")
    mapped = data[keys].merge(table[keys + [column]], on=keys, how="left", sort=False)
    return pd.Series(mapped[column].to_numpy(), index=data.index, name=column)


# ---------------------------------------------------------------------------
# Ellison-Glaeser


@renamed(df="data")
def ellison_glaeser(data: pd.DataFrame, industry: str = "cic3", region: str = "county", size: str = "employees",
                    by: str | Sequence[str] | None = "year") -> pd.DataFrame:
    """Ellison and Glaeser (1997) concentration index of each industry, with the plant Herfindahl.

    Within each `by` group (each year by default)::

        G     = sum_j (s_j - x_j)^2
        H     = sum_k z_k^2
        gamma = [G - (1 - sum_j x_j^2) H] / [(1 - sum_j x_j^2) (1 - H)]

    with s_j the industry's share of its employment in region j, x_j region j's
    share of the employment of all industries, and z_k plant k's share of the
    industry's employment. The sum over j runs over every region of the group,
    including those where the industry has no plant (s_j = 0). Under the
    dartboard model with spillovers or natural advantage of strength gamma,
    E[G] = (1 - sum x_j^2) [gamma + (1 - gamma) H], so gamma is unbiased.

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table; each row is a plant.
    industry, region, size : str
        Column names (``cic3``, ``county``, ``employees``).
    by : str, sequence of str or None
        Groups within which the index is computed (``year``). For the city-level
        EG_irt use ``region="county", by=["year", "city"]``
        (:func:`ellison_glaeser_within_city`).

    Returns
    -------
    pandas.DataFrame
        One row per (by, industry) with ``n_plants``, ``n_regions`` (regions in
        the group), ``size`` (industry employment), ``G``, ``H``,
        ``sum_x2`` (sum_j x_j^2) and ``gamma``. gamma is NaN where it is not
        defined: one plant holding all employment (H = 1), a single region
        (sum x_j^2 = 1), or no employment.

    Raises
    ------
    ValueError
        A column is missing, the table is empty, a key is missing, or the size
        is negative.

    Warns
    -----
    DroppedRowsWarning
        Plants with missing size are left out (counted in ``attrs["dropped_rows"]``).
    """
    func = "ellison_glaeser"
    by_keys, keys, usable, dropped = _checked_cells(data, industry, region, size, by, func, stacklevel=5)
    work = data.loc[usable, keys + [size]]
    emp = work[size].to_numpy(dtype=float)

    coder = _KeyCodes(work)
    group, n_group = coder.codes(by_keys)
    ind, n_ind = coder.codes([*by_keys, industry])
    reg, n_reg = coder.codes([*by_keys, region])
    cell, n_cell = coder.codes([*by_keys, industry, region])

    emp_group = np.bincount(group, emp, n_group)
    emp_ind = np.bincount(ind, emp, n_ind)
    emp_reg = np.bincount(reg, emp, n_reg)
    emp_cell = np.bincount(cell, emp, n_cell)

    ind_group, reg_group = _parent(ind, n_ind, group), _parent(reg, n_reg, group)
    cell_ind, cell_reg = _parent(cell, n_cell, ind), _parent(cell, n_cell, reg)

    with np.errstate(divide="ignore", invalid="ignore"):
        x_reg = emp_reg / emp_group[reg_group]
        sum_x2 = np.bincount(reg_group, x_reg**2, n_group)
        s_cell = emp_cell / emp_ind[cell_ind]
        x_cell = x_reg[cell_reg]
        # sum over all regions of (s - x)^2 = sum over the industry's regions of
        # (s^2 - 2 s x) + sum over all regions of x^2 (s = 0 elsewhere)
        G = np.bincount(cell_ind, s_cell**2 - 2.0 * s_cell * x_cell, n_ind) + sum_x2[ind_group]
        z = emp / emp_ind[ind]
        H = np.bincount(ind, z**2, n_ind)
        one_minus_x2 = 1.0 - sum_x2[ind_group]
        gamma = (G - one_minus_x2 * H) / (one_minus_x2 * (1.0 - H))
    # exact zeros from rounding (one plant, one region) leave gamma undefined, not huge
    undefined = (emp_ind <= 0) | (H >= 1.0 - 1e-12) | (one_minus_x2 <= 1e-12)
    gamma[undefined] = np.nan

    first = _first_rows(ind, n_ind)
    out = work.iloc[first][[*by_keys, industry]].reset_index(drop=True)
    out["n_plants"] = np.bincount(ind, minlength=n_ind)
    out["n_regions"] = np.bincount(reg_group, minlength=n_group)[ind_group]
    out["size"] = emp_ind
    out["G"] = G
    out["H"] = H
    out["sum_x2"] = sum_x2[ind_group]
    out["gamma"] = gamma
    out = out.sort_values([*by_keys, industry], kind="stable").reset_index(drop=True)
    out.attrs["dropped_rows"] = dropped
    return out


@renamed(df="data")
def ellison_glaeser_within_city(data: pd.DataFrame, industry: str = "cic3", city: str = "city",
                                county: str = "county", size: str = "employees",
                                time: str = "year") -> pd.DataFrame:
    """EG_irt: the Ellison-Glaeser index of industry i across the counties of city r in year t.

    The city's counties are the regions and the city's employment of all
    industries gives the regional shares x_j; see :func:`ellison_glaeser` for
    the formula and the returned columns. Map it onto firms with
    ``to_firms(df, table, "gamma")``.
    """
    return ellison_glaeser(data, industry=industry, region=county, size=size, by=[time, city])


# ---------------------------------------------------------------------------
# exporter counts


@renamed(df="data")
def exporter_counts(data: pd.DataFrame, industry: str = "cic3", county: str = "county", province: str = "province",
                    time: str = "year", exporter: str = "exporter",
                    foreign_invested: str = "foreign_invested") -> pd.DataFrame:
    """Numbers of incumbent exporters around each firm in the same year, the firm itself excluded.

    - ``agg1_1``: exporters in the same county and the same (3-digit) industry;
    - ``agg1_2``: exporters in the same county in other industries;
    - ``agg2_1``: indigenous (not foreign-invested) exporters in the same county;
    - ``agg2_2``: indigenous exporters in the same province, other counties;
    - ``agg3_1``: foreign-invested exporters in the same county;
    - ``agg3_2``: foreign-invested exporters in the same province, other counties.

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table (:mod:`sez.panel` schema), one row per firm and year.
    industry, county, province, time : str
        Key columns; each county must lie in one province in a year.
    exporter, foreign_invested : str
        Boolean status columns.

    Returns
    -------
    pandas.DataFrame
        Integer columns ``agg1_1`` .. ``agg3_2`` aligned with ``df.index``.

    Raises
    ------
    ValueError
        A column is missing, the table is empty, a key is missing, or a county
        appears in two provinces in one year.

    Warns
    -----
    DroppedRowsWarning
        A firm with missing export status is counted as no one's exporter
        neighbour (its own counts are still computed); a firm with missing
        ownership is left out of the indigenous and foreign counts.
    """
    func = "exporter_counts"
    keys = [time, province, county, industry]
    _check_frame(data, [*keys, exporter, foreign_invested], func)
    _check_keys(data, keys, func)

    exporter_known = data[exporter].notna().to_numpy()
    owner_known = data[foreign_invested].notna().to_numpy()
    is_exporter = data[exporter].to_numpy(dtype=bool, na_value=False) & exporter_known
    is_foreign = data[foreign_invested].to_numpy(dtype=bool, na_value=False)
    dropped = {exporter: int((~exporter_known).sum()),
               foreign_invested: int((is_exporter & ~owner_known).sum())}
    _report_dropped(func, dropped, len(data))

    coder = _KeyCodes(data)
    in_county, n_county = coder.codes([time, county])
    in_cell, n_cell = coder.codes([time, county, industry])
    in_province, n_province = coder.codes([time, province])

    county_province = np.full(n_county, -1, dtype=np.int64)
    county_province[in_county] = in_province
    conflict = county_province[in_county] != in_province
    if conflict.any():
        raise ValueError(f"{func}: column {county!r} places a county in more than one {province!r} within a year "
                         f"in {_rows_hint(data, conflict)}")

    def count(flags: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
        return np.bincount(codes, flags.astype(np.int64), n)[codes]

    indigenous = is_exporter & owner_known & ~is_foreign
    foreign = is_exporter & owner_known & is_foreign
    exporters_cell = count(is_exporter, in_cell, n_cell)
    exporters_county = count(is_exporter, in_county, n_county)
    indigenous_county = count(indigenous, in_county, n_county)
    foreign_county = count(foreign, in_county, n_county)
    out = pd.DataFrame(
        {
            "agg1_1": exporters_cell - is_exporter,
            "agg1_2": exporters_county - exporters_cell,
            "agg2_1": indigenous_county - indigenous,
            "agg2_2": count(indigenous, in_province, n_province) - indigenous_county,
            "agg3_1": foreign_county - foreign,
            "agg3_2": count(foreign, in_province, n_province) - foreign_county,
        },
        index=data.index,
    ).astype(np.int64)
    out.attrs["dropped_rows"] = dropped
    return out
