"""Bad raw input (issue 16): each fault is an error naming the file and what is wrong, or a record dropped
with its reason counted; nothing is kept or lost silently.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from sez.data import InputError, harmonise, read_asie, synthetic
from sez.data import clean as cl
from sez.data.read import find_files
from sez.limits import PLAUSIBLE_RANGE, SUPPORTED_YEARS


def raw_year(n=3, **cols):
    """A tiny yearly extract with Chinese headers."""
    base = {"法人代码": [f"C{i}" for i in range(n)], "企业名称": [f"企业{i}" for i in range(n)],
            "行政区划代码": ["110101"] * n, "行业代码": ["1311"] * n, "从业人数": [10 + i for i in range(n)],
            "工业总产值": [100.0 * (i + 1) for i in range(n)]}
    base.update(cols)
    return pd.DataFrame(base)


def quietly(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no output deflators: said in the notes
        return func(*args, **kwargs)


@pytest.fixture(scope="module")
def small_raw():
    """Synthetic records of 1998-2000 with the generator's year column dropped (tests set the years)."""
    syn = synthetic(n_firms=300, years=(1998, 2000), seed=1)
    return {y: f.drop(columns=[f.columns[0]]) for y, f in syn.raw.items()}


# --- 1. plausibility ranges ---------------------------------------------------------------------------

