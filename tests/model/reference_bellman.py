"""A plain, slow, obviously-correct Bellman application of docs/model.md, for tests.

It follows the specification line by line: labour chosen from its first-order
condition, profit, cash-on-hand, the dividend floor, the collateral constraint,
exit, liquidation, zone choice. It shares nothing with the C++ kernel but the
state space (types, shocks, grids).
"""

from __future__ import annotations

import numpy as np


def value_at(cash, values, floor, x):
    """V at cash x: -inf below the floor, linear between nodes, slope one above the top."""
    if x < floor:
        return -np.inf
    if x >= cash[-1]:
        return values[-1] + (x - cash[-1])
    keep = cash >= floor
    return float(np.interp(x, cash[keep], values[keep]))


def operating_profit(params, k, z):
    l = (params.gamma * (1 - params.alpha) * z * k ** (params.alpha * params.gamma) / params.w) ** (
        1 / (1 - params.gamma * (1 - params.alpha))
    )
    y = z * (k**params.alpha * l ** (1 - params.alpha)) ** params.gamma
    return y - params.w * l


def reference_bellman(params, space, V, extra=None):
    """Returns (Q, k, TV) with shapes (2, T, S, M).

    ``extra(capital, kbar)``, if given, returns more capital candidates for a
    cash point whose collateral bound ``kbar`` lies below the top of the
    type's capital grid ``capital``.
    """
    T, M = space.cash.shape
    S = len(space.shocks.values)
    Q = np.full((2, T, S, M), -np.inf)
    K = np.full((2, T, S, M), np.nan)
    q, beta, delta, lam = params.q, params.beta, params.delta, params.lam
    for r in (0, 1):
        zr = params.zone(r)
        tau, theta, xi, xbar = zr["tau"], zr["theta"], zr["xi"], zr["xbar"]
        ell = params.liquidation_factor(r)
        for t in range(T):
            cash = space.cash[t]
            for i, m in enumerate(cash):
                if m < xbar:
                    continue
                candidates = list(space.capital[t])
                slack = (1 - tau) - q * theta
                if slack > 0:
                    kbar = (m - xbar) / slack
                    if kbar < space.capital[t, -1]:
                        candidates.append(kbar)
                        if extra is not None:
                            candidates += list(extra(space.capital[t], kbar))
                for s in range(S):
                    best, kbest = -np.inf, np.nan
                    for k in candidates:
                        D = xbar  # dividends at their floor
                        b = ((1 - tau) * k + D - m) / q  # from D = m - (1 - tau) k + q b
                        if b > theta * k * (1 + 1e-12) + 1e-15:
                            continue  # collateral constraint
                        X = ell * (1 - delta) * k - b
                        cont = 0.0
                        for s2 in range(S):
                            z = space.types[t] * space.shocks.values[s2]
                            m_next = (1 - tau) * (operating_profit(params, k, z) + (1 - delta) * k) - b - xi
                            v_next = value_at(cash, V[r, t, s2], space.floors[r], m_next)
                            cont += space.shocks.P[s, s2] * (lam * X + (1 - lam) * max(X, v_next))
                        value = D + beta * cont
                        if value > best:
                            best, kbest = value, k
                    Q[r, t, s, i], K[r, t, s, i] = best, kbest
    TV = Q.copy()
    moves = ((0, params.cm, True), (1, params.cm_out, params.sez_exit_to_nsez))
    for r, cost, allowed in moves:
        if not allowed:
            continue
        o = 1 - r
        for t in range(T):
            for s in range(S):
                for i, m in enumerate(space.cash[t]):
                    alt = value_at(space.cash[t], Q[o, t, s], params.zone(o)["xbar"], m - cost)
                    if alt > Q[r, t, s, i]:
                        TV[r, t, s, i] = alt
    return Q, K, TV
