"""The SEZ firm-dynamics model: parameters, discretisation and the Bellman solver."""

from sez.model.discretise import MarkovChain, pareto_types, rouwenhorst, tauchen
from sez.model.grid import Grid, StateSpace, build_state_space
from sez.model.params import CollateralWarning, Params
from sez.model.solve import METHODS, Solution, solve

__all__ = [
    "CollateralWarning", "Grid", "METHODS", "MarkovChain", "Params", "Solution", "StateSpace",
    "build_state_space", "pareto_types", "rouwenhorst", "solve", "tauchen",
]
