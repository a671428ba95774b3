"""Firm productivity: production-function estimation and firm-year log TFP.

Methods (value-added ``output="va"`` or gross-output ``"gross"``):

* ``"ols"``  pooled least squares with a constant (statsmodels).
* ``"fe"``   firm fixed effects (within transformation, statsmodels on demeaned data).
* ``"op"``   Olley and Pakes (1996): first stage ``y = b_l l + phi(k, i) + e`` with a
  polynomial ``phi``; second stage by nonlinear least squares,
  ``y - b_l l - b_k k = g(phi_{t-1} - b_k k_{t-1} [, P_{t-1}]) + xi + e`` with ``g`` a
  polynomial and ``P`` an optional survival probit (statsmodels).
* ``"lp"``   Levinsohn and Petrin (2003): as OP with materials as the proxy; second stage
  by GMM with instruments ``k_t`` (and ``m_{t-1}`` in gross output).
* ``"acf"``  Ackerberg, Caves and Frazer (2015): first stage ``y = phi(l, k, m) + e``;
  second stage GMM on the innovation ``xi`` of ``omega_t = g(omega_{t-1}) + xi`` with
  moments ``E[xi k_t] = E[xi l_{t-1}] = 0`` (and ``m_{t-1}`` in gross output).

OP, LP and ACF add year effects (``year_effects=True``, the default) to the first-stage
control function and to ``g``: a proxy measured in other units than output (investment at
current prices beside deflated output) shifts the inversion ``omega = h(k, i)`` by year,
which a time-invariant ``h`` cannot follow. Their second stage keeps, among the optima the
starts reach, one with non-negative elasticities of the logged inputs where there is one
(OP, LP: then the smallest sum of squared ``xi + e``; ACF: the most persistent productivity),
and flags the rest (``plausible``); OP and LP flag a first-stage coefficient of a free input
below ``FIRST_STAGE_COLLAPSE`` times its least-squares value (``first_stage_collapse``: the
proxy moves with that input given capital and productivity, the failure of LP that
Ackerberg, Caves and Frazer, 2015, describe). Flags also raise a :class:`TFPWarning`.
* ``"wrdg"`` Wooldridge (2009): one-step GMM of the two equations jointly, with an AR(1)
  productivity process (the persistence concentrated out by a scalar search), two-step
  efficient weighting and analytic standard errors clustered by firm.

Functional form (``form=``): ``"cobb-douglas"`` (all methods) or ``"translog"`` (OLS, FE
and ACF): ``y = sum_j b_j x_j + sum_{j<=h} b_jh x_j x_h + omega + e``; output elasticities
``d y / d x_j`` are evaluated per observation and reported at their sample mean.

Several state variables may be given (``state=["capital", "age"]``, as the SEZ paper's
Olley-Pakes estimates with firm age); columns named in ``levels`` enter without logs.

Lags are taken within a firm between consecutive years only; an observation after a gap
has no lag. Log TFP written back is ``ln_tfp = y - f(x; b)`` (no constant), on every row
whose output and production inputs are usable, whether or not its proxy is: the proxy
(investment, materials) only serves to estimate ``b``, so a firm-year with zero investment
left out of Olley-Pakes estimation still has a productivity.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from sez.progress import active as progress_active

METHODS = ("ols", "fe", "op", "lp", "acf", "wrdg")
FORMS = ("cobb-douglas", "translog")
TRANSLOG_METHODS = ("ols", "fe", "acf")
OUTPUT_COLUMNS = {"va": "value_added", "gross": "output"}
DEFAULT_PROXY = {"op": "investment", "lp": "intermediate_input", "acf": "intermediate_input",
                 "wrdg": "intermediate_input"}
VCOV_TYPES = ("cluster", "robust")
#: OP/LP: a free input's first-stage coefficient below this share of its least-squares one is flagged
#: (``first_stage_collapse``): the proxy does not separate it from productivity
FIRST_STAGE_COLLAPSE = 0.2


class TFPInputError(ValueError):
    """The panel cannot be used for estimation; the message names the column or industry."""


class TFPWarning(UserWarning):
    """An estimate that should not be trusted: a negative elasticity, or a first stage that cannot
    separate the free inputs from productivity (the groups are named)."""


# ----------------------------------------------------------------------------- data
@dataclass
class _Block:
    """Logged, sorted arrays of one estimation group."""
    y: np.ndarray
    free: np.ndarray        # (n, f) freely chosen inputs (labour; materials in OP gross output)
    state: np.ndarray       # (n, s) state variables (capital; firm age)
    proxy: np.ndarray | None
    materials: np.ndarray | None   # gross-output materials when not already in ``free``
    firm: np.ndarray
    prev: np.ndarray        # row of the same firm's previous year, -1 where none
    survive: np.ndarray | None     # 1 - exit, for the OP survival probit
    rows: np.ndarray        # positions in the caller's panel
    year: np.ndarray | None = None

    def year_dummies(self) -> np.ndarray:
        """Indicators of the block's years but the first, shape (n, years - 1)."""
        if self.year is None:
            return np.zeros((len(self.y), 0))
        years = np.unique(self.year)
        return (self.year[:, None] == years[None, 1:]).astype(float)

    def inputs(self) -> np.ndarray:
        """All production inputs in coefficient order: free, state, materials."""
        return np.column_stack([self.free, self.state] + ([self.materials] if self.materials is not None else []))


def _spec(method, output, state, free, proxy, materials):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if output not in OUTPUT_COLUMNS and not isinstance(output, str):
        raise ValueError(f"output must be 'va', 'gross' or a column name, got {output!r}")
    gross = output == "gross"
    y_col = OUTPUT_COLUMNS.get(output, output)
    free = [free] if isinstance(free, str) else list(free)
    state = [state] if isinstance(state, str) else list(state)
    if not state:
        raise ValueError("state must name at least one column (capital)")
    proxy = DEFAULT_PROXY.get(method) if proxy is None else proxy
    if method in ("ols", "fe"):
        proxy = None
    inputs_free = list(free)
    mat_col = None
    if gross:
        if method in ("ols", "fe", "op"):
            inputs_free.append(materials)          # materials enter like labour
        else:
            mat_col = materials                    # materials enter in the second stage
    names = inputs_free + state + ([mat_col] if mat_col else [])
    return y_col, inputs_free, state, proxy, mat_col, names


def _log_column(df: pd.DataFrame, col: str, as_is: bool, nonpositive: str) -> tuple[np.ndarray, np.ndarray]:
    """Log of a column (or the column itself when ``as_is``) and a mask of usable rows;
    raise naming the column otherwise."""
    if col not in df.columns:
        raise TFPInputError(f"column {col!r} is missing from the panel (needed as an input, output or proxy)")
    x = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(x) if as_is else ~(np.isfinite(x) & (x > 0))
    if bad.any() and nonpositive == "raise":
        where = np.flatnonzero(bad)[:5]
        example = df.iloc[where][["firm_id", "year"]].to_dict("records") if {"firm_id", "year"} <= set(df) else []
        kind = "missing or non-finite" if as_is else "missing or non-positive (cannot take logs)"
        raise TFPInputError(f"column {col!r} is {kind} in {int(bad.sum())} row(s), e.g. {example}; "
                            f"pass nonpositive='drop' to leave those rows out (they are counted)")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x if as_is else np.log(np.where(bad, 1.0, x))
    return out, ~bad


