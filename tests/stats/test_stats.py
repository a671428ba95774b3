"""Kolmogorov-Smirnov kernel, Stata's p-values and the dominance table (Table 2 of the agglomeration paper)."""

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from sez import _core
from sez.stats import (
    dominance_verdict,
    ks_2samp,
    ks_batch,
    ks_pvalue_one_sided,
    ks_pvalue_two_sided,
    sorted_groups,
)

# Statistics are ratios of integers: ours is the correctly rounded rational
# (numerator / (m n)); scipy's is i/m - j/n in floating point, a few ulps off.
STAT_ATOL = 1e-12


def random_case(rng):
    """Two samples of unequal random sizes; about half the cases are heavily tied."""
    m, n = rng.integers(1, 300, size=2)
    shift = rng.normal(scale=0.5)
    a, b = rng.normal(size=m), rng.normal(loc=shift, size=n)
    if rng.random() < 0.5:  # ties within and across samples
        grid = rng.choice([0.5, 0.25, 1.0])
        a, b = np.round(a / grid) * grid, np.round(b / grid) * grid
    return a, b


# ---------------------------------------------------------------------------
# statistics


def test_statistics_equal_scipy_on_random_cases_with_ties():
    rng = np.random.default_rng(20240601)
    tied_cases = 0
    for _ in range(300):
        a, b = random_case(rng)
        tied_cases += np.unique(np.concatenate([a, b])).size < a.size + b.size
        res = ks_2samp(a, b, exact=False)
        two = scipy.stats.ks_2samp(a, b, method="asymp")
        greater = scipy.stats.ks_2samp(a, b, alternative="greater", method="asymp")
        less = scipy.stats.ks_2samp(a, b, alternative="less", method="asymp")
        assert res.d == pytest.approx(two.statistic, abs=STAT_ATOL)
        # scipy's 'greater' statistic is max(F1 - F2) = D+; its 'less' statistic is
        # max(F2 - F1) returned unsigned, i.e. -D-
        assert res.d_plus == pytest.approx(greater.statistic, abs=STAT_ATOL)
        assert res.d_minus == pytest.approx(-less.statistic, abs=STAT_ATOL)
        assert res.d_plus >= 0 >= res.d_minus
        assert res.d == max(res.d_plus, -res.d_minus)
    assert tied_cases > 100  # the ties branch of the merge walk was exercised


def test_sign_convention_follows_stata():
    # sample 1 holds smaller values: F1 lies above F2, so D+ is large and D- is 0
    rng = np.random.default_rng(1)
    low, high = rng.normal(size=500), rng.normal(loc=1.0, size=400)
    res = ks_2samp(low, high)
    assert res.d_plus > 0.3
    assert res.d_minus == pytest.approx(0.0, abs=0.01)
    assert res.p_plus < 1e-10 and res.p_minus > 0.9
    swapped = ks_2samp(high, low)
    assert swapped.d_minus == pytest.approx(-res.d_plus, abs=STAT_ATOL)
    assert swapped.d_plus == pytest.approx(-res.d_minus, abs=STAT_ATOL)


def test_ties_evaluated_at_distinct_values():
    # By hand: at 1: F1 = 1/2, F2 = 1/3; at 2: F1 = 1, F2 = 2/3; at 3: both 1.
    # Evaluating inside a run of ties would give the spurious D+ = 1/2 - 0 at 1.
    res = ks_2samp([1.0, 2.0], [1.0, 2.0, 3.0], exact=False)
    assert res.d_plus == pytest.approx(1 / 3, abs=1e-15)
    assert res.d_minus == 0.0
    same = ks_2samp([1.0, 1.0, 2.0], [2.0, 1.0, 1.0], exact=False)
    assert same.d == 0.0 and same.p_value == 1.0


