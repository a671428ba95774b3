"""Data generators with known answers, for sez's tests and for users checking their own specifications.

Each returns a small pandas DataFrame in the firm-year vocabulary of
:mod:`sez.panel` (``firm_id``, ``year``, ...) built from a seeded
``numpy.random.Generator``, with the true effect or coefficients stated, so an
estimator run on it can be checked against the truth::

    from sez import did, testing
    panel = testing.staggered_panel(n_firms=2000, seed=1)      # true effect 0.1
    did.imputation(panel, "y").coef                             # about 0.1
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["staggered_panel", "unbalanced_panel", "nested_panel", "controls_panel", "quintile_effect_panel",
           "probit_data", "production_panel", "agglomeration_panel"]


def staggered_panel(n_firms: int = 2000, years=range(2000, 2012),
                    effect: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None, never_share: float = 0.4,
                    seed: int = 0) -> pd.DataFrame:
    """Balanced firm-year panel with staggered, absorbing entry into a zone and a known effect.

    Entry years are drawn from the third year on; a share ``never_share`` of
    firms never enters. ``y`` is a firm effect plus a common trend of 0.05 a
    year, noise of s.d. 0.3 and the effect ``effect(event_time, cohort)`` in
    treated years (0.1 by default), also stored in ``tau``. ``city`` (five
    levels) and a control ``x`` unrelated to ``y`` are added.
    """
    rng = np.random.default_rng(seed)
    yrs = np.array(list(years))
    cohorts = rng.choice(yrs[2:], size=n_firms)
    cohorts[rng.random(n_firms) < never_share] = 0
    firm = np.repeat(np.arange(n_firms), len(yrs))
    year = np.tile(yrs, n_firms)
    cohort = cohorts[firm]
    treated = (cohort > 0) & (year >= cohort)
    event = np.where(cohort > 0, year - cohort, 0)
    effect = effect or (lambda e, c: np.full(e.shape, 0.1))
    tau = np.where(treated, effect(event, cohort), 0.0)
    y = rng.normal(size=n_firms)[firm] + 0.05 * (year - yrs[0]) + rng.normal(scale=0.3, size=len(firm)) + tau
    return pd.DataFrame({"firm_id": firm, "year": year, "sez": treated, "y": y, "tau": tau,
                         "city": (firm % 5).astype(str), "x": rng.normal(size=len(firm))})


def unbalanced_panel(seed: int = 1) -> pd.DataFrame:
    """60 firms over 2000-2006 from :func:`staggered_panel`, about 15% of firm-years removed at random;
    every firm keeps at least two years, so no singleton is dropped by a fixed-effects fit.
    """
    df = staggered_panel(n_firms=60, years=range(2000, 2007), seed=seed)
    rng = np.random.default_rng(seed)
    keep = rng.random(len(df)) > 0.15
    df = df.loc[keep]
    return df.loc[df.groupby("firm_id").year.transform("size") >= 2].reset_index(drop=True)


def nested_panel(n_firms: int = 600, n_cities: int = 40, years=range(2000, 2010), movers: int = 6,
                 seed: int = 7) -> pd.DataFrame:
    """Firms nested in cities except ``movers`` firms that change city once, half-way; staggered zone entry
    (30% of firms) with an effect of 0.1, city effects of s.d. 0.3 and noise of s.d. 0.2.

    The hard case for fixed-effect solvers: a city is linked to the others only through the few movers.
    """
    rng = np.random.default_rng(seed)
    yrs = np.array(list(years))
    firm = np.repeat(np.arange(n_firms), len(yrs))
    year = np.tile(yrs, n_firms)
    home = rng.integers(0, n_cities, n_firms)
    city = home[firm].copy()
    moving = rng.choice(n_firms, movers, replace=False)
    for f in moving:
        on = (firm == f) & (year >= yrs[len(yrs) // 2])
        city[on] = (home[f] + 1 + rng.integers(0, n_cities - 1)) % n_cities
    entry = np.where(rng.random(n_firms) < 0.3, rng.choice(yrs[2:], n_firms), 0)
    sez = (entry[firm] > 0) & (year >= entry[firm])
    y = (rng.normal(size=n_firms)[firm] + rng.normal(scale=0.3, size=n_cities)[city] + 0.03 * (year - yrs[0])
         + 0.1 * sez + rng.normal(scale=0.2, size=len(firm)))
    return pd.DataFrame({"firm_id": firm, "year": year, "city": city, "sez": sez, "y": y})


def controls_panel(n_firms: int = 500, seed: int = 30, effect: float = 0.1, ky_slope: float = 0.5) -> pd.DataFrame:
    """A :func:`staggered_panel` (constant effect ``effect``) with every column the SEZ paper's firm controls
    are built from (total assets, age, profit, debt, exports, sales, ownership, capital, output, an EG
    index); a third of the firms change city in 2005, and ``y`` loads ``ky_slope`` on ln(capital/output).
    """
    df = staggered_panel(n_firms=n_firms, years=range(2000, 2011), seed=seed,
                         effect=lambda e, c: np.full(e.shape, effect))
    rng = np.random.default_rng(seed)
    n = len(df)
    mover = (df.firm_id % 3 == 0) & (df.year >= 2005)
    df["city"] = ((df.firm_id + mover) % 5).astype(str)
    df["total_assets"] = rng.lognormal(8, 1, n)
    df["age"] = rng.integers(0, 30, n)
    df["profit"] = rng.lognormal(5, 1, n) * np.where(rng.random(n) < 0.9, 1, -1)
    df["debt"] = df.total_assets * rng.uniform(0.1, 0.9, n)
    df["exporter"] = rng.random(n) < 0.8
    df["exports"] = np.where(df.exporter, rng.lognormal(6, 1, n), 0.0)
    df["sales"] = rng.lognormal(8, 1, n) + df.exports
    df["ownership"] = pd.Categorical(np.where(rng.random(n) < 0.2, "state", "private"))
    df["capital"] = rng.lognormal(7, 1, n)
    df["output"] = rng.lognormal(8, 1, n)
    df["eg_city"] = rng.lognormal(-4, 1, n)
    df["y"] = df.y + ky_slope * np.log(df.capital / df.output)
    return df


def probit_data(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    """A binary ``y`` from a probit with index ``-0.3 + 0.5 x1 - 0.4 x2 + 0.8 d`` plus industry (``ind``,
    8 levels) and county (``cty``, 15 levels) effects; ``year`` in 2000-2004 has no effect.
    """
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "year": rng.integers(2000, 2005, n), "ind": rng.integers(0, 8, n), "cty": rng.integers(0, 15, n),
        "x1": rng.normal(size=n), "x2": rng.normal(size=n), "d": rng.integers(0, 2, n).astype(float),
    })
    index = -0.3 + 0.5 * data.x1 - 0.4 * data.x2 + 0.8 * data.d + 0.2 * (data.ind - 4) / 4 + 0.3 * np.sin(data.cty)
    data["y"] = (index + rng.normal(size=n) > 0).astype(int)
    return data


def production_panel(n_firms: int = 300, years: int = 8, seed: int = 1,
                     second_order: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> pd.DataFrame:
    """A small clean production panel with gaps: ``ln value_added = 1 + 0.35 ln K + 0.6 ln L + a_i + e``
    (e of s.d. 0.2), firm effects ``a_i`` correlated with labour (FE is consistent, OLS is not), two
    industries (``cic2`` 13 and 14); ``second_order = (b_ll, b_kk, b_lk)`` adds translog terms.
    """
    b_ll, b_kk, b_lk = second_order
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_firms):
        years_f = np.sort(rng.choice(np.arange(2000, 2000 + years + 2), years, replace=False))
        a = rng.normal()
        k = rng.normal(8, 1, years)
        l = 0.5 * k + rng.normal(0, 0.5, years) + 0.3 * a
        f_x = 0.35 * k + 0.6 * l + b_ll * l ** 2 + b_kk * k ** 2 + b_lk * l * k
        rows.append(pd.DataFrame({"firm_id": f, "year": years_f, "capital": np.exp(k), "employees": np.exp(l),
                                  "value_added": np.exp(1 + f_x + a + rng.normal(0, 0.2, years)),
                                  "cic2": "13" if f % 2 else "14", "sez": bool(f % 3 == 0)}))
    return pd.concat(rows, ignore_index=True)


def quintile_effect_panel(seed: int = 0, n_firms: int = 3000, years=range(2000, 2010)):
    """Half the firms enter zones in 2004-2006; ``y`` is the firm's permanent ``level`` plus a trend of 0.02 a
    year and noise of s.d. 0.05, with no effect of entry: tests add one (e.g. 0.05 x the pre-entry quintile,
    or 0.1 + 0.2 M with the 0/1 ``moderator`` M). Returns ``(panel, entry year by firm (9999: never),
    permanent level by firm, moderator by firm)``.
    """
    rng = np.random.default_rng(seed)
    firm = np.repeat(np.arange(n_firms), len(years))
    year = np.tile(np.array(list(years)), n_firms)
    base = rng.normal(0, 1, n_firms)
    entry = np.where(rng.uniform(size=n_firms) < 0.5, rng.integers(2004, 2007, n_firms), 9999)
    moderator = (rng.uniform(size=n_firms) < 0.5).astype(float)
    treated = year >= entry[firm]
    pre = base[firm]  # the pre-period level is the firm's permanent level (plus noise below)
    y = pre + 0.02 * (year - 2000) + rng.normal(0, 0.05, len(firm))
    return pd.DataFrame({"firm_id": firm, "year": year, "sez": treated, "y": y, "level": pre,
                         "moderator": moderator[firm]}), entry, base, moderator


def agglomeration_panel(seed: int = 3, firms_per_year: int = 4000, years=(2001, 2002, 2003)) -> pd.DataFrame:
    """Firm-years with industries (``cic3``, 12) concentrated in some of 8 cities, so that some cells have a
    location quotient above one; ``ln_tfp`` is noise, 0.3 lower for exporters, 0.4 higher in agglomerated
    cells and 0.2 higher in zones (the signs of the agglomeration paper).
    """
    rng = np.random.default_rng(seed)
    n = firms_per_year * len(years)
    industry = rng.integers(0, 12, size=n)
    # industry k favours city k % 8: concentration gives some cells LQ > 1
    city = np.where(rng.random(n) < 0.5, industry % 8, rng.integers(0, 8, size=n))
    output = rng.lognormal(mean=3.0, sigma=1.0, size=n)
    exporter = rng.random(n) < 0.3
    df = pd.DataFrame({
        "firm_id": np.arange(n),
        "year": np.repeat(years, firms_per_year),
        "city": [f"C{c:02d}" for c in city],
        "cic3": [f"{300 + k}" for k in industry],
        "exporter": exporter,
        "output": output,
        "sez": rng.random(n) < 0.3,
    })
    from sez.agglo import is_agglomerated

    agglomerated = is_agglomerated(df).to_numpy()
    df["ln_tfp"] = rng.normal(size=n) - 0.3 * exporter + 0.4 * agglomerated + 0.2 * df["sez"].to_numpy()
    return df
