"""The agglomeration paper's tables and figures, built from sez.agglo, sez.stats and sez.probit.

Table 2 (KS dominance of log TFP by export status and agglomeration, year by
year), the density figures, the probit table of export entry (its Table 3 and
the split samples), and the summary statistics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

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
from sez.panel import lag_within_firm, require_columns
from sez.probit import ProbitResults, probit
from sez.results import renamed
from sez.stats import dominance_verdict, ks_batch, sorted_groups

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


@renamed(panel="data")
def dominance_table(data: pd.DataFrame, value: str = "ln_tfp", *, agglomerated: str | None = None,
                    exporter: str = "exporter", time: str = "year", years: Sequence[int] | None = None,
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
    data : pandas.DataFrame
        Firm-year table (:mod:`sez.panel` schema).
    value : str
        The variable compared (``ln_tfp``).
    agglomerated : str or None
        A boolean column flagging agglomerated locations; None computes it with
        :func:`sez.agglo.is_agglomerated` from `industry`, `region` and `size`
        year by year (3-digit industry, city, output: eq. 1 of the paper).
    exporter, time : str
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
    group, dropped = _firm_groups(data, value, agglomerated, exporter, time, industry, region, size, func)
    _report_dropped(func, dropped, len(data))

    year_codes, n_years = _KeyCodes(data).column(time)
    year_values = pd.unique(data[time])  # in code order (first appearance)
    if years is None:
        wanted = np.sort(np.asarray(year_values))
    else:
        wanted = np.asarray(sorted(set(years)))
        absent = [y for y in wanted.tolist() if y not in set(np.asarray(year_values).tolist())]
        if absent:
            raise ValueError(f"{func}: year(s) {absent} not in column {time!r}")
    position = {y: k for k, y in enumerate(np.asarray(year_values).tolist())}
    year_order = np.array([position[y] for y in wanted.tolist()], dtype=np.int64)
    # re-index the wanted years 0 .. len(wanted) - 1; other years are left out
    year_slot = np.full(n_years, -1, dtype=np.int64)
    year_slot[year_order] = np.arange(len(year_order))
    slot = year_slot[year_codes]
    code = np.where((group >= 0) & (slot >= 0), slot * 4 + group, -1)
    n_groups = 4 * len(year_order)

    values = pd.to_numeric(data[value]).to_numpy(dtype=float, na_value=np.nan)
    sorted_values, offsets = sorted_groups(values, code, n_groups)
    sizes = np.diff(offsets).reshape(len(year_order), 4)
    for k, y in enumerate(wanted.tolist()):
        for g in range(4):
            if sizes[k, g] == 0:
                raise ValueError(f"{func}: group {GROUP_LABELS[g]!r} is empty in {time} {y}; "
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
    from matplotlib.figure import (
        Figure,  # no global pyplot state: safe in workers and servers
    )

    fig = Figure(figsize=(8.5, 5.0), layout="constrained")
    return fig, fig.add_subplot()


@renamed(panel="data")
def plot_tfp_densities(data: pd.DataFrame, path: str | Path, value: str = "ln_tfp", *, year: int | None = None,
                       agglomerated: str | None = None, exporter: str = "exporter", time: str = "year",
                       industry: str = "cic3", region: str = "city", size: str = "output") -> Path:
    """Densities of log TFP of the four groups of :func:`dominance_table` in one year (Figure 1 of the
    agglomeration paper: 2007, the latest year, by default).

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table.
    path : str or Path
        Where to save the figure (the suffix picks the format).
    value, agglomerated, exporter, time, industry, region, size
        As in :func:`dominance_table`.
    year : int or None
        The year drawn (the latest by default).

    Returns
    -------
    Path
        The saved file.
    """
    func = "plot_tfp_densities"
    group, dropped = _firm_groups(data, value, agglomerated, exporter, time, industry, region, size, func)
    _report_dropped(func, dropped, len(data))
    years = data[time].to_numpy()
    if year is None:
        year = int(np.max(years))
    in_year = years == year
    if not in_year.any():
        raise ValueError(f"{func}: no row has {time} == {year}")
    values = pd.to_numeric(data[value]).to_numpy(dtype=float, na_value=np.nan)
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


@renamed(panel="data")
def plot_tfp_by_zone_and_agglomeration(data: pd.DataFrame, path: str | Path, value: str = "ln_tfp", *,
                                       agglomeration: str | None = None, zone: str = "sez",
                                       year: int | None = None) -> Path:
    """Densities of log TFP in SEZs and outside, each split at the median agglomeration level.

    Gray lines: all firms in SEZs (solid) and outside (long dashes); blue: SEZ
    firms, red: non-SEZ firms, solid above and dashed at or below the
    full-sample median of the agglomeration measure (as in the SEZ paper's
    figure of TFP by agglomeration across zones).

    Parameters
    ----------
    data : pandas.DataFrame
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
    _check_frame(data, [zone, value] + ([agglomeration] if agglomeration else []), func)
    sample = data if year is None else data[data["year"] == year]
    if len(sample) == 0:
        raise ValueError(f"{func}: no row has year == {year}")
    if agglomeration is None:
        level = to_firms(sample, ellison_glaeser_within_city(sample), "gamma").to_numpy(dtype=float)
        label = "EG index of the industry within the city"
    else:
        level = pd.to_numeric(sample[agglomeration]).to_numpy(dtype=float, na_value=np.nan)
        label = agglomeration
    values = pd.to_numeric(sample[value]).to_numpy(dtype=float, na_value=np.nan)
    _check_keys(sample, [zone], func)
    in_zone = sample[zone].to_numpy(dtype=bool)
    has_value = ~np.isnan(values)
    keep = has_value & ~np.isnan(level)  # the split curves need a level; the "all" curves do not
    dropped = {value: int((~has_value).sum()), "agglomeration level": int((has_value & np.isnan(level)).sum())}
    _report_dropped(func, dropped, len(sample))
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


