"""The TOML configurations: ``sez run`` pipelines (:data:`PIPELINE_SCHEMA`), ``sez grid`` and ``sez calibrate``.

The sections of a ``sez grid`` / ``sez calibrate`` file::

    [model]        # Params fields; the paper's values for the rest
    xbar_S = 0.3
    [grid]         # Grid fields (the discretisation)
    n_cash = 120
    [simulation]   # the simulated panel behind each moment evaluation
    n_firms = 20000
    years = 10
    burn_in = 60
    seed = 0
    [points]       # sez grid: a full factorial grid over these values (counted before it is built)
    xbar_S = [0.1, 0.3, 0.5]
    [calibrate]    # sez calibrate: which parameters are free, their box, search sizes
    free = ["xbar_S", "theta_S"]
    bounds = { xbar_S = [0.0, 1.0] }   # default: sez.smm.default_bounds
    global_points = 16
    local_starts = 3
    local_maxiter = 200
    profile = false                    # profile each identified parameter (slower)
    [targets]      # data moments (default: the paper's Table 7)
    leverage_sez = 0.959
    [output]
    checkpoint = "grid.jsonl"
    table = "grid.csv"       # grid: the table; calibrate: Table 6 (parameters)
    verdict = "verdict.csv"  # calibrate: Table 7's fit and the verdict per moment
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sez.data.synthetic import EXIT_0, FILE_FORMATS
from sez.errors import ConfigError
from sez.limits import SUPPORTED_YEARS
from sez.model import Grid, Params
from sez.model.params import ESTIMABLE
from sez.moments import CALIBRATION_MOMENTS, MOMENTS
from sez.papers.sez_paper.model import table7
from sez.run.analysis import EXAMPLE as ANALYSIS_EXAMPLE
from sez.run.analysis import check_analysis

SECTIONS = ("model", "grid", "simulation", "points", "calibrate", "targets", "output")
SIMULATION_KEYS = ("n_firms", "years", "burn_in", "seed", "method", "moments")
CALIBRATE_KEYS = ("free", "bounds", "global_points", "local_starts", "local_maxiter", "profile")
OUTPUT_KEYS = ("checkpoint", "table", "verdict")

#: The steps of a ``sez run`` pipeline in the order they run (``[run] steps`` names some of them);
#: the runner's registry (``sez.run.STEPS``) holds a step for each, in this order.
STEP_NAMES = ("synthetic", "read", "harmonise", "tfp", "elasticities", "agglomeration", "dominance", "probit",
              "facts", "did", "event_study", "heterogeneity", "mediation", "analysis", "model", "calibrate")


@dataclass(frozen=True)
class RunConfig:
    """A ``sez grid`` or ``sez calibrate`` configuration: parameters, grid, simulation, points and outputs."""

    path: Path
    params: Params
    grid: Grid
    simulation: dict
    #: [points]: parameter name -> its values; ``sez.smm.grid.factorial_points`` counts, checks and expands them
    point_axes: dict[str, list] = field(default_factory=dict)
    calibrate: dict = field(default_factory=dict)
    targets: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text: {err}") from None


def load(path: str | Path) -> RunConfig:
    """Read and validate a ``sez grid`` / ``sez calibrate`` TOML file (the sections above)."""
    path = Path(path)
    raw = _read_toml(path)
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
    calibrate = dict(raw.get("calibrate", {}))
    _check_calibrate(path, calibrate)
    targets = raw.get("targets") or table7()["data"].to_dict()
    return RunConfig(path, params, grid, dict(raw.get("simulation", {})), dict(points_spec), calibrate, targets,
                     _output_paths(path, raw.get("output", {})))


def _output_paths(path: Path, output: dict) -> dict:
    """``[output]`` paths as written, relative to the configuration file's folder (the rule of every command)."""
    resolved = {}
    for key, value in output.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: [output] {key} must be a path (a non-empty string), got {value!r}")
        p = Path(value).expanduser()
        p = p if p.is_absolute() else path.parent / p
        if p.resolve() == path.resolve():
            raise ConfigError(f"{path}: [output] {key} is the configuration file itself: name another file")
        resolved[key] = str(p)
    twice = sorted({v for v in resolved.values() if list(resolved.values()).count(v) > 1})
    if twice:
        raise ConfigError(f"{path}: [output] names {twice[0]} for two outputs: give each its own file")
    return resolved


