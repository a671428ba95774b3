"""The firm-year panel as a Stata file with the schema's labels, and its codebook (``sez.panel``)."""

import numpy as np
import pandas as pd
import pytest

from sez import panel as schema
from sez.errors import SchemaError


@pytest.fixture
def firm_years():
    """Four firm-years with every kind of column the panel has, missing values included, and one column
    outside the schema."""
    return pd.DataFrame({
        "firm_id": np.array([1, 1, 2, 3], dtype=np.int64),
        "year": np.array([2001, 2002, 2001, 2003], dtype=np.int64),
        "province": pd.array(["11", "11", None, "44"], dtype="string"),
        "ownership": pd.Categorical(["private", "private", None, "foreign"],
                                    categories=["state", "private", "foreign"]),
        "exporter": [True, False, True, True],
        "birth_year": pd.array([1990, 1990, None, 2000], dtype="Int64"),
        "employees": [12.0, np.nan, 30.0, 1000.5],
        "source_row": np.array([0, 5, 2, 7], dtype=np.int64),
        "my_variable": [0.5, 1.5, 2.5, np.nan],
    })


def test_dta_round_trips_values_and_schema_labels(firm_years, tmp_path):
    path = schema.to_stata(firm_years, tmp_path / "panel.dta")
    assert path == tmp_path / "panel.dta" and list(tmp_path.iterdir()) == [path]  # no partial file left
    back = pd.read_stata(path)
    assert list(back.columns) == list(firm_years.columns) and len(back) == 4
    for name in ("firm_id", "year", "source_row"):
        assert back[name].tolist() == firm_years[name].tolist(), name
    # stated conversions: bool to 0/1, missing text to "", a nullable integer with a missing value to float
    assert back["exporter"].tolist() == [1, 0, 1, 1]
    assert back["province"].tolist() == ["11", "11", "", "44"]
    assert back["birth_year"].tolist()[::3] == [1990, 2000] and np.isnan(back["birth_year"].iloc[2])
    # categories keep their labels (Stata value labels) and their missing value
    assert back["ownership"].astype(object).where(back["ownership"].notna(), None).tolist() == \
        ["private", "private", None, "foreign"]
    for name in ("employees", "my_variable"):
        np.testing.assert_array_equal(back[name].to_numpy(), firm_years[name].to_numpy())
    with pd.io.stata.StataReader(path) as reader:
        labels = reader.variable_labels()
    assert labels == {name: schema.stata_label(schema.DESCRIBED[name]) for name in firm_years.columns
                      if name != "my_variable"} | {"my_variable": ""}
    assert labels["employees"] == "employment (persons (model: labour units))"  # meaning (unit)
    assert labels["source_row"] == "row of the record in its extract (0-based)"  # no unit: the meaning


def test_every_schema_label_fits_stata_and_a_long_one_keeps_its_unit():
    assert all(0 < len(schema.stata_label(c)) <= 80 for c in schema.DESCRIBED.values())
    long = schema.Column("x", "float", "1000 yuan", "a meaning of many words " * 6)
    label = schema.stata_label(long)
    assert len(label) <= 80 and label.startswith("a meaning of many words a meaning")
    assert label.endswith("... (1000 yuan)") and "  " not in label


def test_to_stata_refuses_a_column_name_stata_cannot_hold(firm_years, tmp_path):
    with pytest.raises(SchemaError, match=r"'L\.exporter'.*rename"):
        schema.to_stata(firm_years.assign(**{"L.exporter": 1.0}), tmp_path / "panel.dta")
    assert not list(tmp_path.iterdir())


def test_codebook_counts_the_data(firm_years):
    book = schema.codebook(firm_years).set_index("variable")
    assert list(book.index) == list(firm_years.columns)
    assert book.loc["employees", ["non_missing", "share_missing", "min", "max"]].tolist() == [3, 0.25, 12.0, 1000.5]
    assert book.loc["birth_year", ["non_missing", "share_missing", "min", "max"]].tolist() == [3, 0.25, 1990, 2000]
    assert book.loc["exporter", ["non_missing", "min", "max"]].tolist() == [4, 0, 1]  # bool as 0/1
    assert book.loc["firm_id", ["min", "max"]].tolist() == [1, 3]
    # text and categories: distinct values present (a category never used is not counted)
    assert book.loc["province", "distinct_values"] == 2 and book.loc["ownership", "distinct_values"] == 2
    assert book.loc["ownership", "non_missing"] == 3 and np.isnan(book.loc["ownership", "min"])
    assert pd.isna(book.loc["employees", "distinct_values"])
    assert book.loc["employees", ["unit", "meaning", "dtype"]].tolist() == ["persons (model: labour units)",
                                                                            "employment", "float64"]
    assert book.loc["my_variable", ["label", "unit", "meaning"]].tolist() == ["", "", ""]
    assert book["label"].to_dict() == schema.stata_labels(firm_years)
