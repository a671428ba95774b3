"""The result of an SMM estimation: estimates, fit, identification and the verdict per moment."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sez.model import CollateralWarning, Params
from sez.results import Results

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


#: Least rise of the noise-scaled objective (two s.d.) when a parameter called
#: identified is moved by two identification tolerances and the others re-fitted.
PROFILE_RISE = 4.0


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
        """Table 7's shape: the data, our model's moments, the deviation (%) and whether ours is within 10%."""
        out = pd.DataFrame({"data": self.data_moments, "model": self.model_moments})
        out["deviation (%)"] = 100 * (out["model"] / out["data"] - 1)
        out["within 10%"] = _within(out["model"], out["data"], 0.10)
        return out

    def params_table(self) -> pd.DataFrame:
        """Table 6's shape: estimate, standard error, start, the paper's value,
        the relative precision the moments allow and whether it is identified.
        """
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
        """Tables 6 and 7 beside the paper's, the J test, the parameters not identified and the verdict."""
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
