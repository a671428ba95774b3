"""Fixed-effect structures that defeat alternating projections: firms nested in regions, rare movers.

At the papers' scale, firm + year + city effects (firms nested in cities except
the few that move) stopped pyfixest's alternating projections and the imputation
estimator's conjugate gradients at 10,000 iterations. Here a small panel with the
same structure checks that the chosen method converges where alternating
projections do not (under one iteration cap), and that TWFE and the imputation
estimator equal dense least squares with explicit dummies.

Tolerances: the same least-squares problem solved two ways agrees to 1e-8 in the
estimates (LSMR stops at a relative residual of 1e-8) and 1e-6 relative in the
standard errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sez import did
from sez.testing import nested_panel


def _dummies(frame: pd.DataFrame, columns) -> np.ndarray:
    return np.column_stack([pd.get_dummies(frame[c].astype(str)).to_numpy(dtype=float) for c in columns])


def test_alternating_projections_stall_where_the_chosen_method_converges():
    import pyfixest as pf

    df = nested_panel().assign(d=lambda f: f.sez.astype(float))
    fml = "y ~ d | firm_id + year + city"
    cap = 100
    with pytest.raises(ValueError, match="(?i)demeaning failed|converge"):
        pf.feols(fml, data=df, demeaner=pf.MapDemeaner(fixef_maxiter=cap, fixef_tol=1e-10))
    assert did.demeaner_for(("firm_id", "year", "city")).kind == "lsmr"
    res = did.twfe(df, "y", fe=("firm_id", "year", "city"))
    # dense reference: OLS with explicit dummies, coefficient on the treatment
    x = np.column_stack([df.d.to_numpy(), _dummies(df, ["firm_id", "year", "city"])])
    beta = np.linalg.lstsq(x, df.y.to_numpy(), rcond=None)[0]
    assert res.coef == pytest.approx(beta[0], abs=1e-8)
    fixed = pf.feols(fml, data=df, demeaner=pf.LsmrDemeaner(fixef_maxiter=cap))
    assert float(fixed.coef().iloc[0]) == pytest.approx(beta[0], abs=1e-8)


def test_imputation_on_nested_effects_equals_dense_brute_force():
    df = nested_panel(seed=11)
    fe = ("firm_id", "year", "city")
    res = did.imputation(df, "y", fe=fe)
    treat = df.sez.to_numpy()
    z = _dummies(df, fe)
    z0, z1 = z[~treat], z[treat]
    gram_pinv = np.linalg.pinv(z0.T @ z0)
    coef = gram_pinv @ z0.T @ df.y.to_numpy()[~treat]
    # a treated row is imputable when its design row lies in the row space of the untreated design
    projector = z0.T @ z0 @ gram_pinv
    identified = np.abs(z1 @ projector - z1).max(axis=1) < 1e-8
    assert res.counts["treated observations not imputable"] == int((~identified).sum())
    tau = df.y.to_numpy()[treat][identified] - z1[identified] @ coef
    assert res.coef == pytest.approx(tau.mean(), abs=1e-8)
    # the analytic variance (Borusyak, Jaravel and Spiess 2024, Theorem 3) with dense algebra
    w = np.zeros(len(df))
    w[np.flatnonzero(treat)[identified]] = 1.0 / identified.sum()
    v = w.copy()
    v[~treat] = -z0 @ gram_pinv @ (z1.T @ w[treat])
    resid = np.zeros(len(df))
    resid[~treat] = df.y.to_numpy()[~treat] - z0 @ coef
    first = df.firm_id.map(df.loc[df.sez].groupby("firm_id").year.min())
    key = (df.year - first).astype(str) + "_" + first.astype(str)
    on = w > 0
    tau_all = np.full(len(df), np.nan)
    tau_all[on] = tau
    resid[on] = tau_all[on] - pd.Series(tau_all[on]).groupby(key[on].to_numpy()).transform("mean").to_numpy()
    se = np.sqrt(np.sum(pd.Series(v * resid).groupby(df.firm_id.to_numpy()).sum() ** 2))
    assert res.se == pytest.approx(se, rel=1e-6)


def test_imputation_sets_aside_a_mover_into_a_region_no_untreated_firm_links():
    # firm 0 moves from city A to city B when it enters the zone; B holds only firms nested in it, so its
    # effect is tied to theirs and never to A's: firm 0's untreated outcome in B is not identified,
    # though every level is connected to every other through the year effects
    rows = []
    for f, c in ((1, "A"), (2, "A"), (3, "B"), (4, "B")):
        rows += [(f, t, c, False) for t in (2000, 2001, 2002)]
    rows += [(0, 2000, "A", False), (0, 2001, "A", False), (0, 2002, "B", True), (5, 2000, "A", False),
             (5, 2001, "A", True), (5, 2002, "A", True)]
    df = pd.DataFrame(rows, columns=["firm_id", "year", "city", "sez"])
    df["y"] = np.random.default_rng(3).normal(size=len(df))
    res = did.imputation(df, "y", fe=("firm_id", "year", "city"))
    key = [k for k in res.counts if "do not identify" in k]
    assert len(key) == 1 and res.counts[key[0]] == 1
    assert res.counts["treated observations not imputable"] == 1
    assert res.nobs == len(df) - 1


def test_sparse_regression_equals_pyfixest_with_dense_columns():
    """The Sun-Abraham regression's sparse solver against pyfixest on the same columns made dense: three
    fixed effects with firms nested in cities, clusters (cities) that do not nest the firms' years, a
    singleton firm, and a column collinear with the fixed effects."""
    import pyfixest as pf
    from scipy import sparse

    df = nested_panel(seed=5)
    df = pd.concat([df, pd.DataFrame({"firm_id": [10_000], "year": [2003], "city": [1], "sez": [False],
                                      "y": [0.5]})], ignore_index=True)
    rng = np.random.default_rng(2)
    columns = {"d1": (df.sez & (df.year < 2006)).astype(float), "d2": (df.sez & (df.year >= 2006)).astype(float),
               "x": pd.Series(rng.normal(size=len(df))),
               "firm_constant": (df.firm_id % 7 == 0).astype(float)}  # absorbed by the firm effects
    dense = df.assign(**columns)
    ref = pf.feols("y ~ d1 + d2 + x + firm_constant | firm_id + year + city", data=dense,
                   vcov={"CRV1": "city"}, demeaner=pf.LsmrDemeaner(fixef_atol=1e-12, fixef_btol=1e-12))
    design = sparse.csc_matrix(np.column_stack([columns[c].to_numpy() for c in columns]))
    codes = [did.prepare._codes(df, t)[0] for t in ("firm_id", "year", "city")]
    fit = did.solver._sparse_fe_regression(df.y.to_numpy(), design, list(columns), codes, df.city.to_numpy())
    assert fit.collinear == ("firm_constant",)
    assert fit.nobs == ref._N == len(df) - 1
    assert fit.n_clusters == int(ref._G[0] if np.ndim(ref._G) else ref._G)
    for name in ("d1", "d2", "x"):
        assert fit.coef[name] == pytest.approx(ref.coef()[name], abs=1e-8)
        assert np.sqrt(fit.vcov.loc[name, name]) == pytest.approx(ref.se()[name], rel=1e-6)
    np.testing.assert_allclose(fit.vcov.loc[["d1", "d2", "x"], ["d1", "d2", "x"]].to_numpy(),
                               ref._vcov, rtol=1e-6, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("fe", [("firm_id", "year", "city"), ("firm_id", "county^year")])
def test_paper_scale_nested_effects_recover_the_effect(fe):
    """2.3 million firm-years, 590,000 firms nested in 2,560 counties and 340 cities but for 3% movers: both
    estimators finish and recover the true 0.10 within four standard errors (benchmarks/bench_fixed_effects.py's
    panel)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_fixed_effects.py"
    if not path.is_file():
        pytest.skip("benchmarks/ is not part of this installation")
    spec = importlib.util.spec_from_file_location("bench_fixed_effects", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    panel = bench.make_panel()
    for res in (did.twfe(panel, "ln_tfp", fe=fe), did.imputation(panel, "ln_tfp", fe=fe, on_reversal="drop")):
        assert res.nobs > 2_000_000
        assert abs(res.coef - 0.10) < 4 * res.se, res.summary()
