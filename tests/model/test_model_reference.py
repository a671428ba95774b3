"""The model's numbers against the stored reference, bit for bit.

tests/results/model_reference.npz holds values, policies, the stationary
distribution and a small simulated panel (tests/reference_model.py). Code changes
that are not meant to change the numbers (refactors, speed-ups) must leave every
array identical; an intended change regenerates the file with
tests/results/make_model_reference.py and says why in its commit.

Bit identity is promised under the numpy version that made the file: the
entrants' measure goes through numpy's exp, ndtri and eigen-solvers, whose last
bit may change between numpy releases (under numpy 2.4.6 the stationary measure differs
from the stored one by up to 6e-15 relative). Under another version every array must match to
``OTHER_NUMPY_RTOL``, far below any change a code edit makes.
"""

from pathlib import Path

import numpy as np
import pytest
from reference_model import compute, platform_key

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "model_reference.npz"
#: Relative tolerance when the reference was made under another numpy version (see the module's docstring).
OTHER_NUMPY_RTOL = 1e-12


@pytest.fixture(scope="module")
def stored():
    with np.load(REFERENCE) as f:
        data = {name: f[name] for name in f.files}
    made_on = str(data.pop("platform"))
    data.pop("numpy", None)
    if made_on != platform_key():
        pytest.skip(f"the reference was made on {made_on}; libm and numpy may round differently on {platform_key()}")
    return data


@pytest.fixture(scope="module")
def same_numpy():
    """Whether the reference was made under this numpy version (files without the record: no)."""
    with np.load(REFERENCE) as f:
        return "numpy" in f.files and str(f["numpy"]) == np.__version__


@pytest.fixture(scope="module")
def fresh():
    return compute()


def test_reference_holds_the_same_arrays(stored, fresh):
    assert sorted(fresh) == sorted(stored)


def _equal(a, b, exact: bool) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if exact or a.dtype.kind != "f":
        return np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    return np.allclose(a, b, rtol=OTHER_NUMPY_RTOL, atol=0.0, equal_nan=True)


def test_results_are_bit_identical_to_the_reference(stored, fresh, same_numpy):
    differ = []
    for name in sorted(stored):
        a, b = fresh[name], stored[name]
        if not _equal(a, b, exact=same_numpy):
            both = a.shape == b.shape and a.dtype.kind == "f" and np.isfinite(a).sum() > 0
            with np.errstate(invalid="ignore"):
                rel = np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)) if both else float("nan")
            differ.append(f"{name} (largest relative difference {rel:.3g})")
    assert not differ, "changed from the stored reference: " + ", ".join(differ)
