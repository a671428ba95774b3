// The firm's law of motion (docs/model.md), written once: the Bellman operator,
// Howard's policy evaluation, next_period (whose next cash the distribution
// splits onto the grid) and the simulation all call these, so every kernel
// rounds alike. Pure C++.
//
// A firm in zone r choosing capital k' with cash m borrows b' so that dividends
// sit at the floor xbar_r; after the next shock it holds
//   m' = (1 - tau_r)(1 - delta) k' - b' - xi_r  +  (1 - tau_r) zfac(t, s') k'^k_exponent
// (the first part does not depend on the shock: kernels compute it once per
// choice and add the profit per next shock), or liquidates for
//   X = ell_r (1 - delta) k' - b'.
#pragma once

#include "problem.hpp"

namespace sez {

struct LawOfMotion {
    const ZoneRules& z;
    double q, delta;

    LawOfMotion(const Problem& p, int r) : z(p.zone[r]), q(p.q), delta(p.delta) {}

    // Debt b' that leaves dividends at the floor: xbar = m - (1 - tau) k' + q b'.
    double debt(double m, double k) const { return ((1.0 - z.tau) * k + z.xbar - m) / q; }
    // Liquidation value X of (k', b').
    double liquidation(double k, double b) const { return z.ell * (1.0 - delta) * k - b; }
    // Next cash before profit: undepreciated capital after tax, less debt and the operating cost.
    double cash_before_profit(double k, double b) const { return (1.0 - z.tau) * (1.0 - delta) * k - b - z.xi; }
    // Operating profit after tax at the next shock; kpow = k'^k_exponent, zfac = zfac(t, s').
    double profit_after_tax(double zfac, double kpow) const { return (1.0 - z.tau) * zfac * kpow; }
    // Next cash m' after the operating cost.
    double next_cash(double k, double b, double zfac, double kpow) const {
        return cash_before_profit(k, b) + profit_after_tax(zfac, kpow);
    }
};

}  // namespace sez
