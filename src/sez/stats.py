"""Kolmogorov-Smirnov tests of equality and first-order stochastic dominance.

- :func:`ks_2samp`: the two-sample test with the statistics and p-values of
  Stata's ``ksmirnov`` (the convention of the papers), exact p-values for small
  samples by lattice-path counting.
- :func:`dominance_table`: the KS dominance table of log TFP by export status
  and agglomeration, year by year (Table 2 of the agglomeration paper), every
  group sorted once and all comparisons computed in one parallel C++ call.
- :func:`plot_tfp_densities` and :func:`plot_tfp_by_zone_and_agglomeration`:
  the matching density figures.

Sign convention (Stata's ``ksmirnov``): sample 1 is group 1,
D+ = max(F1 - F2) >= 0 (large when group 1 holds smaller values),
D- = min(F1 - F2) <= 0 reported with its sign, D = max(D+, -D-).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from sez import _core
from sez.limits import EXACT_AUTO_LIMIT, EXACT_MAX_WORK

__all__ = [
    "KSResult",
    "ks_2samp",
    "sorted_groups",
    "ks_batch",
    "ks_pvalue_two_sided",
    "ks_pvalue_one_sided",
    "ks_pvalue_corrected",
    "dominance_verdict",
]



# ---------------------------------------------------------------------------
# p-values (Stata's formulas; vectorised over arrays of statistics)


def _effective_size(m, n):
    m = np.asarray(m, dtype=float)
    n = np.asarray(n, dtype=float)
    return m * n / (m + n)


def ks_pvalue_two_sided(d, m, n):
    """Asymptotic p-value of the combined statistic D, as Stata reports it.

    p = min(1, 2 sum_{i=1..5} (-1)^(i-1) exp(-2 i^2 A D^2)), A = m n / (m + n)
    (Smirnov 1939; the series truncated after five terms).

    Parameters
    ----------
    d : float or array_like
        Combined statistic(s) D.
    m, n : int or array_like
        Sample sizes.

    Returns
    -------
    numpy.ndarray or numpy.float64
        p-value(s), broadcast over the arguments.
    """
    x = _effective_size(m, n) * np.square(np.asarray(d, dtype=float))
    series = sum((-1.0) ** (i - 1) * np.exp(-2.0 * i * i * x) for i in range(1, 6))
    return np.clip(2.0 * series, 0.0, 1.0)


def ks_pvalue_one_sided(d, m, n):
    """Asymptotic p-value of a one-sided statistic, as Stata reports it: exp(-2 A D^2), A = m n / (m + n).

    Parameters
    ----------
    d : float or array_like
        D+ (H0: F1 <= F2) or D- (H0: F1 >= F2; its sign does not matter).
    m, n : int or array_like
        Sample sizes.

    Returns
    -------
    numpy.ndarray or numpy.float64
        p-value(s), broadcast over the arguments.
    """
    return np.exp(-2.0 * _effective_size(m, n) * np.square(np.asarray(d, dtype=float)))


def ks_pvalue_corrected(p, m, n):
    """Small-sample correction of the combined p-value that Stata reports as 'corrected'.

    p' = Phi(Phi^-1(p) + 1.04 / min(m, n) + 2.09 / max(m, n) - 1.35 / sqrt(A)),
    A = m n / (m + n).

    Parameters
    ----------
    p : float or array_like
        Asymptotic two-sided p-value(s) from :func:`ks_pvalue_two_sided`.
    m, n : int or array_like
        Sample sizes.

    Returns
    -------
    numpy.ndarray or numpy.float64
        Corrected p-value(s); 0 and 1 map to themselves.
    """
    m = np.asarray(m, dtype=float)
    n = np.asarray(n, dtype=float)
    shift = 1.04 / np.minimum(m, n) + 2.09 / np.maximum(m, n) - 1.35 / np.sqrt(_effective_size(m, n))
    with np.errstate(divide="ignore"):
        return special.ndtr(special.ndtri(np.asarray(p, dtype=float)) + shift)


def dominance_verdict(p_two_sided, p_plus, p_minus, alpha: float = 0.05) -> np.ndarray:
    """First-order stochastic dominance by the rule of the agglomeration paper.

    Group A (sample 1) dominates group B when equality is rejected by the
    two-sided test and the one-sided null H0: F_A <= F_B (tested by D+) is not
    rejected, while the other one-sided null (tested by D-) is; and
    symmetrically for B. Returns strings:

    - ``"A dominates B"`` / ``"B dominates A"``;
    - ``"crossing"``: both one-sided nulls rejected (the CDFs cross);
    - ``"no difference"``: equality not rejected;
    - ``"inconclusive"``: equality rejected but neither one-sided null.

    The paper states the rule as "two-sided rejected, one one-sided not
    rejected"; when neither one-sided null is rejected both directions would
    qualify, so that case is reported as inconclusive instead.

    Parameters
    ----------
    p_two_sided, p_plus, p_minus : array_like
        p-values of D, D+ and D-.
    alpha : float
        Level of every test.

    Returns
    -------
    numpy.ndarray
        Verdict strings, one per comparison.
    """
    reject_two = np.asarray(p_two_sided) < alpha
    reject_plus = np.asarray(p_plus) < alpha
    reject_minus = np.asarray(p_minus) < alpha
    verdict = np.select(
        [~reject_two, ~reject_plus & reject_minus, reject_plus & ~reject_minus, reject_plus & reject_minus],
        ["no difference", "A dominates B", "B dominates A", "crossing"],
        default="inconclusive",
    )
    return verdict


# ---------------------------------------------------------------------------
# one comparison


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test (Stata's ``ksmirnov`` conventions).

    Attributes
    ----------
    d, d_plus, d_minus : float
        D = max(D+, -D-); D+ = max(F1 - F2) >= 0; D- = min(F1 - F2) <= 0.
    p_value, p_plus, p_minus : float
        Asymptotic p-values of D (two-sided), D+ and D- (one-sided).
    p_corrected : float
        Stata's small-sample corrected p-value of D.
    p_exact, p_plus_exact, p_minus_exact : float
        Exact p-values by lattice-path counting (NaN when not computed). They
        assume no ties; with ties they are conservative.
    n1, n2 : int
        Sample sizes.
    """

    d: float
    d_plus: float
    d_minus: float
    p_value: float
    p_plus: float
    p_minus: float
    p_corrected: float
    n1: int
    n2: int
    p_exact: float = math.nan
    p_plus_exact: float = math.nan
    p_minus_exact: float = math.nan

    @property
    def statistic(self) -> float:
        """D, scipy's name (``scipy.stats.ks_2samp(...).statistic``)."""
        return self.d

    @property
    def pvalue(self) -> float:
        """The asymptotic two-sided p-value of D, scipy's name (Stata's is ``p_value``)."""
        return self.p_value

    @property
    def exact(self) -> bool:
        """Whether exact p-values were computed."""
        return not math.isnan(self.p_exact)

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic (D+, D-, D) with its asymptotic, corrected and exact p-values."""
        return pd.DataFrame(
            {
                "statistic": [self.d_plus, self.d_minus, self.d],
                "p_value": [self.p_plus, self.p_minus, self.p_value],
                "p_corrected": [math.nan, math.nan, self.p_corrected],
                "p_exact": [self.p_plus_exact, self.p_minus_exact, self.p_exact],
            },
            index=pd.Index(["D+ (H0: F1 <= F2)", "D- (H0: F1 >= F2)", "D (H0: F1 = F2)"], name="test"),
        )

    def summary(self) -> str:
        """Plain-text table in the layout of Stata's ``ksmirnov``."""
        head = f"Two-sample Kolmogorov-Smirnov test: sample 1 (n = {self.n1}) vs sample 2 (n = {self.n2})"
        rows = [head, f"{'':24s}{'D':>9s}{'p-value':>10s}{'corrected':>11s}{'exact':>9s}", "-" * 63]

        def fmt(x):
            return f"{x:9.3f}" if not math.isnan(x) else f"{'':9s}"

        for label, stat, p, pc, pe in [
            ("1 has smaller values:", self.d_plus, self.p_plus, math.nan, self.p_plus_exact),
            ("1 has larger values:", self.d_minus, self.p_minus, math.nan, self.p_minus_exact),
            ("Combined K-S:", self.d, self.p_value, self.p_corrected, self.p_exact),
        ]:
            rows.append(f"{label:24s}{stat:9.4f}{p:10.3f}{fmt(pc):>11s}{fmt(pe)}")
        return "\n".join(rows)

    def tidy(self) -> pd.DataFrame:
        """The same frame as :meth:`to_frame` (a test is not a regression: no coefficients, no intervals)."""
        return self.to_frame()

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<KSResult D={self.d:.4g}, p={self.p_value:.3g} (n1={self.n1}, n2={self.n2})>"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"