@pytest.mark.parametrize("column, bad", [
    ("gross_output", np.inf), ("fixed_assets_net", 1e300), ("exports", -np.inf), ("employees", 1e9),
    ("total_profit", -1e300), ("sales", 2e10), ("wages_payable", -5.0), ("exports", -1.0),
])
def test_implausible_values_drop_their_records_counted_by_variable(column, bad):
    n = 10
    df = pd.DataFrame({"firm_id": np.repeat(np.arange(n // 2), 2), "year": np.tile([1998, 1999], n // 2),
                       "employees": 50.0, "gross_output": 1e4, "fixed_assets_net": 5e3, "exports": 1e3,
                       "total_profit": -2e3, "sales": 1e4, "wages_payable": 800.0}, index=np.arange(n))
    # firm 4 is Sinopec-sized (sales about 2.8 trillion yuan, a million employees, a loss): a real firm, kept
    df.loc[[8, 9], ["employees", "gross_output", "sales", "fixed_assets_net", "total_profit"]] = [1e6, 2.9e9, 2.8e9,
                                                                                                  1e9, -5e7]
    planted = [0, 3, 6]
    df.loc[planted, column] = bad
    audit = cl.Audit(len(df))
    out = cl.clean(df, audit)
    by_reason = audit.table(len(out)).set_index("reason")["rows"]
    low, high = PLAUSIBLE_RANGE[column]
    assert by_reason[f"{column} not finite or outside [{low:g}, {high:g}]"] == len(planted)
    assert not set(planted) & set(out.index) and {8, 9} <= set(out.index)
    # their firms now have one year each: dropped by the panel rule, also counted
    assert by_reason["firm observed in fewer than 2 years"] == len(planted)


def test_implausible_values_in_a_file_are_dropped_in_harmonise(tmp_path, small_raw):
    clean_panel = quietly(harmonise, read_asie(small_raw))
    kept = clean_panel.data.loc[clean_panel.data["year"] == 1999, "source_row"].to_numpy()[:3]
    bad = small_raw[1999].astype(object)
    output_col = "工业总产值" if "工业总产值" in bad.columns else next(c for c in bad.columns if "总产值" in c)
    bad.loc[kept, output_col] = ["inf", "1e300", "-inf"]
    for year, frame in small_raw.items():
        (bad if year == 1999 else frame).to_csv(tmp_path / f"asie_{year}.csv", index=False)
    panel = quietly(harmonise, read_asie(sorted(tmp_path.glob("*.csv"))))
    by_reason = panel.audit.set_index("reason")["rows"]
    low, high = PLAUSIBLE_RANGE["gross_output"]
    assert by_reason[f"gross_output not finite or outside [{low:g}, {high:g}]"] == 3
    assert np.isfinite(panel.data["output"]).all() and panel.data["output"].max() < high
    assert panel.audit.attrs["rows_in"] == panel.audit.attrs["rows_out"] + panel.audit["rows"].sum()


def test_impossible_founding_years_are_unknown_and_counted(small_raw):
    raw = read_asie(small_raw)
    clean_panel = quietly(harmonise, raw)
    kept = clean_panel.data.loc[clean_panel.data["year"] == 1999, "source_row"].to_numpy()[:4]
    rows = raw.index[(raw["year"] == 1999) & raw["source_row"].isin(kept)]
    raw.loc[rows, "founding_year"] = [np.inf, 1e300, 1990.5, 1066.0]
    panel = quietly(harmonise, raw)  # these failed in linking: not a whole number that fits an integer
    assert any(n.startswith("4 founding years are not a whole year between 1600") for n in panel.notes)
    planted = panel.data[(panel.data["year"] == 1999) & panel.data["source_row"].isin(kept)]
    assert len(planted) == 4 and planted["birth_year"].isna().all()


# --- 2. a repeated header column ----------------------------------------------------------------------

def _write(frame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_arrays([pa.array(frame.iloc[:, i].astype(str)) for i in range(frame.shape[1])],
                                            names=list(frame.columns)), path)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
@pytest.mark.parametrize("second, says", [
    ([10, 11, 12], r"the copies hold identical values: delete all but one"),
    ([10, 99, 12], r"the copies differ in 1 row\(s\), e\.g\. rows \[1\]"),
])
def test_a_repeated_header_column_is_an_error_naming_file_and_column(tmp_path, suffix, second, says):
    frame = raw_year()
    frame.insert(len(frame.columns), "从业人数", second, allow_duplicates=True)
    for notes in (["a", "b", "c"], ["x", "y", "z"]):  # a repeated column that is not read: no error
        frame.insert(len(frame.columns), "备注", notes, allow_duplicates=True)
    path = tmp_path / f"asie_1998{suffix}"
    _write(frame, path)
    with pytest.raises(InputError, match=rf"asie_1998\{suffix}: column '从业人数' appears 2 times in the header "
                                         rf"\(columns \[5, 7\], meaning 'employees'\); {says}"):
        read_asie([path])


def test_a_repeated_column_of_a_frame_and_two_names_of_one_column_are_errors():
    frame = raw_year()
    frame.insert(0, "从业人数", [10, 11, 12], allow_duplicates=True)
    with pytest.raises(InputError, match=r"frame\[0\]: column '从业人数' appears 2 times .* identical values"):
        read_asie([frame], years=[1998])
    with pytest.raises(InputError, match=r"frame\[0\]: columns '从业人数' and 'employment' both mean 'employees': "
                                         r"keep one of them, or map the other"):
        read_asie([raw_year().assign(employment=1)], years=[1998])


# --- 3. years: cross-sections and years outside the reference tables ----------------------------------

def test_one_year_needs_min_years_one_and_then_harmonises_with_a_note(small_raw):
    raw = read_asie({1998: small_raw[1998]})
    with pytest.raises(InputError, match=r"min_years=2 .* cover 1 year\(s\) \(1998\): every firm would be dropped"):
        quietly(harmonise, raw)
    panel = quietly(harmonise, raw, min_years=1)
    assert len(panel.data) > 0 and panel.links.empty and list(panel.links.columns) == ["year", "to_year", "rule",
                                                                                          "links"]
    assert "links by rule: none" in panel.summary()
    assert any("cross-section" in n for n in panel.notes) and any('units="auto"' in n for n in panel.notes)
    d = panel.data
    assert not d["exit"].any() and not d["mover"].any() and d["investment"].isna().all()


def test_years_too_far_apart_to_link(small_raw):
    raw = read_asie({1998: small_raw[1998], 2001: small_raw[2000]})
    with pytest.raises(InputError, match=r"no two years of the records \(1998, 2001\) are within 2 years .* "
                                         r"min_years=1 for a cross-section"):
        quietly(harmonise, raw)
    panel = quietly(harmonise, raw, min_years=1)
    # a 1998 firm is not seen to exit: the survey does not come back within a link's reach
    assert set(panel.data["year"]) == {1998, 2001} and not panel.data["exit"].any()


def test_a_year_outside_the_reference_tables_names_file_year_and_rows(tmp_path):
    first, last = SUPPORTED_YEARS
    frame = raw_year(n=4, 年份=[1998, 2050, 1998, 2050])
    frame.to_csv(tmp_path / "asie.csv", index=False)
    with pytest.raises(InputError, match=rf"asie\.csv: year\(s\) \[2050\] in 2 row\(s\), e\.g\. rows \[1, 3\], lie "
                                         rf"outside {first}-{last}"):
        read_asie([tmp_path / "asie.csv"])
    raw_year().to_csv(tmp_path / "asie_2050.csv", index=False)  # the year from the file name
    with pytest.raises(InputError, match=r"asie_2050\.csv: year\(s\) \[2050\] in 3 row\(s\)"):
        read_asie([tmp_path / "asie_2050.csv"])
    raw = read_asie([raw_year()], years=[1998]).assign(year=[1998, 1990, 1998])
    with pytest.raises(InputError, match=r"harmonise: year\(s\) \[1990\] in 1 row\(s\) of frame\[0\], "
                                         r"e\.g\. rows \[1\]"):
        quietly(harmonise, raw)


# --- 4. files of one name in two folders --------------------------------------------------------------

def test_files_of_one_name_are_told_apart_by_their_folder(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    raw_year().to_csv(tmp_path / "a" / "asie_1998.csv", index=False)
    raw_year(工业总产值=["1", "2", "3"]).to_csv(tmp_path / "b" / "asie_1998.csv", index=False)
    raw = read_asie([tmp_path / "a" / "asie_1998.csv", tmp_path / "b" / "asie_1998.csv"])
    assert sorted(raw["source"].unique()) == ["a/asie_1998.csv", "b/asie_1998.csv"]
    raw_year(工业总产值=["1", "x", "3"]).to_csv(tmp_path / "b" / "asie_1998.csv", index=False)
    with pytest.raises(InputError, match=r"^b/asie_1998\.csv: column 'gross_output' has 1 non-numeric"):
        read_asie([tmp_path / "a" / "asie_1998.csv", tmp_path / "b" / "asie_1998.csv"])
    with pytest.raises(InputError, match=r"the same file as .*a/asie_1998\.csv is given twice"):
        read_asie({1998: tmp_path / "a" / "asie_1998.csv", 1999: tmp_path / "a" / ".." / "a" / "asie_1998.csv"})


# --- 5. glob metacharacters in a folder name ----------------------------------------------------------

def test_a_folder_name_with_brackets_is_not_a_pattern(tmp_path):
    folder = tmp_path / "run[1]"
    folder.mkdir()
    for year in (1998, 1999):
        (folder / f"asie_{year}.csv").write_text("x\n")
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "asie_2000.csv").write_text("x\n")  # what [1] as a pattern would match
    expected = [folder / "asie_1998.csv", folder / "asie_1999.csv"]
    assert find_files("*.csv", base=folder) == expected
    assert find_files("run[1]/asie_*.csv", base=tmp_path) == expected
    assert find_files(str(folder / "asie_199?.csv")) == expected
    assert find_files("run[1]/asie_1998.csv", base=tmp_path) == expected[:1]
    assert find_files("run*/asie_2000.csv", base=tmp_path) == [tmp_path / "run1" / "asie_2000.csv"]


# --- 6. empty files and files that are not what their name says ---------------------------------------

@pytest.mark.parametrize("suffix", [".xlsx", ".xls", ".csv", ".parquet", ".dta"])
def test_an_empty_file_is_named_as_empty(tmp_path, suffix):
    path = tmp_path / f"asie_1998{suffix}"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=rf"asie_1998\{suffix}: the file is empty \(0 bytes\), not a {suffix[1:]} "
                                         rf"file: export this year again"):
        read_asie([path])


def test_text_under_an_excel_name_is_named_as_not_a_workbook(tmp_path):
    path = tmp_path / "asie_1998.xlsx"
    raw_year().to_csv(path, index=False)
    with pytest.raises(InputError, match=r"asie_1998\.xlsx: not an Excel workbook .* name it \.csv"):
        read_asie([path])
