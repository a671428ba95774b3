"""The runner: the step registry (:data:`STEPS`), cache keys, progress, :func:`run_pipeline` and the demo."""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from sez.data.harmonise import Panel
from sez.data.read import InputError
from sez.data.synthetic import PAPER_EXIT_0
from sez.data.synthetic.generate import SyntheticASIE
from sez.data.synthetic.mess import MessRates
from sez.progress import MemorySampler, RunLog
from sez.run import provenance, report
from sez.run.config import PIPELINE_SCHEMA as _DEFAULTS
from sez.run.config import PipelineConfig, pipeline_config
from sez.run.context import Run, StepRecord, json_number
from sez.run.earlier import STALE, EarlierSteps
from sez.run.steps.agglomeration import step_agglomeration, step_dominance, step_probit
from sez.run.steps.analysis import step_analysis
from sez.run.steps.data import input_files, step_harmonise, step_read, step_synthetic
from sez.run.steps.did import step_did, step_event_study, step_heterogeneity, step_mediation
from sez.run.steps.facts import step_facts
from sez.run.steps.model import step_calibrate, step_model
from sez.run.steps.productivity import step_elasticities, step_tfp
from sez.store import CacheEntryError, OutputFolder, StepCache, file_digest, write_atomic

__all__ = ["DemoSize", "SIZES", "STEPS", "Step", "demo_config", "run_demo", "run_pipeline"]


@dataclass(frozen=True)
class DemoSize:
    """How big a demo run is.

    Attributes
    ----------
    n_firms : int
        True firms of the synthetic ASIE (incumbents and entrants over 1998-2013).
    n_cash, n_capital : int
        Model grid sizes.
    model_firms : int
        Firms in the model's simulated panels.
    min_obs : int
        Fewest observations of a 2-digit industry estimated on its own; smaller
        industries are pooled.
    county_effects : bool
        Add county effects to the probit (the paper's specification; needs many
        firms per county, otherwise most counties predict perfectly).
    exit_intercept : float
        Logit intercept of the synthetic firms' exit hazard (``sez.data.synthetic``).
    excel_years : tuple of int
        Years of the synthetic extracts written as Excel.
    tfp_method : str
        Production-function estimator of the productivity step.
    """

    n_firms: int
    n_cash: int
    n_capital: int
    model_firms: int
    min_obs: int = 200
    county_effects: bool = False
    exit_intercept: float = _DEFAULTS["data"]["synthetic_exit_intercept"].default
    excel_years: tuple[int, ...] = tuple(_DEFAULTS["data"]["synthetic_excel_years"].default)
    tfp_method: str = _DEFAULTS["tfp"]["method"].default


#: ``tiny`` is for tests (about 15 s); ``small`` runs in about 20 s on
#: two cores; ``paper`` is the SEZ paper's scale (about 590,000 firms and 2.3 million
#: firm-years after cleaning, from about 3.1 million raw records; one year in Excel)
#: and the model's default grid.
SIZES = {
    "tiny": DemoSize(n_firms=1500, n_cash=40, n_capital=50, model_firms=2000, min_obs=150),
    # the small demo is ``sez run``'s defaults on synthetic data
    "small": DemoSize(n_firms=_DEFAULTS["data"]["synthetic_firms"].default, n_cash=_DEFAULTS["model"]["n_cash"].default,
                      n_capital=_DEFAULTS["model"]["n_capital"].default,
                      model_firms=_DEFAULTS["model"]["n_firms"].default, min_obs=_DEFAULTS["tfp"]["min_obs"].default,
                      county_effects=_DEFAULTS["probit"]["county_effects"].default),
    # 1,125,000 true firms with the ASIE's turnover: about 590,000 firms and 2.3 million firm-years after cleaning.
    # ACF, not the paper's OP: at this size OP's criterion has its minimum at a capital elasticity of 1.1-1.6
    # in 22 of 30 industries (truth 0.35; every start reaches it), because the generator's firm-specific mean of
    # productivity is a second unobservable, which the survey's turnover ties to capital (young firms' capital
    # is set by their productivity at entry); ACF gives 0.41 (docs/estimators.md).
    "paper": DemoSize(n_firms=1_125_000, n_cash=120, n_capital=200, model_firms=20_000, min_obs=500,
                      county_effects=True, exit_intercept=PAPER_EXIT_0, excel_years=(2003,), tfp_method="acf"),
}