def _check_free(free: list, error: Callable[[str], ConfigError]) -> None:
    """Free parameters must be estimable (``sez.smm.ESTIMABLE``) and named once."""
    bad = [n for n in free if n not in ESTIMABLE]
    if bad:
        raise error(f"names unknown parameter(s) {bad}; estimable: {list(ESTIMABLE)}")
    twice = sorted({n for n in free if free.count(n) > 1})
    if twice:
        raise error(f"names {twice} more than once")


def _check_calibrate(path: Path, calibrate: dict) -> None:
    free = calibrate.get("free", [])
    if not isinstance(free, list) or not all(isinstance(n, str) for n in free):
        raise ConfigError(f"{path}: [calibrate] free must be a list of parameter names")
    _check_free(free, lambda text: ConfigError(f"{path}: [calibrate] free {text}"))
    bounds = calibrate.get("bounds", {})
    if not isinstance(bounds, dict):
        raise ConfigError(f"{path}: [calibrate] bounds must be a table such as {{ xbar_S = [0.0, 1.0] }}")
    for name, box in bounds.items():
        if name not in free:
            raise ConfigError(f"{path}: [calibrate] bounds.{name}: {name} is not in free {free}")
        if (not isinstance(box, list) or len(box) != 2 or not all(isinstance(v, (int, float)) for v in box)
                or not box[0] < box[1]):
            raise ConfigError(f"{path}: [calibrate] bounds.{name} must be [low, high] with low < high, got {box!r}")
    for key in ("global_points", "local_starts", "local_maxiter"):
        value = calibrate.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{path}: [calibrate] {key} must be a non-negative integer, got {value!r}")
    if not isinstance(calibrate.get("profile", False), bool):
        raise ConfigError(f"{path}: [calibrate] profile must be true or false")


# ---------------------------------------------------------------------------
# ``sez run``: the pipeline from raw ASIE files to the papers' tables


@dataclass(frozen=True)
class Setting:
    """One key of a pipeline configuration: its type, default, allowed values and meaning."""

    kind: str  # "int", "float", "bool", "str", "list[str]", "list[int]", "list[list[str]]", "table[str]"
    default: object
    doc: str
    choices: tuple = ()
    length: int | None = None  # fixed length of a list
    example: object = None  # shown by ``sez run --example`` instead of the default


