"""Results of :func:`sez.tfp.estimate` and :func:`sez.tfp.bootstrap`, on the package's one results
protocol (:class:`sez.results.Results`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sez.results import Results
from sez.tfp.settings import METHOD_NAMES

__all__ = ["TFPResults", "BootstrapResults"]

_OUTPUT_NAMES = {"va": "value added", "gross": "gross output"}


def _listed(labels, at_most: int = 10) -> str:
    labels = [str(g) for g in labels]
    return ", ".join(labels[:at_most]) + (f" and {len(labels) - at_most} more" if len(labels) > at_most else "")


def _with_diagonal(cov: pd.DataFrame, blocks: dict) -> pd.DataFrame:
    """``cov`` (diagonal known) with the covariance block of each group's terms filled in."""
    for group, block in blocks.items():
        labels = [(group, term) for term in block.index if (group, term) in cov.index]
        if labels:
            terms = [term for _, term in labels]
            cov.loc[labels, labels] = block.loc[terms, terms].to_numpy(dtype=float)
    return cov


@dataclass(repr=False)
class TFPResults(Results):
    """Production-function estimates by group, diagnostics and firm-year log TFP.

    The results protocol (:class:`sez.results.Results`): ``params`` and ``bse`` by (group, term),
    the terms being the production function's coefficients, then ``constant`` (OLS, FE) and
    ``rho`` (WRDG); ``tidy()`` (= ``to_frame()``), ``conf_int``, ``cov_params``, ``summary()``.
    Inference is normal (z): the GMM and bootstrap errors are asymptotic, and for OLS and FE
    the z statistic is the classical t statistic. Standard errors that do not exist (OP, LP,
    ACF without :func:`sez.tfp.bootstrap`) are NaN.

    Attributes
    ----------
    method, output, form : str
    inputs : list of str
        Input columns (free, state, materials).
    terms : list of str
        Coefficient names, in the order of the coefficients: the inputs (Cobb-Douglas), then
        ``"a^2"`` and ``"a*b"`` (translog).
    estimates : DataFrame
        The wide table, one row per group: ``beta_<term>``, ``elasticity_<input>`` (translog:
        the mean over the group's estimation sample of the per-observation elasticity),
        ``returns_to_scale`` (sum of the logged inputs' elasticities), ``n_obs``, ``n_firms``,
        ``n_second_stage``, ``converged``, ``objective``, ``start_spread``; ``plausible`` (OP,
        LP, ACF: all elasticities of logged inputs non-negative) and ``first_stage_collapse``
        (OP, LP: a free input's first-stage coefficient below ``FIRST_STAGE_COLLAPSE`` of its
        least-squares value); ``constant``, ``r2``, ``r2_adj`` (OLS, FE); ``rho`` (WRDG).
        :meth:`wide` joins the standard errors to it.
    standard_errors : DataFrame or None
        Analytic (OLS, FE: classical; WRDG: GMM, as ``vcov``) or firm bootstrap
        (:func:`sez.tfp.bootstrap`), by group; columns the terms, ``returns_to_scale``, translog
        mean elasticities, ``constant``, ``rho``.
    diagnostics : dict
        Per group: starting values and results of every start, dropped rows, extras
        (WRDG: J statistic, its degrees of freedom and p-value, weight matrix).
    panel : DataFrame
        Copy of the input panel with ``ln_tfp`` (NaN where not computed or trimmed) and,
        for translog, ``elasticity_<input>`` per firm-year.
    covariances : dict
        Group -> covariance of its terms (analytic or across bootstrap draws), used by
        ``cov_params()``.
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
    by: str | None = None
    vcov: str | dict | None = None
    covariances: dict = field(default_factory=dict)
    standard_error_kind: str = ""

    # ------------------------------------------------------------------ protocol
    def _param_columns(self) -> dict:
        """Column of ``estimates`` -> term, in the order of ``params``."""
        columns = {f"beta_{t}": t for t in self.terms}
        columns.update({c: c for c in ("constant", "rho") if c in self.estimates.columns})
        return {c: t for c, t in columns.items() if c in self.estimates.columns}

    def _index(self) -> pd.MultiIndex:
        groups = list(self.estimates.index)
        terms = list(self._param_columns().values())
        return pd.MultiIndex.from_product([groups, terms], names=["group", "term"])

    @property
    def params(self) -> pd.Series:
        """Coefficients by (group, term): the terms, then ``constant`` (OLS, FE) and ``rho`` (WRDG)."""
        columns = self._param_columns()
        values = self.estimates[list(columns)].to_numpy(dtype=float).ravel() if columns else np.zeros(0)
        return pd.Series(values, index=self._index(), name="estimate")

    @property
    def bse(self) -> pd.Series:
        """Standard errors on the index of ``params``; NaN where there are none."""
        index = self._index()
        if self.standard_errors is None or self.standard_errors.empty:
            return pd.Series(np.nan, index=index, name="std_err", dtype=float)
        terms = list(self._param_columns().values())
        wide = self.standard_errors.reindex(index=self.estimates.index, columns=terms)
        return pd.Series(wide.to_numpy(dtype=float).ravel(), index=index, name="std_err")

    @property
    def nobs(self) -> int:
        """Observations estimated on, all groups together."""
        return int(self.estimates["n_obs"].sum()) if "n_obs" in self.estimates.columns else 0

    def cov_params(self) -> pd.DataFrame:
        """Covariance of ``params``: each group's terms (analytic, or across bootstrap draws); between
        groups, and of ``constant`` and ``rho`` with the terms, NaN (not computed).
        """
        return _with_diagonal(super().cov_params(), self.covariances)

    def _title(self) -> str:
        grouping = f"by {self.by}" if self.by is not None else "pooled"
        output = _OUTPUT_NAMES.get(self.output, self.output)
        return (f"Production function, {METHOD_NAMES.get(self.method, self.method)} (method={self.method!r}), "
                f"{output}, {self.form}, {grouping}")

    def _notes(self) -> list[str]:
        notes = [f"Inputs: {', '.join(self.inputs)}; {len(self.estimates)} group(s) estimated"]
        skipped = [g for g, d in self.diagnostics.items() if "skipped" in d]
        if skipped:
            notes[0] += f", {len(skipped)} skipped ({_listed(skipped)})"
        none = "none (NaN): OLS, FE and WRDG have analytic ones; the others need sez.tfp.bootstrap"
        notes.append(f"Standard errors: {self.standard_error_kind or none}")
        notes.append(f"Rows dropped before logs: {self.dropped or 'none'}; ln_tfp trimmed: {self.trimmed}")
        for flag, what in (("plausible", "a negative output elasticity"),
                           ("first_stage_collapse", "a collapsed first stage")):
            if flag in self.estimates.columns:
                values = self.estimates[flag].astype(bool)
                flagged = list(self.estimates.index[~values if flag == "plausible" else values])
                if flagged:
                    notes.append(f"Flagged with {what}: {_listed(flagged)}")
        notes.append("Elasticities, returns to scale and fit by group: .estimates (.wide() with standard errors)")
        return notes

    # ------------------------------------------------------------------ wide table
    def wide(self) -> pd.DataFrame:
        """``estimates`` with the standard errors joined as ``se_<column>`` (one row per group)."""
        out = self.estimates.copy()
        if self.standard_errors is not None:
            out = out.join(self.standard_errors.add_prefix("se_"))
        return out


@dataclass(repr=False)
class BootstrapResults(Results):
    """Firm-cluster bootstrap of production-function estimates.

    The results protocol as :class:`TFPResults` (whose standard errors are now the bootstrap
    ones): ``params``, ``bse`` (standard deviation across replications), ``cov_params()``
    (covariance across replications within a group), ``tidy()``, ``summary()``; normal (z)
    inference.

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

    @property
    def params(self) -> pd.Series:
        """The point estimates, by (group, term)."""
        return self.point.params

    @property
    def bse(self) -> pd.Series:
        """Standard deviation across replications (NaN for ``constant``, not resampled)."""
        return self.point.bse

    @property
    def nobs(self) -> int:
        """Observations used, summed over the groups."""
        return self.point.nobs

    def cov_params(self) -> pd.DataFrame:
        """Each group's covariance of its terms; NaN between groups."""
        return self.point.cov_params()

    @property
    def replications(self) -> int:
        """Replications that succeeded."""
        return int(self.draws["rep"].nunique()) if "rep" in self.draws.columns else 0

    def _title(self) -> str:
        return f"Firm bootstrap ({self.replications} replications, {len(self.failed)} failed): {self.point._title()}"

    def _notes(self) -> list[str]:
        notes = self.point._notes()[:-1] + ["Point estimates and both bootstrap errors by group: .wide()"]
        if self.robust_standard_errors is not None and not self.robust_standard_errors.empty:
            ratio = (self.standard_errors / self.robust_standard_errors).max(axis=None)
            if ratio > 3:
                notes.append(f"The standard deviation is up to {ratio:.0f} times the IQR-based error: a few "
                             "replications reach distant roots (weak identification); see draws.")
        return notes

    def wide(self) -> pd.DataFrame:
        """Point ``estimates`` with ``se_<column>`` (standard deviation) and ``se_iqr_<column>`` (IQR / 1.349)."""
        out = self.point.estimates.join(self.standard_errors.add_prefix("se_"))
        if self.robust_standard_errors is not None:
            out = out.join(self.robust_standard_errors.add_prefix("se_iqr_"))
        return out
