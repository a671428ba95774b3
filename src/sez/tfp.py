"""Firm productivity: production-function estimation and firm-year log TFP.

Methods (Cobb-Douglas, value-added ``output="va"`` or gross-output ``"gross"``):

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
* ``"wrdg"`` Wooldridge (2009): one-step GMM of the two equations jointly, with an AR(1)
  productivity process (the persistence concentrated out by a scalar search).

Lags are taken within a firm between consecutive years only; an observation after a gap
has no lag. Log TFP written back is ``ln_tfp = y - sum_j beta_j x_j`` (no constant).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

METHODS = ("ols", "fe", "op", "lp", "acf", "wrdg")
OUTPUT_COLUMNS = {"va": "value_added", "gross": "output"}
DEFAULT_PROXY = {"op": "investment", "lp": "intermediate_input", "acf": "intermediate_input",
                 "wrdg": "intermediate_input"}


class TFPInputError(ValueError):
    """The panel cannot be used for estimation; the message names the column or industry."""


# ----------------------------------------------------------------------------- data
@dataclass
class _Block:
    """Logged, sorted arrays of one estimation group."""
    y: np.ndarray
    free: np.ndarray        # (n, f) freely chosen inputs (labour; materials in OP gross output)
    state: np.ndarray       # (n,) capital
    proxy: np.ndarray | None
    materials: np.ndarray | None   # gross-output materials when not already in ``free``
    firm: np.ndarray
    prev: np.ndarray        # row of the same firm's previous year, -1 where none
    survive: np.ndarray | None     # 1 - exit, for the OP survival probit
    rows: np.ndarray        # positions in the caller's panel


def _spec(method, output, state, free, proxy, materials):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if output not in OUTPUT_COLUMNS and not isinstance(output, str):
        raise ValueError(f"output must be 'va', 'gross' or a column name, got {output!r}")
    gross = output == "gross"
    y_col = OUTPUT_COLUMNS.get(output, output)
    free = [free] if isinstance(free, str) else list(free)
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
    names = inputs_free + ([state] if state else []) + ([mat_col] if mat_col else [])
    return y_col, inputs_free, state, proxy, mat_col, names


def _log_column(df: pd.DataFrame, col: str, logged: bool, nonpositive: str) -> tuple[np.ndarray, np.ndarray]:
    """Log of a column and a mask of usable rows; raise naming the column otherwise."""
    if col not in df.columns:
        raise TFPInputError(f"column {col!r} is missing from the panel (needed as an input, output or proxy)")
    x = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(x) if logged else ~(np.isfinite(x) & (x > 0))
    if bad.any() and nonpositive == "raise":
        where = np.flatnonzero(bad)[:5]
        example = df.iloc[where][["firm_id", "year"]].to_dict("records") if {"firm_id", "year"} <= set(df) else []
        kind = "missing or non-finite" if logged else "missing or non-positive (cannot take logs)"
        raise TFPInputError(f"column {col!r} is {kind} in {int(bad.sum())} row(s), e.g. {example}; "
                            f"pass nonpositive='drop' to leave those rows out (they are counted)")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x if logged else np.log(np.where(bad, 1.0, x))
    return out, ~bad


def _lag_index(firm: np.ndarray, year: np.ndarray) -> np.ndarray:
    """Row of the same firm's previous consecutive year in a (firm, year)-sorted block, else -1."""
    prev = np.full(len(firm), -1, dtype=np.int64)
    if len(firm) > 1:
        ok = (firm[1:] == firm[:-1]) & (year[1:] == year[:-1] + 1)
        prev[1:][ok] = np.flatnonzero(ok)
    return prev


