"""The one module that touches pyfixest: its demeaners, its ``feols`` and the private attributes of its fits."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sez.did.prepare import _codes, _non_singleton_rows
from sez.errors import CollinearError, DidDataError
from sez.limits import COLLINEAR_SHARE
from sez.panel import as_columns
from sez.results import Vcov


def _fml(outcome: str, regressors: Sequence[str], fe: Sequence[str]) -> str:
    rhs = " + ".join(regressors) if regressors else "1"
    return f"{outcome} ~ {rhs}" + (f" | {' + '.join(fe)}" if fe else "")


def demeaner_for(fe: Sequence[str]):
    """The pyfixest demeaner for these fixed effects: LSMR with an additive Schwarz preconditioner for two or
    more sets, alternating projections for one.

    Measured at the papers' scale (2.3 million firm-years, 590,000 firms, 16
    years, 3% of firms moving county once; ``benchmarks/bench_fixed_effects.py``,
    ``docs/performance.md``): with firm, year and region effects, where firms
    are nested in regions but for the movers, alternating projections took
    15 s (340 cities) and 112 s (2,560 counties) against LSMR's 5.5 s and
    3.3 s; with firm and region-by-year effects 14 s and 100 s against 3.7 s
    and 4.7 s. At 20,000 firms alternating projections stopped at 10,000
    iterations on both city structures. No structure measured favoured them,
    so the rule is the number of sets.
    """
    import pyfixest as pf  # imported lazily: a heavy import

    return pf.LsmrDemeaner() if len(fe) >= 2 else pf.MapDemeaner()


def _feols(data: pd.DataFrame, outcome: str, regressors: Sequence[str], fe: Sequence[str], vcov: Vcov,
           weights: str | None = None, lean: bool = True):
    """Pyfixest's ``feols`` of ``outcome`` on ``regressors`` and the fixed effects ``fe``; weighted least
    squares with ``weights`` (a column: pyfixest's analytic weights). ``lean`` drops the data and design
    from the fit (pyfixest's wild bootstrap needs them: ``lean=False`` keeps them).

    A regressor that keeps less than ``sez.limits.COLLINEAR_SHARE`` of its variation once the fixed
    effects (and the regressors before it) are partialled out gets no coefficient, as the regressors
    pyfixest itself finds collinear: both are listed in the fit's ``_collin_vars``. pyfixest's own test
    is absolute (the demeaned column's sum of squares below ``collin_tol``), so an absorbed regressor
    whose iterative demeaning leaves rounding residuals (about 1e-8), or one measured in large units,
    passed it and was reported as estimated. Raises :class:`CollinearError` when no regressor is left.
    """
    # pyfixest gets the fixed effects as integer codes: it would otherwise join an interaction's columns as
    # strings (about 1.2 s at 2.3 million rows), and the codes serve the singleton check below
    weighted = [weights] if weights is not None else []
    frame = pd.DataFrame({c: data[c].to_numpy() for c in dict.fromkeys([outcome, *regressors, *vcov.cluster,
                                                                         *weighted])})
    # a single column keeps its name (the fit's tables show it); an interaction is coded under a private name
    fe_names = [term if "^" not in term else f"_fe{i}" for i, term in enumerate(fe)]
    for name, term in zip(fe_names, fe):
        frame[name] = _codes(data, term)[0]
    # pyfixest's compiled demeaning aborts the whole process on a sample its singleton removal empties
    complete = frame[[outcome, *regressors, *weighted]].notna().all(axis=1).to_numpy()
    used = complete.copy()
    if fe:
        used[complete] = _non_singleton_rows([frame[n].to_numpy()[complete] for n in fe_names])
        if used.sum() <= len(regressors):
            raise DidDataError(f"{outcome} on {', '.join(regressors) or 'a constant'}: {int(complete.sum())} "
                               f"complete row(s), too few left once singleton fixed effects ({', '.join(fe)}) "
                               "are dropped")
    fit = _fit(frame, outcome, regressors, fe_names, fe, vcov, weights, lean)
    if fe:
        absorbed = _absorbed(fit, frame, used)
        if absorbed:
            first = [str(v) for v in fit._collin_vars]
            if len(absorbed) == len(fit._coefnames):
                raise _all_collinear(outcome, regressors, fe)
            fit = _fit(frame, outcome, [r for r in regressors if r not in absorbed], fe_names, fe, vcov, weights,
                       lean)
            fit._collin_vars = list(dict.fromkeys([*first, *absorbed, *map(str, fit._collin_vars)]))
    if lean:
        # what lean leaves: the demeaned regressors and the fixed-effect codes (an event study's: about 400 MB
        # at the papers' scale), which nothing here reads
        for attribute in ("_X_untransformed", "_fe"):
            if hasattr(fit, attribute):
                delattr(fit, attribute)
    if fe_names != list(fe):
        # pyfixest's tables name the fixed effects from _fixef, its wild bootstrap reads them from _data
        fit._fixef = "+".join(fe)
        if getattr(fit, "_data", None) is not None and len(fit._data):
            for name, term in zip(fe_names, fe):
                fit._data[term] = fit._data[name]
    return fit


def _fit(frame: pd.DataFrame, outcome: str, regressors: Sequence[str], fe_names: Sequence[str],
         fe: Sequence[str], vcov: Vcov, weights: str | None = None, lean: bool = True):
    import pyfixest as pf  # imported lazily: a heavy import

    with warnings.catch_warnings():
        # the singleton count and the collinear regressors are reported in the results instead
        warnings.filterwarnings("ignore", message="(?s).*singleton fixed effect")
        warnings.filterwarnings("ignore", message="(?s).*dropped due to multicollinearity")
        try:
            # lean: the fit keeps its coefficients and covariance, not its N x k matrices (the twelve event
            # studies of Table 17 at the papers' scale held about 20 GB of them)
            return pf.feols(_fml(outcome, regressors, fe_names), data=frame, vcov=vcov.spec,
                            weights=weights, copy_data=False, store_data=not lean, lean=lean, fixef_rm="singleton",
                            demeaner=demeaner_for(fe))
        except ValueError as err:
            if "collinear" not in str(err):
                raise
            raise _all_collinear(outcome, regressors, fe) from err


def _all_collinear(outcome: str, regressors: Sequence[str], fe: Sequence[str]) -> CollinearError:
    return CollinearError(f"{outcome} on {', '.join(regressors) or 'the regressors'}: every regressor is "
                          f"collinear with the fixed effects ({', '.join(fe)}) in this sample (e.g. no firm "
                          "changes treatment status, or every firm enters in the same year, so that event "
                          "time is calendar time): drop those regressors or a fixed effect that absorbs them")


def _absorbed(fit, frame: pd.DataFrame, used: np.ndarray) -> list[str]:
    """The fit's regressors that keep less than ``COLLINEAR_SHARE`` of their variation (sum of squared
    deviations from the mean over the rows used) once the fixed effects and the regressors before them
    are partialled out.

    The partialled sums of squares are the pivots of a Cholesky factorisation of the demeaned cross
    product, which the fit keeps (``_hessian``, k x k), in the order of the regressors.
    """
    names = [str(n) for n in fit._coefnames]
    cross = np.asarray(fit._hessian, dtype=float)
    # column by column: a copy of every regressor at once is an event study's N x k again
    total = [float(np.var(frame[name].to_numpy(dtype=float)[used])) * int(used.sum()) for name in names]
    kept, absorbed = [], []
    for j, name in enumerate(names):
        left = cross[j, j]
        if kept:
            left -= cross[j, kept] @ np.linalg.solve(cross[np.ix_(kept, kept)], cross[kept, j])
        if left <= COLLINEAR_SHARE * total[j] or total[j] == 0:
            absorbed.append(name)
        else:
            kept.append(j)
    return absorbed


def _note_collinear(fit, counts: dict, labels: dict | None = None) -> None:
    """Count the regressors the fit dropped as collinear with the fixed effects (e.g. a time-invariant control).

    ``labels`` maps internal column names (underscored) to the names the results show; other underscored
    names are not the user's and are not listed.
    """
    labels = labels or {}
    dropped = [labels.get(v, v) for v in map(str, getattr(fit, "_collin_vars", None) or [])
               if v in labels or not v.startswith("_")]
    if dropped:
        counts[f"regressors collinear with the fixed effects (no coefficient): {', '.join(dropped)}"] = len(dropped)


def _n_clusters(fit, data: pd.DataFrame, vcov: Vcov) -> int | None:
    """The fit's number of clusters (the fewest of a multi-way clustering); None when not clustered."""
    if vcov.kind != "CRV1":
        return None
    g = getattr(fit, "_G", None)
    if g is not None and np.size(g):
        return int(np.min(g))
    return int(min(data[c].nunique() for c in vcov.cluster))


def split_formula(formula: str, func: str) -> tuple[str, list[str], list[str]]:
    """A formula in fixest's syntax, ``"y ~ x1 + x2 | fe1 + fe2^fe3"``, read by pyfixest's parser: the
    outcome, the regressors (in order; the intercept term is implied) and the fixed-effect terms.

    Every regressor must be a column name: a transformation (``log(x)``), an interaction (``x:z``) or a
    multiple estimation (``sw(...)``) is an error saying so, since the estimators take columns.
    """
    import formulaic
    from pyfixest.estimation.formula.parse import Formula  # imported lazily: a heavy import

    try:
        parsed = Formula.parse(formula)
    except Exception as err:  # pyfixest's own syntax errors, named for the caller
        raise ValueError(f"{func}: cannot read the formula {formula!r}: {err}") from err
    if len(parsed) != 1 or parsed[0].first_stage:
        raise ValueError(f"{func}: the formula {formula!r} asks for several estimations or instruments; "
                         "give one formula 'y ~ x1 + x2 | fe1 + fe2'")
    sides = formulaic.Formula(parsed[0].second_stage)
    lhs = [str(t) for t in sides.lhs]
    rhs = [str(t) for t in sides.rhs if str(t) != "1"]
    fe = [t.strip() for t in (parsed[0].fixed_effects or "").split("+") if t.strip() and t.strip() != "0"]
    terms = [*lhs, *rhs, *[c for t in fe for c in t.split("^")]]
    not_columns = [t for t in terms if not t.isidentifier()]
    if len(lhs) != 1 or not_columns:
        raise ValueError(f"{func}: the formula {formula!r} must name one outcome and columns only; "
                         f"{not_columns or lhs} are not column names: create those columns first")
    return lhs[0], rhs, fe


def formula_roles(outcome: str, treatment: str, fe, controls, func: str) -> tuple[str, str, object, object]:
    """``outcome`` as a fixest formula ``"y ~ d + x1 + x2 | fe1 + fe2^fe3"`` read as (outcome, treatment,
    fixed effects, controls): the first regressor is the treatment, the others are controls, and the
    formula's fixed effects (none without ``|``) replace ``fe``. A plain column name passes through.
    """
    if "~" not in outcome:
        return outcome, treatment, fe, controls
    defaults = (("treatment", treatment, "sez"), ("fe", fe, ("firm_id", "year")), ("controls", controls, ()))
    given = [name for name, value, default in defaults
             if as_columns(value, name, func) != as_columns(default, name, func)]
    if given:
        raise ValueError(f"{func}: the formula {outcome!r} names the treatment, controls and fixed effects; "
                         f"{', '.join(given)} given as well would be ignored: put them in the formula, or give "
                         "the outcome as a column")
    y, regressors, fe_terms = split_formula(outcome, func)
    if not regressors:
        raise ValueError(f"{func}: the formula {outcome!r} has no regressor; its first regressor is the treatment, "
                         "e.g. 'ln_tfp ~ sez + ln_k | firm_id + year'")
    return y, regressors[0], tuple(fe_terms), tuple(regressors[1:])