@dataclass(frozen=True)
class Step:
    """One step of the pipeline.

    Attributes
    ----------
    title : str
        Shown in the progress lines and the report.
    needs : tuple of str
        Steps whose results it reads.
    settings : tuple of str
        Configuration sections (``"tfp"``) or keys (``"run.seed"``) its results depend on.
    produces : tuple of str
        Keys of the run's state it sets (stored with its cached results).
    """

    title: str
    needs: tuple
    settings: tuple
    produces: tuple
    func: Callable
    optional: bool = False  # run only when named in [run] steps (or ``sez demo --calibrate``)


#: The dataclasses a stored step result may hold (``sez.store.StepCache`` rebuilds these and no others).
CACHED_TYPES = (report.Table, report.Figure, Panel, SyntheticASIE, MessRates)


#: The steps in order (``sez run`` and ``sez demo`` run them all unless told otherwise).
STEPS: dict[str, Step] = {
    "synthetic": Step("Synthetic raw ASIE extracts", (),
                      ("data.synthetic_firms", "data.synthetic_exit_intercept", "data.synthetic_excel_years",
                       "run.seed"), ("synthetic",), step_synthetic),
    "read": Step("Reading the yearly extracts", ("synthetic",),
                 ("data.source", "data.files", "data.columns", "data.years"), ("raw",), step_read),
    "harmonise": Step("Harmonising into one firm-year panel", ("read",), ("harmonise", "data.deflators"), ("panel",),
                      step_harmonise),
    "tfp": Step("Productivity: production functions by industry", ("harmonise",),
                ("tfp.method", "tfp.by", "tfp.min_obs", "tfp.trim", "run.seed"),
                ("analysed", "tfp_estimates"), step_tfp),
    "elasticities": Step("Productivity: pooled elasticities by method", ("harmonise",), ("tfp.compare", "run.seed"),
                         (), step_elasticities),
    "agglomeration": Step("Agglomeration: LQ flag, exporter counts, EG within city", ("tfp",), ("agglomeration",),
                          ("analysed",), step_agglomeration),
    "dominance": Step("Kolmogorov-Smirnov dominance of TFP", ("agglomeration",), (), (), step_dominance),
    "probit": Step("Export probit", ("agglomeration",), ("probit",), (), step_probit),
    "facts": Step("SEZ stylised facts", ("tfp",), ("facts",), (), step_facts),
    "did": Step("SEZ effect on TFP: difference in differences", ("agglomeration",), ("did",), (), step_did),
    "event_study": Step("SEZ effect on TFP: event study", ("agglomeration",), ("event_study", "did.cluster"), (),
                        step_event_study),
    "heterogeneity": Step("SEZ effect on TFP: by pre-entry productivity and by agglomeration", ("agglomeration",),
                          ("did.cluster",), (), step_heterogeneity),
    "mediation": Step("SEZ effect on TFP: mediation through agglomeration", ("agglomeration",), ("did.cluster",), (),
                      step_mediation),
    "analysis": Step("Your specifications ([analysis])", ("agglomeration",), ("analysis",), (), step_analysis),
    "model": Step("Model: solution and counterfactual", (), ("model",), (), step_model),
    "calibrate": Step("Model: a short SMM calibration to the paper's targets", (),
                      ("calibrate", "model.n_cash", "model.n_capital", "run.seed"),
                      (), step_calibrate, optional=True),
}


