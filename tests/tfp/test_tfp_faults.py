"""Faults of the production-function estimators (issue 16): a group with too few firms observed in
consecutive years is refused (or skipped, recorded), naming the group, the count and the minimum."""

from __future__ import annotations

import numpy as np
import pytest

from sez import tfp
from sez.limits import MIN_PANEL_FIRMS
from sez.testing import production_panel


def few_firms(n_firms: int = 6):
    panel = production_panel(n_firms=n_firms, years=10, seed=1)
    rng = np.random.default_rng(0)
    return panel.assign(investment=0.1 * panel.capital * np.exp(rng.normal(size=len(panel))),
                        intermediate_input=0.4 * panel.value_added * np.exp(rng.normal(0, 0.1, len(panel))))


@pytest.mark.parametrize("method", ["op", "lp", "acf", "wrdg"])
def test_six_firms_are_too_few_for_the_panel_methods(method):
    # 60 firm-years pass min_obs; Olley-Pakes returned a capital elasticity of 2.14 on them, "converged"
    with pytest.raises(tfp.TFPInputError, match=rf"industry 'all': only 6 firm\(s\) observed in two consecutive "
                                                rf"years, need at least {MIN_PANEL_FIRMS} for method '{method}'"):
        tfp.estimate(few_firms(), method=method, by=None, min_obs=10, write_tfp=False)


def test_a_group_with_too_few_firms_is_skipped_and_recorded_while_the_others_are_estimated():
    panel = few_firms(2 * MIN_PANEL_FIRMS + 8)
    panel["cic2"] = np.where(panel.firm_id < 2 * MIN_PANEL_FIRMS, "13", "99")  # 8 firms in industry 99
    res = tfp.estimate(panel, method="op", by="cic2", min_obs=10, small="skip", write_tfp=False)
    assert list(res.estimates.index) == ["13"]
    assert "only 8 firm(s) observed in two consecutive years" in res.diagnostics["99"]["skipped"]
    # the within and pooled regressions need no firm's previous year, and still estimate the small group
    assert "99" in tfp.estimate(panel, method="fe", by="cic2", min_obs=10, write_tfp=False).estimates.index


def test_an_input_missing_in_every_row_is_named_rather_than_an_empty_result():
    # with nonpositive="drop" every row was dropped and an empty table of estimates came back
    panel = few_firms(40).assign(capital=np.nan)
    with pytest.raises(tfp.TFPInputError, match=r"no row is usable for estimation: column\(s\) 'capital' have no "
                                                r"usable \(finite, and positive where logs are taken\) value"):
        tfp.estimate(panel, method="ols", nonpositive="drop")
