"""Least squares: pooled OLS with a constant, and firm fixed effects as Stata's ``xtreg, fe``."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sez.tfp.prepare import _Block
from sez.tfp.terms import production_terms


def _fit_linear(block: _Block, method: str, names: Sequence[str], form: str) -> dict:
    """OLS, or firm fixed effects as Stata's ``xtreg, fe`` does: the within regression with the
    grand means added back, so the constant is the mean firm effect and the slopes, their
    standard errors (residual degrees of freedom ``n - firms - k``) are the LSDV ones.
    """
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
    r2 = float(fit.rsquared)  # within R-squared: the recentred total sum of squares is the within one
    return {"beta": fit.params[1:], "se": fit.bse[1:] * np.sqrt(scale), "cov": fit.cov_params()[1:, 1:] * scale,
            "constant": float(fit.params[0]), "se_constant": float(fit.bse[0] * np.sqrt(scale)),
            "r2_within": r2, "r2": r2, "r2_adj": 1 - (1 - r2) * (n - 1) / df_true if df_true > 0 else np.nan,
            "n_second_stage": n, "converged": True}
