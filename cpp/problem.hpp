// The model as the kernels see it (docs/model.md), pure C++: the firm's problem
// (grids, shock transition, zone rules, scalars, the entrants' law) and the
// solved decisions that the distribution and the simulation read. Both own
// their arrays, so that the Python objects wrapping them are complete values.
//
// Arrays over states are C-ordered [zone][type][shock][cash] (a prefix of it, or
// with the next shock appended): one value column (fixed r, t, s) is contiguous
// in cash, the axis the kernels interpolate along.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "require.hpp"

namespace sez {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A type's cash grid with its inverse spacings (interpolation multiplies
// instead of dividing: a division per read was a third of the operator's time).
struct CashAxis {
    const double* x;
    const double* inv_dx;  // 1 / (x[i+1] - x[i])
    int n;
};

// The rules of one zone.
struct ZoneRules {
    double tau = 0;         // corporate tax
    double theta = 0;       // collateral: b' <= theta k'
    double xi = 0;          // fixed operating cost
    double xbar = 0;        // minimum dividend (eligibility floor)
    double ell = 0;         // liquidation X = ell (1 - delta) k - b  (ell = 1 - tau taxed, 1 untaxed)
    double move_cost = 0;   // cost of moving to the other zone at the end of a period
    bool may_move = false;  // whether the move to the other zone exists
    double lo = 0;          // lowest cash at which V_r is finite (a cash-grid node)
    double entry_cost = 0;  // an entrant's cost of entering this zone
};

struct Problem {
    int T = 0, S = 0, M = 0, K = 0;  // types, shocks, cash points, capital points
    double beta = 0, q = 0, delta = 0, lam = 0, k_exponent = 0;
    ZoneRules zone[2];
    std::vector<double> cash;     // [T][M] ascending, per type
    std::vector<double> capital;  // [T][K] ascending, capital[t][0] == 0
    std::vector<double> zfac;     // [T][S] profit pi = zfac * k^k_exponent
    std::vector<double> P;        // [S][S] shock transition
    // What the simulation reports and how entrants arrive.
    std::vector<double> z;          // [T][S] productivity z = A v
    double eta = 0, w = 1;          // labour elasticity gamma (1 - alpha), wage
    std::vector<double> type_cdf;   // [T] cumulative type masses
    std::vector<double> shock_cdf;  // [S] cumulative ergodic shock law
    double m0_log_mean = 0, m0_log_sd = 1;  // entrants' initial cash: ln m0 ~ N(mean, sd)
    bool outside_is_cash = true;    // an entrant's outside option: its cash (true) or zero
    // Derived by prepare().
    std::vector<double> kpow;    // [T][K] capital^k_exponent
    std::vector<double> inv_dx;  // [T][M] inverse cash spacings

    // Checks the sizes and fills the derived arrays; call once after setting the fields.
    void prepare() {
        require(T >= 1 && S >= 1 && S <= 64, "between 1 and 64 shock states and at least one type are supported");
        require(M >= 2 && K >= 2, "cash and capital grids need at least 2 points");
        auto sized = [](const std::vector<double>& v, long n) { return static_cast<long>(v.size()) == n; };
        require(sized(cash, 1L * T * M) && sized(capital, 1L * T * K) && sized(zfac, 1L * T * S) &&
                    sized(P, 1L * S * S) && sized(z, 1L * T * S) && sized(type_cdf, T) && sized(shock_cdf, S),
                "cash (T, M), capital (T, K), zfac and z (T, S), P (S, S), type_cdf (T) and shock_cdf (S) "
                "must agree on the numbers of types and shocks");
        require(lam >= 0.0 && lam < 1.0, "lam must lie in [0, 1)");
        inv_dx.assign(static_cast<size_t>(T) * M, 0.0);
        for (int t = 0; t < T; ++t)
            for (int i = 0; i + 1 < M; ++i)
                inv_dx[t * M + i] = 1.0 / (cash[t * M + i + 1] - cash[t * M + i]);
        kpow.assign(static_cast<size_t>(T) * K, 0.0);
        for (int t = 0; t < T; ++t)
            for (int j = 0; j < K; ++j)
                kpow[t * K + j] = std::pow(capital[t * K + j], k_exponent);
    }
    size_t n_states() const { return static_cast<size_t>(2) * T * S * M; }
    size_t col(int r, int t, int s) const { return ((static_cast<size_t>(r) * T + t) * S + s) * M; }
    // Zone, type and shock of value column c, 0 <= c < 2 T S, in state order (the
    // sizes are passed in: a loop's local copies keep them in registers).
    struct Column { int r, t, s; };
    static Column column(long c, int n_types, int n_shocks) {
        return {static_cast<int>(c / (n_types * n_shocks)), static_cast<int>((c / n_shocks) % n_types),
                static_cast<int>(c % n_shocks)};
    }
    const double* cash_of(int t) const { return cash.data() + static_cast<size_t>(t) * M; }
    CashAxis axis(int t) const { return {cash_of(t), inv_dx.data() + static_cast<size_t>(t) * M, M}; }
    const double* capital_of(int t) const { return capital.data() + static_cast<size_t>(t) * K; }
    const double* P_row(int s) const { return P.data() + static_cast<size_t>(s) * S; }
    // Capital bound from the collateral constraint with D = xbar; +inf when
    // q theta >= 1 - tau (docs/model.md defect 1: only the capital grid bounds k').
    double kbar(int r, double m) const {
        const ZoneRules& zr = zone[r];
        double den = (1.0 - zr.tau) - q * zr.theta;
        return den > 0 ? (m - zr.xbar) / den : kInf;
    }
};

// The solved decisions at every end-of-period state, as the distribution and
// the simulation read them.
struct Policy {
    int T = 0, S = 0, M = 0;
    std::vector<double> V, Q;          // [2][T][S][M] values after / before the zone choice
    std::vector<double> k;             // [2][T][S][M] capital after the payout rule (NaN: infeasible)
    std::vector<double> mbar;          // [2][T][S] payout threshold (NaN: none on the grid)
    std::vector<std::int8_t> move;     // [2][T][S][M] 1: moves to the other zone
    std::vector<double> m_next;        // [2][T][S][M][S] next cash after the operating cost
    std::vector<std::int8_t> exits;    // [2][T][S][M][S] 1: chooses to exit

    // Throws unless the arrays have the sizes of problem p.
    void check(const Problem& p) const {
        require(T == p.T && S == p.S && M == p.M,
                "the policy's (types, shocks, cash) = (" + std::to_string(T) + ", " + std::to_string(S) + ", " +
                    std::to_string(M) + ") differ from the problem's (" + std::to_string(p.T) + ", " +
                    std::to_string(p.S) + ", " + std::to_string(p.M) + ")");
        const size_t n = p.n_states();
        require(V.size() == n && Q.size() == n && k.size() == n && move.size() == n && mbar.size() == n / p.M &&
                    m_next.size() == n * p.S && exits.size() == n * p.S,
                "the policy's arrays do not have the sizes of its states");
    }
};

}  // namespace sez
