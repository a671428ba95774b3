"""Mediation of a treatment effect (Baron and Kenny, 1986) with Sobel, Aroian and Goodman tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sez.did._pyfixest import _feols
from sez.did.prepare import _check_variation, _prepare, arguments
from sez.did.results import MediationResults
from sez.errors import DidDataError
from sez.panel import require_columns


def mediation(data: pd.DataFrame, outcome: str, mediator: str, treatment: str = "sez",
              fe: Sequence[str] = ("firm_id", "year"), controls: Sequence[str] = (),
              vcov: str | dict | None = None, unit: str = "firm_id", time: str = "year", **old) -> MediationResults:
    """Mediation through agglomeration (the paper's eqs. 1-2, Table 4 and Table 21).

    Path c regresses the outcome on the treatment; path a the mediator (e.g.
    log Ellison-Glaeser index of the firm's industry in its city-year) on the
    treatment; paths b and c' the outcome on both. All three use the same
    fixed effects, controls and clustering, each on its own complete-case
    sample (as the paper's Table 4, whose columns have different N; the sample
    sizes are reported). The indirect effect is ``a*b``, tested by Sobel,
    Aroian and Goodman standard errors. ``vcov``, ``unit`` and ``time`` are
    those of :func:`sez.did.twfe`.

    Returns
    -------
    MediationResults
    """
    func = "mediation"
    fe, controls, vcov = arguments(func, fe, controls, vcov, unit, old)
    require_columns(data, [outcome, mediator, treatment], func)
    fits, nobs = {}, {}

    def run(dep, regs, label):
        sample, _ = _prepare(data, dep, treatment, fe, [*controls, *[r for r in regs if r != treatment]], vcov,
                           unit, time, func)
        _check_variation(sample, treatment, func)
        sample["_treated"] = sample[treatment].to_numpy(dtype=float)
        names = ["_treated" if r == treatment else r for r in regs]
        fit = _feols(sample, dep, [*names, *controls], fe, vcov)
        absorbed = [r for r, name in zip(regs, names) if not np.isfinite(fit.coef().get(name, np.nan))]
        if absorbed:
            verb = "is" if len(absorbed) == 1 else "are"
            raise DidDataError(f"{func}: path {label}, {dep} on {', '.join(regs)}: {', '.join(map(repr, absorbed))} "
                               f"{verb} collinear with the fixed effects ({', '.join(fe)})"
                               f"{' and the controls' if controls else ''}, so the path has no coefficient; "
                               "drop the fixed effect or control that absorbs it")
        fits[label], nobs[label] = fit, int(fit._N)
        return fit.coef(), fit.se()

    cc, cs = run(outcome, [treatment], "c")
    ac, as_ = run(mediator, [treatment], "a")
    bc, bs = run(outcome, [treatment, mediator], "b_c_prime")
    return MediationResults(outcome, mediator, treatment, float(ac["_treated"]), float(as_["_treated"]),
                            float(bc[mediator]), float(bs[mediator]), float(cc["_treated"]), float(cs["_treated"]),
                            float(bc["_treated"]), float(bs["_treated"]), nobs, fits)


def mediation_by_group(data: pd.DataFrame, outcome: str, mediator: str, group: pd.Series | str,
                       on_error: str = "raise", **kwargs) -> dict:
    """:func:`mediation` within each group (e.g. pre-period productivity quintile: the paper's Tables 22-30).

    ``group`` is a column name or a Series aligned with the panel; rows
    without a group are left out. Returns ``{group level: MediationResults}``
    in sorted order of the levels. A group whose sample cannot identify the
    paths raises :class:`DidDataError` naming the group, or with
    ``on_error="record"`` maps to the reason (a string, which
    :func:`mediation_table` prints as a skipped column).
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"mediation_by_group: on_error must be 'raise' or 'record', got {on_error!r}")
    g = data[group] if isinstance(group, str) else pd.Series(group, index=data.index)
    if g.notna().sum() == 0:
        raise DidDataError(f"mediation_by_group: the group {getattr(g, 'name', group)!r} is missing in every row")
    out = {}
    for level in sorted(g.dropna().unique()):
        try:
            out[level] = mediation(data.loc[(g == level).fillna(False).to_numpy(dtype=bool)], outcome, mediator,
                                   **kwargs)
        except DidDataError as err:
            if on_error == "raise":
                raise DidDataError(f"mediation_by_group: group {_plain(level)!r}: {err}") from err
            out[level] = f"group {_plain(level)!r} skipped: {err}"
    return out


def _plain(value):
    """A numpy scalar as the Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value
