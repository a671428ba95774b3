// The stationary distribution of firms by the histogram method (Young 2010):
// next-period cash is split between its two neighbouring grid nodes so that
// mean cash is preserved. Pure C++.
//
// Measures are over end-of-period states [zone][type][shock][cash]:
//   mu  firms that produced in the zone, holding cash after production;
//   nu  the same firms after the zone choice, plus entrants: the investors.
// One period maps mu -> nu (moves, entry) -> next mu (shocks, death, exit).
// Mass only moves within a type, so the parallel unit is the type and every
// destination cell is summed in a fixed order: results do not depend on threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "parallel.hpp"
#include "problem.hpp"

namespace sez {

struct Lottery {
    std::int32_t node;  // lower node, or -1: no destination (exit)
    double upper;       // share sent to node + 1
};

// Where cash x lands on an ascending grid; cash above the top goes to the top
// node (`clipped` tells), cash below the bottom to the bottom.
inline Lottery lottery(const double* x, int n, double xq, bool& clipped) {
    clipped = false;
    if (xq >= x[n - 1]) {
        clipped = xq > x[n - 1];
        return {n - 2, 1.0};
    }
    if (xq <= x[0]) return {0, 0.0};
    int j = static_cast<int>(std::upper_bound(x, x + n, xq) - x) - 1;
    return {j, (xq - x[j]) / (x[j + 1] - x[j])};
}

// What one period of the histogram method reads: the problem's grids and rules,
// the solved zone moves, next cash and exits, and the entrants' flow.
struct DistProblem {
    int T = 0, S = 0, M = 0;
    double lam = 0;
    const double* cash = nullptr;         // [T][M]
    const double* P = nullptr;            // [S][S]
    const std::int8_t* move = nullptr;    // [2][T][S][M] 1: moves to the other zone
    double move_cost[2] = {0, 0};
    const double* m_next = nullptr;       // [2][T][S][M][S] next cash of investors
    const std::int8_t* exits = nullptr;   // [2][T][S][M][S] 1: chooses to exit
    const double* entrants = nullptr;     // [2][T][S][M] entrants' mass among investors

    DistProblem(const Problem& p, const Policy& pol, const double* entrants_)
        : T(p.T), S(p.S), M(p.M), lam(p.lam), cash(p.cash.data()), P(p.P.data()), move(pol.move.data()),
          move_cost{p.zone[0].move_cost, p.zone[1].move_cost}, m_next(pol.m_next.data()),
          exits(pol.exits.data()), entrants(entrants_) {
        pol.check(p);
    }

