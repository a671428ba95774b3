// Python bindings of the model's structs: ZoneRules, Problem and Policy, built
// from keyword arguments (numpy arrays are copied in once), read through named
// attributes, pickled by their keyword arguments.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bind_common.hpp"
#include "problem.hpp"

namespace py = pybind11;

namespace {

using namespace sez_bind;

constexpr const char* kZoneFields[] = {"tau", "theta", "xi", "xbar", "ell", "move_cost", "may_move", "lo",
                                       "entry_cost"};
constexpr const char* kProblemFields[] = {
    "cash", "capital", "zfac", "P", "zones", "beta", "q", "delta", "lam", "k_exponent", "z", "eta", "w",
    "type_cdf", "shock_cdf", "m0_log_mean", "m0_log_sd", "outside_is_cash"};
constexpr const char* kPolicyFields[] = {"V", "Q", "k", "mbar", "move", "m_next", "exits"};

sez::ZoneRules zone_rules(double tau, double theta, double xi, double xbar, double ell, double move_cost,
                          bool may_move, double lo, double entry_cost) {
    return sez::ZoneRules{tau, theta, xi, xbar, ell, move_cost, may_move, lo, entry_cost};
}

sez::Problem problem(darr cash, darr capital, darr zfac, darr P, const std::vector<sez::ZoneRules>& zones,
                     double beta, double q, double delta, double lam, double k_exponent, darr z, double eta,
                     double w, darr type_cdf, darr shock_cdf, double m0_log_mean, double m0_log_sd,
                     bool outside_is_cash) {
    require_ndim(cash, 2, "cash (types, cash points)");
    require_ndim(capital, 2, "capital (types, capital points)");
    require(P.ndim() == 2 && P.shape(0) == P.shape(1), "P must be a square matrix");
    require(zones.size() == 2, "zones must hold the ZoneRules of N and S");
    sez::Problem p;
    p.T = static_cast<int>(cash.shape(0));
    p.M = static_cast<int>(cash.shape(1));
    p.K = static_cast<int>(capital.shape(1));
    p.S = static_cast<int>(P.shape(0));
    require_shape(capital, {p.T, p.K}, "capital must have one row per type");
    require_shape(zfac, {p.T, p.S}, "zfac must have shape (types, shocks)");
    require_shape(z, {p.T, p.S}, "z must have shape (types, shocks)");
    require_shape(type_cdf, {p.T}, "type_cdf must have one entry per type");
    require_shape(shock_cdf, {p.S}, "shock_cdf must have one entry per shock");
    p.cash = to_vector(cash);
    p.capital = to_vector(capital);
    p.zfac = to_vector(zfac);
    p.P = to_vector(P);
    p.zone[0] = zones[0];
    p.zone[1] = zones[1];
    p.beta = beta; p.q = q; p.delta = delta; p.lam = lam; p.k_exponent = k_exponent;
    p.z = to_vector(z);
    p.eta = eta; p.w = w;
    p.type_cdf = to_vector(type_cdf);
    p.shock_cdf = to_vector(shock_cdf);
    p.m0_log_mean = m0_log_mean; p.m0_log_sd = m0_log_sd;
    p.outside_is_cash = outside_is_cash;
    p.prepare();
    return p;
}

sez::Policy policy(darr V, darr Q, darr k, darr mbar, i8arr move, darr m_next, i8arr exits) {
    require_ndim(V, 4, "V (2, types, shocks, cash)");
    sez::Policy pol;
    pol.T = static_cast<int>(V.shape(1));
    pol.S = static_cast<int>(V.shape(2));
    pol.M = static_cast<int>(V.shape(3));
    const std::string states = " must have the shape of V: (2, types, shocks, cash)";
    require_shape(V, {2, pol.T, pol.S, pol.M}, "V" + states);
    require_shape(Q, {2, pol.T, pol.S, pol.M}, "Q" + states);
    require_shape(k, {2, pol.T, pol.S, pol.M}, "k" + states);
    require_shape(move, {2, pol.T, pol.S, pol.M}, "move" + states);
    require_shape(mbar, {2, pol.T, pol.S}, "mbar must have shape (2, types, shocks)");
    require_shape(m_next, {2, pol.T, pol.S, pol.M, pol.S}, "m_next must have shape (2, types, shocks, cash, shocks)");
    require_shape(exits, {2, pol.T, pol.S, pol.M, pol.S}, "exits must have shape (2, types, shocks, cash, shocks)");
    pol.V = to_vector(V);
    pol.Q = to_vector(Q);
    pol.k = to_vector(k);
    pol.mbar = to_vector(mbar);
    pol.move = to_vector(move);
    pol.m_next = to_vector(m_next);
    pol.exits = to_vector(exits);
    return pol;
}

std::string zone_repr(const py::object& self) {
    std::string out = "ZoneRules(";
    for (const char* f : kZoneFields) out += std::string(f) + "=" + py::repr(self.attr(f)).cast<std::string>() + ", ";
    return out.substr(0, out.size() - 2) + ")";
}

}  // namespace

