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

#: A regressor that keeps less than this share of its variation (sum of squared deviations from its
#: mean) once the fixed effects and the regressors before it are partialled out is collinear with them:
#: what is left is the rounding of an iterative demeaning (residuals of about 1e-8 where the exact
#: answer is 0), not variation that identifies a coefficient. Such a regressor gets no coefficient (NaN,
#: noted in the counts) or an error naming it. The smallest legitimate shares are far above this: one
#: firm switching treatment among 590,000 keeps about 1e-5 of the treatment's variation.
COLLINEAR_SHARE = 1e-10

#: The proxy-variable and dynamic-panel production functions (Olley and Pakes 1996, Levinsohn and Petrin
#: 2003, Ackerberg, Caves and Frazer 2015, Wooldridge 2009) learn how productivity evolves from firms'
#: consecutive years, so a group needs at least this many firms observed in two consecutive years. It is
#: a floor, not a guarantee: below it a handful of firms' time series decides the capital coefficient
#: (six firms gave 2.14, reported as converged) and the firm bootstrap resamples almost the same firms;
#: clustered inference stays rough up to a few dozen firms (Cameron and Miller 2015).
MIN_PANEL_FIRMS = 10

#: Fewest usable observations (and, for the proxy and dynamic-panel methods, observations with the
#: previous year's values) an estimation group of ``sez.tfp.estimate`` may have by default.
MIN_GROUP_OBS = 50


# --- Sizes checked before a large allocation or a long job -----------------------------------------
