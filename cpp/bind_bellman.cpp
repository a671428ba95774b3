// Python bindings of the Bellman kernels: numpy arrays in, numpy arrays out;
// the GIL is released around each C++ loop.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bellman.hpp"

namespace py = pybind11;
using darr = py::array_t<double, py::array::c_style | py::array::forcecast>;
using i8arr = py::array_t<std::int8_t, py::array::c_style | py::array::forcecast>;

namespace {

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
}

// Holds the arrays a Problem points into, so they outlive the C++ call.
struct Bound {
    darr cash, capital, zfac, P;
    sez::Problem p;
};

Bound make_problem(darr cash, darr capital, darr zfac, darr P, darr zones, darr scalars) {
    require(cash.ndim() == 2, "cash grid must be 2-d (type, cash)");
    require(capital.ndim() == 2, "capital grid must be 2-d (type, capital)");
    require(zfac.ndim() == 2, "zfac must be 2-d (type, shock)");
    require(P.ndim() == 2 && P.shape(0) == P.shape(1), "P must be a square matrix");
    require(zones.ndim() == 2 && zones.shape(0) == 2 && zones.shape(1) == 8, "zones must have shape (2, 8)");
    require(scalars.ndim() == 1 && scalars.shape(0) == 5, "scalars must have 5 entries");
    Bound b{cash, capital, zfac, P, {}};
    sez::Problem& p = b.p;
    p.T = static_cast<int>(cash.shape(0));
    p.M = static_cast<int>(cash.shape(1));
    p.K = static_cast<int>(capital.shape(1));
    p.S = static_cast<int>(P.shape(0));
    require(p.S >= 1 && p.S <= 64, "between 1 and 64 shock states are supported");
    require(p.M >= 2 && p.K >= 2, "cash and capital grids need at least 2 points");
    require(capital.shape(0) == p.T && zfac.shape(0) == p.T && zfac.shape(1) == p.S,
            "cash, capital and zfac must agree on the number of types and shocks");
    auto s = scalars.unchecked<1>();
    p.beta = s(0); p.q = s(1); p.delta = s(2); p.lam = s(3); p.k_exponent = s(4);
    auto z = zones.unchecked<2>();
    for (int r = 0; r < 2; ++r)
        p.zone[r] = sez::ZoneRules{z(r, 0), z(r, 1), z(r, 2), z(r, 3), z(r, 4), z(r, 5), z(r, 6) != 0.0, z(r, 7)};
    p.cash = b.cash.data();
    p.capital = b.capital.data();
    p.zfac = b.zfac.data();
    p.P = b.P.data();
    p.prepare();
    return b;
}

std::vector<py::ssize_t> state_shape(const sez::Problem& p) { return {2, p.T, p.S, p.M}; }

void check_state(const darr& a, const sez::Problem& p, const char* name) {
    require(a.ndim() == 4 && a.shape(0) == 2 && a.shape(1) == p.T && a.shape(2) == p.S && a.shape(3) == p.M,
            std::string(name) + " must have shape (2, types, shocks, cash)");
}

sez::Search to_search(const std::string& s) {
    if (s == "grid") return sez::Search::Grid;
    if (s == "monotone") return sez::Search::Monotone;
    if (s == "continuous") return sez::Search::Continuous;
    throw std::invalid_argument("unknown search '" + s + "': use 'grid', 'monotone' or 'continuous'");
}

py::dict apply(darr cash, darr capital, darr zfac, darr P, darr zones, darr scalars, darr V,
               const std::string& search, int threads) {
    Bound b = make_problem(cash, capital, zfac, P, zones, scalars);
    check_state(V, b.p, "V");
    auto sh = state_shape(b.p);
    darr Q(sh), K(sh), Vout(sh);
    i8arr move(sh);
    sez::Search srch = to_search(search);
    {
        py::gil_scoped_release nogil;
        sez::bellman_apply(b.p, V.data(), srch, Q.mutable_data(), K.mutable_data(), Vout.mutable_data(),
                           move.mutable_data(), threads);
    }
    py::dict out;
    out["Q"] = Q; out["k"] = K; out["V"] = Vout; out["move"] = move;
    return out;
}