def _blocks(panel, by, y_col, free_cols, state, proxy, mat_col, logged, nonpositive, need_exit):
    for col in ("firm_id", "year"):
        if col not in panel.columns:
            raise TFPInputError(f"column {col!r} is missing from the panel")
    cols = [y_col, *free_cols] + [c for c in (state, proxy, mat_col) if c]
    logs, usable = {}, np.ones(len(panel), dtype=bool)
    for col in dict.fromkeys(cols):
        logs[col], ok = _log_column(panel, col, logged, nonpositive)
        usable &= ok
    dropped = {col: int((~_log_column(panel, col, logged, "drop")[1]).sum()) for col in dict.fromkeys(cols)}
    survive = None
    if need_exit:
        if "exit" not in panel.columns:
            raise TFPInputError("column 'exit' is missing: exit_correction=True needs it for the survival probit")
        survive = 1.0 - panel["exit"].to_numpy(dtype=float)
    if by is not None and by not in panel.columns:
        raise TFPInputError(f"column {by!r} (by=) is missing from the panel")
    groups = panel[by].to_numpy() if by is not None else np.zeros(len(panel), dtype=np.int8)
    firm, year = panel["firm_id"].to_numpy(), panel["year"].to_numpy()
    rows = np.flatnonzero(usable)
    order = rows[np.lexsort((year[rows], firm[rows], groups[rows]))]
    g_sorted = groups[order]
    cuts = np.flatnonzero(g_sorted[1:] != g_sorted[:-1]) + 1
    out = {}
    for piece in np.split(order, cuts):
        if len(piece) == 0:
            continue
        label = groups[piece[0]] if by is not None else "all"
        out[label] = _Block(
            y=logs[y_col][piece], free=np.column_stack([logs[c][piece] for c in free_cols]),
            state=logs[state][piece], proxy=logs[proxy][piece] if proxy else None,
            materials=logs[mat_col][piece] if mat_col else None, firm=firm[piece],
            prev=_lag_index(firm[piece], year[piece]),
            survive=survive[piece] if survive is not None else None, rows=piece)
    return out, dropped


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


# ----------------------------------------------------------------------------- estimators
def _second_inputs(block: _Block, method: str) -> np.ndarray:
    """Inputs whose coefficients the second stage estimates."""
    if method == "acf":
        parts = [block.free, block.state[:, None]]
    else:
        parts = [block.state[:, None]]
    if block.materials is not None:
        parts.append(block.materials[:, None])
    return np.column_stack(parts)


