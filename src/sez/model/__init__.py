"""The SEZ firm-dynamics model: parameters, discretisation and the Bellman solver."""

from sez.model.aggregates import DEFINITIONS, Aggregates, aggregates
from sez.model.counterfactual import SCENARIOS, Counterfactual, counterfactual, decomposition, sez_size_sweep
from sez.model.discretise import MarkovChain, pareto_types, rouwenhorst, tauchen
from sez.model.distribution import Distribution, Entrants, entrants, stationary
from sez.model.equilibrium import Economy, economy
from sez.model.grid import Grid, StateSpace, build_state_space
from sez.model.growth import GrowthModel, GrowthSolution, solve_growth
from sez.model.params import CollateralWarning, Params
from sez.model.simulate import simulate
from sez.model.solve import METHODS, Solution, solve

__all__ = [
    "GrowthModel", "GrowthSolution", "solve_growth",
    "SCENARIOS", "Counterfactual", "counterfactual", "decomposition", "sez_size_sweep", "Economy", "economy",
    "Aggregates", "DEFINITIONS", "aggregates",
    "CollateralWarning", "Distribution", "Entrants", "entrants", "stationary", "Grid", "METHODS", "MarkovChain",
    "Params", "Solution", "StateSpace",
    "build_state_space", "simulate", "pareto_types", "rouwenhorst", "solve", "tauchen",
]
