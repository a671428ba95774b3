"""The SEZ paper's DiD steps: ``did``, ``event_study``, ``heterogeneity`` and ``mediation``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from sez.panel import require_columns, with_human_labels
from sez.progress import track
from sez.run.context import SEZ_EFFECT_TOLERANCE_SE, Run, json_number
from sez.run.steps.data import with_true_flags


def _did_row(result, truth: float | None) -> dict:
    ci = result.conf_int().iloc[0]
    row = {"estimator": result.estimator, "coef": result.coef, "se": result.se, "ci_lower": float(ci["conf_low"]),
           "ci_upper": float(ci["conf_high"]), "nobs": result.nobs, "clusters": result.n_clusters,
           "fixed_effects": " + ".join(result.fixed_effects)}
    if truth is not None:
        row.update(truth=truth, within_tolerance=bool(abs(result.coef - truth) <= SEZ_EFFECT_TOLERANCE_SE * result.se))
    return row


def _did_sample(run: Run) -> tuple[pd.DataFrame, dict]:
    """The DiD steps' sample (firm-years with log TFP) and the vcov ``[did] cluster`` gives every DiD step."""
    data = run.state["analysed"]
    data = data[np.isfinite(data["ln_tfp"])]
    cluster = run.cfg["did"]["cluster"]
    require_columns(data, [cluster], "[did] cluster")
    return data, {"CRV1": cluster}


def step_did(run: Run) -> None:
    """The SEZ effect on TFP by TWFE and imputation, and the paper's Table 16."""
    from sez import did
    from sez.papers import sez_paper

    data, vcov = _did_sample(run)
    tau = None if run.truth is None else float(run.truth.attrs["tau_sez"])
    specs = [tuple(fe) for fe in run.cfg["did"]["fixed_effects"]]
    # every specification's columns up front: a later one failing is otherwise only a warning
    require_columns(data, [c for fe in specs for c in did.prepare._fe_columns(fe)], "[did] fixed_effects")
    estimators = (("TWFE", did.twfe, "keep"), ("imputation", did.imputation, "drop"))
    rows, labels, failures = [], [], {}
    for fe in specs:
        for name, func, reversal in estimators:
            label = f"{name}, harmonised data, {' + '.join(fe)}"
            try:
                res = func(data, "ln_tfp", fe=fe, vcov=vcov, on_reversal=reversal)
            except Exception as err:  # the region-by-year spec can be unidentified in small samples
                if fe == specs[0]:
                    raise
                failures[label] = f"{type(err).__name__}: {err}"
                warnings.warn(f"{name} with {' + '.join(fe)} effects failed: {err}", stacklevel=2)
                continue
            rows.append(_did_row(res, tau))
            labels.append(label)
    main = {"twfe": rows[0], "imputation": rows[1]}
    if run.truth is not None:
        # the same estimators on the true panel separate sampling error from measurement error
        for name, func, reversal in estimators:
            rows.append(_did_row(func(run.truth, "ln_tfp", fe=specs[0], vcov=vcov, on_reversal=reversal), tau))
            labels.append(f"{name}, synthetic truth, {' + '.join(specs[0])}")
    table = pd.DataFrame(rows, index=pd.Index(labels, name="specification"))
    run.summary["did"] = {"truth": tau, "tolerance_se": SEZ_EFFECT_TOLERANCE_SE, **main,
                          "all": {label: row for label, row in zip(labels, rows)}, "failed": failures}
    if tau is None:
        caption = "Difference-in-differences of log TFP on SEZ status: TWFE and imputation estimators"
        note = ""
    else:
        caption = ("Difference-in-differences of log TFP on SEZ status: TWFE and imputation estimators vs the "
                   f"synthetic truth ({tau})")
        note = (f"'within_tolerance': |estimate - truth| <= {SEZ_EFFECT_TOLERANCE_SE:g} standard errors. Harmonised "
                "data carry estimated TFP and SEZ status with measurement error; the truth rows use the true panel. ")
    note += (f"Standard errors clustered by {vcov['CRV1']}. Imputation: Borusyak, Jaravel and Spiess (2024); firms "
             "leaving a zone dropped.")
    if failures:
        note += " Not estimable: " + "; ".join(f"{k} ({v})" for k, v in failures.items())
    run.table("did", "did_sez_ln_tfp", table, caption, note)
    if run.truth is not None:
        on_truth = {name: row for name, row in zip(("TWFE", "imputation"), rows[-2:])}  # the true panel's rows
        accuracy, detail = _accuracy_at_scale(run, data, specs[0], vcov, tau, main, on_truth)
        run.summary["did"]["accuracy"] = detail
        run.table("did", "accuracy_at_scale", accuracy,
                  "Accuracy at this size: the headline numbers beside the synthetic truth",
                  "The DiD on harmonised TFP with the generator's true SEZ flags separates the TFP estimation "
                  "from the flagging. Misclassified flags attenuate TWFE by lambda, the TWFE coefficient of the "
                  "true flag on the measured one with the same fixed effects (a flag error uncorrelated with the "
                  "outcome's noise); the predicted estimate is lambda times the true-flag estimate. TFP "
                  "elasticities: medians over industries. Firm links: pairs of consecutive-year records.")
    with run.timed("did", "table16"):
        table16 = sez_paper.table16(data, "ln_tfp", region="city", eg="eg_city", vcov=vcov)
    run.summary["did"]["table16_skipped"] = table16.skipped
    run.table("did", "table16", table16.layout(), table16.title, table16.notes(), tidy=table16.to_frame())
    _coefficient_figure(run, "did", "table16", table16)


