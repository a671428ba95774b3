"""Kolmogorov-Smirnov tests of equality and first-order stochastic dominance.

- :func:`ks_2samp`: the two-sample test with the statistics and p-values of
  Stata's ``ksmirnov`` (the convention of the papers), exact p-values for small
  samples by lattice-path counting.
- :func:`dominance_table`: the KS dominance table of log TFP by export status
  and agglomeration, year by year (Table 2 of the agglomeration paper), every
  group sorted once and all comparisons computed in one parallel C++ call.
- :func:`plot_tfp_densities` and :func:`plot_tfp_by_zone_and_agglomeration`:
  the matching density figures.

Sign convention (Stata's ``ksmirnov``): sample 1 is group 1,
D+ = max(F1 - F2) >= 0 (large when group 1 holds smaller values),
D- = min(F1 - F2) <= 0 reported with its sign, D = max(D+, -D-).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import special

from sez import _core
from sez.agglo import (
    _check_frame,
    _check_keys,
    _KeyCodes,
    _report_dropped,
    _usable_values,
    ellison_glaeser_within_city,
    is_agglomerated,
    to_firms,
)

__all__ = [
    "KSResult",
    "ks_2samp",
    "sorted_groups",
    "ks_batch",
    "ks_pvalue_two_sided",
    "ks_pvalue_one_sided",
    "ks_pvalue_corrected",
    "dominance_verdict",
    "dominance_table",
    "GROUP_LABELS",
    "TABLE2_PANELS",
    "plot_tfp_densities",
    "plot_tfp_by_zone_and_agglomeration",
]

# Exact p-values by default when m * n is at most this: below it the
# asymptotic distribution is rough and the O(m n) count takes microseconds.
EXACT_AUTO_LIMIT = 10_000
# Beyond this many lattice steps (seconds of work) the exact count is refused.
EXACT_MAX_WORK = 1_000_000_000


# ---------------------------------------------------------------------------
# p-values (Stata's formulas; vectorised over arrays of statistics)


def _effective_size(m, n):
    m = np.asarray(m, dtype=float)
    n = np.asarray(n, dtype=float)
    return m * n / (m + n)


def ks_pvalue_two_sided(d, m, n):
    """Asymptotic p-value of the combined statistic D, as Stata reports it.

    p = min(1, 2 sum_{i=1..5} (-1)^(i-1) exp(-2 i^2 A D^2)), A = m n / (m + n)
    (Smirnov 1939; the series truncated after five terms).

    Parameters
    ----------
    d : float or array_like
        Combined statistic(s) D.
    m, n : int or array_like
        Sample sizes.

    Returns
    -------
    numpy.ndarray or numpy.float64
        p-value(s), broadcast over the arguments.
    """
    x = _effective_size(m, n) * np.square(np.asarray(d, dtype=float))
    series = sum((-1.0) ** (i - 1) * np.exp(-2.0 * i * i * x) for i in range(1, 6))
    return np.clip(2.0 * series, 0.0, 1.0)


def ks_pvalue_one_sided(d, m, n):
    """Asymptotic p-value of a one-sided statistic, as Stata reports it: exp(-2 A D^2), A = m n / (m + n).

    Parameters
    ----------
    d : float or array_like
        D+ (H0: F1 <= F2) or D- (H0: F1 >= F2; its sign does not matter).
    m, n : int or array_like
        Sample sizes.

    Returns
    -------
    numpy.ndarray or numpy.float64
        p-value(s), broadcast over the arguments.
    """
    return np.exp(-2.0 * _effective_size(m, n) * np.square(np.asarray(d, dtype=float)))


def ks_pvalue_corrected(p, m, n):
    """Small-sample correction of the combined p-value that Stata reports as 'corrected'.

    p' = Phi(Phi^-1(p) + 1.04 / min(m, n) + 2.09 / max(m, n) - 1.35 / sqrt(A)),
    A = m n / (m + n).

    Parameters
    ----------
    p : float or array_like
        Asymptotic two-sided p-value(s) from :func:`ks_pvalue_two_sided`.
    m, n : int or array_like
        Sample sizes.

    Returns
    -------
    numpy.ndarray or numpy.float64
        Corrected p-value(s); 0 and 1 map to themselves.
    """
    m = np.asarray(m, dtype=float)
    n = np.asarray(n, dtype=float)
    shift = 1.04 / np.minimum(m, n) + 2.09 / np.maximum(m, n) - 1.35 / np.sqrt(_effective_size(m, n))
    with np.errstate(divide="ignore"):
        return special.ndtr(special.ndtri(np.asarray(p, dtype=float)) + shift)


def dominance_verdict(p_two_sided, p_plus, p_minus, alpha: float = 0.05) -> np.ndarray:
    """First-order stochastic dominance by the rule of the agglomeration paper.

    Group A (sample 1) dominates group B when equality is rejected by the
    two-sided test and the one-sided null H0: F_A <= F_B (tested by D+) is not
    rejected, while the other one-sided null (tested by D-) is; and
    symmetrically for B. Returns strings:

    - ``"A dominates B"`` / ``"B dominates A"``;
    - ``"crossing"``: both one-sided nulls rejected (the CDFs cross);
    - ``"no difference"``: equality not rejected;
    - ``"inconclusive"``: equality rejected but neither one-sided null.

    The paper states the rule as "two-sided rejected, one one-sided not
    rejected"; when neither one-sided null is rejected both directions would
    qualify, so that case is reported as inconclusive instead.

    Parameters
    ----------
    p_two_sided, p_plus, p_minus : array_like
        p-values of D, D+ and D-.
    alpha : float
        Level of every test.

    Returns
    -------
    numpy.ndarray
        Verdict strings, one per comparison.
    """
    reject_two = np.asarray(p_two_sided) < alpha
    reject_plus = np.asarray(p_plus) < alpha
    reject_minus = np.asarray(p_minus) < alpha
    verdict = np.select(
        [~reject_two, ~reject_plus & reject_minus, reject_plus & ~reject_minus, reject_plus & reject_minus],
        ["no difference", "A dominates B", "B dominates A", "crossing"],
        default="inconclusive",
    )
    return verdict


# ---------------------------------------------------------------------------
# one comparison


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test (Stata's ``ksmirnov`` conventions).

    Attributes
    ----------
    d, d_plus, d_minus : float
        D = max(D+, -D-); D+ = max(F1 - F2) >= 0; D- = min(F1 - F2) <= 0.
    p_value, p_plus, p_minus : float
        Asymptotic p-values of D (two-sided), D+ and D- (one-sided).
    p_corrected : float
        Stata's small-sample corrected p-value of D.
    p_exact, p_plus_exact, p_minus_exact : float
        Exact p-values by lattice-path counting (NaN when not computed). They
        assume no ties; with ties they are conservative.
    n1, n2 : int
        Sample sizes.
    """

    d: float
    d_plus: float
    d_minus: float
    p_value: float
    p_plus: float
    p_minus: float
    p_corrected: float
    n1: int
    n2: int
    p_exact: float = math.nan
    p_plus_exact: float = math.nan
    p_minus_exact: float = math.nan

    @property
    def exact(self) -> bool:
        """Whether exact p-values were computed."""
        return not math.isnan(self.p_exact)

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic (D+, D-, D) with its asymptotic, corrected and exact p-values."""
        return pd.DataFrame(
            {
                "statistic": [self.d_plus, self.d_minus, self.d],
                "p_value": [self.p_plus, self.p_minus, self.p_value],
                "p_corrected": [math.nan, math.nan, self.p_corrected],
                "p_exact": [self.p_plus_exact, self.p_minus_exact, self.p_exact],
            },
            index=pd.Index(["D+ (H0: F1 <= F2)", "D- (H0: F1 >= F2)", "D (H0: F1 = F2)"], name="test"),
        )

    def summary(self) -> str:
        """Plain-text table in the layout of Stata's ``ksmirnov``."""
        head = f"Two-sample Kolmogorov-Smirnov test: sample 1 (n = {self.n1}) vs sample 2 (n = {self.n2})"
        rows = [head, f"{'':24s}{'D':>9s}{'p-value':>10s}{'corrected':>11s}{'exact':>9s}", "-" * 63]

        def fmt(x):
            return f"{x:9.3f}" if not math.isnan(x) else f"{'':9s}"

        for label, stat, p, pc, pe in [
            ("1 has smaller values:", self.d_plus, self.p_plus, math.nan, self.p_plus_exact),
            ("1 has larger values:", self.d_minus, self.p_minus, math.nan, self.p_minus_exact),
            ("Combined K-S:", self.d, self.p_value, self.p_corrected, self.p_exact),
        ]:
            rows.append(f"{label:24s}{stat:9.4f}{p:10.3f}{fmt(pc):>11s}{fmt(pe)}")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.summary()