def _fit_proxy(block: _Block, method: str, degree: int, markov_degree: int, exit_correction: bool,
               starts: int, rng: np.random.Generator, min_obs: int, label, overidentify: bool = False,
               start=None) -> dict:
    """OP, LP and ACF: first-stage control function, second stage by NLS or GMM."""
    n_free = block.free.shape[1]
    if method == "acf":
        controls = [block.free, block.state, block.proxy]
        if block.materials is not None and not np.array_equal(block.materials, block.proxy):
            controls.append(block.materials)           # the proxy is usually the materials themselves
        controls = np.column_stack(controls)
        P1 = polynomial(controls, degree)
        phi = _project(P1, block.y)
        beta_free = np.zeros(0)
        target = phi                                   # omega + X theta, noise removed
    else:
        P1 = polynomial(np.column_stack([block.state, block.proxy]), degree)
        coef = _lstsq(np.column_stack([block.free, P1]), block.y)
        beta_free = coef[:n_free]
        phi = P1 @ coef[n_free:]                       # beta_k k (+ beta_m m) + omega
        target = block.y - block.free @ beta_free      # omega + X theta + e
    X2 = _second_inputs(block, method)
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
        Z = np.column_stack([block.state[now], block.free[lag]]
                            + ([block.materials[lag]] if block.materials is not None else [])
                            + ([block.state[lag], phi[lag]] if overidentify else []))
    else:
        Z = np.column_stack([block.state[now]] + ([block.materials[lag]] if block.materials is not None else []))
    W = np.linalg.inv(Z.T @ Z / len(now))

    def residual(theta):
        omega_lag = phil - Xl @ theta
        g_basis = polynomial(omega_lag if extra is None else np.column_stack([omega_lag, extra]), markov_degree)
        lhs = tn - Xn @ theta
        return lhs - _project(g_basis, lhs)

    if method == "op":
        def objective(theta):
            r = residual(theta)
            return float(r @ r / len(r))
    else:
        def objective(theta):
            m = Z.T @ residual(theta) / len(now)
            return float(m @ W @ m)

    ols = _lstsq(np.column_stack([np.ones(len(block.y)), block.free, X2[:, n_free:] if method == "acf" else X2]),
                 block.y)[1:]
    base = np.concatenate([ols[:n_free], ols[n_free:]]) if method == "acf" else ols[n_free:]
    base = base if start is None else np.asarray(start, dtype=float)
    # the least-squares start, a shrunken copy (the spurious ACF root sits near the OLS
    # labour coefficient pushed to one) and random perturbations
    candidates = [base, 0.6 * base] + [base + rng.normal(0, 0.15, len(base)) for _ in range(max(0, starts - 2))]
    from scipy.optimize import minimize
    trials = []
    for x0 in candidates:
        res = minimize(objective, x0, method="Nelder-Mead",
                       options={"xatol": 1e-7, "fatol": 1e-14, "maxiter": 4000 * len(x0)})
        trials.append({"start": np.asarray(x0), "estimate": res.x, "objective": float(res.fun),
                       "converged": bool(res.success), "iterations": int(res.nit)})
    for t in trials:
        omega_now, omega_lag = phi[now] - Xn @ t["estimate"], phil - Xl @ t["estimate"]
        t["persistence"] = float(np.polyfit(omega_lag, omega_now, 1)[0]) if np.ptp(omega_lag) > 0 else 0.0
    lowest = min(t["objective"] for t in trials)
    # Exactly identified GMM can have several roots with objective ~0. ACF's moments
    # also hold at a spurious root where implied productivity is nearly white noise
    # (labour takes all the output); the control-function approach presumes
    # persistent productivity, so among the roots keep the most persistent one.
    at_min = [t for t in trials if t["objective"] <= lowest + 1e-10 + 1e-6 * abs(lowest)]
    at_min = sorted(at_min, key=lambda t: (not t["converged"], -t["persistence"]))
    best = at_min[0]
    good = [t["estimate"] for t in at_min]
    all_conv = np.array([t["estimate"] for t in trials if t["converged"]])
    theta = best["estimate"]
    beta = np.concatenate([beta_free, theta])
    return {"beta": beta, "n_second_stage": len(now), "objective": best["objective"],
            "converged": best["converged"], "starts": trials,
            "start_spread": float(np.ptp(all_conv, axis=0).max()) if len(all_conv) > 1 else 0.0,
            "starts_at_optimum": len(good)}


def _survival_probability(block: _Block, degree: int) -> np.ndarray:
    """Probit of staying in the panel next year on a polynomial in (k, i) (Olley and Pakes, 1996)."""
    import statsmodels.api as sm

    X = polynomial(np.column_stack([block.state, block.proxy]), min(degree, 2))
    s = block.survive
    if s.min() == s.max():
        return np.full(len(s), float(s[0]))
    fit = sm.Probit(s, X).fit(disp=0, maxiter=200)
    return fit.predict(X)


def _fit_linear(block: _Block, method: str) -> dict:
    import statsmodels.api as sm

    X = np.column_stack([block.free, block.state] + ([block.materials] if block.materials is not None else []))
    y = block.y
    if method == "ols":
        fit = sm.OLS(y, sm.add_constant(X, has_constant="add")).fit()
        return {"beta": fit.params[1:], "se": fit.bse[1:], "constant": float(fit.params[0]),
                "r2": float(fit.rsquared), "n_second_stage": len(y), "converged": True}
    codes, index = np.unique(block.firm, return_inverse=True)
    counts = np.bincount(index)
    demean = lambda v: v - (np.bincount(index, v) / counts)[index]
    Xd = np.column_stack([demean(X[:, j]) for j in range(X.shape[1])])
    fit = sm.OLS(demean(y), Xd).fit()
    # the within regression's residual degrees of freedom ignore the absorbed firm means
    df_true = len(y) - X.shape[1] - len(codes)
    se = fit.bse * np.sqrt(fit.df_resid / df_true) if df_true > 0 else np.full(X.shape[1], np.nan)
    return {"beta": fit.params, "se": se, "r2_within": float(fit.rsquared), "n_second_stage": len(y),
            "converged": True}