def _coefficient_figure(run: Run, step: str, name: str, table) -> None:
    """The table's effect terms as a coefficient plot, ours beside the paper's (none when nothing was estimated)."""
    from sez.papers import sez_paper

    if sez_paper.has_coefficient_plot(table):
        run.figure(step, f"{name}_coefficients", lambda p: sez_paper.coefficient_plot(table, p),
                   f"{table.title.split(' (SEZ paper')[0]} (SEZ paper, Table {table.table}) as a coefficient plot: "
                   "our TWFE and imputation estimates (circles, diamonds) with 95% intervals (t with G-1 degrees "
                   "of freedom, G clusters) beside the paper's printed estimates (black squares) with 95% intervals "
                   "from its t statistics (normal). Rows as in the table; skipped cells are left out (see its "
                   "notes); a point without a bar has a standard error of (numerically) zero.")


def _accuracy_at_scale(run: Run, data: pd.DataFrame, fe: tuple, vcov: dict, tau: float,
                       main: dict, on_truth: dict) -> tuple[pd.DataFrame, dict]:
    """Headline estimates beside the synthetic truth, and the attenuation misclassified SEZ flags predict."""
    from sez import did

    flagged = with_true_flags(data, run.truth, "left")
    unmatched = int(flagged["true_sez"].isna().sum())
    flagged = flagged.loc[flagged["true_sez"].notna()].reset_index(drop=True)
    flagged["true_sez"] = flagged["true_sez"].astype(bool)
    flagged["true_sez_value"] = flagged["true_sez"].astype(float)
    measured, true = flagged["sez"].to_numpy(dtype=bool), flagged["true_sez"].to_numpy()
    on_true = {"TWFE": did.twfe(flagged, "ln_tfp", treatment="true_sez", fe=fe, vcov=vcov, on_reversal="keep"),
               "imputation": did.imputation(flagged, "ln_tfp", treatment="true_sez", fe=fe, vcov=vcov,
                                            on_reversal="drop")}
    slope = did.twfe(flagged, "true_sez_value", treatment="sez", fe=fe, vcov=vcov, on_reversal="keep")
    predicted = on_true["TWFE"].coef * slope.coef
    rows = []

    def row(label, estimate, se=None, target=None):
        within = None if se is None or target is None else bool(abs(estimate - target) <= SEZ_EFFECT_TOLERANCE_SE * se)
        rows.append({"quantity": label, "estimate": estimate, "se": se, "truth or benchmark": target,
                     f"within {SEZ_EFFECT_TOLERANCE_SE:g} s.e.": within})

    method = run.summary.get("tfp", {}).get("method", "")
    for key, name in (("twfe", "TWFE"), ("imputation", "imputation")):
        row(f"SEZ effect, {name}, harmonised TFP ({method}) and flags", main[key]["coef"], main[key]["se"], tau)
    for name, res in on_true.items():
        row(f"SEZ effect, {name}, harmonised TFP ({method}), true flags", res.coef, res.se, tau)
    for name, res in on_truth.items():
        row(f"SEZ effect, {name}, true TFP and flags (the generator's panel)", res["coef"], res["se"], tau)
    row("attenuation lambda (TWFE of the true flag on the measured one)", slope.coef, slope.se)
    row("SEZ effect, TWFE, predicted from the flags' attenuation (lambda x true-flag TWFE; benchmark: the "
        "harmonised TWFE)", predicted, None, main["twfe"]["coef"])
    row("SEZ flags: false positive rate (flagged, not in a zone)", float(np.mean(measured[~true])) if (~true).any()
        else np.nan)
    row("SEZ flags: false negative rate (in a zone, not flagged)", float(np.mean(~measured[true])) if true.any()
        else np.nan)
    harmonise = run.summary.get("harmonise", {})
    for key, label in (("sez_status_accuracy", "SEZ flags: share of firm-years right"),
                       ("link_precision", "firm links: precision"), ("link_recall", "firm links: recall")):
        if harmonise.get(key) is not None:
            row(label, harmonise[key], None, 1.0)
    tfp = run.summary.get("tfp", {})
    for key, label, true_key in (("beta_employees_median", f"TFP ({method}): labour elasticity (median)", "beta_l"),
                                 ("beta_capital_median", f"TFP ({method}): capital elasticity (median)", "beta_k")):
        if key in tfp:
            row(label, tfp[key], None, float(run.truth.attrs[true_key]))
    table = pd.DataFrame(rows).set_index("quantity")
    detail = {"rows": {r["quantity"]: {k: v for k, v in r.items() if k != "quantity"} for r in rows},
              "unmatched_rows": unmatched, "predicted_twfe": predicted, "lambda": slope.coef}
    return table, detail


