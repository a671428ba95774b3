"""The SEZ paper's tables, one module per family.

``facts`` (Tables 1-3, 12-15), ``productivity`` (the production and TFP tables, 13-15), ``did`` (16-18),
``heterogeneity`` (19-20, 31-32), ``mediation`` (4, 21-30), ``controls`` (its firm controls and EG mediator);
``model`` (Table 7's targets and fit, Tables 8-10's counterfactuals beside ``sez.model``'s and
``sez.smm``'s results; Tables 5-6 are ``sez.model.Params.paper()``).
"""

from sez.papers.sez_paper.controls import PAPER_CONTROLS, PaperControl, eg_mediator, paper_controls
from sez.papers.sez_paper.did import (
    SPECIFICATIONS,
    Specification,
    SpecificationTable,
    coefficient_plot,
    has_coefficient_plot,
    specification_table,
    table16,
    table17,
    table18,
)
from sez.papers.sez_paper.heterogeneity import (
    QUINTILE_COLUMNS,
    GroupedTable,
    heterogeneity_table,
    high_agglomeration,
    moderation_table,
    table19,
    table20,
    table31,
    table32,
)
from sez.papers.sez_paper.mediation import mediation_table
from sez.papers.sez_paper.model import counterfactual_table, effect_bars, fit_table, table7
from sez.papers.sez_paper.productivity import PRODUCTION_VARIABLES, elasticity_table, production_table, tfp_table

__all__ = ["PAPER_CONTROLS", "PaperControl", "eg_mediator", "paper_controls", "SPECIFICATIONS", "Specification",
           "SpecificationTable", "specification_table", "table16", "table17", "table18", "QUINTILE_COLUMNS",
           "GroupedTable", "heterogeneity_table", "high_agglomeration", "moderation_table", "table19", "table20",
           "table31", "table32", "mediation_table", "PRODUCTION_VARIABLES", "elasticity_table",
           "production_table", "tfp_table", "counterfactual_table", "fit_table", "table7", "coefficient_plot",
           "has_coefficient_plot", "effect_bars"]
