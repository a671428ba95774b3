"""One results protocol for every estimator in sez, and one spelling of standard errors.

Every results object offers ``params``, ``bse``, ``tvalues``, ``pvalues``,
``conf_int(alpha)``, ``cov_params()``, ``nobs``, ``tidy()`` (and ``to_frame()``,
the same frame), ``summary()``, a short ``repr`` and ``_repr_html_`` for
notebooks. The statistic is a t (with ``df_inference`` degrees of freedom) or a
z (normal, ``df_inference`` is None); the summary says which. The design
follows linearmodels' results (one summary behind ``str``, ``repr`` and HTML)
and pyfixest's ``tidy()``.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .limits import DEGENERATE_SE

__all__ = ["Results", "TIDY_COLUMNS", "Vcov", "cluster_sandwich", "degenerate", "empty_sample", "parse_vcov", "renamed",
           "renamed_keywords", "significance_stars", "two_sided_p"]

#: The columns of every ``tidy()`` frame, in order.
TIDY_COLUMNS = ("estimate", "std_err", "statistic", "p_value", "conf_low", "conf_high")


def significance_stars(p_value: float) -> str:
    """Stars of the papers' tables: *** p<0.01, ** p<0.05, * p<0.1 (empty for NaN)."""
    if not np.isfinite(p_value):
        return ""
    return "***" if p_value < 0.01 else "**" if p_value < 0.05 else "*" if p_value < 0.1 else ""




def degenerate(estimate, std_err) -> np.ndarray:
    """Where a standard error is degenerate (see ``sez.limits.DEGENERATE_SE``) or not a positive number."""
    estimate, std_err = np.asarray(estimate, dtype=float), np.asarray(std_err, dtype=float)
    with np.errstate(invalid="ignore"):
        return ~(std_err > DEGENERATE_SE * np.maximum(1.0, np.abs(estimate)))


def two_sided_p(statistic, df: float | None = None):
    """Two-sided p-value(s) of t or z statistics: t with ``df`` degrees of freedom, or the normal for None."""
    z = np.abs(np.asarray(statistic, dtype=float))
    return 2 * (stats.norm.sf(z) if df is None else stats.t.sf(z, max(df, 1)))


