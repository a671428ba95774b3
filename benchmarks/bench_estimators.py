"""asv: the estimators on small synthetic panels: production functions (sez.tfp),
staggered DiD and event studies (sez.did) and the fixed-effects probit
(sez.probit).

The inputs are small so that ``asv run --quick`` stays fast; the scripts
``bench_tfp.py``, ``bench_did.py`` and ``bench_probit.py`` time the same
estimators at the papers' scale, each in its own process.
"""

import warnings

from sez import did, tfp
from sez.probit import probit

from .bench_probit import synthetic_probit_data


def _synthetic_truth(n_firms: int):
    """The clean firm-year panel of the synthetic ASIE generator (its `truth`)."""
    import sez.data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sez.data.synthetic(n_firms=n_firms, seed=0, mess="none").truth


class TFP:
    """Pooled production-function estimates on about 24,000 firm-years (3,000 firms)."""

    params = ["ols", "fe", "op", "lp", "acf", "wrdg"]
    param_names = ["method"]
    timeout = 300

    def setup_cache(self):
        return _synthetic_truth(3_000)

    def time_estimate(self, panel, method):
        tfp.estimate(panel, method=method, by=None, seed=0)


class DiD:
    """TWFE, the imputation estimator and the event study on the same panel."""

    timeout = 300

    def setup_cache(self):
        return _synthetic_truth(3_000)[["firm_id", "year", "sez", "ln_tfp"]]

    def time_twfe(self, panel):
        did.twfe(panel, "ln_tfp")

    def time_imputation(self, panel):
        did.imputation(panel, "ln_tfp", on_reversal="drop")

    def time_event_study(self, panel):
        did.event_study(panel, "ln_tfp", on_reversal="drop")


class Probit:
    """Export probit with year, industry and county effects on 20,000 observations,
    with marginal effects at means."""

    timeout = 300

    def setup_cache(self):
        data = synthetic_probit_data(20_000, n_years=5, n_industries=30, n_counties=60)
        regressors = [c for c in data.columns if c.startswith("x")] + ["lagged_exporter"]
        return data, regressors

    def time_probit(self, cache):
        data, regressors = cache
        probit(data, "exporter", regressors, fe=["year", "cic3", "county"]).marginal_effects(at="mean")