def _fit_wooldridge(block: _Block, degree: int, min_obs: int, label) -> dict:
    """Wooldridge (2009) one-step GMM with omega_t = rho0 + rho omega_{t-1} + xi.

    For given rho the two equations are linear in (b, polynomial coefficients); they
    are estimated by stacked two-step GMM and rho by a bounded scalar search on the
    concentrated J statistic.
    """
    from scipy.optimize import minimize_scalar

    now = np.flatnonzero(block.prev >= 0)
    if len(now) < min_obs:
        raise TFPInputError(f"industry {label!r}: only {len(now)} observation(s) with a lag (need {min_obs})")
    lag = block.prev[now]
    X = np.column_stack([block.free, block.state] + ([block.materials] if block.materials is not None else []))
    C = polynomial(np.column_stack([block.state, block.proxy]), degree)[:, 1:]   # c(k, m) without constant
    n, p, q = len(now), X.shape[1], C.shape[1]
    one = np.ones(n)
    y1, y2 = block.y[now], block.y[now]
    Z1 = np.column_stack([one, block.free[now], C[now]])
    Z2 = np.column_stack([one, block.state[now], block.free[lag], C[lag]]
                         + ([block.materials[lag]] if block.materials is not None else []))

    def fit(rho):
        # parameters: a1, a2, b (p), gamma (q); equation 2 uses rho * c(k_{t-1}, m_{t-1}) gamma
        zeros_n = np.zeros((n, 1))
        R1 = np.column_stack([one, zeros_n, X[now], C[now]])
        R2 = np.column_stack([zeros_n, one, X[now], rho * C[lag]])
        # omega_{t-1} = c_{t-1} gamma, so rho * omega_{t-1} enters eq. 2 linearly given rho
        R = np.vstack([R1, R2])
        Y = np.concatenate([y1, y2])
        Z = np.zeros((2 * n, Z1.shape[1] + Z2.shape[1]))
        Z[:n, :Z1.shape[1]] = Z1
        Z[n:, Z1.shape[1]:] = Z2
        W = np.linalg.pinv(Z.T @ Z)
        for _ in range(2):
            A = R.T @ Z @ W
            theta = np.linalg.solve(A @ Z.T @ R, A @ Z.T @ Y)
            u = Y - R @ theta
            # clustered by firm-year pair: moment contributions of both equations summed per row
            g = Z * u[:, None]
            g = g[:n] + g[n:]
            W = np.linalg.pinv(g.T @ g / n)
        m = Z.T @ (Y - R @ theta) / n
        return float(m @ W @ m * n), theta

    res = minimize_scalar(lambda r: fit(r)[0], bounds=(-0.5, 1.5), method="bounded",
                          options={"xatol": 1e-6})
    J, theta = fit(res.x)
    return {"beta": theta[2:2 + p], "rho": float(res.x), "objective": J, "n_second_stage": n,
            "converged": bool(res.success)}


