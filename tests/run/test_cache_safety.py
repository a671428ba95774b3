"""Fault injection on the step cache: stored results are data only, and a replaced entry is neither trusted
nor run (sez.store.StepCache)."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from sez import run
from sez.run import pipeline_config, report
from sez.run.runner import CACHED_TYPES
from sez.store import CacheEntryError, StepCache, file_digest


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


def _forge_digests(entry, meta_path):
    """Rewrite the entry's metadata so that every part's digest matches again (what a deliberate forger does)."""
    meta = json.loads(meta_path.read_text())
    meta["payload"] = {p.name: file_digest(p) for p in entry.iterdir()}
    meta_path.write_text(json.dumps(meta))


def test_a_replaced_entry_is_neither_trusted_nor_run(tmp_path):
    out = tmp_path / "out"
    first, cfg = _cached_run(out)
    assert first["steps"]["harmonise"]["status"] == "ok"
    entry, meta_path = out / "cache" / "harmonise", out / "cache" / "harmonise.json"
    assert not list((out / "cache").rglob("*.pkl")), "no pickle is ever written"
    marker = tmp_path / "ran"
    # 1. a part no longer has the digest stored beside it: not trusted, the step runs again
    payload = json.loads((entry / "payload.json").read_text())
    (entry / "payload.json").write_text(json.dumps({**payload, "items": payload["items"][1:]}))
    second = run.run_pipeline(cfg, progress=False)
    assert second["steps"]["harmonise"]["cached"] is False and second["steps"]["harmonise"]["status"] == "ok"
    # 2. digests forged, a pickled object array in place of a stored array and a payload naming a callable:
    #    read as data or refused, never run; the step runs again with a warning
    np.save(entry / "9.npy", np.array([_Planted(marker)], dtype=object), allow_pickle=True)
    payload = json.loads((entry / "payload.json").read_text())
    planted = {"kind": "dict", "items": [["x", {"kind": "array", "file": "9.npy"}],
                                         ["y", {"kind": "dataclass", "type": "os.system", "fields": {}}]]}
    payload["items"] = [[k, planted if k == "state" else v] for k, v in payload["items"]]
    (entry / "payload.json").write_text(json.dumps(payload))
    (out / "cache" / "harmonise.pkl").write_bytes(pickle.dumps(_Planted(marker)))  # an old-style entry: ignored
    _forge_digests(entry, meta_path)
    third = run.run_pipeline(cfg, progress=False)
    assert not marker.exists()
    step = third["steps"]["harmonise"]
    assert step["cached"] is False and step["status"] == "ok"
    assert any("not reused" in w and "pickle" in w.lower() for w in step["warnings"]), step["warnings"]
    # 3. the entry the rerun stored is reused as usual
    assert run.run_pipeline(cfg, progress=False)["steps"]["harmonise"]["cached"] is True


def test_a_type_outside_the_cache_types_is_refused_even_if_it_is_a_dataclass(tmp_path):
    cache = StepCache(tmp_path, CACHED_TYPES)
    cache.store("step", "key", {"table": report.Table("caption", pd.DataFrame({"a": [1]}))}, [], 0.1)
    payload = json.loads((tmp_path / "cache" / "step" / "payload.json").read_text())
    payload["items"][0][1]["type"] = "sez.run.report.Section"  # a dataclass of the package, but not one it stores
    (tmp_path / "cache" / "step" / "payload.json").write_text(json.dumps(payload))
    with pytest.raises(CacheEntryError, match="Section"):
        cache.load("step")
    with pytest.raises(TypeError, match="Section"):
        cache.store("other", "key", {"section": report.Section("title")}, [], 0.1)


def test_a_part_outside_the_entry_folder_is_refused(tmp_path):
    cache = StepCache(tmp_path)
    cache.store("step", "key", {"array": np.arange(3)}, [], 0.1)
    np.save(tmp_path / "elsewhere.npy", np.arange(5))
    (tmp_path / "cache" / "step" / "payload.json").write_text(json.dumps(
        {"kind": "dict", "items": [["array", {"kind": "array", "file": "../../elsewhere.npy"}]]}))
    with pytest.raises(CacheEntryError, match="elsewhere"):
        cache.load("step")


def test_stored_data_reads_back_as_it_was(tmp_path):
    cache = StepCache(tmp_path, CACHED_TYPES)
    frame = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": pd.Categorical(["x", "y"]),
                          "c": pd.to_datetime(["2001-01-01", "2002-01-01"]), "d": ["u", None]})
    frame.attrs = {"rows_in": 3, "share": np.float64(0.5)}
    wide = pd.DataFrame([[1, 2.5]], index=pd.Index(["r"], name="row"),
                        columns=pd.MultiIndex.from_tuples([("x", "a"), ("x", 1998)], names=["top", None]))
    payload = {"frame": frame, "wide": wide, "array": np.arange(3.0), "path": tmp_path, "years": {1998: "csv"},
               "series": pd.Series([1.0, np.nan], index=["a", "b"], name="s"), "pair": (1, "a"),
               "table": report.Table("caption", wide, "note"), "missing": float("nan")}
    cache.store("step", "key", payload, [], 0.1)
    back = cache.load("step")
    pd.testing.assert_frame_equal(back["frame"], frame)
    assert back["frame"].attrs == {"rows_in": 3, "share": 0.5}
    pd.testing.assert_frame_equal(back["wide"], wide)
    pd.testing.assert_series_equal(back["series"], payload["series"])
    np.testing.assert_array_equal(back["array"], payload["array"])
    assert back["path"] == tmp_path and back["years"] == {1998: "csv"} and back["pair"] == (1, "a")
    assert isinstance(back["table"], report.Table) and back["table"].caption == "caption"
    pd.testing.assert_frame_equal(back["table"].frame, wide)
    assert np.isnan(back["missing"])
    assert cache.lookup("step", "key") is not None and cache.lookup("step", "other key") is None
    (tmp_path / "cache" / "step" / "1.parquet").write_bytes(b"altered")
    assert cache.lookup("step", "key") is None  # its digest no longer matches
