"""sez.limits holds every threshold once; the guarantees page lists each with its value."""

import re
from pathlib import Path

from sez import limits


def test_every_threshold_of_sez_limits_is_listed_with_its_value_in_the_guarantees_page():
    page = (Path(__file__).resolve().parents[1] / "docs" / "guarantees.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", page, flags=re.M))
    constants = {name: value for name, value in vars(limits).items() if name.isupper()}
    assert set(rows) == set(constants)
    for name, value in constants.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert float(rows[name].replace(",", "")) == value, name
        elif isinstance(value, tuple):
            assert rows[name].strip() == str(value), name
