"""Firm productivity: production-function estimation and firm-year log TFP.

``estimate(panel, method)`` with ``method`` one of ``"ols"``, ``"fe"`` (firm fixed effects),
``"op"`` (Olley and Pakes, 1996), ``"lp"`` (Levinsohn and Petrin, 2003), ``"acf"``
(Ackerberg, Caves and Frazer, 2015), ``"wrdg"`` (Wooldridge, 2009), pooled (the default) or by
industry (``by=``), Cobb-Douglas or translog; the columns are named by :class:`Inputs`, the
control-function options (the second stage's ``criterion`` among them, ``"prodest"`` giving R's
and Stata's ``prodest``) by :class:`ProxySettings`. ``bootstrap`` resamples whole firms. Results follow the
package's results protocol (``params``, ``bse``, ``tidy()``, ``summary()``). The methods, their
root selection, flags and Monte Carlo evidence: docs/estimators.md.
"""

from sez.tfp.dispatch import estimate, trim_within_zone
from sez.tfp.prepare import firm_age
from sez.tfp.resample import bootstrap
from sez.tfp.results import BootstrapResults, TFPResults
from sez.tfp.settings import (
    CRITERIA,
    DEFAULT_CRITERION,
    DEFAULT_PROXY,
    FIRST_STAGE_COLLAPSE,
    FORMS,
    METHOD_NAMES,
    METHODS,
    OUTPUT_COLUMNS,
    TRANSLOG_METHODS,
    Inputs,
    ProxySettings,
    TFPInputError,
    TFPWarning,
)
from sez.tfp.terms import output_elasticities, polynomial, production_terms

__all__ = ["estimate", "bootstrap", "Inputs", "ProxySettings", "TFPResults", "BootstrapResults", "TFPInputError",
           "TFPWarning", "trim_within_zone", "firm_age", "production_terms", "output_elasticities", "polynomial",
           "METHODS", "METHOD_NAMES", "FORMS", "TRANSLOG_METHODS", "OUTPUT_COLUMNS", "DEFAULT_PROXY",
           "FIRST_STAGE_COLLAPSE", "CRITERIA", "DEFAULT_CRITERION"]

_MOVED = {name: f"sez.papers.sez_paper.productivity.{name}"
          for name in ("production_table", "elasticity_table", "tfp_table", "PRODUCTION_VARIABLES")}
_MOVED["VCOV_TYPES"] = "sez.results.parse_vcov (vcov={'CRV1': column} or 'hetero')"


def __getattr__(name: str):
    if name in _MOVED:
        raise AttributeError(f"sez.tfp.{name} is now {_MOVED[name]} (see CHANGELOG.md)")
    raise AttributeError(f"module 'sez.tfp' has no attribute {name!r}")