class Results:
    """The shared face of sez's results objects (a mixin).

    A subclass provides ``params`` and ``bse`` (pandas Series on one index) and
    ``nobs``; it overrides ``df_inference`` for t inference, ``cov_params()``
    where the full covariance is known, ``_title()`` and ``_notes()`` for its
    summary. Everything else derives from those.
    """

    #: Attributes renamed in the move to this protocol: old name -> new name.
    _renamed: Mapping[str, str] = {}

    @property
    def df_inference(self) -> float | None:
        """Degrees of freedom of the t distribution used for inference; None for the normal."""
        return None

    @property
    def statistic_name(self) -> str:
        """``"t"`` or ``"z"``."""
        return "z" if self.df_inference is None else "t"

    @property
    def tvalues(self) -> pd.Series:
        """Estimate over standard error (a t or a z statistic, see ``statistic_name``); NaN where the
        standard error is degenerate (``sez.limits.DEGENERATE_SE``).
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.params / self.bse).where(~degenerate(self.params, self.bse))

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of ``tvalues``."""
        return pd.Series(two_sided_p(self.tvalues.to_numpy(dtype=float), self.df_inference), index=self.params.index)

    def conf_int(self, alpha: float = 0.05, **old) -> pd.DataFrame:
        """Confidence intervals at level ``1 - alpha``: columns ``conf_low``, ``conf_high``."""
        renamed_keywords(old, {"level": "'alpha' (1 - level)"}, f"{type(self).__name__}.conf_int")
        if not 0 < alpha < 1:
            raise ValueError(f"{type(self).__name__}.conf_int: alpha must lie in (0, 1), got {alpha!r}")
        df = self.df_inference
        q = stats.norm.ppf(1 - alpha / 2) if df is None else stats.t.ppf(1 - alpha / 2, max(df, 1))
        return pd.DataFrame({"conf_low": self.params - q * self.bse, "conf_high": self.params + q * self.bse})

    def cov_params(self) -> pd.DataFrame:
        """Covariance of ``params``; here only its diagonal is known (covariances NaN)."""
        index = self.params.index
        cov = np.full((len(index), len(index)), np.nan)
        np.fill_diagonal(cov, self.bse.to_numpy(dtype=float) ** 2)
        return pd.DataFrame(cov, index=index, columns=index)

    def tidy(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per term: ``estimate, std_err, statistic, p_value, conf_low, conf_high``."""
        ci = self.conf_int(alpha)
        out = pd.DataFrame({"estimate": self.params, "std_err": self.bse, "statistic": self.tvalues,
                            "p_value": self.pvalues, "conf_low": ci["conf_low"], "conf_high": ci["conf_high"]})
        out.index.name = out.index.name or "term"
        return out

    def to_frame(self) -> pd.DataFrame:
        """The same frame as :meth:`tidy`."""
        return self.tidy()

    def _title(self) -> str:
        return type(self).__name__

    def _notes(self) -> list[str]:
        return []

    def summary(self) -> str:
        """Title, sample, the tidy table and the conventions, as text."""
        df = self.df_inference
        inference = "normal (z)" if df is None else f"t with {df:g} degrees of freedom"
        table = self.tidy().to_string(float_format="{:.6g}".format)
        return "\n".join([self._title(), f"N = {self.nobs}; inference: {inference}", table, *self._notes()])

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._title()}; N={self.nobs}, {len(self.params)} terms>"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"

    def __getattr__(self, name: str):
        renamed = type(self)._renamed
        if name in renamed:
            raise AttributeError(f"{type(self).__name__}.{name} is now .{renamed[name]} (see CHANGELOG.md)")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def renamed(**renames: str):
    """Decorator: calling with an old keyword raises a TypeError naming the new one (``@renamed(panel="data")``)."""

    def wrap(func):
        @functools.wraps(func)
        def checked(*args, **kwargs):
            renamed_keywords({k: v for k, v in kwargs.items() if k in renames},
                             {old: repr(new) for old, new in renames.items()}, func.__qualname__)
            return func(*args, **kwargs)

        return checked

    return wrap


def renamed_keywords(given: Mapping, renames: Mapping[str, str], func: str) -> None:
    """Raise a TypeError naming the new keyword for any old one in ``given`` (a ``**old`` catch-all).

    ``renames`` maps an old keyword to the new one, written as it should be read
    (e.g. ``"'unit'"`` or ``"'alpha' (1 - level)"``).
    """
    for old in given:
        if old in renames:
            raise TypeError(f"{func}: the keyword {old!r} is now {renames[old]} (see CHANGELOG.md)")
        raise TypeError(f"{func}() got an unexpected keyword argument {old!r}")


class Vcov:
    """A parsed ``vcov`` (pyfixest's spelling): ``kind`` "iid", "hetero" or "CRV1", and ``cluster`` columns."""

    __slots__ = ("kind", "cluster")

    def __init__(self, kind: str, cluster: tuple[str, ...] = ()):
        self.kind, self.cluster = kind, cluster

    @property
    def spec(self) -> str | dict:
        """Back in pyfixest's spelling."""
        return {"CRV1": "+".join(self.cluster)} if self.kind == "CRV1" else self.kind

    def __repr__(self) -> str:
        return f"Vcov({self.spec!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Vcov) and (self.kind, self.cluster) == (other.kind, other.cluster)

    def __hash__(self) -> int:
        return hash((self.kind, self.cluster))

    def __str__(self) -> str:
        if self.kind == "CRV1":
            return f"clustered by {' and '.join(self.cluster)}"
        return {"iid": "conventional (iid)", "hetero": "heteroskedasticity-robust"}[self.kind]


def parse_vcov(vcov, func: str, allowed: tuple[str, ...] = ("iid", "hetero", "CRV1"),
               max_clusters: int = 1, why: str = "") -> Vcov:
    """Read ``vcov = "iid" | "hetero" | {"CRV1": "a"} | {"CRV1": "a+b"}``; errors name ``func``.

    ``allowed`` lists the kinds the estimator supports; ``max_clusters`` how many
    cluster columns (two-way clustering needs 2); ``why`` says, in an error, why
    a kind is not supported.
    """
    expected = " | ".join([repr(k) for k in allowed if k != "CRV1"]
                          + (['{"CRV1": column}' + (' | {"CRV1": "a+b"}' if max_clusters >= 2 else "")]
                             if "CRV1" in allowed else []))
    because = f" ({why})" if why else ""
    if isinstance(vcov, Mapping):
        if set(vcov) != {"CRV1"}:
            old = {"cluster": "{'CRV1': column}"}
            hint = "".join(f"; {k!r} is now {old[k]}" for k in vcov if k in old)
            raise ValueError(f"{func}: vcov must be {expected}, got {dict(vcov)!r}{hint}")
        spec = vcov["CRV1"]
        columns = tuple(c.strip() for c in spec.split("+")) if isinstance(spec, str) else tuple(spec)
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise ValueError(f"{func}: vcov {{'CRV1': ...}} needs one or more column names, got {spec!r}")
        if len(columns) > max_clusters:
            raise ValueError(f"{func}: clustering by {len(columns)} columns ({'+'.join(columns)}) is not supported "
                             f"here; at most {max_clusters}{because}: use {expected}")
        parsed = Vcov("CRV1", columns)
    elif isinstance(vcov, str) and vcov in ("iid", "hetero"):
        parsed = Vcov(vcov)
    else:
        old = {"observed": "'iid'", "robust": "'hetero'", "cluster": "{'CRV1': column}", "HC1": "'hetero'"}
        if isinstance(vcov, str) and vcov in old:
            hint = f"; {vcov!r} is now {old[vcov]}"
        elif isinstance(vcov, str) and vcov.strip():
            # a bare column name, or "a+b", is a clustering spelled without its kind
            hint = f"; to cluster by {vcov!r} write vcov={{'CRV1': {vcov!r}}}"
        else:
            hint = ""
        raise ValueError(f"{func}: vcov must be {expected}, got {vcov!r}{hint}")
    if parsed.kind not in allowed:
        raise ValueError(f"{func}: vcov {parsed.spec!r} is not available here{because}; use {expected}")
    return parsed


def cluster_sandwich(influence: np.ndarray, groups: Sequence[np.ndarray], small_sample: bool = True) -> np.ndarray:
    """The meat of a clustered sandwich: ``sum_g s_g s_g'`` with ``s_g`` the sum of the rows of
    ``influence`` (n x k) in cluster g; one array of cluster codes per dimension of ``groups``.

    Two dimensions follow Cameron, Gelbach and Miller (2011): ``V_a + V_b - V_ab``, the last clustered by
    the intersection; with ``small_sample`` every term is multiplied by ``G/(G-1)``, G the fewest clusters
    of any dimension (fixest's and pyfixest's default ``G_df="min"``, reghdfe's convention). A two-way
    matrix that is not positive semi-definite has its negative eigenvalues set to zero, as Cameron,
    Gelbach and Miller (2011) suggest and fixest does.
    """
    influence = np.asarray(influence, dtype=float).reshape(len(influence), -1)
    groups = [pd.factorize(np.asarray(g))[0] for g in groups]
    if len(groups) == 2:
        terms = [(groups[0], 1.0), (groups[1], 1.0), (pd.factorize(groups[0] * (groups[1].max() + 1) + groups[1])[0],
                                                       -1.0)]
    else:
        terms = [(g, 1.0) for g in groups]
    meat = np.zeros((influence.shape[1], influence.shape[1]))
    for codes, sign in terms:
        sums = np.zeros((int(codes.max()) + 1, influence.shape[1]))
        np.add.at(sums, codes, influence)
        meat += sign * (sums.T @ sums)
    if small_sample:
        fewest = min(int(g.max()) + 1 for g in groups)
        meat *= fewest / (fewest - 1.0)
    if len(groups) > 1:
        values, vectors = np.linalg.eigh(0.5 * (meat + meat.T))
        if values.min() < 0:
            meat = (vectors * np.maximum(values, 0.0)) @ vectors.T
    return meat


def empty_sample(usable: Mapping[str, np.ndarray], meaning: str = "non-missing, finite") -> str:
    """Why an estimation sample is empty, given each column's usable rows: the columns with no usable
    value in any row (an all-missing regressor), else how many rows each column leaves. ``meaning`` says
    what a usable value is.
    """
    empty = [column for column, ok in usable.items() if not np.any(ok)]
    if empty:
        return (f"column(s) {', '.join(map(repr, empty))} have no usable ({meaning}) value in any row: "
                "fill them or leave them out")
    return ("no row has a usable value in every column at once; usable rows by column: "
            + ", ".join(f"{column!r} {int(np.sum(ok))}" for column, ok in usable.items()))
