"""The ``sez`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path


def _step(console, text, func, *args, **kw):
    t = time.perf_counter()
    with console.status(text):
        out = func(*args, **kw)
    console.print(f"[green]done[/green] {text} ({time.perf_counter() - t:.2f} s)")
    return out


#: Widest line of the closing summary: long warnings and errors are cut there (summary.json holds them whole).
_SUMMARY_WIDTH = 118


def _clip(text: str) -> str:
    return text if len(text) <= _SUMMARY_WIDTH else text[:_SUMMARY_WIDTH - 3] + "..."


def _num(value, spec: str = ".3f") -> str:
    """A number of summary.json as the closing summary shows it (None, a missing estimate, as n/a)."""
    return "n/a" if value is None else format(value, spec)


def _effects_lines(summary: dict) -> list[str]:
    """The SEZ effect on TFP: TWFE and imputation, and the event study's mean effect after entry."""
    did = summary.get("did") or {}
    estimates = [did[k] for k in ("twfe", "imputation") if did.get(k)]
    if not estimates:
        return []
    truth = f" (synthetic truth {did['truth']:.2f})" if did.get("truth") is not None else ""
    lines = [f"SEZ effect on log TFP{truth}:"]
    for e in estimates:
        size = (f", {e['nobs']:,} firm-years, {e['clusters']:,} clusters"
                if e.get("nobs") is not None and e.get("clusters") is not None else "")
        lines.append(f"  {e['estimator']}: {_num(e['coef'])} (s.e. {_num(e['se'])}){size}")
    post = (summary.get("event_study") or {}).get("imputation_post_mean")
    if post is not None:
        lines.append(f"  event study, imputation: mean effect after entry {post:.3f}")
    return lines


def _productivity_lines(summary: dict) -> list[str]:
    """The production function's elasticities (medians over industries) and the pooled ones by method."""
    lines = []
    tfp = summary.get("tfp") or {}
    if "beta_employees_median" in tfp:
        truth = tfp.get("truth") or {}
        known = (f"; synthetic truth {truth['beta_l']:.2f}, {truth['beta_k']:.2f}"
                 if {"beta_l", "beta_k"} <= set(truth) else "")
        lines.append(f"Production function ({str(tfp.get('method', '')).upper()} by {tfp.get('by')}): labour "
                     f"{_num(tfp['beta_employees_median'])}, capital {_num(tfp.get('beta_capital_median'))} "
                     f"(medians over industries{known})")
    pooled = {name.removesuffix(" Overall"): e for name, e in (summary.get("elasticities") or {}).items()
              if name.endswith(" Overall")}
    if pooled:
        lines.append("Pooled elasticities (labour, capital): "
                     + "; ".join(f"{m} {_num(e.get('employees'))}, {_num(e.get('capital'))}"
                                 for m, e in pooled.items()))
    return lines


def _verdict_lines(summary: dict) -> list[str]:
    """KS dominance (years by verdict, per panel of the agglomeration paper's Table 2) and the export probit."""
    lines = []
    verdicts = (summary.get("dominance") or {}).get("verdicts") or {}
    if verdicts:
        from sez.papers.agglomeration import GROUP_LABELS, TABLE2_PANELS

        groups = {panel: (GROUP_LABELS[a], GROUP_LABELS[b]) for panel, a, b in TABLE2_PANELS}
        lines.append(f"KS dominance of log TFP, years by verdict ({len(summary['dominance'].get('years', []))} "
                     "years):")
        for panel, counts in verdicts.items():
            a, b = groups.get(panel, ("A", "B"))
            lines.append(_clip(f"  {panel}: A = {a}; B = {b}: " + ", ".join(f"{v} {n}" for v, n in counts.items())))
    models = (summary.get("probit") or {}).get("models") or {}
    tfp_terms = {title: (m["coefficients"][key], m.get("z", {}).get(key)) for title, m in models.items()
                 for key in ("L.ln_tfp",) if key in m.get("coefficients", {})}
    if tfp_terms:
        lines.append(_clip("Export probit, lagged log TFP: " + "; ".join(
            f"{title} {_num(coef)} (z {_num(z, '.1f')})" for title, (coef, z) in tfp_terms.items())))
    return lines


