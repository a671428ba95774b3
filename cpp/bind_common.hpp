// Shared pieces of the bindings: argument checks and the Problem built from numpy arrays.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "bellman.hpp"

namespace sez_bind {

namespace py = pybind11;
using darr = py::array_t<double, py::array::c_style | py::array::forcecast>;
using i8arr = py::array_t<std::int8_t, py::array::c_style | py::array::forcecast>;

inline void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
}

// Holds the arrays a Problem points into, so they outlive the C++ call.
struct Bound {
    darr cash, capital, zfac, P;
    sez::Problem p;
};

inline Bound make_problem(darr cash, darr capital, darr zfac, darr P, darr zones, darr scalars) {
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

inline std::vector<py::ssize_t> state_shape(const sez::Problem& p) { return {2, p.T, p.S, p.M}; }

inline void check_state(const darr& a, const sez::Problem& p, const char* name) {
    require(a.ndim() == 4 && a.shape(0) == 2 && a.shape(1) == p.T && a.shape(2) == p.S && a.shape(3) == p.M,
            std::string(name) + " must have shape (2, types, shocks, cash)");
}

}  // namespace sez_bind
