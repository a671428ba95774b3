// Shared pieces of the bindings, each defined once: array types, argument
// checks, copies between numpy arrays and the kernels' vectors, result dicts,
// and pickling of the bound structs by their keyword arguments.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "problem.hpp"
#include "require.hpp"

namespace sez_bind {

namespace py = pybind11;
template <class T>
using arr = py::array_t<T, py::array::c_style | py::array::forcecast>;
using darr = arr<double>;
using i8arr = arr<std::int8_t>;
using i64arr = arr<std::int64_t>;
using sez::require;

inline void require_ndim(const py::array& a, int ndim, const std::string& name) {
    require(a.ndim() == ndim, name + " must be " + std::to_string(ndim) + "-d, got " + std::to_string(a.ndim()) +
                                  " dimensions");
}

// `what` names the array and its axes, e.g. "V must have shape (2, types, shocks, cash)".
inline void require_shape(const py::array& a, std::initializer_list<py::ssize_t> shape, const std::string& what) {
    bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
    int d = 0;
    for (py::ssize_t n : shape) ok = ok && a.shape(d++) == n;
    require(ok, what);
}

template <class T>
std::vector<T> to_vector(const arr<T>& a) {
    return std::vector<T>(a.data(), a.data() + a.size());
}

template <class T>
arr<T> to_array(const std::vector<T>& v, std::vector<py::ssize_t> shape) {
    arr<T> out(std::move(shape));
    require(static_cast<size_t>(out.size()) == v.size(), "internal: array shape and vector size differ");
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

inline std::vector<py::ssize_t> state_shape(const sez::Problem& p) { return {2, p.T, p.S, p.M}; }

inline void check_state(const darr& a, const sez::Problem& p, const char* name) {
    require_shape(a, {2, p.T, p.S, p.M}, std::string(name) + " must have shape (2, types, shocks, cash)");
}

// A result dict from (name, value) pairs.
inline py::dict make_dict(std::initializer_list<std::pair<const char*, py::object>> items) {
    py::dict out;
    for (const auto& [name, value] : items) out[name] = value;
    return out;
}

// Pickling by keyword arguments: the state is the dict of the attributes named
// by `fields` (the constructor's keywords), and unpickling calls the class with it.
template <class T, class Class, size_t N>
void def_pickle_by_fields(Class& cls, const char* const (&fields)[N]) {
    cls.def(py::pickle(
        [&fields](const py::object& self) {
            py::dict state;
            for (const char* f : fields) state[f] = self.attr(f);
            return state;
        },
        [](const py::dict& state) { return py::type::of<T>()(**state).template cast<T>(); }));
}

}  // namespace sez_bind
