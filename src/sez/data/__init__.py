"""ASIE firm data: reading yearly extracts, harmonising them into one firm-year
panel (``sez.panel`` schema), and a synthetic generator of realistic raw files.
"""

from sez.data.columns import canonical_columns, known_names, name_map
from sez.data.harmonise import Panel, harmonise
from sez.data.read import InputError, read_asie
from sez.data.synthetic import SyntheticASIE, synthetic

__all__ = ["InputError", "Panel", "SyntheticASIE", "synthetic", "canonical_columns", "harmonise", "known_names",
           "name_map", "read_asie"]
