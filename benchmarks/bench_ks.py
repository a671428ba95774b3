"""asv: the Kolmogorov-Smirnov kernel (sez._core through sez.stats) and the
agglomeration paper's Table 2 on a small synthetic panel.

One thread, small inputs: ``asv run --quick`` stays fast. ``compare_ks.py`` times
Table 2 at the paper's scale against scipy.stats.ks_2samp.
"""

import numpy as np

from sez import stats  # noqa: F401
from sez.agglo import is_agglomerated
from sez.papers import agglomeration

from .compare_ks import synthetic_panel


class KSTwoSample:
    """One two-sample test on samples of 100,000 and 50,000 draws (exact p-values off)."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.a = rng.normal(size=100_000)
        self.b = rng.normal(0.05, 1.0, size=50_000)

    def time_ks_2samp(self):
        stats.ks_2samp(self.a, self.b, exact=False)


class DominanceTable:
    """Table 2 (4 panels x 7 years of KS tests) on 100,000 synthetic firm-years."""

    def setup_cache(self):
        panel = synthetic_panel(100_000)
        panel["agglomerated"] = is_agglomerated(panel)
        return panel

    def time_dominance_table(self, panel):
        agglomeration.dominance_table(panel, agglomerated="agglomerated", threads=1)

    def time_dominance_table_with_lq(self, panel):
        agglomeration.dominance_table(panel, threads=1)