def _model_lines(summary: dict) -> list[str]:
    """The model's counterfactual effect (its first row: aggregate TFP) and the calibration's fit."""
    lines = []
    model = summary.get("model") or {}
    effects = model.get("effect_pct") or {}
    if effects:
        label, value = next(iter(effects.items()))
        paper = (model.get("paper_effect_pct") or {}).get(label)
        lines.append(f"Model, {model.get('scenario')} counterfactual ({model.get('closure')} equilibrium): "
                     f"effect of SEZs on {label} {_num(value, '+.2f')}%"
                     + ("" if paper is None else f" (paper {paper:+.2f}%)"))
    calibrate = summary.get("calibrate") or {}
    if "objective" in calibrate:
        within = calibrate.get("within_10pct") or {}
        lines.append(f"SMM calibration: objective {_num(calibrate['objective'], '.4g')} after "
                     f"{calibrate.get('evaluations')} evaluations, {sum(within.values())} of {len(within)} targets "
                     "within 10%" + ("" if calibrate.get("converged") else " (not converged)"))
    return lines


def _warning_lines(steps: dict) -> list[str]:
    """Warnings by step: how many, and the first of each (summary.json lists them all)."""
    counts = {name: len(s.get("warnings") or ()) for name, s in steps.items()}
    total = sum(counts.values())
    if not total:
        return ["Warnings: none"]
    lines = [f"Warnings: {total} in {sum(n > 0 for n in counts.values())} step(s), all in summary.json "
             "(steps.<step>.warnings); the first of each:"]
    lines += [_clip(f"  {name} ({n}): {steps[name]['warnings'][0]}") for name, n in counts.items() if n]
    return lines


def _report_end(summary: dict, out: Path) -> int:
    """The closing summary of ``sez demo`` and ``sez run``: what ran, the headline numbers, the warnings by step
    and where the files are. Plain text, the same on a terminal and in a batch job's log; a number a run lacks
    (a step not run, or failed) is left out.
    """
    steps = summary["steps"]
    failed = [name for name, s in steps.items() if s["status"] != "ok"]
    stored = [name for name, s in steps.items() if s.get("cached")]
    lines = [f"{len(steps) - len(failed)} of {len(steps)} steps ran in {summary['total_seconds']:.1f} s"
             + (f" ({len(stored)} reused from an earlier run)" if stored else "")
             + (f"; not run or failed: {', '.join(failed)}" if failed else "")]
    lines += [_clip(f"  {name}: {steps[name]['error']}") for name in failed if steps[name].get("error")]
    lines += _effects_lines(summary) + _productivity_lines(summary) + _verdict_lines(summary)
    lines += _model_lines(summary) + _warning_lines(steps)
    folder = out.resolve()
    lines += [f"Report:  {folder / 'report.html'}",
              f"Tables:  {folder / 'tables'} (numbers in tables/tidy), figures in {folder / 'figures'}",
              f"Summary: {folder / 'summary.json'} (with the run's provenance)"]
    print("\n".join(lines))
    return 0 if not failed else 1


def _demo(args) -> int:
    from sez.run import run_demo

    summary = run_demo(size=args.size, out_dir=args.out, seed=args.seed, progress=True, calibrate=args.calibrate,
                       log_file=args.log, force=args.force, allow_large=args.allow_large)
    return _report_end(summary, Path(args.out))


