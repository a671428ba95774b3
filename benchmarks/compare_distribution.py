"""Distribution, simulation and counterfactual timings, with the C++ push-forward
set against a vectorised numpy push-forward of the same histogram method.

    python benchmarks/compare_distribution.py [--quick]

Targets (issue: stationary distribution, panel, counterfactuals): the stationary
distribution on the default grid under 0.5 s; 100,000 firms for 60 years under
2 s on 2 cores; a full counterfactual (two solves, distributions, panels) under 10 s.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from sez.model import CollateralWarning, Grid, Params, counterfactual, entrants, simulate, solve, stationary


def best_of(func, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t)
    return min(times), out


class NumpyPushForward:
    """What a careful numpy user writes: lotteries computed once with searchsorted,
    then each period two bincounts over flattened destination indices."""

    def __init__(self, sol, ent):
        p, space = sol.params, sol.space
        self.shape = sol.V.shape
        _, T, S, M = self.shape
        self.entrants = ent.measure.ravel()
        r, t, s, i = np.indices(self.shape)
        cost = np.array([p.cm, p.cm_out])[r]
        dest_zone = sol.zone
        cash = space.cash[t, i] - np.where(dest_zone != r, cost, 0.0)
        j, up = self._split(space.cash, t, cash)
        base = ((dest_zone * T + t) * S + s) * M
        self.move_lo, self.move_hi, self.move_up = (base + j).ravel(), (base + np.minimum(j + 1, M - 1)).ravel(), \
            up.ravel()
        # production: (2, T, S, M, S') -> zone r, type t, shock s', lower node
        P = space.shocks.P
        prob = (1 - p.lam) * P[np.broadcast_to(s[..., None], sol.exits.shape),
                               np.broadcast_to(np.arange(S), sol.exits.shape)]
        keep = ~sol.exits & np.isfinite(sol.m_next)
        t5 = np.broadcast_to(t[..., None], sol.exits.shape)
        r5 = np.broadcast_to(r[..., None], sol.exits.shape)
        s2 = np.broadcast_to(np.arange(S), sol.exits.shape)
        j2, up2 = self._split(space.cash, t5, np.where(keep, sol.m_next, 0.0))
        base2 = ((r5 * T + t5) * S + s2) * M
        self.src = np.broadcast_to(np.arange(np.prod(self.shape)).reshape(self.shape)[..., None], sol.exits.shape)[keep]
        self.prob = prob[keep]
        self.lo, self.hi, self.up = (base2 + j2)[keep], (base2 + np.minimum(j2 + 1, M - 1))[keep], up2[keep]
        self.n = int(np.prod(self.shape))

    @staticmethod
    def _split(cash, t, x):
        M = cash.shape[1]
        flat = cash[t]  # broadcast rows of the type's grid
        j = np.clip((flat <= x[..., None]).sum(axis=-1) - 1, 0, M - 2)
        lo = np.take_along_axis(flat, j[..., None], -1)[..., 0]
        hi = np.take_along_axis(flat, (j + 1)[..., None], -1)[..., 0]
        up = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        return j, up

    def step(self, mu):
        mu = mu.ravel()
        nu = self.entrants + np.bincount(self.move_lo, mu * (1 - self.move_up), self.n) + \
            np.bincount(self.move_hi, mu * self.move_up, self.n)
        mass = nu[self.src] * self.prob
        nxt = np.bincount(self.lo, mass * (1 - self.up), self.n) + np.bincount(self.hi, mass * self.up, self.n)
        return nu.reshape(self.shape), nxt.reshape(self.shape)


def main(quick: bool) -> None:
    repeat = 2 if quick else 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollateralWarning)
        params = Params.paper(xbar_S=0.3, cm=0.05, cm_out=0.02, theta_S=0.7)
        sol = solve(params, Grid())
        ent = entrants(sol)

        def numpy_stationary(tol=1e-13, max_iter=20000):
            ref = NumpyPushForward(sol, ent)  # the lotteries are part of the job
            m = np.zeros(sol.V.shape)
            for it in range(1, max_iter + 1):
                _, nxt = ref.step(m)
                done = np.abs(nxt - m).max() / nxt.sum() < tol
                m = nxt
                if done:
                    return m, it
            raise RuntimeError("numpy iteration did not converge")

        t_np, (mu_np, it_np) = best_of(numpy_stationary, repeat)
        rows = [("numpy (lotteries once, bincount per period)", t_np, it_np)]
        for th in (1, 2):
            t_c, dist = best_of(lambda: stationary(sol, threads=th), repeat)
            assert np.allclose(dist.mu, mu_np, rtol=1e-9, atol=1e-12 * dist.mass), "numpy and C++ disagree"
            rows.append((f"C++ kernel (threads={th})", t_c, dist.iterations))
        print("stationary distribution by the histogram method, default grid (entrants' flow included)")
        print(f"{'':<48}{'seconds':>10}{'periods':>9}{'numpy / this':>14}")
        for name, t, its in rows:
            print(f"{name:<48}{t:>10.4f}{its:>9}{t_np / t:>14.1f}")
        print(f"target < 0.5 s: {'met' if min(r[1] for r in rows[1:]) < 0.5 else 'NOT met'}")

        print()
        n_firms, years = (20_000, 60) if quick else (100_000, 60)
        for th in (1, 2):
            t, df = best_of(lambda: simulate(sol, n_firms=n_firms, years=years, burn_in=0, seed=1, distribution=dist,
                                             threads=th), max(1, repeat // 2))
            print(f"simulate {n_firms:,} firms x {years} years, threads={th}: {t:.3f} s ({len(df):,} firm-years)"
                  + (f"  target < 2 s: {'met' if t < 2 else 'NOT met'}" if n_firms == 100_000 else ""))
        for closure in ("partial", "general"):
            t, _ = best_of(lambda: counterfactual(params, "no_sez", Grid(), closure=closure, n_firms=20_000), 1)
            print(f"full counterfactual ({closure} equilibrium, two economies with 20,000-firm panels): {t:.2f} s"
                  f"  target < 10 s: {'met' if t < 10 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
