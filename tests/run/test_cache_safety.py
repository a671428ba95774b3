"""Fault injection on the step cache: a replaced payload is neither trusted nor run (sez.store)."""

import hashlib
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from sez import run
from sez.run import pipeline_config
from sez.store import StepCache, UnsafeCacheEntry


class _Planted:
    """Unpickling this calls open (io.open): the shape of any payload that runs code when loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _cached_run(out):
    base = run.demo_config("tiny", out_dir=out, steps=["harmonise"])
    cfg = pipeline_config({**base.settings, "run": {**base["run"], "cache": True}}, base=base.base)
    return run.run_pipeline(cfg, progress=False), cfg


def test_a_replaced_payload_is_neither_trusted_nor_run(tmp_path):
    out = tmp_path / "out"
    first, cfg = _cached_run(out)
    assert first["steps"]["harmonise"]["status"] == "ok"
    marker = tmp_path / "ran"
    payload, meta_path = out / "cache" / "harmonise.pkl", out / "cache" / "harmonise.json"
    payload.write_bytes(pickle.dumps({"state": _Planted(marker)}))
    # 1. the payload no longer has the digest stored beside it: not trusted, the step runs again
    second = run.run_pipeline(cfg, progress=False)
    assert not marker.exists() and second["steps"]["harmonise"]["cached"] is False
    assert second["steps"]["harmonise"]["status"] == "ok"
    # 2. the digest forged too: the payload is read, but its globals are refused, and the step runs again
    payload.write_bytes(pickle.dumps({"state": _Planted(marker)}))
    meta = json.loads(meta_path.read_text())
    meta["payload"] = hashlib.sha256(payload.read_bytes()).hexdigest()
    meta_path.write_text(json.dumps(meta))
    third = run.run_pipeline(cfg, progress=False)
    assert not marker.exists()
    step = third["steps"]["harmonise"]
    assert step["cached"] is False and step["status"] == "ok"
    assert any("not reused" in w and "io.open" in w for w in step["warnings"]), step["warnings"]
    # 3. the entry the rerun stored is reused as usual
    assert run.run_pipeline(cfg, progress=False)["steps"]["harmonise"]["cached"] is True


def test_the_safe_reader_refuses_code_and_reads_data(tmp_path):
    cache = StepCache(tmp_path)
    frame = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": pd.Categorical(["x", "y"]),
                          "c": pd.to_datetime(["2001-01-01", "2002-01-01"]), "d": ["u", None]})
    cache.store("step", "key", {"frame": frame, "array": np.arange(3.0), "path": tmp_path}, [], 0.1)
    back = cache.load("step")
    pd.testing.assert_frame_equal(back["frame"], frame)
    assert cache.lookup("step", "key") is not None and cache.lookup("step", "other key") is None
    (tmp_path / "cache" / "step.pkl").write_bytes(pickle.dumps(_Planted(tmp_path / "ran")))
    assert cache.lookup("step", "key") is None  # its digest no longer matches
    with pytest.raises(UnsafeCacheEntry, match=r"io\.open"):
        cache.load("step")
    assert not (tmp_path / "ran").exists()
