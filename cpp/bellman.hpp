// Bellman operator of the SEZ firm-dynamics model (docs/model.md), pure C++.
//
// State at the end of a period: cash m, type t, shock s, zone r. Arrays are
// C-ordered [zone][type][shock][cash] so that one value column (fixed r, t, s)
// is contiguous in cash, the axis we interpolate along.
//
// With dividends at their floor (docs/model.md), the choice is one-dimensional:
// k' in [0, Kbar_r(m)], b' = ((1 - tau_r) k' + xbar_r - m) / q.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "law_of_motion.hpp"
#include "parallel.hpp"
#include "problem.hpp"

namespace sez {

enum class Search : int { Grid = 0, Monotone = 1, Continuous = 2 };

// Linear interpolation of y at xq on a cash axis: -inf below lo (a node),
// slope-one extrapolation above the top node (values have slope one above the
// payout threshold). `j` is a bracket hint carried between calls.
inline double interp(const CashAxis& a, const double* y, double lo, double xq, int& j) {
    const double* x = a.x;
    const int n = a.n;
    if (!(xq >= lo)) return kNegInf;
    if (xq >= x[n - 1]) return y[n - 1] + (xq - x[n - 1]);
    if (j < 0) j = 0;
    if (j > n - 2) j = n - 2;
    if (x[j] <= xq) {
        if (!(xq < x[j + 1])) {
            if (j + 2 < n && xq < x[j + 2]) ++j;
            else j = static_cast<int>(std::upper_bound(x + j + 1, x + n, xq) - x) - 1;
        }
    } else {
        if (j > 0 && x[j - 1] <= xq) --j;
        else j = static_cast<int>(std::upper_bound(x, x + j, xq) - x) - 1;
    }
    double w = (xq - x[j]) * a.inv_dx[j];
    return y[j] + w * (y[j + 1] - y[j]);
}

// Continuation values C_r(k', b', v') for every next shock, given cash m today.
// C = lam X + (1 - lam) max{X, V_r(m' - xi)}.
struct Continuation {
    const Problem& p;
    const LawOfMotion law;
    const double* V;  // [2][T][S][M]
    int r, t;
    int hint[64];

