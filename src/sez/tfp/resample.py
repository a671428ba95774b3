"""Firm bootstrap: standard errors by resampling whole firms."""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from sez.tfp.dispatch import estimate
from sez.tfp.results import BootstrapResults
from sez.tfp.settings import Inputs, ProxySettings, TFPWarning, _spec, as_settings

__all__ = ["bootstrap"]


def _resample_firms(panel: pd.DataFrame, rng: np.random.Generator, unit: str = "firm_id") -> pd.DataFrame:
    """Draw whole firms with replacement; each draw becomes a new firm (own id)."""
    firm = panel[unit].to_numpy()
    order = np.argsort(firm, kind="stable")
    ids, starts, counts = np.unique(firm[order], return_index=True, return_counts=True)
    draw = rng.integers(0, len(ids), len(ids))
    lengths = counts[draw]
    offsets = np.repeat(starts[draw] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    take = order[np.arange(lengths.sum()) + offsets]
    sample = panel.iloc[take].copy()
    sample[unit] = np.repeat(np.arange(len(draw)), lengths)
    return sample


def _bootstrap_replication(rep, seed_sequence, panel, options):
    rng = np.random.default_rng(seed_sequence)
    sample = _resample_firms(panel, rng, options.get("unit", "firm_id"))
    with warnings.catch_warnings():  # flags are kept in the draws and counted once by bootstrap()
        warnings.simplefilter("ignore", TFPWarning)
        res = estimate(sample, write_tfp=False, seed=int(rng.integers(2 ** 31)), **options)
    return res.estimates


def bootstrap(data: pd.DataFrame, method: str = "acf", reps: int = 100, executor=None, seed: int = 0,
              progress: bool | str = False, **options) -> BootstrapResults:
    """Standard errors by resampling whole firms (keeps each firm's time series intact).

    Replication ``r`` draws firms (the ``unit`` column) with child ``r`` of
    ``SeedSequence(seed)`` through ``sez.parallel.map_items``, so results do not depend on
    the executor. ``options`` are passed to :func:`estimate`.

    For OP, LP and ACF each replication searches locally from the point estimate's
    second-stage coefficients of its group (one start), unless ``proxy_settings`` gives
    ``start`` or ``starts``: their moments can have several exact roots, and a replication
    started elsewhere can land on a distant one (on the Chilean panel of the ``prodest``
    documentation, 10 of 100 ACF replications did, with labour coefficients in the
    thousands), so that the spread would measure the distance between roots rather
    than sampling variation. Starting replications at the point estimate is the usual
    practice (e.g. Rovigatti and Mollisi, 2018).
    """
    from sez.parallel import SerialExecutor, map_items

    options = {"method": method, **options}
    point = estimate(data, seed=seed, **options)
    settings = as_settings(options.get("proxy_settings"), ProxySettings, "proxy_settings", "sez.tfp.bootstrap")
    if method in ("op", "lp", "acf") and settings.start is None and settings.starts is None:
        inputs = as_settings(options.get("inputs"), Inputs, "inputs", "sez.tfp.bootstrap")
        first_stage = 0 if method == "acf" else len(_spec(method, inputs)[1])
        betas = point.estimates[[f"beta_{t}" for t in point.terms]]
        start = {label: row.to_numpy(dtype=float)[first_stage:] for label, row in betas.iterrows()}
        options["proxy_settings"] = replace(settings, start=start, starts=1)
    unit, time = options.get("unit", "firm_id"), options.get("time", "year")
    needed = [unit, time] + [c for c in data.columns if c != "ln_tfp"]
    compact = data[list(dict.fromkeys(needed))]
    task = functools.partial(_bootstrap_replication, panel=compact, options=options)
    draws, failed = [], {}
    for rep, est, err in map_items(task, list(range(reps)), executor=executor or SerialExecutor(), seed=seed,
                                   progress=progress):
        if err is not None:
            failed[rep] = repr(err)
            continue
        draws.append(est.assign(rep=rep))
    draws = pd.concat(draws).sort_values("rep") if draws else pd.DataFrame(columns=["rep"])
    coef = ([f"beta_{c}" for c in point.terms] + [f"elasticity_{c}" for c in point.inputs]
            + ["returns_to_scale", "rho"])
    coef = [c for c in coef if c in point.estimates.columns]
    se = draws.groupby(level=0)[coef].std(ddof=1) if len(draws) else pd.DataFrame(columns=coef)
    robust = ((draws.groupby(level=0)[coef].quantile(0.75) - draws.groupby(level=0)[coef].quantile(0.25)) / 1.349
              if len(draws) else pd.DataFrame(columns=coef))
    point.standard_errors = se.rename(columns=lambda c: c.removeprefix("beta_"))
    params = [c for c in [f"beta_{t}" for t in point.terms] + ["rho"] if c in coef]
    point.covariances = ({label: d[params].cov().rename(index=lambda c: c.removeprefix("beta_"),
                                                        columns=lambda c: c.removeprefix("beta_"))
                          for label, d in draws.groupby(level=0)} if len(draws) else {})
    replications = draws["rep"].nunique()
    point.standard_error_kind = (f"firm bootstrap, standard deviation over {replications} replications "
                                 f"(IQR / 1.349 in robust_standard_errors)")
    if "plausible" in draws.columns and not draws["plausible"].astype(bool).all():
        outside = draws.loc[~draws["plausible"].astype(bool), "rep"].nunique()
        warnings.warn(f"{method} bootstrap: {outside} of {replications} replications ended with a "
                      "negative elasticity (draws['plausible'] is False): weakly identified moments; the IQR-based "
                      "robust_standard_errors are unmoved by them", TFPWarning, stacklevel=2)
    return BootstrapResults(point=point, draws=draws, standard_errors=se, failed=failed,
                            robust_standard_errors=robust)
