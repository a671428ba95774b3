"""The SEZ paper's model tables beside ours: Table 7 (targets and fit) and Tables 8-10 (counterfactuals).

The model, its calibration (``sez.model.Params.paper()``, Tables 5-6), SMM and the counterfactuals are
in ``sez.model`` and ``sez.smm``; this module sets the paper's printed numbers (``sez.papers.numbers``)
beside their results.
"""

from __future__ import annotations

import pandas as pd

from sez.model.counterfactual import Counterfactual
from sez.papers import numbers
from sez.smm import SMMResult

__all__ = ["table7", "fit_table", "counterfactual_table"]


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
