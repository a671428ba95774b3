"""ASIE firm data: reading yearly extracts, harmonising them into one firm-year
panel (``sez.panel`` schema), and a synthetic generator of realistic raw files."""

from sez.data.columns import canonical_columns, known_names, name_map

__all__ = ["canonical_columns", "known_names", "name_map"]
