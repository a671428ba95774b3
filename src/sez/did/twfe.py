"""Two-way fixed-effects difference-in-differences (pyfixest's ``feols``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sez.did._pyfixest import _feols, _n_clusters, _note_collinear
from sez.did.prepare import _check_variation, _handle_reversals, _prepare, arguments
from sez.did.results import DidResults
from sez.errors import DidDataError
from sez.results import Vcov

_CONVENTIONS_TWFE = ("Conventions: singleton fixed-effect groups dropped before estimation; CRV1 clustered "
                     "standard errors with G/(G-1)*(N-1)/(N-K), K = slopes + levels of fixed effects not nested "
                     "in the cluster (reghdfe/fixest convention), p-values and intervals from t(G-1); "
                     "'hetero' and 'iid' as pyfixest (t with N-K degrees of freedom).")


def twfe(data: pd.DataFrame, outcome: str, treatment: str = "sez", fe: Sequence[str] = ("firm_id", "year"),
         controls: Sequence[str] = (), vcov: str | dict | None = None, unit: str = "firm_id", time: str = "year",
         on_reversal: str = "keep", **old) -> DidResults:
    """Two-way fixed-effects staggered difference-in-differences (the paper's eq. 10).

    Parameters
    ----------
    data : pandas.DataFrame
        Firm-year table (``sez.panel`` schema).
    outcome : str
        Dependent variable, e.g. ``"ln_tfp"``.
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
        (two-way), ``"hetero"`` or ``"iid"``; None (default) clusters by ``unit``.
    unit, time : str
        Unit (firm) and time (year) columns.
    on_reversal : {"keep", "drop", "error"}
        What to do with firms whose treatment switches off (see module notes).

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
    fe, controls, vcov = arguments(func, fe, controls, vcov, unit, old)
    sample, counts = _prepare(data, outcome, treatment, fe, controls, vcov, unit, time, func)
    sample, _ = _handle_reversals(sample, treatment, unit, time, on_reversal, func, counts, allow_keep=True)
    _check_variation(sample, treatment, func)
    treat_col = "_treated"
    sample[treat_col] = sample[treatment].to_numpy(dtype=float)
    fit = _feols(sample, outcome, [treat_col, *controls], fe, vcov)
    counts["singleton observations"] = int(len(sample) - fit._N)
    if not np.isfinite(fit.coef().get(treat_col, np.nan)):
        raise DidDataError(f"{func}: the treatment {treatment!r} is collinear with the fixed effects "
                           f"({', '.join(fe)}){' and the controls' if controls else ''} in the estimation sample "
                           "(e.g. no firm changes status, or every firm enters in the same year): nothing "
                           "identifies its effect; drop the fixed effect or control that absorbs it")
    return twfe_results(fit, sample, outcome, treatment, {treat_col: treatment, **{c: c for c in controls}}, fe,
                        vcov, counts)


def twfe_results(fit, data: pd.DataFrame, outcome: str, treatment: str, terms: dict, fe: Sequence[str], vcov: Vcov,
                 counts: dict) -> DidResults:
    """A pyfixest fit as DidResults, with pyfixest's degrees of freedom for its t statistics.

    ``terms`` maps the fit's regressors to the names the results show, in order; a regressor the fit
    dropped as collinear has NaN and is named in ``counts``.
    """
    _note_collinear(fit, counts, terms)
    names, index = list(terms), list(terms.values())
    params = pd.Series(fit.coef().reindex(names).to_numpy(), index=index)
    bse = pd.Series(fit.se().reindex(names).to_numpy(), index=index)
    return DidResults("TWFE", outcome, treatment, params, bse, int(fit._N), _n_clusters(fit, data, vcov),
                      tuple(fe), vcov.spec, counts, _CONVENTIONS_TWFE, float(fit._df_t))
