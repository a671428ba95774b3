"""Harmonisation against the synthetic truth at its default level of mess."""

import warnings

import pandas as pd
import pytest

from sez import panel as schema
from sez.data import harmonise, read_asie, synthetic


@pytest.fixture(scope="module")
def harmonised():
    syn = synthetic(n_firms=6000, seed=3)
    raw = read_asie(syn.raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no output deflators: nominal values, said in the audit
        p = harmonise(raw)
    truth = syn.truth.set_index(["year", "raw_row"])
    key = pd.MultiIndex.from_arrays([p.data["year"], p.data["source_row"]])
    d = p.data.assign(true_firm=truth["firm_id"].reindex(key).to_numpy(),
                      true_sez=truth["sez"].reindex(key).to_numpy(),
                      true_county=truth["county"].reindex(key).to_numpy())
    return syn, raw, p, d


def consecutive_pairs(d, by):
    d = d.sort_values([by, "year"])
    same = (d[by].shift(-1) == d[by]).to_numpy()[:-1]
    return d, same


def test_firm_linking_precision_and_recall(harmonised):
    _, _, _, d = harmonised
    d = d[d["true_firm"].notna()]
    ours, same = consecutive_pairs(d, "firm_id")
    t = ours["true_firm"].to_numpy()
    precision = (t[:-1] == t[1:])[same].mean()
    truth, same_true = consecutive_pairs(d, "true_firm")
    f = truth["firm_id"].to_numpy()
    recall = (f[:-1] == f[1:])[same_true].mean()
    assert precision >= 0.99 and recall >= 0.97, (precision, recall)


def test_sez_status_and_districts(harmonised):
    _, _, _, d = harmonised
    d = d[d["true_firm"].notna()]
    assert (d["sez"] == d["true_sez"].astype(bool)).mean() >= 0.95
    # a county that gave part of its land to a new one keeps its code: firms there are
    # ambiguous without an address that names the new county, so not all rows can be right
    assert (d["county"].astype(str) == d["true_county"].astype(str)).mean() >= 0.98


def test_audit_adds_up_and_panel_validates(harmonised):
    _, raw, p, _ = harmonised
    a = p.audit
    assert a.attrs["rows_in"] == len(raw) == a.attrs["rows_out"] + a["rows"].sum()
    assert a.set_index("reason").loc["exact duplicate row", "rows"] > 0
    schema.validate(p.data)
    assert any("2006" in n and "0.001" in n for n in p.notes)  # the year reported in yuan is found
    assert p.links.groupby("rule")["links"].sum()[["code", "name"]].gt(0).all()


def test_files_in_every_format_read_like_the_frames(tmp_path):
    syn = synthetic(n_firms=800, seed=5, out_dir=tmp_path)
    formats = set(syn.formats.values())
    assert {"parquet", "dta", "xlsx"} <= formats and any(f.startswith("csv") for f in formats)
    from_files = read_asie([syn.files[y] for y in sorted(syn.files)])
    from_frames = read_asie(syn.raw)
    cols = ["year", "legal_person_code", "firm_name", "district_code", "industry_code", "employees", "gross_output"]
    a = from_files[cols].reset_index(drop=True)
    b = from_frames[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
