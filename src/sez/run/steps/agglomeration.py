"""The agglomeration paper's steps: ``agglomeration`` (the measures), ``dominance`` (KS tests), ``probit``."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from sez.run.context import Run

_PROBIT_LABELS = {"L.ln_tfp": "TFP (t-1), log", "L.ln_employees": "Employees (t-1), log", "L.age": "Age (t-1)",
                  "L.foreign_invested": "Foreign-invested (t-1)", "L.exporter": "Export status (t-1)",
                  "L.agg1_1": "Exporters, same county and industry (t-1)",
                  "L.agg1_2": "Exporters, same county, other industries (t-1)",
                  "L.agg2_1": "Indigenous exporters, same county (t-1)",
                  "L.agg2_2": "Indigenous exporters, same province, other counties (t-1)",
                  "L.agg3_1": "Foreign exporters, same county (t-1)",
                  "L.agg3_2": "Foreign exporters, same province, other counties (t-1)"}


def step_agglomeration(run: Run) -> None:
    """Location quotients, Ellison-Glaeser indices and exporter counts for every firm-year."""
    from sez import agglo

    data = run.state["analysed"]
    settings = run.cfg["agglomeration"]
    data["agglomerated"] = agglo.is_agglomerated(data, industry=settings["industry"],
                                                 region=settings["region"]).to_numpy()
    counts = agglo.exporter_counts(data)
    for col in counts.columns:
        data[col] = counts[col].to_numpy()
    eg = agglo.ellison_glaeser_within_city(data)
    data["eg_city"] = agglo.to_firms(data, eg, "gamma").to_numpy(dtype=float)
    run.summary["agglomeration"] = {"agglomerated_share": float(data["agglomerated"].mean()),
                                    "exporter_share": float(data["exporter"].mean()),
                                    "mean_counts": {c: float(counts[c].mean()) for c in counts.columns},
                                    "eg_city_defined_share": float(np.isfinite(data["eg_city"]).mean())}
    desc = counts.describe().T
    desc.index.name = "count"
    run.table("agglomeration", "exporter_counts", desc,
              "Neighbouring exporters of each firm-year (agglomeration paper's agg1_1 .. agg3_2), summary",
              "Same year, the firm itself excluded: county-industry, county, indigenous and foreign-invested counts.")
    run.panel("analysis_panel", data)


def _testable_years(data: pd.DataFrame) -> list[int]:
    """Years in which all four groups (exporter x agglomerated) have firms with ln_tfp."""
    usable = data[np.isfinite(data["ln_tfp"])]
    sizes = usable.groupby(["year", "exporter", "agglomerated"]).size().unstack(["exporter", "agglomerated"])
    sizes = sizes.reindex(columns=pd.MultiIndex.from_product([[False, True], [False, True]])).fillna(0)
    return [int(y) for y in sizes.index[(sizes > 0).all(axis=1)]]


def step_dominance(run: Run) -> None:
    """The agglomeration paper's Table 2 (KS dominance by year) and its density figure."""
    from sez.papers import agglomeration

    data = run.state["analysed"]
    years = _testable_years(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows without ln_tfp (trimmed, first years) are left out by design
        table = agglomeration.dominance_table(data, agglomerated="agglomerated", years=years)
    verdicts = table.reset_index().groupby(["panel", "verdict"]).size()
    run.summary["dominance"] = {
        "years": years,
        "verdicts": {p: {v: int(n) for v, n in verdicts[p].items()} for p in verdicts.index.levels[0]
                     if p in verdicts.index.get_level_values(0)}}
    run.table("dominance", "ks_dominance", table,
              "Kolmogorov-Smirnov dominance of log TFP by export status and agglomeration, by year "
              "(agglomeration paper, Table 2 layout)",
              "Panels: (a) domestic vs exporters, not agglomerated; (b) the same, agglomerated; (c) exporters, "
              "not agglomerated vs agglomerated; (d) domestic firms, not agglomerated vs agglomerated. "
              "In the synthetic data exporters are more productive by construction.")
    year = max(years) if years else None
    run.figure("dominance", "tfp_densities",
               lambda p: agglomeration.plot_tfp_densities(data, p, agglomerated="agglomerated", year=year),
               f"Densities of log TFP by export status and agglomeration, {year} (agglomeration paper, Figure 1)")
    run.figure("dominance", "ks_dominance_ecdfs",
               lambda p: agglomeration.plot_dominance_ecdfs(data, p, agglomerated="agglomerated", year=year),
               f"Empirical CDFs of log TFP of the two groups each Kolmogorov-Smirnov panel (a)-(d) compares, {year}. "
               "Reading dominance: the group whose CDF lies to the right (below the other) has more firms at high "
               "productivity and first-order dominates; curves that cross mean neither dominates. The table above "
               "gives the tests for every year.")


def _probit_numbers(results: list, titles: list[str]) -> pd.DataFrame:
    """The numbers of the probit table: :func:`sez.tables.etable`'s tidy rows with the marginal effect at means."""
    from sez.tables import etable

    numbers = etable(results, titles=titles).tidy()
    effects = pd.concat({title: r.marginal_effects(at="mean").frame["effect"] for title, r in zip(titles, results)})
    numbers["marginal_effect"] = effects.reindex(pd.MultiIndex.from_frame(numbers[["model", "term"]])).to_numpy()
    return numbers


def step_probit(run: Run) -> None:
    """The agglomeration paper's export-entry probits (Table 3 and the split samples)."""
    from sez import probit as probit_module
    from sez.papers import agglomeration

    data = run.state["analysed"].copy()
    data["ln_employees"] = np.log(data["employees"].where(data["employees"] > 0))
    data["age"] = data["age"].astype("float")
    firm_x = ["ln_tfp", "ln_employees", "age", "foreign_invested", "exporter"]
    # agg1_1 + agg1_2 = agg2_1 + agg3_1 (all county exporters but the firm) whenever ownership is known, so the
    # two families of counts enter separate models, as separate columns of the paper's table
    models = {"[1] industry counts": ["agg1_1", "agg1_2"],
              "[2] ownership counts": ["agg2_1", "agg2_2", "agg3_1", "agg3_2"]}
    fe = ["year", "cic3"] + (["county"] if run.cfg["probit"]["county_effects"] else [])
    results, dropped = [], {}
    for title, counts in models.items():
        x = firm_x + counts
        try:
            res = probit_module.probit(data, "exporter", x, fe=fe, lags=x)
        except ValueError as err:
            # a count with no variation left (small samples): drop the regressors named and say so
            named = [n.removeprefix("L.") for n in re.findall(r"'(L\.[\w]+)'", str(err))]
            if "collinear" not in str(err) and "does not vary" not in str(err) or not named:
                raise
            dropped[title] = named
            x = [c for c in x if c not in named]
            res = probit_module.probit(data, "exporter", x, fe=fe, lags=x)
        results.append(res)
    run.summary["probit"] = {
        "fixed_effects": fe, "dropped_regressors": dropped,
        "models": {title: {"nobs": int(r.nobs), "pseudo_r2": float(r.pseudo_r2),
                           "coefficients": {k: float(v) for k, v in r.params.items()},
                           "z": {k: float(v) for k, v in r.tvalues.items()}} for title, r in zip(models, results)}}
    table = agglomeration.probit_table(results, labels=_PROBIT_LABELS, column_names=list(models))
    table.columns = [f"{a} {b}" for a, b in table.columns]
    table.index.name = "regressor"
    note = table.attrs.get("notes", "") + f". Fixed effects: {', '.join(fe)}."
    if dropped:
        note += " Dropped for lack of variation: " + "; ".join(f"{t}: {', '.join(v)}" for t, v in dropped.items())
    run.table("probit", "export_probit", table.reset_index(),
              "Export probit with lagged regressors (agglomeration paper, Table 3 layout)", note, index=False,
              tidy=_probit_numbers(results, list(models)))
