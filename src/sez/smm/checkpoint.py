"""The calibration checkpoint: each model evaluation of an estimation, recorded as it finishes, so that a killed
estimation resumes without computing any of them again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np
import pandas as pd

from sez.smm.noise import noise_table
from sez.store import Checkpoint

#: What names a calibration, for the refusal of a checkpoint written for another one.
SETTINGS = ("other targets, start parameters, free parameters, bounds, weights, simulation, grid, seed or search "
            "settings")


def fingerprint(settings: dict) -> str:
    """The digest of everything an estimation's evaluations and search path depend on."""
    def plain(x):
        if dataclasses.is_dataclass(x):
            return dataclasses.asdict(x)
        if isinstance(x, (pd.Series, pd.DataFrame)):
            return x.to_dict()
        if isinstance(x, (np.ndarray, np.generic)):
            return x.tolist()
        return str(x)

    blob = json.dumps(settings, sort_keys=True, default=plain)
    return hashlib.sha256(blob.encode()).hexdigest()


class EvaluationCheckpoint:
    """The model evaluations of one estimation in a JSON-lines :class:`sez.store.Checkpoint`.

    A record is an evaluation (the free parameters' values, and the moments or the
    model's error there) or a noise measurement (``simulation_noise`` at a point), in
    the order they finished. The search is deterministic, so a rerun with the same
    settings takes the same path, and every point recorded is read back instead of
    computed: JSON keeps each float's shortest repr, which reads back to the same bits,
    so the resumed estimate is the uninterrupted one. ``read_back`` counts the model
    evaluations taken from the file in this run.
    """

    def __init__(self, path: str | os.PathLike, fingerprint: str, moments: list[str]):
        self.store = Checkpoint(path, fingerprint, None, kind="calibration", settings=SETTINGS)
        self.path = self.store.path
        self.moments = list(moments)
        self.evaluations: dict[tuple, pd.Series | None] = {}
        self.noise: dict[tuple, pd.DataFrame] = {}
        self.read_back = 0
        first: dict[tuple, int] = {}
        for index, rec in sorted(self.store.done.items()):
            try:
                point, moments, noise = self._parse(rec)
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{self.path}: record {index} is not a calibration evaluation ({err!r}); the "
                                 "file was edited or written by another program: delete it, or use another "
                                 "[output] checkpoint") from None
            if noise is not None:
                self.noise[point] = noise
            elif point in self.evaluations and not _same(self.evaluations[point], moments):
                raise ValueError(f"{self.path}: records {first[point]} and {index} hold different moments for the "
                                 f"point {list(point)}; keep the right one and delete the other, or delete the file")
            else:
                self.evaluations[point], first[point] = moments, index
        self._next = max(self.store.done, default=-1) + 1

    def _parse(self, rec: dict) -> tuple[tuple, pd.Series | None, pd.DataFrame | None]:
        """A record's key and its evaluation (moments, None for the model's error) or noise measurement."""
        result = rec["result"]
        if "noise_at" in result:
            noise = noise_table(pd.Series(result["monte_carlo"], dtype=float),
                                pd.Series(result["roughness"], dtype=float), result["evaluations"])
            return (tuple(map(float, result["noise_at"])), int(result["draws"])), None, noise
        moments = None if rec["error"] is not None else pd.Series(
            [result["moments"][name] for name in self.moments], index=self.moments, dtype=float)
        return tuple(map(float, result["point"])), moments, None

    def _append(self, result: dict, error: BaseException | None = None) -> None:
        self.store.append(self._next, result, error)
        self._next += 1

    def add(self, point: tuple, moments: pd.Series | None, error: BaseException | None = None) -> None:
        """Record the evaluation at ``point``: its moments, or the model's ``error`` there."""
        self.evaluations[point] = moments
        self._append({"point": list(point)} if moments is None else
                     {"point": list(point), "moments": moments[self.moments].to_dict()}, error)

    def add_noise(self, point: tuple, draws: int, noise: pd.DataFrame) -> None:
        """Record the simulation noise measured at ``point`` with ``draws`` panels."""
        self.noise[(point, draws)] = noise
        self._append({"noise_at": list(point), "draws": draws, "monte_carlo": noise["monte_carlo"].to_dict(),
                      "roughness": noise["roughness"].to_dict(), "evaluations": noise.attrs["evaluations"]})


def _same(a: pd.Series | None, b: pd.Series | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True))
