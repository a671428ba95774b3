// Python binding of the firm-panel simulation; the GIL is released around it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bind_common.hpp"
#include "simulate.hpp"

namespace py = pybind11;

namespace {

using namespace sez_bind;

py::dict simulate(darr cash, darr capital, darr zfac, darr P, darr zones, darr scalars, darr V, darr Q, darr kpol,
                  darr mbar, darr zval, double eta, double w, darr type_cdf, darr shock_cdf, double m0_log_mean,
                  double m0_log_sd, darr ce, bool outside_is_cash, darr init_cdf, std::int64_t n_init,
                  double potential_per_year, int years, int record_from, std::uint64_t seed, int threads) {
    Bound b = make_problem(cash, capital, zfac, P, zones, scalars);
    const sez::Problem& p = b.p;
    check_state(V, p, "V");
    check_state(Q, p, "Q");
    check_state(kpol, p, "kpol");
    require(mbar.ndim() == 3 && mbar.shape(0) == 2 && mbar.shape(1) == p.T && mbar.shape(2) == p.S,
            "mbar must have shape (2, types, shocks)");
    require(zval.ndim() == 2 && zval.shape(0) == p.T && zval.shape(1) == p.S, "zval must have shape (types, shocks)");
    require(type_cdf.size() == p.T && shock_cdf.size() == p.S, "type_cdf and shock_cdf must match types and shocks");
    require(init_cdf.size() == static_cast<py::ssize_t>(p.n_states()), "init_cdf must have one entry per state");
    require(ce.size() == 2, "ce must have 2 entries");
    require(n_init >= 0 && potential_per_year >= 0 && years >= 1 && record_from >= 1 && record_from <= years,
            "need n_init >= 0, potential_per_year >= 0, years >= 1 and 1 <= record_from <= years");
    sez::SimProblem sp;
    sp.bell = &p;
    sp.V = V.data(); sp.Q = Q.data(); sp.kpol = kpol.data(); sp.mbar = mbar.data(); sp.zval = zval.data();
    sp.eta = eta; sp.w = w;
    sp.type_cdf = type_cdf.data(); sp.shock_cdf = shock_cdf.data();
    sp.m0_log_mean = m0_log_mean; sp.m0_log_sd = m0_log_sd;
    sp.ce[0] = ce.at(0); sp.ce[1] = ce.at(1);
    sp.outside_is_cash = outside_is_cash;
    sp.init_cdf = init_cdf.data(); sp.n_init = n_init;
    sp.potential_per_year = potential_per_year;
    sp.years = years; sp.record_from = record_from; sp.seed = seed;
    std::vector<std::vector<sez::FirmYear>> parts;
    std::int64_t n_potential = 0;
    {
        py::gil_scoped_release nogil;
        parts = sez::simulate_panel(sp, threads, n_potential);
    }
    std::vector<size_t> offset(parts.size() + 1, 0);
    for (size_t k = 0; k < parts.size(); ++k) offset[k + 1] = offset[k] + parts[k].size();
    const auto n = static_cast<py::ssize_t>(offset.back());
    py::array_t<std::int64_t> firm(n), year(n), birth_year(n), move_year(n);
    py::array_t<std::int8_t> zone(n), birth_zone(n), moved(n), exits(n);
    py::array_t<double> capital_col(n), investment(n), debt(n), z(n), output(n), labour(n), profit(n), cash_next(n), dividends(n);
    {
        // one pass over the rows, writing every column (the rows are large)
        py::gil_scoped_release nogil;
        auto* c_firm = firm.mutable_data(); auto* c_year = year.mutable_data();
        auto* c_by = birth_year.mutable_data(); auto* c_my = move_year.mutable_data();
        auto* c_zone = zone.mutable_data(); auto* c_bz = birth_zone.mutable_data();
        auto* c_moved = moved.mutable_data(); auto* c_exits = exits.mutable_data();
        auto* c_k = capital_col.mutable_data(); auto* c_inv = investment.mutable_data(); auto* c_b = debt.mutable_data(); auto* c_z = z.mutable_data();
        auto* c_y = output.mutable_data(); auto* c_l = labour.mutable_data(); auto* c_pi = profit.mutable_data();
        auto* c_m = cash_next.mutable_data(); auto* c_d = dividends.mutable_data();
        const int nparts = static_cast<int>(parts.size());
#pragma omp parallel for schedule(static) num_threads(sez::resolve_threads(threads))
        for (int k = 0; k < nparts; ++k) {
            size_t o = offset[k];
            const std::vector<sez::FirmYear>& rows = parts[k];
            for (size_t j = 0; j < rows.size(); ++j) {
                const sez::FirmYear& r = rows[j];
                // investment k_{t+1} - (1 - delta) k_t needs next year's row of the same firm (never in another part)
                bool next = j + 1 < rows.size() && rows[j + 1].firm == r.firm && rows[j + 1].year == r.year + 1;
                c_inv[o] = next ? rows[j + 1].capital - (1.0 - p.delta) * r.capital : std::nan("");
                c_firm[o] = r.firm; c_year[o] = r.year; c_by[o] = r.birth_year; c_my[o] = r.move_year;
                c_zone[o] = r.zone; c_bz[o] = r.birth_zone; c_moved[o] = r.moved; c_exits[o] = r.exits;
                c_k[o] = r.capital; c_b[o] = r.debt; c_z[o] = r.z; c_y[o] = r.output; c_l[o] = r.labour;
                c_pi[o] = r.profit; c_m[o] = r.cash; c_d[o] = r.dividends;
                ++o;
            }
        }
    }
    py::dict out;
    out["firm"] = firm; out["year"] = year; out["birth_year"] = birth_year; out["move_year"] = move_year;
    out["zone"] = zone; out["birth_zone"] = birth_zone; out["moved"] = moved; out["exits"] = exits;
    out["capital"] = capital_col; out["investment"] = investment; out["debt"] = debt; out["z"] = z; out["output"] = output; out["labour"] = labour;
    out["profit"] = profit; out["cash"] = cash_next; out["dividends"] = dividends;
    out["n_potential"] = n_potential;
    return out;
}

}  // namespace

void bind_simulate(py::module_& m) {
    m.def("simulate_panel", &simulate, py::arg("cash"), py::arg("capital"), py::arg("zfac"), py::arg("P"),
          py::arg("zones"), py::arg("scalars"), py::arg("V"), py::arg("Q"), py::arg("kpol"), py::arg("mbar"),
          py::arg("zval"), py::arg("eta"), py::arg("w"), py::arg("type_cdf"), py::arg("shock_cdf"),
          py::arg("m0_log_mean"), py::arg("m0_log_sd"), py::arg("ce"), py::arg("outside_is_cash"),
          py::arg("init_cdf"), py::arg("n_init"), py::arg("potential_per_year"), py::arg("years"),
          py::arg("record_from"), py::arg("seed"), py::arg("threads") = 0,
          "Monte Carlo firm panel with counter-based random streams: columns as arrays, rows by firm then year.");
}
