// Python binding of the growth-model solver: numpy arrays in, a dict out; the
// GIL is released around the C++ loop.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bind_common.hpp"
#include "growth.hpp"

namespace py = pybind11;

namespace {

using namespace sez_bind;

py::dict growth_solve(darr k_grid, darr z, darr P, double alpha, double beta, const std::string& method,
                      int howard_steps, double tol, int max_iter, int threads) {
    require_ndim(k_grid, 1, "k_grid");
    require_ndim(z, 1, "z");
    require(P.ndim() == 2 && P.shape(0) == z.shape(0) && P.shape(1) == z.shape(0),
            "P must have shape (n_z, n_z) = (" + std::to_string(z.shape(0)) + ", " + std::to_string(z.shape(0)) + ")");
    require(k_grid.shape(0) <= (1LL << 30), "k_grid is too large");
    require(threads >= 0, "threads must be >= 0 (0: OpenMP default)");
    const sez::GrowthMethod m = sez::parse_growth_method(method);

    sez::GrowthProblem g;
    g.k = k_grid.data();
    g.z = z.data();
    g.P = P.data();
    g.n_k = static_cast<int>(k_grid.shape(0));
    g.n_z = static_cast<int>(z.shape(0));
    g.alpha = alpha;
    g.beta = beta;
    sez::validate_growth(g);  // throw before the GIL is released

    std::vector<py::ssize_t> shape{g.n_k, g.n_z};
    darr V(shape), kprime(shape);
    i64arr policy(shape);
    sez::GrowthReport rep;
    {
        py::gil_scoped_release nogil;
        rep = sez::solve_growth(g, m, howard_steps, tol, max_iter, threads, V.mutable_data(), policy.mutable_data(),
                                kprime.mutable_data());
    }
    return make_dict({{"V", V}, {"policy_index", policy}, {"policy", kprime},
                      {"iterations", py::cast(rep.iterations)}, {"converged", py::cast(rep.converged)},
                      {"history", to_array(rep.history, {static_cast<py::ssize_t>(rep.history.size())})}});
}

}  // namespace

void bind_growth(py::module_& m) {
    m.def("growth_solve", &growth_solve, py::arg("k_grid"), py::arg("z"), py::arg("P"), py::arg("alpha"),
          py::arg("beta"), py::arg("method") = "howard", py::arg("howard_steps") = 20, py::arg("tol") = 1e-7,
          py::arg("max_iter") = 5000, py::arg("threads") = 0,
          "Value iteration for the stochastic growth model of Aruoba & Fernandez-Villaverde (2015).\n\n"
          "V(k,z) = max_k' (1-beta) log(z k^alpha - k') + beta sum_z' P[z,z'] V(k',z'), k' on the grid.\n"
          "k_grid (n_k,) strictly increasing and positive; z (n_z,) positive; P (n_z, n_z) row-stochastic.\n"
          "method: 'grid' (brute force), 'monotone' (monotone start, stop at the first decline) or\n"
          "'howard' (monotone improvements with howard_steps policy evaluations, finished by\n"
          "concavity-checked plain sweeps). Stops when sup|TV - V| < tol. threads: 0 = OpenMP default.\n"
          "Returns a dict: V (n_k, n_z), policy_index (int64, n_k, n_z), policy (k' values),\n"
          "iterations, converged, history (sup|TV - V| per improvement).");
}
