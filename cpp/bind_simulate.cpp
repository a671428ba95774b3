// Python binding of the firm-panel simulation; the GIL is released around it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bind_common.hpp"
#include "simulate.hpp"

namespace py = pybind11;

namespace {

using namespace sez_bind;

constexpr const char* kSettingsFields[] = {"init_cdf", "n_init", "potential_per_year", "years", "record_from",
                                           "seed"};

sez::PanelSettings settings(darr init_cdf, std::int64_t n_init, double potential_per_year, int years,
                            int record_from, std::uint64_t seed) {
    require_ndim(init_cdf, 1, "init_cdf");
    sez::PanelSettings run{to_vector(init_cdf), n_init, potential_per_year, years, record_from, seed};
    run.check();
    return run;
}

py::dict simulate(const sez::Problem& p, const sez::Policy& pol, const sez::PanelSettings& run, int threads) {
    const sez::SimProblem sp(p, pol, run);
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
    return make_dict({{"firm", firm}, {"year", year}, {"birth_year", birth_year}, {"move_year", move_year},
                      {"zone", zone}, {"birth_zone", birth_zone}, {"moved", moved}, {"exits", exits},
                      {"capital", capital_col}, {"investment", investment}, {"debt", debt}, {"z", z},
                      {"output", output}, {"labour", labour}, {"profit", profit}, {"cash", cash_next},
                      {"dividends", dividends}, {"n_potential", py::cast(n_potential)}});
}

}  // namespace

void bind_simulate(py::module_& m) {
    using sez::PanelSettings;
    py::class_<PanelSettings> ps(m, "PanelSettings",
                                 "One simulation run: the initial population law over investor states, the number "
                                 "of initial firms, potential entrants per year, years, the first recorded year and "
                                 "the seed. Attributes are read-only.");
    ps.def(py::init(&settings), py::kw_only(), py::arg("init_cdf"), py::arg("n_init"), py::arg("potential_per_year"),
           py::arg("years"), py::arg("record_from"), py::arg("seed"))
        .def_property_readonly("init_cdf",
                               [](const PanelSettings& s) {
                                   return to_array(s.init_cdf, {static_cast<py::ssize_t>(s.init_cdf.size())});
                               })
        .def_readonly("n_init", &PanelSettings::n_init)
        .def_readonly("potential_per_year", &PanelSettings::potential_per_year)
        .def_readonly("years", &PanelSettings::years)
        .def_readonly("record_from", &PanelSettings::record_from)
        .def_readonly("seed", &PanelSettings::seed);
    def_pickle_by_fields<PanelSettings>(ps, kSettingsFields);
    m.def("simulate_panel", &simulate, py::arg("problem"), py::arg("policy"), py::arg("settings"),
          py::arg("threads") = 0,
          "Monte Carlo firm panel with counter-based random streams: dict of columns (rows by firm, then year) "
          "and n_potential.");
}
