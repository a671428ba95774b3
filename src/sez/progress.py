"""Progress of long runs: a live display on a terminal, plain timestamped lines in a batch job's log.

Under SLURM or PBS standard output is a file: a live progress bar would write
control characters and redraws into it. There each event is one line::

    2026-12-02 06:31:04 start  did: SEZ effects (step 11/14)
    2026-12-02 06:32:15 did: Table 16 m3 (3 of 12), 71 s elapsed, about 3.2 min left
    2026-12-02 06:35:40 ok     did: SEZ effects in 276.1 s, peak memory 5.21 GiB

``--log FILE`` writes the same lines to a file whatever standard output is.
Library code reports work inside a step with :func:`track` (per
specification, per industry, per grid chunk); outside a run it does nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TextIO

__all__ = ["RunLog", "MemorySampler", "LineCounter", "track", "active", "stamped_line"]

_CURRENT: contextvars.ContextVar[RunLog | None] = contextvars.ContextVar("sez_run_log", default=None)


def stamped_line(text: str) -> str:
    """``text`` after the local date and time, as a batch log's progress lines show it."""
    return f"{datetime.now():%Y-%m-%d %H:%M:%S} {text}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class RunLog:
    """Where a run's progress goes: plain lines (``plain=True`` or a log file) and/or a rich display.

    Parameters
    ----------
    plain : bool
        Write timestamped lines to ``stream`` (default: when standard output
        is not a terminal).
    log_file : path, optional
        Also append the lines to this file.
    stream : file, optional
        Where plain lines go (standard output).
    """

    def __init__(self, plain: bool | None = None, log_file: str | Path | None = None, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.plain = (not self.stream.isatty()) if plain is None else plain
        self.file = open(log_file, "a", encoding="utf-8", buffering=1) if log_file else None
        self.display = None  # a rich Progress, set by the pipeline on a terminal
        self.display_task = None
        self.context = ""
        self._token = None

    def __enter__(self) -> RunLog:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _CURRENT.reset(self._token)
        if self.file is not None:
            self.file.close()

    def line(self, text: str) -> None:
        """One timestamped line to the batch log and the log file."""
        stamped = stamped_line(text)
        if self.plain:
            print(stamped, file=self.stream, flush=True)
        if self.file is not None:
            self.file.write(stamped + "\n")

    def status(self, text: str) -> None:
        """Work inside a step: a line in the log, the description of the live display on a terminal."""
        self.line(f"{self.context}: {text}" if self.context else text)
        if self.display is not None:
            self.display.update(self.display_task, description=f"{self.context}: {text}" if self.context else text)


def active() -> RunLog | None:
    """The run log of the run in progress, or None."""
    return _CURRENT.get()


def track(items: Iterable, label: str, total: int | None = None, name=str) -> Iterator:
    """Iterate over ``items``, reporting each one with the elapsed time and an estimate of the time left.

    Outside a run (no :class:`RunLog` active) the items pass through untouched.
    ``name(item)`` labels an item in the line.
    """
    log = _CURRENT.get()
    if log is None:
        yield from items
        return
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    start = time.perf_counter()
    for i, item in enumerate(items):
        elapsed = time.perf_counter() - start
        left = ""
        if total and i:
            left = f", about {_duration(elapsed / i * (total - i))} left"
        of = f" of {total}" if total else ""
        log.status(f"{label} {name(item)} ({i + 1}{of}), {_duration(elapsed)} elapsed{left}")
        yield item


class LineCounter:
    """Progress of ``total`` items of work as timestamped lines (a batch log), about every ``every`` seconds.

    ``advance()`` after each item; a line when a twentieth of the work is
    done or ``every`` seconds have passed, and at the end, with the elapsed
    time and an estimate of the time left. Inside a run the lines go to its
    :class:`RunLog`; otherwise to standard output.
    """

    def __init__(self, title: str, total: int, every: float = 30.0, stream: TextIO | None = None):
        self.title, self.total, self.every = title, total, every
        self.stream = stream or sys.stdout
        self.done = 0
        self.start = self.last = time.perf_counter()
        self.step = max(1, total // 20)

    def _line(self, text: str) -> None:
        log = _CURRENT.get()
        if log is not None:
            log.status(text)
        else:
            print(stamped_line(text), file=self.stream, flush=True)

    def advance(self) -> None:
        """Count one finished item; print a line when the next step of the interval is reached."""
        self.done += 1
        now = time.perf_counter()
        if self.done == self.total or self.done % self.step == 0 or now - self.last >= self.every:
            self.last = now
            elapsed = now - self.start
            left = (f", about {_duration(elapsed / self.done * (self.total - self.done))} left"
                    if self.done < self.total else "")
            self._line(f"{self.title}: {self.done} of {self.total} done, {_duration(elapsed)} elapsed{left}")

    def close(self) -> None:
        """Print the final count."""
        pass


class MemorySampler:
    """The peak resident memory of this process and its children, sampled every ``interval`` seconds.

    ``reset()`` starts a new peak (at a step's start); ``peak`` is in bytes.
    Sampling misses spikes shorter than the interval, so it is a lower bound.
    """

    def __init__(self, interval: float = 0.25):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        total = self.process.memory_info().rss
        with contextlib.suppress(Exception):  # children come and go between listing and reading
            for child in self.process.children(recursive=True):
                with contextlib.suppress(Exception):
                    total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def reset(self) -> None:
        """Start measuring the peak again from the current memory use."""
        self.peak = self._rss()

    def __enter__(self) -> MemorySampler:
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
