"""A Monte Carlo panel of individual firms in the firm-year schema of ``sez.panel``."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from sez import _core, panel
from sez.limits import check_size
from sez.model.distribution import Distribution, stationary
from sez.model.solve import Solution
from sez.parallel import thread_count

#: Schema columns a model panel cannot fill (no geography, industry, ownership,
#: trade, intermediates or balance sheet beyond capital and bonds).
NOT_PRODUCED = ("province", "city", "county", "cic4", "cic3", "cic2", "ownership", "foreign_invested", "exporter",
                "exports", "sez_evidence", "intermediate_input", "capital_nominal", "total_assets")

#: Bytes per recorded firm-year of a panel: the kernel's columns, the frame and the schema check (measured
#: peak: 212 bytes per row for 100,000-200,000 firms on a 2-core x86-64 machine).
BYTES_PER_FIRM_YEAR = 256
#: Seconds per simulated firm-year, burn-in included, on one thread (measured 0.09-0.28 microseconds).
SECONDS_PER_FIRM_YEAR = 0.3e-6


def estimate_panel(n_firms: int, years: int, burn_in: int) -> tuple[int, float, float]:
    """(recorded firm-years, bytes, seconds on one thread) of :func:`simulate`, from the sizes alone (the
    population stays near ``n_firms``: entrants replace the firms that exit). A size that is not a whole
    number (at least 1; burn_in at least 0) is a ValueError naming it.
    """
    for name, value, least in (("n_firms", n_firms, 1), ("years", years, 1), ("burn_in", burn_in, 0)):
        if not isinstance(value, numbers.Real) or int(value) != value or value < least:
            raise ValueError(f"{name} = {value!r}: need an integer >= {least}")
    n_firms, years, burn_in = int(n_firms), int(years), int(burn_in)
    rows = n_firms * years
    return rows, float(BYTES_PER_FIRM_YEAR * rows), SECONDS_PER_FIRM_YEAR * n_firms * (burn_in + years)


def simulate(
    solution: Solution,
    n_firms: int = 10_000,
    years: int = 20,
    burn_in: int = 50,
    seed: int = 0,
    distribution: Distribution | None = None,
    threads: int | None = None,
    allow_large: bool = False,
) -> pd.DataFrame:
    """Simulate a panel of firms under the solved model.

    ``n_firms`` investors are drawn from the stationary distribution at the end of
    year 0; potential entrants arrive each year at the stationary rate scaled to
    that population (``Me * n_firms / mass``); the economy runs ``burn_in`` years
    before ``years`` are recorded (years 1..years). Each firm's draws come from its
    own counter-based stream keyed by (seed, firm, year) (for an entrant, by its
    arrival year and rank within that year instead of its id, so the j-th entrant of
    a year draws the same numbers whatever the entry in earlier years: common random
    numbers across parameter values), so the panel is the same for any thread count.
    Firms present at the start have unknown birth year (NA), like the incumbents of
    a survey's first wave.

    Returns a DataFrame in the ``sez.panel`` schema, one row per firm and year of
    production, with model-only columns ``cash`` (cash on hand after production)
    and ``dividends``; ``attrs`` lists the schema columns the model does not produce.

    A panel whose :func:`estimate_panel` exceeds the memory or time limits of ``sez.limits`` is refused
    (:class:`sez.errors.SizeError`) before anything is allocated, unless ``allow_large=True``.
    """
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ValueError(f"seed = {seed!r}: need a non-negative integer")
    rows, n_bytes, seconds = estimate_panel(n_firms, years, burn_in)
    check_size(f"simulated panel of {int(n_firms):,} firms over {int(years)} years after {int(burn_in)} of burn-in",
               rows, "firm-years", n_bytes, seconds, allow_large=allow_large,
               override="simulate(..., allow_large=True)")
    dist = stationary(solution, threads=threads) if distribution is None else distribution
    if dist.solution is not solution:
        raise ValueError("distribution was computed from another solution")
    p = solution.params
    nu = dist.nu.ravel()
    key = int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)[0])
    settings = _core.PanelSettings(
        init_cdf=np.cumsum(nu) / nu.sum(), n_init=int(n_firms), potential_per_year=p.Me * n_firms / nu.sum(),
        years=int(burn_in + years), record_from=int(burn_in + 1), seed=key,
    )
    out = _core.simulate_panel(solution.space.problem, solution.policy(), settings,
                               threads=thread_count(threads, "simulate"))
    df = _to_frame(out, p, burn_in)
    df.attrs.update(source="model", not_produced=list(NOT_PRODUCED), seed=seed, n_firms=n_firms, burn_in=burn_in,
                    potential_entrants=int(out["n_potential"]))
    return panel.validate(df, "simulated panel")


def _to_frame(out: dict, p, burn_in: int) -> pd.DataFrame:
    shift = burn_in  # recorded years become 1..years

    def nullable_year(a):  # -1 codes "unknown" / "never"
        return pd.arrays.IntegerArray(np.where(a >= 0, a - shift, 0).astype(np.int64), a < 0)

    zone_cat = pd.CategoricalDtype(["N", "S"])
    birth_zone = pd.Categorical.from_codes(out["birth_zone"].astype(np.int64), dtype=zone_cat)
    year = out["year"] - shift
    birth_year = nullable_year(out["birth_year"])
    df = pd.DataFrame({
        "firm_id": out["firm"],
        "year": year,
        "sez": out["zone"] == 1,
        "birth_year": birth_year,
        "birth_zone": birth_zone,
        "mover": out["moved"] == 1,
        "move_year": nullable_year(out["move_year"]),
        "employees": out["labour"],
        "wage_bill": p.w * out["labour"],
        "output": out["output"],
        "value_added": out["output"],  # the model has no intermediate inputs
        "sales": out["output"],
        "profit": out["profit"],
        "capital": out["capital"],
        "debt": out["debt"],
        "ln_tfp": np.log(out["z"]),
        "age": pd.arrays.IntegerArray(year - np.where(out["birth_year"] >= 0, out["birth_year"] - shift, 0),
                                      out["birth_year"] < 0),
        "exit": out["exits"] == 1,
        "cash": out["cash"],
        "dividends": out["dividends"],
    }, copy=False)  # no consolidation copy of millions of rows
    df["entry"] = (out["birth_year"] >= 0) & (out["birth_year"] == out["year"])
    df["depreciation"] = p.delta * df["capital"]
    df["investment"] = out["investment"]  # NaN where next year's capital is not observed
    return df