def _sample(x, name: str) -> np.ndarray:
    try:
        if isinstance(x, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
            x = pd.to_numeric(pd.Series(x)).to_numpy(dtype=float, na_value=np.nan)  # pd.NA -> NaN, caught below
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"ks_2samp: sample {name} is not numeric ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"ks_2samp: sample {name} must be 1-d, got {arr.ndim} dimension(s)")
    if arr.size == 0:
        raise ValueError(f"ks_2samp: sample {name} is empty")
    nan = np.isnan(arr)
    if nan.any():
        where = np.flatnonzero(nan)
        raise ValueError(f"ks_2samp: sample {name} holds {where.size} NaN value(s), first at position "
                         f"{where[:5].tolist()}; drop or impute them first")
    return arr


def ks_2samp(a, b, exact: bool | None = None) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test with Stata's statistics and p-values.

    Parameters
    ----------
    a, b : array_like
        Samples 1 and 2 (1-d, no NaN). Sample 1 plays Stata's group 1.
    exact : bool or None
        Compute exact p-values by lattice-path counting (Stata's ``exact``
        option; O(m n) time). None: when m n <= 10,000.

    Returns
    -------
    KSResult
        D, D+, D- and their p-values; ``summary()`` and ``to_frame()``.

    Raises
    ------
    ValueError
        An empty sample or a NaN value (the message names the sample and position).
    """
    x = np.sort(_sample(a, "a"))
    y = np.sort(_sample(b, "b"))
    m, n = x.size, y.size
    stat = _core.ks_sorted(x, y)
    p = float(ks_pvalue_two_sided(stat["d"], m, n))
    extra = {}
    if exact is None:
        exact = m * n <= EXACT_AUTO_LIMIT
    if exact and m * n > EXACT_MAX_WORK:
        raise ValueError(f"ks_2samp: exact p-values take O(m n) steps and m n = {m * n:,} exceeds "
                         f"{EXACT_MAX_WORK:,}; use the asymptotic p-values (exact=False)")
    if exact:
        h_two = max(stat["plus_num"], -stat["minus_num"])
        extra = dict(
            p_exact=_core.ks_exact_pvalue(m, n, h_two, "two-sided"),
            p_plus_exact=_core.ks_exact_pvalue(m, n, stat["plus_num"], "plus"),
            p_minus_exact=_core.ks_exact_pvalue(m, n, -stat["minus_num"], "minus"),
        )
    return KSResult(
        d=stat["d"], d_plus=stat["d_plus"], d_minus=stat["d_minus"],
        p_value=p,
        p_plus=float(ks_pvalue_one_sided(stat["d_plus"], m, n)),
        p_minus=float(ks_pvalue_one_sided(stat["d_minus"], m, n)),
        p_corrected=float(ks_pvalue_corrected(p, m, n)),
        n1=m, n2=n, **extra,
    )


# ---------------------------------------------------------------------------
# many comparisons


def sorted_groups(values: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather values into blocks by group code and sort each block once.

    Parameters
    ----------
    values : numpy.ndarray
        float64 values; those kept must not be NaN.
    group : numpy.ndarray
        int64 codes in [0, n_groups), or -1 for values left out.
    n_groups : int
        Number of groups.

    Returns
    -------
    sorted_values, offsets : numpy.ndarray
        Group g is ``sorted_values[offsets[g]:offsets[g + 1]]``, ascending:
        the input of :func:`ks_batch`.
    """
    gathered, offsets = _core.ks_gather_groups(np.ascontiguousarray(values, dtype=float),
                                               np.ascontiguousarray(group, dtype=np.int64), n_groups)
    for g in range(n_groups):
        gathered[offsets[g]:offsets[g + 1]].sort()  # numpy's vectorised sort, in place
    return gathered, offsets


def ks_batch(sorted_values: np.ndarray, offsets: np.ndarray, first, second, threads: int = 0) -> pd.DataFrame:
    """Statistics of many comparisons of pre-sorted groups, in one parallel C++ call.

    Parameters
    ----------
    sorted_values, offsets : numpy.ndarray
        Ascending blocks as returned by :func:`sorted_groups`.
    first, second : array_like of int
        Comparison c sets group ``first[c]`` (sample 1) against ``second[c]`` (sample 2).
    threads : int
        OpenMP threads (0: default); results do not depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per comparison: ``n1``, ``n2``, ``d``, ``d_plus``, ``d_minus`` and
        Stata's asymptotic p-values ``p``, ``p_plus``, ``p_minus``, ``p_corrected``.
    """
    first = np.ascontiguousarray(first, dtype=np.int64)
    second = np.ascontiguousarray(second, dtype=np.int64)
    stat = _core.ks_batch(sorted_values, offsets, first, second, threads)
    sizes = np.diff(offsets)
    n1, n2 = sizes[first], sizes[second]
    p = ks_pvalue_two_sided(stat["d"], n1, n2)
    return pd.DataFrame({
        "n1": n1, "n2": n2, "d": stat["d"], "d_plus": stat["d_plus"], "d_minus": stat["d_minus"],
        "p": p, "p_plus": ks_pvalue_one_sided(stat["d_plus"], n1, n2),
        "p_minus": ks_pvalue_one_sided(stat["d_minus"], n1, n2), "p_corrected": ks_pvalue_corrected(p, n1, n2),
    })


# ---------------------------------------------------------------------------
# Table 2: dominance tests by export status and agglomeration, year by year

# The four groups, in code order: export status x agglomeration.
GROUP_LABELS = (
    "Domestic, No-agglomeration",
    "Export, No-agglomeration",
    "Domestic, Agglomeration",
    "Export, Agglomeration",
)
_DOMESTIC_NON, _EXPORT_NON, _DOMESTIC_AGG, _EXPORT_AGG = range(4)

# Panels of Table 2: (panel, group A, group B).
TABLE2_PANELS = (
    ("a", _DOMESTIC_NON, _EXPORT_NON),
    ("b", _DOMESTIC_AGG, _EXPORT_AGG),
    ("c", _EXPORT_NON, _EXPORT_AGG),
    ("d", _DOMESTIC_NON, _DOMESTIC_AGG),
)


def _firm_groups(panel: pd.DataFrame, value: str, agglomerated: str | None, exporter: str, year: str,
                 industry: str, region: str, size: str, func: str):
    """Group code (0..3: see GROUP_LABELS) of each usable row, -1 for rows left out, and what was dropped."""
    columns = [year, exporter, value] + ([agglomerated] if agglomerated is not None else [industry, region, size])
    _check_frame(panel, columns, func)
    _check_keys(panel, [year], func)
    if agglomerated is None:
        flag_series = is_agglomerated(panel, industry=industry, region=region, size=size, by=year)
        flag = flag_series.to_numpy(dtype=bool)
        flag_known = np.ones(len(panel), dtype=bool)
    else:
        flag = panel[agglomerated].to_numpy(dtype=bool, na_value=False)
        flag_known = panel[agglomerated].notna().to_numpy()
    value_known = _usable_values(panel, value, func)
    export_known = panel[exporter].notna().to_numpy()
    exported = panel[exporter].to_numpy(dtype=bool, na_value=False)
    keep = value_known & export_known & flag_known
    dropped = {value: int((~value_known).sum()), exporter: int((value_known & ~export_known).sum())}
    if agglomerated is not None:
        dropped[agglomerated] = int((value_known & export_known & ~flag_known).sum())
    group = np.where(keep, exported.astype(np.int64) + 2 * flag.astype(np.int64), -1)
    return group, dropped


def dominance_table(panel: pd.DataFrame, value: str = "ln_tfp", *, agglomerated: str | None = None,
                    exporter: str = "exporter", year: str = "year", years: Sequence[int] | None = None,
                    alpha: float = 0.05, industry: str = "cic3", region: str = "city", size: str = "output",
                    threads: int = 0) -> pd.DataFrame:
    """KS dominance tests of `value` by export status and agglomeration, year by year.

    The four groups of each year are domestic firms (non-exporters) and
    exporters, each in non-agglomerated and in agglomerated locations (LQ of the
    firm's industry in its region above 1). The panels compare group A with
    group B:

    - (a) domestic vs exporters, non-agglomerated locations;
    - (b) domestic vs exporters, agglomerated locations;
    - (c) exporters, non-agglomerated vs agglomerated;
    - (d) domestic firms, non-agglomerated vs agglomerated.

    Each group is sorted once and reused by both panels it enters
    (:func:`sorted_groups`); all comparisons run in one C++ call, parallel
    across comparisons (:func:`ks_batch`).

    Parameters
    ----------
    panel : pandas.DataFrame
        Firm-year table (:mod:`sez.panel` schema).
    value : str
        The variable compared (``ln_tfp``).
    agglomerated : str or None
        A boolean column flagging agglomerated locations; None computes it with
        :func:`sez.agglo.is_agglomerated` from `industry`, `region` and `size`
        year by year (3-digit industry, city, output: eq. 1 of the paper).
    exporter, year : str
        Column names.
    years : sequence of int or None
        Years to test (all by default).
    alpha : float
        Level of the tests behind the verdict.
    threads : int
        OpenMP threads (0: default); results do not depend on it.

    Returns
    -------
    pandas.DataFrame
        Indexed by (panel, year), shaped like Table 2: group labels, sizes
        ``n_a``, ``n_b``, shares ``share_a``, ``share_b`` (percent of the year's
        firms in the four groups), statistics ``d`` (H0: A = B), ``d_plus``
        (H0: A > B, i.e. F_A <= F_B), ``d_minus`` (H0: A < B), asymptotic
        p-values ``p``, ``p_plus``, ``p_minus``, Stata's corrected ``p_corrected``
        and the ``verdict`` of :func:`dominance_verdict`. ``attrs`` holds
        ``dropped_rows`` and ``alpha``.

    Raises
    ------
    ValueError
        A missing column or key, empty data, or an empty group in a tested year
        (the message names the year and the group).

    Warns
    -----
    DroppedRowsWarning
        Rows with a missing value, export status or flag are left out.
    """
    func = "dominance_table"
    if not 0 < alpha < 1:
        raise ValueError(f"{func}: alpha must lie in (0, 1), got {alpha}")
    group, dropped = _firm_groups(panel, value, agglomerated, exporter, year, industry, region, size, func)
    _report_dropped(func, dropped, len(panel))

    year_codes, n_years = _KeyCodes(panel).column(year)
    year_values = pd.unique(panel[year])  # in code order (first appearance)
    if years is None:
        wanted = np.sort(np.asarray(year_values))
    else:
        wanted = np.asarray(sorted(set(years)))
        absent = [y for y in wanted.tolist() if y not in set(np.asarray(year_values).tolist())]
        if absent:
            raise ValueError(f"{func}: year(s) {absent} not in column {year!r}")
    position = {y: k for k, y in enumerate(np.asarray(year_values).tolist())}
    year_order = np.array([position[y] for y in wanted.tolist()], dtype=np.int64)
    # re-index the wanted years 0 .. len(wanted) - 1; other years are left out
    year_slot = np.full(n_years, -1, dtype=np.int64)
    year_slot[year_order] = np.arange(len(year_order))
    slot = year_slot[year_codes]
    code = np.where((group >= 0) & (slot >= 0), slot * 4 + group, -1)
    n_groups = 4 * len(year_order)

    values = pd.to_numeric(panel[value]).to_numpy(dtype=float, na_value=np.nan)
    sorted_values, offsets = sorted_groups(values, code, n_groups)
    sizes = np.diff(offsets).reshape(len(year_order), 4)
    for k, y in enumerate(wanted.tolist()):
        for g in range(4):
            if sizes[k, g] == 0:
                raise ValueError(f"{func}: group {GROUP_LABELS[g]!r} is empty in {year} {y}; "
                                 f"pass years=... without it")

    first = np.array([k * 4 + a for k in range(len(year_order)) for _, a, _ in TABLE2_PANELS], dtype=np.int64)
    second = np.array([k * 4 + b for k in range(len(year_order)) for _, _, b in TABLE2_PANELS], dtype=np.int64)
    tests = ks_batch(sorted_values, offsets, first, second, threads)
    year_total = np.repeat(sizes.sum(axis=1), len(TABLE2_PANELS))
    table = pd.DataFrame(
        {
            "panel": [name for _ in year_order for name, _, _ in TABLE2_PANELS],
            "year": np.repeat(wanted, len(TABLE2_PANELS)),
            "group_a": [GROUP_LABELS[a] for _ in year_order for _, a, _ in TABLE2_PANELS],
            "group_b": [GROUP_LABELS[b] for _ in year_order for _, _, b in TABLE2_PANELS],
            "n_a": tests["n1"].to_numpy(),
            "n_b": tests["n2"].to_numpy(),
            "share_a": 100.0 * tests["n1"].to_numpy() / year_total,
            "share_b": 100.0 * tests["n2"].to_numpy() / year_total,
        }
    )
    for column in ("d", "d_plus", "d_minus", "p", "p_plus", "p_minus", "p_corrected"):
        table[column] = tests[column].to_numpy()
    table["verdict"] = dominance_verdict(table["p"], table["p_plus"], table["p_minus"], alpha)
    table = table.sort_values(["panel", "year"], kind="stable").set_index(["panel", "year"])
    table.attrs["dropped_rows"] = {k: v for k, v in dropped.items() if v}
    table.attrs["alpha"] = alpha
    return table


# ---------------------------------------------------------------------------
# figures


def _density_on_grid(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density on an even grid by binning and convolution.

    Silverman's (1986) rule-of-thumb bandwidth; linear binning on the grid
    makes the cost O(n + grid log grid), fine at a million firms.
    """
    n = x.size
    if n < 2:
        return np.full(grid.shape, np.nan)
    iqr = np.subtract(*np.percentile(x, [75, 25]))
    spread = min(np.std(x, ddof=1), iqr / 1.349) if iqr > 0 else np.std(x, ddof=1)
    bandwidth = 0.9 * spread * n ** (-0.2) if spread > 0 else 1e-3
    step = grid[1] - grid[0]
    position = (x - grid[0]) / step
    inside = (position >= 0) & (position <= grid.size - 1)
    lower = np.minimum(np.floor(position[inside]).astype(np.int64), grid.size - 2)
    upper_share = position[inside] - lower
    counts = np.bincount(lower, 1.0 - upper_share, grid.size) + np.bincount(lower + 1, upper_share, grid.size)
    half_width = int(np.ceil(4 * bandwidth / step))
    offsets = np.arange(-half_width, half_width + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2) / (bandwidth * np.sqrt(2 * np.pi))
    # the full convolution is centred on each grid point half_width entries in
    return np.convolve(counts, kernel)[half_width: half_width + grid.size] / n


def _common_grid(samples: list[np.ndarray], points: int = 512) -> np.ndarray:
    pooled = np.concatenate([s for s in samples if s.size])
    lo, hi = np.percentile(pooled, [0.1, 99.9])
    pad = 0.1 * (hi - lo) if hi > lo else 1.0
    return np.linspace(lo - pad, hi + pad, points)


def _new_figure():
    from matplotlib.figure import Figure  # no global pyplot state: safe in workers and servers

    fig = Figure(figsize=(8.5, 5.0), layout="constrained")
    return fig, fig.add_subplot()


def plot_tfp_densities(panel: pd.DataFrame, path: str | Path, value: str = "ln_tfp", *, year: int | None = None,
                       agglomerated: str | None = None, exporter: str = "exporter", year_column: str = "year",
                       industry: str = "cic3", region: str = "city", size: str = "output") -> Path:
    """Densities of log TFP of the four groups of :func:`dominance_table` in one year (Figure 1 of the
    agglomeration paper: 2007, the latest year, by default).

    Parameters
    ----------
    panel : pandas.DataFrame
        Firm-year table.
    path : str or Path
        Where to save the figure (the suffix picks the format).
    value, year, agglomerated, exporter, year_column, industry, region, size
        As in :func:`dominance_table`; `year_column` names the year column.

    Returns
    -------
    Path
        The saved file.
    """
    func = "plot_tfp_densities"
    group, dropped = _firm_groups(panel, value, agglomerated, exporter, year_column, industry, region, size, func)
    _report_dropped(func, dropped, len(panel))
    years = panel[year_column].to_numpy()
    if year is None:
        year = int(np.max(years))
    in_year = years == year
    if not in_year.any():
        raise ValueError(f"{func}: no row has {year_column} == {year}")
    values = pd.to_numeric(panel[value]).to_numpy(dtype=float, na_value=np.nan)
    samples = [values[in_year & (group == g)] for g in range(4)]
    if all(s.size == 0 for s in samples):
        raise ValueError(f"{func}: no usable {value!r} in {year}")
    grid = _common_grid(samples)
    fig, ax = _new_figure()
    styles = [("tab:blue", "--"), ("tab:red", "--"), ("tab:blue", "-"), ("tab:red", "-")]
    for g, sample in enumerate(samples):
        if sample.size < 2:
            continue
        colour, line = styles[g]
        ax.plot(grid, _density_on_grid(sample, grid), color=colour, linestyle=line,
                label=f"{GROUP_LABELS[g]} (n = {sample.size:,})")
    ax.set_title(f"Density of {value} by export status and agglomeration (LQ > 1), {year}")
    ax.set_xlabel(f"{value} (log total factor productivity)")
    ax.set_ylabel("density (Gaussian kernel)")
    ax.legend(frameon=False, loc="upper left", fontsize="small")
    path = Path(path)
    fig.savefig(path, dpi=150)
    return path


def plot_tfp_by_zone_and_agglomeration(panel: pd.DataFrame, path: str | Path, value: str = "ln_tfp", *,
                                       agglomeration: str | None = None, zone: str = "sez",
                                       year: int | None = None) -> Path:
    """Densities of log TFP in SEZs and outside, each split at the median agglomeration level.

    Gray lines: all firms in SEZs (solid) and outside (long dashes); blue: SEZ
    firms, red: non-SEZ firms, solid above and dashed at or below the
    full-sample median of the agglomeration measure (as in the SEZ paper's
    figure of TFP by agglomeration across zones).

    Parameters
    ----------
    panel : pandas.DataFrame
        Firm-year table with `zone` (boolean SEZ status) and `value`.
    path : str or Path
        Where to save the figure.
    agglomeration : str or None
        Column with the firm's agglomeration measure; None computes EG_irt
        (:func:`sez.agglo.ellison_glaeser_within_city`, the firm's 3-digit
        industry across the counties of its city in the year).
    year : int or None
        One year, or all years pooled (None).

    Returns
    -------
    Path
        The saved file.
    """
    func = "plot_tfp_by_zone_and_agglomeration"
    _check_frame(panel, [zone, value] + ([agglomeration] if agglomeration else []), func)
    data = panel if year is None else panel[panel["year"] == year]
    if len(data) == 0:
        raise ValueError(f"{func}: no row has year == {year}")
    if agglomeration is None:
        level = to_firms(data, ellison_glaeser_within_city(data), "gamma").to_numpy(dtype=float)
        label = "EG index of the industry within the city"
    else:
        level = pd.to_numeric(data[agglomeration]).to_numpy(dtype=float, na_value=np.nan)
        label = agglomeration
    values = pd.to_numeric(data[value]).to_numpy(dtype=float, na_value=np.nan)
    _check_keys(data, [zone], func)
    in_zone = data[zone].to_numpy(dtype=bool)
    has_value = ~np.isnan(values)
    keep = has_value & ~np.isnan(level)  # the split curves need a level; the "all" curves do not
    dropped = {value: int((~has_value).sum()), "agglomeration level": int((has_value & np.isnan(level)).sum())}
    _report_dropped(func, dropped, len(data))
    if not keep.any():
        raise ValueError(f"{func}: no row has both {value!r} and an agglomeration level")
    median = np.median(level[keep])
    high = level > median
    curves = [
        ("SEZ, all", has_value & in_zone, "0.45", "-"),
        ("Non-SEZ, all", has_value & ~in_zone, "0.45", (0, (8, 3))),
        ("SEZ, high agglomeration", keep & in_zone & high, "tab:blue", "-"),
        ("SEZ, low agglomeration", keep & in_zone & ~high, "tab:blue", "--"),
        ("Non-SEZ, high agglomeration", keep & ~in_zone & high, "tab:red", "-"),
        ("Non-SEZ, low agglomeration", keep & ~in_zone & ~high, "tab:red", "--"),
    ]
    grid = _common_grid([values[has_value]])
    fig, ax = _new_figure()
    for name, mask, colour, line in curves:
        if mask.sum() < 2:
            continue
        ax.plot(grid, _density_on_grid(values[mask], grid), color=colour, linestyle=line,
                linewidth=2.6 if name.endswith("all") else 1.5,  # wide gray under the split curves
                label=f"{name} (n = {int(mask.sum()):,})")
    when = "all years" if year is None else str(year)
    ax.set_title(f"Density of {value} by zone and agglomeration level ({when})")
    ax.set_xlabel(f"{value} (log total factor productivity)")
    ax.set_ylabel("density (Gaussian kernel)")
    ax.legend(frameon=False, loc="upper left", fontsize="small", title_fontsize="small", alignment="left",
              title=f"agglomeration: {label}\nhigh: above the median ({median:.3g}); low: at or below")
    path = Path(path)
    fig.savefig(path, dpi=150)
    return path