    Continuation(const Problem& p_, const double* V_, int r_, int t_) : p(p_), law(p_, r_), V(V_), r(r_), t(t_) {
        for (int s = 0; s < 64; ++s) hint[s] = 0;
    }
    void operator()(double m, double k, double kp, double* C) {
        double b = law.debt(m, k);
        double X = law.liquidation(k, b);
        double base = law.cash_before_profit(k, b);
        for (int s2 = 0; s2 < p.S; ++s2) {
            double mp = base + law.profit_after_tax(p.zfac[t * p.S + s2], kp);
            double Vn = interp(p.axis(t), V + p.col(r, t, s2), law.z.lo, mp, hint[s2]);
            C[s2] = p.lam * X + (1.0 - p.lam) * std::max(X, Vn);
        }
    }
};

inline double expect(const Problem& p, int s, const double* C) {
    const double* row = p.P_row(s);
    double acc = 0.0;
    for (int s2 = 0; s2 < p.S; ++s2) acc += row[s2] * C[s2];
    return acc;
}

// Brent's method for the maximum of a unimodal f on [a, b] (Brent 1973, ch. 5).
template <class F>
inline double brent_max(F f, double a, double b, double tol_rel, double& fbest) {
    const double cgold = 0.3819660112501051;
    double x = a + cgold * (b - a), w = x, v = x;
    double fx = f(x), fw = fx, fv = fx;
    double d = 0.0, e = 0.0;
    for (int it = 0; it < 100; ++it) {
        double xm = 0.5 * (a + b);
        double tol1 = tol_rel * std::fabs(x) + 1e-300, tol2 = 2.0 * tol1;
        if (std::fabs(x - xm) <= tol2 - 0.5 * (b - a)) break;
        bool golden = true;
        if (std::fabs(e) > tol1) {
            double rr = (x - w) * (fx - fv), qq = (x - v) * (fx - fw);
            double pp = (x - v) * qq - (x - w) * rr;
            qq = 2.0 * (qq - rr);
            if (qq > 0) pp = -pp; else qq = -qq;
            double etemp = e;
            e = d;
            if (!(std::fabs(pp) >= std::fabs(0.5 * qq * etemp) || pp <= qq * (a - x) || pp >= qq * (b - x))) {
                d = pp / qq;
                double u = x + d;
                if (u - a < tol2 || b - u < tol2) d = (xm >= x) ? tol1 : -tol1;
                golden = false;
            }
        }
        if (golden) {
            e = (x >= xm) ? a - x : b - x;
            d = cgold * e;
        }
        double u = (std::fabs(d) >= tol1) ? x + d : x + (d > 0 ? tol1 : -tol1);
        double fu = f(u);
        if (fu >= fx) {
            if (u >= x) a = x; else b = x;
            v = w; fv = fw; w = x; fw = fx; x = u; fx = fu;
        } else {
            if (u < x) a = u; else b = u;
            if (fu >= fw || w == x) { v = w; fv = fw; w = u; fw = fu; }
            else if (fu >= fv || v == x || v == w) { v = u; fv = fu; }
        }
    }
    fbest = fx;
    return x;
}

// Continuous k': Brent's method between the grid neighbours of the best node j
// (capped by Kbar(m)); with Kbar(m) itself best (j < 0), between the last
// affordable node and Kbar(m), where the optimum then lies. The grid's top is
// left alone.
inline void refine_continuous(const Problem& p, const double* V, int r, int t, double m, int s, int j, double kb,
                              double& best, double& kbest) {
    const double* kg = p.capital_of(t);
    if (j == p.K - 1) return;
    double a, b;
    if (j < 0) {
        const int last = static_cast<int>(std::upper_bound(kg, kg + p.K, kb) - kg) - 1;
        a = last >= 0 ? kg[last] : 0.0;
        b = kb;
    } else {
        a = j > 0 ? kg[j - 1] : 0.0;
        b = std::min(kg[j + 1], kb);
    }
    if (!(b > a)) return;
    const ZoneRules& z = p.zone[r];
    Continuation cont(p, V, r, t);
    double C[64];
    auto f = [&](double k) {
        cont(m, k, std::pow(k, p.k_exponent), C);
        return z.xbar + p.beta * expect(p, s, C);
    };
    double fb;
    double kstar = brent_max(f, a, b, 1e-12, fb);
    if (fb > best) { best = fb; kbest = kstar; }
}

// Monotone search at one (r, t, i): Q_r(m_i, s) for all shocks, searching k'
// from klow[s] (the previous cash point's choice) upward.
inline void improve_cell(const Problem& p, const double* V, int r, int t, int i, const double* klow, double* Qout,
                         double* Kout) {
    const int S = p.S, K = p.K;
    const ZoneRules& z = p.zone[r];
    const double m = p.cash_of(t)[i];
    if (!(m >= z.xbar)) {  // eligibility: a firm that cannot pay the floor may not be in r
        for (int s = 0; s < S; ++s) { Qout[s] = kNegInf; Kout[s] = std::nan(""); }
        return;
    }
    const double* kg = p.capital_of(t);
    const double* kp = p.kpow.data() + static_cast<size_t>(t) * K;
    const double kb = p.kbar(r, m);
    const double ktop = kg[K - 1];
    double best[64], kbest[64];
    for (int s = 0; s < S; ++s) { best[s] = kNegInf; kbest[s] = 0.0; }
    double C[64];
    Continuation cont(p, V, r, t);
    double kmin = kInf;
    for (int s = 0; s < S; ++s) kmin = std::min(kmin, klow[s]);
    int j0 = static_cast<int>(std::lower_bound(kg, kg + K, kmin) - kg);
    for (int j = j0; j < K && kg[j] <= kb; ++j) {
        cont(m, kg[j], kp[j], C);
        for (int s = 0; s < S; ++s) {
            if (kg[j] < klow[s]) continue;
            double f = z.xbar + p.beta * expect(p, s, C);
            if (f > best[s]) { best[s] = f; kbest[s] = kg[j]; }
        }
    }
    if (kb < ktop) {  // the collateral-binding choice k' = Kbar(m), off the grid
        cont(m, kb, std::pow(kb, p.k_exponent), C);
        for (int s = 0; s < S; ++s) {
            double f = z.xbar + p.beta * expect(p, s, C);
            if (f > best[s]) { best[s] = f; kbest[s] = kb; }
        }
    }
    for (int s = 0; s < S; ++s) { Qout[s] = best[s]; Kout[s] = kbest[s]; }
}

// Grid search for every cash point of one (zone, type) at once. For a capital
// node k', next cash m'(m) rises with m, so each next shock's value column is
// read by one forward walk over cash rather than a search per point, and the
// expectation runs over contiguous cash. Same arithmetic, same order of
// candidates and the same tie-breaking as improve_cell.
inline void improve_type(const Problem& p, const double* V, int r, int t, Search search, double* Q, double* Kpol) {
    const int S = p.S, K = p.K, M = p.M;
    const ZoneRules& z = p.zone[r];
    const LawOfMotion law(p, r);
    const double* x = p.cash_of(t);
    const double* kg = p.capital_of(t);
    const double* kp = p.kpow.data() + static_cast<size_t>(t) * K;
    const CashAxis ax = p.axis(t);
    const size_t SM = static_cast<size_t>(S) * M;
    std::vector<double> best(SM, kNegInf), kbest(SM, 0.0), C(SM), F(M), X(M), base(M), kbar(M);
    std::vector<int> jbest(SM, -1);
    int elig = 0;
    while (elig < M && !(x[elig] >= z.xbar)) ++elig;  // eligibility floor
    for (int i = elig; i < M; ++i) kbar[i] = p.kbar(r, x[i]);
    int i0 = elig;
    for (int j = 0; j < K; ++j) {
        const double k = kg[j];
        while (i0 < M && !(k <= kbar[i0])) ++i0;  // feasible cash: k' <= Kbar(m), rising in m
        if (i0 >= M) break;
        for (int i = i0; i < M; ++i) {
            const double b = law.debt(x[i], k);
            X[i] = law.liquidation(k, b);
            base[i] = law.cash_before_profit(k, b);
        }
        for (int s2 = 0; s2 < S; ++s2) {
            const double add = law.profit_after_tax(p.zfac[t * S + s2], kp[j]);
            const double* y = V + p.col(r, t, s2);
            double* Cs = C.data() + static_cast<size_t>(s2) * M;
            // m' rises with m: one forward walk finds every bracket (interp's
            // arithmetic, without its general search)
            const double top = ax.x[M - 1];
            int h = 0;
            for (int i = i0; i < M; ++i) {
                const double xq = base[i] + add;
                double Vn;
                if (!(xq >= z.lo)) {
                    Vn = kNegInf;
                } else if (xq >= top) {
                    Vn = y[M - 1] + (xq - top);
                } else {
                    while (ax.x[h + 1] <= xq) ++h;
                    const double w = (xq - ax.x[h]) * ax.inv_dx[h];
                    Vn = y[h] + w * (y[h + 1] - y[h]);
                }
                Cs[i] = p.lam * X[i] + (1.0 - p.lam) * std::max(X[i], Vn);
            }
        }
        for (int s = 0; s < S; ++s) {
            const double* row = p.P_row(s);
            std::fill(F.begin() + i0, F.end(), 0.0);
            for (int s2 = 0; s2 < S; ++s2) {
                const double w = row[s2];
                const double* Cs = C.data() + static_cast<size_t>(s2) * M;
                for (int i = i0; i < M; ++i) F[i] += w * Cs[i];
            }
            double* bs = best.data() + static_cast<size_t>(s) * M;
            for (int i = i0; i < M; ++i) {
                double f = z.xbar + p.beta * F[i];
                if (f > bs[i]) {
                    bs[i] = f;
                    kbest[static_cast<size_t>(s) * M + i] = k;
                    jbest[static_cast<size_t>(s) * M + i] = j;
                }
            }
        }
    }
    Continuation cont(p, V, r, t);
    double Cc[64];
    const double ktop = kg[K - 1];
    for (int i = elig; i < M; ++i) {
        const double kb = kbar[i];
        if (kb < ktop) {  // the collateral-binding choice k' = Kbar(m), off the grid
            cont(x[i], kb, std::pow(kb, p.k_exponent), Cc);
            for (int s = 0; s < S; ++s) {
                const size_t c = static_cast<size_t>(s) * M + i;
                double f = z.xbar + p.beta * expect(p, s, Cc);
                if (f > best[c]) { best[c] = f; kbest[c] = kb; jbest[c] = -1; }
            }
        }
        if (search == Search::Continuous)
            for (int s = 0; s < S; ++s) {
                const size_t c = static_cast<size_t>(s) * M + i;
                refine_continuous(p, V, r, t, x[i], s, jbest[c], kb, best[c], kbest[c]);
            }
    }
    for (int s = 0; s < S; ++s) {
        const size_t col = p.col(r, t, s);
        for (int i = 0; i < M; ++i) {
            const size_t c = static_cast<size_t>(s) * M + i;
            Q[col + i] = i < elig ? kNegInf : best[c];
            Kpol[col + i] = i < elig ? std::nan("") : kbest[c];
        }
    }
}

// V_r(m) = Q_r(m), or Q_o(m - c_{r->o}) for a firm that moves. With `choose` the
// move is the better of the two (ties stay) and is written to `move`; otherwise
// the moves in `move` are kept (Howard's evaluation under a fixed policy).
inline void zone_values(const Problem& p, const double* Q, double* Vout, std::int8_t* move, bool choose,
                        int threads) {
    const int T = p.T, S = p.S, M = p.M;
    const long n = 2L * T * S;
#pragma omp parallel for schedule(static) num_threads(threads_for(n * M * 8, threads))
    for (long c = 0; c < n; ++c) {
        const auto [r, t, s] = Problem::column(c, T, S);
        int o = 1 - r;
        const ZoneRules& z = p.zone[r];
        const double* x = p.cash_of(t);
        const double* Qr = Q + p.col(r, t, s);
        const double* Qo = Q + p.col(o, t, s);
        double* Vr = Vout + p.col(r, t, s);
        std::int8_t* mv = move + p.col(r, t, s);
        int hint = 0;
        for (int i = 0; i < M; ++i) {
            if (!z.may_move || (!choose && !mv[i])) {
                Vr[i] = Qr[i];
                if (choose) mv[i] = 0;
                continue;
            }
            double alt = z.move_cost == 0.0 ? Qo[i]
                                            : interp(p.axis(t), Qo, p.zone[o].xbar, x[i] - z.move_cost, hint);
            if (choose) mv[i] = alt > Qr[i] ? 1 : 0;
            Vr[i] = mv[i] ? alt : Qr[i];
        }
    }
}

// One Bellman application: V -> (Q, k-policy, zone moves, TV).
inline void bellman_apply(const Problem& p, const double* V, Search search, double* Q, double* Kpol,
                          double* Vout, std::int8_t* move, int threads) {
    const int T = p.T, S = p.S, M = p.M;
    if (search == Search::Monotone) {
        // k'(m) is searched from the previous cash point's choice upward: sequential in
        // cash, so the parallel unit is the (zone, type) pair.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_for(2L * T * M * p.K * S, threads))
        for (int rt = 0; rt < 2 * T; ++rt) {
            int r = rt / T, t = rt % T;
            std::vector<double> klow(S, 0.0), Qc(S), Kc(S);
            for (int i = 0; i < M; ++i) {
                improve_cell(p, V, r, t, i, klow.data(), Qc.data(), Kc.data());
                for (int s = 0; s < S; ++s) {
                    size_t idx = p.col(r, t, s) + i;
                    Q[idx] = Qc[s];
                    Kpol[idx] = Kc[s];
                    if (std::isfinite(Qc[s])) klow[s] = Kc[s];
                }
            }
        }
    } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_for(2L * T * M * p.K * S, threads))
        for (int rt = 0; rt < 2 * T; ++rt) improve_type(p, V, rt / T, rt % T, search, Q, Kpol);
    }
    zone_values(p, Q, Vout, move, true, threads);
}

