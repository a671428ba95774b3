"""The model's numbers against the stored reference, bit for bit.

tests/results/model_reference.npz holds values, policies, the stationary
distribution and a small simulated panel (tests/reference_model.py). Code changes
that are not meant to change the numbers (refactors, speed-ups) must leave every
array identical; an intended change regenerates the file with
tests/results/make_model_reference.py and says why in its commit.
"""

from pathlib import Path

import numpy as np
import pytest
from reference_model import compute, platform_key

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "model_reference.npz"


@pytest.fixture(scope="module")
def stored():
    with np.load(REFERENCE) as f:
        data = {name: f[name] for name in f.files}
    made_on = str(data.pop("platform"))
    if made_on != platform_key():
        pytest.skip(f"the reference was made on {made_on}; libm and numpy may round differently on {platform_key()}")
    return data


@pytest.fixture(scope="module")
def fresh():
    return compute()


def test_reference_holds_the_same_arrays(stored, fresh):
    assert sorted(fresh) == sorted(stored)


def test_results_are_bit_identical_to_the_reference(stored, fresh):
    differ = []
    for name in sorted(stored):
        a, b = fresh[name], stored[name]
        if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            both = a.shape == b.shape and a.dtype.kind == "f" and np.isfinite(a).sum() > 0
            with np.errstate(invalid="ignore"):
                rel = np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)) if both else float("nan")
            differ.append(f"{name} (largest relative difference {rel:.3g})")
    assert not differ, "changed from the stored reference: " + ", ".join(differ)
