// Stochastic growth model of Aruoba & Fernandez-Villaverde (2015), pure C++.
//
//   V(k, z) = max_{k'} (1 - beta) log(z k^alpha - k') + beta sum_{z'} P(z'|z) V(k', z')
//
// with k' restricted to the capital grid. Internally every (k, z) array is
// stored column-major, [z][k], so that the search over k' for one productivity
// state walks contiguous memory; results are written out as (n_k, n_z).
//
// Two facts make the fast searches possible:
//  * monotonicity: log(z k^alpha - k') has strictly increasing differences in
//    (k, k'), so every maximiser at k_{i+1} is >= every maximiser at k_i
//    (Topkis 1978) whatever the continuation values are. Starting the search at
//    the previous point's policy is therefore always exact;
//  * concavity: if EV(., z) is concave in k', so is the whole objective, and the
//    first decline marks the maximum. This one holds only for concave V.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel.hpp"
#include "require.hpp"

namespace sez {

enum class GrowthMethod : int { Grid = 0, Monotone = 1, Howard = 2 };

inline GrowthMethod parse_growth_method(const std::string& name) {
    return choose<GrowthMethod>(
        "method", name, {{"grid", GrowthMethod::Grid}, {"monotone", GrowthMethod::Monotone}, {"howard", GrowthMethod::Howard}});
}

struct GrowthProblem {
    const double* k = nullptr;  // [n_k] capital grid, strictly increasing, > 0
    const double* z = nullptr;  // [n_z] productivity, > 0
    const double* P = nullptr;  // [n_z][n_z] row-stochastic transition
    int n_k = 0, n_z = 0;
    double alpha = 0, beta = 0;
};

struct GrowthReport {
    int iterations = 0;           // Bellman improvements (searches over k')
    bool converged = false;
    std::vector<double> history;  // sup|TV - V| after each improvement
};

// Tolerance on the row sums of P: Markov matrices only, up to rounding.
constexpr double kGrowthRowSumTol = 1e-8;

inline void validate_growth(const GrowthProblem& g) {
    require(g.n_k >= 2, "the capital grid needs at least 2 points");
    require(g.n_z >= 1, "at least one productivity state is needed");
    require(g.alpha > 0 && g.alpha < 1, "alpha must lie in (0, 1), got " + std::to_string(g.alpha));
    require(g.beta > 0 && g.beta < 1, "beta must lie in (0, 1), got " + std::to_string(g.beta));
    for (int i = 0; i < g.n_k; ++i) {
        require(std::isfinite(g.k[i]) && g.k[i] > 0,
                "capital grid values must be positive and finite (point " + std::to_string(i) + " is " +
                    std::to_string(g.k[i]) + ")");
        require(i == 0 || g.k[i] > g.k[i - 1],
                "the capital grid must be strictly increasing (point " + std::to_string(i) + ")");
    }
    for (int s = 0; s < g.n_z; ++s)
        require(std::isfinite(g.z[s]) && g.z[s] > 0,
                "productivity values must be positive and finite (state " + std::to_string(s) + ")");
    for (int s = 0; s < g.n_z; ++s) {
        double sum = 0.0;
        for (int t = 0; t < g.n_z; ++t) {
            double p = g.P[s * g.n_z + t];
            require(std::isfinite(p) && p >= 0,
                    "P entries must be non-negative (row " + std::to_string(s) + ", column " + std::to_string(t) + ")");
            sum += p;
        }
        require(std::fabs(sum - 1.0) <= kGrowthRowSumTol,
                "P rows must sum to one (row " + std::to_string(s) + " sums to " + std::to_string(sum) + ")");
    }
    // The searches start at the lowest k' for the lowest k, so that choice must be feasible.
    for (int s = 0; s < g.n_z; ++s)
        require(g.z[s] * std::pow(g.k[0], g.alpha) > g.k[0],
                "the lowest grid point leaves no consumption: z k^alpha <= k at k = " + std::to_string(g.k[0]) +
                    " (state " + std::to_string(s) + "); lower the grid");
}

namespace growth_detail {

// Work estimates for threads_for, in elementary steps: a logarithm, and the
// few objective evaluations a monotone search makes per capital point.
constexpr long kLogWork = 16;
constexpr long kSearchWork = 3 * kLogWork;

// EV[z][j] = beta sum_{z'} P[z][z'] V[z'][j]; a fixed summation order per
// element keeps the result independent of the thread count.
inline void expectation(const GrowthProblem& g, const double* V, double* EV, int threads) {
    const int nk = g.n_k, nz = g.n_z;
#pragma omp parallel for schedule(static) num_threads(threads_for(static_cast<long>(nk) * nz * nz, threads))
    for (int j = 0; j < nk; ++j) {
        for (int s = 0; s < nz; ++s) {
            const double* row = g.P + static_cast<size_t>(s) * nz;
            double acc = 0.0;
            for (int t = 0; t < nz; ++t) acc += row[t] * V[static_cast<size_t>(t) * nk + j];
            EV[static_cast<size_t>(s) * nk + j] = g.beta * acc;
        }
    }
}

inline bool is_concave(const double* f, int n) {
    for (int j = 1; j + 1 < n; ++j)
        if (f[j + 1] - f[j] > f[j] - f[j - 1]) return false;
    return true;
}

// Lowest-index best k' for output y among indices j0..j1 (j0 must be
// feasible). With `stop_at_decline` the search ends at the first
// non-improvement, which is exact only for an objective concave in k'.
inline int search(const double* k, const double* EV, double y, double scale, int j0, int j1, bool stop_at_decline,
                  double& best) {
    int jbest = j0;
    best = scale * std::log(y - k[j0]) + EV[j0];
    for (int j = j0 + 1; j <= j1; ++j) {
        double c = y - k[j];
        if (!(c > 0)) break;  // k' beyond output: infeasible here and above
        double f = scale * std::log(c) + EV[j];
        if (f > best) {
            best = f;
            jbest = j;
        } else if (stop_at_decline) {
            break;
        }
    }
    return jbest;
}

// Binary monotonicity (Gordon & Qiu 2018): solve the middle capital point by a
// full scan of [j0, j1], then each half within the bracket that monotonicity
// leaves. Exact without concavity, O(n_k log n_k) evaluations.
inline void search_bisect(const double* k, const double* EV, const double* y, double scale, int i0, int i1, int j0,
                          int j1, double* TV, std::int32_t* pol) {
    if (i0 > i1) return;
    const int i = i0 + (i1 - i0) / 2;
    double best;
    const int j = search(k, EV, y[i], scale, j0, j1, false, best);
    TV[i] = best;
    pol[i] = j;
    search_bisect(k, EV, y, scale, i0, i - 1, j0, j, TV, pol);
    search_bisect(k, EV, y, scale, i + 1, i1, j, j1, TV, pol);
}

}  // namespace growth_detail

// One Bellman improvement: TV and the policy index from EV = beta P V.
// Grid: brute force at every (z, k), parallel over both. Otherwise each
// state's sweep over k is sequential (it starts at the previous point's
// policy), so the parallel unit is the productivity state; the sweep stops at
// the first decline where concave[z] is set and uses binary monotonicity where
// it is not. Every element is computed the same way whatever the thread count.
inline void growth_improve(const GrowthProblem& g, const double* Y, const double* EV, GrowthMethod method,
                           const std::vector<char>& concave, double* TV, std::int32_t* pol, int threads) {
    const int nk = g.n_k, nz = g.n_z;
    const double scale = 1.0 - g.beta;
    if (method == GrowthMethod::Grid) {
        const long n = static_cast<long>(nz) * nk;
#pragma omp parallel for schedule(static) num_threads(threads_for(n * nk, threads))
        for (long c = 0; c < n; ++c) {
            double best;
            pol[c] = growth_detail::search(g.k, EV + (c / nk) * nk, Y[c], scale, 0, nk - 1, false, best);
            TV[c] = best;
        }
        return;
    }
#pragma omp parallel for schedule(static) num_threads(threads_for(static_cast<long>(nz) * nk * growth_detail::kSearchWork, threads))
    for (int s = 0; s < nz; ++s) {
        const size_t col = static_cast<size_t>(s) * nk;
        if (!concave[s]) {
            growth_detail::search_bisect(g.k, EV + col, Y + col, scale, 0, nk - 1, 0, nk - 1, TV + col, pol + col);
            continue;
        }
        int j = 0;
        for (int i = 0; i < nk; ++i) {
            double best;
            j = growth_detail::search(g.k, EV + col, Y[col + i], scale, j, nk - 1, true, best);
            TV[col + i] = best;
            pol[col + i] = j;
        }
    }
}

// Value iteration on the grid from V = 0, as in the published codes; the
// outputs are (n_k, n_z) row-major. "grid" and "monotone" stop when an
// improvement moves V by less than tol.
//
// "howard": policy improvements, each followed by `howard_steps` evaluations
// V <- u(policy) + beta P V(policy) (Howard 1960). Two guards keep it exact:
//  * evaluated values need not be concave (a policy that is not yet optimal
//    leaves convex kinks in V; on the default grid EV is non-concave from the
//    third improvement on), and there the first-decline stop can end on a
//    local maximum, so the improvement is no longer the Bellman operator. So
//    every improvement checks each state's EV for concavity and uses the
//    first-decline stop only where it holds, binary monotonicity elsewhere:
//    each improvement is the exact grid maximisation;
//  * Howard's values approach the fixed point with errors that vary with k,
//    and the objective is so flat in k' on a fine grid that a residual below
//    tol can hide policy errors of a dozen grid steps (16 on the default grid). So it stops only at an
//    improvement that both moves V by less than tol and leaves the policy
//    unchanged, and no evaluation follows that improvement: the returned V is
//    T V_old with sup|T V_old - V_old| < tol and its policy the argmax of T.
// Near the fixed point V is concave, so the final improvements use the cheap
// first-decline search.
inline GrowthReport solve_growth(const GrowthProblem& g, GrowthMethod method, int howard_steps, double tol,
                                 int max_iter, int threads, double* V_out, std::int64_t* policy_out,
                                 double* kprime_out) {
    validate_growth(g);
    if (howard_steps < 0) throw std::invalid_argument("howard_steps must be >= 0");
    if (max_iter < 1) throw std::invalid_argument("max_iter must be >= 1");
    if (!(tol > 0)) throw std::invalid_argument("tol must be positive");

    const int nk = g.n_k, nz = g.n_z;
    const size_t n = static_cast<size_t>(nk) * nz;
    const bool howard = method == GrowthMethod::Howard;
    std::vector<double> Y(n), V(n, 0.0), TV(n), EV(n), U(howard ? n : 0);
    std::vector<std::int32_t> pol(n, 0), pol_prev(howard ? n : 0, 0);
    std::vector<char> concave(nz, 1);
    for (int s = 0; s < nz; ++s)
        for (int i = 0; i < nk; ++i) Y[static_cast<size_t>(s) * nk + i] = g.z[s] * std::pow(g.k[i], g.alpha);

    GrowthReport rep;
    for (int it = 1; it <= max_iter; ++it) {
        growth_detail::expectation(g, V.data(), EV.data(), threads);
        if (howard) {
            for (int s = 0; s < nz; ++s)
                concave[s] = growth_detail::is_concave(EV.data() + static_cast<size_t>(s) * nk, nk);
            pol_prev.swap(pol);
        }
        growth_improve(g, Y.data(), EV.data(), method, concave, TV.data(), pol.data(), threads);
        double d = 0.0;
        for (size_t c = 0; c < n; ++c) d = std::max(d, std::fabs(TV[c] - V[c]));
        V.swap(TV);
        rep.history.push_back(d);
        rep.iterations = it;
        if (d < tol && (!howard || (it > 1 && pol == pol_prev))) {
            rep.converged = true;
            break;
        }
        if (!howard || howard_steps == 0) continue;
#pragma omp parallel for schedule(static) num_threads(threads_for(static_cast<long>(n) * growth_detail::kLogWork, threads))
        for (long c = 0; c < static_cast<long>(n); ++c) U[c] = (1.0 - g.beta) * std::log(Y[c] - g.k[pol[c]]);
        for (int h = 0; h < howard_steps; ++h) {
            // Markov matrices of discretised AR(1)s are banded: skipping zero
            // entries halves the work of the tridiagonal published matrix.
#pragma omp parallel for schedule(static) num_threads(threads_for(static_cast<long>(n) * nz, threads))
            for (int s = 0; s < nz; ++s) {
                const double* row = g.P + static_cast<size_t>(s) * nz;
                const std::int32_t* ps = pol.data() + static_cast<size_t>(s) * nk;
                const double* us = U.data() + static_cast<size_t>(s) * nk;
                double* ts = TV.data() + static_cast<size_t>(s) * nk;
                for (int i = 0; i < nk; ++i) ts[i] = 0.0;
                for (int t = 0; t < nz; ++t) {
                    const double w = row[t];
                    if (w == 0.0) continue;
                    const double* vt = V.data() + static_cast<size_t>(t) * nk;
                    for (int i = 0; i < nk; ++i) ts[i] += w * vt[ps[i]];
                }
                for (int i = 0; i < nk; ++i) ts[i] = us[i] + g.beta * ts[i];
            }
            V.swap(TV);
        }
    }

    for (int s = 0; s < nz; ++s)
        for (int i = 0; i < nk; ++i) {
            const size_t c = static_cast<size_t>(s) * nk + i, r = static_cast<size_t>(i) * nz + s;
            V_out[r] = V[c];
            policy_out[r] = pol[c];
            kprime_out[r] = g.k[pol[c]];
        }
    return rep;
}

}  // namespace sez