// Q under a fixed capital policy (Howard's policy-evaluation step).
inline void evaluate_policy(const Problem& p, const double* V, const double* Kpol, double* Q, int threads) {
    const int T = p.T, S = p.S, M = p.M;
    const long n = 2L * T * S;
#pragma omp parallel for schedule(static) num_threads(threads_for(n * M * S * 8, threads))
    for (long c = 0; c < n; ++c) {
        const auto [r, t, s] = Problem::column(c, T, S);
        const ZoneRules& z = p.zone[r];
        const double* x = p.cash_of(t);
        Continuation cont(p, V, r, t);
        double C[64];
        size_t base = p.col(r, t, s);
        for (int i = 0; i < M; ++i) {
            double k = Kpol[base + i];
            if (!(x[i] >= z.xbar) || std::isnan(k)) { Q[base + i] = kNegInf; continue; }
            cont(x[i], k, std::pow(k, p.k_exponent), C);
            Q[base + i] = z.xbar + p.beta * expect(p, s, C);
        }
    }
}

inline double sup_distance(const double* a, const double* b, size_t n) {
    double d = 0.0;
    for (size_t k = 0; k < n; ++k) {
        bool fa = std::isfinite(a[k]), fb = std::isfinite(b[k]);
        if (fa && fb) d = std::max(d, std::fabs(a[k] - b[k]));
        else if (fa != fb || a[k] != b[k]) return kInf;
    }
    return d;
}