def test_batch_matches_single_comparisons_and_ignores_thread_count():
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 3000, size=12)
    values = np.concatenate([np.round(rng.normal(loc=rng.normal(), size=s), 2) for s in sizes])
    group = np.repeat(np.arange(12), sizes)
    group[rng.random(group.size) < 0.05] = -1  # rows left out
    order = rng.permutation(group.size)
    values, group = values[order], group[order]
    first = rng.integers(0, 12, size=40)
    second = rng.integers(0, 12, size=40)
    sorted_values, offsets = sorted_groups(values, group, 12)
    assert np.array_equal(np.diff(offsets), np.bincount(group[group >= 0], minlength=12))
    for g in range(12):
        np.testing.assert_array_equal(sorted_values[offsets[g]:offsets[g + 1]], np.sort(values[group == g]))
    results = [_core.ks_batch(sorted_values, offsets, first, second, threads) for threads in (1, 2, 3)]
    for other in results[1:]:
        for key in ("d", "d_plus", "d_minus", "plus_num", "minus_num"):
            np.testing.assert_array_equal(results[0][key], other[key])  # bit-identical
    table = ks_batch(sorted_values, offsets, first, second)
    for c in range(40):
        single = ks_2samp(values[group == first[c]], values[group == second[c]], exact=False)
        assert results[0]["d_plus"][c] == single.d_plus
        assert results[0]["d_minus"][c] == single.d_minus
        assert table["p"][c] == single.p_value and table["p_minus"][c] == single.p_minus


# ---------------------------------------------------------------------------
# p-values


def stata_two_sided(d, m, n):
    """Stata's combined p-value, written out term by term."""
    A = m * n / (m + n)
    total = 0.0
    for i in range(1, 6):
        total += (-1) ** (i - 1) * math.exp(-2 * i * i * A * d * d)
    return min(1.0, 2 * total)


def stata_corrected(p, m, n):
    A = m * n / (m + n)
    z = scipy.stats.norm.ppf(p) + 1.04 / min(m, n) + 2.09 / max(m, n) - 1.35 / math.sqrt(A)
    return scipy.stats.norm.cdf(z)


def test_pvalues_follow_statas_formulas():
    rng = np.random.default_rng(11)
    for _ in range(100):
        a, b = random_case(rng)
        m, n = a.size, b.size
        res = ks_2samp(a, b, exact=False)
        # the formulas are evaluated independently in double precision; 1e-12
        # allows for the different order of the same floating-point operations
        assert res.p_value == pytest.approx(stata_two_sided(res.d, m, n), rel=1e-12, abs=1e-15)
        assert res.p_plus == pytest.approx(math.exp(-2 * m * n / (m + n) * res.d_plus**2), rel=1e-12)
        assert res.p_minus == pytest.approx(math.exp(-2 * m * n / (m + n) * res.d_minus**2), rel=1e-12)
        if 0 < res.p_value < 1:
            assert res.p_corrected == pytest.approx(stata_corrected(res.p_value, m, n), rel=1e-10)


# Table 2 of the agglomeration paper: panel, year, n_A, n_B, D, D+, D-, p, p+, p-
PAPER_TABLE2 = """
a 2001 110737 36455 0.026 0.026 -0.002 0.000 0.000 0.800
a 2002 116730 40991 0.014 0.014 -0.007 0.000 0.000 0.081
a 2003 125958 46469 0.014 0.003 -0.014 0.000 0.578 0.000
a 2004 179820 72039 0.042 0 -0.042 0.000 0.998 0.000
a 2005 176499 70514 0.03 0 -0.03 0.000 0.996 0.000
a 2006 202338 74299 0.038 0 -0.038 0.000 0.998 0.000
a 2007 236211 74820 0.075 0 -0.075 0.000 0.999 0.000
b 2001 17452 4180 0.037 0.005 -0.037 0.000 0.825 0.000
b 2002 17379 4178 0.042 0.013 -0.042 0.000 0.349 0.000
b 2003 18397 4340 0.049 0 -0.049 0.000 1.000 0.000
b 2004 18283 4729 0.078 0 -0.078 0.000 1.000 0.000
b 2005 18534 4987 0.071 0 -0.071 0.000 1.000 0.000
b 2006 18973 4863 0.087 0 -0.087 0.000 1.000 0.000
b 2007 20085 4147 0.161 0.001 -0.161 0.000 0.997 0.000
c 2001 36455 4180 0.108 0.108 -0.008 0.000 0.000 0.606
c 2002 40991 4178 0.132 0.132 -0.013 0.000 0.000 0.276
c 2003 46469 4340 0.142 0.142 -0.011 0.000 0.000 0.384
c 2004 72039 4729 0.168 0.168 -0.017 0.000 0.000 0.082
c 2005 70514 4987 0.181 0.181 -0.013 0.000 0.000 0.201
c 2006 74299 4863 0.188 0.188 -0.011 0.000 0.000 0.345
c 2007 74820 4147 0.181 0.181 -0.014 0.000 0.000 0.195
d 2001 110737 17452 0.131 0.131 0 0.000 0.000 1.000
d 2002 116730 17379 0.123 0.123 0 0.000 0.000 1.000
d 2003 125958 18397 0.145 0.145 0 0.000 0.000 1.000
d 2004 179820 18283 0.188 0.188 0 0.000 0.000 1.000
d 2005 176499 18534 0.209 0.209 0 0.000 0.000 1.000
d 2006 202338 18973 0.229 0.229 0 0.000 0.000 1.000
d 2007 236211 20085 0.257 0.257 0 0.000 0.000 1.000
"""