void bind_problem(py::module_& m) {
    using sez::Policy;
    using sez::Problem;
    using sez::ZoneRules;

    py::class_<ZoneRules> zr(m, "ZoneRules", "The rules of one zone (docs/model.md).");
    zr.def(py::init(&zone_rules), py::kw_only(), py::arg("tau"), py::arg("theta"), py::arg("xi"), py::arg("xbar"),
           py::arg("ell"), py::arg("move_cost"), py::arg("may_move"), py::arg("lo"), py::arg("entry_cost"))
        .def_readwrite("tau", &ZoneRules::tau, "corporate tax")
        .def_readwrite("theta", &ZoneRules::theta, "collateral: b' <= theta k'")
        .def_readwrite("xi", &ZoneRules::xi, "fixed operating cost")
        .def_readwrite("xbar", &ZoneRules::xbar, "minimum dividend (eligibility floor)")
        .def_readwrite("ell", &ZoneRules::ell, "liquidation X = ell (1 - delta) k - b")
        .def_readwrite("move_cost", &ZoneRules::move_cost, "cost of moving to the other zone")
        .def_readwrite("may_move", &ZoneRules::may_move, "whether the move to the other zone exists")
        .def_readwrite("lo", &ZoneRules::lo, "lowest cash at which the zone's value is finite (a cash node)")
        .def_readwrite("entry_cost", &ZoneRules::entry_cost, "an entrant's cost of entering the zone")
        .def("__repr__", &zone_repr);
    def_pickle_by_fields<ZoneRules>(zr, kZoneFields);

    py::class_<Problem> pr(m, "Problem",
                           "The firm's problem: grids, shock transition, zone rules, scalars and the entrants' law. "
                           "Arrays are copied in; attributes are read-only.");
    pr.def(py::init(&problem), py::kw_only(), py::arg("cash"), py::arg("capital"), py::arg("zfac"), py::arg("P"),
           py::arg("zones"), py::arg("beta"), py::arg("q"), py::arg("delta"), py::arg("lam"), py::arg("k_exponent"),
           py::arg("z"), py::arg("eta"), py::arg("w"), py::arg("type_cdf"), py::arg("shock_cdf"),
           py::arg("m0_log_mean"), py::arg("m0_log_sd"), py::arg("outside_is_cash"))
        .def_readonly("n_types", &Problem::T)
        .def_readonly("n_shocks", &Problem::S)
        .def_readonly("n_cash", &Problem::M)
        .def_readonly("n_capital", &Problem::K)
        .def_property_readonly("cash", [](const Problem& p) { return to_array(p.cash, {p.T, p.M}); })
        .def_property_readonly("capital", [](const Problem& p) { return to_array(p.capital, {p.T, p.K}); })
        .def_property_readonly("zfac", [](const Problem& p) { return to_array(p.zfac, {p.T, p.S}); })
        .def_property_readonly("P", [](const Problem& p) { return to_array(p.P, {p.S, p.S}); })
        .def_property_readonly("zones", [](const Problem& p) { return py::make_tuple(p.zone[0], p.zone[1]); },
                               "(N, S) rules, copies")
        .def_readonly("beta", &Problem::beta)
        .def_readonly("q", &Problem::q)
        .def_readonly("delta", &Problem::delta)
        .def_readonly("lam", &Problem::lam)
        .def_readonly("k_exponent", &Problem::k_exponent)
        .def_property_readonly("z", [](const Problem& p) { return to_array(p.z, {p.T, p.S}); })
        .def_readonly("eta", &Problem::eta)
        .def_readonly("w", &Problem::w)
        .def_property_readonly("type_cdf", [](const Problem& p) { return to_array(p.type_cdf, {p.T}); })
        .def_property_readonly("shock_cdf", [](const Problem& p) { return to_array(p.shock_cdf, {p.S}); })
        .def_readonly("m0_log_mean", &Problem::m0_log_mean)
        .def_readonly("m0_log_sd", &Problem::m0_log_sd)
        .def_readonly("outside_is_cash", &Problem::outside_is_cash)
        .def("__repr__", [](const Problem& p) {
            return "Problem(types=" + std::to_string(p.T) + ", shocks=" + std::to_string(p.S) + ", cash=" +
                   std::to_string(p.M) + ", capital=" + std::to_string(p.K) + ")";
        });
    def_pickle_by_fields<Problem>(pr, kProblemFields);

    py::class_<Policy> po(m, "Policy",
                          "The solved decisions the distribution and simulation kernels read. Arrays are copied "
                          "in; attributes are read-only.");
    po.def(py::init(&policy), py::kw_only(), py::arg("V"), py::arg("Q"), py::arg("k"), py::arg("mbar"),
           py::arg("move"), py::arg("m_next"), py::arg("exits"))
        .def_property_readonly("V", [](const Policy& p) { return to_array(p.V, {2, p.T, p.S, p.M}); })
        .def_property_readonly("Q", [](const Policy& p) { return to_array(p.Q, {2, p.T, p.S, p.M}); })
        .def_property_readonly("k", [](const Policy& p) { return to_array(p.k, {2, p.T, p.S, p.M}); })
        .def_property_readonly("mbar", [](const Policy& p) { return to_array(p.mbar, {2, p.T, p.S}); })
        .def_property_readonly("move", [](const Policy& p) { return to_array(p.move, {2, p.T, p.S, p.M}); })
        .def_property_readonly("m_next", [](const Policy& p) { return to_array(p.m_next, {2, p.T, p.S, p.M, p.S}); })
        .def_property_readonly("exits", [](const Policy& p) { return to_array(p.exits, {2, p.T, p.S, p.M, p.S}); });
    def_pickle_by_fields<Policy>(po, kPolicyFields);
}
