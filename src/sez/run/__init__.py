"""The application: ``sez demo`` and ``sez run``, from raw firm data to the papers' tables (docs/run.md).

:func:`run_pipeline` runs the steps of :data:`STEPS` that a configuration
(:func:`load_pipeline`) asks for; :func:`run_demo` runs them on synthetic data
with a known truth. ``sez.run.config`` holds the configuration schemas (also
``sez grid``'s and ``sez calibrate``'s, :func:`sez.run.config.load`),
``sez.run.steps`` the steps, ``sez.run.runner`` the runner and its cache keys,
``sez.run.report`` the HTML report.
"""

from sez.errors import ConfigError
from sez.run.config import (
    PIPELINE_SCHEMA,
    STEP_NAMES,
    PipelineConfig,
    RunConfig,
    example_pipeline_config,
    load_pipeline,
    pipeline_config,
)
from sez.run.context import SEZ_EFFECT_TOLERANCE_SE, StepRecord
from sez.run.runner import MAX_WARNINGS, SIZES, STEPS, DemoSize, Step, demo_config, run_demo, run_pipeline

__all__ = ["run_pipeline", "run_demo", "demo_config", "STEPS", "Step", "StepRecord", "SIZES", "DemoSize",
           "SEZ_EFFECT_TOLERANCE_SE", "MAX_WARNINGS", "STEP_NAMES", "PIPELINE_SCHEMA", "PipelineConfig",
           "RunConfig", "pipeline_config", "load_pipeline", "example_pipeline_config", "ConfigError"]
