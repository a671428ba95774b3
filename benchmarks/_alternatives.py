"""The Bellman operator of sez._core.bellman_apply (search="grid") written the
two ways a user without the C++ kernel would write it: vectorised numpy and
numba. Benchmark-only code; both return (Q, k, V) of shape (2, T, S, M) and
agree with the kernel to rounding.

Arguments are those of the kernel: cash (T, M), capital (T, K), zfac (T, S),
P (S, S), zones (2, 8) = tau, theta, xi, xbar, ell, move_cost, may_move, lo,
scalars = beta, q, delta, lam, k_exponent, and V (2, T, S, M).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

ZONE_FIELDS = ("tau", "theta", "xi", "xbar", "ell", "move_cost", "may_move", "lo")
SCALAR_FIELDS = ("beta", "q", "delta", "lam", "k_exponent")


def positional(problem):
    """The kernels' named problem (``sez._core.Problem``) as the positional arrays these versions take:
    cash, capital, zfac, P, zones (2, 8) and scalars (5)."""
    zones = np.array([[float(getattr(z, f)) for f in ZONE_FIELDS] for z in problem.zones])
    scalars = np.array([float(getattr(problem, f)) for f in SCALAR_FIELDS])
    return (np.asarray(problem.cash), np.asarray(problem.capital), np.asarray(problem.zfac), np.asarray(problem.P),
            zones, scalars)


# ---------------------------------------------------------------- numpy ----
def _interp_np(x, y, lo, xq):
    """Linear interpolation of the rows y[s] (S, M) on the grid x (M,) at xq (..., S):
    -inf below lo, slope one above the top node."""
    n = x.size
    j = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, n - 2)
    s = np.arange(y.shape[0])
    x0, x1 = x[j], x[j + 1]
    y0, y1 = y[s, j], y[s, j + 1]
    with np.errstate(invalid="ignore"):
        out = y0 + (xq - x0) / (x1 - x0) * (y1 - y0)
    out = np.where(xq >= x[-1], y[:, -1] + (xq - x[-1]), out)
    return np.where(xq >= lo, out, -np.inf)


def _zone_choice_np(cash, zones, Q):
    V = Q.copy()
    move = np.zeros(Q.shape, dtype=np.int8)
    for r in (0, 1):
        o = 1 - r
        cost, may_move = zones[r, 5], zones[r, 6] != 0
        if not may_move:
            continue
        if cost == 0.0:
            alt = Q[o]
        else:
            alt = np.empty_like(Q[o])
            for t in range(cash.shape[0]):
                xq = np.broadcast_to((cash[t] - cost)[:, None], (cash.shape[1], Q.shape[2]))
                alt[t] = _interp_np(cash[t], Q[o, t], zones[o, 3], xq).T
        mv = alt > Q[r]
        V[r] = np.where(mv, alt, Q[r])
        move[r] = mv
    return V, move


def bellman_numpy(cash, capital, zfac, P, zones, scalars, V):
    """Loops over zone and type; vectorised over (cash, capital choice, next shock)."""
    T, M = cash.shape
    K = capital.shape[1]
    beta, q, delta, lam, kexp = scalars
    kpow = capital**kexp
    Q = np.full(V.shape, -np.inf)
    Kpol = np.full(V.shape, np.nan)
    for r in (0, 1):
        tau, theta, xi, xbar, ell, _, _, lo = zones[r]
        den = (1.0 - tau) - q * theta
        for t in range(T):
            m = cash[t]
            ok = m >= xbar
            mo = m[ok]
            kb = (mo - xbar) / den if den > 0 else np.full(mo.shape, np.inf)
            # Candidates: the capital grid, then the off-grid collateral bound Kbar(m).
            kc = np.empty((mo.size, K + 1))
            kc[:, :K] = capital[t]
            kc[:, K] = np.where(kb < capital[t, -1], kb, 0.0)
            kpc = np.empty_like(kc)
            kpc[:, :K] = kpow[t]
            kpc[:, K] = kc[:, K] ** kexp
            feasible = np.empty(kc.shape, dtype=bool)
            feasible[:, :K] = capital[t][None, :] <= kb[:, None]
            feasible[:, K] = kb < capital[t, -1]

            b = ((1.0 - tau) * kc + xbar - mo[:, None]) / q
            X = (ell * (1.0 - delta) * kc - b)[..., None]
            base = (1.0 - tau) * (1.0 - delta) * kc - b - xi
            mnext = base[..., None] + ((1.0 - tau) * zfac[t])[None, None, :] * kpc[..., None]
            Vn = _interp_np(m, V[r, t], lo, mnext)
            C = lam * X + (1.0 - lam) * np.where(Vn > X, Vn, X)
            f = xbar + beta * (C @ P.T)  # (cash, candidate, shock today)
            f[~feasible] = -np.inf
            jbest = np.argmax(f, axis=1)  # first maximum: ties go to the smaller k', as in the kernel
            Q[r, t][:, ok] = np.take_along_axis(f, jbest[:, None, :], axis=1)[:, 0, :].T
            Kpol[r, t][:, ok] = np.take_along_axis(kc, jbest, axis=1).T
    Vout, _ = _zone_choice_np(cash, zones, Q)
    return Q, Kpol, Vout


# ---------------------------------------------------------------- numba ----
def _make_numba(parallel=False, **options):
    """The kernel's loops under @njit(**options); with parallel, prange over (zone, type).
    Built by a factory so that every helper is compiled with the same options."""
    jit = njit(**options)

    @jit
    def interp(x, y, lo, xq):
        n = x.size
        if not (xq >= lo):
            return -np.inf
        if xq >= x[n - 1]:
            return y[n - 1] + (xq - x[n - 1])
        a, b = 0, n - 1  # bisection for x[a] <= xq < x[b]
        while b - a > 1:
            c = (a + b) // 2
            if x[c] <= xq:
                a = c
            else:
                b = c
        w = (xq - x[a]) / (x[a + 1] - x[a])
        return y[a] + w * (y[a + 1] - y[a])

    @jit
    def continuation(cash_t, V_rt, zfac_t, zone, delta, lam, q, m, k, kp, C):
        tau, xi, xbar, ell, lo = zone[0], zone[2], zone[3], zone[4], zone[7]
        b = ((1.0 - tau) * k + xbar - m) / q
        X = ell * (1.0 - delta) * k - b
        base = (1.0 - tau) * (1.0 - delta) * k - b - xi
        for s2 in range(C.size):
            mp = base + (1.0 - tau) * zfac_t[s2] * kp
            Vn = interp(cash_t, V_rt[s2], lo, mp)
            C[s2] = lam * X + (1.0 - lam) * (Vn if Vn > X else X)

    @jit
    def improve(cash, capital, kpow, zfac, P, zones, scalars, V, r, t, Q, Kpol):
        M, K, S = cash.shape[1], capital.shape[1], P.shape[0]
        beta, q, delta, lam, kexp = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4]
        zone = zones[r]
        tau, theta, xbar = zone[0], zone[1], zone[3]
        den = (1.0 - tau) - q * theta
        cash_t, V_rt, zfac_t, kpow_t, cap_t = cash[t], V[r, t], zfac[t], kpow[t], capital[t]
        C = np.empty(S)
        best = np.empty(S)
        kbest = np.empty(S)
        for i in range(M):
            m = cash_t[i]
            if not (m >= xbar):
                for s in range(S):
                    Q[r, t, s, i] = -np.inf
                    Kpol[r, t, s, i] = np.nan
                continue
            kb = (m - xbar) / den if den > 0 else np.inf
            best[:] = -np.inf
            kbest[:] = 0.0
            nk = 0  # grid points with k' <= Kbar(m)
            while nk < K and cap_t[nk] <= kb:
                nk += 1
            # The capital grid up to Kbar(m), then Kbar(m) itself when it is inside the grid.
            for j in range(nk + (1 if kb < cap_t[K - 1] else 0)):
                if j < nk:
                    k, kp = cap_t[j], kpow_t[j]
                else:
                    k, kp = kb, kb**kexp
                continuation(cash_t, V_rt, zfac_t, zone, delta, lam, q, m, k, kp, C)
                for s in range(S):
                    acc = 0.0
                    for s2 in range(S):
                        acc += P[s, s2] * C[s2]
                    f = xbar + beta * acc
                    if f > best[s]:
                        best[s] = f
                        kbest[s] = k
            for s in range(S):
                Q[r, t, s, i] = best[s]
                Kpol[r, t, s, i] = kbest[s]

    @jit
    def zone_choice(cash, zones, Q, Vout):
        T, S, M = Q.shape[1], Q.shape[2], Q.shape[3]
        for r in range(2):
            o = 1 - r
            cost, may_move = zones[r, 5], zones[r, 6] != 0.0
            for t in range(T):
                for s in range(S):
                    for i in range(M):
                        alt = -np.inf
                        if may_move:
                            if cost == 0.0:
                                alt = Q[o, t, s, i]
                            else:
                                alt = interp(cash[t], Q[o, t, s], zones[o, 3], cash[t, i] - cost)
                        Vout[r, t, s, i] = alt if alt > Q[r, t, s, i] else Q[r, t, s, i]

    @njit(parallel=parallel, **options)
    def bellman(cash, capital, zfac, P, zones, scalars, V):
        T = cash.shape[0]
        kpow = capital ** scalars[4]
        Q = np.empty(V.shape)
        Kpol = np.empty(V.shape)
        for rt in prange(2 * T):
            improve(cash, capital, kpow, zfac, P, zones, scalars, V, rt // T, rt % T, Q, Kpol)
        Vout = np.empty(V.shape)
        zone_choice(cash, zones, Q, Vout)
        return Q, Kpol, Vout

    def run(cash, capital, zfac, P, zones, scalars, V):
        return bellman(*(np.ascontiguousarray(a, dtype=np.float64)
                         for a in (cash, capital, zfac, P, zones, scalars, V)))

    run.__name__ = "bellman_numba" + ("_parallel" if parallel else "")
    return run


#: Single-threaded, numba's default options.
bellman_numba = _make_numba()
#: Single-threaded without Python's zero-division checks in the inner loops
#: (IEEE results, as in C++); fastmath is out: the operator relies on -inf.
bellman_numba_ieee = _make_numba(error_model="numpy")
#: prange over (zone, type); threads from numba.set_num_threads.
bellman_numba_parallel = _make_numba(parallel=True, error_model="numpy")