def step_event_study(run: Run) -> None:
    """The event study of SEZ entry and the paper's Tables 17-18."""
    from sez import did
    from sez.papers import sez_paper

    data, vcov = _did_sample(run)
    settings = run.cfg["event_study"]
    result = did.event_study(data, "ln_tfp", window=tuple(settings["window"]), reference=settings["reference"],
                             estimators=("twfe", "imputation", "sun_abraham", "callaway_santanna"), on_reversal="drop",
                             vcov=vcov)
    table = result.table.copy()
    table.index.name = "event_time"
    run.summary["event_study"] = {
        "reference": result.reference,
        "imputation_post_mean": json_number(table.loc[table.index >= 0, "imputation_coef"].mean())
        if "imputation_coef" in table else None,
        "coefficients": {int(k): {c: json_number(v) for c, v in r.items() if c.endswith("_coef")}
                         for k, r in table.iterrows()}}
    run.table("event_study", "event_study", with_human_labels(table),
              "Event study of log TFP around entry into a zone: TWFE, imputation, Sun-Abraham and "
              "Callaway-Sant'Anna side by side (SEZ paper, eqs. 11-13)",
              f"Reference period {result.reference}, end points binned, except Callaway-Sant'Anna: relative to the "
              "year before entry, end points not binned."
              + ("" if run.truth is None else
                 f" Synthetic truth: 0 before entry, {run.truth.attrs['tau_sez']} after."), tidy=table)
    run.figure("event_study", "event_study", lambda p: result.plot(p),
               "Dynamic effect of SEZ entry on log TFP with 95% bands, firm and year effects: TWFE, imputation "
               "(Borusyak, Jaravel and Spiess, 2024), interaction-weighted (Sun and Abraham, 2021) and Callaway and "
               "Sant'Anna (2021), the last relative to the year before entry")
    with run.timed("event_study", "table17"):
        table17 = sez_paper.table17(data, "ln_tfp", region="city", eg="eg_city", vcov=vcov)
    run.table("event_study", "table17", table17.layout(), table17.title, table17.notes(), tidy=table17.to_frame())
    if "m7" in table17.fits:
        figure12 = table17.fits["m7"]["event_study"]
        run.figure("event_study", "figure12", lambda p: figure12.plot(p),
                   "Dynamic effect of SEZ entry on log TFP, specification m7 (SEZ paper, Figure 12), 95% bands")
    with run.timed("event_study", "table18"):
        table18 = sez_paper.table18(data, "ln_tfp", region="city", eg="eg_city", vcov=vcov)
    run.table("event_study", "table18", table18.layout(), table18.title, table18.notes(), tidy=table18.to_frame())
    _coefficient_figure(run, "event_study", "table18", table18)
    run.summary["event_study"]["skipped"] = {"table17": table17.skipped, "table18": table18.skipped}


