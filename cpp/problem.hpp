// The firm's problem as the kernels see it: grids, shock transition, zone
// rules and scalars (docs/model.md), pure C++.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

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

struct ZoneRules {
    double tau;        // corporate tax
    double theta;      // collateral: b' <= theta k'
    double xi;         // fixed operating cost
    double xbar;       // minimum dividend (eligibility floor)
    double ell;        // liquidation X = ell (1 - delta) k - b  (ell = 1 - tau taxed, 1 untaxed)
    double move_cost;  // cost of moving to the other zone at the end of a period
    bool may_move;     // whether the move to the other zone exists
    double lo;         // lowest cash at which V_r is finite (a cash-grid node)
};

struct Problem {
    int T = 0, S = 0, M = 0, K = 0;
    double beta = 0, q = 0, delta = 0, lam = 0, k_exponent = 0;
    ZoneRules zone[2];
    const double* cash = nullptr;     // [T][M] ascending, per type
    const double* capital = nullptr;  // [T][K] ascending, capital[t][0] == 0
    const double* zfac = nullptr;     // [T][S] profit pi = zfac * k^k_exponent
    const double* P = nullptr;        // [S][S] shock transition
    std::vector<double> kpow;         // [T][K] capital^k_exponent, filled by prepare()
    std::vector<double> inv_dx;       // [T][M] inverse cash spacings, filled by prepare()

    void prepare() {
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
    const double* cash_of(int t) const { return cash + static_cast<size_t>(t) * M; }
    CashAxis axis(int t) const { return {cash_of(t), inv_dx.data() + static_cast<size_t>(t) * M, M}; }
    const double* capital_of(int t) const { return capital + static_cast<size_t>(t) * K; }
    // Capital bound from the collateral constraint with D = xbar; +inf when
    // q theta >= 1 - tau (docs/model.md defect 1: only the capital grid bounds k').
    double kbar(int r, double m) const {
        const ZoneRules& z = zone[r];
        double den = (1.0 - z.tau) - q * z.theta;
        return den > 0 ? (m - z.xbar) / den : kInf;
    }
};

}  // namespace sez
