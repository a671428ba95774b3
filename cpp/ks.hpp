// Two-sample Kolmogorov-Smirnov statistics on sorted samples. Pure C++.
//
// Sign convention of Stata's ksmirnov, with sample 1 as group 1:
//   D+ = max_x (F1(x) - F2(x)) >= 0,  D- = min_x (F1(x) - F2(x)) <= 0,
//   D  = max(D+, -D-).
// The empirical CDFs are evaluated at each distinct value of the pooled
// sample, so tied values move both CDFs before the difference is taken.
//
// Differences are kept as exact integers, i * n - j * m for i values of
// sample 1 and j of sample 2 at or below x, and divided by m * n once at the
// end: the statistic is the correctly rounded rational number, and no result
// can depend on the order in which threads finish.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "parallel.hpp"

namespace sez {

struct KsStatistic {
    std::int64_t plus_num = 0;   // max (i n - j m) >= 0: D+ times m n
    std::int64_t minus_num = 0;  // min (i n - j m) <= 0: D- times m n
    double d_plus = 0.0;
    double d_minus = 0.0;
    double d = 0.0;
};

// Largest sample sizes whose products m * n still fit the int64 numerators.
inline void check_ks_sizes(std::int64_t m, std::int64_t n) {
    if (m <= 0 || n <= 0) throw std::invalid_argument("both samples need at least one value");
    if (static_cast<double>(m) * static_cast<double>(n) > 4.0e18)
        throw std::invalid_argument("samples too large: m * n must stay below 4e18");
}

// Merge walk over two ascending samples a (m values) and b (n values).
// Between direction changes the difference moves monotonically, so it only
// needs evaluating at the end of each run of one sample's values and after
// each tied value shared by both.
inline KsStatistic ks_sorted(const double* a, std::int64_t m, const double* b, std::int64_t n) {
    std::int64_t i = 0, j = 0, best_plus = 0, best_minus = 0;
    while (i < m && j < n) {
        const double ai = a[i], bj = b[j];
        if (ai < bj) {
            while (i < m && a[i] < bj) ++i;  // F1 - F2 rises through this run
            best_plus = std::max(best_plus, i * n - j * m);
        } else if (bj < ai) {
            while (j < n && b[j] < ai) ++j;  // F1 - F2 falls through this run
            best_minus = std::min(best_minus, i * n - j * m);
        } else {
            while (i < m && a[i] == ai) ++i;  // a tie moves both CDFs at once
            while (j < n && b[j] == ai) ++j;
            const std::int64_t diff = i * n - j * m;
            best_plus = std::max(best_plus, diff);
            best_minus = std::min(best_minus, diff);
        }
    }
    // Once one sample is used up the difference moves monotonically to 0, so
    // the extremes are already recorded.
    KsStatistic s;
    s.plus_num = best_plus;
    s.minus_num = best_minus;
    const double mn = static_cast<double>(m) * static_cast<double>(n);
    s.d_plus = static_cast<double>(best_plus) / mn;
    s.d_minus = static_cast<double>(best_minus) / mn;
    s.d = std::max(s.d_plus, -s.d_minus);
    return s;
}

// Index of the first NaN, or -1.
inline std::int64_t first_nan(const double* x, std::int64_t n) {
    for (std::int64_t k = 0; k < n; ++k)
        if (std::isnan(x[k])) return k;
    return -1;
}

// Index of the first value below its predecessor, or -1.
inline std::int64_t first_unsorted(const double* x, std::int64_t n) {
    for (std::int64_t k = 1; k < n; ++k)
        if (x[k] < x[k - 1]) return k;
    return -1;
}

// Gathers values into contiguous blocks by group, keeping their order within
// a group: group[k] in [0, n_groups) or -1 (left out). Writes the blocks to
// `gathered` (capacity: number of kept values) and their bounds to `offsets`
// (n_groups + 1). Each block is then sorted once (numpy's vectorised sort
// does that several times faster than std::sort) and reused by every
// comparison its group enters. One counting pass and one scatter: O(n).
inline void ks_gather_groups(const double* values, const std::int64_t* group, std::int64_t n, std::int64_t n_groups,
                             double* gathered, std::int64_t* offsets) {
    std::fill(offsets, offsets + n_groups + 1, 0);
    for (std::int64_t k = 0; k < n; ++k)
        if (group[k] >= 0) ++offsets[group[k] + 1];
    for (std::int64_t g = 0; g < n_groups; ++g) offsets[g + 1] += offsets[g];
    std::vector<std::int64_t> cursor(offsets, offsets + n_groups);
    for (std::int64_t k = 0; k < n; ++k)
        if (group[k] >= 0) gathered[cursor[group[k]]++] = values[k];
}

// Many comparisons at once: comparison c sets group first[c] (sample 1)
// against group second[c] (sample 2), both ascending blocks of `sorted` laid
// out as by ks_gather_groups. Parallel across comparisons; each comparison is computed by
// one thread in the same way whatever the thread count.
inline void ks_batch(const double* sorted, const std::int64_t* offsets, const std::int64_t* first,
                     const std::int64_t* second, std::int64_t n_comparisons, KsStatistic* out, int threads) {
    long work = 0;
    for (std::int64_t c = 0; c < n_comparisons; ++c)
        work += static_cast<long>(offsets[first[c] + 1] - offsets[first[c]] + offsets[second[c] + 1] -
                                  offsets[second[c]]);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_for(work, threads))
    for (std::int64_t c = 0; c < n_comparisons; ++c) {
        const std::int64_t a0 = offsets[first[c]], a1 = offsets[first[c] + 1];
        const std::int64_t b0 = offsets[second[c]], b1 = offsets[second[c] + 1];
        out[c] = ks_sorted(sorted + a0, a1 - a0, sorted + b0, b1 - b0);
    }
}

