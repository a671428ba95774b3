"""One sales threshold for every year: the ASIE's rose from 5 to 20 million yuan in 2011."""

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from sez.data import InputError, harmonise, read_asie

#: Nominal sales (1000 yuan) of five firms in each year; firm 5 has no sales in 2011.
SALES = {2010: [3_000.0, 8_000.0, 19_999.0, 20_000.0, 60_000.0, 30_000.0],
         2011: [21_000.0, 25_000.0, 19_999.5, 20_000.0, 60_000.0, np.nan],
         2012: [30_000.0, 12_000.0, 5_000.0, 20_000.0, 60_000.0, 30_000.0]}
#: Firm-years below 20 million yuan, read off SALES.
BELOW_20_MILLION = {(2010, "C0"), (2010, "C1"), (2010, "C2"), (2011, "C2"), (2012, "C1"), (2012, "C2")}
REASON = "sales below the common threshold of 20 million yuan"


def raw_year(sales):
    """A yearly extract with Chinese headers: firms C0, C1, ... with the given main business revenue."""
    n = len(sales)
    return pd.DataFrame({"法人代码": [f"C{i}" for i in range(n)], "企业名称": [f"企业{i}" for i in range(n)],
                         "行政区划代码": ["110101"] * n, "行业代码": ["1711"] * n, "从业人数": [50.0] * n,
                         "工业总产值": [30_000.0] * n, "固定资产净值": [5_000.0] * n, "主营业务收入": sales})


def raw_panel(years=(2010, 2011, 2012)):
    return read_asie({y: raw_year(SALES[2010 + i]) for i, y in enumerate(years)})


def quietly(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no output deflators: said in the notes
        return func(*args, **kwargs)


def firm_years(panel):
    by_row = panel.data.set_index(["year", "source_row"])
    raw = raw_panel().set_index(["year", "source_row"])
    return set(zip(by_row.index.get_level_values("year"), raw.loc[by_row.index, "legal_person_code"]))


def test_a_common_threshold_drops_exactly_the_firm_years_below_it_in_every_year_on_nominal_sales():
    everything = {(y, f"C{i}") for y in SALES for i in range(6)}
    # output prices double by 2012: the threshold is on nominal sales, as the survey's, so deflating changes nothing
    deflators = pd.DataFrame({"cic2": "17", "year": [2010, 2011, 2012], "deflator": [100.0, 150.0, 200.0]})
    panel = harmonise(raw_panel(), min_years=1, sales_threshold=20_000, deflators=deflators)
    assert firm_years(panel) == everything - BELOW_20_MILLION
    by_reason = panel.audit.set_index("reason")["rows"]
    assert by_reason[REASON] == len(BELOW_20_MILLION) == panel.audit["rows"].sum()
    assert panel.audit.set_index("reason").loc[REASON, "step"] == "cleaning"
    assert "1 records without sales kept: the common sales threshold cannot be checked for them" in panel.notes
    assert REASON in panel.summary()
    default = quietly(harmonise, raw_panel(), min_years=1)  # the survey's own thresholds: no row dropped for sales
    assert firm_years(default) == everything and not default.audit["reason"].str.contains("sales").any()


def _threshold_notes(panel):
    return [n for n in panel.notes if "threshold" in n and "without sales" not in n]


@pytest.mark.parametrize("years, sales_threshold, says", [
    ((2010, 2011, 2012), None, "the records span 2011 (2010-2012), when the survey's size threshold rose "
                               "from 5 to 20 million yuan"),
    ((2010, 2011, 2012), 5_000, "sales_threshold=5000 is below the survey's threshold from 2011"),
    ((2010, 2011, 2012), 20_000, None),
    ((2008, 2009, 2010), None, None),
    ((2011, 2012, 2013), None, None),
])
def test_a_note_says_when_the_years_span_2011_without_one_threshold(years, sales_threshold, says):
    notes = _threshold_notes(quietly(harmonise, raw_panel(years), min_years=1, sales_threshold=sales_threshold))
    if says is None:
        assert notes == []
    else:
        assert len(notes) == 1 and notes[0].startswith(says)
        assert "sales_threshold" in notes[0] and "20_000" in notes[0]


@pytest.mark.parametrize("bad", [-5_000, 0, "20000", True, math.nan, math.inf])
def test_a_bad_threshold_is_an_error_naming_the_option(bad):
    with pytest.raises(InputError, match=rf"harmonise: sales_threshold must be a positive number .* got "
                                         rf"{re.escape(repr(bad))}"):
        quietly(harmonise, raw_panel(), min_years=1, sales_threshold=bad)


def test_a_threshold_without_a_sales_column_is_an_error_naming_the_column():
    raw = raw_panel().drop(columns="sales")
    with pytest.raises(InputError, match=r"sales_threshold=20000 needs the column 'sales' .* lack"):
        quietly(harmonise, raw, min_years=1, sales_threshold=20_000)
