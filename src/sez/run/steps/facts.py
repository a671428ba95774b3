"""The ``facts`` step: the SEZ paper's stylised facts (Tables 1-3, Figures 1-2)."""

from __future__ import annotations

import warnings

import numpy as np

from sez.data.codes import area_names
from sez.panel import with_human_labels
from sez.papers import numbers
from sez.run.context import Run, json_number
from sez.run.steps.productivity import paper_mean_ln_tfp


def step_facts(run: Run) -> None:
    """The SEZ paper's stylised facts (Tables 1-3) and SEZ shares (Figures 1-2)."""
    from sez.papers.sez_paper import facts

    data = run.state["analysed"]
    zone = facts.zone_table(data)
    zone["paper SEZ"] = np.nan
    zone["paper Non-SEZ"] = np.nan
    table1 = paper_mean_ln_tfp(1)
    zone.loc[facts.ROWS[0], ["paper SEZ", "paper Non-SEZ"]] = [table1["SEZ"], table1["Non-SEZ"]]
    run.table("facts", "facts_zone", zone, "Firm-years inside vs outside a zone (SEZ paper, Table 1)",
              "'paper' columns: the SEZ paper's Table 1 where quoted in this package.")
    birth = facts.birth_table(data)
    run.table("facts", "facts_birth", birth, "Firms born in a zone vs born outside (SEZ paper, Table 2)")
    movers = facts.movers_table(data)
    for row, values in numbers.read("sez_movers").set_index("row").iterrows():
        for col, v in values.items():
            movers.loc[row, f"paper {col}"] = v
    run.table("facts", "facts_movers", movers,
              "Movers into a zone vs stayers outside, before and after the move (SEZ paper, Table 3)",
              f"Stayers split at year {movers.attrs.get('stayer_cutoff')}; 'paper' columns: the SEZ paper's Table 3.")
    by_year = facts.sez_share_by_year(data)
    settings = run.cfg["facts"]
    region = settings["region"]
    by_region = facts.sez_share_by_region(data, region=region)
    run.table("facts", "sez_share_by_year", with_human_labels(by_year),
              "Share of firms in SEZs by year (SEZ paper, Figure 1)", tidy=by_year)
    named = by_region.set_axis(area_names(by_region.index.to_series(), region).to_numpy())
    named.index.name = by_region.index.name
    run.table("facts", f"sez_share_by_{region}", with_human_labels(named),
              f"Share of firms in SEZs by {region}, first and last year (SEZ paper, Figure 2, as a ranked chart)",
              "Regions by their name and 2013 code; the numbers' file keeps the code alone.", tidy=by_region)
    # prefectures and counties have Chinese names only, which the chart's font may lack: codes there
    charted = named if region == "province" else by_region
    run.figure("facts", "sez_shares", lambda path: facts.plot_sez_shares(by_year, charted, path),
               f"Firms in SEZs over time and by {region} (SEZ paper, Figures 1-2)")
    if settings["boundaries"]:
        on_map = {}
        try:
            run.figure("facts", "sez_share_map",
                       lambda path: on_map.update(table=facts.plot_sez_share_map(
                           by_region, run.cfg.resolve(settings["boundaries"]), path, key=settings["boundary_key"])),
                       f"Share of firms in SEZs by {region}, first and last year, as a map (SEZ paper, Figure 2)")
        except (OSError, ValueError, KeyError, TypeError) as err:  # the ranked chart above still stands
            warnings.warn(f"[facts] boundaries: the map was not drawn: {type(err).__name__}: {err}", stacklevel=2)
        else:
            absent = on_map["table"].index[~on_map["table"]["on_map"]].tolist()
            if absent:
                warnings.warn(f"[facts] boundaries: no boundary for {len(absent)} {region}(s) of the panel: "
                              f"{absent[:10]}", stacklevel=2)
    run.summary["facts"] = {
        "sez_share_first_last_year": [json_number(by_year["share"].iloc[0]), json_number(by_year["share"].iloc[-1])],
        "zone_mean_ln_tfp": {c: json_number(zone.loc[facts.ROWS[0], c]) for c in ("SEZ", "Non-SEZ")},
        "movers_effect_of_sez": {r: json_number(movers.loc[r, "Effect of SEZ"]) for r in facts.ROWS},
        "movers": movers.attrs.get("movers"), "stayers": movers.attrs.get("stayers")}
