"""Faults of the probit's arguments (issue 16): an outcome of labels, an all-missing regressor and an
absorbed regressor are errors naming the column and what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sez.probit import probit
from sez.testing import probit_data


@pytest.fixture(scope="module")
def data():
    return probit_data(n=1500)


def test_an_outcome_of_labels_is_refused_naming_the_values_and_the_conversion(data):
    for labels in (np.where(data.y == 1, "yes", "no"), pd.Categorical(np.where(data.y == 1, "yes", "no"))):
        with pytest.raises(ValueError, match=r"outcome 'exported' must be 0/1 or boolean; it holds \['no', 'yes'\].*"
                                             r"data\['exported'\] = data\['exported'\]\.map\(\{'yes': 1, 'no': 0\}\)"):
            probit(data.assign(exported=labels), "exported", ["x1"])
    # digits stored as text are unambiguous and still accepted
    as_text = probit(data.assign(y=data.y.astype(str)), "y", ["x1", "x2"])
    assert as_text.params.to_numpy() == pytest.approx(probit(data, "y", ["x1", "x2"]).params.to_numpy(), abs=1e-12)


def test_an_all_missing_regressor_is_named(data):
    with pytest.raises(ValueError, match=r"'wage' have no usable \(non-missing, finite\) value in any row"):
        probit(data.assign(wage=np.nan), "y", ["x1", "wage"], fe=["year"])


def test_an_absorbed_regressor_names_the_fixed_effects_and_what_to_do(data):
    # an industry-level variable in yuan, constant within the industry effects
    frame = data.assign(scale=np.random.default_rng(0).lognormal(14, 1, 8)[data.ind] * 1e3)
    with pytest.raises(ValueError, match=r"\['scale'\] are collinear with the fixed effects \['ind', 'cty'\]: they "
                                         r"have no coefficient; drop them from x or the fixed effect"):
        probit(frame, "y", ["x1", "scale"], fe=["ind", "cty"])
