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

import dataclasses
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sez.errors import CheckpointWarning

__all__ = ["Checkpoint", "StepCache", "CacheEntryError", "OutputFolder", "OutputFolderError",
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


class CacheEntryError(ValueError):
    """A stored step entry cannot be read back: a part is missing or altered, or names a kind it may not hold."""


#: The file of an entry's folder that holds the structure; frames and arrays are files beside it.
_PAYLOAD = "payload.json"


class _Writer:
    """Encode a step's payload as JSON, with each frame in a Parquet file and each array in an ``.npy`` file.

    Nothing in the result can run code when read: JSON, Parquet and ``.npy`` without pickles hold data
    only, and a dataclass is rebuilt only when its type is one the cache was given.
    """

    def __init__(self, folder: Path, types: dict[str, type]):
        self.folder, self.types, self.parts = folder, types, 0

    def _part(self, suffix: str) -> str:
        self.parts += 1
        return f"{self.parts}{suffix}"

    def __call__(self, x: Any) -> Any:
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, np.generic):
            return self(x.item())
        if isinstance(x, list):
            return [self(v) for v in x]
        if isinstance(x, tuple):
            return {"kind": "tuple", "items": [self(v) for v in x]}
        if isinstance(x, dict):
            return {"kind": "dict", "items": [[self(k), self(v)] for k, v in x.items()]}
        if isinstance(x, os.PathLike):
            return {"kind": "path", "path": os.fspath(x)}
        if isinstance(x, np.ndarray):
            name = self._part(".npy")
            np.save(self.folder / name, x, allow_pickle=False)
            return {"kind": "array", "file": name}
        if isinstance(x, pd.Series):
            return {"kind": "series", "frame": self(x.to_frame("values")), "name": self(x.name)}
        if isinstance(x, pd.DataFrame):
            # Parquet wants unique string column names: the labels travel in the JSON
            body = x.copy(deep=False)
            body.columns = [f"c{i}" for i in range(x.shape[1])]
            body.attrs = {}
            name = self._part(".parquet")
            body.to_parquet(self.folder / name)
            return {"kind": "frame", "file": name, "columns": self(list(x.columns)),
                    "column_names": self(list(x.columns.names)),
                    "multi_columns": isinstance(x.columns, pd.MultiIndex), "attrs": self(dict(x.attrs))}
        kind = f"{type(x).__module__}.{type(x).__qualname__}"
        if dataclasses.is_dataclass(x) and self.types.get(kind) is type(x):
            return {"kind": "dataclass", "type": kind,
                    "fields": {f.name: self(getattr(x, f.name)) for f in dataclasses.fields(x) if f.init}}
        raise TypeError(f"a stored step result cannot hold {kind}")


class _Reader:
    """Decode what :class:`_Writer` wrote; anything else is a :class:`CacheEntryError`."""

    def __init__(self, folder: Path, types: dict[str, type]):
        self.folder, self.types = folder, types

    def _file(self, name: Any) -> Path:
        if not isinstance(name, str) or Path(name).name != name or name == _PAYLOAD:
            raise CacheEntryError(f"part {name!r} is not a file of the entry")
        return self.folder / name

    def __call__(self, x: Any) -> Any:
        if isinstance(x, list):
            return [self(v) for v in x]
        if not isinstance(x, dict):
            return x
        kind = x.get("kind")
        if kind == "tuple":
            return tuple(self(v) for v in x["items"])
        if kind == "dict":
            return {self(k): self(v) for k, v in x["items"]}
        if kind == "path":
            return Path(x["path"])
        if kind == "array":
            return np.load(self._file(x["file"]), allow_pickle=False)
        if kind == "series":
            values = self(x["frame"])["values"]
            return values.rename(self(x["name"]))
        if kind == "frame":
            frame = pd.read_parquet(self._file(x["file"]))
            labels, names = self(x["columns"]), self(x["column_names"])
            frame.columns = (pd.MultiIndex.from_tuples(labels, names=names) if x["multi_columns"]
                             else pd.Index(labels, name=names[0]))
            frame.attrs = self(x["attrs"])
            return frame
        if kind == "dataclass":
            cls = self.types.get(x["type"])
            if cls is None:
                raise CacheEntryError(f"it names {x['type']!r}, which a stored step result never holds")
            return cls(**{k: self(v) for k, v in x["fields"].items()})
        raise CacheEntryError(f"unknown part kind {kind!r}")


class StepCache:
    """Each step's results in ``<out>/cache`` (or another ``folder``): ``<step>.json`` (key, digests of the
    files it wrote and of each part of the payload, seconds) and the folder ``<step>/`` (its state, summary
    and report items).

    The payload is JSON, with frames in Parquet and arrays in ``.npy`` files: formats that hold data and
    cannot run code when read, whoever wrote them. Dataclasses are rebuilt only for the ``types`` the cache
    is given. The payload folder is written first and the JSON last, each by an atomic rename: a run killed
    while storing leaves the previous entry or none, never a torn one. An entry is used only while every
    file it wrote, and every part of the payload, still have the contents they had when it was stored.
    """

    def __init__(self, out: Path, types: tuple[type, ...] = (), folder: str = "cache"):
        self.out = out
        self.folder = out / folder
        self.types = {f"{t.__module__}.{t.__qualname__}": t for t in types}

    def lookup(self, name: str, key: str) -> dict | None:
        """The stored entry's metadata when its key matches and its files are as it wrote them."""
        try:
            meta = json.loads((self.folder / f"{name}.json").read_text(encoding="utf-8"))
            parts = meta["payload"]
            if meta.get("key") != key or _PAYLOAD not in parts:
                return None
            if sorted(p.name for p in (self.folder / name).iterdir()) != sorted(parts):
                return None
            if not all(file_digest(self.folder / name / p) == digest for p, digest in parts.items()):
                return None
            if not all(file_digest(self.out / f) == digest for f, digest in meta["files"].items()):
                return None
        except (OSError, ValueError, KeyError, AttributeError, TypeError):
            return None
        return meta

    def load(self, name: str) -> dict:
        """The stored payload of step ``name``; :class:`CacheEntryError` if it holds anything but data."""
        folder = self.folder / name
        return _Reader(folder, self.types)(json.loads((folder / _PAYLOAD).read_text(encoding="utf-8")))

    def forget(self, name: str) -> None:
        """Drop a step's entry before the step runs: the files it lists are about to be rewritten."""
        (self.folder / f"{name}.json").unlink(missing_ok=True)
        shutil.rmtree(self.folder / name, ignore_errors=True)

    def store(self, name: str, key: str, payload: dict, files: list[str], seconds: float) -> None:
        """Store step ``name``'s payload under ``key`` with the digests of the files it wrote.

        Raises TypeError for a payload holding an object that is not data or a dataclass of ``types``.
        """
        self.forget(name)
        partial = self.folder / f".{name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            tree = _Writer(partial, self.types)(payload)
            (partial / _PAYLOAD).write_text(json.dumps(tree), encoding="utf-8")
            parts = {p.name: file_digest(p) for p in partial.iterdir()}
            os.replace(partial, self.folder / name)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        meta = {"key": key, "files": {f: file_digest(self.out / f) for f in files}, "payload": parts,
                "seconds": seconds}
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
                earlier = (f"; {path.name} is in a folder a sez run wrote, so the input pattern matches what a "
                           "run writes: narrow the pattern so that it never reaches the output folder, or choose "
                           "another [run] out") if (out / MARKER).exists() else ""
                raise OutputFolderError(f"output folder {out} holds an input of this run ({path}): choose another "
                                        "[run] out, so that the run never writes where its inputs lie" + earlier)
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
