"""Two-way fixed-effects difference-in-differences (pyfixest's ``feols``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sez.did._pyfixest import _feols, _n_clusters, _note_collinear, formula_roles
from sez.did.prepare import _check_variation, _handle_reversals, _prepare, arguments
from sez.did.results import DidResults
from sez.errors import DidDataError
from sez.results import Vcov

#: The small-sample conventions of pyfixest's (and fixest's, reghdfe's) standard errors, by kind of vcov
TWFE_SE_CONVENTIONS = {
    "iid": "conventional: s^2 (X'WX)^-1 of the within-transformed regressors, s^2 = RSS/(N-K), K = slopes + "
           "fixed-effect levels less one per set beyond the first (the dummy-variable regression's, as areg and "
           "reghdfe); t(N-K)",
    "hetero": "heteroskedasticity-robust HC1, sandwich times N/(N-K), K as for 'iid' (Stata's robust); t(N-K)",
    "CRV1": "clustered CRV1, sandwich times G/(G-1)*(N-1)/(N-K), K = slopes + levels of fixed effects not nested "
            "in the cluster (reghdfe/fixest); t(G-1)",
    "CRV1 two-way": "two-way clustered (Cameron, Gelbach and Miller 2011), V_a + V_b - V_ab, each term times "
                    "G/(G-1)*(N-1)/(N-K) with G the fewer clusters of the two (fixest's and reghdfe's default); "
                    "t(G-1); not corrected when not positive semi-definite (pyfixest)",
}


def twfe_conventions(vcov: Vcov, weights: str | None = None) -> str:
    """The conventions of a TWFE result with this ``vcov``, in words."""
    kind = "CRV1 two-way" if len(vcov.cluster) > 1 else vcov.kind
    weighted = (f"; weighted least squares with analytic weights {weights!r} (pyfixest's 'aweights': N counts "
                "rows, not the sum of weights)" if weights else "")
    return ("Conventions: singleton fixed-effect groups dropped before estimation" + weighted
            + "; standard errors " + TWFE_SE_CONVENTIONS[kind] + ".")


def twfe(data: pd.DataFrame, outcome: str, treatment: str = "sez", fe: Sequence[str] = ("firm_id", "year"),
         controls: Sequence[str] = (), vcov: str | dict | None = None, unit: str = "firm_id", time: str = "year",
         on_reversal: str = "keep", weights: str | None = None, lean: bool = True, **old) -> DidResults:
    """Two-way fixed-effects staggered difference-in-differences (the paper's eq. 10).

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table (``sez.panel`` schema).
    outcome : str
        Dependent variable, e.g. ``"ln_tfp"``, or a formula in fixest's syntax,
        ``"ln_tfp ~ sez + ln_k | firm_id + city^year"``: the first regressor is the
        treatment, the others are controls, the part after ``|`` the fixed effects
        (none without it); it replaces ``treatment``, ``controls`` and ``fe``.
    treatment : str
        0/1 or boolean column, one in the years a firm is in a zone.
    fe : sequence of str
        Absorbed fixed effects: column names, ``"a^b"`` for interactions, e.g.
        ``("firm_id", "city^year")`` for firm and region-by-year effects (the
        paper's preferred specification) or ``("firm_id", "year")``.
    controls : sequence of str
        Time-varying firm covariates ``X_it``.
    vcov : str or dict, optional
        Standard errors in pyfixest's spelling: ``{"CRV1": "firm_id"}`` (clustered), ``{"CRV1": "a+b"}``
        (two-way), ``"hetero"`` or ``"iid"`` (conventional, the textbook fixed-effects regression's);
        None (default) clusters by ``unit``, as fixest clusters by the first fixed effect. The
        small-sample conventions are stated in the result's ``conventions`` (``TWFE_SE_CONVENTIONS``).
    unit, time : str
        Unit (firm) and time (year) columns.
    on_reversal : {"keep", "drop", "error"}
        What to do with firms whose treatment switches off (see module notes).
    weights : str, optional
        A column of positive analytic weights (weighted least squares; pyfixest's ``"aweights"``).
    lean : bool
        True (default) keeps in ``result.fit`` only what pyfixest's tables need; False keeps pyfixest's
        data and design too, which its wild bootstrap (``result.fit.wildboottest``) needs (several
        copies of the estimation sample in memory).

    Returns
    -------
    DidResults

    Notes
    -----
    Under staggered entry with effects that vary by cohort or time since entry
    the coefficient is a weighted average of effects with possibly negative
    weights (Goodman-Bacon, 2021; de Chaisemartin and D'Haultfoeuille, 2020);
    compare it with :func:`imputation`.
    """
    func = "twfe"
    outcome, treatment, fe, controls = formula_roles(outcome, treatment, fe, controls, func)
    fe, controls, vcov = arguments(func, fe, controls, vcov, unit, old)
    sample, counts = _prepare(data, outcome, treatment, fe, controls, vcov, unit, time, func, weights=weights)
    sample, _ = _handle_reversals(sample, treatment, unit, time, on_reversal, func, counts, allow_keep=True)
    _check_variation(sample, treatment, func)
    # the treatment enters under its own name, so that pyfixest's tables of result.fit show it
    sample[treatment] = sample[treatment].to_numpy(dtype=float)
    fit = _feols(sample, outcome, [treatment, *controls], fe, vcov, weights, lean)
    counts["singleton observations"] = int(len(sample) - fit._N)
    if not np.isfinite(fit.coef().get(treatment, np.nan)):
        raise DidDataError(f"{func}: the treatment {treatment!r} is collinear with the fixed effects "
                           f"({', '.join(fe)}){' and the controls' if controls else ''} in the estimation sample "
                           "(e.g. no firm changes status, or every firm enters in the same year): nothing "
                           "identifies its effect; drop the fixed effect or control that absorbs it")
    return twfe_results(fit, sample, outcome, treatment, {treatment: treatment, **{c: c for c in controls}}, fe,
                        vcov, counts, weights)


def twfe_results(fit, data: pd.DataFrame, outcome: str, treatment: str, terms: dict, fe: Sequence[str], vcov: Vcov,
                 counts: dict, weights: str | None = None) -> DidResults:
    """A pyfixest fit as DidResults, with pyfixest's degrees of freedom for its t statistics.

    ``terms`` maps the fit's regressors to the names the results show, in order; a regressor the fit
    dropped as collinear has NaN and is named in ``counts``.
    """
    _note_collinear(fit, counts, terms)
    names, index = list(terms), list(terms.values())
    params = pd.Series(fit.coef().reindex(names).to_numpy(), index=index)
    bse = pd.Series(fit.se().reindex(names).to_numpy(), index=index)
    return DidResults("TWFE", outcome, treatment, params, bse, int(fit._N), _n_clusters(fit, data, vcov),
                      tuple(fe), vcov.spec, counts, twfe_conventions(vcov, weights), float(fit._df_t), fit,
                      float(fit._r2), float(fit._r2_within), weights)
