"""Names of 2013 administrative codes for the report's tables (sez.data.codes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sez.data.codes import area_names, city_name, province_name


def test_known_province_and_prefecture_codes_have_their_names():
    assert [province_name(c) for c in (44, "11", "65", 15.0)] == ["Guangdong", "Beijing", "Xinjiang", "Inner Mongolia"]
    # prefecture names as the shipped code history gives them (Chinese)
    assert [city_name(c) for c in (4403, "4419", "3205")] == ["深圳市", "东莞市", "苏州市"]
    # a municipality's districts and a province's directly administered cities have no prefecture record
    assert city_name("1101") == "Beijing" and city_name(4690) == "Hainan, directly administered"


def test_unknown_codes_are_kept_and_flagged():
    assert province_name(99) is None and city_name("4499") is None and province_name("Guangdong") is None
    labels = area_names(pd.Series([44, "99", None, np.nan, "4403"], index=list("abcde")), "province")
    assert labels.index.tolist() == list("abcde")
    assert labels.tolist()[:2] == ["Guangdong (44)", "99 (unknown code)"]
    assert labels.iloc[2:4].isna().all()  # missing stays missing
    assert labels["e"] == "4403 (unknown code)"  # a prefecture code is no province code


def test_labels_at_each_level():
    assert area_names(["4403", 1101], "city").tolist() == ["深圳市 (4403)", "Beijing (1101)"]
    # a county-level district, and a prefecture without counties whose firms report its code
    assert area_names(["440305", 441900], "county").tolist() == ["南山区 (440305)", "东莞市 (441900)"]


def test_an_unknown_level_is_named_with_the_levels_to_use():
    with pytest.raises(ValueError, match=r"level='town'.*\['city', 'county', 'province'\]"):
        area_names(["44"], "town")
