"""Stylised facts on firms across zones (the SEZ paper's Section 3.3, Tables 1-3).

Three comparisons of average log TFP, average log capital and the within-firm
covariance of log TFP and log capital:

- Table 1 (:func:`zone_table`): firm-years inside vs outside a zone;
- Table 2 (:func:`birth_table`): firms born inside vs born outside a zone;
- Table 3 (:func:`movers_table`): firms that move into a zone ("movers") vs
  firms that never are in one ("stayers"), before and after the move.

Definitions used throughout:

- averages are over firm-years (the paper's tables report firm-year means);
- log capital is ``ln(capital)``; firm-years with non-positive capital or a
  missing value are left out of the statistics that need them (counted in
  ``attrs["n_missing"]``);
- the within-firm covariance is, for each firm with at least two firm-years
  in the group, the sample covariance over its years of log TFP and log
  capital (``sum (z - zbar_i)(k - kbar_i) / (n_i - 1)``), averaged over firms
  with equal weights. It measures how closely a firm's capital follows its
  productivity over time (the paper's "resource allocation within firms").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sez.panel import require_columns
from sez.results import renamed

__all__ = ["zone_table", "birth_table", "movers_table", "group_statistics", "sez_share_by_year", "sez_share_by_region",
           "plot_sez_shares", "plot_sez_share_map", "ROWS"]

ROWS = ("Avg log productivity (ln z)", "Avg log capital (ln k)", "Within-firm cov(ln z, ln k)")


def _logs(panel: pd.DataFrame, tfp: str, capital: str) -> tuple[np.ndarray, np.ndarray]:
    z = pd.to_numeric(panel[tfp], errors="coerce").to_numpy(dtype=float)
    k_level = pd.to_numeric(panel[capital], errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(k_level > 0, np.log(k_level), np.nan)
    return z, k


def group_statistics(firm: np.ndarray, z: np.ndarray, k: np.ndarray) -> dict:
    """Mean log TFP, mean log capital and mean within-firm covariance for one group of firm-years.

    Parameters
    ----------
    firm : array
        Firm identifier per firm-year.
    z, k : array
        Log TFP and log capital per firm-year (NaN where missing).

    Returns
    -------
    dict
        The three statistics (NaN when the group is empty), keyed by ``ROWS``,
        and ``"firm-years"``, ``"firms"`` and ``"firms with >= 2 years"``.
    """
    both = np.isfinite(z) & np.isfinite(k)
    codes, _ = pd.factorize(firm[both])
    zz, kk = z[both], k[both]
    n = np.bincount(codes).astype(float) if len(codes) else np.zeros(0)
    if len(codes):
        zbar = np.bincount(codes, weights=zz) / n
        kbar = np.bincount(codes, weights=kk) / n
        cross = np.bincount(codes, weights=(zz - zbar[codes]) * (kk - kbar[codes]))
        ok = n >= 2
        cov = float(np.mean(cross[ok] / (n[ok] - 1))) if ok.any() else np.nan
    else:
        ok, cov = np.zeros(0, dtype=bool), np.nan
    return {ROWS[0]: float(np.nanmean(z)) if np.isfinite(z).any() else np.nan,
            ROWS[1]: float(np.nanmean(k)) if np.isfinite(k).any() else np.nan,
            ROWS[2]: cov,
            "firm-years": int(len(z)), "firms": int(len(pd.unique(firm))), "firms with >= 2 years": int(ok.sum())}


def _table(groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    return pd.DataFrame({name: group_statistics(*g) for name, g in groups.items()})


@renamed(panel="data")
def zone_table(data: pd.DataFrame, tfp: str = "ln_tfp", capital: str = "capital", zone: str = "sez",
               unit: str = "firm_id") -> pd.DataFrame:
    """Table 1: firm-years inside a zone vs outside.

    A firm that moves contributes its in-zone years to the SEZ column and its
    other years to the Non-SEZ column; its within-firm covariance is computed
    separately on each side.

    Returns
    -------
    pandas.DataFrame
        Rows ``ROWS`` plus sample counts; columns ``"SEZ"``, ``"Non-SEZ"``.
    """
    require_columns(data, [unit, tfp, capital, zone], "zone_table")
    z, k = _logs(data, tfp, capital)
    inside = data[zone].to_numpy(dtype=bool)
    f = data[unit].to_numpy()
    out = _table({"SEZ": (f[inside], z[inside], k[inside]), "Non-SEZ": (f[~inside], z[~inside], k[~inside])})
    out.attrs["n_missing"] = int((~(np.isfinite(z) & np.isfinite(k))).sum())
    return out


@renamed(panel="data")
def birth_table(data: pd.DataFrame, tfp: str = "ln_tfp", capital: str = "capital",
                birth_zone: str = "birth_zone", unit: str = "firm_id", exclude_movers: bool = False,
                mover: str = "mover") -> pd.DataFrame:
    """Table 2: firms born in a zone (``birth_zone == "S"``) vs born outside (``"N"``).

    All firm-years of a firm count towards its birth zone. ``exclude_movers``
    keeps only firms that never move, so that the comparison is not mixed with
    the movers of Table 3. Firms with a missing birth zone are left out
    (counted in ``attrs["n_unknown_birth_zone"]``).
    """
    require_columns(data, [unit, tfp, capital, birth_zone] + ([mover] if exclude_movers else []), "birth_table")
    sample = data.loc[~data[mover].astype(bool)] if exclude_movers else data
    zone = sample[birth_zone].astype("string").to_numpy(dtype=object, na_value=None)
    unexpected = set(pd.unique(zone[pd.notna(zone)])) - {"S", "N"}
    if unexpected:
        raise ValueError(f"birth_table: {birth_zone!r} must be 'S' or 'N', found {sorted(unexpected)[:5]}")
    z, k = _logs(sample, tfp, capital)
    f = sample[unit].to_numpy()
    born_s, born_n = zone == "S", zone == "N"
    out = _table({"SEZ": (f[born_s], z[born_s], k[born_s]), "Non-SEZ": (f[born_n], z[born_n], k[born_n])})
    out.attrs["n_unknown_birth_zone"] = int((~born_s & ~born_n).sum())
    return out


@renamed(panel="data")
def movers_table(data: pd.DataFrame, tfp: str = "ln_tfp", capital: str = "capital", zone: str = "sez",
                 unit: str = "firm_id", time: str = "year", stayer_cutoff: int | None = None) -> pd.DataFrame:
    """Table 3: movers into a zone vs stayers outside, before and after the move.

    Movers are firms first observed outside a zone and later inside one; their
    move year is the first year observed inside, "before" their earlier years
    and "after" the move year and later (years back outside after a move out
    are left out and counted). Stayers are firms never observed inside a zone;
    they have no move of their own, so their "before" and "after" are split at
    ``stayer_cutoff`` (default: the median move year of the movers), which
    keeps the calendar periods of the two groups comparable.

    Columns follow the paper's Table 3:

    - ``Before SEZ`` / ``Before NSEZ`` / ``After SEZ`` / ``After NSEZ``:
      statistics of movers (SEZ) and stayers (NSEZ);
    - ``Difference before`` = movers - stayers before the move,
      ``Difference after`` = movers - stayers after;
    - ``Effect of SEZ`` = ``Difference after - Difference before`` (a
      difference in differences of the group statistics);
    - ``Driven by selection`` = ``Difference before / Difference after``: the
      share of the after-move gap already present before the move (the
      paper's 0.26 = 0.20 / 0.78 for productivity and 0.51 = 0.29 / 0.57 for
      capital).

    Firms already inside a zone in their first observed year are neither
    movers nor stayers and are left out.

    Returns
    -------
    pandas.DataFrame
        Rows ``ROWS`` plus sample counts; ``attrs`` holds the cutoff and counts.

    Raises
    ------
    ValueError
        No mover or no stayer in the panel.
    """
    require_columns(data, [unit, time, tfp, capital, zone], "movers_table")
    sample = data[[unit, time, zone]].copy()
    sample["_z"], sample["_k"] = _logs(data, tfp, capital)
    sample["_in"] = data[zone].to_numpy(dtype=bool)
    sample = sample.sort_values([unit, time], kind="stable")
    g = sample.groupby(unit, sort=False)["_in"]
    first_in = g.transform("first").to_numpy()
    ever_in = g.transform("any").to_numpy()
    move_year = sample[time].where(sample["_in"]).groupby(sample[unit]).transform("min").to_numpy(dtype=float)
    mover = ~first_in & ever_in
    stayer = ~ever_in
    yr = sample[time].to_numpy(dtype=float)
    if not mover.any():
        raise ValueError("movers_table: no firm moves into a zone (first observed outside, later inside)")
    if not stayer.any():
        raise ValueError("movers_table: no stayer (firm never observed inside a zone)")
    cutoff = float(np.median(pd.Series(move_year[mover]).groupby(sample[unit].to_numpy()[mover]).first())) \
        if stayer_cutoff is None else float(stayer_cutoff)
    after_mover = mover & (yr >= move_year)
    back_out = after_mover & ~sample["_in"].to_numpy()
    after_mover &= ~back_out
    before_mover = mover & (yr < move_year)
    f, z, k = sample[unit].to_numpy(), sample["_z"].to_numpy(), sample["_k"].to_numpy()
    groups = {"Before SEZ": before_mover, "Before NSEZ": stayer & (yr < cutoff),
              "After SEZ": after_mover, "After NSEZ": stayer & (yr >= cutoff)}
    out = _table({name: (f[m], z[m], k[m]) for name, m in groups.items()})
    stats_rows = list(ROWS)
    out["Difference before"] = out["Before SEZ"] - out["Before NSEZ"]
    out["Difference after"] = out["After SEZ"] - out["After NSEZ"]
    out["Effect of SEZ"] = out["Difference after"] - out["Difference before"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["Driven by selection"] = out["Difference before"] / out["Difference after"]
    count_rows = [r for r in out.index if r not in stats_rows]
    out.loc[count_rows, ["Difference before", "Difference after", "Effect of SEZ", "Driven by selection"]] = np.nan
    out.attrs.update({"stayer_cutoff": cutoff, "movers": int(pd.unique(f[mover]).size),
                      "stayers": int(pd.unique(f[stayer]).size),
                      "mover firm-years back outside after the move (left out)": int(back_out.sum())})
    return out


@renamed(panel="data")
def sez_share_by_year(data: pd.DataFrame, treatment: str = "sez", time: str = "year") -> pd.DataFrame:
    """Share of firms in SEZs by year (the SEZ paper's Figure 1), with firm counts."""
    require_columns(data, [treatment, time], "sez_share_by_year")
    g = data.groupby(time)[treatment]
    out = pd.DataFrame({"firms": g.size(), "in_sez": g.sum().astype(int)})
    out["share"] = out["in_sez"] / out["firms"]
    return out


@renamed(panel="data")
def sez_share_by_region(data: pd.DataFrame, region: str = "province", years=None, treatment: str = "sez",
                        time: str = "year") -> pd.DataFrame:
    """Share of firms in SEZs by region in the first and last year (the SEZ paper's
    Figure 2), regions ranked by the last year's share.
    """
    require_columns(data, [treatment, time, region], "sez_share_by_region")
    years = (int(data[time].min()), int(data[time].max())) if years is None else tuple(years)
    cols = {}
    for y in years:
        d = data.loc[data[time] == y]
        if d.empty:
            raise ValueError(f"sez_share_by_region: no firm in {time} = {y}")
        cols[y] = d.groupby(region)[treatment].mean()
    out = pd.DataFrame(cols).sort_values(years[-1], ascending=False)
    out.index.name = region
    return out


def plot_sez_shares(by_year: pd.DataFrame, by_region: pd.DataFrame, path) -> None:
    """Figures 1 and 2 of the SEZ paper side by side: the SEZ share of firms over
    time, and by region in the first and last year (a ranked chart).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    axes[0].plot(by_year.index, by_year["share"], marker="o")
    axes[0].set_xlabel("year")
    axes[0].set_ylabel("share of firms in SEZs")
    axes[0].set_title("Firms in SEZs over time")
    first, last = by_region.columns[0], by_region.columns[-1]
    positions = np.arange(len(by_region))
    axes[1].barh(positions + 0.2, by_region[last], height=0.4, label=str(last))
    axes[1].barh(positions - 0.2, by_region[first], height=0.4, label=str(first))
    axes[1].set_yticks(positions, [str(r) for r in by_region.index], fontsize=7)
    axes[1].invert_yaxis()
    axes[1].set_xlabel("share of firms in SEZs")
    axes[1].set_title(f"By {by_region.index.name}, ranked by {last}")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _rings(geometry: dict) -> list:
    """Outer rings of a GeoJSON Polygon or MultiPolygon, as (n, 2) arrays of lon/lat."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        return [np.asarray(coords[0], dtype=float)[:, :2]]
    if kind == "MultiPolygon":
        return [np.asarray(poly[0], dtype=float)[:, :2] for poly in coords]
    raise ValueError(f"geometry type {kind!r}: boundaries must be Polygon or MultiPolygon features")


def plot_sez_share_map(by_region: pd.DataFrame, boundaries, path, key: str = "code",
                       cmap: str = "viridis") -> pd.DataFrame:
    """The SEZ paper's Figure 2 as a map: each region shaded by its SEZ share in the first and last year.

    Parameters
    ----------
    by_region : DataFrame
        :func:`sez_share_by_region` (regions as rows, the two years as columns).
    boundaries : path or dict
        A GeoJSON FeatureCollection of the regions (Polygon or MultiPolygon, lon/lat),
        supplied by the user: the package ships no boundaries.
    path : path
        The PNG written.
    key : str
        The feature property holding the region code used in the panel (e.g. a
        2-digit province code for ``region="province"``).
    cmap : str
        Matplotlib colour map; both panels share one scale from 0 to the largest share.

    Returns
    -------
    DataFrame
        One row per region of ``by_region``: its shares and ``on_map`` (whether a
        feature with a geometry matched). Regions without one are listed, never
        dropped silently; features without data are drawn in grey.
    """
    import json

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    if not isinstance(boundaries, dict):
        with open(boundaries, encoding="utf-8") as f:
            boundaries = json.load(f)
    features = boundaries.get("features")
    if not isinstance(features, list) or not features:
        raise ValueError("boundaries: a GeoJSON FeatureCollection with at least one feature is needed")
    missing_key = [i for i, feat in enumerate(features) if key not in (feat.get("properties") or {})]
    if missing_key:
        raise ValueError(f"boundaries: feature(s) {missing_key[:5]} lack the property {key!r}")
    # GeoJSON allows a feature without geometry (a region with unknown boundaries): it cannot be drawn
    features = [feat for feat in features if feat.get("geometry")]
    if not features:
        raise ValueError("boundaries: no feature has a geometry")
    codes = {str(r) for r in by_region.index}
    matched = {str(feat["properties"][key]) for feat in features} & codes
    if not matched:
        raise ValueError(f"boundaries: no feature's {key!r} matches a {by_region.index.name} of the panel "
                         f"(e.g. {sorted(codes)[:3]} vs {[feat['properties'][key] for feat in features[:3]]})")
    shares = by_region.rename(index=str)
    top = float(np.nanmax(shares.to_numpy())) or 1.0
    norm = matplotlib.colors.Normalize(vmin=0.0, vmax=top)
    colormap = plt.get_cmap(cmap)
    years = list(shares.columns[[0, -1]])
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, year in zip(axes, years):
        polygons, colours = [], []
        for feat in features:
            code = str(feat["properties"][key])
            value = shares[year].get(code, np.nan)
            for ring in _rings(feat["geometry"]):
                polygons.append(ring)
                colours.append(colormap(norm(value)) if np.isfinite(value) else (0.85, 0.85, 0.85, 1.0))
        ax.add_collection(PolyCollection(polygons, facecolors=colours, edgecolors="white", linewidths=0.4))
        ax.autoscale_view()
        lat = np.mean([ring[:, 1].mean() for ring in polygons])
        ax.set_aspect(1.0 / max(np.cos(np.radians(lat)), 0.1))  # degrees of longitude shrink with latitude
        ax.set_axis_off()
        ax.set_title(f"Share of firms in SEZs, {year}")
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap), ax=list(axes), shrink=0.7,
                 label="share of firms in SEZs")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    out = shares.iloc[:, [0, -1]].copy()
    out["on_map"] = [code in matched for code in out.index]
    return out
