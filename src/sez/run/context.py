"""What the steps of one run share: its settings, results, outputs and report sections (:class:`Run`)."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from sez.run import report
from sez.run.config import PipelineConfig
from sez.store import write_atomic
from sez.tables import tidy_frame

#: The DiD estimates are judged against the synthetic truth within this many of their standard errors.
SEZ_EFFECT_TOLERANCE_SE = 4.0


@dataclass
class StepRecord:
    """What happened in one step: ``status`` is ``ok``, ``failed`` or ``skipped``."""

    name: str
    status: str = "pending"
    seconds: float = 0.0
    error: str = ""
    traceback: str = ""
    warnings: list = field(default_factory=list)
    cached: bool = False
    peak_gib: float | None = None


class Run:
    """State shared by the steps of one run: settings, results, outputs, report sections, summary."""

    def __init__(self, out_dir: Path, cfg: PipelineConfig, deflate: bool = False, allow_large: bool = False):
        self.out = out_dir
        self.tables_dir = out_dir / "tables"
        self.tidy_dir = self.tables_dir / "tidy"
        self.figures_dir = out_dir / "figures"
        for d in (self.tables_dir, self.tidy_dir, self.figures_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.cfg = cfg
        self.seed = cfg["run"]["seed"]
        self.deflate = deflate  # synthetic data only: deflate by the generator's true price index
        self.allow_large = allow_large  # past the size limits of sez.limits (synthetic data, the model's grid)
        self.state: dict = {}
        self.summary: dict = {}
        self.sections: dict[str, report.Section] = {}
        self.files: list[Path] = []
        self.part_seconds: dict[str, dict[str, float]] = {}  # wall time of a step's parts (summary.json, steps)

    @contextlib.contextmanager
    def timed(self, step: str, part: str):
        """Time a part of a step (a table) for ``summary.json``'s ``steps.<step>.parts_seconds``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.part_seconds.setdefault(step, {})[part] = time.perf_counter() - t0

    @property
    def truth(self) -> pd.DataFrame | None:
        """The synthetic truth (firm-years with true TFP and SEZ status), or None for the user's data."""
        synthetic = self.state.get("synthetic")
        return None if synthetic is None else synthetic.truth

    # outputs ---------------------------------------------------------------
    def table(self, step: str, name: str, frame: pd.DataFrame, caption: str, note: str = "",
              index: bool = True, tidy: pd.DataFrame | None = None) -> None:
        """Write ``frame`` as CSV (the paper's layout) and its numbers as ``tables/tidy/<name>.csv``, and add
        it, captioned, to the step's report section.

        ``tidy`` holds the numbers of a layout of formatted cells (stars, parentheses): estimates, standard
        errors and p-values in numeric columns. Without it the tidy file is ``frame`` itself with one header
        row (:func:`sez.tables.tidy_frame`, which refuses formatted numbers).
        """
        numbers = tidy_frame(frame if tidy is None else tidy, f"tables/{name}.csv", index=index)
        path, tidy_path = self.tables_dir / f"{name}.csv", self.tidy_dir / f"{name}.csv"
        write_atomic(path, lambda f: frame.to_csv(f, index=index))
        write_atomic(tidy_path, lambda f: numbers.to_csv(f, index=False))
        self.files += [path, tidy_path]
        shown = frame if index else frame.set_index(frame.columns[0])
        self.sections[step].items.append(report.Table(caption, shown, note, csv=f"tables/{name}.csv",
                                                      tidy_csv=f"tables/tidy/{name}.csv"))

    def panel(self, name: str, frame: pd.DataFrame) -> Path:
        """Write a firm-year table as ``<out>/<name>.parquet`` (a kill leaves the earlier file or the new one)."""
        path = self.out / f"{name}.parquet"
        write_atomic(path, lambda f: frame.to_parquet(f, index=False))
        self.files.append(path)
        return path

    def figure(self, step: str, name: str, draw: Callable[[Path], object], caption: str, note: str = "") -> None:
        """Draw a figure into ``figures/<name>.png`` and add it to the step's section."""
        import matplotlib.pyplot as plt

        path = self.figures_dir / f"{name}.png"
        try:
            draw(path)
        finally:
            plt.close("all")  # the components leave their figures open
        self.files.append(path)
        self.sections[step].items.append(report.Figure(caption, path, note))


def json_number(value):
    """A float for JSON: None for missing or non-finite values."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None