def _lag_index(firm: np.ndarray, year: np.ndarray) -> np.ndarray:
    """Row of the same firm's previous consecutive year in a (firm, year)-sorted block, else -1."""
    prev = np.full(len(firm), -1, dtype=np.int64)
    if len(firm) > 1:
        ok = (firm[1:] == firm[:-1]) & (year[1:] == year[:-1] + 1)
        prev[1:][ok] = np.flatnonzero(ok)
    return prev


@dataclass
class _Prepared:
    """Estimation blocks by group, and what ``ln_tfp`` needs on every row."""
    blocks: dict
    dropped: dict           # column -> rows unusable in it
    groups: np.ndarray      # group label of every panel row
    production_ok: np.ndarray   # output and all production inputs usable (the proxy may not be)
    inputs: np.ndarray      # (rows, p) production inputs in coefficient order (garbage where not ok)
    y: np.ndarray


def _prepare(panel, by, y_col, free_cols, state_cols, proxy, mat_col, logged, levels, nonpositive, need_exit):
    for col in ("firm_id", "year"):
        if col not in panel.columns:
            raise TFPInputError(f"column {col!r} is missing from the panel")
    production_cols = list(dict.fromkeys([y_col, *free_cols, *state_cols] + ([mat_col] if mat_col else [])))
    cols = list(dict.fromkeys(production_cols + ([proxy] if proxy else [])))
    logs, ok = {}, {}
    for col in cols:
        as_is = logged or col in levels
        logs[col], ok[col] = _log_column(panel, col, as_is, nonpositive)
    production_ok = np.logical_and.reduce([ok[c] for c in production_cols])
    usable = production_ok & ok[proxy] if proxy else production_ok
    dropped = {col: int((~ok[col]).sum()) for col in cols}
    survive = None
    if need_exit:
        if "exit" not in panel.columns:
            raise TFPInputError("column 'exit' is missing: exit_correction=True needs it for the survival probit")
        survive = 1.0 - panel["exit"].to_numpy(dtype=float)
    if by is not None and by not in panel.columns:
        raise TFPInputError(f"column {by!r} (by=) is missing from the panel")
    groups = panel[by].to_numpy() if by is not None else np.full(len(panel), "all", dtype=object)
    firm, year = panel["firm_id"].to_numpy(), panel["year"].to_numpy()
    rows = np.flatnonzero(usable)
    order = rows[np.lexsort((year[rows], firm[rows], groups[rows]))]
    g_sorted = groups[order]
    cuts = np.flatnonzero(g_sorted[1:] != g_sorted[:-1]) + 1
    blocks = {}
    for piece in np.split(order, cuts):
        if len(piece) == 0:
            continue
        blocks[groups[piece[0]]] = _Block(
            y=logs[y_col][piece], free=np.column_stack([logs[c][piece] for c in free_cols]),
            state=np.column_stack([logs[c][piece] for c in state_cols]),
            proxy=logs[proxy][piece] if proxy else None,
            materials=logs[mat_col][piece] if mat_col else None, firm=firm[piece],
            prev=_lag_index(firm[piece], year[piece]),
            survive=survive[piece] if survive is not None else None, rows=piece, year=year[piece])
    inputs = np.column_stack([logs[c] for c in [*free_cols, *state_cols] + ([mat_col] if mat_col else [])])
    return _Prepared(blocks=blocks, dropped=dropped, groups=groups, production_ok=production_ok, inputs=inputs,
                     y=logs[y_col])


def firm_age(panel: pd.DataFrame) -> pd.Series | None:
    """Firm age in years: the ``age`` column, else ``year - birth_year``; None when neither is there."""
    if "age" in panel.columns:
        return pd.to_numeric(panel["age"], errors="coerce").astype(float)
    if "birth_year" in panel.columns:
        return (pd.to_numeric(panel["year"], errors="coerce")
                - pd.to_numeric(panel["birth_year"], errors="coerce")).astype(float)
    return None


# ----------------------------------------------------------------------------- functional form
def _pairs(p: int) -> list[tuple[int, int]]:
    return list(itertools.combinations_with_replacement(range(p), 2))


def production_terms(inputs: np.ndarray, names: Sequence[str], form: str = "cobb-douglas"
                     ) -> tuple[np.ndarray, list[str]]:
    """Regressors of the production function and their names.

    Cobb-Douglas: the (log) inputs. Translog: the inputs, then ``x_j x_h`` for ``j <= h``
    named ``"a^2"`` and ``"a*b"``; the coefficient of ``x_j^2`` is ``b_jj`` in
    ``y = ... + b_jj x_j^2`` (no factor 1/2).
    """
    inputs = np.atleast_2d(np.asarray(inputs, dtype=float).T).T
    names = list(names)
    if form == "cobb-douglas":
        return inputs, names
    cols = [inputs] + [(inputs[:, j] * inputs[:, h])[:, None] for j, h in _pairs(len(names))]
    labels = names + [f"{names[j]}^2" if j == h else f"{names[j]}*{names[h]}" for j, h in _pairs(len(names))]
    return np.hstack(cols), labels


def _term_derivative(inputs: np.ndarray, j: int, form: str) -> np.ndarray:
    """d(terms)/d x_j per observation, shape (n, terms): the elasticity of input j is this times beta."""
    n, p = inputs.shape
    first = np.zeros((n, p))
    first[:, j] = 1.0
    if form == "cobb-douglas":
        return first
    second = np.zeros((n, len(_pairs(p))))
    for c, (a, b) in enumerate(_pairs(p)):
        if a == b == j:
            second[:, c] = 2 * inputs[:, j]
        elif a == j:
            second[:, c] = inputs[:, b]
        elif b == j:
            second[:, c] = inputs[:, a]
    return np.hstack([first, second])


def output_elasticities(inputs: np.ndarray, beta: np.ndarray, form: str = "cobb-douglas") -> np.ndarray:
    """Output elasticity of each input at each observation, shape (n, inputs)."""
    inputs = np.atleast_2d(np.asarray(inputs, dtype=float).T).T
    return np.column_stack([_term_derivative(inputs, j, form) @ beta for j in range(inputs.shape[1])])


def _mean_elasticity_map(inputs: np.ndarray, form: str) -> np.ndarray:
    """Matrix A (inputs x terms) with the sample-mean elasticities equal to ``A @ beta`` (linear in beta,
    so their covariance is ``A V A'``)."""
    return np.vstack([_term_derivative(inputs, j, form).mean(axis=0) for j in range(inputs.shape[1])])


# ----------------------------------------------------------------------------- algebra
def polynomial(x: np.ndarray, degree: int) -> np.ndarray:
    """All monomials of the columns of ``x`` up to total ``degree``, constant first.

    Columns are centred and scaled first (the span, hence fitted values, is unchanged)
    so that powers stay well conditioned.
    """
    x = np.atleast_2d(np.asarray(x, dtype=float).T).T
    scale = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    terms = [np.ones(len(z))]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(z.shape[1]), d):
            terms.append(np.prod(z[:, combo], axis=1))
    return np.column_stack(terms)


