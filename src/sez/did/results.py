"""Results of the DiD estimators: one estimate, an event study, a mediation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class DidResults:
    """A difference-in-differences estimate: coefficients, standard errors and conventions.

    Attributes
    ----------
    estimator : str
        ``"TWFE"`` or ``"imputation (Borusyak, Jaravel and Spiess 2024)"``.
    params, bse : pandas.Series
        Estimates and standard errors (treatment first, then controls for TWFE).
    nobs : int
        Observations used (after singletons and missing values are dropped).
    n_clusters : int
        Number of clusters.
    fixed_effects : tuple of str
        Absorbed fixed effects (``"a^b"`` is the interaction of a and b).
    cluster : str
        Cluster variable.
    counts : dict
        Observations dropped or set aside, by reason.
    conventions : str
        Degrees-of-freedom and sample conventions in words.
    """

    estimator: str
    outcome: str
    treatment: str
    params: pd.Series
    bse: pd.Series
    nobs: int
    n_clusters: int
    fixed_effects: tuple[str, ...]
    cluster: str
    counts: dict = field(default_factory=dict)
    conventions: str = ""

    @property
    def coef(self) -> float:
        """The treatment coefficient."""
        return float(self.params.iloc[0])

    @property
    def se(self) -> float:
        """The treatment coefficient's standard error."""
        return float(self.bse.iloc[0])

    @property
    def tvalues(self) -> pd.Series:
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        # t with G-1 degrees of freedom for clustered inference, as reghdfe and fixest
        return pd.Series(2 * stats.t.sf(np.abs(self.tvalues), max(self.n_clusters - 1, 1)),
                         index=self.params.index)

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        q = stats.t.ppf(0.5 + level / 2, max(self.n_clusters - 1, 1))
        return pd.DataFrame({"lower": self.params - q * self.bse, "upper": self.params + q * self.bse})

    def to_frame(self) -> pd.DataFrame:
        ci = self.conf_int()
        return pd.DataFrame({"coef": self.params, "std_err": self.bse, "t": self.tvalues,
                             "p_value": self.pvalues, "ci_lower": ci.lower, "ci_upper": ci.upper})

    def summary(self) -> str:
        lines = [f"{self.estimator}: {self.outcome} on {self.treatment}",
                 f"Fixed effects: {', '.join(self.fixed_effects) or 'none'}; clustered by {self.cluster} "
                 f"({self.n_clusters} clusters); N = {self.nobs}",
                 "Set aside: " + (", ".join(f"{k} {v}" for k, v in self.counts.items()) or "none"),
                 self.to_frame().to_string(float_format="{:.6g}".format),
                 self.conventions]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<DidResults {self.estimator}: {self.coef:.4g} ({self.se:.3g}), N={self.nobs}>"


@dataclass(frozen=True)
class EventStudyResults:
    """Event-study estimates by event time, TWFE beside the imputation estimator.

    ``table`` has one row per event time (years since entry; the reference
    period has coefficient 0 and no standard error) and, per estimator,
    columns ``<name>_coef``, ``<name>_se``, ``<name>_lower``, ``<name>_upper``
    (95% bands, normal quantiles as in the paper's Figure 12).
    """

    outcome: str
    treatment: str
    reference: int
    window: tuple[int, int]
    table: pd.DataFrame
    estimators: tuple[str, ...]
    fits: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    nobs: dict = field(default_factory=dict)
    n_clusters: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> str:
        lo, hi = self.window
        head = (f"Event study of {self.outcome} on entry ({self.treatment}); reference period {self.reference}; "
                f"event times below {lo} binned into {lo}, above {hi} into {hi}")
        aside = "Set aside: " + (", ".join(f"{k} {v}" for k, v in self.counts.items()) or "none")
        return "\n".join([head, aside, self.table.to_string(float_format="{:.4g}".format)])

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
                        fmt=markers[k % 4], capsize=2, label=name)
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


@dataclass(frozen=True)
class MediationResults:
    """Mediation of the treatment effect through a mediator (Baron and Kenny, 1986).

    ``paths`` holds the three regressions (path c: outcome on treatment; path a:
    mediator on treatment; paths b and c': outcome on treatment and mediator);
    ``tests`` the Sobel (1982), Aroian (1947; "Goodman-1") and Goodman (1960;
    "Goodman-2") tests of the indirect effect ``a*b``.
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
    nobs: dict
    fits: dict = field(default_factory=dict)

    @property
    def indirect(self) -> float:
        return self.a * self.b

    @property
    def total(self) -> float:
        """Indirect plus direct effect, ``a*b + c'`` (the decomposition Sobel-Goodman tables report)."""
        return self.indirect + self.c_prime

    @property
    def proportion_mediated(self) -> float:
        return self.indirect / self.total

    @property
    def tests(self) -> pd.DataFrame:
        a, b, sa, sb = self.a, self.b, self.se_a, self.se_b
        base = b * b * sa * sa + a * a * sb * sb
        ses = {"Sobel": math.sqrt(base), "Goodman-1 (Aroian)": math.sqrt(base + sa * sa * sb * sb),
               "Goodman-2": math.sqrt(base - sa * sa * sb * sb) if base > sa * sa * sb * sb else np.nan}
        rows = {}
        for name, s in ses.items():
            zval = self.indirect / s if s and np.isfinite(s) else np.nan
            rows[name] = {"coef": self.indirect, "std_err": s, "z": zval, "p_value": 2 * stats.norm.sf(abs(zval))}
        return pd.DataFrame(rows).T

    def to_frame(self) -> pd.DataFrame:
        paths = pd.DataFrame({"coef": [self.a, self.b, self.c_prime, self.c],
                              "std_err": [self.se_a, self.se_b, self.se_c_prime, self.se_c]},
                             index=["a (treatment -> mediator)", "b (mediator -> outcome | treatment)",
                                    "c' (direct effect)", "c (total effect, path c)"])
        return pd.concat([paths, self.tests[["coef", "std_err"]]])

    def summary(self) -> str:
        lines = [f"Mediation of {self.treatment} -> {self.outcome} through {self.mediator}",
                 self.to_frame().to_string(float_format="{:.6g}".format),
                 self.tests.to_string(float_format="{:.6g}".format),
                 f"Proportion of total effect that is mediated: {self.proportion_mediated:.4f}",
                 f"Ratio of indirect to direct effect: {self.indirect / self.c_prime:.4f}",
                 f"Ratio of total to direct effect: {self.total / self.c_prime:.4f}",
                 f"Observations by path: {self.nobs}"]
        return "\n".join(lines)