def paper_table2():
    rows = [line.split() for line in PAPER_TABLE2.strip().splitlines()]
    df = pd.DataFrame(rows, columns=["panel", "year", "n_a", "n_b", "d", "d_plus", "d_minus", "p", "p_plus", "p_minus"])
    return df.astype({c: float for c in df.columns[2:]}).astype({"year": int, "n_a": int, "n_b": int})


def test_hand_checked_cell_of_table2():
    # panel (a) 2001: D- = -0.002, groups of 110,737 and 36,455, printed p = 0.800
    m, n = 110_737, 36_455
    p = float(ks_pvalue_one_sided(-0.002, m, n))
    assert p == pytest.approx(math.exp(-2 * (m * n / (m + n)) * 0.002**2), rel=1e-14)
    assert p == pytest.approx(0.803, abs=0.0005)  # what the formula gives at the rounded D
    # the printed p is consistent with the printed D: the D behind p = 0.800 rounds to 0.002
    d_behind = math.sqrt(-math.log(0.800) / (2 * m * n / (m + n)))
    assert round(d_behind, 3) == 0.002


def test_one_sided_pvalues_of_table2_fit_the_formula_within_rounding():
    """Every printed one-sided p-value lies in the range our formula gives over the
    statistic's rounding interval [|D| - 0.0005, |D| + 0.0005] (p printed to 3 decimals)."""
    table = paper_table2()
    misfits = []
    for row in table.itertuples():
        for d, p_printed in ((row.d_plus, row.p_plus), (row.d_minus, row.p_minus)):
            low = ks_pvalue_one_sided(abs(d) + 0.0005, row.n_a, row.n_b)
            high = ks_pvalue_one_sided(max(abs(d) - 0.0005, 0.0), row.n_a, row.n_b)
            if not low - 0.0005 <= p_printed <= high + 0.0005:
                misfits.append((row.panel, row.year, d, p_printed))
        # two-sided: every D in the table is far out in the tail
        assert ks_pvalue_two_sided(row.d - 0.0005, row.n_a, row.n_b) < 0.0005
    # One printed cell does not fit: panel (a) 2002, D- = -0.007 with p = 0.081; p = 0.081
    # needs |D| = 0.0064 (printed as 0.006), while |D| in [0.0065, 0.0075] gives p in [0.033, 0.077].
    assert misfits == [("a", 2002, -0.007, 0.081)]


def test_verdicts_reproduce_the_papers_reading_of_table2():
    table = paper_table2()
    verdict = dominance_verdict(table["p"], table["p_plus"], table["p_minus"], alpha=0.05)
    table["verdict"] = verdict
    by_panel = table.groupby("panel")["verdict"].apply(list).to_dict()
    # (a) domestic firms dominate exporters in non-agglomerated regions except in 2001 and 2002
    assert by_panel["a"] == ["B dominates A"] * 2 + ["A dominates B"] * 5
    # (b) domestic firms dominate exporters in agglomerated regions
    assert by_panel["b"] == ["A dominates B"] * 7
    # (c), (d) firms in agglomerated regions dominate those in non-agglomerated regions
    assert by_panel["c"] == ["B dominates A"] * 7
    assert by_panel["d"] == ["B dominates A"] * 7


def test_verdict_rule_cases():
    verdict = dominance_verdict([0.2, 0.01, 0.01, 0.01, 0.01], [0.1, 0.5, 0.001, 0.001, 0.3],
                                [0.3, 0.001, 0.5, 0.001, 0.3], alpha=0.05)
    assert verdict.tolist() == ["no difference", "A dominates B", "B dominates A", "crossing", "inconclusive"]