def probit_table(results: Sequence[ProbitResults] | ProbitResults, labels: Mapping[str, str] | None = None,
                 column_names: Sequence[str] | None = None, digits: int = 4, at: str = "mean"):
    """Coefficients with stars, z-scores in parentheses and marginal effects: the paper's Table 3 layout.

    Parameters
    ----------
    results : ProbitResults or sequence of them
        One model per column pair (Coef., M.E.).
    labels : mapping, optional
        Display names of regressors (e.g. ``{"L.exporter": "Export status(t-1)"}``).
    column_names : sequence of str, optional
        Model titles, default "[1]", "[2]", ...
    digits : int
        Decimals of coefficients and z-scores.
    at : {"mean", "average"}
        Marginal effects at means (the paper) or average partial effects.

    Returns
    -------
    pandas.DataFrame
        Rows: each regressor followed by its z-score row, then fixed effects,
        pseudo R-squared and observations; columns (model, "Coef.") and
        (model, "M.E."). ``table.to_string()`` gives text, ``table.to_csv()`` CSV.
    """
    if isinstance(results, ProbitResults):
        results = [results]
    labels = dict(labels or {})
    column_names = list(column_names or [f"[{i + 1}]" for i in range(len(results))])
    regressors = list(dict.fromkeys(name for res in results for name in res.params.index))
    all_fe = list(dict.fromkeys(f for res in results for f in res.fe))
    rows = []
    for name in regressors:
        rows += [labels.get(name, name), ""]
    rows += [f"{f} fixed effects" for f in all_fe] + ["Pseudo R2", "Number of obs"]
    columns = pd.MultiIndex.from_product([column_names, ["Coef.", "M.E."]])
    table = pd.DataFrame("", index=pd.Index(rows, name=""), columns=columns)
    table.index = pd.Index([f"{r}#{i}" for i, r in enumerate(rows)])  # rows are unique during filling
    for res, title in zip(results, column_names):
        me = res.marginal_effects(at=at).frame
        for position, name in enumerate(regressors):
            row = table.index[2 * position]
            if name not in res.params.index:
                continue
            table.loc[row, (title, "Coef.")] = f"{res.params[name]:.{digits}f}{res.stars[name]}"
            if name in me.index:  # the intercept (a probit without fixed effects) has no marginal effect
                table.loc[row, (title, "M.E.")] = f"{me.loc[name, 'effect']:.6g}"
            table.loc[table.index[2 * position + 1], (title, "Coef.")] = f"({res.tvalues[name]:.2f})"
        base = 2 * len(regressors)
        for offset, f in enumerate(all_fe):
            table.loc[table.index[base + offset], (title, "Coef.")] = "Yes" if f in res.fe else "No"
        table.loc[table.index[base + len(all_fe)], (title, "Coef.")] = f"{res.pseudo_r2:.4f}"
        table.loc[table.index[base + len(all_fe) + 1], (title, "Coef.")] = f"{res.nobs}"
    table.index = pd.Index(rows)
    table.attrs["notes"] = ("z-scores in parentheses; *, ** and *** indicate significance at 10, 5 and 1 percent; "
                            f"M.E.: marginal effects {'at means' if at == 'mean' else '(average partial effects)'}; "
                            "pseudo R2: McFadden's, against an intercept-only probit")
    return table