def _lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _project(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fitted values of y on P by normal equations (P small and well scaled)."""
    PtP = P.T @ P
    try:
        coef = np.linalg.solve(PtP, P.T @ y)
    except np.linalg.LinAlgError:
        coef = _lstsq(P, y)
    return P @ coef


def _cluster_sums(values: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Column sums of ``values`` within each cluster, one row per cluster."""
    order = np.argsort(cluster, kind="stable")
    sorted_ids = cluster[order]
    starts = np.concatenate([[0], np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1])
    return np.add.reduceat(values[order], starts, axis=0)


def _gmm_sandwich(G: np.ndarray, W: np.ndarray, S: np.ndarray, n: int) -> np.ndarray:
    """Covariance of a GMM estimator: (G'WG)^-1 G'W S W G (G'WG)^-1 / n (Hansen, 1982).

    ``G`` is the Jacobian of the mean moments, ``S`` the covariance of one unit's moment
    contribution; the formula does not presume ``W = S^-1``.
    """
    bread = np.linalg.inv(G.T @ W @ G)
    meat = G.T @ W @ S @ W @ G
    cov = bread @ meat @ bread / n
    return (cov + cov.T) / 2


# ----------------------------------------------------------------------------- estimators
def _second_inputs(block: _Block, method: str, names: Sequence[str], form: str) -> np.ndarray:
    """Regressors whose coefficients the second stage estimates (all terms for ACF)."""
    if method == "acf":
        return production_terms(block.inputs(), names, form)[0]
    parts = [block.state]
    if block.materials is not None:
        parts.append(block.materials[:, None])
    return np.column_stack(parts)


def _fit_proxy(block: _Block, method: str, degree: int, markov_degree: int, exit_correction: bool,
               starts: int, rng: np.random.Generator, min_obs: int, label, names: Sequence[str],
               form: str = "cobb-douglas", overidentify: bool = False, start=None,
               logged_inputs: np.ndarray | None = None, year_effects: bool = False) -> dict:
    """OP, LP and ACF: first-stage control function, second stage by NLS or GMM."""
    logged_inputs = np.ones(len(names), dtype=bool) if logged_inputs is None else np.asarray(logged_inputs)
    n_free = block.free.shape[1]
    # year effects: in the control function (a proxy in other units than output, e.g. nominal investment
    # beside deflated output, shifts the inversion by year) and in the law of motion of productivity
    D = block.year_dummies() if year_effects else np.zeros((len(block.y), 0))
    if method == "acf":
        controls = [block.free, block.state, block.proxy]
        if block.materials is not None and not np.array_equal(block.materials, block.proxy):
            controls.append(block.materials)           # the proxy is usually the materials themselves
        controls = np.column_stack(controls)
        P1 = np.column_stack([polynomial(controls, degree), D])
        phi = _project(P1, block.y)
        beta_free = np.zeros(0)
        target = phi                                   # omega + f(x; b), noise removed
    else:
        P1 = np.column_stack([polynomial(np.column_stack([block.state, block.proxy]), degree), D])
        coef = _lstsq(np.column_stack([block.free, P1]), block.y)
        beta_free = coef[:n_free]
        phi = P1 @ coef[n_free:]                       # beta_k k (+ beta_m m) + omega
        target = block.y - block.free @ beta_free      # omega + X theta + e
    X2 = _second_inputs(block, method, names, form)
    has_lag = block.prev >= 0
    now = np.flatnonzero(has_lag)
    lag = block.prev[now]
    if len(now) < min_obs:
        raise TFPInputError(f"industry {label!r}: only {len(now)} observation(s) with a lag of the previous "
                            f"year (need at least {min_obs}); pool it with others or pass small='skip'")
    extra = None
    if exit_correction and method == "op":
        extra = _survival_probability(block, degree)[lag]
    Xn, Xl, tn, phil = X2[now], X2[lag], target[now], phi[lag]
    if method == "acf":
        # each term's instrument is the term with the free inputs (and materials) lagged
        # and the state variables current: all were decided before xi_t (Ackerberg, Caves and Frazer, 2015)
        predetermined = np.column_stack([block.free[lag], block.state[now]]
                                        + ([block.materials[lag]] if block.materials is not None else []))
        Z = np.column_stack([production_terms(predetermined, names, form)[0]]
                            + ([block.state[lag], phi[lag]] if overidentify else []))
    else:
        Z = np.column_stack([block.state[now]] + ([block.materials[lag]] if block.materials is not None else []))
    W = np.linalg.inv(Z.T @ Z / len(now))

    # year effects in g: project on (g basis, year indicators) by removing year means first (Frisch-Waugh)
    demean = None
    if year_effects and block.year is not None and D.shape[1]:
        _, year_code = np.unique(block.year[now], return_inverse=True)
        year_count = np.bincount(year_code).astype(float)

        def demean(v):
            v = np.asarray(v, dtype=float)
            if v.ndim == 1:
                return v - (np.bincount(year_code, v) / year_count)[year_code]
            return np.column_stack([demean(v[:, j]) for j in range(v.shape[1])])

    def residual(theta):
        omega_lag = phil - Xl @ theta
        g_basis = polynomial(omega_lag if extra is None else np.column_stack([omega_lag, extra]), markov_degree)
        lhs = tn - Xn @ theta
        if demean is not None:
            lhs = demean(lhs)
            return lhs - _project(demean(g_basis[:, 1:]), lhs) if g_basis.shape[1] > 1 else lhs
        return lhs - _project(g_basis, lhs)

    if method == "op":
        def objective(theta):
            r = residual(theta)
            return float(r @ r / len(r))
    else:
        def objective(theta):
            m = Z.T @ residual(theta) / len(now)
            return float(m @ W @ m)

    if method == "acf":
        base = _lstsq(np.column_stack([np.ones(len(block.y)), X2]), block.y)[1:]
        ols_free = np.zeros(0)
    else:
        ols = _lstsq(np.column_stack([np.ones(len(block.y)), block.free, X2]), block.y)
        base, ols_free = ols[1 + n_free:], ols[1:1 + n_free]
    base = base if start is None else np.asarray(start, dtype=float)
    # The least-squares start; for ACF a balanced one (the least-squares returns to scale
    # shared equally by the logged inputs, second-order terms zero): the spurious ACF root
    # sits near the OLS labour coefficient pushed towards one, and with measurement error in
    # materials starts near OLS miss the persistent root while the balanced start reaches it
    # (Monte Carlo of tests/test_tfp.py); a shrunken copy; then random perturbations.
    candidates = [base]
    if method == "acf":
        candidates.append(_balanced_start(base, len(names), logged_inputs))
    candidates.append(0.6 * base)
    candidates += [base + rng.normal(0, 0.15, len(base)) for _ in range(max(0, starts - len(candidates)))]
    candidates = candidates[:max(1, starts)]
    from scipy.optimize import minimize
    mean_map = _mean_elasticity_map(block.inputs(), form)
    own = slice(0 if method == "acf" else n_free, None)     # the second stage's own coefficients

    def search(x0):
        res = minimize(objective, x0, method="Nelder-Mead",
                       options={"xatol": 1e-7, "fatol": 1e-14, "maxiter": 4000 * len(x0)})
        t = {"start": np.asarray(x0), "estimate": res.x, "objective": float(res.fun),
             "converged": bool(res.success), "iterations": int(res.nit)}
        omega_now, omega_lag = phi[now] - Xn @ t["estimate"], phil - Xl @ t["estimate"]
        t["persistence"] = float(np.polyfit(omega_lag, omega_now, 1)[0]) if np.ptp(omega_lag) > 0 else 0.0
        r = residual(t["estimate"])
        t["sum_of_squares"] = float(r @ r / len(r))
        elasticity = mean_map @ np.concatenate([beta_free, t["estimate"]])
        t["plausible"] = bool(np.all(elasticity[own][logged_inputs[own]] >= 0))
        return t

    trials = [search(x0) for x0 in candidates]
    if start is None and not any(t["plausible"] for t in trials):
        # every start left the parameter space: two more from scaled-up least-squares values
        trials += [search(np.abs(base) * f) for f in (1.5, 2.5)]
    # The parameter space first: OP's criterion and the LP and ACF moments also have a distant optimum
    # or root with a negative capital coefficient, where "productivity" phi - b_k k is mostly capital
    # itself (persistence ~0.99; for OP a criterion within 1e-4 of the right one's). Starts outside
    # the space (a negative elasticity of a logged input) count only when none lies in it (flagged).
    pool = [t for t in trials if t["plausible"]] or trials
    if method == "acf":
        # Exactly identified GMM can have several roots with objective ~0. ACF's moments also hold
        # at a spurious root where implied productivity is nearly white noise (labour takes all the
        # output); the control-function approach presumes persistent productivity, so among the
        # roots keep the most persistent one.
        key = lambda t: (not t["converged"], -t["persistence"])     # noqa: E731
    else:
        # among OP's optima and LP's roots, the smallest sum of squared xi + e (the criterion OP
        # minimises; the prodest convention for LP)
        key = lambda t: (not t["converged"], t["sum_of_squares"])     # noqa: E731
    lowest = min(t["objective"] for t in pool)
    at_min = [t for t in pool if t["objective"] <= lowest + 1e-10 + 1e-6 * abs(lowest)]
    at_min = sorted(at_min, key=key)
    best = at_min[0]
    good = [t["estimate"] for t in at_min]
    all_conv = np.array([t["estimate"] for t in trials if t["converged"]])
    theta = best["estimate"]
    beta = np.concatenate([beta_free, theta])
    # LP/OP first stage: when the proxy depends on the free inputs given (k, omega) (materials chosen
    # with or after labour, Ackerberg, Caves and Frazer, 2015), y - proxy carries no labour and the
    # first-stage labour coefficient collapses towards zero whatever the truth.
    collapse = bool(np.any(np.abs(beta_free) < FIRST_STAGE_COLLAPSE * np.abs(ols_free)))
    elasticity = mean_map @ beta
    plausible = bool(np.all(elasticity[logged_inputs] >= 0))
    return {"beta": beta, "n_second_stage": len(now), "objective": best["objective"],
            "converged": best["converged"], "plausible": plausible, "elasticity": elasticity,
            "first_stage_collapse": collapse,
            "ols_free": ols_free, "starts": trials,
            "start_spread": float(np.ptp(all_conv, axis=0).max()) if len(all_conv) > 1 else 0.0,
            "starts_at_optimum": len(good)}


def _balanced_start(base: np.ndarray, n_inputs: int, logged_inputs: np.ndarray) -> np.ndarray:
    """ACF start: the first-order coefficients of the logged inputs all equal to their mean,
    inputs in levels as given, second-order (translog) terms zero."""
    balanced = np.zeros_like(base)
    balanced[:n_inputs] = base[:n_inputs]
    balanced[:n_inputs][logged_inputs] = base[:n_inputs][logged_inputs].mean()
    return balanced


def _survival_probability(block: _Block, degree: int) -> np.ndarray:
    """Probit of staying in the panel next year on a polynomial in (k, i) (Olley and Pakes, 1996)."""
    import statsmodels.api as sm

    X = polynomial(np.column_stack([block.state, block.proxy]), min(degree, 2))
    s = block.survive
    if s.min() == s.max():
        return np.full(len(s), float(s[0]))
    fit = sm.Probit(s, X).fit(disp=0, maxiter=200)
    return fit.predict(X)


def _fit_linear(block: _Block, method: str, names: Sequence[str], form: str) -> dict:
    """OLS, or firm fixed effects as Stata's ``xtreg, fe`` does: the within regression with the
    grand means added back, so the constant is the mean firm effect and the slopes, their
    standard errors (residual degrees of freedom ``n - firms - k``) are the LSDV ones."""
    import statsmodels.api as sm

    X = production_terms(block.inputs(), names, form)[0]
    y = block.y
    n, k = X.shape
    if method == "ols":
        fit = sm.OLS(y, sm.add_constant(X, has_constant="add")).fit()
        return {"beta": fit.params[1:], "se": fit.bse[1:], "cov": fit.cov_params()[1:, 1:],
                "constant": float(fit.params[0]), "se_constant": float(fit.bse[0]),
                "r2": float(fit.rsquared), "r2_adj": float(fit.rsquared_adj), "n_second_stage": n,
                "converged": True}
    codes, index = np.unique(block.firm, return_inverse=True)
    counts = np.bincount(index)
    recentre = lambda v: v - (np.bincount(index, v) / counts)[index] + v.mean()
    Xd = np.column_stack([recentre(X[:, j]) for j in range(k)])
    fit = sm.OLS(recentre(y), sm.add_constant(Xd, has_constant="add")).fit()
    df_true = n - k - len(codes)
    scale = fit.df_resid / df_true if df_true > 0 else np.nan
    r2 = float(fit.rsquared)                     # within R-squared: the recentred total sum of squares is the within one
    return {"beta": fit.params[1:], "se": fit.bse[1:] * np.sqrt(scale), "cov": fit.cov_params()[1:, 1:] * scale,
            "constant": float(fit.params[0]), "se_constant": float(fit.bse[0] * np.sqrt(scale)),
            "r2_within": r2, "r2": r2, "r2_adj": 1 - (1 - r2) * (n - 1) / df_true if df_true > 0 else np.nan,
            "n_second_stage": n, "converged": True}


def _fit_wooldridge(block: _Block, degree: int, min_obs: int, label, vcov: str = "cluster") -> dict:
    """Wooldridge (2009) one-step GMM with omega_t = rho0 + rho omega_{t-1} + xi.

    Equations on every firm-year with a lag, productivity ``omega = c(k, m) gamma``:

    1. ``y_t = a1 + x_t b + c_t gamma + e_t``, instruments ``1, l_t, c_t``;
    2. ``y_t = a2 + x_t b + rho c_{t-1} gamma + u_t``, instruments
       ``1, k_t, l_{t-1}, c_{t-1}`` (and ``m_{t-1}`` in gross output).

    Given rho both are linear in ``(a1, a2, b, gamma)``, solved in closed form, and rho
    by a bounded scalar search on the concentrated objective. Two steps: the first with
    ``W = (Z'Z / n)^-1``, the second with the inverse covariance of the moments at the
    first-step estimates, clustered by firm (``vcov="cluster"``) or by firm-year
    (``"robust"``). Standard errors are the GMM sandwich at the second-step estimates with
    the same clustering, rho's estimation included (its column of the Jacobian is
    ``-Z' (0, c_{t-1} gamma)``); ``se_rho_known`` holds them with rho taken as known.
    """
    from scipy.optimize import minimize_scalar
    from scipy.stats import chi2

    now = np.flatnonzero(block.prev >= 0)
    if len(now) < min_obs:
        raise TFPInputError(f"industry {label!r}: only {len(now)} observation(s) with a lag (need {min_obs})")
    lag = block.prev[now]
    X = block.inputs()[now]
    C = polynomial(np.column_stack([block.state, block.proxy]), degree)[:, 1:]   # c(k, m) without constant
    n, p = X.shape
    one, zero = np.ones((n, 1)), np.zeros((n, 1))
    Y = np.concatenate([block.y[now], block.y[now]])
    Z1 = np.column_stack([one, block.free[now], C[now]])
    Z2 = np.column_stack([one, block.state[now], block.free[lag], C[lag]]
                         + ([block.materials[lag]] if block.materials is not None else []))
    Z = np.zeros((2 * n, Z1.shape[1] + Z2.shape[1]))
    Z[:n, :Z1.shape[1]] = Z1
    Z[n:, Z1.shape[1]:] = Z2
    cluster = block.firm[now] if vcov == "cluster" else np.arange(n)

    def regressors(rho):
        # parameters (a1, a2, b, gamma); rho * omega_{t-1} = rho * c_{t-1} gamma is linear given rho
        return np.vstack([np.column_stack([one, zero, X, C[now]]), np.column_stack([zero, one, X, rho * C[lag]])])

    def moment_covariance(u):
        g = Z * u[:, None]
        per_firm_year = g[:n] + g[n:]               # both equations of a firm-year are one unit
        h = _cluster_sums(per_firm_year, cluster)
        return h.T @ h / n

    # Z'R(rho) = Z'R(0) + rho Z'D with D the rho * c_{t-1} block: the search never touches n-sized arrays
    ZR0, ZD = Z.T @ regressors(0.0), Z.T @ (regressors(1.0) - regressors(0.0))
    ZY = Z.T @ Y

    def concentrated(rho, W):
        ZR = ZR0 + rho * ZD
        A = ZR.T @ W
        theta = np.linalg.solve(A @ ZR, A @ ZY)
        m = (ZY - ZR @ theta) / n
        return float(n * m @ W @ m), theta

    W = np.linalg.inv(Z.T @ Z / n)
    converged = True
    for step in (1, 2):
        res = minimize_scalar(lambda r: concentrated(r, W)[0], bounds=(-0.5, 1.5), method="bounded",
                              options={"xatol": 1e-8})
        converged &= bool(res.success)
        rho = float(res.x)
        J, theta = concentrated(rho, W)
        if step == 1:
            W = np.linalg.pinv(moment_covariance(Y - regressors(rho) @ theta))
    R = regressors(rho)
    S = moment_covariance(Y - R @ theta)
    gamma = theta[2 + p:]
    d_rho = np.concatenate([np.zeros(n), C[lag] @ gamma])
    G = -Z.T @ np.column_stack([R, d_rho]) / n
    cov = _gmm_sandwich(G, W, S, n)
    cov_rho_known = _gmm_sandwich(G[:, :-1], W, S, n)
    b = slice(2, 2 + p)
    df = Z.shape[1] - G.shape[1]
    return {"beta": theta[b], "rho": rho, "objective": J, "n_second_stage": n, "converged": converged,
            "cov": cov[b, b], "se": np.sqrt(np.diag(cov)[b]), "se_rho": float(np.sqrt(cov[-1, -1])),
            "se_rho_known": np.sqrt(np.diag(cov_rho_known)[b]), "weight_matrix": W,
            "j_statistic": J, "j_df": df, "j_pvalue": float(chi2.sf(J, df)) if df > 0 else np.nan,
            "vcov": vcov, "n_clusters": len(np.unique(cluster))}


# ----------------------------------------------------------------------------- results
@dataclass
class TFPResults:
    """Production-function estimates by group, diagnostics and firm-year log TFP.

    Attributes
    ----------
    method, output, form : str
    inputs : list of str
        Input columns (free, state, materials).
    terms : list of str
        Coefficient names, in the order of the coefficients: the inputs (Cobb-Douglas), then
        ``"a^2"`` and ``"a*b"`` (translog).
    estimates : DataFrame
        One row per group: ``beta_<term>``, ``elasticity_<input>`` (translog: the mean over
        the group's estimation sample of the per-observation elasticity), ``returns_to_scale``
        (sum of the logged inputs' elasticities), ``n_obs``, ``n_firms``, ``n_second_stage``,
        ``converged``, ``objective``, ``start_spread``; ``plausible`` (OP, LP, ACF: all
        elasticities of logged inputs non-negative) and ``first_stage_collapse`` (OP, LP: a free
        input's first-stage coefficient below ``FIRST_STAGE_COLLAPSE`` of its least-squares
        value); ``constant``, ``r2``, ``r2_adj`` (OLS, FE); ``rho`` (WRDG).
    standard_errors : DataFrame or None
        Analytic (OLS, FE: classical; WRDG: GMM, clustered as ``vcov``) or firm bootstrap
        (:func:`bootstrap`), by group; columns the terms, ``returns_to_scale``, translog
        mean elasticities, ``rho`` (WRDG).
    diagnostics : dict
        Per group: starting values and results of every start, dropped rows, extras
        (WRDG: J statistic, its degrees of freedom and p-value, weight matrix).
    panel : DataFrame
        Copy of the input panel with ``ln_tfp`` (NaN where not computed or trimmed) and,
        for translog, ``elasticity_<input>`` per firm-year.
    """
    method: str
    output: str
    inputs: list
    estimates: pd.DataFrame
    diagnostics: dict
    panel: pd.DataFrame | None
    dropped: dict = field(default_factory=dict)
    trimmed: int = 0
    standard_errors: pd.DataFrame | None = None
    form: str = "cobb-douglas"
    terms: list = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        out = self.estimates.copy()
        if self.standard_errors is not None:
            out = out.join(self.standard_errors.add_prefix("se_"))
        return out

    def summary(self) -> str:
        lines = [f"Production function: method={self.method}, output={self.output}, form={self.form}, "
                 f"inputs={', '.join(self.inputs)}",
                 f"rows dropped before logs: {self.dropped or 'none'}; ln_tfp trimmed: {self.trimmed}"]
        cols = ([f"beta_{c}" for c in self.terms] + [f"elasticity_{c}" for c in self.inputs]
                + ["returns_to_scale", "rho", "n_obs", "n_firms", "converged"])
        frame = self.to_frame()
        cols += [c for c in frame.columns if c.startswith("se_")]
        lines.append(frame[[c for c in cols if c in frame]].to_string(float_format=lambda v: f"{v:.4f}"))
        return "\n".join(lines)

    def __repr__(self):
        return self.summary()


def _estimate_block(label, block, method, degree, markov_degree, exit_correction, starts, seed, min_obs,
                    names, form="cobb-douglas", overidentify=False, start=None, vcov="cluster", logged_inputs=None,
                    year_effects=False):
    if len(block.y) < min_obs:
        raise TFPInputError(f"industry {label!r}: only {len(block.y)} observation(s), need at least {min_obs}; "
                            f"pool it with others or pass small='skip'")
    rng = np.random.default_rng(seed)
    if method in ("ols", "fe"):
        fit = _fit_linear(block, method, names, form)
    elif method == "wrdg":
        fit = _fit_wooldridge(block, degree, min_obs, label, vcov)
    else:
        fit = _fit_proxy(block, method, degree, markov_degree, exit_correction, starts, rng, min_obs, label,
                         names, form, overidentify, start, logged_inputs, year_effects)
    fit["n_obs"] = len(block.y)
    fit["n_firms"] = len(np.unique(block.firm))
    return fit


def _block_task(item, seed_sequence, **options):
    label, block = item
    if isinstance(options["start"], dict):
        options = {**options, "start": options["start"].get(label)}  # a start per group
    return _estimate_block(label, block, seed=seed_sequence, **options)


def estimate(panel: pd.DataFrame, method: str = "op", output: str = "va", by: str | None = "cic2",
             state: str | Sequence[str] = "capital", free: str | Sequence[str] = "employees",
             proxy: str | None = None, materials: str = "intermediate_input", form: str = "cobb-douglas",
             degree: int = 3, markov_degree: int | None = None, exit_correction: bool = False, starts: int = 3,
             min_obs: int = 50, small: str = "raise", nonpositive: str = "raise", logged: bool = False,
             levels: Sequence[str] = (), trim: float | None = None, zone: str = "sez", seed: int = 0,
             executor=None, write_tfp: bool = True, overidentify: bool = False,
             start: Sequence[float] | dict | None = None, vcov: str = "cluster",
             year_effects: bool = True) -> TFPResults:
    """Estimate a production function by industry (or pooled) and firm log TFP.

    Parameters
    ----------
    panel : DataFrame
        Firm-year table in the ``sez.panel`` schema (``firm_id``, ``year`` and the inputs).
    method : {"op", "lp", "acf", "wrdg", "ols", "fe"}
    output : {"va", "gross"} or str
        Value added (``value_added``) or gross output (``output``, materials an input), or
        any output column (value-added form).
    by : str or None
        Column defining estimation groups (``"cic2"``); None pools all firms.
    state, free : str or sequence of str
        State variable(s) (capital; e.g. ``["capital", "age"]`` as the SEZ paper's Olley-Pakes
        estimates) and the freely chosen input(s).
    proxy : str, optional
        Control for productivity: ``investment`` (OP) or ``intermediate_input`` (LP, ACF, WRDG).
    materials : str
        Materials column for gross output.
    form : {"cobb-douglas", "translog"}
        Functional form; translog for OLS, FE and ACF. Translog coefficients are not
        elasticities: see ``elasticity_<input>`` in the estimates and the panel.
    degree : int
        Total degree of the first-stage polynomial control function.
    markov_degree : int, optional
        Degree of the polynomial ``g`` in ``omega_t = g(omega_{t-1}) + xi``: 3 for OP/LP,
        1 (AR(1)) for ACF by default.
    exit_correction : bool
        OP only: add the survival probability from a probit on (k, i) to ``g``.
    starts : int
        Starting values of the second-stage optimiser: least squares plus ``starts - 1``
        seeded perturbations (sd 0.15); all are reported in ``diagnostics``. When none
        ends with non-negative elasticities (and ``start`` is not given), two more start
        from 1.5 and 2.5 times the absolute least-squares values.
    min_obs : int
        Fewest observations (and lagged observations) a group may have.
    small : {"raise", "skip"}
        What to do with a group below ``min_obs``: raise naming it, or skip it (recorded).
    nonpositive : {"raise", "drop"}
        Rows with missing or non-positive values of a used column: raise naming the column,
        or leave them out (counted in ``dropped``).
    logged : bool
        The columns already hold logs.
    levels : sequence of str
        Columns used as they are, without logs (firm age); their coefficients are
        semi-elasticities and do not count in returns to scale.
    trim : float, optional
        Set ``ln_tfp`` to NaN in the top and bottom ``trim`` share within each zone
        (column ``zone``), e.g. 0.005 as in the SEZ paper.
    overidentify : bool
        ACF only: add ``k_{t-1}`` and ``phi_{t-1}`` to the instruments (over-identified GMM).
    start : sequence of float or dict, optional
        First starting value of the second stage (its coefficients in the order of
        ``terms`` after any first-stage ones), or a dict group -> such a vector;
        default the least-squares estimate.
        Exactly identified ACF moments can have a second, spurious root near
        ``b_l = 1, b_k = 0`` (implied productivity nearly serially uncorrelated);
        among the roots the starts reach with non-negative elasticities, the one with the
        most persistent implied productivity is kept (``diagnostics[group]["starts"]`` lists
        them all, with their ``persistence``, ``plausible`` and ``sum_of_squares``).
    year_effects : bool
        OP, LP, ACF: year indicators in the first-stage control function and in the law of
        motion ``g`` (productivity's common year shifts, and a proxy or output in units that
        change by year, e.g. nominal investment beside deflated output). False gives the
        time-invariant control function of ``prodest`` and Stata's ``opreg``/``levpet``.
    vcov : {"cluster", "robust"}
        WRDG: the moments' covariance, for the efficient weight matrix and the standard
        errors, clustered by firm or by firm-year. OLS and FE standard errors are the
        classical ones (as the SEZ paper's Table 13); others come from :func:`bootstrap`.
    seed : int
        Root of the seeded streams (starting-value perturbations), child ``g`` per group.
    executor : concurrent.futures.Executor, optional
        Estimate groups in parallel through ``sez.parallel.map_items``; None runs serially.

    Returns
    -------
    TFPResults
        ``panel`` holds ``ln_tfp = y - f(x; b)`` on every row whose output and production
        inputs are usable (the proxy need not be), in the groups that were estimated.
    """
    from sez.parallel import SerialExecutor, map_items

    if small not in ("raise", "skip") or nonpositive not in ("raise", "drop"):
        raise ValueError("small must be 'raise' or 'skip' and nonpositive 'raise' or 'drop'")
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form == "translog" and method not in TRANSLOG_METHODS:
        raise ValueError(f"form='translog' is implemented for methods {TRANSLOG_METHODS}, not {method!r}")
    if vcov not in VCOV_TYPES:
        raise ValueError(f"vcov must be one of {VCOV_TYPES}, got {vcov!r}")
    y_col, free_cols, state_cols, proxy, mat_col, names = _spec(method, output, state, free, proxy, materials)
    if exit_correction and method != "op":
        raise ValueError(f"exit_correction is implemented for method='op' only, not {method!r}")
    if markov_degree is None:
        markov_degree = 1 if method == "acf" else 3
    levels = [c for c in ([levels] if isinstance(levels, str) else levels)]
    need_exit = exit_correction and method == "op"
    prepared = _prepare(panel, by, y_col, free_cols, state_cols, proxy, mat_col, logged, levels, nonpositive,
                        need_exit)
    blocks = prepared.blocks
    dropped = {k: v for k, v in prepared.dropped.items() if v}
    terms = production_terms(np.zeros((1, len(names))), names, form)[1]
    logged_inputs = np.array([c not in levels for c in names])
    options = dict(method=method, degree=degree, markov_degree=markov_degree, exit_correction=exit_correction,
                   starts=starts, min_obs=min_obs, names=names, form=form, overidentify=overidentify,
                   start=start, vcov=vcov, logged_inputs=logged_inputs, year_effects=year_effects)
    items = list(blocks.items())
    fits, skipped = {}, {}
    task = functools.partial(_block_task, **options)
    # inside a pipeline run each industry finished is a progress line (a batch log sees the step move)
    progress = f"{method.upper()} by {by}" if by is not None and progress_active() is not None else False
    for i, fit, err in map_items(task, items, executor=executor or SerialExecutor(), seed=seed, progress=progress):
        label = items[i][0]
        if err is not None:
            if small == "skip" and isinstance(err, TFPInputError):
                skipped[label] = str(err)
                continue
            raise err
        fits[label] = fit
    _warn_flagged(fits, method, names)
    rows, se_rows = [], {}
    for label, block in items:
        if label not in fits:
            continue
        fit = fits[label]
        beta = np.asarray(fit["beta"])
        row = {"group": label, **{f"beta_{c}": float(b) for c, b in zip(terms, beta)}}
        mean_map = _mean_elasticity_map(block.inputs(), form)
        elasticity = mean_map @ beta
        if form != "cobb-douglas":
            row.update({f"elasticity_{c}": float(e) for c, e in zip(names, elasticity)})
        row["returns_to_scale"] = float(elasticity[logged_inputs].sum())
        for key in ("constant", "r2", "r2_adj", "rho", "n_obs", "n_firms", "n_second_stage", "converged",
                    "plausible", "first_stage_collapse", "objective", "start_spread"):
            if key in fit:
                row[key] = fit[key]
        rows.append(row)
        if "cov" in fit:
            cov = np.asarray(fit["cov"])
            se = dict(zip(terms, np.sqrt(np.diag(cov))))
            cov_e = mean_map @ cov @ mean_map.T
            se["returns_to_scale"] = float(np.sqrt(logged_inputs @ cov_e @ logged_inputs))
            if form != "cobb-douglas":
                se.update({f"elasticity_{c}": float(v) for c, v in zip(names, np.sqrt(np.diag(cov_e)))})
            for key in ("constant", "rho"):
                if f"se_{key}" in fit:
                    se[key] = fit[f"se_{key}"]
            se_rows[label] = se
    estimates = pd.DataFrame(rows).set_index("group") if rows else pd.DataFrame()
    se = None
    if se_rows:
        se = pd.DataFrame(se_rows).T
        se.index.name = "group"
    hidden = ("beta", "se", "cov", "elasticity")
    diagnostics = {label: {k: v for k, v in fit.items() if k not in hidden} for label, fit in fits.items()}
    for label, why in skipped.items():
        diagnostics[label] = {"skipped": why}
    result = TFPResults(method=method, output=output, inputs=names, estimates=estimates, diagnostics=diagnostics,
                        panel=None, dropped=dropped, standard_errors=se, form=form, terms=terms)
    if write_tfp:
        out = panel.copy()
        ln_tfp = np.full(len(panel), np.nan)
        elasticities = np.full((len(panel), len(names)), np.nan)
        for label, fit in fits.items():
            at = np.flatnonzero(prepared.production_ok & (prepared.groups == label))
            x = prepared.inputs[at]
            ln_tfp[at] = prepared.y[at] - production_terms(x, names, form)[0] @ fit["beta"]
            elasticities[at] = output_elasticities(x, np.asarray(fit["beta"]), form)
        if trim:
            ln_tfp, result.trimmed = trim_within_zone(ln_tfp, out, zone, trim)
        out["ln_tfp"] = ln_tfp
        if form != "cobb-douglas":
            for j, c in enumerate(names):
                out[f"elasticity_{c}"] = elasticities[:, j]
        result.panel = out
    return result


def _warn_flagged(fits: dict, method: str, names: Sequence[str]) -> None:
    """One TFPWarning per kind of flag, naming the groups."""
    def listed(labels):
        labels = [str(g) for g in labels]
        return ", ".join(labels[:10]) + (f" and {len(labels) - 10} more" if len(labels) > 10 else "")

    collapsed = [g for g, f in fits.items() if f.get("first_stage_collapse")]
    if collapsed:
        free = list(names[:len(fits[collapsed[0]]["ols_free"])])
        example = fits[collapsed[0]]
        warnings.warn(
            f"{method}: the first-stage coefficient of {', '.join(free)} is below {FIRST_STAGE_COLLAPSE:.0%} of its "
            f"least-squares value in {len(collapsed)} group(s) ({listed(collapsed)}; e.g. "
            f"{np.round(example['beta'][:len(free)], 3).tolist()} against "
            f"{np.round(example['ols_free'], 3).tolist()}): the proxy moves with the free input(s) given capital "
            f"and productivity (materials ordered for the realised labour), so the first stage cannot identify "
            f"them and the estimates are not consistent (Ackerberg, Caves and Frazer, 2015); use method='acf'",
            TFPWarning, stacklevel=3)
    implausible = [g for g, f in fits.items() if f.get("plausible") is False]
    if implausible:
        example = dict(zip(names, np.round(fits[implausible[0]]["elasticity"], 3).tolist()))
        warnings.warn(f"{method}: a negative output elasticity in {len(implausible)} group(s) ({listed(implausible)}; "
                      f"e.g. {example}): outside the parameter space; the second stage prefers roots with "
                      f"non-negative elasticities, and diagnostics[group]['starts'] lists every start",
                      TFPWarning, stacklevel=3)


def trim_within_zone(ln_tfp: np.ndarray, panel: pd.DataFrame, zone: str, share: float) -> tuple[np.ndarray, int]:
    """Blank the top and bottom ``share`` of log TFP within each zone (SEZ paper, appendix A1.2).

    Returns the trimmed copy and the number of values blanked; a zone with fewer
    than two finite values is left as it is.
    """
    if zone not in panel.columns:
        raise TFPInputError(f"column {zone!r} is missing: trimming works within each zone")
    ln_tfp = ln_tfp.copy()
    zones = panel[zone].to_numpy()
    trimmed = 0
    for z in pd.unique(zones):
        at = np.flatnonzero((zones == z) & np.isfinite(ln_tfp))
        if len(at) < 2:
            continue
        lo, hi = np.quantile(ln_tfp[at], [share, 1 - share])
        cut = at[(ln_tfp[at] < lo) | (ln_tfp[at] > hi)]
        ln_tfp[cut] = np.nan
        trimmed += len(cut)
    return ln_tfp, trimmed


# ----------------------------------------------------------------------------- bootstrap
def _resample_firms(panel: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Draw whole firms with replacement; each draw becomes a new firm (own id)."""
    firm = panel["firm_id"].to_numpy()
    order = np.argsort(firm, kind="stable")
    ids, starts, counts = np.unique(firm[order], return_index=True, return_counts=True)
    draw = rng.integers(0, len(ids), len(ids))
    lengths = counts[draw]
    offsets = np.repeat(starts[draw] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    take = order[np.arange(lengths.sum()) + offsets]
    sample = panel.iloc[take].copy()
    sample["firm_id"] = np.repeat(np.arange(len(draw)), lengths)
    return sample


def _bootstrap_replication(rep, seed_sequence, panel, options):
    rng = np.random.default_rng(seed_sequence)
    sample = _resample_firms(panel, rng)
    with warnings.catch_warnings():  # flags are kept in the draws and counted once by bootstrap()
        warnings.simplefilter("ignore", TFPWarning)
        res = estimate(sample, write_tfp=False, seed=int(rng.integers(2 ** 31)), **options)
    return res.estimates


@dataclass
class BootstrapResults:
    """Firm-cluster bootstrap of production-function estimates.

    Attributes
    ----------
    point : TFPResults
    draws : DataFrame
        One row per (replication, group).
    standard_errors : DataFrame
        Standard deviation of each coefficient across replications, by group.
    robust_standard_errors : DataFrame
        Interquartile range across replications divided by 1.349 (the standard
        deviation where the draws are normal), by group: unmoved by the few
        replications that reach a distant root of weakly identified moments.
    failed : dict
        Replication -> error message.
    """
    point: TFPResults
    draws: pd.DataFrame
    standard_errors: pd.DataFrame
    failed: dict
    robust_standard_errors: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        out = self.point.estimates.join(self.standard_errors.add_prefix("se_"))
        if self.robust_standard_errors is not None:
            out = out.join(self.robust_standard_errors.add_prefix("se_iqr_"))
        return out

    def summary(self) -> str:
        text = (f"{self.point.method} bootstrap: {self.draws['rep'].nunique()} replications, "
                f"{len(self.failed)} failed\n" + self.to_frame().to_string(float_format=lambda v: f"{v:.4f}"))
        if self.robust_standard_errors is not None:
            ratio = (self.standard_errors / self.robust_standard_errors).max(axis=None)
            if ratio > 3:
                text += (f"\nThe standard deviation is up to {ratio:.0f} times the IQR-based error: a few "
                         "replications reach distant roots (weak identification); see draws.")
        return text


def bootstrap(panel: pd.DataFrame, method: str = "acf", reps: int = 100, executor=None, seed: int = 0,
              progress: bool | str = False, **options) -> BootstrapResults:
    """Standard errors by resampling whole firms (keeps each firm's time series intact).

    Replication ``r`` draws firms with child ``r`` of ``SeedSequence(seed)`` through
    ``sez.parallel.map_items``, so results do not depend on the executor.
    ``options`` are passed to :func:`estimate`.

    For OP, LP and ACF each replication searches locally from the point estimate's
    second-stage coefficients of its group (one start), unless ``start`` or ``starts``
    is given: their moments can have several exact roots, and a replication started
    elsewhere can land on a distant one (on the Chilean panel of the ``prodest``
    documentation, 10 of 100 ACF replications did, with labour coefficients in the
    thousands), so that the spread would measure the distance between roots rather
    than sampling variation. Starting replications at the point estimate is the usual
    practice (e.g. Rovigatti and Mollisi, 2018).
    """
    from sez.parallel import SerialExecutor, map_items

    options = {"method": method, **options}
    point = estimate(panel, seed=seed, **options)
    if method in ("op", "lp", "acf") and "start" not in options and "starts" not in options:
        first_stage = 0 if method == "acf" else len(_spec(method, options.get("output", "va"),
                                                          options.get("state", "capital"),
                                                          options.get("free", "employees"), None,
                                                          options.get("materials", "intermediate_input"))[1])
        betas = point.estimates[[f"beta_{t}" for t in point.terms]]
        options["start"] = {label: row.to_numpy(dtype=float)[first_stage:] for label, row in betas.iterrows()}
        options["starts"] = 1
    needed = ["firm_id", "year"] + [c for c in panel.columns if c != "ln_tfp"]
    compact = panel[list(dict.fromkeys(needed))]
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
    if "plausible" in draws.columns and not draws["plausible"].astype(bool).all():
        outside = draws.loc[~draws["plausible"].astype(bool), "rep"].nunique()
        warnings.warn(f"{method} bootstrap: {outside} of {draws['rep'].nunique()} replications ended with a "
                      "negative elasticity (draws['plausible'] is False): weakly identified moments; the IQR-based "
                      "robust_standard_errors are unmoved by them", TFPWarning, stacklevel=2)
    return BootstrapResults(point=point, draws=draws, standard_errors=se, failed=failed,
                            robust_standard_errors=robust)


# ----------------------------------------------------------------------------- tables
PRODUCTION_VARIABLES = {"Output": "output", "Value-Added": "value_added", "Input": "intermediate_input",
                        "Capital": "capital", "Investment": "investment", "Employment": "employees"}


def production_table(panel: pd.DataFrame) -> pd.DataFrame:
    """Descriptive statistics of the production variables in logs (SEZ paper, Table 12)."""
    rows = {}
    for label, col in PRODUCTION_VARIABLES.items():
        if col in panel.columns:
            x = panel[col].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.log(x[x > 0])
            rows[label] = _describe(v)
    age = firm_age(panel)
    if age is not None:
        rows["age"] = _describe(age.dropna().to_numpy(dtype=float))       # in years, not logs (the paper's row)
    table = pd.DataFrame(rows).T[["mean", "sd", "p25", "p50", "p75", "max"]]
    table.attrs["observations"] = len(panel)
    return table


def _describe(v: np.ndarray) -> dict:
    v = v[np.isfinite(v)]
    q = np.quantile(v, [0.25, 0.5, 0.75]) if len(v) else [np.nan] * 3
    from scipy.stats import skew

    return {"skewness": float(skew(v)) if len(v) > 2 else np.nan, "mean": v.mean(), "sd": v.std(ddof=1),
            "p25": q[0], "p50": q[1], "p75": q[2], "min": v.min(), "max": v.max(), "observations": len(v)}


def elasticity_table(panel: pd.DataFrame, methods: Sequence[str] = ("ols", "fe", "op", "lp"),
                     zone: str = "sez", reps: int = 0, executor=None, seed: int = 0,
                     op_age: bool | None = None, **options) -> pd.DataFrame:
    """Pooled elasticities by method for all firms, SEZ and non-SEZ firms (SEZ paper, Tables 13-14).

    Columns are (method, sample); rows the coefficients, ``t_<term>`` t statistics
    (analytic for OLS/FE/WRDG, firm bootstrap with ``reps`` replications otherwise),
    ``constant`` and ``t_constant`` (OLS, FE: the mean firm effect, as Stata's ``xtreg, fe``),
    ``observations`` (second stage where there is one), ``r2`` and ``r2_adj`` (OLS; FE:
    within R-squared, adjusted for the firm effects).

    op_age : bool, optional
        Olley-Pakes with firm age (years, in levels) as a second state variable, the
        paper's Table 14 ``age`` row (Stata's ``opreg ..., state(lnk age)``). None: when the
        panel has ``age`` or ``birth_year`` (see :func:`firm_age`); True requires it.
    """
    age = firm_age(panel)
    if op_age and age is None:
        raise TFPInputError("op_age=True needs column 'age' or 'birth_year' in the panel")
    use_age = age is not None if op_age is None else op_age
    data = panel.assign(age=age) if use_age else panel
    samples = {"Overall": data, "SEZ": data[data[zone].astype(bool)], "nSEZ": data[~data[zone].astype(bool)]}
    columns = {}
    for method in methods:
        method_options = dict(options)
        if method == "op" and use_age:
            state = method_options.pop("state", "capital")
            method_options["state"] = ([state] if isinstance(state, str) else list(state)) + ["age"]
            method_options["levels"] = list(method_options.pop("levels", ())) + ["age"]
        for name, sample in samples.items():
            if reps and method not in ("ols", "fe", "wrdg"):
                res = bootstrap(sample, method, reps=reps, executor=executor, seed=seed, by=None,
                                **method_options).point
            else:
                res = estimate(sample, method=method, by=None, seed=seed, write_tfp=False, **method_options)
            row = res.estimates.iloc[0]
            entry = {c: row[f"beta_{c}"] for c in res.terms}
            if res.standard_errors is not None:
                se = res.standard_errors.iloc[0]
                entry.update({f"t_{c}": row[f"beta_{c}"] / se[c] for c in res.terms})
                if "constant" in row and "constant" in se:
                    entry.update(constant=row["constant"], t_constant=row["constant"] / se["constant"])
            entry["observations"] = row.get("n_second_stage", row["n_obs"])
            for key in ("r2", "r2_adj"):
                if key in row:
                    entry[key] = row[key]
            columns[(method.upper(), name)] = entry
    return pd.DataFrame(columns)


def tfp_table(panel: pd.DataFrame, zone: str = "sez", column: str = "ln_tfp") -> pd.DataFrame:
    """Log TFP by zone: skewness, mean, sd, quantiles, extremes (SEZ paper, Table 15)."""
    rows = {}
    for value, label in ((False, "Non-SEZ"), (True, "SEZ")):
        v = panel.loc[panel[zone].astype(bool) == value, column].to_numpy(dtype=float)
        rows[label] = _describe(v)
    return pd.DataFrame(rows).T[["skewness", "mean", "sd", "p25", "p50", "p75", "min", "max", "observations"]]
