"""Simulated method of moments, and parameter grids that survive being killed.

``evaluate_grid`` maps model moments (or any function) over parameter points with
any ``concurrent.futures.Executor`` and appends each finished point to a
checkpoint (``sez.store``) as it completes; ``estimate`` fits internal parameters
to data moments and says, per moment, whether the model can reach it.
"""

from sez.model.params import ESTIMABLE
from sez.smm.fit import estimate
from sez.smm.grid import ModelSpec, evaluate_grid, model_moments, moments_at_point
from sez.smm.noise import default_bounds, simulation_noise
from sez.smm.results import IDENTIFICATION_TOL, JACOBIAN_STEP, MODEL_LIMITS, PROFILE_RISE, SMMResult

__all__ = ["ESTIMABLE", "IDENTIFICATION_TOL", "JACOBIAN_STEP", "MODEL_LIMITS", "PROFILE_RISE", "ModelSpec",
           "SMMResult", "default_bounds", "estimate", "evaluate_grid", "model_moments", "moments_at_point",
           "simulation_noise"]
