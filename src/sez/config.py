"""TOML run configurations for ``sez grid`` and ``sez calibrate``.

    [model]        # Params fields; the paper's values for the rest
    xbar_S = 0.3
    [grid]         # Grid fields (the discretisation)
    n_cash = 120
    [simulation]   # the simulated panel behind each moment evaluation
    n_firms = 20000
    years = 10
    burn_in = 60
    seed = 0
    [points]       # sez grid: a full factorial grid over these values
    xbar_S = [0.1, 0.3, 0.5]
    [calibrate]    # sez calibrate: which parameters are free, search sizes
    free = ["xbar_S", "theta_S"]
    global_points = 16
    [targets]      # data moments (default: the paper's Table 7)
    leverage_sez = 0.959
    [output]
    checkpoint = "grid.jsonl"
    table = "grid.csv"
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sez.model import Grid, Params
from sez.moments import MOMENTS, TABLE7

SECTIONS = ("model", "grid", "simulation", "points", "calibrate", "targets", "output")
SIMULATION_KEYS = ("n_firms", "years", "burn_in", "seed", "method", "moments")
CALIBRATE_KEYS = ("free", "global_points", "local_maxiter")
OUTPUT_KEYS = ("checkpoint", "table")


class ConfigError(ValueError):
    """A configuration file is malformed; the message names the file, section and key."""


@dataclass(frozen=True)
class RunConfig:
    path: Path
    params: Params
    grid: Grid
    simulation: dict
    points: list[dict] = field(default_factory=list)
    calibrate: dict = field(default_factory=dict)
    targets: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)


def load(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    unknown = [s for s in raw if s not in SECTIONS]
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; known: {list(SECTIONS)}")

    def check_keys(section, allowed):
        bad = [k for k in raw.get(section, {}) if k not in allowed]
        if bad:
            raise ConfigError(f"{path}: [{section}] has unknown key(s) {bad}; known: {sorted(allowed)}")

    param_fields = [f.name for f in dataclasses.fields(Params) if f.name != "check"]
    check_keys("model", param_fields)
    check_keys("grid", [f.name for f in dataclasses.fields(Grid)])
    check_keys("simulation", SIMULATION_KEYS)
    check_keys("points", param_fields)
    check_keys("calibrate", CALIBRATE_KEYS)
    check_keys("targets", list(MOMENTS))
    check_keys("output", OUTPUT_KEYS)
    try:
        params = Params.paper(**raw.get("model", {}))  # a CollateralWarning reaches the caller
        grid_kw = dict(raw.get("grid", {}))
        if "type_edges" in grid_kw:
            grid_kw["type_edges"] = tuple(grid_kw["type_edges"])
        grid = Grid(**grid_kw)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{path}: {err}") from None
    points_spec = raw.get("points", {})
    for name, values in points_spec.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: [points] {name} must be a non-empty list of values")
    names = list(points_spec)
    points = [dict(zip(names, combo)) for combo in itertools.product(*(points_spec[n] for n in names))]
    calibrate = dict(raw.get("calibrate", {}))
    if "free" in calibrate:
        bad = [n for n in calibrate["free"] if n not in param_fields]
        if bad:
            raise ConfigError(f"{path}: [calibrate] free names unknown parameter(s) {bad}")
    targets = raw.get("targets") or TABLE7["data"].to_dict()
    return RunConfig(path, params, grid, dict(raw.get("simulation", {})), points, calibrate, targets,
                     dict(raw.get("output", {})))