    size_t cell(int r, int t, int s, int i) const { return ((static_cast<size_t>(r) * T + t) * S + s) * M + i; }
};

// Precomputed lotteries of one push-forward: for moves (mu -> nu) and for
// production (nu -> mu').
struct DistMaps {
    std::vector<Lottery> move_to;   // [2][T][S][M]
    std::vector<Lottery> next_to;   // [2][T][S][M][S]
    double clipped_share = 0;       // share of transitions whose cash ran past the grid's top
};

inline DistMaps build_maps(const DistProblem& p) {
    DistMaps d;
    const size_t n = static_cast<size_t>(2) * p.T * p.S * p.M;
    d.move_to.resize(n);
    d.next_to.resize(n * p.S);
    size_t clipped = 0;
    for (int r = 0; r < 2; ++r)
        for (int t = 0; t < p.T; ++t) {
            const double* x = p.cash + static_cast<size_t>(t) * p.M;
            for (int s = 0; s < p.S; ++s)
                for (int i = 0; i < p.M; ++i) {
                    size_t c = p.cell(r, t, s, i);
                    bool clip = false;
                    if (p.move[c] && p.move_cost[r] != 0.0) d.move_to[c] = lottery(x, p.M, x[i] - p.move_cost[r], clip);
                    else d.move_to[c] = {i, 0.0};
                    for (int s2 = 0; s2 < p.S; ++s2) {
                        size_t e = c * p.S + s2;
                        if (p.exits[e] || !std::isfinite(p.m_next[e])) { d.next_to[e] = {-1, 0.0}; continue; }
                        d.next_to[e] = lottery(x, p.M, p.m_next[e], clip);
                        clipped += clip;
                    }
                }
        }
    d.clipped_share = static_cast<double>(clipped) / static_cast<double>(n * p.S);
    return d;
}

inline void spread(double* dest, const Lottery& l, double mass) {
    dest[l.node] += mass * (1.0 - l.upper);
    if (l.upper != 0.0) dest[l.node + 1] += mass * l.upper;
}

// mu -> nu: zone moves (split when a moving cost puts cash off the grid), then entrants.
inline void choose_zones(const DistProblem& p, const DistMaps& d, const double* mu, double* nu, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads_for(2L * p.T * p.S * p.M * p.S * 4, threads))
    for (int t = 0; t < p.T; ++t) {
        for (int r = 0; r < 2; ++r)
            for (int s = 0; s < p.S; ++s)
                for (int i = 0; i < p.M; ++i) nu[p.cell(r, t, s, i)] = p.entrants[p.cell(r, t, s, i)];
        for (int r = 0; r < 2; ++r)
            for (int s = 0; s < p.S; ++s)
                for (int i = 0; i < p.M; ++i) {
                    size_t c = p.cell(r, t, s, i);
                    double m = mu[c];
                    if (m == 0.0) continue;
                    int dest = p.move[c] ? 1 - r : r;
                    spread(nu + p.cell(dest, t, s, 0), d.move_to[c], m);
                }
    }
}

// nu -> mu': next shock, exogenous death (lam), exit by choice, next cash.
inline void produce(const DistProblem& p, const DistMaps& d, const double* nu, double* mu, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads_for(2L * p.T * p.S * p.M * p.S * 4, threads))
    for (int t = 0; t < p.T; ++t) {
        for (int r = 0; r < 2; ++r)
            for (int s = 0; s < p.S; ++s) std::fill(mu + p.cell(r, t, s, 0), mu + p.cell(r, t, s, 0) + p.M, 0.0);
        for (int r = 0; r < 2; ++r)
            for (int s = 0; s < p.S; ++s)
                for (int i = 0; i < p.M; ++i) {
                    size_t c = p.cell(r, t, s, i);
                    double m = nu[c];
                    if (m == 0.0) continue;
                    for (int s2 = 0; s2 < p.S; ++s2) {
                        const Lottery& l = d.next_to[c * p.S + s2];
                        if (l.node < 0) continue;
                        spread(mu + p.cell(r, t, s2, 0), l, m * (1.0 - p.lam) * p.P[s * p.S + s2]);
                    }
                }
    }
}

struct DistReport {
    int iterations = 0;
    bool converged = false;
    std::vector<double> history;  // sup |mu' - mu| / total mass
    double clipped_share = 0;
};

// Iterate mu -> mu' from mu (in/out) until the relative sup change < tol.
inline DistReport stationary(const DistProblem& p, double* mu, double* nu, double tol, int max_iter, int threads) {
    DistMaps d = build_maps(p);
    const size_t n = static_cast<size_t>(2) * p.T * p.S * p.M;
    std::vector<double> next(n);
    DistReport rep;
    rep.clipped_share = d.clipped_share;
    for (int it = 1; it <= max_iter; ++it) {
        choose_zones(p, d, mu, nu, threads);
        produce(p, d, nu, next.data(), threads);
        double diff = 0.0, mass = 0.0;
        for (size_t k = 0; k < n; ++k) {
            diff = std::max(diff, std::fabs(next[k] - mu[k]));
            mass += next[k];
        }
        std::copy(next.begin(), next.end(), mu);
        double rel = mass > 0 ? diff / mass : diff;
        rep.history.push_back(rel);
        rep.iterations = it;
        if (rel < tol) { rep.converged = true; break; }
    }
    choose_zones(p, d, mu, nu, threads);  // nu consistent with the final mu
    return rep;
}

}  // namespace sez