def _run(args) -> int:
    from sez.run import example_pipeline_config, load_pipeline, pipeline_config, run_pipeline

    if args.example:
        print(example_pipeline_config())
        return 0
    if args.config is None:
        raise ValueError("sez run needs a CONFIG.toml (write one with: sez run --example > run.toml)")
    cfg = load_pipeline(args.config)
    overrides = {**({"steps": args.steps.split(",")} if args.steps else {}),
                 **({"cache": False} if args.no_cache else {})}
    if overrides:  # validated like the file's own settings
        cfg = dataclasses.replace(pipeline_config({**cfg.settings, "run": {**cfg["run"], **overrides}},
                                                  base=cfg.base, source=f"{args.config} (command line)"),
                                  path=cfg.path)
    summary = run_pipeline(cfg, progress=True, log_file=args.log, force=args.force, allow_large=args.allow_large)
    return _report_end(summary, cfg.resolve(cfg["run"]["out"]))


def _model(args) -> int:
    """The model alone: solve the paper's calibration, the no-SEZ counterfactual, figures."""
    from rich.console import Console

    from sez.model import CollateralWarning, Grid, Params
    from sez.store import OutputFolder

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollateralWarning)
        params = Params.paper() if args.params == "paper" else Params.paper(xbar_S=0.3, theta_S=0.7)
    for w in caught:
        console.print(f"note: {w.message}")
    warnings.simplefilter("ignore", CollateralWarning)  # noted once above
    grid = Grid(n_cash=args.n_cash, n_capital=args.n_capital, allow_large=args.allow_large)
    with OutputFolder(Path(args.out), force=args.force):  # claimed before the solve, so a refusal costs nothing
        _model_outputs(args, console, params, grid)
    return 0


def _model_outputs(args, console, params, grid) -> None:
    from sez.model import counterfactual, figures, solve
    from sez.papers.sez_paper.model import counterfactual_table

    sol = _step(console, f"solving the firm problem ({args.method})", solve, params, grid, method=args.method,
                threads=args.threads)
    console.print(sol.summary())
    cf = _step(console, "benchmark and no-SEZ economies (distributions, panels, aggregates)", counterfactual,
               params, "no_sez", grid, closure=args.closure, n_firms=args.n_firms, threads=args.threads)
    table = counterfactual_table(cf)
    console.print(_table(table, f"SEZ effects: no-SEZ counterfactual ({cf.closure} equilibrium); "
                                     "the paper's Table 8 beside ours"))
    out = Path(args.out)
    bench = cf.benchmark
    figures.decision_rules(bench.solution, path=out / "decision_rules.png")
    figures.location_map(bench.solution, path=out / "location_map.png")
    figures.lifecycle(bench.panel, path=out / "lifecycle.png")
    figures.tfp_density(bench.panel, path=out / "tfp_density.png")
    table.to_csv(out / "no_sez_counterfactual.csv")
    console.print(f"figures and table written to {out}/")


def _spec(cfg, moments=None):
    from sez.smm import ModelSpec

    sim = cfg.simulation
    kw = {k: sim[k] for k in ("n_firms", "years", "burn_in", "method") if k in sim}
    if moments is not None:
        kw["moments"] = tuple(moments)
    elif "moments" in sim:
        kw["moments"] = tuple(sim["moments"])
    return ModelSpec(grid=cfg.grid, **kw)


def _executor(args):
    from sez.parallel import local_executor

    if args.executor == "local":
        if args.scheduler:
            raise ValueError(f"--scheduler {args.scheduler} needs --executor dask (the local executor has no "
                             "scheduler)")
        return local_executor(workers=args.workers)
    from distributed import Client  # the cluster executor: Dask

    client = Client(args.scheduler) if args.scheduler else Client(n_workers=args.workers, threads_per_worker=1)
    return client.get_executor()


#: Exit codes of ``sez grid`` for batch scripts (docs/cluster.md): every point computed; some points raised
#: model errors (recorded; ``--retry-failed`` computes them again); the run itself failed (a lost worker, an
#: interrupt: finished points are kept, a rerun computes the rest). 2 is a bad command line or configuration.
EXIT_OK, EXIT_POINTS_FAILED, EXIT_RUN_FAILED = 0, 3, 4


