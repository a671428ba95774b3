// Python bindings of the Bellman kernels: numpy arrays in, numpy arrays out;
// the GIL is released around each C++ loop.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bellman.hpp"
#include "bind_common.hpp"

namespace py = pybind11;

namespace {

using namespace sez_bind;

sez::Search to_search(const std::string& s) {
    return sez::choose<sez::Search>(
        "search", s, {{"grid", sez::Search::Grid}, {"monotone", sez::Search::Monotone}, {"continuous", sez::Search::Continuous}});
}

py::dict apply(const sez::Problem& p, darr V, const std::string& search, int threads) {
    check_state(V, p, "V");
    auto sh = state_shape(p);
    darr Q(sh), K(sh), Vout(sh);
    i8arr move(sh);
    sez::Search srch = to_search(search);
    {
        py::gil_scoped_release nogil;
        sez::bellman_apply(p, V.data(), srch, Q.mutable_data(), K.mutable_data(), Vout.mutable_data(),
                           move.mutable_data(), threads);
    }
    return make_dict({{"Q", Q}, {"k", K}, {"V", Vout}, {"move", move}});
}

py::dict solve(const sez::Problem& p, darr V0, const std::string& search, int howard, double tol, int max_iter,
               int threads) {
    check_state(V0, p, "V0");
    require(howard >= 0, "howard must be >= 0");
    require(max_iter >= 1, "max_iter must be >= 1");
    auto sh = state_shape(p);
    darr V(sh), Q(sh), K(sh);
    i8arr move(sh);
    std::copy(V0.data(), V0.data() + p.n_states(), V.mutable_data());
    sez::Search srch = to_search(search);
    sez::SolveReport rep;
    {
        py::gil_scoped_release nogil;
        rep = sez::solve(p, V.mutable_data(), srch, howard, tol, max_iter, Q.mutable_data(), K.mutable_data(),
                         move.mutable_data(), threads);
    }
    return make_dict({{"V", V}, {"Q", Q}, {"k", K}, {"move", move}, {"iterations", py::cast(rep.iterations)},
                      {"converged", py::cast(rep.converged)}, {"history", py::cast(rep.history)},
                      {"monotone_failed", py::cast(rep.monotone_failed)}});
}

py::dict next_period(const sez::Problem& p, darr V, darr k, darr bdebt, int threads) {
    check_state(V, p, "V");
    check_state(k, p, "k");
    check_state(bdebt, p, "b");
    auto sh = state_shape(p);
    auto sh5 = sh;
    sh5.push_back(p.S);
    darr mnext(sh5), X(sh);
    i8arr exits(sh5);
    {
        py::gil_scoped_release nogil;
        sez::next_period(p, V.data(), k.data(), bdebt.data(), mnext.mutable_data(), X.mutable_data(),
                         exits.mutable_data(), threads);
    }
    return make_dict({{"m_next", mnext}, {"X", X}, {"exit", exits}});
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
    m.def("bellman_apply", &apply, py::arg("problem"), py::arg("V"), py::arg("search") = "grid",
          py::arg("threads") = 0, "One Bellman application V -> dict of Q, k, V, move.");
    m.def("bellman_solve", &solve, py::arg("problem"), py::arg("V0"), py::arg("search") = "grid",
          py::arg("howard") = 0, py::arg("tol") = 1e-8, py::arg("max_iter") = 2000, py::arg("threads") = 0,
          "Value iteration with Howard steps from V0: dict of V, Q, k, move, iterations, converged, history, "
          "monotone_failed.");
    m.def("bellman_next_period", &next_period, py::arg("problem"), py::arg("V"), py::arg("k"), py::arg("b"),
          py::arg("threads") = 0,
          "Next cash, liquidation value and exit choice for given (k', b'): dict of m_next, X, exit.");
}