enum class KsAlternative { two_sided, plus, minus };

// Exact null probability that the statistic reaches the observed one, by
// counting lattice paths (Hodges 1957): under H0 with no ties, every order of
// the m + n pooled values is equally likely, i.e. every monotone path from
// (0, 0) to (m, n). A path "stays inside" while each visited point (i, j)
// keeps the difference below the observed numerator h:
//   two-sided |i n - j m| < h,  plus  i n - j m < h,  minus  j m - i n < h.
// The walk carries probabilities instead of counts (a step to i + 1 has
// probability (m - i) / (m - i + n - j)), so nothing overflows, and returns
// 1 - P(stay inside). O(m n) time, O(n) memory.
inline double ks_exact_pvalue(std::int64_t m, std::int64_t n, std::int64_t h, KsAlternative alt) {
    check_ks_sizes(m, n);
    if (h <= 0) return 1.0;
    auto inside = [&](std::int64_t i, std::int64_t j) {
        const std::int64_t diff = i * n - j * m;
        switch (alt) {
            case KsAlternative::plus: return diff < h;
            case KsAlternative::minus: return -diff < h;
            default: return diff < h && -diff < h;
        }
    };
    std::vector<double> row(static_cast<size_t>(n) + 1, 0.0);
    // row 0: only steps in j
    row[0] = 1.0;
    for (std::int64_t j = 1; j <= n; ++j) {
        const double step = static_cast<double>(n - j + 1) / static_cast<double>(m + n - j + 1);
        row[j] = inside(0, j) ? row[j - 1] * step : 0.0;
    }
    for (std::int64_t i = 1; i <= m; ++i) {
        // arriving from (i - 1, j) by a step in i
        for (std::int64_t j = 0; j <= n; ++j) {
            const double remaining = static_cast<double>(m - i + 1 + n - j);
            row[j] *= static_cast<double>(m - i + 1) / remaining;
        }
        // then from (i, j - 1) by a step in j, left to right
        for (std::int64_t j = 0; j <= n; ++j) {
            if (j > 0) {
                const double remaining = static_cast<double>(m - i + n - j + 1);
                row[j] += row[j - 1] * static_cast<double>(n - j + 1) / remaining;
            }
            if (!inside(i, j)) row[j] = 0.0;
        }
    }
    return std::min(1.0, std::max(0.0, 1.0 - row[static_cast<size_t>(n)]));
}

}  // namespace sez