def _sample(x, name: str) -> np.ndarray:
    try:
        if isinstance(x, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
            x = pd.to_numeric(pd.Series(x)).to_numpy(dtype=float, na_value=np.nan)  # pd.NA -> NaN, caught below
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"ks_2samp: sample {name} is not numeric ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"ks_2samp: sample {name} must be 1-d, got {arr.ndim} dimension(s)")
    if arr.size == 0:
        raise ValueError(f"ks_2samp: sample {name} is empty")
    nan = np.isnan(arr)
    if nan.any():
        where = np.flatnonzero(nan)
        raise ValueError(f"ks_2samp: sample {name} holds {where.size} NaN value(s), first at position "
                         f"{where[:5].tolist()}; drop or impute them first")
    return arr


def ks_2samp(a, b, exact: bool | None = None) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test with Stata's statistics and p-values.

    Parameters
    ----------
    a, b : array_like
        Samples 1 and 2 (1-d, no NaN). Sample 1 plays Stata's group 1.
    exact : bool or None
        Compute exact p-values by lattice-path counting (Stata's ``exact``
        option; O(m n) time). None: when m n <= 10,000.

    Returns
    -------
    KSResult
        D, D+, D- and their p-values; ``summary()`` and ``to_frame()``.

    Raises
    ------
    ValueError
        An empty sample or a NaN value (the message names the sample and position).
    """
    x = np.sort(_sample(a, "a"))
    y = np.sort(_sample(b, "b"))
    m, n = x.size, y.size
    stat = _core.ks_sorted(x, y)
    p = float(ks_pvalue_two_sided(stat["d"], m, n))
    extra = {}
    if exact is None:
        exact = m * n <= EXACT_AUTO_LIMIT
    if exact and m * n > EXACT_MAX_WORK:
        raise ValueError(f"ks_2samp: exact p-values take O(m n) steps and m n = {m * n:,} exceeds "
                         f"{EXACT_MAX_WORK:,}; use the asymptotic p-values (exact=False)")
    if exact:
        h_two = max(stat["plus_num"], -stat["minus_num"])
        extra = dict(
            p_exact=_core.ks_exact_pvalue(m, n, h_two, "two-sided"),
            p_plus_exact=_core.ks_exact_pvalue(m, n, stat["plus_num"], "plus"),
            p_minus_exact=_core.ks_exact_pvalue(m, n, -stat["minus_num"], "minus"),
        )
    return KSResult(
        d=stat["d"], d_plus=stat["d_plus"], d_minus=stat["d_minus"],
        p_value=p,
        p_plus=float(ks_pvalue_one_sided(stat["d_plus"], m, n)),
        p_minus=float(ks_pvalue_one_sided(stat["d_minus"], m, n)),
        p_corrected=float(ks_pvalue_corrected(p, m, n)),
        n1=m, n2=n, **extra,
    )


# ---------------------------------------------------------------------------
# many comparisons


def sorted_groups(values: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather values into blocks by group code and sort each block once.

    Parameters
    ----------
    values : numpy.ndarray
        float64 values; those kept must not be NaN.
    group : numpy.ndarray
        int64 codes in [0, n_groups), or -1 for values left out.
    n_groups : int
        Number of groups.

    Returns
    -------
    sorted_values, offsets : numpy.ndarray
        Group g is ``sorted_values[offsets[g]:offsets[g + 1]]``, ascending:
        the input of :func:`ks_batch`.
    """
    gathered, offsets = _core.ks_gather_groups(np.ascontiguousarray(values, dtype=float),
                                               np.ascontiguousarray(group, dtype=np.int64), n_groups)
    for g in range(n_groups):
        gathered[offsets[g]:offsets[g + 1]].sort()  # numpy's vectorised sort, in place
    return gathered, offsets


def ks_batch(sorted_values: np.ndarray, offsets: np.ndarray, first, second, threads: int = 0) -> pd.DataFrame:
    """Statistics of many comparisons of pre-sorted groups, in one parallel C++ call.

    Parameters
    ----------
    sorted_values, offsets : numpy.ndarray
        Ascending blocks as returned by :func:`sorted_groups`.
    first, second : array_like of int
        Comparison c sets group ``first[c]`` (sample 1) against ``second[c]`` (sample 2).
    threads : int
        OpenMP threads (0: default); results do not depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per comparison: ``n1``, ``n2``, ``d``, ``d_plus``, ``d_minus`` and
        Stata's asymptotic p-values ``p``, ``p_plus``, ``p_minus``, ``p_corrected``.
    """
    first = np.ascontiguousarray(first, dtype=np.int64)
    second = np.ascontiguousarray(second, dtype=np.int64)
    stat = _core.ks_batch(sorted_values, offsets, first, second, threads)
    sizes = np.diff(offsets)
    n1, n2 = sizes[first], sizes[second]
    p = ks_pvalue_two_sided(stat["d"], n1, n2)
    return pd.DataFrame({
        "n1": n1, "n2": n2, "d": stat["d"], "d_plus": stat["d_plus"], "d_minus": stat["d_minus"],
        "p": p, "p_plus": ks_pvalue_one_sided(stat["d_plus"], n1, n2),
        "p_minus": ks_pvalue_one_sided(stat["d_minus"], n1, n2), "p_corrected": ks_pvalue_corrected(p, n1, n2),
    })