def _grid(args) -> int:
    from sez.parallel import WorkerLost
    from sez.run import config
    from sez.smm import evaluate_grid
    from sez.smm.grid import factorial_points

    cfg = config.load(args.config)
    if not cfg.point_axes:
        raise config.ConfigError(f"{cfg.path}: [points] is empty: nothing to evaluate")
    spec = _spec(cfg)
    try:
        points = factorial_points(cfg.point_axes, spec, allow_large=args.allow_large)
    except ValueError as err:  # too many points, or a [simulation] size that is not a whole number
        raise type(err)(f"{cfg.path}: {err}") from None
    checkpoint = cfg.output.get("checkpoint", str(cfg.path.with_suffix(".jsonl")))
    try:
        with _executor(args) as ex:
            table = evaluate_grid(points, base=cfg.params, spec=spec, executor=ex, checkpoint=checkpoint,
                                  seed=int(cfg.simulation.get("seed", 0)), progress=True,
                                  retry_failed=args.retry_failed)
    except WorkerLost as err:
        print(f"sez grid: the run failed: {err}; the finished points are in {checkpoint}", file=sys.stderr)
        return EXIT_RUN_FAILED
    out = cfg.output.get("table", str(cfg.path.with_suffix(".csv")))
    table.to_csv(out)
    failed = int(table["error"].notna().sum())
    print(f"{len(table)} points ({failed} failed) written to {out}; checkpoint {checkpoint}")
    if failed:
        print(f"sez grid: {failed} point(s) raised an error (column 'error' of {out}); "
              "--retry-failed computes them again", file=sys.stderr)
        return EXIT_POINTS_FAILED
    return EXIT_OK