#: The ``sez run`` configuration: section -> key -> Setting. One definition: the
#: validator, ``sez run --example`` and the docs' schema table all read it.
PIPELINE_SCHEMA: dict[str, dict[str, Setting]] = {
    "run": {
        "out": Setting("str", "sez-run", "Output folder, relative to the configuration file's folder."),
        "seed": Setting("int", 0, "Seed of the synthetic data and of the estimators' starting values."),
        "steps": Setting("list[str]", [], "Run only these steps (and those they need); empty: all steps."),
        "cache": Setting("bool", True, "Reuse a step's stored results when its settings, inputs, the steps it "
                                       "needs and the package are unchanged."),
    },
    "data": {
        "source": Setting("str", "files", "'files': the user's extracts; 'synthetic': generated ones with a "
                                          "known truth.", choices=("files", "synthetic")),
        "files": Setting("list[str]", [], "Yearly ASIE extracts (CSV, Parquet, Stata, Excel): paths or glob "
                                          "patterns, relative to the configuration file's folder.",
                         example=["raw/asie_*.csv"]),
        "years": Setting("list[int]", [], "First and last year kept, e.g. [1998, 2007]; empty: all.", length=2),
        "deflators": Setting("str", "", "CSV with columns cic2, year, deflator (output price index) to "
                                        "deflate output and value added; empty: current prices."),
        "synthetic_firms": Setting("int", 4000, "True firms of the synthetic extracts (source = 'synthetic')."),
        "synthetic_exit_intercept": Setting("float", EXIT_0, "Logit intercept of the synthetic firms' exit hazard: "
                                                             f"{EXIT_0} gives about 8.7 years a firm after "
                                                             "cleaning, -0.6 (the paper-size demo) about 3.9, as "
                                                             "in the SEZ paper's panel."),
        "synthetic_excel_years": Setting("list[int]", sorted(y for y, f in FILE_FORMATS.items() if f == "xlsx"),
                                         "Years of the synthetic extracts written as Excel (others of the "
                                         "generator's Excel years as CSV)."),
        "columns": Setting("table[str]", {}, "Your column names mapped to the package's canonical names, "
                                             "added to the shipped table of known ASIE names.",
                           example={"firm_code_2": "legal_person_code"}),
    },
    "harmonise": {
        "employment_threshold": Setting("float", 8.0, "Drop firm-years with fewer employees (Brandt et al. "
                                                      "2012 use 8)."),
        "min_years": Setting("int", 2, "Drop firms observed in fewer years."),
        "weak_keywords_count": Setting("bool", False, "Let weak zone keywords (e.g. 'industrial park') alone "
                                                      "mark a firm as in an SEZ."),
        "sales_threshold": Setting("float", 0.0, "Drop firm-years with lower nominal sales (1000 yuan) in every "
                                                 "year: 20000 applies the survey's threshold from 2011 to "
                                                 "earlier years too (it was 5000); 0: the survey's own."),
    },
    "tfp": {
        "method": Setting("str", "op", "Production-function estimator for ln_tfp.",
                          choices=("op", "lp", "acf", "wrdg", "ols", "fe")),
        "by": Setting("str", "cic2", "Estimate by this industry column ('' pools all firms)."),
        "min_obs": Setting("int", 200, "Industries with fewer usable observations share a pooled estimate."),
        "trim": Setting("float", 0.005, "Share of log TFP blanked at each tail within each zone (SEZ paper: "
                                        "0.005)."),
        "compare": Setting("list[str]", ["ols", "fe", "op", "lp"], "Methods of the pooled elasticity table.",
                           choices=("op", "lp", "acf", "wrdg", "ols", "fe")),
    },
    "agglomeration": {
        "industry": Setting("str", "cic3", "Industry level of the location quotient."),
        "region": Setting("str", "city", "Region of the location quotient.", choices=("city", "county",
                                                                                     "province")),
    },
    "probit": {
        "county_effects": Setting("bool", False, "Add county effects (the paper's specification; needs many "
                                                 "firms per county)."),
    },
    "facts": {
        "region": Setting("str", "province", "Regions of the SEZ share by region (the SEZ paper's Figure 2).",
                          choices=("province", "city", "county")),
        "boundaries": Setting("str", "", "GeoJSON of the regions' boundaries (lon/lat polygons) to draw Figure 2 "
                                         "as a map; empty: a ranked chart only."),
        "boundary_key": Setting("str", "code", "Feature property holding the region code used in the panel."),
    },
    "did": {
        "fixed_effects": Setting("list[list[str]]", [["firm_id", "year"], ["firm_id", "city^year"]],
                                 "Fixed-effect sets, one specification each ('city^year': city-by-year)."),
        "cluster": Setting("str", "firm_id", "Cluster standard errors by this column."),
    },
    "event_study": {
        "window": Setting("list[int]", [-5, 10], "First and last event time; the ends are binned.", length=2),
        "reference": Setting("int", -5, "Omitted event time (the SEZ paper: five years before entry)."),
    },
    "model": {
        "n_cash": Setting("int", 60, "Cash-on-hand grid points."),
        "n_capital": Setting("int", 80, "Capital grid points."),
        "n_firms": Setting("int", 5000, "Firms in the simulated panels."),
        "scenario": Setting("str", "no_sez", "Counterfactual scenario.",
                            choices=("no_sez", "credit", "credit_tax", "equalise")),
        "closure": Setting("str", "partial", "Equilibrium closure.", choices=("partial", "general")),
    },
    "calibrate": {
        "free": Setting("list[str]", ["xbar_S", "theta_S", "ce_S"], "Model parameters estimated by SMM (the "
                                                                     "rest at the paper's values)."),
        "targets": Setting("list[str]", list(CALIBRATION_MOMENTS),
                           "Moments targeted, at the paper's Table 7 data values."),
        "global_points": Setting("int", 8, "Sobol points of the global stage."),
        "local_maxiter": Setting("int", 60, "Iterations of each local search."),
        "n_firms": Setting("int", 3000, "Firms in each simulated panel (common random numbers)."),
    },
}


