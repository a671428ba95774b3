"""The ``[analysis]`` section of a ``sez run`` configuration: a researcher's own specifications.

Each ``[analysis.<name>]`` table names one specification; the ``analysis`` step
runs each on the analysed panel (after productivity and agglomeration) and shows
it as a table of its own (a tidy CSV beside it), with a figure for event studies.
:data:`EXAMPLE` shows one specification (``sez run --example`` prints it).

The papers' replications stay the default steps; a specification here adds to them.
"""

from __future__ import annotations

from sez.errors import ConfigError

__all__ = ["ESTIMATORS", "KEYS", "check_analysis", "EXAMPLE"]

#: The estimators a specification may name, and the keys each takes beside the common ones.
ESTIMATORS = {
    "twfe": ("formula", "weights"),
    "imputation": ("formula", "weights"),
    "event_study": ("formula", "window", "reference", "estimators"),
    "callaway_santanna": ("outcome", "treatment", "control"),
    "probit": ("formula", "weights"),
}

#: Keys every specification takes: what it is, its title, its sample and its standard errors.
COMMON = ("estimator", "title", "sample", "vcov")

#: Every key a specification may hold.
KEYS = tuple(dict.fromkeys(COMMON + tuple(k for keys in ESTIMATORS.values() for k in keys)))

#: The ``[analysis]`` example ``sez run --example`` prints.
EXAMPLE = '''# [analysis.<name>]: your own specifications, each a table (and a tidy CSV) of the report.
# estimator: one of twfe, imputation, event_study, callaway_santanna, probit.
# formula: fixest's syntax, "outcome ~ treatment + controls | fixed effects" (the probit: "y ~ x | fe").
# sample: a condition on the analysed panel's columns, e.g. "year >= 2000 and cic2 != '13'".
# vcov: "iid", "hetero" or {CRV1 = "column"} ({CRV1 = "a+b"}: two-way). weights: a column.
# event_study: window = [first, last], reference, estimators = ["twfe", "imputation", ...].
# callaway_santanna: outcome, treatment (a 0/1 column), control = "never" or "not_yet".
[analysis.tfp_after_2000]
estimator = "twfe"
formula = "ln_tfp ~ sez | firm_id + year"
vcov = {CRV1 = "city"}
sample = "year >= 2000"
title = "SEZ effect on log TFP, 2000 onwards"
'''

_TEXT = ("title", "sample", "formula", "weights", "outcome", "treatment", "control")


def check_analysis(raw, source: str) -> dict[str, dict]:
    """The ``[analysis]`` tables, checked: each names a known estimator and only the keys it takes, with
    values of the right kinds. The estimator checks the rest (columns, formula terms) when the step runs.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [analysis] must hold tables [analysis.<name>], got {raw!r}")
    specs = {}
    for name, spec in raw.items():
        where = f"{source}: [analysis.{name}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} must be a table of keys (estimator, formula, ...), got {spec!r}")
        estimator = spec.get("estimator")
        if estimator not in ESTIMATORS:
            raise ConfigError(f"{where} estimator must be one of {list(ESTIMATORS)}, got {estimator!r}")
        allowed = COMMON + ESTIMATORS[estimator]
        unknown = [k for k in spec if k not in allowed]
        if unknown:
            raise ConfigError(f"{where} has key(s) {unknown} that {estimator} does not take; it takes "
                              f"{list(allowed)}")
        for key in (k for k in _TEXT if k in spec):
            if not isinstance(spec[key], str) or not spec[key].strip():
                raise ConfigError(f"{where} {key} must be a non-empty string, got {spec[key]!r}")
        needed = "outcome" if estimator == "callaway_santanna" else "formula"
        if needed not in spec:
            raise ConfigError(f"{where} needs {needed} = ... (e.g. {_EXAMPLE_VALUE[needed]!r})")
        vcov = spec.get("vcov")
        if vcov is not None and not (isinstance(vcov, str) or (isinstance(vcov, dict) and len(vcov) == 1)):
            raise ConfigError(f"{where} vcov must be \"iid\", \"hetero\" or {{CRV1 = \"column\"}}, got {vcov!r}")
        window = spec.get("window")
        if window is not None and not (isinstance(window, list) and len(window) == 2
                                       and all(isinstance(v, int) and not isinstance(v, bool) for v in window)):
            raise ConfigError(f"{where} window must be [first, last] whole years, got {window!r}")
        if "reference" in spec and (isinstance(spec["reference"], bool) or not isinstance(spec["reference"], int)):
            raise ConfigError(f"{where} reference must be a whole number of years, got {spec['reference']!r}")
        if "estimators" in spec and not (isinstance(spec["estimators"], list) and spec["estimators"]):
            raise ConfigError(f"{where} estimators must be a non-empty list, got {spec['estimators']!r}")
        specs[name] = dict(spec)
    return specs


_EXAMPLE_VALUE = {"formula": "ln_tfp ~ sez | firm_id + year", "outcome": "ln_tfp"}