def _jsonable(obj):
    """Numpy and pandas scalars to Python, NaN to None, keys to str."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return json_number(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NA:
        return None
    return str(obj)


class _Progress:
    """Step progress: a rich bar on a terminal, timestamped lines in a batch log and in ``--log FILE``."""

    def __init__(self, log: RunLog, display: bool, total: int):
        self.log, self.total, self.count = log, total, 0
        self.bar = None
        if display and not log.plain:
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
            self.task = self.bar.add_task("starting", total=total)
            log.display, log.display_task = self.bar, self.task

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        self.log.display = None

    def start(self, name: str, title: str) -> None:
        self.count += 1
        self.log.context = name
        self.log.line(f"start   {name}: {title} (step {self.count} of {self.total})")
        if self.bar is not None:
            self.bar.update(self.task, description=title)

    def finish(self, record: StepRecord, title: str) -> None:
        status = "stored" if record.cached else record.status
        detail = f": {record.error}" if record.error else ""
        when = " in an earlier run" if record.cached else ""
        memory = "" if record.peak_gib is None else f", peak memory {record.peak_gib:.2f} GiB"
        self.log.context = ""
        self.log.line(f"{status:<7} {record.name}: {title} in {record.seconds:.1f} s{when}{memory}{detail}")
        fresh = [] if record.cached else record.warnings  # a stored step's warnings were shown when it ran
        for text in fresh:
            self.log.line(f"warning {record.name}: {text}")
        if self.bar is not None:
            from rich.markup import escape

            colour = {"ok": "green", "stored": "cyan", "failed": "red", "skipped": "yellow"}[status]
            self.bar.console.print(f"[{colour}]{status:>7}[/{colour}] {title} ({record.seconds:.2f} s{when}"
                                   f"{memory}){detail}", highlight=False, markup=True)
            for text in fresh:
                self.bar.console.print(f"[yellow]warning[/yellow] {escape(text)}", highlight=False, markup=True)
            self.bar.advance(self.task)


def _code_fingerprint() -> str:
    """A hash of the installed package (Python sources, reference data, the compiled kernels).

    Part of every cache key: results stored by another version of the code are never reused.
    """
    import sez
    import sez._core

    h = hashlib.sha256()
    root = Path(sez.__file__).parent
    paths = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for p in paths + [Path(sez._core.__file__)]:
        h.update(str(p.relative_to(root) if p.is_relative_to(root) else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _setting(cfg: PipelineConfig, name: str):
    section, _, key = name.partition(".")
    return cfg[section][key] if key else cfg[section]


def _free_finished_state(run: Run, wanted: Sequence[str], current: str, cfg: PipelineConfig) -> None:
    """Drop the results no step still to run needs, directly or through the steps it needs (at the papers'
    scale the raw records and the first harmonised panel take gigabytes). The synthetic truth stays: the
    estimation steps compare their results with it.
    """
    later = wanted[wanted.index(current) + 1:]
    still_needed = {"synthetic", *(_with_prerequisites(later, cfg) if later else ())}
    kept = {key for name in still_needed for key in STEPS[name].produces}  # two steps may write one key
    for key in [k for k in run.state if k not in kept]:
        del run.state[key]


def _needs(name: str, cfg: PipelineConfig) -> tuple:
    """The steps ``name`` needs with this configuration (the user's files need no synthetic step)."""
    synthetic = cfg["data"]["source"] == "synthetic"
    return tuple(n for n in STEPS[name].needs if synthetic or n != "synthetic")


#: Settings naming a file a step reads: its contents are part of the step's cache key.
_INPUT_FILES = {"harmonise": (("data", "deflators"),), "facts": (("facts", "boundaries"),)}


def step_keys(cfg: PipelineConfig, wanted: Sequence[str], deflate: bool) -> dict[str, str]:
    """Cache key of each step: its settings, its inputs, the keys of the steps it needs and the code."""
    code = _code_fingerprint()
    keys: dict[str, str] = {}
    for name in wanted:
        inputs: list = []
        if name == "read" and cfg["data"]["source"] == "files":
            try:
                inputs = [(str(p), file_digest(p)) for p in input_files(cfg)]
            except InputError as err:
                inputs = [f"unreadable: {err}"]  # never stored: the step fails and says why
        for section, key in _INPUT_FILES.get(name, ()):
            path = cfg[section][key]
            inputs.append(file_digest(cfg.resolve(path)) if path and cfg.resolve(path).is_file() else path)
        if name == "harmonise":
            inputs.append(deflate)
        content = {"step": name, "code": code, "inputs": inputs,
                   "settings": {s: _setting(cfg, s) for s in STEPS[name].settings},
                   "needs": [keys[n] for n in _needs(name, cfg)]}
        keys[name] = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return keys


def _step_entry(record: StepRecord, run: Run) -> dict:
    """A step's entry in ``summary.json``'s ``steps``."""
    return {"status": record.status, "seconds": record.seconds, "peak_memory_gib": record.peak_gib,
            "parts_seconds": run.part_seconds.get(record.name, {}), "cached": record.cached, "error": record.error,
            "traceback": record.traceback, "warnings": record.warnings}


#: At most this many distinct warnings are kept per step (the package's own first).
MAX_WARNINGS = 20


def _warning_lines(caught: list) -> list[str]:
    """Distinct warnings, the package's own first. Deprecation notices raised inside other
    libraries' code concern those libraries, not the results: counted in one line.
    """
    own_dir = str(Path(__file__).parents[1])  # the package's folder, sez/
    seen: dict[str, bool] = {}
    library_notices: dict[str, int] = {}
    for w in caught:
        own = str(w.filename).startswith(own_dir)
        if not own and issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            parts = Path(str(w.filename)).parts
            library = parts[parts.index("site-packages") + 1] if "site-packages" in parts else Path(w.filename).stem
            library_notices[library] = library_notices.get(library, 0) + 1
            continue
        text = f"{w.category.__name__}: {w.message}"
        seen[text] = seen.get(text, False) or own
    ordered = sorted(seen, key=lambda t: (not seen[t], t))
    if len(ordered) > MAX_WARNINGS:
        ordered = ordered[:MAX_WARNINGS] + [f"... and {len(ordered) - MAX_WARNINGS} more distinct warnings"]
    if library_notices:
        ordered.append(f"{sum(library_notices.values())} deprecation notice(s) raised inside "
                       f"{', '.join(sorted(library_notices))} left out (they concern those libraries' code)")
    return ordered


class _StepWarnings(warnings.catch_warnings):
    """Every warning a step raises (as ``catch_warnings(record=True)``), with how many tables and figures the
    step had added to its section when it was raised: a warning concerns the item the step was computing,
    the next one it adds.
    """

    def __init__(self, section: report.Section):
        super().__init__()
        self.section, self.caught, self.items_before = section, [], []

    def __enter__(self) -> _StepWarnings:
        super().__enter__()
        warnings.simplefilter("always")
        warnings.showwarning = self._keep  # restored on exit
        return self

    def _keep(self, message, category, filename, lineno, file=None, line=None) -> None:
        self.caught.append(warnings.WarningMessage(message, category, filename, lineno, file, line))
        self.items_before.append(len(self.section.items))

    def __iter__(self):
        return iter(self.caught)

    def place(self, lines: Sequence[str]) -> None:
        """Give each of ``lines`` (:func:`_warning_lines` of these warnings) raised before the step added its
        last item to that next item; the others stay the section's (see :func:`_section_keeps_the_rest`).
        """
        items = self.section.items
        for w, before in zip(self.caught, self.items_before):
            text = f"{w.category.__name__}: {w.message}"
            if text in lines and before < len(items) and text not in items[before].warnings:
                items[before].warnings.append(text)


def _section_keeps_the_rest(section: report.Section, lines: Sequence[str]) -> None:
    """The step's warnings that no table or figure holds are shown under the section's title."""
    held = {text for item in section.items for text in item.warnings}
    section.warnings = [line for line in lines if line not in held]


def demo_config(size: str = "small", seed: int = 0, out_dir: str | Path = "sez-demo-run",
                steps: Sequence[str] = ()) -> PipelineConfig:
    """The configuration ``sez demo`` runs: synthetic extracts of the given size (:data:`SIZES`), no cache."""
    if size not in SIZES:
        raise ValueError(f"size = {size!r}: use one of {sorted(SIZES)}")
    d = SIZES[size]
    raw = {"run": {"out": str(out_dir), "seed": seed, "steps": list(steps), "cache": False},
           "data": {"source": "synthetic", "synthetic_firms": d.n_firms, "synthetic_exit_intercept": d.exit_intercept,
                    "synthetic_excel_years": list(d.excel_years)},
           "tfp": {"min_obs": d.min_obs, "method": d.tfp_method}, "probit": {"county_effects": d.county_effects},
           "model": {"n_cash": d.n_cash, "n_capital": d.n_capital, "n_firms": d.model_firms}}
    return pipeline_config(raw, base=".", source=f"demo size {size!r}")


def run_demo(size: str = "small", out_dir: str | Path = "sez-demo-run", seed: int = 0, progress: bool = True,
             steps: Sequence[str] | None = None, deflate: bool = False, calibrate: bool = False,
             log_file: str | Path | None = None, force: bool = False, allow_large: bool = False) -> dict:
    """Run the whole chain on synthetic data and write tables, figures, a JSON summary and ``report.html``.

    Parameters
    ----------
    size : {"tiny", "small", "paper"}
        Synthetic panel and model grid sizes (:data:`SIZES`); ``small`` (4,000
        firms, a 60 x 80 model grid) takes about 20 s on two cores,
        ``tiny`` is for tests, ``paper`` the SEZ paper's scale (about 590,000
        firms and 2.3 million firm-years after cleaning) and the model's default grid.
    out_dir : str or Path
        Folder for the outputs (created): ``raw/`` (synthetic extracts),
        ``tables/*.csv``, ``figures/*.png``, ``panel.parquet`` (harmonised),
        ``analysis_panel.parquet`` (with ln_tfp and agglomeration measures),
        ``summary.json`` and ``report.html``.
    seed : int
        Seed of the synthetic data and of the estimators' starting values.
    progress : bool
        Show progress: a live display on a terminal, timestamped lines when
        standard output is not one (a batch job's log).
    steps : sequence of str, optional
        Run only these steps (:data:`STEPS`); the steps they need are added.
    log_file : path, optional
        Append the timestamped progress lines to this file as well.
    force : bool
        Write into a non-empty folder that no sez run wrote (never over the run's inputs).
    allow_large : bool
        Generate synthetic data and solve model grids that the estimates of ``sez.limits`` say exceed the
        machine's memory or the time limit (refused otherwise, with the estimate).
    deflate : bool
        Deflate output and value added by the generator's true output price
        index (as a user's ``[data] deflators`` would). Investment, the
        Olley-Pakes proxy, stays at current prices either way; the year effects
        of the control function absorb the difference in units (docs/estimators.md:
        median capital elasticity by industry 0.47-0.51 deflated and 0.46-0.49
        not, over three seeds, against a truth of 0.35 that the firm-specific
        mean of productivity biases up by about 0.07).
    calibrate : bool
        Add a short SMM calibration of the model to the paper's targets (the
        optional ``calibrate`` step).

    Returns
    -------
    dict
        The summary written to ``summary.json`` (see :func:`run_pipeline`).
    """
    chosen = list(steps or ())
    if calibrate:
        chosen = (chosen or [n for n, step in STEPS.items() if not step.optional]) + ["calibrate"]
    return run_pipeline(demo_config(size, seed, out_dir, chosen), progress=progress, deflate=deflate,
                        log_file=log_file, force=force, allow_large=allow_large)


def run_pipeline(cfg: PipelineConfig, progress: bool = True, deflate: bool = False,
                 log_file: str | Path | None = None, force: bool = False, allow_large: bool = False) -> dict:
    """Run the pipeline a configuration describes (``sez run``; :func:`sez.run.load_pipeline`).

    With ``[run] cache = true`` each step's results are stored under
    ``<out>/cache`` with a key made of its settings, its input files' contents,
    the keys of the steps it needs and the package's code; a re-run reuses every
    step whose key is unchanged (changing a late step's settings redoes only it
    and the steps after it that need it).

    Returns
    -------
    dict
        The summary written to ``summary.json``: ``steps`` (status, seconds,
        cached, error, warnings of each), key numbers by step, ``files`` written,
        ``total_seconds`` and ``provenance`` (:func:`sez.run.provenance.collect`: versions, commit,
        seed, threads and the settings as read).

    Raises
    ------
    sez.store.OutputFolderError
        ``[run] out`` holds an input of the run, is a non-empty folder that no
        sez run wrote (``force=True``, ``--force``, writes there anyway), or is
        being written by another run.
    """
    out = cfg.resolve(cfg["run"]["out"])
    with OutputFolder(out, _inputs(cfg), force=force):
        return _run_pipeline(cfg, out, progress, deflate, log_file, allow_large)


def _inputs(cfg: PipelineConfig) -> list[Path]:
    """The files a run reads and must never write over: the user's extracts, deflators and boundaries."""
    found = []
    if cfg["data"]["source"] != "synthetic":
        try:
            found += input_files(cfg)
        except InputError:  # the read step reports it
            pass
    for section, key in (("data", "deflators"), ("facts", "boundaries")):
        if cfg[section].get(key):
            found.append(cfg.resolve(cfg[section][key]))
    return found


def _run_pipeline(cfg: PipelineConfig, out: Path, progress: bool, deflate: bool, log_file,
                  allow_large: bool) -> dict:
    import matplotlib

    matplotlib.use("Agg")  # figures are written to files, never shown
    synthetic = cfg["data"]["source"] == "synthetic"
    chosen = cfg["run"]["steps"] or [n for n, step in STEPS.items() if not step.optional]
    # the synthetic step serves only synthetic data, the analysis step only a configuration with [analysis]
    wanted = [n for n in _with_prerequisites(chosen, cfg)
              if (synthetic or n != "synthetic") and (cfg["analysis"] or n != "analysis")]
    run = Run(out, cfg, deflate=deflate, allow_large=allow_large)
    use_cache = cfg["run"]["cache"]
    cache = StepCache(out, CACHED_TYPES)
    earlier = EarlierSteps(out)
    keys = step_keys(cfg, wanted, deflate) if use_cache else {}
    records: dict[str, StepRecord] = {}
    started = time.perf_counter()
    with RunLog(plain=None if progress else False, log_file=log_file) as log, MemorySampler() as memory, \
            _Progress(log, progress, len(wanted)) as bar:
        for name in wanted:
            step = STEPS[name]
            record = records[name] = StepRecord(name)
            section = run.sections[name] = report.Section(step.title)
            missing = [n for n in _needs(name, cfg) if records[n].status != "ok"]
            bar.start(name, step.title)
            memory.reset()
            t0 = time.perf_counter()
            before = earlier.recall(name)
            files_before = len(run.files)
            meta = cache.lookup(name, keys[name]) if use_cache and not missing else None
            unreadable = None if meta is None or missing else _restore(run, cache, name, record, section, meta)
            if missing:
                record.status = "skipped"
                record.error = f"needs step(s) {', '.join(missing)}, which did not complete"
            elif meta is not None and unreadable is None:
                pass
            else:
                cache.forget(name)  # with or without the cache: the entry's files are about to change
                with _StepWarnings(section) as caught:
                    try:
                        step.func(run)
                        record.status = "ok"
                    except Exception as err:  # a failing step is recorded and the others go on
                        record.status = "failed"
                        record.error = f"{type(err).__name__}: {err}"
                        record.traceback = traceback.format_exc()
                record.warnings = _warning_lines(caught)
                caught.place(record.warnings)
                if unreadable:
                    record.warnings.append(f"stored results not reused, the step ran again: {unreadable}")
                record.seconds = time.perf_counter() - t0
                if use_cache and record.status == "ok":
                    written = [os.path.relpath(p, out) for p in run.files[files_before:]]
                    payload = {"state": {k: run.state[k] for k in step.produces}, "summary": run.summary.get(name),
                               "items": report.figures_relative(section.items, out), "warnings": record.warnings,
                               "files": written}
                    try:
                        cache.store(name, keys[name], payload, written, record.seconds)
                    except (OSError, TypeError, ValueError, NotImplementedError) as err:
                        cache.forget(name)
                        record.warnings.append(f"results not stored for re-use: {type(err).__name__}: {err}")
            if not record.cached:
                record.seconds = time.perf_counter() - t0
            if not record.cached and record.status != "skipped":
                record.peak_gib = memory.peak / 2 ** 30
            section.status, section.seconds, section.error = record.status, record.seconds, record.error
            _section_keeps_the_rest(section, record.warnings)
            section.peak_gib = record.peak_gib
            if record.status != "skipped":  # a skipped step wrote nothing: its earlier files and record stand
                written = [os.path.relpath(p, out) for p in run.files[files_before:]]
                moved = earlier.move_stale(before, written)
                if moved:
                    section.intro += (f" Moved to {STALE}/ (written by an earlier run of this step, not by this "
                                      f"one): {', '.join(moved)}.")
                try:
                    earlier.record(name, section, run.summary.get(name), _step_entry(record, run), written)
                except (OSError, TypeError, ValueError, NotImplementedError) as err:
                    record.warnings.append(f"report section not kept for later runs: {type(err).__name__}: {err}")
            bar.finish(record, step.title)
            _free_finished_state(run, wanted, name, cfg)
    total = time.perf_counter() - started
    steps = {n: _step_entry(r, run) for n, r in records.items()}
    shown = list(wanted)
    for name in STEPS:  # steps this run did not select keep what an earlier run showed and wrote
        kept = None if name in wanted else earlier.recall(name)
        if kept is not None:
            kept["section"].intro = (f"Not run this time: from the run of {kept['written_at']}. "
                                     + kept["section"].intro)
            run.sections[name] = kept["section"]
            steps[name] = {**kept["step"], "from_earlier_run": kept["written_at"]}
            if kept["summary"] is not None:
                run.summary[name] = kept["summary"]
            run.files.extend(out / f for f in kept["files"] if (out / f).is_file())
            shown.append(name)
    shown.sort(key=list(STEPS).index)
    run.summary = {"source": cfg["data"]["source"], "config": str(cfg.path) if cfg.path else None,
                   "seed": run.seed, "total_seconds": total, "steps": {n: steps[n] for n in shown}, **run.summary}
    report_path = out / "report.html"
    summary_path = out / "summary.json"
    run.summary["files"] = sorted({str(p.relative_to(out)) for p in run.files}) + ["report.html", "summary.json"]
    run.summary["provenance"] = provenance.collect(cfg, run)
    if synthetic:
        truth = run.summary.get("synthetic", {}).get("truth", {})
        intro = (f"Synthetic ASIE data ({cfg['data']['synthetic_firms']:,} true firms, seed {run.seed}) through "
                 "harmonisation, productivity, agglomeration, export entry, SEZ effects and the model; "
                 f"{total:.1f} s in all. The synthetic truth has an SEZ effect of {truth.get('tau_sez', 0.10)} "
                 "log points on TFP.")
    else:
        n_files = run.summary.get("read", {}).get("files")
        intro = (f"Your ASIE extracts ({n_files} files) through harmonisation, productivity, agglomeration, export "
                 f"entry, SEZ effects and the model; {total:.1f} s in all"
                 + (f", configuration {cfg.path}" if cfg.path else "") + ".")
    write_atomic(summary_path, lambda f: f.write(json.dumps(_jsonable(run.summary), indent=2).encode("utf-8")))
    report.write_html([run.sections[n] for n in shown], report_path,
                      title="SEZ: from raw data to the papers' tables", intro=intro,
                      provenance=run.summary["provenance"])
    return _jsonable(run.summary)


#: What reading a stored entry written by another build, cut short or tampered with can raise (pyarrow's
#: errors are OSError or ValueError; ``CacheEntryError`` is a ValueError).
_UNREADABLE = (OSError, ValueError, TypeError, KeyError, CacheEntryError)


def _restore(run: Run, cache: StepCache, name: str, record: StepRecord, section: report.Section,
             meta: dict) -> str | None:
    """Reuse a step's stored results, state included, as if it had just run (steps are visited in order).

    None when reused; why not when the stored entry cannot be read (the step then runs).
    """
    try:
        payload = cache.load(name)
        state, summary, items = payload["state"], payload["summary"], payload["items"]
    except _UNREADABLE as err:
        return f"{type(err).__name__}: {err}"
    run.state.update(state)
    if summary is not None:
        run.summary[name] = summary
    section.items.extend(report.figures_located(items, run.out))
    section.intro = f"Stored results reused (computed in {meta['seconds']:.2f} s in an earlier run)."
    run.files.extend(run.out / f for f in payload["files"])
    record.status, record.cached, record.warnings = "ok", True, payload["warnings"]
    record.seconds = meta["seconds"]
    return None


def _with_prerequisites(steps: Sequence[str], cfg: PipelineConfig) -> list[str]:
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}: use {list(STEPS)}")
    needed: set[str] = set()

    def add(name: str) -> None:
        if name not in needed:
            needed.add(name)
            for need in _needs(name, cfg):
                add(need)

    for s in steps:
        add(s)
    return [s for s in STEPS if s in needed]