def step_heterogeneity(run: Run) -> None:
    """The paper's Tables 19-20 and 31-32: effects by pre-entry TFP and by agglomeration."""
    from sez.papers import sez_paper

    data, vcov = _did_sample(run)
    builders = {"table19": lambda: sez_paper.table19(data, "ln_tfp", region="city", vcov=vcov),
                "table20": lambda: sez_paper.table20(data, "ln_tfp", region="city", eg="eg_city", vcov=vcov),
                "table31": lambda: sez_paper.table31(data, "ln_tfp", eg="eg_city", region="city", vcov=vcov),
                "table32": lambda: sez_paper.table32(data, "ln_tfp", eg="eg_city", region="city", vcov=vcov)}
    tables = {}
    for name, build in track(builders.items(), "heterogeneity", name=lambda item: item[0]):
        with run.timed("heterogeneity", name):
            tables[name] = build()
    run.summary["heterogeneity"] = {name: {"skipped": t.skipped} for name, t in tables.items()}
    for name, t in tables.items():
        run.table("heterogeneity", name, t.layout(), t.title, t.notes(), tidy=t.to_frame())
        if name in ("table19", "table20"):
            _coefficient_figure(run, "heterogeneity", name, t)


def _mediation_numbers(groups: dict) -> pd.DataFrame:
    """The numbers of a mediation table by group (Tables 29-30): Table 21's numeric layout for each group that
    could be estimated, stacked (a group that could not is left out; its column of the layout says why).
    """
    from sez.papers import sez_paper

    names = {"Coef": "estimate", "Std Err": "std_err", "Z": "statistic", "P>|Z|": "p_value"}
    estimated = {str(g): sez_paper.mediation_table(res).rename(columns=names) for g, res in groups.items()
                 if not isinstance(res, str)}
    if not estimated:
        return pd.DataFrame(columns=["group", "row", *names.values()])
    return pd.concat(estimated, names=["group", "row"])


def step_mediation(run: Run) -> None:
    """Mediation of the SEZ effect through agglomeration: the paper's Tables 4, 21 and 28-30."""
    from sez import did
    from sez.papers import sez_paper

    data, vcov = _did_sample(run)
    # the paper's Tables 21 and 28-30: the EG level of the firm's city-industry as mediator
    paper = did.mediation(data, "ln_tfp", "eg_city", fe=(), vcov=vcov)
    run.summary["mediation"] = {"mediator": "eg_city", "indirect": json_number(paper.indirect),
                                "total": json_number(paper.total),
                                "proportion_mediated": json_number(paper.proportion_mediated)}
    run.table("mediation", "table21", sez_paper.mediation_table(paper, paper=21),
              "Sobel-Goodman tests of the SEZ effect on log TFP through agglomeration (EG level), no fixed effects "
              "(SEZ paper, Tables 21 and 28)",
              "SEZ paper, eqs. 1-2. The paper's Table 28 prints several cells at ten times Table 21's values; they "
              "are shown as printed."
              + (" The synthetic generator has no agglomeration channel: the indirect effect should be near zero."
                 if run.truth is not None else ""))
    quintile = did.pre_period_quintile(data, "ln_tfp", basis="pre5")
    for paper_table, fe in ((29, ()), (30, ("firm_id", "year", "city"))):
        groups = did.mediation_by_group(data, "ln_tfp", "eg_city", quintile, fe=fe, on_error="record",
                                        vcov=vcov)
        run.table("mediation", f"table{paper_table}", sez_paper.mediation_table(groups, paper=paper_table),
                  "Mediation by pre-period productivity quintile, "
                  + ("no fixed effects" if not fe else "firm, year and city effects")
                  + f" (SEZ paper, Table {paper_table})",
                  "Quintiles of log TFP five years before entry, as the paper's Pre5; firms without that year are "
                  "left out.", tidy=_mediation_numbers(groups))
    # within firms, with the log of EG (positive EG only): the channel net of permanent firm differences
    positive = data[data["eg_city"] > 0].assign(ln_eg_city=lambda d: np.log(d["eg_city"]))
    try:
        within = did.mediation(positive, "ln_tfp", "ln_eg_city", vcov=vcov)
    except ValueError as err:  # small samples: the mediator can lack within-firm variation
        run.summary["mediation"]["within_firm_log_eg"] = f"not estimable: {err}"
        warnings.warn(f"mediation through log EG with firm effects not estimable: {err}", stacklevel=2)
        return
    run.summary["mediation"]["within_firm_log_eg"] = {"indirect": json_number(within.indirect),
                                                      "total": json_number(within.total),
                                                      "proportion_mediated": json_number(within.proportion_mediated)}
    run.table("mediation", "mediation_paths", within.to_frame(),
              "Mediation through log EG within the city, with the estimator's default fixed effects, paths",
              "Firm-years with a positive EG index only.")
    run.table("mediation", "mediation_tests", within.tests, "Tests of the indirect effect through log EG: Sobel, "
                                                            "Aroian, Goodman")
