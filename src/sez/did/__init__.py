"""Staggered difference-in-differences: TWFE, the imputation estimator, event studies, mediation.

Every estimate by TWFE (pyfixest) can be set beside the imputation estimator of
Borusyak, Jaravel and Spiess (2024), which uses only comparisons with untreated
firm-years; ``docs/estimators.md`` states the conventions (singletons, small-sample
factors, reversals, identification of imputed outcomes). Results follow
``sez.results``. The SEZ paper's tables built from these are in ``sez.papers.sez_paper``.
"""

from sez.did._pyfixest import demeaner_for
from sez.did.event_study import TREND_FORMS, event_study, trend_specification
from sez.did.heterogeneity import by_group, pre_period_quintile, triple_difference
from sez.did.imputation import imputation
from sez.did.mediation import mediation, mediation_by_group
from sez.did.prepare import adoption_timing
from sez.did.results import DidResults, EventStudyResults, MediationResults
from sez.did.twfe import twfe
from sez.errors import DidDataError

__all__ = ["DidResults", "EventStudyResults", "MediationResults", "twfe", "imputation", "event_study",
           "trend_specification", "TREND_FORMS", "mediation", "mediation_by_group", "adoption_timing",
           "pre_period_quintile", "by_group", "triple_difference", "DidDataError", "demeaner_for"]
from sez.did.aggregate import (  # noqa: E402
    AGGREGATIONS,
    AggregateResults,
    aggregate_cohort_effects,
    sun_abraham_aggregate,
)
from sez.did.callaway import CallawaySantAnnaResults, callaway_santanna  # noqa: E402

__all__ += ["callaway_santanna", "CallawaySantAnnaResults", "AggregateResults", "aggregate_cohort_effects",
            "sun_abraham_aggregate", "AGGREGATIONS"]