def _calibrate(args) -> int:
    import pandas as pd

    from sez.parallel import WorkerLost
    from sez.run import config
    from sez.smm import estimate

    cfg = config.load(args.config)
    free = cfg.calibrate.get("free")
    if not free:
        raise config.ConfigError(f"{cfg.path}: [calibrate] needs free = [...] parameter names")
    data = pd.Series(cfg.targets, dtype=float)
    # [output] paths are relative to the file's folder (config.load); by default the checkpoint lies beside it,
    # so that a job killed on a cluster resumes when submitted again
    outputs = cfg.output
    checkpoint = outputs.get("checkpoint", cfg.path.with_suffix(".calibration.jsonl"))
    try:
        with _executor(args) as ex:
            bounds = {name: tuple(box) for name, box in cfg.calibrate.get("bounds", {}).items()}
            res = estimate(data, cfg.params, free, spec=_spec(cfg, data.index), executor=ex, bounds=bounds or None,
                           seed=int(cfg.simulation.get("seed", 0)),
                           global_points=cfg.calibrate.get("global_points", 16),
                           local_starts=cfg.calibrate.get("local_starts", 3),
                           local_maxiter=cfg.calibrate.get("local_maxiter", 200),
                           profile=cfg.calibrate.get("profile", False), progress=True, checkpoint=checkpoint)
    except WorkerLost as err:
        print(f"sez calibrate: the run failed: {err}; the finished evaluations are in {checkpoint}, and running "
              "the same command again resumes from them", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(res.summary())
    if "table" in outputs:
        res.params_table().to_csv(outputs["table"])
    if "verdict" in outputs:
        res.verdict().to_csv(outputs["verdict"])
    return 0


def _table(df, title):
    from rich.table import Table

    short = {"benchmark N": "N", "benchmark S": "S", "benchmark overall": "overall",
             "counterfactual overall": "no-SEZ", "effect (%)": "effect %", "paper benchmark overall": "paper",
             "paper counterfactual overall": "paper no-SEZ", "paper effect (%)": "paper effect %"}
    table = Table(title=title)
    table.add_column("")
    for col in df.columns:
        table.add_column(short.get(col, col), justify="right")
    for label, row in df.iterrows():
        table.add_row(label, *(f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}" for v in row))
    return table


def _quiet_collateral(func):
    """Model commands evaluate many parameter sets: say the collateral note once."""

    def run(args):
        from sez.model import CollateralWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CollateralWarning)
            from sez.run import config

            config.load(args.config)  # validates; records the note for the base parameters
        for w in {str(w.message) for w in caught}:
            print(f"note: {w}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CollateralWarning)
            return func(args)

    return run


def _add_run_options(parser) -> None:
    parser.add_argument("--log", default=None, metavar="FILE",
                        help="append timestamped progress lines to FILE (they go to standard output when it is "
                             "not a terminal, as in a batch job)")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty folder that no sez run wrote (never over the run's inputs)")
    parser.add_argument("--allow-large", action="store_true",
                        help="run synthetic data and model grids estimated to exceed the memory or time limits "
                             "of sez.limits (refused otherwise, with the estimate)")


def main(argv=None) -> int:
    """The ``sez`` command: parse ``argv`` and run the subcommand; the exit status."""
    parser = argparse.ArgumentParser(prog="sez", description="Special Economic Zones: data, estimation and model.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the whole chain on synthetic ASIE data: harmonisation, productivity, "
                                       "agglomeration, KS, probit, SEZ effects, the model; an HTML report")
    demo.add_argument("--size", choices=("tiny", "small", "paper"), default="small")
    demo.add_argument("--out", default="sez-demo", help="folder for the report, tables, figures and panels")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--calibrate", action="store_true",
                      help="add a short SMM calibration of the model to the paper's targets (a minute or two)")
    _add_run_options(demo)
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="the same chain on your own ASIE extracts, as a TOML configuration says; "
                                     "steps whose inputs and settings are unchanged are reused")
    run.add_argument("config", nargs="?", help="TOML file (print a documented example with --example)")
    run.add_argument("--example", action="store_true", help="print a configuration with every key and exit")
    run.add_argument("--steps", default=None, help="comma-separated steps to run (and those they need)")
    run.add_argument("--no-cache", action="store_true",
                     help="recompute every step, neither reading nor writing stored results")
    _add_run_options(run)
    run.set_defaults(func=_run)
    model = sub.add_parser("model", help="solve the paper's firm model and its no-SEZ counterfactual; "
                                         "print the paper's Table 8 beside ours")
    model.add_argument("--params", choices=("paper", "populated"), default="paper",
                       help="paper: Tables 5-6; populated: xbar_S = 0.3, theta_S = 0.7 (both zones hold firms)")
    model.add_argument("--method", default="howard", help="grid, monotone, howard or continuous")
    model.add_argument("--closure", choices=("partial", "general"), default="partial")
    model.add_argument("--n-cash", type=int, default=120)
    model.add_argument("--n-capital", type=int, default=200)
    model.add_argument("--n-firms", type=int, default=20_000, help="firms in the simulated panels")
    model.add_argument("--threads", type=int, default=None)
    model.add_argument("--out", default="sez-model", help="folder for figures and tables")
    model.add_argument("--force", action="store_true", help="write into a non-empty folder that no sez run wrote")
    model.add_argument("--allow-large", action="store_true",
                       help="solve a grid estimated to exceed the memory or time limits of sez.limits")
    model.set_defaults(func=_model)
    for name, func, text in (("grid", _grid, "evaluate model moments over the [points] grid of a TOML config, "
                                                 "checkpointed (rerun to resume)"),
                             ("calibrate", _calibrate, "estimate the [calibrate] free parameters by SMM against "
                                                       "[targets]")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("config", help="TOML file (see sez.run.config)")
        cmd.add_argument("--executor", choices=("local", "dask"), default="local")
        cmd.add_argument("--scheduler", default=None, help="Dask scheduler address (default: a local cluster)")
        cmd.add_argument("--workers", type=int, default=None, help="worker processes (default: available cores)")
        if name == "grid":
            cmd.add_argument("--retry-failed", action="store_true",
                             help="compute again the points whose error the checkpoint records")
            cmd.add_argument("--allow-large", action="store_true",
                             help="evaluate a [points] grid of more than sez.limits.MAX_GRID_POINTS points")
        cmd.set_defaults(func=_quiet_collateral(func))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError) as err:
        print(f"sez: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
