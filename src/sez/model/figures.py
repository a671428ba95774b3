"""Figures of the model in the manner of the SEZ paper's Figures 8-11.

Each function returns a matplotlib Figure and saves it when ``path`` is given;
titles, axes and legends say what is drawn, so a figure reads without the code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sez.model.solve import Solution
from sez.results import renamed

ZONE_NAMES = ("non-SEZ", "SEZ")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=130, bbox_inches="tight")
    return fig


def decision_rules(solution: Solution, zone: int = 0, shock: int | None = None, path=None):
    """Figure 8: capital k', debt b' and dividends D against cash on hand, for the
    least and the most productive type, with the collateral and payout thresholds.
    """
    plt = _plt()
    sol = solution
    s = sol.grid.n_shocks // 2 if shock is None else shock
    T = sol.grid.n_types
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    binds = sol.collateral_binds()
    for ax, t, label in ((axes[0], 0, "lowest type"), (axes[1], T - 1, "highest type")):
        m = sol.cash_grid[t]
        ok = np.isfinite(sol.Q[zone, t, s])
        ax.plot(m[ok], sol.k_policy[zone, t, s][ok], label="capital k'")
        ax.plot(m[ok], sol.b_policy[zone, t, s][ok], label="debt b'")
        ax.plot(m[ok], sol.D_policy[zone, t, s][ok], label="dividends D")
        mbar = sol.mbar[zone, t, s]
        if np.isfinite(mbar):
            ax.axvline(mbar, ls="--", c="k", lw=0.8, label="payout threshold mbar")
        bound = m[binds[zone, t, s]]
        if len(bound):
            ax.axvline(bound.max(), ls=":", c="k", lw=0.8, label="collateral binds below")
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlim(left=0)
        ax.set_xlabel("cash on hand m")
        ax.set_title(f"{label}: A = {sol.space.types[t]:.3f}, v = {sol.space.shocks.values[s]:.4f}")
        ax.legend(fontsize=8)
    fig.suptitle(f"Decision rules of firms investing in the {ZONE_NAMES[zone]} zone")
    return _save(fig, path)


def location_map(solution: Solution, other: Solution | None = None, zone: int = 0, path=None):
    """Figure 9: the zone a firm in ``zone`` chooses at the end of a period, over
    cash on hand and productivity z = A v; ``other`` overlays another solution's
    boundary (e.g. a higher theta_S).
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))

    def points(sol):
        z = np.outer(sol.space.types, sol.space.shocks.values)  # (T, S)
        m = np.broadcast_to(sol.cash_grid[:, None, :], sol.zone[zone].shape)
        zz = np.broadcast_to(z[:, :, None], sol.zone[zone].shape)
        ok = np.isfinite(sol.V[zone])
        return m[ok], zz[ok], sol.zone[zone][ok] == 1

    m, z, sez = points(solution)
    ax.scatter(m[~sez], z[~sez], s=6, c="tab:blue", label="chooses non-SEZ")
    ax.scatter(m[sez], z[sez], s=6, c="tab:orange", label="chooses SEZ")
    if other is not None:
        m2, z2, sez2 = points(other)
        lowest = pd.DataFrame({"z": z2[sez2], "m": m2[sez2]}).groupby("z")["m"].min()
        ax.plot(lowest.to_numpy(), lowest.index.to_numpy(), "k--", label="boundary, alternative")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlim(left=0)
    ax.set_xlabel("cash on hand m")
    ax.set_ylabel("productivity z = A v")
    ax.set_title(f"Location choice of firms starting in the {ZONE_NAMES[zone]} zone "
                 f"(xbar_S = {solution.params.xbar_S:g}, theta_S = {solution.params.theta_S:g})")
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


@renamed(panel="data")
def lifecycle(data: pd.DataFrame, max_age: int = 20, path=None):
    """Figures 10-11: mean capital, leverage (debt/capital) and log TFP by age,
    by zone of birth (firms born in the panel).
    """
    plt = _plt()
    df = data[data["age"].notna() & (data["age"] <= max_age)].copy()
    df["age"] = df["age"].astype(int)
    df["leverage"] = df["debt"] / df["capital"].where(df["capital"] > 0)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for zone in ("N", "S"):
        g = df[df["birth_zone"] == zone].groupby("age")
        if g.ngroups == 0:
            continue
        name = ZONE_NAMES[zone == "S"]
        axes[0].plot(g["capital"].mean(), label=f"born {name}")
        axes[1].plot(g["leverage"].mean(), label=f"born {name}")
        axes[2].plot(g["ln_tfp"].mean(), label=f"born {name}")
    for ax, title in zip(axes, ("capital k", "leverage b/k", "log TFP ln z")):
        ax.set_xlabel("age (years)")
        ax.set_title(f"mean {title} by age")
        ax.legend(fontsize=8)
    fig.suptitle("Life cycle of firms by zone of birth (simulated panel)")
    return _save(fig, path)


@renamed(panel="data")
def tfp_density(data: pd.DataFrame, path=None):
    """Densities of log TFP by zone (histograms normalised to one)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = np.histogram_bin_edges(data["ln_tfp"], bins=40)
    for flag in (False, True):
        x = data.loc[data["sez"] == flag, "ln_tfp"]
        if len(x):
            ax.hist(x, bins=bins, density=True, histtype="step", lw=1.5,
                    label=f"{ZONE_NAMES[flag]} (n = {len(x):,}, mean {x.mean():.3f})")
    ax.set_xlabel("log TFP ln z")
    ax.set_ylabel("density")
    ax.set_title("Productivity of producing firms by zone (simulated panel)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def sez_size(sweep: pd.DataFrame, path=None):
    """The optimal SEZ size: aggregate TFP, output and consumption against the
    SEZ firm share as the lever moves (each relative to its maximum).
    """
    plt = _plt()
    lever = sweep.columns[0]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for col in ("aggregate_tfp", "output", "consumption"):
        ax.plot(sweep["sez_share"], sweep[col] / sweep[col].max(), marker="o", label=col.replace("_", " "))
        best = sweep.loc[sweep[col].idxmax()]
        ax.annotate(f"{lever}={best[lever]:g}", (best["sez_share"], 1.0), fontsize=7)
    ax.set_xlabel("SEZ share of firms")
    ax.set_ylabel("relative to the maximum over the sweep")
    ax.set_title(f"SEZ size as {lever} varies ({sweep.attrs.get('closure', 'partial')} equilibrium)")
    ax.legend(fontsize=8)
    return _save(fig, path)
