"""Results of the DiD estimators: one estimate, an event study, a mediation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from sez.results import Results, parse_vcov

#: How the event-study figure names each estimator.
ESTIMATOR_LABELS = {"twfe": "TWFE", "imputation": "imputation (Borusyak, Jaravel and Spiess 2024)",
                    "sun_abraham": "interaction-weighted (Sun and Abraham 2021)",
                    "callaway_santanna": "Callaway and Sant'Anna (2021), base year before entry"}


@dataclass(frozen=True, repr=False)
class DidResults(Results):
    """A difference-in-differences estimate: coefficients, standard errors and conventions.

    Follows the results protocol of :mod:`sez.results` (``params``, ``bse``,
    ``pvalues``, ``conf_int``, ``tidy``, ``summary``).

    Attributes
    ----------
    estimator : str
        ``"TWFE"`` or ``"imputation (Borusyak, Jaravel and Spiess 2024)"``.
    params, bse : pandas.Series
        Estimates and standard errors (treatment first, then controls for TWFE).
    nobs : int
        Observations used (after singletons and missing values are dropped).
    n_clusters : int or None
        Number of clusters (the fewest of a multi-way clustering); None when not clustered.
    fixed_effects : tuple of str
        Absorbed fixed effects (``"a^b"`` is the interaction of a and b).
    vcov : str or dict
        The standard errors, in pyfixest's spelling (``{"CRV1": "firm_id"}``, ``"hetero"``, ``"iid"``).
    counts : dict
        Observations dropped or set aside, by reason.
    conventions : str
        Degrees-of-freedom and sample conventions in words.
    df : float or None
        Degrees of freedom of the t distribution for p-values and intervals (G - 1 when
        clustered, as reghdfe and fixest); None for the normal.
    fit : pyfixest.Feols or None
        The pyfixest fit behind a TWFE result, for pyfixest's own tools (``pf.etable([res.fit])``,
        ``pf.coefplot``, and with ``lean=False`` its wild bootstrap); None for the imputation estimator.
    r2, r2_within : float or None
        R-squared of the TWFE regression, overall and within the fixed effects (pyfixest's); None where
        there is no regression (the imputation estimator).
    weights : str or None
        The weights column, when the estimate is weighted.
    """

    estimator: str
    outcome: str
    treatment: str
    params: pd.Series
    bse: pd.Series
    nobs: int
    n_clusters: int | None
    fixed_effects: tuple[str, ...]
    vcov: str | dict
    counts: dict = field(default_factory=dict)
    conventions: str = ""
    df: float | None = None
    fit: object = None
    r2: float | None = None
    r2_within: float | None = None
    weights: str | None = None

    _renamed = {"cluster": "vcov"}

    @property
    def coef(self) -> float:
        """The treatment coefficient."""
        return float(self.params.iloc[0])

    @property
    def se(self) -> float:
        """The treatment coefficient's standard error."""
        return float(self.bse.iloc[0])

    @property
    def df_inference(self) -> float | None:
        """The t degrees of freedom ``df`` (None: normal inference)."""
        return self.df

    def _title(self) -> str:
        return f"{self.estimator}: {self.outcome} on {self.treatment}"

    def _notes(self) -> list[str]:
        clusters = f" ({self.n_clusters} clusters)" if self.n_clusters is not None else ""
        r2 = "" if self.r2 is None else f"; R-squared {self.r2:.4f}, within {self.r2_within:.4f}"
        weighted = f"; weighted by {self.weights!r}" if self.weights else ""
        return [f"Fixed effects: {', '.join(self.fixed_effects) or 'none'}; standard errors "
                f"{parse_vcov(self.vcov, 'DidResults', max_clusters=2)}{clusters}{r2}{weighted}",
                "Set aside: " + (", ".join(f"{k} {v}" for k, v in self.counts.items()) or "none"),
                self.conventions]

    def __repr__(self) -> str:
        return f"<DidResults {self.estimator}: {self.coef:.4g} ({self.se:.3g}), N={self.nobs}>"


@dataclass(frozen=True, repr=False)
class EventStudyResults(Results):
    """Event-study estimates by event time, TWFE beside the imputation estimator.

    ``table`` has one row per event time (years since entry; the reference
    period has coefficient 0 and no standard error) and, per estimator,
    columns ``<name>_coef``, ``<name>_se``, ``<name>_lower``, ``<name>_upper``
    (95% bands, normal quantiles as in the paper's Figure 12). The results
    protocol (:mod:`sez.results`) reads the same numbers with ``params``
    indexed by (estimator, event time); inference is normal, as the bands.
    ``nobs_by_estimator`` and ``n_clusters_by_estimator`` give each
    estimator's sample; ``nobs`` and ``n_clusters`` are the largest; ``vcov``
    the standard errors in pyfixest's spelling.
    """

    outcome: str
    treatment: str
    reference: int
    window: tuple[int, int]
    table: pd.DataFrame
    estimators: tuple[str, ...]
    fits: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    nobs_by_estimator: dict = field(default_factory=dict)
    n_clusters_by_estimator: dict = field(default_factory=dict)
    vcov: str | dict | None = None

    def _long(self, suffix: str) -> pd.Series:
        parts = {e: self.table[f"{e}_{suffix}"] for e in self.estimators}
        out = pd.concat(parts, names=["estimator", "event_time"])
        return out.astype(float)

    @property
    def params(self) -> pd.Series:
        """Coefficients indexed by (estimator, event time); 0 at the reference period."""
        return self._long("coef")

    @property
    def bse(self) -> pd.Series:
        """Standard errors indexed by (estimator, event time); NaN at the reference period."""
        return self._long("se")

    @property
    def nobs(self) -> int:
        """The largest estimation sample of the estimators run."""
        return int(max(self.nobs_by_estimator.values(), default=0))

    @property
    def n_clusters(self) -> int | None:
        """The most clusters of the estimators run (None when none clusters)."""
        known = [n for n in self.n_clusters_by_estimator.values() if n is not None]
        return int(max(known)) if known else None

    def _title(self) -> str:
        lo, hi = self.window
        return (f"Event study of {self.outcome} on entry ({self.treatment}); reference period {self.reference}; "
                f"event times below {lo} binned into {lo}, above {hi} into {hi}")

    def _notes(self) -> list[str]:
        return ["Set aside: " + (", ".join(f"{k} {v}" for k, v in self.counts.items()) or "none")]

    def plot(self, path=None, ax=None, title: str | None = None):
        """Coefficients with 95% bands by event time; saved to ``path`` when given.

        Returns the matplotlib Figure.
        """
        import matplotlib
        if ax is None:
            matplotlib.use("Agg", force=False) if path is not None else None
        import matplotlib.pyplot as plt

        fig, ax = (plt.subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax))
        offsets = np.linspace(-0.12, 0.12, len(self.estimators)) if len(self.estimators) > 1 else [0.0]
        markers = ["o", "s", "^", "D"]
        for k, (name, off) in enumerate(zip(self.estimators, offsets)):
            t = self.table.index.to_numpy(dtype=float) + off
            c = self.table[f"{name}_coef"].to_numpy()
            lower, upper = self.table[f"{name}_lower"].to_numpy(), self.table[f"{name}_upper"].to_numpy()
            ok = np.isfinite(c)
            ax.errorbar(t[ok], c[ok], yerr=[np.nan_to_num(c - lower)[ok], np.nan_to_num(upper - c)[ok]],
                        fmt=markers[k % 4], capsize=2, label=ESTIMATOR_LABELS.get(name, name))
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(-0.5, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("years relative to entry into the zone")
        ax.set_ylabel(f"effect on {self.outcome}")
        ax.set_title(title or f"Dynamic effect of SEZ entry on {self.outcome} (95% bands)")
        ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=150)
        return fig


