// Python bindings of the distribution kernels; the GIL is released around the loops.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bind_common.hpp"
#include "distribution.hpp"

namespace py = pybind11;

namespace {

using namespace sez_bind;

py::dict stationary(const sez::Problem& p, const sez::Policy& pol, darr entrants, darr mu0, double tol, int max_iter,
                    int threads) {
    check_state(entrants, p, "entrants");
    check_state(mu0, p, "mu0");
    require(max_iter >= 1 && tol > 0, "need max_iter >= 1 and tol > 0");
    const sez::DistProblem d(p, pol, entrants.data());
    const auto sh = state_shape(p);
    darr mu(sh), nu(sh);
    std::copy(mu0.data(), mu0.data() + mu0.size(), mu.mutable_data());
    sez::DistReport rep;
    {
        py::gil_scoped_release nogil;
        rep = sez::stationary(d, mu.mutable_data(), nu.mutable_data(), tol, max_iter, threads);
    }
    return make_dict({{"mu", mu}, {"nu", nu}, {"iterations", py::cast(rep.iterations)},
                      {"converged", py::cast(rep.converged)}, {"history", py::cast(rep.history)},
                      {"clipped_share", py::cast(rep.clipped_share)}});
}

py::dict push_forward(const sez::Problem& p, const sez::Policy& pol, darr entrants, darr mu, int threads) {
    check_state(entrants, p, "entrants");
    check_state(mu, p, "mu");
    const sez::DistProblem d(p, pol, entrants.data());
    const auto sh = state_shape(p);
    darr nu(sh), next(sh);
    {
        py::gil_scoped_release nogil;
        sez::DistMaps maps = sez::build_maps(d);
        sez::choose_zones(d, maps, mu.data(), nu.mutable_data(), threads);
        sez::produce(d, maps, nu.data(), next.mutable_data(), threads);
    }
    return make_dict({{"nu", nu}, {"mu", next}});
}

}  // namespace

void bind_distribution(py::module_& m) {
    m.def("stationary_distribution", &stationary, py::arg("problem"), py::arg("policy"), py::arg("entrants"),
          py::arg("mu0"), py::arg("tol") = 1e-13, py::arg("max_iter") = 20000, py::arg("threads") = 0,
          "Stationary measure by the histogram method from mu0, with the entrants' flow among investors: dict of "
          "mu (after production), nu (investors), iterations, converged, history, clipped_share.");
    m.def("push_forward", &push_forward, py::arg("problem"), py::arg("policy"), py::arg("entrants"), py::arg("mu"),
          py::arg("threads") = 0, "One period of the histogram method: mu -> dict of nu, mu (the next period's).");
}
