// The extension module sez._core: one bind_* function per kernel family.
#include <pybind11/pybind11.h>

#include <stdexcept>

#include "parallel.hpp"

namespace py = pybind11;

void bind_problem(py::module_& m);
void bind_bellman(py::module_& m);
void bind_growth(py::module_& m);
void bind_distribution(py::module_& m);
void bind_simulate(py::module_& m);
void bind_stats(py::module_& m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "C++ kernels of sez (private: use the sez package)";
    m.attr("have_openmp") = sez::have_openmp();
    m.def("max_threads", []() { return sez::resolve_threads(0); }, "OpenMP's default thread count (1 without OpenMP)");
    m.def("set_max_threads", [](int n) {
        if (n < 1) throw std::invalid_argument("threads must be >= 1");
#if SEZ_HAVE_OPENMP
        omp_set_num_threads(n);
#endif
    }, py::arg("threads"), "Set OpenMP's default thread count for kernels called with threads=None");
    bind_problem(m);  // first: the kernels' signatures name its types
    bind_bellman(m);
    bind_growth(m);
    bind_distribution(m);
    bind_simulate(m);
    bind_stats(m);
}