def probit_by(data: pd.DataFrame, split: str, y: str, x: Sequence[str], fe: Sequence[str] | None = None,
              lags: Sequence[str] | None = None, labels: Mapping[str, str] | None = None, **probit_kw):
    """One probit per value of ``split`` and the pair side by side in the Table 3 layout:
    the agglomeration paper's Tables 4 (indigenous vs foreign-invested), 5 (high-tech vs
    others) and 6 (coastal vs inland). Lags are built on the whole panel first, so a
    firm's lag does not depend on which subsample its previous year falls in.

    Returns ``(results, table)`` with ``results[value]`` a ProbitResults.
    """
    require_columns(data, [split], "probit_by")
    values = [v for v in pd.unique(data[split]) if pd.notna(v)]
    if len(values) < 2:
        raise ValueError(f"probit_by: column {split!r} takes fewer than two values: {values}")
    unit, time = probit_kw.get("unit", "firm_id"), probit_kw.get("time", "year")
    lagged = data.join(lag_within_firm(data, list(lags), unit=unit, time=time)) if lags else data
    regressors = [f"L.{c}" if c in set(lags or ()) else c for c in x]
    results = {}
    for value in sorted(values, key=str):
        results[value] = probit(lagged.loc[(data[split] == value).to_numpy()], y, regressors, fe=fe, **probit_kw)
    table = probit_table(list(results.values()), labels, [f"{split} = {v}" for v in results])
    return results, table


def summary_statistics(data: pd.DataFrame, columns: Sequence[str], years: Sequence[int], time: str = "year",
                       labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The agglomeration paper's Table 1: mean, standard deviation, minimum, maximum and
    observations of each regressor in chosen years.
    """
    require_columns(data, [*columns, time], "summary_statistics")
    labels = dict(labels or {})
    blocks = {}
    for year in years:
        d = data.loc[data[time] == year, list(columns)].apply(pd.to_numeric, errors="coerce")
        if d.empty:
            raise ValueError(f"summary_statistics: no observation in {time} = {year}")
        blocks[year] = pd.DataFrame({"mean": d.mean(), "sd": d.std(), "min": d.min(), "max": d.max(),
                                     "obs": d.notna().sum()})
    out = pd.concat(blocks, axis=1)
    out.index = [labels.get(c, c) for c in out.index]
    return out


def plot_dominance_ecdfs(data: pd.DataFrame, path: str | Path | None = None, value: str = "ln_tfp", *,
                         year: int | None = None, agglomerated: str | None = None, exporter: str = "exporter",
                         time: str = "year", industry: str = "cic3", region: str = "city", size: str = "output"):
    """Empirical CDFs of the two groups each panel of :func:`dominance_table` compares, one small multiple per
    panel (a)-(d), in one year (the latest by default). The group whose CDF lies to the right (below) has more
    mass at high values: it first-order dominates.

    Arguments as in :func:`plot_tfp_densities`. Returns the matplotlib Figure, also saved to ``path`` when
    given.
    """
    from matplotlib.figure import Figure

    func = "plot_dominance_ecdfs"
    group, dropped = _firm_groups(data, value, agglomerated, exporter, time, industry, region, size, func)
    _report_dropped(func, dropped, len(data))
    years = data[time].to_numpy()
    year = int(np.max(years)) if year is None else year
    in_year = years == year
    if not in_year.any():
        raise ValueError(f"{func}: no row has {time} == {year}; pass a year of column {time!r}")
    values = pd.to_numeric(data[value]).to_numpy(dtype=float, na_value=np.nan)
    samples = [np.sort(values[in_year & (group == g)]) for g in range(4)]
    fig = Figure(figsize=(10.0, 7.0), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    for ax, (panel, a, b) in zip(axes, TABLE2_PANELS):
        for g, colour in ((a, "tab:blue"), (b, "tab:red")):
            sample = samples[g]
            if sample.size:
                ax.ecdf(sample, color=colour, label=f"{GROUP_LABELS[g]} (n = {sample.size:,})")
        ax.set_title(f"({panel}) {GROUP_LABELS[a]} vs {GROUP_LABELS[b]}", fontsize="small")
        ax.legend(frameon=False, loc="upper left", fontsize="x-small")
        ax.grid(alpha=0.3)
    for ax in axes[2:]:
        ax.set_xlabel(f"{value} (log total factor productivity)")
    for ax in axes[::2]:
        ax.set_ylabel("share of firms at or below")
    fig.suptitle(f"Empirical CDFs of {value} by export status and agglomeration, {year}", fontsize="medium")
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
