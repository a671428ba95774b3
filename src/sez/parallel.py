"""Map a function over items with any ``concurrent.futures.Executor``.

Item ``i`` always receives child ``i`` of one ``numpy.random.SeedSequence``, so
results do not depend on the executor, the worker count or the order in which
items finish. The default executor is a local process pool started with
``forkserver`` (or ``spawn``), never ``fork``: a forked child of a process that
has run an OpenMP region can hang. Each worker runs the kernels on one OpenMP
thread unless told otherwise, so workers never oversubscribe the cores.

For clusters pass any Executor: Dask's ``Client.get_executor()`` (with
dask-jobqueue for SLURM or PBS), or mpi4py's ``MPIPoolExecutor``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import warnings
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_count(threads, func: str) -> int:
    """``threads`` checked for a kernel: a whole number >= 1, or None for OpenMP's default (returned as 0).

    A float, a string or a bool is an error naming ``func``; more threads than this process may use is a warning
    (the kernels would oversubscribe the cores; the results do not depend on the count).
    """
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"{func}: threads = {threads!r}: a whole number of threads (or None for OpenMP's default)")
    if threads < 1:
        raise ValueError(f"{func}: threads = {threads}: must be >= 1 (or None for OpenMP's default)")
    cores = available_cores()
    if threads > cores:
        warnings.warn(f"{func}: threads = {threads} exceeds the {cores} core(s) this process may use: the threads "
                      "share them (slower, same results)", stacklevel=3)
    return int(threads)


def set_threads(threads: int) -> None:
    """Default OpenMP thread count of the kernels in this process (threads=None)."""
    from sez import _core

    _core.set_max_threads(int(threads))


#: How often a pool worker checks that the process which started the pool is still alive (seconds).
WATCH_INTERVAL = 1.0


def _exit_with(owner: int) -> None:
    """In a worker: end this process once ``owner`` (the process that started the pool) has gone, however it
    ended (SIGKILL included), so that no worker outlives its run as an orphan.
    """
    while True:
        time.sleep(WATCH_INTERVAL)
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # the pid now belongs to another user's process: the owner has gone
            os._exit(1)


def _start_worker(threads: int, owner: int) -> None:
    set_threads(threads)
    threading.Thread(target=_exit_with, args=(owner,), daemon=True, name="sez-owner-watch").start()


class WorkerLost(RuntimeError):
    """The executor lost a worker or was shut down (a killed process, an interrupt): a fault of the machine, not
    of the point being computed. The points in flight are not recorded, so a rerun computes them.
    """


#: Exceptions of the executor itself rather than of the function it runs.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (BrokenExecutor, CancelledError)


def _infrastructure_errors() -> tuple[type[BaseException], ...]:
    errors = INFRASTRUCTURE_ERRORS
    distributed = sys.modules.get("distributed")  # Dask: a worker that died while holding the task
    if distributed is not None and hasattr(distributed, "KilledWorker"):
        errors = errors + (distributed.KilledWorker,)
    return errors


class SerialExecutor(Executor):
    """Runs each call at submit time in this process: the reference executor."""

    def submit(self, fn, /, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` now, in this process, and return its finished future."""
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # recorded in the future, like a pool does; an interrupt stops the map
            future.set_exception(err)
        return future


def local_executor(workers: int | None = None, threads_per_worker: int = 1) -> ProcessPoolExecutor:
    """A process pool started with forkserver (spawn where unavailable), each
    worker running the kernels on ``threads_per_worker`` OpenMP threads.
    """
    workers = available_cores() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers = {workers}: need at least 1")
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                               initargs=(threads_per_worker, os.getpid()))


def child_seeds(seed: int | np.random.SeedSequence, n: int) -> list[np.random.SeedSequence]:
    """Child i of one SeedSequence for item i."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(n)


def _call(fn, item, seed):
    return fn(item, seed)


def map_items(
    fn: Callable[[Any, np.random.SeedSequence], Any],
    items: Sequence[Any],
    executor: Executor | None = None,
    seed: int | np.random.SeedSequence = 0,
    indices: Iterable[int] | None = None,
    progress: bool | str = False,
) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Yield ``(i, fn(items[i], seed_i), error)`` as items finish, in any order.

    ``fn`` must be picklable (a module-level function) for process pools. An item
    that raises yields its exception instead of a result; the map goes on.
    ``indices`` restricts the work to some items (their seeds are unchanged).

    Raises
    ------
    WorkerLost
        The executor broke (a worker killed, the pool shut down, a Dask worker
        lost): the items that finished were yielded, the others were not.
    """
    seeds = child_seeds(seed, len(items))
    todo = list(range(len(items))) if indices is None else list(indices)
    own = executor is None
    ex = local_executor() if own else executor
    # a bounded window of submitted items: results stream out (and reach a
    # checkpoint) while the rest wait, and a huge grid never sits in memory as futures
    window = 1 if isinstance(ex, SerialExecutor) else 2 * max(1, getattr(ex, "_max_workers", 0) or 32)
    bar = _progress(progress, len(todo))
    pending: dict[Future, int] = {}
    queue = iter(todo)
    lost = _infrastructure_errors()
    try:
        while True:
            for i in queue:
                pending[ex.submit(_call, fn, items[i], seeds[i])] = i
                if len(pending) >= window:
                    break
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                err = None if future.cancelled() else future.exception()
                if future.cancelled() or isinstance(err, lost):
                    left = len(pending) + sum(1 for _ in queue)
                    raise WorkerLost(f"the executor lost a worker or was shut down "
                                     f"({'cancelled' if err is None else type(err).__name__}: {err}); "
                                     f"{left} item(s) not computed: run again to compute them") from err
                i = pending.pop(future)
                bar.advance()
                yield i, (None if err is not None else future.result()), err
    finally:
        bar.close()
        for future in pending:
            future.cancel()
        if own:
            ex.shutdown(cancel_futures=True)


class _NoProgress:
    def advance(self):
        pass

    def close(self):
        pass


class _RichProgress:
    def __init__(self, title: str, total: int):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(TextColumn(title), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                  TextColumn("ETA"), TimeRemainingColumn(), transient=False)
        self._task = self._progress.add_task(title, total=total)
        self._progress.start()

    def advance(self):
        self._progress.advance(self._task)

    def close(self):
        self._progress.stop()


def _progress(progress: bool | str, total: int):
    """A live bar on a terminal; timestamped lines in a batch log (standard output not a terminal) or inside a
    pipeline run.
    """
    if not progress:
        return _NoProgress()
    from sez.progress import LineCounter, active

    title = progress if isinstance(progress, str) else "working"
    if active() is not None or not sys.stdout.isatty():
        return LineCounter(title, total)
    return _RichProgress(title, total)
