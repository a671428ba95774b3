// Python bindings of the Bellman kernels: numpy arrays in, numpy arrays out;
// the GIL is released around each C++ loop.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bind_common.hpp"

namespace py = pybind11;

namespace {

using namespace sez_bind;

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

// A value column read at arbitrary cash exactly as the kernels read it.
darr value_at(darr cash, darr values, double floor, darr x) {
    require(cash.ndim() == 1 && values.ndim() == 1 && cash.shape(0) == values.shape(0) && cash.shape(0) >= 2,
            "cash and values must be 1-d of the same length (at least 2)");
    const int n = static_cast<int>(cash.shape(0));
    const double* c = cash.data();
    std::vector<double> inv(n, 0.0);
    for (int i = 0; i + 1 < n; ++i) {
        require(c[i + 1] > c[i], "cash must be strictly increasing");
        inv[i] = 1.0 / (c[i + 1] - c[i]);
    }
    const sez::CashAxis axis{c, inv.data(), n};
    darr out(x.request().shape);
    const double* xq = x.data();
    double* o = out.mutable_data();
    int hint = 0;
    for (py::ssize_t k = 0; k < x.size(); ++k) o[k] = sez::interp(axis, values.data(), floor, xq[k], hint);
    return out;
}

}  // namespace

void bind_bellman(py::module_& m) {
    m.def("value_at", &value_at, py::arg("cash"), py::arg("values"), py::arg("floor"), py::arg("x"),
          "A value column at arbitrary cash as the kernels read it: -inf below the floor (a node), linear between "
          "nodes, slope one above the top node.");
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
