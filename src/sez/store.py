"""Files a run or a grid leaves behind and reads again: written so that a kill never leaves a torn one.

- :class:`Checkpoint`: an append-only JSON-lines file of finished grid points
  (``sez.smm.evaluate_grid``);
- :class:`StepCache`: each pipeline step's stored results (``sez.run``);
- :func:`write_atomic`: a file written beside its target and renamed over it;
- :func:`file_digest`: the digest that tells whether a file is still the one written;
- :class:`OutputFolder`: claims a run's output folder (never over inputs, never a stranger's folder
  without ``force``, one run at a time).

It sits below both ``sez.smm`` and the application, so each fault is handled once.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sez.errors import CheckpointWarning

__all__ = ["Checkpoint", "StepCache", "SAFE_GLOBALS", "UnsafeCacheEntry", "OutputFolder", "OutputFolderError",
           "write_atomic", "file_digest"]


def write_atomic(target: Path, write: Callable[[Any], Any]) -> None:
    """Write ``target`` through ``write(binary file)`` into ``<target>.partial``, then rename it over ``target``:
    readers see the old file or the new one, never a part.
    """
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, target)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Checkpoint:
    """An append-only JSON-lines file: a header naming the work (its ``kind`` and the
    fingerprint of its settings), then one line per finished point, flushed and synced
    as it completes; a point is written once, unless a retry supersedes its recorded
    failure (the later record counts). ``n_points`` is None where the number of points
    is not known in advance (a calibration's evaluations).

    Reading keeps every valid record. Only a torn final line (no newline: a
    write cut short by a kill) is dropped. A bad line elsewhere is skipped
    with a warning naming its line number and copied, with that number, to
    ``<path>.bad`` (rewritten at each reading); the checkpoint itself keeps
    it. A record without an integer index, or two different records for one
    point, is an error naming the lines.
    """

    def __init__(self, path: str | os.PathLike, fingerprint: str, n_points: int | None, kind: str = "grid",
                 settings: str = "other points, function, base parameters or seed"):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.kind, self.settings = kind, settings  # the work, and what names it (for the refusal)
        self.done: dict[int, dict] = {}
        if self.path.exists() and self.path.stat().st_size > 0:
            self._read(n_points)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w") as f:
                f.write(json.dumps({kind: fingerprint, "points": n_points}) + "\n")
                f.flush()
                os.fsync(f.fileno())

    def _read(self, n_points: int) -> None:
        with open(self.path, "rb") as f:
            raw = f.read()
        lines = raw.split(b"\n")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.path}: not a {self.kind} checkpoint (bad header line)") from err
        if not isinstance(header, dict) or header.get(self.kind) != self.fingerprint or \
                header.get("points") != n_points:
            raise ValueError(f"{self.path}: checkpoint was written for another {self.kind} ({self.settings}); "
                             "use another path or delete it")
        torn = not raw.endswith(b"\n")  # the last element of ``lines`` is then a line cut short
        bad: list[tuple[int, bytes]] = []
        first_line: dict[int, int] = {}
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            last = number == len(lines)
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if last and torn:  # a write cut short by a kill: drop it, so appends start on a fresh line
                    with open(self.path, "r+b") as f:
                        f.truncate(len(raw) - len(line))
                    break
                bad.append((number, line))
                continue
            index = rec.get("index") if isinstance(rec, dict) else None
            if isinstance(index, bool) or not isinstance(index, int):
                raise ValueError(f"{self.path}, line {number}: a record without an integer 'index'; the checkpoint "
                                 "is not this package's, or was edited")
            earlier = self.done.get(index)
            if earlier is not None and earlier.get("error") is not None:  # a retry of a failed point supersedes it
                self.done[index], first_line[index] = rec, number
            elif earlier is not None and earlier != rec:
                raise ValueError(f"{self.path}, lines {first_line[index]} and {number}: two different records for "
                                 f"point {index}; keep the right one and delete the other")
            else:
                self.done.setdefault(index, rec)
                first_line.setdefault(index, number)
            if last and torn:  # a complete record without its newline: end the line before appending
                with open(self.path, "ab") as f:
                    f.write(b"\n")
        side = self.path.with_name(self.path.name + ".bad")
        if bad:
            side.write_bytes(b"".join(b"%d: %s\n" % (number, line) for number, line in bad))
            warnings.warn(f"{self.path}: skipped {len(bad)} unreadable line(s) (line(s) "
                          f"{', '.join(str(n) for n, _ in bad)}); copied to {side}; their points will be computed "
                          "again", CheckpointWarning, stacklevel=3)

    def append(self, index: int, result: Any, error: BaseException | None) -> None:
        """Write the record of point ``index`` (its result or its error), flushed and synced.

        A point is written once, except that a retry may supersede a recorded failure.
        """
        if index in self.done and self.done[index].get("error") is None:
            return
        rec = {"index": index, "result": result, "error": None if error is None else f"{type(error).__name__}: "
               f"{error}"}
        line = json.dumps(rec, default=_json_default)
        with open(self.path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done[index] = json.loads(line)


def _json_default(x):
    """Numpy scalars and Series as JSON (a checkpoint record holds a grid function's result)."""
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, pd.Series):
        return x.to_dict()
    raise TypeError(f"cannot store {type(x).__name__} in a checkpoint")


#: The only globals a stored step entry may name: data constructors of numpy, pandas, pyarrow and the
#: standard library, and the package's own result dataclasses. Anything else (``os.system``,
#: ``builtins.eval``, ``pandas.read_pickle`` ...) makes the entry unreadable instead of running it.
SAFE_GLOBALS = frozenset({
    ("builtins", "complex"), ("builtins", "slice"), ("datetime", "date"), ("datetime", "datetime"),
    ("datetime", "timedelta"), ("datetime", "time"), ("pathlib", "PosixPath"), ("pathlib", "WindowsPath"),
    ("pathlib", "PurePosixPath"), ("pathlib", "PureWindowsPath"), ("pathlib._local", "PosixPath"),
    ("pathlib._local", "WindowsPath"),
    ("numpy", "dtype"), ("numpy", "ndarray"),
    *((module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
      for name in ("_reconstruct", "scalar")),
    *((module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")),
    *(("pandas", name) for name in (
        "DataFrame", "Series", "Index", "RangeIndex", "MultiIndex", "CategoricalIndex", "DatetimeIndex",
        "TimedeltaIndex", "PeriodIndex", "IntervalIndex", "Categorical", "CategoricalDtype", "StringDtype",
        "BooleanDtype", "Int8Dtype", "Int16Dtype", "Int32Dtype", "Int64Dtype", "UInt8Dtype", "UInt16Dtype",
        "UInt32Dtype", "UInt64Dtype", "Float32Dtype", "Float64Dtype", "PeriodDtype", "IntervalDtype",
        "DatetimeTZDtype", "NA", "NaT", "Timestamp", "Timedelta", "Period", "Interval")),
    *(("pandas.arrays", name) for name in (
        "ArrowStringArray", "BooleanArray", "DatetimeArray", "FloatingArray", "IntegerArray", "PeriodArray",
        "TimedeltaArray", "StringArray", "IntervalArray", "Categorical")),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"), ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.core.indexes.base", "_new_Index"), ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
    ("pandas.core.indexes.interval", "_new_IntervalIndex"), ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "SingleBlockManager"),
    ("pyarrow.lib", "_restore_array"), ("pyarrow.lib", "py_buffer"), ("pyarrow.lib", "type_for_alias"),
    ("sez.data.harmonise", "Panel"), ("sez.data.synthetic.generate", "SyntheticASIE"),
    ("sez.data.synthetic.mess", "MessRates"), ("sez.run.report", "Table"), ("sez.run.report", "Figure"),
})


class UnsafeCacheEntry(pickle.UnpicklingError):
    """A stored entry names a global outside ``SAFE_GLOBALS``: it is not run, and the step is computed again."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise UnsafeCacheEntry(f"it names {module}.{name}, which a stored step result never holds")
        return super().find_class(module, name)


class StepCache:
    """Each step's results in ``<out>/cache``: ``<step>.json`` (key, digests of the files it wrote and of the
    payload, seconds) and ``<step>.pkl`` (its state, summary and report items).

    The payload is written first and the JSON last, each by an atomic rename: a run
    killed while storing leaves the previous entry or none, never a torn one. An
    entry is used only while every file it wrote, and the payload itself, still have
    the contents they had when it was stored. The payload is read by an unpickler
    that refuses every global outside ``SAFE_GLOBALS``, so a replaced payload can
    neither be trusted (its digest differs) nor run code (its globals are refused).
    """

    def __init__(self, out: Path):
        self.out = out
        self.folder = out / "cache"

    def lookup(self, name: str, key: str) -> dict | None:
        """The stored entry's metadata when its key matches and its files are as it wrote them."""
        try:
            meta = json.loads((self.folder / f"{name}.json").read_text(encoding="utf-8"))
            payload = self.folder / f"{name}.pkl"
            if meta.get("key") != key or not payload.is_file() or file_digest(payload) != meta.get("payload"):
                return None
            if not all(file_digest(self.out / f) == digest for f, digest in meta["files"].items()):
                return None
        except (OSError, ValueError, KeyError, AttributeError):
            return None
        return meta

    def load(self, name: str) -> dict:
        """The stored payload of step ``name``; :class:`UnsafeCacheEntry` if it names anything but data."""
        with open(self.folder / f"{name}.pkl", "rb") as f:
            return _SafeUnpickler(f).load()

    def forget(self, name: str) -> None:
        """Drop a step's entry before the step runs: the files it lists are about to be rewritten."""
        for suffix in (".json", ".pkl"):
            (self.folder / f"{name}{suffix}").unlink(missing_ok=True)

    def store(self, name: str, key: str, payload: dict, files: list[str], seconds: float) -> None:
        """Store step ``name``'s payload under ``key`` with the digests of the files it wrote."""
        self.folder.mkdir(parents=True, exist_ok=True)
        digests = {f: file_digest(self.out / f) for f in files}
        blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        write_atomic(self.folder / f"{name}.pkl", lambda f: f.write(blob))
        meta = {"key": key, "files": digests, "payload": hashlib.sha256(blob).hexdigest(), "seconds": seconds}
        write_atomic(self.folder / f"{name}.json", lambda f: f.write(json.dumps(meta).encode()))


class OutputFolderError(ValueError):
    """A run may not write into this folder; the message says why and what to do."""


#: The file that marks a folder as a sez output folder (a run may write there again).
MARKER = ".sez-output"
#: The file a run holds locked while it writes.
LOCK = ".sez-lock"


class OutputFolder:
    """Claim ``out`` for one run: a context manager that checks, marks and locks the folder.

    - It refuses a folder that holds, or is, one of ``inputs`` (the run would overwrite what it reads).
    - It refuses a folder that is not empty and has no ``.sez-output`` marker (someone else's files) unless
      ``force`` is true; a claimed folder gets the marker.
    - It holds ``.sez-lock`` locked while the run writes (``fcntl.flock``: the lock dies with the process,
      however it ends); a second run into the folder is refused with the first one's process id.
    """

    def __init__(self, out: Path, inputs=(), force: bool = False):
        self.out = Path(out).resolve()
        self.inputs = [Path(p).resolve() for p in inputs]
        self.force = force
        self._lock = None

    def __enter__(self) -> OutputFolder:
        out = self.out
        if out.exists() and not out.is_dir():
            raise OutputFolderError(f"output folder {out} is a file: name a folder")
        for path in self.inputs:
            if path == out or out in path.parents:
                raise OutputFolderError(f"output folder {out} holds an input of this run ({path}): choose another "
                                        "[run] out, so that the run never writes where its inputs lie")
        if out.is_dir() and not (out / MARKER).exists() and any(out.iterdir()) and not self.force:
            raise OutputFolderError(f"output folder {out} is not empty and is not a sez output folder (no {MARKER} "
                                    "file): choose an empty or new folder, or pass --force to write into it")
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / MARKER).write_text(json.dumps({"written_by": "sez"}) + "\n", encoding="utf-8")
            self._lock = open(out / LOCK, "a+")
        except OSError as err:
            raise OutputFolderError(f"output folder {out} cannot be written: {err.strerror or err}") from err
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, the other checks stand
            return self
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            self._lock = None
            raise OutputFolderError(f"output folder {out} is being written by another run ({holder}): wait for it "
                                    "to finish, or choose another [run] out") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}\n")
        self._lock.flush()
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            self._lock.close()  # closing releases the lock
            self._lock = None
