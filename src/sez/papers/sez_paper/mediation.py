"""The SEZ paper's mediation tables (21 and 28-30) in its Sobel-Goodman layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sez.did import MediationResults
from sez.papers import numbers
from sez.results import significance_stars

_MEDIATION_ROWS = {
    "sobel": "Sobel", "aroian": "Goodman-1 (Aroian)", "goodman": "Goodman-2",
    "a": "a coefficient (SEZ -> mediator)", "b": "b coefficient (mediator -> outcome)",
    "indirect": "Indirect effect", "direct": "Direct effect", "total": "Total effect",
    "proportion": "Proportion of total effect that is mediated",
    "indirect_to_direct": "Ratio of indirect to direct effect", "total_to_direct": "Ratio of total to direct effect",
}


_PAPER_GROUP_LABELS = ("Bottom 20%", "40%", "60%", "80%", "100%")


def _mediation_cells(res: MediationResults) -> dict:
    """(coef, std err, z, p) of every row of the Sobel-Goodman layout, and the three ratios."""
    tests = res.tests
    cells = {}
    for key, name in (("sobel", "Sobel"), ("aroian", "Goodman-1 (Aroian)"), ("goodman", "Goodman-2")):
        r = tests.loc[name]
        cells[key] = (r.estimate, r.std_err, r.statistic, r.p_value)
    for key, coef, se in (("a", res.a, res.se_a), ("b", res.b, res.se_b),
                          ("indirect", res.indirect, tests.loc["Sobel", "std_err"]),
                          ("direct", res.c_prime, res.se_c_prime), ("total", res.c, res.se_c)):
        z = coef / se
        cells[key] = (coef, se, z, 2 * stats.norm.sf(abs(z)))
    cells["proportion"] = res.proportion_mediated
    cells["indirect_to_direct"] = res.indirect / res.c_prime
    cells["total_to_direct"] = res.total / res.c_prime
    return cells


def mediation_table(results, paper: int | None = None, digits: int = 4) -> pd.DataFrame:
    """Sobel-Goodman mediation tests in the paper's layout, the paper's numbers beside ours.

    Parameters
    ----------
    results : MediationResults or mapping of label -> MediationResults
        One result: the layout of Tables 21 and 28 (rows Sobel, Goodman-1
        (Aroian), Goodman-2, a, b, indirect, direct and total effects;
        columns Coef, Std Err, Z, P>|Z|; then the proportion mediated and the
        two ratios). Several (e.g. :func:`mediation_by_group` over pre-period
        quintiles): the layout of Tables 29-30, one column per group, the
        coefficient with stars and its z statistic in parentheses below.
    paper : {21, 28} for one result, {29, 30} for five groups, or None
        Adds the paper's printed numbers (``paper ...`` columns).

    Notes
    -----
    The total effect is path c (its own regression, as Stata's sgmediation
    reports it); the ratios use ``a*b + c'`` as the total, which equals c on a
    common sample.
    """
    if isinstance(results, MediationResults):
        cells = _mediation_cells(results)
        rows = {}
        for key, label in _MEDIATION_ROWS.items():
            v = cells[key]
            rows[label] = ({"Coef": v[0], "Std Err": v[1], "Z": v[2], "P>|Z|": v[3]} if isinstance(v, tuple)
                           else {"Coef": v})
        out = pd.DataFrame(rows).T[["Coef", "Std Err", "Z", "P>|Z|"]].astype(float)
        if paper is not None:
            stored = numbers.read("sez_mediation")
            if paper not in set(stored["table"]):
                raise ValueError(f"mediation_table: paper must be one of {sorted(set(stored['table']))} for one "
                                 f"result, got {paper!r}")
            printed = stored.loc[stored["table"] == paper].set_index("row").reindex(list(_MEDIATION_ROWS))
            out[f"paper Table {paper} Coef"] = printed["coef"].to_numpy(dtype=float)
            out[f"paper Table {paper} Std Err"] = printed["std_err"].to_numpy(dtype=float)
            out[f"paper Table {paper} Z"] = printed["z"].to_numpy(dtype=float)
        return out
    results = dict(results)
    if not results:
        raise ValueError("mediation_table: no results")
    fmt = f"{{:.{digits}g}}"
    labels = []
    for key, label in _MEDIATION_ROWS.items():
        labels += [label] + ([""] if key not in ("proportion", "indirect_to_direct", "total_to_direct") else [])
    columns = [str(k) for k in results]
    body = {}
    for name, res in zip(columns, results.values()):
        if isinstance(res, str):  # a group mediation_by_group could not estimate, with the reason
            body[name] = [res] + [""] * (len(labels) - 1)
            continue
        cells, col = _mediation_cells(res), []
        for key in _MEDIATION_ROWS:
            v = cells[key]
            col += ([fmt.format(v[0]) + significance_stars(v[3]), f"({v[2]:.2f})"] if isinstance(v, tuple)
                    else [fmt.format(v)])
        body[name] = col
    if paper is not None:
        stored = numbers.read("sez_mediation_groups")
        if paper not in set(stored["table"]):
            raise ValueError(f"mediation_table: paper must be one of {sorted(set(stored['table']))} for groups, "
                             f"got {paper!r}")
        printed = stored.loc[stored["table"] == paper].set_index(["row", "quintile"])
        for j, label in enumerate(_PAPER_GROUP_LABELS, start=1):
            col = []
            for key in _MEDIATION_ROWS:
                coef, z = printed.loc[(key, j), ["coef", "z"]]
                if np.isfinite(z):
                    col += [f"{coef:g}" + significance_stars(2 * stats.norm.sf(abs(z))), f"({z:.2f})"]
                else:
                    col += [f"{coef:g}"]
            body[f"paper Table {paper}: {label}"] = col
    return pd.DataFrame(body, index=pd.Index(labels))
