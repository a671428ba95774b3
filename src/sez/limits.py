"""Every threshold that decides whether sez trusts a number or starts a large job, in one place.

Each estimator, cleaning step and table reads its threshold from here, so that a
threshold has one value and one explanation. ``docs/guarantees.md`` lists them.
"""

from __future__ import annotations

# --- Inference -------------------------------------------------------------------------------------

#: A standard error at most this share of its estimate's size (or of 1, for an estimate near 0) is
#: degenerate: it measures rounding, not sampling variation (a coefficient the fixed effects absorb, a
#: group with no variation). Its statistic and p-value are NaN, so it gets no stars.
DEGENERATE_SE = 1e-10

#: Fewer clusters than this give no clustered variance (one cluster: a sandwich of zero, or a division by
#: G - 1 = 0); every clustered estimate refuses them.
MIN_CLUSTERS = 2


# --- Data plausibility (cleaning drops values outside these bounds, counted by reason) -------------


# --- Estimation samples ----------------------------------------------------------------------------


# --- Sizes checked before a large allocation or a long job -----------------------------------------
