"""Every moment the papers use or name, defined once, for data and model panels.

Each moment reads a firm-year table in the ``sez.panel`` schema, so the same
code computes it from a harmonised ASIE panel and from a simulated one. Units
are stated; where the paper's definition depends on the units of TFP (the ratio
of mean log TFP, docs/model.md "A note on the TFP moments") a unit-free version
sits beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from sez.results import renamed


@dataclass(frozen=True)
class Moment:
    """One moment: its name, how it is computed from a firm-year panel, and its units."""

    name: str
    unit: str
    definition: str
    needs: tuple[str, ...]
    compute: Callable[[pd.DataFrame], float]


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den != 0 else float("nan")


def _i_y(df):
    ok = df["investment"].notna()
    return _ratio(df.loc[ok, "investment"].sum(), df.loc[ok, "value_added"].sum())


def _wl_y(df):
    return _ratio(df["wage_bill"].sum(), df["value_added"].sum())


def _mean_lntfp(df, sez: bool, births: bool = False):
    rows = (df["sez"] == sez) & (df["entry"] if births else True)
    return df.loc[rows, "ln_tfp"].mean()


def _lev(df, sez: bool):
    rows = (df["sez"] == sez) & (df["capital"] > 0)
    return float((df.loc[rows, "debt"] / df.loc[rows, "capital"]).mean())


def _top5_share(df):
    def share(va):
        va = np.sort(va.to_numpy())[::-1]
        top = max(1, int(np.ceil(0.05 * len(va))))
        return va[:top].sum() / va.sum()

    return float(df.groupby("year")["value_added"].apply(share).mean())


def _profit_share(df, sez: bool):
    rows = df["sez"] == sez
    return float((df.loc[rows, "profit"] > 0).mean())


def _entrant_debt(df):
    entrants = df.loc[df["entry"], "debt"].mean()
    incumbents = df.loc[~df["entry"], "debt"].mean()
    return _ratio(entrants, incumbents)


MOMENTS: dict[str, Moment] = {m.name: m for m in (
    Moment("i_y", "ratio", "sum of investment / sum of value added over firm-years with investment observed "
           "(investment = k_{t+1} - (1 - delta) k_t)", ("investment", "value_added"), _i_y),
    Moment("wl_y", "ratio", "sum of the wage bill / sum of value added", ("wage_bill", "value_added"), _wl_y),
    Moment("tfp_ratio_sez", "ratio of mean log TFP (depends on TFP units)",
           "the paper's AvgTFP^S / AvgTFP^N: mean ln TFP of SEZ firm-years / that of non-SEZ firm-years",
           ("ln_tfp", "sez"), lambda d: _ratio(_mean_lntfp(d, True), _mean_lntfp(d, False))),
    Moment("tfp_gap_sez", "log points (unit-free)", "mean ln TFP of SEZ firm-years - that of non-SEZ firm-years",
           ("ln_tfp", "sez"), lambda d: float(_mean_lntfp(d, True) - _mean_lntfp(d, False))),
    Moment("tfp_birth_ratio_sez", "ratio of mean log TFP (depends on TFP units)",
           "the paper's AvgTFP_0^S / AvgTFP_0^N: the same ratio among firms in their birth year",
           ("ln_tfp", "sez", "entry"), lambda d: _ratio(_mean_lntfp(d, True, True), _mean_lntfp(d, False, True))),
    Moment("tfp_birth_gap_sez", "log points (unit-free)", "mean ln TFP difference SEZ - non-SEZ in the birth year",
           ("ln_tfp", "sez", "entry"),
           lambda d: float(_mean_lntfp(d, True, True) - _mean_lntfp(d, False, True))),
    Moment("exit_rate_sez", "share per year", "share of SEZ firm-years that are a firm's last before it exits",
           ("exit", "sez"), lambda d: float(d.loc[d["sez"], "exit"].mean())),
    Moment("entrant_debt_ratio", "ratio", "mean debt of firms in their birth year / mean debt of older firms",
           ("debt", "entry"), _entrant_debt),
    Moment("leverage_sez", "ratio", "mean of debt / capital over SEZ firm-years with capital > 0",
           ("debt", "capital", "sez"), lambda d: _lev(d, True)),
    Moment("leverage_nsez", "ratio", "mean of debt / capital over non-SEZ firm-years with capital > 0",
           ("debt", "capital", "sez"), lambda d: _lev(d, False)),
    Moment("top5_va_share", "share", "value added of the top 5% of firms by value added / total, mean over years",
           ("value_added", "year"), _top5_share),
    Moment("sez_share", "share", "share of firm-years in SEZs", ("sez",), lambda d: float(d["sez"].mean())),
    Moment("profit_share_sez", "share", "share of SEZ firm-years with profit > 0", ("profit", "sez"),
           lambda d: _profit_share(d, True)),
    Moment("profit_share_nsez", "share", "share of non-SEZ firm-years with profit > 0", ("profit", "sez"),
           lambda d: _profit_share(d, False)),
)}

#: The eight moments the SEZ paper's calibration targets (its Table 7; the values are in
#: ``sez.papers.sez_paper.model.table7()``).
CALIBRATION_MOMENTS = ("i_y", "wl_y", "tfp_ratio_sez", "tfp_birth_ratio_sez", "exit_rate_sez", "entrant_debt_ratio",
                       "leverage_sez", "leverage_nsez")


@renamed(panel="data")
def compute(data: pd.DataFrame, names=None) -> pd.Series:
    """Moments of a firm-year panel (all by default), as a Series named by moment."""
    names = list(MOMENTS) if names is None else list(names)
    unknown = [n for n in names if n not in MOMENTS]
    if unknown:
        raise ValueError(f"unknown moment(s) {unknown}; known: {sorted(MOMENTS)}")
    if len(data) == 0:
        raise ValueError("the panel is empty")
    out = {}
    for name in names:
        m = MOMENTS[name]
        missing = [c for c in m.needs if c not in data.columns]
        if missing:
            raise ValueError(f"moment {name!r} needs column(s) {missing}, which the panel lacks")
        out[name] = m.compute(data)
    return pd.Series(out, dtype=float)


@renamed(panel="data")
def bootstrap(data: pd.DataFrame, names=None, draws: int = 200, seed: int = 0) -> tuple[pd.Series, pd.DataFrame]:
    """Moments and their covariance by resampling whole firms with replacement
    (a firm's years stay together, so serial correlation is kept).
    """
    if int(draws) != draws or draws < 2:
        raise ValueError(f"draws = {draws}: need an integer >= 2")
    point = compute(data, names)
    firms = data["firm_id"].to_numpy()
    codes, uniques = pd.factorize(firms)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(uniques)))
    ends = np.append(starts[1:], len(order))
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(int(draws)):
        pick = rng.integers(0, len(uniques), len(uniques))
        idx = np.concatenate([order[starts[f]:ends[f]] for f in pick])
        sample = data.iloc[idx].copy()
        # resampled firms appear more than once: give each copy its own id
        sample["firm_id"] = np.repeat(np.arange(len(pick)), ends[pick] - starts[pick])
        rows.append(compute(sample, point.index))
    draws_df = pd.DataFrame(rows)
    return point, draws_df.cov()
