"""What earlier runs into an output folder left, so that a run never truncates the report or strands files.

Every step's report section, summary and list of files written is recorded in
``<out>/sections/`` as it finishes (JSON and Parquet, like the step cache: nothing
there is run). A later run into the folder

- keeps the sections, summaries and files of the steps it does not run (``--steps``
  never truncates the report), each marked with the time of the run that made it;
- moves to ``stale/`` the files that an earlier run of a step wrote and this run of it
  no longer writes, with a note in that step's section.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

from sez.run import report
from sez.store import StepCache

__all__ = ["EarlierSteps", "STALE"]

#: Where files an earlier run wrote, and a re-run of the same step no longer writes, are moved.
STALE = "stale"
_KEY = "report section"


class EarlierSteps:
    """The record of each step's last run into ``out`` (see the module's docstring)."""

    def __init__(self, out: Path):
        self.out = out
        self._store = StepCache(out, (report.Section, report.Table, report.Figure), folder="sections")

    def recall(self, name: str) -> dict | None:
        """Step ``name``'s record from an earlier run, or None (never recorded, or altered since)."""
        if self._store.lookup(name, _KEY) is None:
            return None
        try:
            entry = self._store.load(name)
        except (OSError, ValueError, TypeError, KeyError):
            return None
        entry["section"].items = report.figures_located(entry["section"].items, self.out)
        return entry

    def record(self, name: str, section: report.Section, summary, step: dict, files: list[str]) -> None:
        """Record what step ``name`` showed and wrote in this run."""
        stored = dataclasses.replace(section, items=report.figures_relative(section.items, self.out))
        entry = {"section": stored, "summary": summary, "step": step, "files": files,
                 "written_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        self._store.store(name, _KEY, entry, [], step.get("seconds") or 0.0)

    def move_stale(self, earlier: dict | None, written: list[str]) -> list[str]:
        """Move to ``stale/`` the files of an earlier run of a step that this run of it did not write."""
        if earlier is None:
            return []
        moved = []
        for rel in sorted(set(earlier["files"]) - set(written)):
            source = self.out / rel
            if Path(rel).is_absolute() or ".." in Path(rel).parts or not source.is_file():
                continue  # gone already, or not a path inside the folder: nothing of ours to move
            target = self.out / STALE / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)
            moved.append(rel)
        return moved
