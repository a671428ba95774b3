"""asv: the stationary distribution, the simulated panel and a counterfactual (one thread:
two-thread timings on a shared two-core machine are noise)."""

import warnings

from sez.model import CollateralWarning, Grid, Params, counterfactual, simulate, solve, stationary


def _economy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        params = Params.paper(xbar_S=0.3, cm=0.05, cm_out=0.02, theta_S=0.7)
    sol = solve(params, Grid())
    return params, sol, stationary(sol)


class Distribution:
    def setup_cache(self):
        return _economy()

    def time_stationary(self, cache):
        stationary(cache[1], threads=1)

    def time_simulate_20k_firms_60_years(self, cache):
        simulate(cache[1], n_firms=20_000, years=60, burn_in=0, distribution=cache[2], threads=1)

    def peakmem_simulate_20k_firms_60_years(self, cache):
        simulate(cache[1], n_firms=20_000, years=60, burn_in=0, distribution=cache[2], threads=1)


class Counterfactual:
    timeout = 300

    def setup_cache(self):
        return _economy()[0]

    def time_no_sez_partial(self, params):
        counterfactual(params, "no_sez", Grid(), closure="partial", n_firms=20_000, threads=1)