# ----------------------------------------------------------------------------- results
@dataclass
class TFPResults:
    """Production-function estimates by group, diagnostics and firm-year log TFP.

    Attributes
    ----------
    method, output : str
    inputs : list of str
        Input columns, in the order of the coefficients.
    estimates : DataFrame
        One row per group: ``beta_<input>``, ``returns_to_scale``, ``n_obs``,
        ``n_firms``, ``n_second_stage``, ``converged``, ``objective``, ``start_spread``.
    diagnostics : dict
        Per group: starting values and results of every start, dropped rows, extras.
    panel : DataFrame
        Copy of the input panel with ``ln_tfp`` (NaN where not computed or trimmed).
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

    def to_frame(self) -> pd.DataFrame:
        out = self.estimates.copy()
        if self.standard_errors is not None:
            out = out.join(self.standard_errors.add_prefix("se_"))
        return out

    def summary(self) -> str:
        lines = [f"Production function: method={self.method}, output={self.output}, "
                 f"inputs={', '.join(self.inputs)}",
                 f"rows dropped before logs: {self.dropped or 'none'}; ln_tfp trimmed: {self.trimmed}"]
        cols = [f"beta_{c}" for c in self.inputs] + ["returns_to_scale", "n_obs", "n_firms", "converged"]
        frame = self.to_frame()
        cols += [c for c in frame.columns if c.startswith("se_")]
        lines.append(frame[[c for c in cols if c in frame]].to_string(float_format=lambda v: f"{v:.4f}"))
        return "\n".join(lines)

    def __repr__(self):
        return self.summary()


def _estimate_block(label, block, method, degree, markov_degree, exit_correction, starts, seed, min_obs,
                    overidentify=False, start=None):
    if len(block.y) < min_obs:
        raise TFPInputError(f"industry {label!r}: only {len(block.y)} observation(s), need at least {min_obs}; "
                            f"pool it with others or pass small='skip'")
    rng = np.random.default_rng(seed)
    if method in ("ols", "fe"):
        fit = _fit_linear(block, method)
    elif method == "wrdg":
        fit = _fit_wooldridge(block, degree, min_obs, label)
    else:
        fit = _fit_proxy(block, method, degree, markov_degree, exit_correction, starts, rng, min_obs, label,
                         overidentify, start)
    fit["n_obs"] = len(block.y)
    fit["n_firms"] = len(np.unique(block.firm))
    return fit


def _block_task(item, seed_sequence, **options):
    label, block = item
    return _estimate_block(label, block, seed=seed_sequence, **options)


def estimate(panel: pd.DataFrame, method: str = "op", output: str = "va", by: str | None = "cic2",
             state: str = "capital", free: str | Sequence[str] = "employees", proxy: str | None = None,
             materials: str = "intermediate_input", degree: int = 3, markov_degree: int | None = None,
             exit_correction: bool = False, starts: int = 3, min_obs: int = 50, small: str = "raise",
             nonpositive: str = "raise", logged: bool = False, trim: float | None = None,
             zone: str = "sez", seed: int = 0, executor=None, write_tfp: bool = True,
             overidentify: bool = False, start: Sequence[float] | None = None) -> TFPResults:
    """Estimate a Cobb-Douglas production function by industry (or pooled) and firm log TFP.

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
    state, free : str
        Capital, and the freely chosen input(s) (one column or several).
    proxy : str, optional
        Control for productivity: ``investment`` (OP) or ``intermediate_input`` (LP, ACF, WRDG).
    materials : str
        Materials column for gross output.
    degree : int
        Total degree of the first-stage polynomial control function.
    markov_degree : int, optional
        Degree of the polynomial ``g`` in ``omega_t = g(omega_{t-1}) + xi``: 3 for OP/LP,
        1 (AR(1)) for ACF by default.
    exit_correction : bool
        OP only: add the survival probability from a probit on (k, i) to ``g``.
    starts : int
        Starting values of the second-stage optimiser: least squares plus ``starts - 1``
        seeded perturbations (sd 0.15); all are reported in ``diagnostics``.
    min_obs : int
        Fewest observations (and lagged observations) a group may have.
    small : {"raise", "skip"}
        What to do with a group below ``min_obs``: raise naming it, or skip it (recorded).
    nonpositive : {"raise", "drop"}
        Rows with missing or non-positive values of a used column: raise naming the column,
        or leave them out (counted in ``dropped``).
    logged : bool
        The columns already hold logs.
    trim : float, optional
        Set ``ln_tfp`` to NaN in the top and bottom ``trim`` share within each zone
        (column ``zone``), e.g. 0.005 as in the SEZ paper.
    overidentify : bool
        ACF only: add ``k_{t-1}`` and ``phi_{t-1}`` to the instruments (over-identified GMM).
    start : sequence of float, optional
        First starting value of the second stage (its coefficients in the order of
        ``inputs`` after any first-stage ones); default the least-squares estimate.
        Exactly identified ACF moments can have a second, spurious root near
        ``b_l = 1, b_k = 0`` (implied productivity nearly serially uncorrelated);
        among the roots the starts reach, the one with the most persistent implied
        productivity is kept (``diagnostics[group]["starts"]`` lists them all, with
        their ``persistence``).
    seed : int
        Root of the seeded streams (starting-value perturbations), child ``g`` per group.
    executor : concurrent.futures.Executor, optional
        Estimate groups in parallel through ``sez.parallel.map_items``; None runs serially.

    Returns
    -------
    TFPResults
    """
    from sez.parallel import SerialExecutor, map_items

    if small not in ("raise", "skip") or nonpositive not in ("raise", "drop"):
        raise ValueError("small must be 'raise' or 'skip' and nonpositive 'raise' or 'drop'")
    y_col, free_cols, state, proxy, mat_col, names = _spec(method, output, state, free, proxy, materials)
    if exit_correction and method != "op":
        raise ValueError(f"exit_correction is implemented for method='op' only, not {method!r}")
    if markov_degree is None:
        markov_degree = 1 if method == "acf" else 3
    need_exit = exit_correction and method == "op"
    blocks, dropped = _blocks(panel, by, y_col, free_cols, state, proxy, mat_col, logged, nonpositive, need_exit)
    dropped = {k: v for k, v in dropped.items() if v}
    options = dict(method=method, degree=degree, markov_degree=markov_degree, exit_correction=exit_correction,
                   starts=starts, min_obs=min_obs, overidentify=overidentify,
                   start=start)
    items = list(blocks.items())
    fits, skipped = {}, {}
    task = functools.partial(_block_task, **options)
    for i, fit, err in map_items(task, items, executor=executor or SerialExecutor(), seed=seed):
        label = items[i][0]
        if err is not None:
            if small == "skip" and isinstance(err, TFPInputError):
                skipped[label] = str(err)
                continue
            raise err
        fits[label] = fit
    rows = []
    for label, _ in items:
        if label not in fits:
            continue
        fit = fits[label]
        row = {"group": label, **{f"beta_{c}": float(b) for c, b in zip(names, fit["beta"])}}
        row["returns_to_scale"] = float(np.sum(fit["beta"]))
        for key in ("n_obs", "n_firms", "n_second_stage", "converged", "objective", "start_spread", "rho"):
            if key in fit:
                row[key] = fit[key]
        rows.append(row)
    estimates = pd.DataFrame(rows).set_index("group") if rows else pd.DataFrame()
    se = None
    if method in ("ols", "fe") and rows:
        se = pd.DataFrame({label: dict(zip(names, fits[label]["se"])) for label in fits}).T
        se.index.name = "group"
    diagnostics = {label: {k: v for k, v in fit.items() if k not in ("beta", "se")} for label, fit in fits.items()}
    for label, why in skipped.items():
        diagnostics[label] = {"skipped": why}
    result = TFPResults(method=method, output=output, inputs=names, estimates=estimates, diagnostics=diagnostics,
                        panel=None, dropped=dropped, standard_errors=se)
    if write_tfp:
        out = panel.copy()
        ln_tfp = np.full(len(panel), np.nan)
        for label, block in blocks.items():
            if label not in fits:
                continue
            X = np.column_stack([block.free, block.state] + ([block.materials] if block.materials is not None else []))
            ln_tfp[block.rows] = block.y - X @ fits[label]["beta"]
        if trim:
            ln_tfp, result.trimmed = _trim(ln_tfp, out, zone, trim)
        out["ln_tfp"] = ln_tfp
        result.panel = out
    return result


def _trim(ln_tfp: np.ndarray, panel: pd.DataFrame, zone: str, share: float) -> tuple[np.ndarray, int]:
    """Blank the top and bottom ``share`` of log TFP within each zone (SEZ paper, appendix A1.2)."""
    if zone not in panel.columns:
        raise TFPInputError(f"column {zone!r} is missing: trimming works within each zone")
    ln_tfp = ln_tfp.copy()
    zones = panel[zone].to_numpy()
    trimmed = 0
    for z in pd.unique(zones):
        at = np.flatnonzero((zones == z) & np.isfinite(ln_tfp))
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
    failed : dict
        Replication -> error message.
    """
    point: TFPResults
    draws: pd.DataFrame
    standard_errors: pd.DataFrame
    failed: dict

    def to_frame(self) -> pd.DataFrame:
        return self.point.estimates.join(self.standard_errors.add_prefix("se_"))

    def summary(self) -> str:
        return (f"{self.point.method} bootstrap: {self.draws['rep'].nunique()} replications, "
                f"{len(self.failed)} failed\n" + self.to_frame().to_string(float_format=lambda v: f"{v:.4f}"))