@dataclass(frozen=True, repr=False)
class MediationResults(Results):
    """Mediation of the treatment effect through a mediator (Baron and Kenny, 1986).

    ``fits`` holds the three regressions (path c: outcome on treatment; path a:
    mediator on treatment; paths b and c': outcome on treatment and mediator);
    ``tests`` the Sobel (1982), Aroian (1947; "Goodman-1") and Goodman (1960;
    "Goodman-2") tests of the indirect effect ``a*b``. In the results protocol
    ``params`` holds the paths and the indirect effect (with Sobel's standard
    error); inference is normal, as the Sobel-Goodman tests. ``nobs_by_path``
    gives each path's sample (each has its own complete cases); ``nobs`` is the largest.
    """

    outcome: str
    mediator: str
    treatment: str
    a: float
    se_a: float
    b: float
    se_b: float
    c: float
    se_c: float
    c_prime: float
    se_c_prime: float
    nobs_by_path: dict
    fits: dict = field(default_factory=dict)

    _TERMS = ("a (treatment -> mediator)", "b (mediator -> outcome | treatment)", "c' (direct effect)",
              "c (total effect, path c)", "indirect effect a*b")

    @property
    def indirect(self) -> float:
        """The indirect effect ``a*b``."""
        return self.a * self.b

    @property
    def total(self) -> float:
        """Indirect plus direct effect, ``a*b + c'`` (the decomposition Sobel-Goodman tables report)."""
        return self.indirect + self.c_prime

    @property
    def proportion_mediated(self) -> float:
        """The share of the total effect that is indirect, ``a*b / (a*b + c')``."""
        return self.indirect / self.total

    @property
    def params(self) -> pd.Series:
        """Paths a, b, c', c and the indirect effect ``a*b``."""
        return pd.Series([self.a, self.b, self.c_prime, self.c, self.indirect], index=list(self._TERMS))

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the paths, and Sobel's of the indirect effect."""
        sobel = float(self.tests.loc["Sobel", "std_err"])
        return pd.Series([self.se_a, self.se_b, self.se_c_prime, self.se_c, sobel], index=list(self._TERMS))

    @property
    def nobs(self) -> int:
        """The largest of the three paths' samples."""
        return int(max(self.nobs_by_path.values(), default=0))

    @property
    def tests(self) -> pd.DataFrame:
        """Sobel, Aroian and Goodman tests of ``a*b``: ``estimate, std_err, statistic, p_value``."""
        a, b, sa, sb = self.a, self.b, self.se_a, self.se_b
        base = b * b * sa * sa + a * a * sb * sb
        ses = {"Sobel": math.sqrt(base), "Goodman-1 (Aroian)": math.sqrt(base + sa * sa * sb * sb),
               "Goodman-2": math.sqrt(base - sa * sa * sb * sb) if base > sa * sa * sb * sb else np.nan}
        rows = {}
        for name, s in ses.items():
            zval = self.indirect / s if s and np.isfinite(s) else np.nan
            rows[name] = {"estimate": self.indirect, "std_err": s, "statistic": zval,
                          "p_value": 2 * stats.norm.sf(abs(zval))}
        return pd.DataFrame(rows).T

    def _title(self) -> str:
        return f"Mediation of {self.treatment} -> {self.outcome} through {self.mediator}"

    def _notes(self) -> list[str]:
        return [self.tests.to_string(float_format="{:.6g}".format),
                f"Proportion of total effect that is mediated: {self.proportion_mediated:.4f}",
                f"Ratio of indirect to direct effect: {self.indirect / self.c_prime:.4f}",
                f"Ratio of total to direct effect: {self.total / self.c_prime:.4f}",
                f"Observations by path: {self.nobs_by_path}"]
