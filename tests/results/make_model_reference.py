"""Regenerate tests/results/model_reference.npz, the stored model reference.

    python tests/results/make_model_reference.py

The file holds values, policies, the stationary distribution and a small
simulated panel of the default model (tests/reference_model.py says which), and
tests/test_model_reference.py requires a fresh computation to match it bit for
bit under the numpy version that made it (and to 1e-12 under another).
Refactors must leave it alone. Regenerate it only for an intended change of the
numbers, and state the reason (and the size of the change) in the commit that
carries the new file.
"""

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "model"))

from reference_model import compute, platform_key  # noqa: E402

REFERENCE = HERE / "model_reference.npz"

if __name__ == "__main__":
    arrays = compute()
    np.savez_compressed(REFERENCE, platform=np.array(platform_key()), numpy=np.array(np.__version__), **arrays)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size / 1e6:.2f} MB, {len(arrays)} arrays)")
