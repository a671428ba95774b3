"""The SEZ paper's firm controls (its footnote 16) and its agglomeration mediator EG_irt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sez.did.prepare import RENAMED
from sez.panel import require_columns
from sez.results import renamed, renamed_keywords


def _log_positive(values) -> np.ndarray:
    """Natural log where positive, NaN elsewhere (Stata's ``ln()`` gives missing for x <= 0)."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


def _lagged(panel: pd.DataFrame, column: str, unit: str, time: str) -> np.ndarray:
    """The firm's value of ``column`` in the previous calendar year (NaN where that year is not observed)."""
    previous = panel[[unit, time, column]].copy()
    previous[time] = previous[time] + 1
    merged = panel[[unit, time]].merge(previous, on=[unit, time], how="left", sort=False)
    return merged[column].to_numpy(dtype=float)


def _ratio(num, den) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


@dataclass(frozen=True)
class PaperControl:
    """A firm control of the SEZ paper (its footnote 16 and the rows of Tables 16-18).

    ``name`` is the column :func:`paper_controls` adds, ``label`` the paper's
    row label, ``needs`` the panel columns it is built from (``"{eg}"`` stands
    for the EG column named by the caller), ``definition`` says how.
    """

    name: str
    label: str
    needs: tuple[str, ...]
    definition: str


PAPER_CONTROLS = {c.name: c for c in (
    PaperControl("size", "size", ("total_assets",),
                 "ln(total assets); the paper deflates by an industrial price index, which year or region-by-year "
                 "effects absorb when the index varies by year only"),
    PaperControl("ln_age", "lnage", ("age",), "ln(age); missing at age 0, as Stata's ln()"),
    PaperControl("ln_roa", "lnROA", ("profit", "total_assets"),
                 "ln(profit / mean of total assets in t and t-1); the previous calendar year of the same firm, "
                 "missing without it or where profit <= 0"),
    PaperControl("ln_debt_ratio", "ln(Debt ratio)", ("debt", "total_assets"), "ln(debt / total assets)"),
    PaperControl("export", "Export", ("exporter",), "exporter indicator (0/1)"),
    PaperControl("state_owned", "State-owned", ("ownership",), "ownership group == 'state' (0/1)"),
    PaperControl("ln_ky", "lnky", ("capital", "output"), "ln(capital / output), the capital-output ratio"),
    PaperControl("ln_export_density", "ln(Export density)", ("exports", "sales"),
                 "ln(exports / sales), the export share; defined for exporters only (which the paper's sample "
                 "sizes from m3 on suggest)"),
    PaperControl("ln_eg", "lnEG", ("{eg}",),
                 "ln EG_irt, the Ellison-Glaeser index of the firm's industry across the counties of its city "
                 "(eg_mediator); missing where EG <= 0"),
    PaperControl("ln_sales", "lnsales", ("sales",), "ln(sales)"),
    PaperControl("ln_profit", "lnprofit_net", ("profit",), "ln(profit); missing where profit <= 0"),
    PaperControl("ln_output", "lnY", ("output",), "ln(gross output)"),
)}


def _build_control(name: str, panel: pd.DataFrame, eg: str, unit: str, time: str) -> np.ndarray:
    num = lambda col: pd.to_numeric(panel[col], errors="coerce").to_numpy(dtype=float)  # noqa: E731
    if name == "size":
        return _log_positive(num("total_assets"))
    if name == "ln_age":
        return _log_positive(num("age"))
    if name == "ln_roa":
        assets = num("total_assets")
        average = (assets + _lagged(panel, "total_assets", unit, time)) / 2.0
        return _log_positive(_ratio(num("profit"), average))
    if name == "ln_debt_ratio":
        return _log_positive(_ratio(num("debt"), num("total_assets")))
    if name == "export":
        return panel["exporter"].astype(float).to_numpy()
    if name == "state_owned":
        return (panel["ownership"].astype(str) == "state").to_numpy(dtype=float)
    if name == "ln_ky":
        return _log_positive(_ratio(num("capital"), num("output")))
    if name == "ln_export_density":
        return _log_positive(_ratio(num("exports"), num("sales")))
    if name == "ln_eg":
        return _log_positive(num(eg))
    if name == "ln_sales":
        return _log_positive(num("sales"))
    if name == "ln_profit":
        return _log_positive(num("profit"))
    if name == "ln_output":
        return _log_positive(num("output"))
    raise KeyError(f"paper_controls: unknown control {name!r}; known: {', '.join(PAPER_CONTROLS)}")


def paper_controls(data: pd.DataFrame, controls: Sequence[str] | None = None, eg: str = "eg_city",
                   unit: str = "firm_id", time: str = "year", **old) -> tuple[pd.DataFrame, dict[str, str]]:
    """A copy of the panel with the paper's firm controls added as columns (see ``PAPER_CONTROLS``).

    Parameters
    ----------
    controls : sequence of str, optional
        Names from ``PAPER_CONTROLS`` (all by default).
    eg : str
        Column holding the level of EG_irt (``eg_mediator(panel)``), for ``ln_eg``.

    Returns
    -------
    (pandas.DataFrame, dict)
        The panel with one column per buildable control, and ``{control:
        reason}`` for those that cannot be built because the panel lacks a
        column they need. A control that exists but is missing in some rows
        is NaN there (the regressions drop those rows and count them).
    """
    renamed_keywords(old, RENAMED, "paper_controls")
    names = list(PAPER_CONTROLS) if controls is None else list(controls)
    unknown = [c for c in names if c not in PAPER_CONTROLS]
    if unknown:
        raise KeyError(f"paper_controls: unknown control(s) {unknown}; known: {', '.join(PAPER_CONTROLS)}")
    require_columns(data, [unit, time], "paper_controls")
    out = data.copy(deep=False)  # new columns only: the panel's own (gigabytes at the papers' scale) are shared
    unavailable = {}
    for name in names:
        needs = [eg if n == "{eg}" else n for n in PAPER_CONTROLS[name].needs]
        missing = [n for n in needs if n not in data.columns]
        if missing:
            unavailable[name] = (f"control {PAPER_CONTROLS[name].label!r} ({name}) needs column(s) "
                                 f"{', '.join(map(repr, missing))}, not in the panel")
            continue
        out[name] = _build_control(name, data, eg, unit, time)
    return out, unavailable


@renamed(panel="data")
def eg_mediator(data: pd.DataFrame, log: bool = False, industry: str = "cic3", city: str = "city",
                county: str = "county", size: str = "employees", time: str = "year") -> pd.Series:
    """EG_irt of each firm-year: the Ellison-Glaeser index of its industry across the counties of its city.

    The mediator of the paper's eqs. 1-2 (Tables 4, 21-30; the level) and the
    ``lnEG`` control and moderator (Tables 16-18, 32; ``log=True``, NaN where
    the index is not positive, counted in ``attrs["not_positive"]``). Built
    with :func:`sez.agglo.ellison_glaeser_within_city` and mapped onto firms
    with :func:`sez.agglo.to_firms`; NaN where the index is undefined (one
    plant, or one county in the city).
    """
    from sez import agglo

    table = agglo.ellison_glaeser_within_city(data, industry=industry, city=city, county=county, size=size,
                                              time=time)
    level = agglo.to_firms(data, table, "gamma").astype(float)
    if not log:
        return level.rename("eg_city")
    out = pd.Series(_log_positive(level.to_numpy()), index=data.index, name="ln_eg_city")
    out.attrs["not_positive"] = int((level <= 0).sum())
    return out
