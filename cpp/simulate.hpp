// Monte Carlo panel of individual firms under a solved model. Pure C++.
//
// Every random draw of firm f in year y is a hash of (seed, f, y, purpose): a
// counter-based stream (Salmon et al. 2011 use the same idea), so a firm's
// history does not depend on which thread simulates it or on other firms.
// Cash is continuous: values and policies are read between grid nodes exactly
// as the Bellman kernel reads them.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "bellman.hpp"
#include "law_of_motion.hpp"
#include "parallel.hpp"

namespace sez {

inline std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

// Uniform in (0, 1) from the counter (seed, firm, year, purpose).
inline double uniform(std::uint64_t seed, std::uint64_t firm, std::int64_t year, std::uint64_t purpose) {
    std::uint64_t h = splitmix64(seed ^ splitmix64(firm ^ splitmix64(static_cast<std::uint64_t>(year) * 8 + purpose)));
    return (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

enum Draw : std::uint64_t { kShock = 1, kDeath = 2, kType = 3, kCash = 4, kCash2 = 5, kCell = 6, kCount = 7 };

// Top bit set: entrants' counter streams, disjoint from initial firms' ids.
constexpr std::uint64_t kEntrantStream = std::uint64_t{1} << 63;

// One simulation run: the initial population, the entrants' arrival rate, the
// years and the seed.
struct PanelSettings {
    std::vector<double> init_cdf;    // [2*T*S*M] initial population law over investor cells
    std::int64_t n_init = 0;         // firms drawn from it at the end of year 0
    double potential_per_year = 0;   // potential entrants per year (the fraction drawn)
    int years = 0;                   // simulated years after year 0
    int record_from = 1;             // first simulated year written to the panel
    std::uint64_t seed = 0;

    // Throws unless the numbers are in range (and, given a problem, init_cdf fits it).
    void check() const {
        require(n_init >= 0 && potential_per_year >= 0 && years >= 1 && record_from >= 1 && record_from <= years,
                "need n_init >= 0, potential_per_year >= 0, years >= 1 and 1 <= record_from <= years");
    }
    void check(const Problem& p) const {
        check();
        require(init_cdf.size() == p.n_states(), "init_cdf must have one entry per state");
    }
};

// What every step of a simulation reads.
struct SimProblem {
    const Problem& bell;        // grids, zone rules, technology, the entrants' law
    const Policy& pol;          // values and capital policy
    const PanelSettings& run;

    SimProblem(const Problem& p, const Policy& pol_, const PanelSettings& run_) : bell(p), pol(pol_), run(run_) {
        pol.check(p);
        run.check(p);
    }
};

struct FirmYear {
    std::int64_t firm, year, birth_year, move_year;  // -1: unknown / never
    std::int8_t zone, birth_zone, moved, exits;
    double capital, debt, z, output, labour, profit, cash, dividends;
};

inline int draw_index(const double* cdf, int n, double u) {
    int j = static_cast<int>(std::upper_bound(cdf, cdf + n, u) - cdf);
    return j < n ? j : n - 1;
}

// Policy at off-grid cash: linear between nodes, constant beyond the top.
inline double policy_at(const double* x, const double* k, int n, double m) {
    if (m >= x[n - 1]) return k[n - 1];
    int j = static_cast<int>(std::upper_bound(x, x + n, m) - x) - 1;
    if (j < 0) return k[0];
    if (std::isnan(k[j])) return k[j + 1];
    double a = (m - x[j]) / (x[j + 1] - x[j]);
    return k[j] + a * (k[j + 1] - k[j]);
}

struct FirmState { int r, t, s; double m; };

// Capital, debt and dividends of a firm investing in zone r with cash m: dividends
// at the floor below mbar; above it, the choice at mbar and the excess paid out.
inline void invest(const SimProblem& sp, const FirmState& f, double& k, double& b, double& D) {
    const Problem& p = sp.bell;
    double mb = sp.pol.mbar[(static_cast<size_t>(f.r) * p.T + f.t) * p.S + f.s];
    double m_eff = std::isnan(mb) ? f.m : std::min(f.m, mb);
    k = policy_at(p.cash_of(f.t), sp.pol.k.data() + p.col(f.r, f.t, f.s), p.M, m_eff);
    k = std::max(0.0, std::min(k, p.kbar(f.r, m_eff)));
    b = LawOfMotion(p, f.r).debt(m_eff, k);
    D = p.zone[f.r].xbar + (f.m - m_eff);
}

// End-of-period zone choice; returns true on a move (cash net of the moving cost).
inline bool zone_switch(const SimProblem& sp, FirmState& f) {
    const Problem& p = sp.bell;
    const ZoneRules& z = p.zone[f.r];
    if (!z.may_move) return false;
    int o = 1 - f.r, h = 0;
    double stay = interp(p.axis(f.t), sp.pol.Q.data() + p.col(f.r, f.t, f.s), z.xbar, f.m, h);
    double alt = interp(p.axis(f.t), sp.pol.Q.data() + p.col(o, f.t, f.s), p.zone[o].xbar, f.m - z.move_cost, h);
    if (!(alt > stay)) return false;
    f.r = o;
    f.m -= z.move_cost;
    return true;
}

// One firm's life from the end of year `start` (state f, in its investing zone)
// until exit or the last year; recorded years appended to out. Its draws come
// from the counter stream `stream` (the firm id of an initial firm; for an
// entrant, a key of its arrival year and rank within that year).
inline void live(const SimProblem& sp, std::int64_t id, std::uint64_t stream, int start, FirmState f,
                 std::int64_t birth_year, int birth_zone, std::vector<FirmYear>& out) {
    const Problem& p = sp.bell;
    std::int8_t moved = 0;
    std::int64_t move_year = -1;
    bool left = false;
    size_t first_row = out.size();
    for (int y = start + 1; y <= sp.run.years; ++y) {
        double k, b, D;
        invest(sp, f, k, b, D);
        double u = uniform(sp.run.seed, stream, y, kShock), acc = 0.0;
        const double* row = p.P_row(f.s);
        int s2 = p.S - 1;
        for (int j = 0; j < p.S; ++j) {
            acc += row[j];
            if (u < acc) { s2 = j; break; }
        }
        if (uniform(sp.run.seed, stream, y, kDeath) < p.lam) { left = true; break; }  // death before producing
        const LawOfMotion law(p, f.r);
        const double kpow = std::pow(k, p.k_exponent);
        double profit = p.zfac[f.t * p.S + s2] * kpow;
        double m_next = law.next_cash(k, b, p.zfac[f.t * p.S + s2], kpow);
        double X = law.liquidation(k, b);
        int h = 0;
        double Vn = interp(p.axis(f.t), sp.pol.V.data() + p.col(f.r, f.t, s2), law.z.lo, m_next, h);
        if (!(Vn >= X)) { left = true; break; }  // exit by choice: liquidation beats producing
        if (y >= sp.run.record_from) {
            double output = profit / (1.0 - p.eta);
            out.push_back(FirmYear{id, y, birth_year, move_year, static_cast<std::int8_t>(f.r),
                                   static_cast<std::int8_t>(birth_zone), moved, 0, k, b, p.z[f.t * p.S + s2],
                                   output, p.eta * output / p.w, profit, m_next, D});
        }
        f.s = s2;
        f.m = m_next;
        if (zone_switch(sp, f) && !moved) {
            moved = 1;
            move_year = y;
        }
    }
    if (left && out.size() > first_row) out.back().exits = 1;
}

// Ask for transparent huge pages on a large buffer: first-touch page faults of
// a gigabyte of rows otherwise cost more than the simulation itself.
inline void advise_huge_pages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const std::uintptr_t huge = std::uintptr_t{1} << 21;
    std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(data), end = begin + bytes;
    std::uintptr_t first = (begin + huge - 1) & ~(huge - 1);
    if (first < end) madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE);
#else
    (void)data;
    (void)bytes;
#endif
}

// Standard normal from two counter draws (Box and Muller 1958).
inline double normal(std::uint64_t seed, std::uint64_t id, std::int64_t year) {
    double u1 = uniform(seed, id, year, kCash), u2 = uniform(seed, id, year, kCash2);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// The whole panel: n_init firms drawn from init_cdf at the end of year 0, then
// potential entrants each year; rows ordered by firm id, then year.
inline std::vector<std::vector<FirmYear>> simulate_panel(const SimProblem& sp, int threads, std::int64_t& n_potential) {
    const Problem& p = sp.bell;
    // firm ids: initial firms first, then each year's potential entrants in order
    std::vector<std::int64_t> first_id(sp.run.years + 1);
    std::int64_t next = sp.run.n_init;
    const std::uint64_t counter_firm = ~0ULL;
    for (int y = 0; y < sp.run.years; ++y) {
        first_id[y] = next;
        double whole = std::floor(sp.run.potential_per_year);
        next += static_cast<std::int64_t>(whole) +
                (uniform(sp.run.seed, counter_firm, y, kCount) < sp.run.potential_per_year - whole ? 1 : 0);
    }
    first_id[sp.run.years] = next;
    n_potential = next - sp.run.n_init;
    const std::int64_t n_firms = next;
    const int nthreads = resolve_threads(threads);
    std::vector<std::vector<FirmYear>> parts(nthreads);
    // a stationary population of about n_init producing firms in each recorded year
    const size_t expect = static_cast<size_t>(
        1.05 * static_cast<double>(sp.run.n_init) * (sp.run.years - sp.run.record_from + 1) / nthreads) + 16;
    const int T = p.T, S = p.S, M = p.M;
#pragma omp parallel num_threads(nthreads)
    {
#if SEZ_HAVE_OPENMP
        std::vector<FirmYear>& out = parts[omp_get_thread_num()];
#else
        std::vector<FirmYear>& out = parts[0];
#endif
        out.reserve(expect);
        advise_huge_pages(out.data(), expect * sizeof(FirmYear));
#pragma omp for schedule(static)
        for (std::int64_t id = 0; id < n_firms; ++id) {
            if (id < sp.run.n_init) {
                int c = draw_index(sp.run.init_cdf.data(), 2 * T * S * M, uniform(sp.run.seed, id, 0, kCell));
                FirmState f{c / (T * S * M), (c / (S * M)) % T, (c / M) % S, 0.0};
                f.m = p.cash_of(f.t)[c % M];
                live(sp, id, static_cast<std::uint64_t>(id), 0, f, -1, -1, out);
                continue;
            }
            int y = static_cast<int>(std::upper_bound(first_id.begin(), first_id.end(), id) - first_id.begin()) - 1;
            // An entrant's draws are keyed by (year, rank within the year), not by its id: the
            // j-th entrant of year y then gets the same draws whatever the numbers of entrants
            // in earlier years (common random numbers across parameter values).
            const std::uint64_t stream = kEntrantStream | (static_cast<std::uint64_t>(y) << 32) |
                                         static_cast<std::uint64_t>(id - first_id[y]);
            FirmState f{0, draw_index(p.type_cdf.data(), T, uniform(sp.run.seed, stream, y, kType)),
                        draw_index(p.shock_cdf.data(), S, uniform(sp.run.seed, stream, y, kShock)), 0.0};
            f.m = std::exp(p.m0_log_mean + p.m0_log_sd * normal(sp.run.seed, stream, y));
            double best = kNegInf;
            int zone = -1;
            for (int r = 0; r < 2; ++r) {
                int h = 0;
                double net = interp(p.axis(f.t), sp.pol.Q.data() + p.col(r, f.t, f.s), p.zone[r].xbar, f.m, h) - p.zone[r].entry_cost;
                if (net > best) { best = net; zone = r; }
            }
            if (!(best - (p.outside_is_cash ? f.m : 0.0) >= 0.0)) continue;  // stays out
            f.r = zone;
            live(sp, id, stream, y, f, y + 1, zone, out);
        }
    }
    return parts;  // concatenated in order: firm ids ascending, then years
}

}  // namespace sez
