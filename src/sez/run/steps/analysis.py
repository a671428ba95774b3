"""The ``analysis`` step: the researcher's own specifications of ``[analysis]`` (:mod:`sez.run.analysis`)."""

from __future__ import annotations

import warnings

import pandas as pd

from sez.run.context import Run, json_number

#: How treatment switching off is handled, as the papers' DiD steps do: TWFE keeps the rows, the
#: estimators that need an entry year drop the firms whose treatment ends (counted in their results).
_ON_REVERSAL = {"twfe": "keep", "imputation": "drop", "event_study": "drop", "callaway_santanna": "drop"}


def step_analysis(run: Run) -> None:
    """Run each ``[analysis.<name>]`` specification on the analysed panel; one failing leaves the others."""
    specs = run.cfg["analysis"]
    section = run.sections["analysis"]
    if not specs:
        section.intro = "No [analysis] specifications in the configuration (sez run --example shows one)."
        return
    data = run.state["analysed"]
    run.summary["analysis"] = {}
    failed = {}
    for name, spec in specs.items():
        try:
            _run_one(run, name, spec, data)
        except Exception as err:  # a specification the data cannot carry: said, and the others go on
            failed[name] = f"{type(err).__name__}: {err}"
            run.summary["analysis"][name] = {"estimator": spec["estimator"], "error": failed[name]}
            warnings.warn(f"[analysis.{name}] failed: {err}", stacklevel=2)
    if failed and len(failed) == len(specs):
        raise ValueError("every [analysis] specification failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))


def sample_of(data: pd.DataFrame, condition: str | None, name: str) -> pd.DataFrame:
    """The rows of ``data`` meeting a specification's ``sample`` condition (all rows without one).

    The condition is read by pandas' expression parser over the panel's columns alone (no local or global
    names), so it can compare and combine columns but not call code.
    """
    if not condition:
        return data
    try:
        kept = data.query(condition, local_dict={}, global_dict={})
    except Exception as err:
        raise ValueError(f"[analysis.{name}] sample = {condition!r} cannot be read: {err}; write a condition on "
                         f"the panel's columns, e.g. \"year >= 2000 and sez == 1\"") from None
    if kept.empty:
        raise ValueError(f"[analysis.{name}] sample = {condition!r} keeps no row of {len(data):,}")
    return kept


def estimate(data: pd.DataFrame, spec: dict):
    """The result of one specification on ``data`` (its ``sample`` already applied)."""
    from sez import did, probit

    estimator, vcov = spec["estimator"], spec.get("vcov")
    if estimator == "probit":
        return probit.probit(data, spec["formula"], vcov=vcov or "iid", weights=spec.get("weights"))
    if estimator == "callaway_santanna":
        return did.callaway_santanna(data, spec["outcome"], spec.get("treatment", "sez"),
                                     control=spec.get("control", "never"), vcov=vcov, on_reversal="drop")
    if estimator == "event_study":
        return did.event_study(data, spec["formula"], window=tuple(spec.get("window", (-5, 10))),
                               reference=spec.get("reference", -1),
                               estimators=tuple(spec.get("estimators", ("twfe", "imputation"))), vcov=vcov,
                               on_reversal="drop")
    func = {"twfe": did.twfe, "imputation": did.imputation}[estimator]
    return func(data, spec["formula"], vcov=vcov, weights=spec.get("weights"), on_reversal=_ON_REVERSAL[estimator])


def _run_one(run: Run, name: str, spec: dict, data: pd.DataFrame) -> None:
    from sez.tables import etable

    sample = sample_of(data, spec.get("sample"), name)
    result = estimate(sample, spec)
    title = spec.get("title", name)
    described = (f"[analysis.{name}]: {spec['estimator']}"
                 + (f", {spec['formula']}" if "formula" in spec else f", outcome {spec['outcome']}")
                 + (f", sample {spec['sample']}" if spec.get("sample") else "")
                 + f"; {len(sample):,} of {len(data):,} rows.")
    shown = result.aggregate("simple") if spec["estimator"] == "callaway_santanna" else result
    table = etable([shown], titles=[title])
    run.table("analysis", f"analysis_{name}", table.layout(), title, described, tidy=table.tidy())
    run.summary["analysis"][name] = {"estimator": spec["estimator"], "rows": len(sample),
                                     "params": {str(k): json_number(v) for k, v in shown.params.items()},
                                     "bse": {str(k): json_number(v) for k, v in shown.bse.items()}}
    if spec["estimator"] == "event_study":
        run.figure("analysis", f"analysis_{name}", lambda path: result.plot(path, title=title),
                   f"{title}: effects by years since entry with 95% bands", described)
    if spec["estimator"] == "callaway_santanna":
        dynamic = result.aggregate("dynamic")
        layout = etable([dynamic], titles=[f"{title}, by years since entry"])
        run.table("analysis", f"analysis_{name}_dynamic", layout.layout(), f"{title}: by years since entry",
                  "Callaway and Sant'Anna's dynamic aggregation.", tidy=layout.tidy())
