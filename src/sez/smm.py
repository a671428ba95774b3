"""Simulated method of moments and parameter grids that survive being killed.

``evaluate_grid`` maps model moments (or any function) over parameter points with
any ``concurrent.futures.Executor`` and appends each finished point to a
checkpoint as it completes; ``estimate`` fits internal parameters to data moments.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.stats import qmc

from sez import moments as mom
from sez.model import CollateralWarning, Grid, Params, simulate, solve, stationary
from sez.model.params import ESTIMABLE
from sez.parallel import SerialExecutor, map_items
from sez.store import Checkpoint
from sez.results import Results


@dataclass(frozen=True)
class ModelSpec:
    """How parameters become simulated moments: grid, panel size, moments."""

    grid: Grid = Grid()
    n_firms: int = 20_000
    years: int = 10
    burn_in: int = 60
    moments: tuple = tuple(mom.TABLE7.index)
    method: str = "howard"


def model_moments(params: Params, spec: ModelSpec = ModelSpec(), seed: int = 0) -> pd.Series:
    """Solve, find the stationary distribution, simulate a panel with ``seed`` and
    compute the moments of ``spec``, with one OpenMP thread per call unless the
    process says otherwise."""
    sol = solve(params, spec.grid, method=spec.method)
    dist = stationary(sol)
    panel = simulate(sol, n_firms=spec.n_firms, years=spec.years, burn_in=spec.burn_in, seed=seed,
                     distribution=dist)
    return mom.compute(panel, spec.moments)


def _seed_int(seed: np.random.SeedSequence) -> int:
    return int(seed.generate_state(1, dtype=np.uint32)[0])


def moments_at_point(point: dict, seed: np.random.SeedSequence, base: Params, spec: ModelSpec,
                     fixed_seed: int | None = None) -> dict:
    """Grid function: model moments at ``base`` with ``point``'s changes, simulated
    with the point's own ``seed`` (a grid) or with ``fixed_seed`` for every point
    (an estimation's common random numbers)."""
    return model_moments(base.replace(**point), spec, _seed_int(seed) if fixed_seed is None else fixed_seed).to_dict()


# -- checkpointed grids -----------------------------------------------------------------


def _fingerprint(points, fn, seed) -> str:
    if isinstance(fn, functools.partial):
        name = f"{fn.func.__module__}.{fn.func.__qualname__}{fn.args!r}{sorted(fn.keywords.items())!r}"
    else:
        name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
    blob = json.dumps({"points": points, "fn": name, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def evaluate_grid(
    points: Sequence[dict],
    fn: Callable[[dict, np.random.SeedSequence], dict] | None = None,
    base: Params | None = None,
    spec: ModelSpec = ModelSpec(),
    executor=None,
    checkpoint: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Evaluate ``fn(point, seed_i)`` at every point; point i gets child i of
    ``SeedSequence(seed)``, whatever the executor.

    By default ``fn`` computes model moments at ``base.replace(**point)``. With a
    ``checkpoint`` path, every finished point is appended as it completes and a
    rerun with the same arguments skips them. A point that raises is recorded
    with its error and the grid goes on. Returns one row per point: the point's
    values, the result's entries and ``error``.
    """
    points = [dict(p) for p in points]
    if not points:
        raise ValueError("points is empty")
    if fn is None:
        fn = functools.partial(moments_at_point, base=base or Params(), spec=spec)
    store = Checkpoint(checkpoint, _fingerprint(points, fn, seed), len(points)) if checkpoint else None
    done = store.done if store else {}
    records: dict[int, dict] = {i: rec for i, rec in done.items()}
    todo = [i for i in range(len(points)) if i not in done]
    if todo:
        for i, result, err in map_items(fn, points, executor=executor, seed=seed, indices=todo,
                                        progress="grid" if progress else False):
            if isinstance(result, pd.Series):
                result = result.to_dict()
            if store:
                store.append(i, result, err)
                records[i] = store.done[i]
            else:
                records[i] = {"index": i, "result": result,
                              "error": None if err is None else f"{type(err).__name__}: {err}"}
    rows = []
    for i in range(len(points)):
        rec = records[i]
        row = {"point": i, **points[i], **(rec["result"] or {}), "error": rec["error"]}
        rows.append(row)
    return pd.DataFrame(rows).set_index("point")


# -- estimation -------------------------------------------------------------------------------

#: Finite-difference step of the Jacobian (identification, standard errors), as a
#: share of each parameter's bound span. Simulated moments are step functions of
#: the parameters even under common random numbers (a firm crosses a threshold; a
#: payout threshold or zone switch moves to the next cash node), so a much smaller
#: step measures the steps, not the slope.
JACOBIAN_STEP = 0.02
#: Finite-difference steps of the Gauss-Newton local stage, coarse to fine (share of the span).
LM_STEPS = (0.05, 0.02)
#: A parameter is identified when the moments, at their simulation noise and with
#: efficient weights, pin it down to within this relative standard deviation.
IDENTIFICATION_TOL = 0.1
#: Half-width of the cloud of points that measures the roughness of the moments
#: (share of each free parameter's span).
ROUGHNESS_RADIUS = 0.01

#: Why a Table 7 target may be out of the model's reach at the paper's external
#: parameters (MODEL.md defect 5, "A note on the TFP moments"); the evidence is the
#: moment's range over the parameter box, measured by each calibration.
MODEL_LIMITS = {
    "wl_y": "the model has no intermediate inputs and labour is chosen statically, so every firm's wage bill is "
            "gamma (1 - alpha) = 0.543 of its value added, whatever the internal parameters",
    "i_y": "alpha, gamma, delta and beta fix an unconstrained firm's K/Y (about 2.9), so I/Y is about delta K/Y "
           "plus the growth of constrained young firms; the internal parameters move only the latter",
    "leverage_sez": "unconstrained firms sit at b'/k' = theta_S; 0.96 needs q theta_S > 1 - tau_S, where the "
                    "collateral bound Kbar is infinite (defect 1), excluded by the bounds",
    "leverage_nsez": "unconstrained firms sit at b'/k' = theta_N; 0.96 needs q theta_N > 1 - tau_N, where the "
                     "collateral bound Kbar is infinite (defect 1), excluded by the bounds",
    "tfp_ratio_sez": "a ratio of mean log TFP depends on the units of TFP; with mu = 8.70 the model's sd(ln A) is "
                     "about 0.115, so zones cannot differ by the data's 1.3 log points",
    "tfp_birth_ratio_sez": "a ratio of mean log TFP depends on the units of TFP; entrants draw A from the same "
                           "Pareto law in both zones, so only selection into zones separates them",
}


def default_bounds(params: Params, name: str) -> tuple[float, float]:
    """Bounds a search may use for a free parameter. Collateral stays below the
    point where Kbar becomes infinite (q theta < 1 - tau), where the objective
    is discontinuous (docs/model.md, calibration)."""
    value = getattr(params, name)
    if name.startswith("theta_"):
        tau = getattr(params, "tau_" + name[-1])
        return 0.0, 0.999 * (1 - tau) / params.q
    if name in ("lam",):
        return 0.005, 0.3
    if name == "m0_log_mean":
        return value - 3.0, value + 3.0
    if name == "m0_log_sd":
        return 0.1, 3.0
    if name == "Me":  # a positive scale: Me = 0 has no firms
        return value / 5.0, 5.0 * value
    hi = 5.0 * value if value > 0 else 0.5
    return 0.0, hi


def _moments_by_seed(params: Params, spec: ModelSpec, seeds: Sequence[int]) -> pd.DataFrame:
    """Moments of one solution simulated with several seeds (one row per seed)."""
    sol = solve(params, spec.grid, method=spec.method)
    dist = stationary(sol)
    rows = [mom.compute(simulate(sol, n_firms=spec.n_firms, years=spec.years, burn_in=spec.burn_in, seed=int(s),
                                 distribution=dist), spec.moments) for s in seeds]
    return pd.DataFrame(rows, index=list(seeds))


def simulation_noise(
    params: Params,
    free: Sequence[str],
    spec: ModelSpec = ModelSpec(),
    bounds: dict | None = None,
    seed: int = 0,
    draws: int = 8,
    executor=None,
) -> pd.DataFrame:
    """How noisy the simulated moments are at ``params``, in two parts (s.d. by moment).

    ``monte_carlo``: the s.d. over ``draws`` panels simulated with other seeds (the
    sampling noise of a panel of ``spec.n_firms`` firms). ``roughness``: the s.d. of
    the residuals of a linear fit to the moments at ``3 p + 3`` points drawn within
    ``ROUGHNESS_RADIUS`` of each free parameter's span, all simulated with ``seed``:
    the steps that common random numbers leave (firms crossing thresholds, payout
    thresholds and zone switches moving node by node on the cash grid).
    ``total`` combines both. ``attrs["covariance"]`` is diagonal with ``total``
    squared (the identification diagnostic's noise: a covariance estimated from a
    few panels is singular).
    """
    free = list(free)
    if int(draws) != draws or draws < 2:
        raise ValueError(f"draws = {draws}: need an integer >= 2")
    lo_hi = np.array([(bounds or {}).get(n, default_bounds(params, n)) for n in free], dtype=float)
    x0 = np.array([getattr(params, n) for n in free], dtype=float)
    seeds = [_seed_int(s) for s in np.random.SeedSequence([seed, 1]).spawn(int(draws))]
    mc = _moments_by_seed(params, spec, seeds)
    p = len(free)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    shifts = rng.uniform(-ROUGHNESS_RADIUS, ROUGHNESS_RADIUS, (3 * p + 3, p)) * (lo_hi[:, 1] - lo_hi[:, 0])
    X = np.clip(x0 + shifts, lo_hi[:, 0], lo_hi[:, 1])
    grid = evaluate_grid([dict(zip(free, map(float, x))) for x in X],
                         functools.partial(moments_at_point, base=params, spec=spec, fixed_seed=seed),
                         executor=executor or SerialExecutor(), seed=seed, progress=False)
    names = list(mc.columns)
    ok = grid["error"].isna().to_numpy()
    Y = grid.loc[ok, names].astype(float).to_numpy()
    D = np.column_stack([np.ones(ok.sum()), X[ok] - x0])
    if ok.sum() <= D.shape[1]:
        raise RuntimeError(f"the model fails at {int((~ok).sum())} of {len(X)} points near {dict(zip(free, x0))}")
    rough = np.full(len(names), np.inf)  # a moment undefined at too many nearby points: no information
    for j in range(len(names)):
        fine = np.isfinite(Y[:, j])
        if fine.sum() > D.shape[1]:
            coef, *_ = np.linalg.lstsq(D[fine], Y[fine, j], rcond=None)
            rough[j] = np.sqrt(((Y[fine, j] - D[fine] @ coef) ** 2).sum() / (fine.sum() - D.shape[1]))
    out = pd.DataFrame({"monte_carlo": mc.std(ddof=1), "roughness": pd.Series(rough, index=names)})
    out["total"] = np.hypot(out["monte_carlo"], out["roughness"])
    # diagonal: a covariance from a few panels has rank draws - 1 and would overstate
    # what the moments pin down along the directions it misses
    out.attrs["covariance"] = pd.DataFrame(np.diag(out["total"].to_numpy() ** 2), index=names, columns=names)
    out.attrs["evaluations"] = len(X) + 1
    return out


@dataclass(frozen=True, repr=False)
class SMMResult(Results):
    """Estimates, the fit and the diagnostics of an SMM run (the results protocol of :mod:`sez.results`).

    params : the estimates of the free parameters (normal inference).
    bse : standard errors (NaN without a data covariance: with only point targets
        no sampling uncertainty can be claimed).
    jacobian : d model moment / d parameter at the estimate (central differences
        with a step of ``JACOBIAN_STEP`` of each bound span).
    precision : the relative s.d. to which the moments pin each parameter down at
        the estimate with efficient weights, given their simulation noise (Monte
        Carlo and roughness) and a data set of the simulated panel's size; inf
        along a direction no moment moves. ``identified``: ``precision <=
        identification_tol`` with the moments, not the bounds, doing most of the
        work (and, with ``profile=True``, a profile rise on each side).
    noise : the simulation noise of the moments at the estimate (``simulation_noise``).
    box_ranges : each moment's smallest and largest value over the points the
        search evaluated (the Sobol sample of the bounds and the search path): the
        evidence that a target is out of the model's reach.
    j_stat, j_pvalue : over-identification test (needs a covariance and more
        moments than parameters).
    bounds : the box the search used, one row per free parameter.
    """

    free: tuple
    params: pd.Series
    bse: pd.Series
    start: pd.Series
    data_moments: pd.Series
    model_moments: pd.Series
    objective: float
    jacobian: pd.DataFrame = field(repr=False)
    identified: pd.Series = field(repr=False)
    j_stat: float
    j_df: int
    j_pvalue: float
    evaluations: int
    model_params: Params = field(repr=False)
    converged: bool = True
    precision: pd.Series = field(default_factory=lambda: pd.Series(dtype=float), repr=False)
    noise: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    box_ranges: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    bounds: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    identification_tol: float = IDENTIFICATION_TOL
    profile_rise: pd.Series = field(default_factory=lambda: pd.Series(dtype=float), repr=False)

    _renamed = {"estimate": "params", "se": "bse"}

    @property
    def nobs(self) -> int:
        """The number of moments matched (the data behind them are summarised by the targets)."""
        return len(self.data_moments)

    def moments_table(self) -> pd.DataFrame:
        """Table 7's shape: data, ours, the paper's model, and whether ours is within 10%."""
        out = pd.DataFrame({"data": self.data_moments, "model": self.model_moments})
        out["paper model"] = mom.TABLE7["paper_model"].reindex(out.index)
        out["deviation (%)"] = 100 * (out["model"] / out["data"] - 1)
        out["within 10%"] = _within(out["model"], out["data"], 0.10)
        return out

    def params_table(self) -> pd.DataFrame:
        """Table 6's shape: estimate, standard error, start, the paper's value,
        the relative precision the moments allow and whether it is identified."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CollateralWarning)
            paper_params = Params.paper()
        out = pd.DataFrame({
            "estimate": self.params, "se": self.bse, "start": self.start,
            "paper": pd.Series({n: getattr(paper_params, n) for n in self.free}),
            "precision": self.precision.reindex(self.params.index),
            "identified": self.identified,
        })
        if self.profile_rise.notna().any():
            out.insert(len(out.columns) - 1, "profile rise", self.profile_rise.reindex(out.index))
        return out

    def verdict(self, tol: float = 0.10) -> pd.DataFrame:
        """Per moment: reached (within ``tol`` of the data), or not, and why.

        A target outside the moment's range over the evaluated points (widened by
        ``tol``) is "out of reach"; one inside it but missed is "traded off"
        against the others; "undefined" where the model's moment is not defined.
        A target of 0 is judged by the absolute gap. ``reason`` adds the
        structural cause where the model fixes the moment (``MODEL_LIMITS``).
        """
        out = self.moments_table()[["data", "model", "deviation (%)"]]
        lo = self.box_ranges["min"].reindex(out.index) if len(self.box_ranges) else out["model"]
        hi = self.box_ranges["max"].reindex(out.index) if len(self.box_ranges) else out["model"]
        out["box min"], out["box max"] = lo, hi
        d = _scale(out["data"])
        reached = _within(out["model"], out["data"], tol)
        beyond = (out["data"] + tol * d < lo) | (out["data"] - tol * d > hi)
        undefined = out["model"].isna() | lo.isna() | hi.isna()
        out["verdict"] = np.where(reached, "reached", np.where(undefined, "undefined",
                                                               np.where(beyond, "out of reach", "traded off")))
        reasons = []
        for name, row in out.iterrows():
            if row["verdict"] == "reached":
                reasons.append("")
            elif row["verdict"] == "undefined":
                reasons.append("the model's moment is undefined at the estimate or over the points evaluated")
            elif row["verdict"] == "out of reach":
                why = MODEL_LIMITS.get(name, "")
                reasons.append(f"data {row['data']:.4g} outside the model's range [{row['box min']:.4g}, "
                               f"{row['box max']:.4g}] over the {self.box_ranges.attrs.get('points', 0)} "
                               "parameter points evaluated" + (f": {why}" if why else ""))
            else:
                reasons.append("within the model's range over the points evaluated, but not at the same "
                               "parameters as the other targets")
        out["reason"] = reasons
        return out

    def summary(self) -> str:
        lines = [f"SMM: {len(self.free)} free parameters, {len(self.data_moments)} moments, objective "
                 f"{self.objective:.4g}, {self.evaluations} model evaluations",
                 self.params_table().to_string(float_format=lambda x: f"{x:.5g}"), "",
                 self.moments_table().to_string(float_format=lambda x: f"{x:.4g}")]
        if np.isfinite(self.j_stat):
            lines.append(f"J = {self.j_stat:.3f} on {self.j_df} df, p = {self.j_pvalue:.3f}")
        weak = [n for n in self.free if not self.identified[n]]
        if weak:
            rule = f"relative precision > {self.identification_tol:g}"
            if self.profile_rise.notna().any():
                rule += f", or a profile rise < {PROFILE_RISE:g} at +-{2 * self.identification_tol:g}"
            lines.append(f"not identified ({rule}): {', '.join(weak)}")
        v = self.verdict()
        lines += ["", "Verdict per moment (within 10% of the data, or why not):"]
        lines += [f"  {name}: {row['verdict']}" + (f" ({row['deviation (%)']:+.1f}%)" if np.isfinite(
            row["deviation (%)"]) else "") + (f"; {row['reason']}" if row["reason"] else "")
                  for name, row in v.iterrows()]
        return "\n".join(lines)


def _scale(data: pd.Series) -> pd.Series:
    """What a moment's gap is measured against: the target, or 1 for a target of 0 (no relative scale)."""
    return data.abs().where(data != 0, 1.0)


def _within(model: pd.Series, data: pd.Series, tol: float) -> pd.Series:
    """Model moments within ``tol`` of their targets (relative; absolute for a target of 0)."""
    return (model - data).abs() <= tol * _scale(data)


class _Objective:
    """Weighted distance of model from data moments under common random numbers.
    Every point evaluated is remembered (a search revisits points)."""

    def __init__(self, data, start, free, spec, weights, seed):
        self.data, self.start, self.free, self.spec, self.W, self.seed = data, start, free, spec, weights, seed
        self.evaluations = 0
        self.seen: dict[tuple, pd.Series | None] = {}

    def moments(self, theta) -> pd.Series:
        key = tuple(float(t) for t in theta)
        if key not in self.seen:
            self.evaluations += 1
            params = self.start.replace(**dict(zip(self.free, key)))
            try:
                self.seen[key] = model_moments(params, self.spec, self.seed)
            except (ValueError, RuntimeError, ArithmeticError):
                self.seen[key] = None
                raise
        m = self.seen[key]
        if m is None:
            raise RuntimeError(f"no solution at {dict(zip(self.free, key))}")
        return m

    def prefetch(self, thetas, executor, progress: bool = False) -> None:
        """Evaluate the points not seen yet together on ``executor`` (the global
        stage, a Jacobian's columns, a scan: independent evaluations). Results are
        those of evaluating them one by one: every point uses the same seed."""
        if executor is None:
            return
        todo = list(dict.fromkeys(key for key in (tuple(float(t) for t in th) for th in thetas)
                                  if key not in self.seen))
        if len(todo) < 2 and not progress:
            return
        fn = functools.partial(moments_at_point, base=self.start, spec=self.spec, fixed_seed=self.seed)
        grid = evaluate_grid([dict(zip(self.free, key)) for key in todo], fn, executor=executor, seed=self.seed,
                             progress=progress)
        names = list(self.spec.moments)
        for key, (_, row) in zip(todo, grid.iterrows()):
            self.evaluations += 1
            self.seen[key] = pd.Series(row[names].to_numpy(dtype=float), index=names) if pd.isna(row["error"]) else None

    def gap(self, m: pd.Series) -> np.ndarray:
        return (m[self.data.index] - self.data).to_numpy()

    def residual(self, theta) -> np.ndarray | None:
        """The moment gap, or None where the model has no solution."""
        try:
            g = self.gap(self.moments(theta))
        except (ValueError, RuntimeError, ArithmeticError):
            return None
        return g if np.all(np.isfinite(g)) else None

    def __call__(self, theta) -> float:
        g = self.residual(theta)
        return np.inf if g is None else float(g @ self.W @ g)  # no solution here


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
            noise0 = simulation_noise(start.replace(**dict(zip(free, x0))), free, spec, dict(zip(free, lo_hi)),
                                      seed, max(int(noise_draws), 2), executor)
            extra_evaluations += noise0.attrs["evaluations"]
            W = _noise_weights(noise0, data)
        elif weights is None:
            W = np.diag(1.0 / np.maximum(np.abs(data.to_numpy()), 1e-12) ** 2)
        else:
            W = np.asarray(weights, dtype=float)
    if W.shape != (k, k):
        raise ValueError(f"weights must be {k} x {k}")
    obj = _Objective(data, start, free, spec, W, seed)
    starts = [(x0, obj(x0))]
    if global_points:
        sob = qmc.Sobol(p, scramble=True, seed=seed).random(global_points)
        pts = qmc.scale(sob, [b[0] for b in lo_hi], [b[1] for b in lo_hi])
        obj.prefetch(pts, executor or SerialExecutor(), progress=progress)
        values = np.array([obj(x) for x in pts])
        starts += [(pts[i], float(values[i])) for i in np.argsort(values)[:local_starts]]
    starts = sorted(starts, key=lambda s: s[1])[:max(1, local_starts)]
    search = _local_gauss_newton if local == "gauss-newton" else _local_search

    def local_stage(x_start, f_start):
        xs, fs, cs = search(obj, x_start, f_start, lo_hi, local_maxiter, executor)
        for _ in range(scan_rounds):  # leave a local minimum along one parameter, then search again
            xc, fc = _coordinate_scan(obj, xs, fs, lo_hi, executor)
            if not fc < fs:
                break
            xs, fs, cs = search(obj, xc, fc, lo_hi, local_maxiter, executor)
        return xs, fs, cs

    measured: dict[tuple, pd.DataFrame] = {}

    def noise_at(point, draws: int) -> pd.DataFrame:
        """The simulation noise at ``point``, measured once per point and number of draws."""
        nonlocal extra_evaluations
        key = (tuple(float(t) for t in point), int(draws))
        if key not in measured:
            measured[key] = simulation_noise(start.replace(**dict(zip(free, key[0]))), free, spec,
                                             dict(zip(free, lo_hi)), seed, int(draws), executor)
            extra_evaluations += measured[key].attrs["evaluations"]
        return measured[key]

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
        except (ValueError, RuntimeError, ArithmeticError) as err:
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
            except (ValueError, RuntimeError, ArithmeticError) as err:
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
    return SMMResult(
        free=tuple(free), params=est, bse=pd.Series(se, index=free), start=pd.Series(x0, index=free),
        data_moments=data, model_moments=m_hat[data.index], objective=float(obj.gap(m_hat) @ W @ obj.gap(m_hat)),
        jacobian=pd.DataFrame(jac, index=data.index, columns=free), identified=pd.Series(identified, index=free),
        j_stat=j_stat, j_df=j_df, j_pvalue=j_p, evaluations=obj.evaluations + extra_evaluations,
        model_params=params_hat, converged=converged, precision=pd.Series(precision, index=free), noise=noise,
        box_ranges=box, bounds=pd.DataFrame(lo_hi, index=free, columns=["lower", "upper"]),
        identification_tol=identification_tol, profile_rise=profile_rise,
    )


def _noise_weights(noise: pd.DataFrame, data: pd.Series) -> np.ndarray:
    """Diagonal weights: the inverse variance of each moment's simulation noise."""
    sd = noise["total"].reindex(data.index).to_numpy()
    return np.diag(1.0 / np.maximum(sd, 1e-6 * np.maximum(np.abs(data.to_numpy()), 1e-3)) ** 2)


def _precision(jac, sigma, theta, span) -> np.ndarray:
    """Relative s.d. to which moments with noise covariance ``sigma`` pin each
    parameter down with efficient weights, sqrt(diag((G' sigma^-1 G + P)^-1)) in
    units of the parameter (of its span where it is 0). P is the precision of a
    uniform law over the bounds (s.d. span / sqrt(12)): the bounds alone bound
    what a direction no moment moves can do, so such a parameter gets about its
    bounds' s.d., and one with a negligible share in that direction keeps the
    moments' precision. Moments whose noise or slope is not finite (e.g. a moment
    undefined at some seed) are left out; a parameter whose slope is unknown on
    both sides gets inf."""
    jac = np.asarray(jac, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    theta, span = np.asarray(theta, dtype=float), np.asarray(span, dtype=float)
    scale = np.where(np.abs(theta) > 0, np.abs(theta), span)
    unknown = ~np.isfinite(jac).any(axis=0)
    G = np.where(unknown[None, :], 0.0, jac * scale[None, :])
    rows = np.isfinite(G).all(axis=1) & np.isfinite(sigma).all(axis=1) & np.isfinite(sigma).all(axis=0)
    G, sigma = G[rows], sigma[np.ix_(rows, rows)]
    prior = (np.sqrt(12.0) * scale / span) ** 2  # 1 / (relative s.d. of a uniform law over the bounds)^2
    info = np.diag(prior)
    if rows.any():
        # a moment simulated without noise (e.g. fixed by the externals) still carries a
        # rounding-level noise, so that its inverse variance stays finite
        floor = max(1e-8 * np.abs(np.diag(sigma)).max(), 1e-16)
        info = info + G.T @ np.linalg.solve(sigma + floor * np.eye(len(sigma)), G)
    var = np.diag(np.linalg.inv((info + info.T) / 2))
    return np.where(unknown, np.inf, np.sqrt(np.clip(var, 0.0, None)))


#: Least rise of the noise-scaled objective (two s.d.) when a parameter called
#: identified is moved by two identification tolerances and the others re-fitted.
PROFILE_RISE = 4.0


class _Held:
    """The objective with parameter ``j`` held at ``value`` and weights ``W``: the
    interface the local searches use, over the other parameters."""

    def __init__(self, obj: _Objective, j: int, value: float, W):
        self.obj, self.j, self.value, self.W, self.data = obj, j, value, W, obj.data

    def full(self, x):
        return np.insert(np.asarray(x, dtype=float), self.j, self.value)

    @property
    def evaluations(self):
        return self.obj.evaluations

    def residual(self, x):
        return self.obj.residual(self.full(x))

    def prefetch(self, xs, executor) -> None:
        self.obj.prefetch([self.full(x) for x in xs], executor)

    def __call__(self, x):
        g = self.residual(x)
        return np.inf if g is None else float(g @ self.W @ g)


def _profile_rise(obj: _Objective, theta, j: int, shift: float, lo_hi, W, maxiter: int, executor=None):
    """Smallest rise, over theta_j (1 - shift) and theta_j (1 + shift) (within the
    bounds), of the objective with weights W re-minimised over the other
    parameters; with the re-fitted point that has the lowest objective of the
    estimation (``obj``) and that objective."""
    g0 = obj.residual(theta)
    f0 = float(g0 @ W @ g0)
    others = [b for i, b in enumerate(lo_hi) if i != j]
    rises, best_x, best_f = [], None, np.inf
    # relative to the parameter, as precision is (to its span where it is 0)
    step = shift * (abs(theta[j]) if theta[j] != 0 else lo_hi[j][1] - lo_hi[j][0])
    for sign in (-1.0, 1.0):
        value = float(np.clip(theta[j] + sign * step, *lo_hi[j]))
        if value == theta[j]:
            continue
        held = _Held(obj, j, value, W)
        x0 = np.delete(np.asarray(theta, dtype=float), j)
        x = x0 if not others else _local_gauss_newton(held, x0, held(x0), others, maxiter, executor)[0]
        rises.append(held(x) - f0)
        full = held.full(x)
        if obj(full) < best_f:
            best_x, best_f = full, obj(full)
    return (float(min(rises)) if rises else float("nan")), best_x, best_f


#: Points of the one-parameter scans between local searches (across each bound span).
SCAN_POINTS = 9


def _coordinate_scan(obj: _Objective, x, f, lo_hi, executor=None):
    """One sweep over the parameters, each scanned across its whole bound span
    (``SCAN_POINTS`` points) with the others held, moving to the best value.
    A local search on simulated moments stops in the local minima their steps
    make, and drifts along weakly identified directions to a bound; a scan over
    the whole span finds the valley again."""
    x = np.asarray(x, dtype=float).copy()
    for j, (lo, hi) in enumerate(lo_hi):
        line = np.repeat(x[None, :], SCAN_POINTS, axis=0)
        line[:, j] = np.linspace(lo, hi, SCAN_POINTS)
        obj.prefetch(line, executor)
        for trial in line:
            ft = obj(trial)
            if ft < f:
                x, f = trial.copy(), ft
    return x, f


def _local_gauss_newton(obj: _Objective, x0, f0, lo_hi, maxiter: int, executor=None):
    """Bounded Gauss-Newton (scipy's trust-region reflective least squares) on the
    weighted moment gaps, in the unit cube of the bounds, with forward-difference
    Jacobians under common random numbers, their step shrinking over ``LM_STEPS``."""
    lo = np.array([b[0] for b in lo_hi], dtype=float)
    span = np.array([b[1] - b[0] for b in lo_hi], dtype=float)
    p, k = len(lo), len(obj.data)
    # W = L L': the objective g' W g is |L' g|^2
    val, vec = np.linalg.eigh((obj.W + obj.W.T) / 2)
    root = vec * np.sqrt(np.clip(val, 0, None))[None, :]
    # where the model has no solution, a residual far above the start's (least squares needs finite ones)
    failed = np.full(k, np.sqrt(1e6 * max(f0 if np.isfinite(f0) else 0.0, 1.0) / k))
    budget = obj.evaluations + int(maxiter)

    def resid(u):
        g = obj.residual(lo + np.clip(u, 0.0, 1.0) * span)
        return failed if g is None else root.T @ g

    u = np.clip((np.asarray(x0, dtype=float) - lo) / span, 0.0, 1.0)
    f, converged = f0, False
    for h in LM_STEPS:
        def jac(v, *_):
            steps = np.where(v + h <= 1.0, h, -h) * np.eye(p)
            obj.prefetch([lo + np.clip(u, 0.0, 1.0) * span for u in [v, *(v + steps)]], executor)
            r0 = resid(v)
            return np.column_stack([(resid(v + steps[j]) - r0) / steps[j, j] for j in range(p)])

        left = budget - obj.evaluations
        if left < p + 2:
            break
        res = optimize.least_squares(resid, u, jac=jac, bounds=(0.0, 1.0), method="trf",
                                     max_nfev=max(2, left // (p + 1)), xtol=1e-10, ftol=1e-12, gtol=1e-12)
        ur = np.clip(res.x, 0.0, 1.0)
        fr = obj(lo + ur * span)
        if fr <= f:
            u, f = ur, fr
        converged = bool(res.status > 0)
    return lo + u * span, f, converged


def _local_search(obj: _Objective, x0, f0, lo_hi, maxiter: int, executor=None):  # noqa: ARG001 (one signature)
    """Bounded Nelder-Mead in the unit cube of the bounds (parameters of very
    different scales move alike), from a simplex spanning 10% of each range,
    restarted from its best point while that still improves (at most 4 runs)."""
    lo = np.array([b[0] for b in lo_hi], dtype=float)
    span = np.array([b[1] - b[0] for b in lo_hi], dtype=float)

    def in_cube(u):
        return obj(lo + np.clip(u, 0.0, 1.0) * span)

    u, f, converged = (np.asarray(x0, dtype=float) - lo) / span, f0, False
    p = len(u)
    for _ in range(4):
        simplex = np.vstack([u] + [np.clip(u + 0.1 * np.eye(p)[j] * (1 if u[j] < 0.9 else -1), 0, 1) for j in range(p)])
        res = optimize.minimize(in_cube, u, method="Nelder-Mead", bounds=[(0.0, 1.0)] * p,
                                options={"maxiter": maxiter, "xatol": 1e-7, "fatol": 1e-12, "adaptive": p > 3,
                                         "initial_simplex": simplex})
        converged = bool(res.success)
        if not res.fun < f - 1e-12 * max(1.0, abs(f)):
            break
        u, f = np.clip(res.x, 0.0, 1.0), float(res.fun)
    return lo + u * span, f, converged


def _jacobian(obj: _Objective, theta, lo_hi, m_hat, executor=None) -> np.ndarray:
    """Central differences of the simulated moments (common random numbers) with
    a step of ``JACOBIAN_STEP`` of each bound span, one-sided at a bound."""
    pairs = []
    for j, (lo, hi) in enumerate(lo_hi):
        up, dn = theta.copy(), theta.copy()
        up[j] = min(theta[j] + JACOBIAN_STEP * (hi - lo), hi)
        dn[j] = max(theta[j] - JACOBIAN_STEP * (hi - lo), lo)
        pairs.append((up, dn))
    obj.prefetch([x for pair in pairs for x in pair], executor)
    cols = []
    for j, pair in enumerate(pairs):
        sides = []
        for x in pair:
            try:
                sides.append((x[j], obj.moments(x)[obj.data.index]) if x[j] != theta[j] else None)
            except (ValueError, RuntimeError, ArithmeticError):  # no solution there: one-sided
                sides.append(None)
        (x_up, m_up), (x_dn, m_dn) = [s if s is not None else (theta[j], m_hat[obj.data.index]) for s in sides]
        if x_up == x_dn:
            cols.append(np.full(len(obj.data), np.nan))
        else:
            cols.append(((m_up - m_dn) / (x_up - x_dn)).to_numpy())
    return np.column_stack(cols)
