// Python bindings of the distribution kernels; the GIL is released around the loops.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "bind_common.hpp"
#include "distribution.hpp"

namespace py = pybind11;

namespace {

using namespace sez_bind;

struct BoundDist {
    darr cash, P, m_next, entrants;
    i8arr move, exits;
    sez::DistProblem p;
};

BoundDist make(darr cash, darr P, double lam, i8arr move, darr move_cost, darr m_next, i8arr exits, darr entrants) {
    require(cash.ndim() == 2, "cash grid must be 2-d (type, cash)");
    require(P.ndim() == 2 && P.shape(0) == P.shape(1), "P must be square");
    require(lam >= 0.0 && lam < 1.0, "lam must lie in [0, 1)");
    require(move_cost.ndim() == 1 && move_cost.shape(0) == 2, "move_cost must have 2 entries");
    BoundDist b{cash, P, m_next, entrants, move, exits, {}};
    sez::DistProblem& p = b.p;
    p.T = static_cast<int>(cash.shape(0));
    p.M = static_cast<int>(cash.shape(1));
    p.S = static_cast<int>(P.shape(0));
    p.lam = lam;
    auto shape_ok = [&](const py::array& a, int nd) {
        if (a.ndim() != nd || a.shape(0) != 2 || a.shape(1) != p.T || a.shape(2) != p.S || a.shape(3) != p.M) return false;
        return nd == 4 || a.shape(4) == p.S;
    };
    require(shape_ok(move, 4), "move must have shape (2, types, shocks, cash)");
    require(shape_ok(entrants, 4), "entrants must have shape (2, types, shocks, cash)");
    require(shape_ok(m_next, 5), "m_next must have shape (2, types, shocks, cash, shocks)");
    require(shape_ok(exits, 5), "exits must have shape (2, types, shocks, cash, shocks)");
    p.cash = b.cash.data();
    p.P = b.P.data();
    p.move = b.move.data();
    p.move_cost[0] = move_cost.at(0);
    p.move_cost[1] = move_cost.at(1);
    p.m_next = b.m_next.data();
    p.exits = b.exits.data();
    p.entrants = b.entrants.data();
    return b;
}

py::dict stationary(darr cash, darr P, double lam, i8arr move, darr move_cost, darr m_next, i8arr exits,
                    darr entrants, darr mu0, double tol, int max_iter, int threads) {
    BoundDist b = make(cash, P, lam, move, move_cost, m_next, exits, entrants);
    require(mu0.size() == entrants.size(), "mu0 must have the shape of entrants");
    require(max_iter >= 1 && tol > 0, "need max_iter >= 1 and tol > 0");
    std::vector<py::ssize_t> sh(entrants.shape(), entrants.shape() + 4);
    darr mu(sh), nu(sh);
    std::copy(mu0.data(), mu0.data() + mu0.size(), mu.mutable_data());
    sez::DistReport rep;
    {
        py::gil_scoped_release nogil;
        rep = sez::stationary(b.p, mu.mutable_data(), nu.mutable_data(), tol, max_iter, threads);
    }
    py::dict out;
    out["mu"] = mu; out["nu"] = nu;
    out["iterations"] = rep.iterations; out["converged"] = rep.converged;
    out["history"] = rep.history; out["clipped_share"] = rep.clipped_share;
    return out;
}

py::dict push_forward(darr cash, darr P, double lam, i8arr move, darr move_cost, darr m_next, i8arr exits,
                      darr entrants, darr mu, int threads) {
    BoundDist b = make(cash, P, lam, move, move_cost, m_next, exits, entrants);
    require(mu.size() == entrants.size(), "mu must have the shape of entrants");
    std::vector<py::ssize_t> sh(entrants.shape(), entrants.shape() + 4);
    darr nu(sh), next(sh);
    {
        py::gil_scoped_release nogil;
        sez::DistMaps d = sez::build_maps(b.p);
        sez::choose_zones(b.p, d, mu.data(), nu.mutable_data(), threads);
        sez::produce(b.p, d, nu.data(), next.mutable_data(), threads);
    }
    py::dict out;
    out["nu"] = nu; out["mu"] = next;
    return out;
}

}  // namespace

void bind_distribution(py::module_& m) {
    m.def("stationary_distribution", &stationary, py::arg("cash"), py::arg("P"), py::arg("lam"), py::arg("move"),
          py::arg("move_cost"), py::arg("m_next"), py::arg("exits"), py::arg("entrants"), py::arg("mu0"),
          py::arg("tol") = 1e-13, py::arg("max_iter") = 20000, py::arg("threads") = 0,
          "Stationary measure by the histogram method: returns mu (after production), nu (investors), "
          "iterations, converged, history, clipped_share.");
    m.def("push_forward", &push_forward, py::arg("cash"), py::arg("P"), py::arg("lam"), py::arg("move"),
          py::arg("move_cost"), py::arg("m_next"), py::arg("exits"), py::arg("entrants"), py::arg("mu"),
          py::arg("threads") = 0, "One period of the histogram method: mu -> (nu, next mu).");
}
