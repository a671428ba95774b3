// Python bindings of the Kolmogorov-Smirnov kernels: numpy arrays in, numpy
// arrays or dicts out. Inputs are checked while the GIL is held; the GIL is
// released exactly around the C++ loops.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bind_common.hpp"
#include "ks.hpp"

namespace py = pybind11;

namespace {

using namespace sez_bind;

void require_finite_sorted(const darr& x, const char* name) {
    const std::int64_t bad_nan = sez::first_nan(x.data(), x.shape(0));
    require(bad_nan < 0, std::string(name) + " holds NaN at index " + std::to_string(bad_nan));
    const std::int64_t bad_order = sez::first_unsorted(x.data(), x.shape(0));
    require(bad_order < 0, std::string(name) + " is not sorted ascending at index " + std::to_string(bad_order));
}

sez::KsAlternative parse_alternative(const std::string& alternative) {
    return sez::choose<sez::KsAlternative>("alternative", alternative,
                                           {{"two-sided", sez::KsAlternative::two_sided},
                                            {"plus", sez::KsAlternative::plus},
                                            {"minus", sez::KsAlternative::minus}});
}

// The statistics' fields as a dict: of numbers (one statistic) or of arrays (many).
py::dict statistic_dict(const py::object& d, const py::object& d_plus, const py::object& d_minus,
                        const py::object& plus_num, const py::object& minus_num) {
    return make_dict({{"d", d}, {"d_plus", d_plus}, {"d_minus", d_minus}, {"plus_num", plus_num},
                      {"minus_num", minus_num}});
}

py::dict ks_sorted(darr a, darr b) {
    require_ndim(a, 1, "a");
    require_ndim(b, 1, "b");
    require_finite_sorted(a, "a");
    require_finite_sorted(b, "b");
    sez::check_ks_sizes(a.shape(0), b.shape(0));
    sez::KsStatistic s;
    {
        py::gil_scoped_release nogil;
        s = sez::ks_sorted(a.data(), a.shape(0), b.data(), b.shape(0));
    }
    return statistic_dict(py::cast(s.d), py::cast(s.d_plus), py::cast(s.d_minus), py::cast(s.plus_num),
                          py::cast(s.minus_num));
}

py::tuple ks_gather_groups(darr values, i64arr group, std::int64_t n_groups) {
    require_ndim(values, 1, "values");
    require_ndim(group, 1, "group");
    require(values.shape(0) == group.shape(0), "values and group must have the same length");
    require(n_groups >= 1, "n_groups must be >= 1");
    const std::int64_t n = values.shape(0);
    auto g = group.unchecked<1>();
    std::int64_t kept = 0;
    // messages are built only on failure: this loop runs over every value
    for (std::int64_t k = 0; k < n; ++k) {
        if (g(k) < -1 || g(k) >= n_groups)
            throw std::invalid_argument("group code " + std::to_string(g(k)) + " at index " + std::to_string(k) +
                                        " is outside [-1, " + std::to_string(n_groups) + ")");
        if (g(k) >= 0) {
            if (std::isnan(values.data()[k]))
                throw std::invalid_argument("values holds NaN at index " + std::to_string(k));
            ++kept;
        }
    }
    darr gathered(kept);
    i64arr offsets(n_groups + 1);
    {
        py::gil_scoped_release nogil;
        sez::ks_gather_groups(values.data(), group.data(), n, n_groups, gathered.mutable_data(),
                              offsets.mutable_data());
    }
    return py::make_tuple(gathered, offsets);
}

py::dict ks_batch(darr sorted, i64arr offsets, i64arr first, i64arr second, int threads) {
    require_ndim(sorted, 1, "sorted");
    require_ndim(offsets, 1, "offsets");
    require_ndim(first, 1, "first");
    require_ndim(second, 1, "second");
    require(first.shape(0) == second.shape(0), "first and second must have the same length");
    require(threads >= 0, "threads must be >= 0 (0: OpenMP default)");
    const std::int64_t n_groups = offsets.shape(0) - 1;
    require(n_groups >= 1, "offsets needs at least 2 entries");
    auto off = offsets.unchecked<1>();
    require(off(0) == 0 && off(n_groups) == sorted.shape(0), "offsets must run from 0 to len(sorted)");
    for (std::int64_t g = 0; g < n_groups; ++g) {
        require(off(g + 1) >= off(g), "offsets must be non-decreasing");
        const std::int64_t bad = sez::first_unsorted(sorted.data() + off(g), off(g + 1) - off(g));
        require(bad < 0, "group " + std::to_string(g) + " is not sorted ascending");
    }
    const std::int64_t n_cmp = first.shape(0);
    auto f = first.unchecked<1>();
    auto s = second.unchecked<1>();
    for (std::int64_t c = 0; c < n_cmp; ++c) {
        require(f(c) >= 0 && f(c) < n_groups && s(c) >= 0 && s(c) < n_groups,
                "comparison " + std::to_string(c) + " names a group outside [0, " + std::to_string(n_groups) + ")");
        const std::int64_t m = off(f(c) + 1) - off(f(c)), n = off(s(c) + 1) - off(s(c));
        require(m > 0 && n > 0, "comparison " + std::to_string(c) + " has an empty group (" +
                                    std::to_string(m == 0 ? f(c) : s(c)) + ")");
        sez::check_ks_sizes(m, n);
    }
    std::vector<sez::KsStatistic> stats(static_cast<size_t>(n_cmp));
    {
        py::gil_scoped_release nogil;
        sez::ks_batch(sorted.data(), offsets.data(), first.data(), second.data(), n_cmp, stats.data(), threads);
    }
    darr d(n_cmp), d_plus(n_cmp), d_minus(n_cmp);
    i64arr plus_num(n_cmp), minus_num(n_cmp);
    for (std::int64_t c = 0; c < n_cmp; ++c) {
        d.mutable_data()[c] = stats[c].d;
        d_plus.mutable_data()[c] = stats[c].d_plus;
        d_minus.mutable_data()[c] = stats[c].d_minus;
        plus_num.mutable_data()[c] = stats[c].plus_num;
        minus_num.mutable_data()[c] = stats[c].minus_num;
    }
    return statistic_dict(d, d_plus, d_minus, plus_num, minus_num);
}

double ks_exact_pvalue(std::int64_t m, std::int64_t n, std::int64_t h, const std::string& alternative) {
    const sez::KsAlternative alt = parse_alternative(alternative);
    sez::check_ks_sizes(m, n);
    require(h >= 0, "h (the statistic times m n) must be >= 0");
    py::gil_scoped_release nogil;
    return sez::ks_exact_pvalue(m, n, h, alt);
}

}  // namespace