def bootstrap(panel: pd.DataFrame, method: str = "acf", reps: int = 100, executor=None, seed: int = 0,
              progress: bool | str = False, **options) -> BootstrapResults:
    """Standard errors by resampling whole firms (keeps each firm's time series intact).

    Replication ``r`` draws firms with child ``r`` of ``SeedSequence(seed)`` through
    ``sez.parallel.map_items``, so results do not depend on the executor.
    ``options`` are passed to :func:`estimate`.
    """
    from sez.parallel import SerialExecutor, map_items

    options = {"method": method, **options}
    point = estimate(panel, seed=seed, **options)
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
    coef = [f"beta_{c}" for c in point.inputs] + ["returns_to_scale"]
    se = draws.groupby(level=0)[coef].std(ddof=1) if len(draws) else pd.DataFrame(columns=coef)
    point.standard_errors = se.rename(columns=lambda c: c.removeprefix("beta_"))
    return BootstrapResults(point=point, draws=draws, standard_errors=se, failed=failed)


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
    if "age" in panel.columns or "birth_year" in panel.columns:
        age = panel["age"] if "age" in panel.columns else panel["year"] - panel["birth_year"]
        rows["age"] = _describe(age.dropna().to_numpy(dtype=float))
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
                     zone: str = "sez", reps: int = 0, executor=None, seed: int = 0, **options) -> pd.DataFrame:
    """Pooled elasticities by method for all firms, SEZ and non-SEZ firms (SEZ paper, Tables 13-14).

    Columns are (method, sample); rows the coefficients, ``t_<input>`` t statistics
    (analytic for OLS/FE, firm bootstrap with ``reps`` replications otherwise) and
    ``observations``.
    """
    samples = {"Overall": panel, "SEZ": panel[panel[zone].astype(bool)], "nSEZ": panel[~panel[zone].astype(bool)]}
    columns = {}
    for method in methods:
        for name, sample in samples.items():
            if reps and method not in ("ols", "fe"):
                res = bootstrap(sample, method, reps=reps, executor=executor, seed=seed, by=None, **options).point
            else:
                res = estimate(sample, method=method, by=None, seed=seed, write_tfp=False, **options)
            row = res.estimates.iloc[0]
            entry = {c: row[f"beta_{c}"] for c in res.inputs}
            if res.standard_errors is not None:
                se = res.standard_errors.iloc[0]
                entry.update({f"t_{c}": row[f"beta_{c}"] / se[c] for c in res.inputs})
            entry["observations"] = row.get("n_second_stage", row["n_obs"])
            columns[(method.upper(), name)] = entry
    return pd.DataFrame(columns)


def tfp_table(panel: pd.DataFrame, zone: str = "sez", column: str = "ln_tfp") -> pd.DataFrame:
    """Log TFP by zone: skewness, mean, sd, quantiles, extremes (SEZ paper, Table 15)."""
    rows = {}
    for value, label in ((False, "Non-SEZ"), (True, "SEZ")):
        v = panel.loc[panel[zone].astype(bool) == value, column].to_numpy(dtype=float)
        rows[label] = _describe(v)
    return pd.DataFrame(rows).T[["skewness", "mean", "sd", "p25", "p50", "p75", "min", "max", "observations"]]
