"""``estimate``: simulated method of moments with common random numbers."""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from sez import moments as mom
from sez.model import Params
from sez.model.params import ESTIMABLE
from sez.parallel import SerialExecutor, WorkerLost
from sez.progress import active, stamped_line
from sez.smm.checkpoint import EvaluationCheckpoint, fingerprint
from sez.smm.grid import ModelSpec
from sez.smm.noise import _noise_weights, _precision, default_bounds, simulation_noise
from sez.smm.results import IDENTIFICATION_TOL, PROFILE_RISE, SMMResult
from sez.smm.search import (
    MODEL_ERRORS,
    _coordinate_scan,
    _jacobian,
    _local_gauss_newton,
    _local_search,
    _Objective,
    _profile_rise,
)


def estimate(
    data_moments: pd.Series,
    start: Params,
    free: Sequence[str],
    spec: ModelSpec = ModelSpec(),
    covariance: pd.DataFrame | None = None,
    weights: np.ndarray | str | None = None,
    bounds: dict | None = None,
    data_firms: int | None = None,
    global_points: int = 16,
    local_starts: int = 3,
    local_maxiter: int = 200,
    local: str = "gauss-newton",
    scan_rounds: int = 2,
    noise_draws: int = 8,
    identification_tol: float = IDENTIFICATION_TOL,
    profile: bool = False,
    executor=None,
    seed: int = 0,
    progress: bool = False,
    checkpoint: str | os.PathLike | None = None,
) -> SMMResult:
    """Estimate ``free`` parameters by the simulated method of moments.

    Every evaluation simulates with the same seed (common random numbers).
    Weights: with a data ``covariance`` its inverse (efficient); otherwise
    squared percentage deviations (MODEL.md's rule for point targets), unless
    ``weights`` is given: a matrix, or ``"noise"`` for the inverse of the
    moments' simulation noise (Monte Carlo and roughness, ``simulation_noise``)
    at the start, the right scale when the targets are themselves simulated.

    Global stage: a scrambled Sobol sample of ``global_points`` over the bounds.
    ``executor`` evaluates every batch of independent points together (the Sobol
    sample, each Jacobian's columns, each scan, the noise cloud); with common
    random numbers the estimate does not depend on it. Local stage from the ``local_starts`` best of
    the start and the Sobol points, in the unit cube of the bounds (parameters
    of very different scales move alike), with at most ``local_maxiter`` model
    evaluations each: ``"gauss-newton"`` (default) is scipy's bounded
    trust-region least squares on the weighted moment gaps with forward
    differences of ``LM_STEPS`` of the span, coarse to fine (wide steps see the
    slope through the steps of simulated moments); ``"nelder-mead"`` is a bounded
    simplex search restarted while it improves. After each local search, up to
    ``scan_rounds`` sweeps scan each parameter across its span (``SCAN_POINTS``
    evaluations each) and search again from a better point. With
    ``weights="noise"`` the weights are measured again at the first estimate and
    the local stage repeated from it (two steps).

    A moment that is reached only with others is judged by ``SMMResult.verdict``:
    every evaluated point's moments are kept, and their range is the evidence.

    Diagnostics at the estimate: the Jacobian (``JACOBIAN_STEP``), the moments'
    simulation noise from ``noise_draws`` extra panels and a cloud of nearby
    points, and from both the precision to which each parameter is pinned down;
    a parameter with precision above ``identification_tol`` is reported as not
    identified. With ``profile=True`` a parameter that passes is also moved by
    two tolerances either way with the others re-fitted; unless the noise-scaled
    objective rises by ``PROFILE_RISE`` (two s.d.) on each side within the
    bounds it is reported as not identified too (a weak, nonlinear effect can
    look sharp locally).

    Standard errors and the J test need ``covariance`` (the covariance of the
    data moments, e.g. ``sez.moments.bootstrap``; not with ``weights``) and carry
    the simulation correction (1 + 1/S), S = ``spec.n_firms`` / ``data_firms``:
    the ratio of simulated to observed firms, both panels covering about as many
    years (``spec.years``). A parameter that no moment moves gets no standard
    error (NaN).

    With a ``checkpoint`` path every model evaluation (and noise measurement) is
    appended to that JSON-lines file as it finishes; a rerun with the same arguments
    reads each recorded one back instead of computing it, and returns the estimate the
    uninterrupted run would have. A checkpoint written with other arguments is refused.
    A fault of the machine (an interrupt, a lost worker: :class:`sez.parallel.WorkerLost`)
    ends the estimation and is never recorded. ``progress`` prints timestamped lines
    (stages, and how many evaluations were read back from the checkpoint).
    """
    free = list(free)
    unknown = [n for n in free if n not in ESTIMABLE]
    if unknown or not free or len(set(free)) < len(free):
        raise ValueError(f"free must name distinct numeric parameters of Params ({', '.join(ESTIMABLE)}); "
                         f"got {free}")
    if local not in ("gauss-newton", "nelder-mead"):
        raise ValueError(f"local = {local!r}: use 'gauss-newton' or 'nelder-mead'")
    data = pd.Series(data_moments, dtype=float)
    missing = [m for m in data.index if m not in mom.MOMENTS]
    if missing:
        raise ValueError(f"unknown data moment(s) {missing}")
    spec = ModelSpec(**{**asdict(spec), "grid": spec.grid, "moments": tuple(data.index)})
    k, p = len(data), len(free)
    lo_hi = [(bounds or {}).get(n, default_bounds(start, n)) for n in free]
    # a start outside the bounds (the paper's theta_S breaks q theta < 1 - tau) is moved inside
    x0 = np.clip([getattr(start, n) for n in free], [b[0] for b in lo_hi], [b[1] for b in lo_hi]).astype(float)
    extra_evaluations = 0
    if covariance is not None:
        if weights is not None:
            raise ValueError("give covariance (efficient weights, its inverse) or weights, not both")
        if not data_firms:
            warnings.warn("covariance without data_firms: standard errors and J leave out the simulation "
                          "correction (1 + 1/S)", RuntimeWarning, stacklevel=2)
        omega = pd.DataFrame(covariance).loc[data.index, data.index].to_numpy()
        W = np.linalg.inv(omega)
    else:
        omega = None
        if isinstance(weights, str):
            if weights != "noise":
                raise ValueError(f"weights = {weights!r}: give a matrix or 'noise'")
            W = None  # measured at the start below, once the checkpoint is open
        elif weights is None:
            W = np.diag(1.0 / np.maximum(np.abs(data.to_numpy()), 1e-12) ** 2)
        else:
            W = np.asarray(weights, dtype=float)
    if W is not None and W.shape != (k, k):
        raise ValueError(f"weights must be {k} x {k}")
    store = None
    if checkpoint is not None:
        store = EvaluationCheckpoint(checkpoint, fingerprint({
            "data": data, "start": start, "free": free, "spec": spec, "covariance": covariance, "weights": weights,
            "bounds": lo_hi, "data_firms": data_firms, "global_points": global_points, "local_starts": local_starts,
            "local_maxiter": local_maxiter, "local": local, "scan_rounds": scan_rounds, "noise_draws": noise_draws,
            "identification_tol": identification_tol, "profile": profile, "seed": seed}), list(data.index))
        if progress:
            _say(f"calibration checkpoint {store.path}: {len(store.evaluations)} model evaluation(s) and "
                 f"{len(store.noise)} noise measurement(s) recorded; they are read back, not computed again")
    obj = _Objective(data, start, free, spec, W, seed, store)
    measured: dict[tuple, pd.DataFrame] = {}

    def noise_at(point, draws: int) -> pd.DataFrame:
        """The simulation noise at ``point``, measured once per point and number of draws (and recorded)."""
        nonlocal extra_evaluations
        key = (tuple(float(t) for t in point), int(draws))
        if key not in measured:
            if store is not None and key in store.noise:
                measured[key] = store.noise[key]
                store.read_back += measured[key].attrs["evaluations"]
            else:
                measured[key] = simulation_noise(start.replace(**dict(zip(free, key[0]))), free, spec,
                                                 dict(zip(free, lo_hi)), seed, int(draws), executor)
                if store is not None:
                    store.add_noise(*key, measured[key])
            extra_evaluations += measured[key].attrs["evaluations"]
        return measured[key]

    if W is None:
        W = obj.W = _noise_weights(noise_at(x0, max(int(noise_draws), 2)), data)
    starts = [(x0, obj(x0))]
    if global_points:
        sob = qmc.Sobol(p, scramble=True, seed=seed).random(global_points)
        pts = qmc.scale(sob, [b[0] for b in lo_hi], [b[1] for b in lo_hi])
        obj.prefetch(pts, executor or SerialExecutor(), progress="global stage" if progress else False)
        values = np.array([obj(x) for x in pts])
        starts += [(pts[i], float(values[i])) for i in np.argsort(values)[:local_starts]]
        if progress:
            _say(f"global stage: {global_points} Sobol points, best objective {values.min():.6g}" + _resumed(store))
    starts = sorted(starts, key=lambda s: s[1])[:max(1, local_starts)]
    search = _local_gauss_newton if local == "gauss-newton" else _local_search

    def local_stage(x_start, f_start):
        xs, fs, cs = search(obj, x_start, f_start, lo_hi, local_maxiter, executor)
        for _ in range(scan_rounds):  # leave a local minimum along one parameter, then search again
            xc, fc = _coordinate_scan(obj, xs, fs, lo_hi, executor)
            if not fc < fs:
                break
            xs, fs, cs = search(obj, xc, fc, lo_hi, local_maxiter, executor)
        if progress:
            _say(f"local stage: objective {f_start:.6g} -> {fs:.6g}, {obj.evaluations} model evaluations so far"
                 + _resumed(store))
        return xs, fs, cs

    x, f, converged = starts[0][0], starts[0][1], False
    for x_start, f_start in starts:
        xs, fs, cs = local_stage(x_start, f_start)
        if fs < f or (fs == f and not converged):
            x, f, converged = xs, fs, cs
    if isinstance(weights, str) and covariance is None:
        # two steps, as in two-step GMM: the roughness of the moments differs across the
        # parameter space, so weigh them by their noise at the first estimate and search again
        W = obj.W = _noise_weights(noise_at(x, max(int(noise_draws), 2)), data)
        x, f, converged = local_stage(x, obj(x))
    theta = np.asarray(x, dtype=float)
    m_hat = obj.moments(theta)
    jac = _jacobian(obj, theta, lo_hi, m_hat, executor)
    span = np.array([b[1] - b[0] for b in lo_hi], dtype=float)
    params_hat = start.replace(**dict(zip(free, map(float, theta))))
    noise = pd.DataFrame()
    if noise_draws:
        try:
            noise = noise_at(theta, noise_draws)
        except WorkerLost:  # a fault of the machine, not a noise that cannot be measured
            raise
        except MODEL_ERRORS as err:
            warnings.warn(f"the simulation noise could not be measured at the estimate ({err}); only a parameter "
                          f"that no moment moves is reported as not identified", RuntimeWarning, stacklevel=2)
    if len(noise):
        # SMM against data of the simulated panel's size: data and simulation noise, (1 + 1/S) with S = 1
        sigma = 2.0 * noise.attrs["covariance"].loc[data.index, data.index].to_numpy()
        precision = _precision(jac, sigma, theta, span)
    else:  # no noise measured: only a parameter that no moment moves is reported
        scale = np.maximum(np.abs(theta), 1e-3)
        sens = np.linalg.norm(jac * scale[None, :] / np.maximum(np.abs(data.to_numpy()), 1e-12)[:, None], axis=0)
        precision = np.where(sens > 1e-6, np.nan, np.inf)  # unknown where a moment moves it
    def pinned(precision, theta):
        # within the tolerance, and by the moments: the bounds alone must not pass a parameter
        # (posterior variance at most half that of a uniform law over the bounds)
        prior_sd = span / np.sqrt(12.0) / np.where(np.abs(theta) > 0, np.abs(theta), span)
        return (precision <= identification_tol) & (precision <= np.sqrt(0.5) * prior_sd)

    identified = np.isnan(precision) if not len(noise) else pinned(precision, theta)
    profile_rise = pd.Series(np.nan, index=free)
    if profile and len(noise):
        # the local precision can overstate what a weak, nonlinear effect pins down: move
        # each parameter it calls identified by 2 tolerances, re-fit the others, and ask
        # the noise-scaled objective to rise by at least PROFILE_RISE (two s.d.) on both
        # sides. A re-fit that beats the estimate's own objective shows the search stopped
        # short: the estimate moves there, is polished, and the profiles start again.
        W_noise = _noise_weights(noise, data)
        budget = min(local_maxiter, 150)
        for attempt in range(4):
            rises, better = {}, None
            for j in np.flatnonzero(pinned(precision, theta)):
                rises[j], x_best, f_best = _profile_rise(obj, theta, j, 2 * identification_tol, lo_hi, W_noise,
                                                         budget, executor)
                if attempt < 3 and f_best < obj(theta) * (1 - 1e-9):
                    better = x_best
                    break
            if better is None:  # a full pass at the final estimate
                break
            theta, _, _ = _local_gauss_newton(obj, better, obj(better), lo_hi, local_maxiter, executor)
            m_hat = obj.moments(theta)
            jac = _jacobian(obj, theta, lo_hi, m_hat, executor)
            params_hat = start.replace(**dict(zip(free, map(float, theta))))
            try:  # the diagnostics at the moved estimate, not the old one
                noise = noise_at(theta, noise_draws)
                sigma = 2.0 * noise.attrs["covariance"].loc[data.index, data.index].to_numpy()
                W_noise = _noise_weights(noise, data)
            except WorkerLost:
                raise
            except MODEL_ERRORS as err:
                warnings.warn(f"the simulation noise could not be measured at the moved estimate ({err}); the "
                              "previous estimate's is used", RuntimeWarning, stacklevel=2)
            precision = _precision(jac, sigma, theta, span)
        for j, rise in rises.items():
            profile_rise.iloc[j] = rise
        # a profile that could not be measured (NaN) does not pass
        identified = pinned(precision, theta) & (profile_rise.to_numpy() >= PROFILE_RISE)
    se = np.full(p, np.nan)
    j_stat, j_df, j_p = float("nan"), k - p, float("nan")
    if omega is not None:
        S = spec.n_firms / data_firms if data_firms else np.inf
        correction = 1.0 + 1.0 / S
        # parameters whose slope is unknown, or that no moment moves apart from the
        # others (G'WG singular), have no standard error: NaN, never a spurious 0
        known = np.isfinite(jac).all(axis=0) & (np.abs(np.nan_to_num(jac)).max(axis=0) > 0)
        G = jac[:, known]
        if G.shape[1] and np.linalg.matrix_rank(G.T @ W @ G) == G.shape[1]:
            bread = np.linalg.inv(G.T @ W @ G)
            V = correction * bread @ G.T @ W @ omega @ W @ G @ bread
            se[known] = np.sqrt(np.clip(np.diag(V), 0, None))
        j_df = k - (np.linalg.matrix_rank(G) if G.shape[1] else 0)
        g = obj.gap(m_hat)
        if j_df > 0:
            j_stat = float(g @ np.linalg.inv(omega) @ g / correction)
            j_p = float(stats.chi2.sf(j_stat, j_df))
    seen = pd.DataFrame([m[data.index] for m in obj.seen.values() if m is not None])
    box = pd.DataFrame({"min": seen.min(), "max": seen.max()}) if len(seen) else pd.DataFrame()
    box.attrs["points"] = len(seen)
    est = pd.Series(theta, index=free)
    if progress:
        total = obj.evaluations + extra_evaluations
        _say(f"calibration: {total} model evaluations" + (
            f", {store.read_back} read back from the checkpoint {store.path}, {total - store.read_back} computed"
            if store is not None else ""))
    return SMMResult(
        free=tuple(free), params=est, bse=pd.Series(se, index=free), start=pd.Series(x0, index=free),
        data_moments=data, model_moments=m_hat[data.index], objective=float(obj.gap(m_hat) @ W @ obj.gap(m_hat)),
        jacobian=pd.DataFrame(jac, index=data.index, columns=free), identified=pd.Series(identified, index=free),
        j_stat=j_stat, j_df=j_df, j_pvalue=j_p, evaluations=obj.evaluations + extra_evaluations,
        model_params=params_hat, converged=converged, precision=pd.Series(precision, index=free), noise=noise,
        box_ranges=box, bounds=pd.DataFrame(lo_hi, index=free, columns=["lower", "upper"]),
        identification_tol=identification_tol, profile_rise=profile_rise,
    )


def _say(text: str) -> None:
    """A progress line: in the run's log inside a pipeline, else timestamped on standard output (a batch log)."""
    log = active()
    if log is not None:
        log.status(text)
    else:
        print(stamped_line(text), flush=True)


def _resumed(store: EvaluationCheckpoint | None) -> str:
    return "" if store is None else f" ({store.read_back} read back from the checkpoint)"