def _type_ok(kind: str, value) -> bool:
    def scalar(k, v):
        if k == "int":
            return isinstance(v, int) and not isinstance(v, bool)
        if k == "float":
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        return isinstance(v, {"bool": bool, "str": str}[k])

    if kind.startswith("list[list["):
        return isinstance(value, list) and all(_type_ok("list[" + kind[10:-1], v) for v in value)
    if kind.startswith("list["):
        return isinstance(value, list) and all(scalar(kind[5:-1], v) for v in value)
    if kind.startswith("table["):
        return isinstance(value, dict) and all(scalar(kind[6:-1], v) for v in value.values())
    return scalar(kind, value)


@dataclass(frozen=True)
class PipelineConfig:
    """A validated ``sez run`` configuration: every section with every key (defaults filled in).

    ``base`` is the folder relative paths are resolved against (the file's folder).
    """

    settings: dict
    base: Path
    path: Path | None = None

    def __getitem__(self, section: str) -> dict:
        return self.settings[section]

    def resolve(self, relative: str) -> Path:
        """A path of the configuration, relative to the folder of its file."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.base / p


def pipeline_config(raw: dict | None = None, base: str | Path = ".", source: str = "configuration") -> PipelineConfig:
    """Validate a ``sez run`` configuration given as nested dicts and fill in defaults.

    Unknown sections or keys, wrong types, values outside the allowed choices and
    lists of the wrong length raise :class:`ConfigError` naming ``source``, the
    section and the key.
    """
    raw = dict(raw or {})
    analysis = check_analysis(raw.pop("analysis", None), source)
    unknown = [s for s in raw if s not in PIPELINE_SCHEMA]
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown}; known: {[*PIPELINE_SCHEMA, 'analysis']}")
    settings = {}
    for section, keys in PIPELINE_SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of keys")
        bad = [k for k in given if k not in keys]
        if bad:
            raise ConfigError(f"{source}: [{section}] has unknown key(s) {bad}; known: {sorted(keys)}")
        values = {}
        for key, setting in keys.items():
            value = given.get(key, setting.default)
            where = f"{source}: [{section}] {key}"
            if not _type_ok(setting.kind, value):
                raise ConfigError(f"{where} must be {setting.kind}, got {value!r} ({type(value).__name__})")
            if setting.kind == "float":
                value = float(value)
            items = value if isinstance(value, list) else [value]
            if setting.choices:
                wrong = [v for v in items if v not in setting.choices]
                if wrong:
                    raise ConfigError(f"{where}: {wrong[0]!r} is not one of {list(setting.choices)}")
            if setting.length is not None and value and len(value) != setting.length:
                raise ConfigError(f"{where} must have {setting.length} entries, got {len(value)}")
            values[key] = value
        settings[section] = values
    settings["analysis"] = analysis
    _check_pipeline_values(settings, source)
    cfg = PipelineConfig(settings, Path(base))
    for section, key in (("data", "deflators"), ("facts", "boundaries")):
        if settings[section][key] and not cfg.resolve(settings[section][key]).is_file():
            raise ConfigError(f"{source}: [{section}] {key}: {cfg.resolve(settings[section][key])}: no such file")
    return cfg


def _check_pipeline_values(s: dict, source: str) -> None:
    """Checks that need more than one key or a range."""

    def fail(section, key, text):
        raise ConfigError(f"{source}: [{section}] {key} {text}")

    bad_steps = [x for x in s["run"]["steps"] if x not in STEP_NAMES]
    if bad_steps:
        fail("run", "steps", f"names unknown step(s) {bad_steps}; known: {list(STEP_NAMES)}")
    data = s["data"]
    if data["source"] == "files" and not data["files"]:
        fail("data", "files", "is empty: name the yearly extracts (or set source = 'synthetic')")
    if data["source"] == "synthetic" and data["files"]:
        fail("data", "files", "names extracts, but source = 'synthetic' generates its own: set source = 'files' to "
                              "read them, or remove files")
    if data["years"] and data["years"][0] > data["years"][1]:
        fail("data", "years", f"must be [first, last] with first <= last, got {data['years']}")
    if data["years"] and not all(SUPPORTED_YEARS[0] <= y <= SUPPORTED_YEARS[1] for y in data["years"]):
        fail("data", "years", f"must lie within {SUPPORTED_YEARS[0]}-{SUPPORTED_YEARS[1]}, the survey years "
                              f"sez reads, got {data['years']}")
    if data["columns"]:
        from sez.data.columns import name_map

        try:
            name_map(data["columns"])
        except ValueError as err:
            fail("data", "columns", str(err))
    if not 0 <= s["harmonise"]["sales_threshold"] < float("inf"):
        fail("harmonise", "sales_threshold", f"must be 1000 yuan of sales, at least 0 (0: the survey's own "
                                             f"thresholds), got {s['harmonise']['sales_threshold']}")
    if not s["calibrate"]["free"]:
        fail("calibrate", "free", "is empty: name at least one parameter")
    _check_free(s["calibrate"]["free"], lambda text: ConfigError(f"{source}: [calibrate] free {text}"))
    targets = s["calibrate"]["targets"]
    unknown_targets = [m for m in targets if m not in CALIBRATION_MOMENTS]
    if unknown_targets or not targets:
        fail("calibrate", "targets", f"must name moments of the paper's Table 7 ({list(CALIBRATION_MOMENTS)}); "
                                     f"unknown: {unknown_targets}")
    if len(set(targets)) < len(targets):
        fail("calibrate", "targets", f"names {sorted({m for m in targets if targets.count(m) > 1})} more than once")
    if s["run"]["seed"] < 0:
        fail("run", "seed", f"must be non-negative, got {s['run']['seed']}")
    if not s["tfp"]["compare"]:
        fail("tfp", "compare", "is empty: name at least one method")
    for section, key, low in (("calibrate", "global_points", 1), ("calibrate", "local_maxiter", 1),
                              ("calibrate", "n_firms", 100), ("data", "synthetic_firms", 100),
                              ("harmonise", "min_years", 1),
                              ("tfp", "min_obs", 10), ("model", "n_cash", 10), ("model", "n_capital", 10),
                              ("model", "n_firms", 100)):
        if s[section][key] < low:
            fail(section, key, f"must be at least {low}, got {s[section][key]}")
    if not 0 <= s["tfp"]["trim"] < 0.5:
        fail("tfp", "trim", f"must lie in [0, 0.5), got {s['tfp']['trim']}")
    window, reference = s["event_study"]["window"], s["event_study"]["reference"]
    if not window or not window[0] <= reference < 0 <= window[1]:
        fail("event_study", "reference", f"must lie in the window before event time 0; window {window}, "
                                         f"reference {reference}")
    if not s["did"]["fixed_effects"] or not all(s["did"]["fixed_effects"]):
        fail("did", "fixed_effects", "must list at least one non-empty set of fixed effects")


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Read and validate a ``sez run`` TOML file (:data:`PIPELINE_SCHEMA`)."""
    path = Path(path)
    cfg = pipeline_config(_read_toml(path), base=path.resolve().parent, source=str(path))
    return dataclasses.replace(cfg, path=path)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def example_pipeline_config() -> str:
    """A complete ``sez run`` configuration with every key at its default and its meaning as a comment."""
    lines = ["# sez run CONFIG.toml: every key with its default (files and columns: examples).",
             "# Delete what you do not change; unknown keys are errors.", ""]
    for section, keys in PIPELINE_SCHEMA.items():
        lines.append(f"[{section}]")
        for key, setting in keys.items():
            choices = f" One of {', '.join(setting.choices)}." if setting.choices else ""
            lines.append(f"# {setting.doc}{choices}")
            shown = setting.default if setting.example is None else setting.example
            lines.append(f"{key} = {_toml_value(shown)}")
        lines.append("")
    lines.append(ANALYSIS_EXAMPLE)
    return "\n".join(lines)