py::dict solve(darr cash, darr capital, darr zfac, darr P, darr zones, darr scalars, darr V0,
               const std::string& search, int howard, double tol, int max_iter, int threads) {
    Bound b = make_problem(cash, capital, zfac, P, zones, scalars);
    check_state(V0, b.p, "V0");
    require(howard >= 0, "howard must be >= 0");
    require(max_iter >= 1, "max_iter must be >= 1");
    auto sh = state_shape(b.p);
    darr V(sh), Q(sh), K(sh);
    i8arr move(sh);
    std::copy(V0.data(), V0.data() + b.p.n_states(), V.mutable_data());
    sez::Search srch = to_search(search);
    sez::SolveReport rep;
    {
        py::gil_scoped_release nogil;
        rep = sez::solve(b.p, V.mutable_data(), srch, howard, tol, max_iter, Q.mutable_data(), K.mutable_data(),
                         move.mutable_data(), threads);
    }
    py::dict out;
    out["V"] = V; out["Q"] = Q; out["k"] = K; out["move"] = move;
    out["iterations"] = rep.iterations;
    out["converged"] = rep.converged;
    out["history"] = rep.history;
    out["monotone_failed"] = rep.monotone_failed;
    return out;
}

py::dict next_period(darr cash, darr capital, darr zfac, darr P, darr zones, darr scalars, darr V, darr k,
                     darr bdebt, int threads) {
    Bound b = make_problem(cash, capital, zfac, P, zones, scalars);
    check_state(V, b.p, "V");
    check_state(k, b.p, "k");
    check_state(bdebt, b.p, "b");
    auto sh = state_shape(b.p);
    auto sh5 = sh;
    sh5.push_back(b.p.S);
    darr mnext(sh5), X(sh);
    i8arr exits(sh5);
    {
        py::gil_scoped_release nogil;
        sez::next_period(b.p, V.data(), k.data(), bdebt.data(), mnext.mutable_data(), X.mutable_data(),
                         exits.mutable_data(), threads);
    }
    py::dict out;
    out["m_next"] = mnext; out["X"] = X; out["exit"] = exits;
    return out;
}

}  // namespace

void bind_bellman(py::module_& m) {
    const char* common = "cash (T,M), capital (T,K), zfac (T,S), P (S,S), zones (2,8): "
                         "tau, theta, xi, xbar, ell, move_cost, may_move, lo; scalars: beta, q, delta, lam, "
                         "k_exponent.";
    m.def("bellman_apply", &apply, py::arg("cash"), py::arg("capital"), py::arg("zfac"), py::arg("P"),
          py::arg("zones"), py::arg("scalars"), py::arg("V"), py::arg("search") = "grid", py::arg("threads") = 0,
          (std::string("One Bellman application V -> (Q, k, V, move). ") + common).c_str());
    m.def("bellman_solve", &solve, py::arg("cash"), py::arg("capital"), py::arg("zfac"), py::arg("P"),
          py::arg("zones"), py::arg("scalars"), py::arg("V0"), py::arg("search") = "grid", py::arg("howard") = 0,
          py::arg("tol") = 1e-8, py::arg("max_iter") = 2000, py::arg("threads") = 0,
          (std::string("Value iteration with Howard steps. ") + common).c_str());
    m.def("bellman_next_period", &next_period, py::arg("cash"), py::arg("capital"), py::arg("zfac"), py::arg("P"),
          py::arg("zones"), py::arg("scalars"), py::arg("V"), py::arg("k"), py::arg("b"), py::arg("threads") = 0,
          (std::string("Next cash, liquidation value and exit choice for given (k', b'). ") + common).c_str());
}
