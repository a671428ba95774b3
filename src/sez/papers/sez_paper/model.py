"""The SEZ paper's model tables beside ours: Table 7 (targets and fit) and Tables 8-10 (counterfactuals).

The model, its calibration (``sez.model.Params.paper()``, Tables 5-6), SMM and the counterfactuals are
in ``sez.model`` and ``sez.smm``; this module sets the paper's printed numbers (``sez.papers.numbers``)
beside their results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sez.model.counterfactual import Counterfactual
from sez.papers import numbers
from sez.smm import SMMResult

__all__ = ["table7", "fit_table", "counterfactual_table", "effect_bars"]

# a bar more than this many times the next largest is cut at the axis edge (its value printed), so that one
# outlier (the paper's effective tax rate in Table 8: +1800%) leaves the other bars readable
_AXIS_CUT_RATIO = 3.0


def table7() -> pd.DataFrame:
    """The paper's Table 7: ``data`` (the eight targets) and ``paper_model`` (its model's values), by moment."""
    return numbers.read("sez_table7").set_index("moment")


def fit_table(result: SMMResult) -> pd.DataFrame:
    """Table 7's shape: the data targets, our model's moments, the paper's model, the deviation and the verdict."""
    out = result.moments_table()
    out.insert(2, "paper model", table7()["paper_model"].reindex(out.index))
    return out


def counterfactual_table(cf: Counterfactual) -> pd.DataFrame:
    """Tables 8-10: our benchmark and counterfactual (``cf.table()``) with the paper's overall benchmark,
    counterfactual and effect (%) beside them, where the paper has the scenario (Table 8: no SEZ; 9: equal
    credit; 10: equal credit and tax).
    """
    out = cf.table()
    printed = numbers.read("sez_model_counterfactuals")
    printed = printed.loc[printed["scenario"] == cf.scenario].set_index("row")
    if printed.empty:
        return out
    benchmark = numbers.read("sez_model_benchmark").set_index("row")
    out["paper benchmark overall"] = benchmark["overall"].reindex(out.index)
    out["paper counterfactual overall"] = printed["counterfactual_overall"].reindex(out.index)
    out["paper effect (%)"] = printed["effect_pct"].reindex(out.index)
    return out


def effect_bars(table: pd.DataFrame, path=None):
    """Grouped horizontal bars of :func:`counterfactual_table`: our effect (%) beside the paper's, one pair per
    row, each bar labelled with its value. Without the paper's column only ours are drawn. Returns the matplotlib
    Figure, also saved to ``path`` when given.
    """
    from matplotlib.figure import Figure

    if "effect (%)" not in table:
        raise KeyError(f"effect_bars: the table has no 'effect (%)' column (columns: {', '.join(table.columns)}); "
                       "pass counterfactual_table(cf)")
    series = {"Ours": ("effect (%)", "tab:blue"), "The paper's (printed)": ("paper effect (%)", "0.45")}
    series = {k: v for k, v in series.items() if v[0] in table}
    values = {name: table[column].to_numpy(dtype=float) for name, (column, _) in series.items()}
    magnitudes = np.sort(np.abs(np.concatenate(list(values.values()))))
    magnitudes = magnitudes[np.isfinite(magnitudes)]
    limit = magnitudes[-1] if magnitudes.size else 1.0
    if magnitudes.size > 1 and magnitudes[-1] > _AXIS_CUT_RATIO * magnitudes[-2]:
        limit = magnitudes[-2]
    limit = limit if limit > 0 else 1.0
    fig = Figure(figsize=(9.0, 0.55 * len(table) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(table))
    height = 0.8 / len(series)
    for k, (name, (_, colour)) in enumerate(series.items()):
        shown = values[name]
        cut = np.abs(shown) > limit
        bars = ax.barh(y - 0.4 + height * (k + 0.5), np.clip(np.nan_to_num(shown), -limit, limit), height,
                       color=colour, label=name)
        text = ["n/a" if not np.isfinite(v) else f"{v:,.1f}" for v in shown]
        ax.bar_label(bars, [t if not c else "" for t, c in zip(text, cut)], padding=2, fontsize="x-small")
        # a cut bar carries its value inside, since its end is the axis edge
        ax.bar_label(bars, [f"{t} (cut)" if c else "" for t, c in zip(text, cut)], label_type="center",
                     color="white", fontsize="x-small")
    ax.set_yticks(y, [str(i) for i in table.index])
    ax.set_ylim(len(table) - 0.5, -0.5)  # the table's first row on top
    ax.set_xlim(-limit * 1.15, limit * 1.15)
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("effect (%) = benchmark / counterfactual - 1")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=len(series), frameon=False, fontsize="small")
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