void bind_stats(py::module_& m) {
    m.def("ks_sorted", &ks_sorted, py::arg("a"), py::arg("b"),
          "Two-sample Kolmogorov-Smirnov statistics of two ascending samples without NaN.\n\n"
          "Returns a dict: d_plus = max(F1 - F2) >= 0, d_minus = min(F1 - F2) <= 0, d = max(d_plus, -d_minus),\n"
          "and the exact integer numerators plus_num = d_plus * m * n, minus_num = d_minus * m * n.\n"
          "The empirical CDFs are evaluated at each distinct pooled value (ties move both).");
    m.def("ks_gather_groups", &ks_gather_groups, py::arg("values"), py::arg("group"), py::arg("n_groups"),
          "Gather values into contiguous blocks by group code (0 .. n_groups - 1; -1 leaves a value out).\n\n"
          "Returns (gathered, offsets): group g occupies gathered[offsets[g]:offsets[g + 1]] in input order;\n"
          "sort each block once (in place) before ks_batch. Kept values must not be NaN.");
    m.def("ks_batch", &ks_batch, py::arg("sorted"), py::arg("offsets"), py::arg("first"), py::arg("second"),
          py::arg("threads") = 0,
          "Kolmogorov-Smirnov statistics of many comparisons of pre-sorted groups (blocks as from ks_gather_groups).\n\n"
          "Comparison c sets group first[c] (sample 1) against group second[c] (sample 2). Parallel across\n"
          "comparisons. Returns a dict of arrays d, d_plus, d_minus, plus_num, minus_num (see ks_sorted).");
    m.def("ks_exact_pvalue", &ks_exact_pvalue, py::arg("m"), py::arg("n"), py::arg("h"),
          py::arg("alternative") = "two-sided",
          "Exact p-value of the two-sample statistic by lattice-path counting (no ties assumed).\n\n"
          "h is the observed statistic times m n (an integer: plus_num, -minus_num, or max of both).\n"
          "alternative: 'two-sided' P(D >= d), 'plus' P(D+ >= d+), 'minus' P(D- <= d-). O(m n) time.");
}
