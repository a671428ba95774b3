"""Every threshold that decides whether sez trusts a number or starts a large job, in one place.

Each estimator, cleaning step and table reads its threshold from here, so that a
threshold has one value and one explanation. ``docs/guarantees.md`` lists them.
"""

from __future__ import annotations

import os

from sez.errors import SizeError

# --- Inference -------------------------------------------------------------------------------------

#: A standard error at most this share of its estimate's size (or of 1, for an estimate near 0) is
#: degenerate: it measures rounding, not sampling variation (a coefficient the fixed effects absorb, a
#: group with no variation). Its statistic and p-value are NaN, so it gets no stars.
DEGENERATE_SE = 1e-10

#: The Kolmogorov-Smirnov test (``sez.stats.ks_2samp``) gives exact p-values by default when m * n is at
#: most this: below it the asymptotic distribution is rough and the O(m n) count takes microseconds.
EXACT_AUTO_LIMIT = 10_000

#: Beyond this many lattice steps (m * n; seconds of work) the exact Kolmogorov-Smirnov count is refused.
EXACT_MAX_WORK = 1_000_000_000

#: Fewer clusters than this give no clustered variance (one cluster: a sandwich of zero, or a division by
#: G - 1 = 0); every clustered estimate refuses them.
MIN_CLUSTERS = 2


# --- Data plausibility (cleaning drops values outside these bounds, counted by reason) -------------

#: The years (first, last) whose codes the shipped reference tables harmonise; a record of another year is
#: an error naming the file, year and rows, never mapped by a guess. First: 1995, when GB/T 4754-1994
#: took effect (earlier industry codes follow the 1984 classification, which the shipped crosswalks lack).
#: Last: 2013, the last ASIE year and the year whose district codes the panel uses (a code created later
#: has no 2013 equivalent, and industry codes from 2017 follow GB/T 4754-2017, which is not read).
SUPPORTED_YEARS = (1995, 2013)

#: Earliest plausible founding year: 1600. China's oldest firms still at work were founded after it
#: (Beijing Tongrentang, a drug maker, in 1669); an earlier one, or one after the record's year, is a typo
#: and is taken as unknown (the record stays: the founding year only dates the firm's age and entry).
EARLIEST_FOUNDING_YEAR = 1600

#: Most employees one firm-year can plausibly report (persons): 5 million, three times China's largest
#: industrial employer (China National Petroleum Corporation, about 1.6 million people in 2013) and more
#: than twice the world's largest (Walmart, 2.2 million). An ASIE record is one legal person, smaller still.
MAX_EMPLOYEES = 5e6

#: Largest plausible money value of one firm-year, in 1000 yuan: 1e10, i.e. 10 trillion yuan. The largest
#: Chinese industrial firms stay far below it: Sinopec Group sold about 2.8 trillion yuan in 2013, and the
#: largest total assets (China National Petroleum Corporation, State Grid) were 3 to 4 trillion yuan;
#: all above-scale industrial firms together sold about 100 trillion. A larger value (1e300, inf) is an
#: overflow, a shifted column or a wrong unit, not a firm.
MAX_MONEY = 1e10

#: The plausible range (lowest, highest) of each numeric variable of a raw record, in the units of
#: ``sez.data.columns`` (persons; 1000 yuan after the unit fix). Accounts that can hold a negative balance
#: (profit, VAT payable, welfare payable, reported value added) may be as negative as MAX_MONEY; the others
#: cannot be negative (the panel schema refuses a negative output, wage bill, export or asset). Cleaning
#: drops a record with a value outside its range, or not finite, counted by variable.
PLAUSIBLE_RANGE = {
    "employees": (0.0, MAX_EMPLOYEES),
    **dict.fromkeys(("gross_output", "intermediate_input", "exports", "sales", "wages_payable",
                     "fixed_assets_original", "fixed_assets_net", "depreciation", "accumulated_depreciation",
                     "current_assets", "total_liabilities", "total_assets", "paid_in_capital", "capital_state",
                     "capital_collective", "capital_legal_person", "capital_individual", "capital_hmt",
                     "capital_foreign"), (0.0, MAX_MONEY)),
    **dict.fromkeys(("value_added", "total_profit", "vat_payable", "welfare_payable"), (-MAX_MONEY, MAX_MONEY)),
}


# --- Survey rules (what the ASIE covers; harmonise's ``sales_threshold`` applies one rule to every year) ----

#: The ASIE's "above-scale" threshold from 1998 to 2010, in 1000 yuan of nominal annual sales (main business
#: revenue): 5 million yuan (Brandt, Van Biesebroeck and Zhang 2012). Until 2006 state-owned firms below it
#: were surveyed too.
SURVEY_SALES_THRESHOLD_OLD = 5_000

#: The ASIE's "above-scale" threshold from :data:`SURVEY_THRESHOLD_CHANGE_YEAR`, in 1000 yuan of nominal
#: annual sales: 20 million yuan (National Bureau of Statistics, 2011). Firms with sales between the two
#: thresholds leave the survey in 2011, which looks like exit and changes who is treated.
SURVEY_SALES_THRESHOLD_NEW = 20_000

