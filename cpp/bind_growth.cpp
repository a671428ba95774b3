// Placeholder until the growth-model kernel lands.
#include <pybind11/pybind11.h>
namespace py = pybind11;
void bind_growth(py::module_&) {}