def test_exact_pvalues_equal_scipy_without_ties():
    rng = np.random.default_rng(5)
    compared = 0
    for _ in range(120):
        m, n = rng.integers(1, 40, size=2)
        if rng.random() < 0.2:
            n = m  # scipy takes another route for equal sizes
        a, b = rng.normal(size=m), rng.normal(loc=rng.normal(scale=0.7), size=n)
        res = ks_2samp(a, b, exact=True)
        # the same null distribution computed by two algorithms: agreement to rounding
        for ours, alternative in ((res.p_exact, "two-sided"), (res.p_plus_exact, "greater"),
                                  (res.p_minus_exact, "less")):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                theirs = scipy.stats.ks_2samp(a, b, alternative=alternative, method="exact").pvalue
            if caught:  # scipy fell back to its asymptotic p-value: not a comparison of exact values
                continue
            compared += 1
            assert ours == pytest.approx(theirs, abs=1e-12)
    assert compared > 300


def test_exact_pvalue_by_enumeration():
    # m = n = 2: the C(4, 2) = 6 splits of the pooled values are equally likely under
    # H0; the exact p is the share of splits whose D reaches the observed one
    from itertools import combinations
    a, b = [1.0, 3.0], [2.0, 4.0]
    observed = ks_2samp(a, b, exact=True)
    pooled = np.array(a + b)
    reach = 0
    orders = list(combinations(range(4), 2))
    for idx in orders:
        rest = [k for k in range(4) if k not in idx]
        reach += ks_2samp(pooled[list(idx)], pooled[rest], exact=False).d >= observed.d - 1e-12
    assert observed.p_exact == pytest.approx(reach / len(orders), abs=1e-14)
    assert ks_2samp(a, b).exact  # small samples get exact p-values by default
    assert not ks_2samp(np.arange(200.0), np.arange(100.0)).exact


def test_bad_input_errors():
    with pytest.raises(ValueError, match="sample a is empty"):
        ks_2samp([], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"sample b holds 1 NaN value\(s\), first at position \[2\]"):
        ks_2samp([1.0, 2.0], [1.0, 2.0, np.nan])
    with pytest.raises(ValueError, match="not sorted"):
        _core.ks_sorted(np.array([2.0, 1.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="NaN at index 1"):
        sorted_groups(np.array([1.0, np.nan]), np.array([0, 0]), 1)
    with pytest.raises(ValueError, match="group code 2 at index 0 is outside"):
        sorted_groups(np.array([1.0]), np.array([2]), 2)
    sorted_values, offsets = sorted_groups(np.array([1.0, 2.0]), np.array([0, 0]), 2)
    with pytest.raises(ValueError, match="empty group"):
        ks_batch(sorted_values, offsets, [0], [1])
    with pytest.raises(ValueError, match="group 0 is not sorted"):
        ks_batch(np.array([2.0, 1.0]), offsets, [0], [0])


def test_stata_manual_ksmirnov_example(reference_output):
    """The manual's Example 1 of [R] ksmirnov, listing and output parsed from the stored log: our D+, D-, D,
    asymptotic and corrected p-values against Stata's printed ones (to their three decimals)."""
    log = reference_output("stata", "ksmirnov_example1.log").read_text(encoding="utf-8")
    rows = re.findall(r"^\s+\d+\. \|\s+(\d+)\s+(\d+) \|$", log, flags=re.M)
    group = np.array([int(g) for g, _ in rows])
    x = np.array([float(v) for _, v in rows])
    printed = {label: [float(v) for v in values.split()] for label, values in
               re.findall(r"^ (1|2|Combined K-S):\s+([-\d. ]+)$", log, flags=re.M)}
    res = ks_2samp(x[group == 1], x[group == 2], exact=False)
    assert len(rows) == 7 and set(printed) == {"1", "2", "Combined K-S"}
    assert res.d_plus == pytest.approx(printed["1"][0], abs=5e-5)
    assert res.d_minus == pytest.approx(printed["2"][0], abs=5e-5)
    assert res.d == pytest.approx(printed["Combined K-S"][0], abs=5e-5)
    assert res.p_plus == pytest.approx(printed["1"][1], abs=5e-4)
    assert res.p_minus == pytest.approx(printed["2"][1], abs=5e-4)
    assert res.p_value == pytest.approx(printed["Combined K-S"][1], abs=5e-4)
    assert res.p_corrected == pytest.approx(printed["Combined K-S"][2], abs=5e-4)