// Start of the next period for given end-of-period choices (k', b') at every
// state: next cash m' (after the operating cost) for each next shock, the
// liquidation value X, and whether the firm exits by choice (X > V_r(m')).
inline void next_period(const Problem& p, const double* V, const double* Kpol, const double* Bpol,
                        double* mnext, double* X, std::int8_t* exits, int threads) {
    const int T = p.T, S = p.S, M = p.M;
    const long n = 2L * T * S;
#pragma omp parallel for schedule(static) num_threads(threads_for(n * M * S * 8, threads))
    for (long c = 0; c < n; ++c) {
        const Problem::Column col = Problem::column(c, T, S);
        const int r = col.r, t = col.t;
        const LawOfMotion law(p, r);
        int hint[64] = {0};
        size_t base = static_cast<size_t>(c) * M;
        for (int i = 0; i < M; ++i) {
            size_t idx = base + i;
            double k = Kpol[idx], b = Bpol[idx];
            X[idx] = law.liquidation(k, b);
            double kp = std::pow(k, p.k_exponent);
            for (int s2 = 0; s2 < S; ++s2) {
                double mp = law.next_cash(k, b, p.zfac[t * S + s2], kp);
                double Vn = std::isnan(k) ? kNegInf : interp(p.axis(t), V + p.col(r, t, s2), law.z.lo, mp, hint[s2]);
                mnext[idx * S + s2] = mp;
                exits[idx * S + s2] = !(Vn >= X[idx]);
            }
        }
    }
}