#: The first survey year under :data:`SURVEY_SALES_THRESHOLD_NEW`.
SURVEY_THRESHOLD_CHANGE_YEAR = 2011


# --- Estimation samples ----------------------------------------------------------------------------

#: A regressor that keeps less than this share of its variation (sum of squared deviations from its
#: mean) once the fixed effects and the regressors before it are partialled out is collinear with them:
#: what is left is the rounding of an iterative demeaning (residuals of about 1e-8 where the exact
#: answer is 0), not variation that identifies a coefficient. Such a regressor gets no coefficient (NaN,
#: noted in the counts) or an error naming it. The smallest legitimate shares are far above this: one
#: firm switching treatment among 590,000 keeps about 1e-5 of the treatment's variation.
COLLINEAR_SHARE = 1e-10

#: The proxy-variable and dynamic-panel production functions (Olley and Pakes 1996, Levinsohn and Petrin
#: 2003, Ackerberg, Caves and Frazer 2015, Wooldridge 2009) learn how productivity evolves from firms'
#: consecutive years, so a group needs at least this many firms observed in two consecutive years. It is
#: a floor, not a guarantee: below it a handful of firms' time series decides the capital coefficient
#: (six firms gave 2.14, reported as converged) and the firm bootstrap resamples almost the same firms;
#: clustered inference stays rough up to a few dozen firms (Cameron and Miller 2015).
MIN_PANEL_FIRMS = 10

#: Fewest usable observations (and, for the proxy and dynamic-panel methods, observations with the
#: previous year's values) an estimation group of ``sez.tfp.estimate`` may have by default.
MIN_GROUP_OBS = 50


# --- Sizes checked before a large allocation or a long job -----------------------------------------

#: A job may plan to use at most this share of the machine's physical memory (:func:`memory_limit`, read
#: when the check runs). The estimates are measured peaks of one process; the rest is left to the operating
#: system, other processes (a grid runs one model per worker) and temporaries the estimates miss.
MEMORY_SHARE = 0.5

#: A job estimated to take longer than this many seconds on one thread is refused. The estimates use costs
#: measured once (stated beside each); one hour is two orders of magnitude beyond every default and worked
#: example, so a longer job is more likely an extra zero than an intention.
MAX_SECONDS = 3600.0

#: Most points a parameter grid may have. Each point is a model solution and a simulated panel (about a
#: second of work) and a record in the checkpoint and the table: a million points is weeks of core time.
#: Its time is reported but not limited, since a grid is meant to be spread over a cluster.
MAX_GRID_POINTS = 1_000_000


def physical_memory() -> int:
    """Bytes of physical memory of this machine, read now (``os.sysconf``)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_limit() -> float:
    """Bytes a job may plan to use: :data:`MEMORY_SHARE` of :func:`physical_memory`."""
    return MEMORY_SHARE * physical_memory()


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:,.1f} GiB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:,.0f} h"


def check_size(what: str, count: int, unit: str, n_bytes: float, seconds: float | None, *, allow_large: bool,
               override: str, max_count: int | None = None, limit_time: bool = True) -> None:
    """Refuse a job whose estimate, made from its sizes alone before anything is allocated, is too large.

    ``count`` ``unit`` (e.g. 4,100,000,000 points) needing ``n_bytes`` of memory and ``seconds`` on one
    thread exceed a limit when the bytes pass :func:`memory_limit`, the seconds pass :data:`MAX_SECONDS`
    (where ``limit_time``) or the count passes ``max_count``. Then a :class:`sez.errors.SizeError` gives
    the numbers, the machine's memory and ``override``, the way to run the job anyway, unless
    ``allow_large`` is True.
    """
    if not isinstance(allow_large, bool):
        raise SizeError(f"{what}: allow_large must be True or False, got {allow_large!r}")
    if allow_large:
        return
    memory, limit = physical_memory(), memory_limit()
    over = [reason for reason, exceeded in (
        (f"too many {unit}", max_count is not None and count > max_count),
        ("too much memory", n_bytes > limit),
        ("too long", limit_time and seconds is not None and seconds > MAX_SECONDS),
    ) if exceeded]
    if over:
        count_limit = "" if max_count is None else f" (limit {max_count:,})"
        time_limit = f" (limit {_duration(MAX_SECONDS)})" if limit_time else ""
        took = "" if seconds is None else f" and {_duration(seconds)} on one thread{time_limit}"
        raise SizeError(
            f"{what}: {count:,} {unit}{count_limit}, estimated {_gib(n_bytes)} of memory (limit {_gib(limit)}: "
            f"{MEMORY_SHARE:.0%} of this machine's {_gib(memory)}){took}: {' and '.join(over)} (sez.limits). "
            f"Make it smaller, or pass {override} to run it anyway"
        )
