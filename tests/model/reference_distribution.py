"""A plain loop version of one period of the histogram method, for tests."""

import numpy as np


def split(cash, x):
    """(lower node, share to the upper node) of cash x, clipped to the grid."""
    if x >= cash[-1]:
        return len(cash) - 2, 1.0
    if x <= cash[0]:
        return 0, 0.0
    j = int(np.searchsorted(cash, x, side="right")) - 1
    return j, (x - cash[j]) / (cash[j + 1] - cash[j])


def push_forward(solution, entrants_measure, mu):
    p, space = solution.params, solution.space
    cost = (p.cm, p.cm_out)
    P = space.shocks.P
    nu = entrants_measure.copy()
    _, T, S, M = mu.shape
    for r in (0, 1):
        for t in range(T):
            for s in range(S):
                for i in range(M):
                    mass = mu[r, t, s, i]
                    if mass == 0:
                        continue
                    dest = solution.zone[r, t, s, i]
                    if dest != r and cost[r] != 0:
                        j, up = split(space.cash[t], space.cash[t, i] - cost[r])
                        nu[dest, t, s, j] += mass * (1 - up)
                        nu[dest, t, s, j + 1] += mass * up
                    else:
                        nu[dest, t, s, i] += mass
    nxt = np.zeros_like(mu)
    for r in (0, 1):
        for t in range(T):
            for s in range(S):
                for i in range(M):
                    for s2 in range(S):
                        if solution.exits[r, t, s, i, s2]:
                            continue
                        mass = nu[r, t, s, i] * P[s, s2] * (1 - p.lam)
                        j, up = split(space.cash[t], solution.m_next[r, t, s, i, s2])
                        nxt[r, t, s2, j] += mass * (1 - up)
                        nxt[r, t, s2, j + 1] += mass * up
    return nu, nxt