struct SolveReport {
    int iterations = 0;  // Bellman applications (policy improvements)
    bool converged = false;
    std::vector<double> history;  // sup-norm |TV - V| at each improvement
    bool monotone_failed = false;  // monotone search was not exact and grid search took over
};

// Value iteration with optional Howard policy-evaluation steps between
// improvements. Stops when the Bellman residual sup|TV - V| < tol.
inline SolveReport solve(const Problem& p, double* V, Search search, int howard, double tol, int max_iter,
                         double* Q, double* Kpol, std::int8_t* move, int threads) {
    const size_t n = p.n_states();
    std::vector<double> Vnew(n);
    SolveReport rep;
    for (int it = 1; it <= max_iter; ++it) {
        bellman_apply(p, V, search, Q, Kpol, Vnew.data(), move, threads);
        double d = sup_distance(V, Vnew.data(), n);
        std::copy(Vnew.begin(), Vnew.end(), V);
        rep.history.push_back(d);
        rep.iterations = it;
        if (d < tol) {
            // Monotone search assumes k'(m) nondecreasing, which discrete options
            // (zone floors, exit) can break: verify the fixed point with the exact
            // grid search and carry on with it if the check fails.
            if (search == Search::Monotone) {
                bellman_apply(p, V, Search::Grid, Q, Kpol, Vnew.data(), move, threads);
                double dv = sup_distance(V, Vnew.data(), n);
                if (dv >= tol) {
                    search = Search::Grid;
                    rep.monotone_failed = true;
                    std::copy(Vnew.begin(), Vnew.end(), V);
                    rep.history.push_back(dv);
                    continue;
                }
            }
            rep.converged = true;
            break;
        }
        std::vector<double> Qh(n);
        for (int h = 0; h < howard; ++h) {
            evaluate_policy(p, V, Kpol, Qh.data(), threads);
            zone_values(p, Qh.data(), Vnew.data(), move, false, threads);
            std::copy(Vnew.begin(), Vnew.end(), V);
        }
    }
    return rep;
}

}  // namespace sez
