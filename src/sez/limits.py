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

#: Fewer clusters than this give no clustered variance (one cluster: a sandwich of zero, or a division by
#: G - 1 = 0); every clustered estimate refuses them.
MIN_CLUSTERS = 2


# --- Data plausibility (cleaning drops values outside these bounds, counted by reason) -------------


# --- Estimation samples ----------------------------------------------------------------------------


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
