"""The reference tables shipped in ``sez/data/reference`` (each with its licence)."""

from __future__ import annotations

from importlib import resources

import pandas as pd


def reference_csv(relative: str, **read_csv) -> pd.DataFrame:
    """A shipped CSV as text columns (codes keep their leading zeros) unless told otherwise."""
    options = {"dtype": str, "keep_default_na": False, "na_values": [""], **read_csv}
    with resources.files("sez.data").joinpath(f"reference/{relative}").open("r", encoding="utf-8-sig") as f:
        return pd.read_csv(f, **options)
