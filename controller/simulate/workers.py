"""Forked worker processes for replays side by side (`backtest`, `tune`), and how they end.

Ctrl-C at a terminal signals the whole foreground process group, workers too. A worker that
took the SIGINT would die with a traceback of its own (`Process ForkProcess-1:`), and the
parent, waiting on a result that would never come, could hang for ever. So workers ignore
SIGINT and only the parent sees it; it then stops the pool without waiting on unfinished
replays (which may run for hours) and kills its workers, and the KeyboardInterrupt goes on up
to the CLI.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager


def forks() -> bool:
    """Whether worker processes can be forked here (they inherit the replay's data)."""
    return "fork" in multiprocessing.get_all_start_methods()


@contextmanager
def forked_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` forked processes that ignore SIGINT. Leaving it normally waits for
    the work submitted; leaving it by an exception (Ctrl-C's KeyboardInterrupt) does not."""
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_interrupts)
    try:
        yield pool
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Drop what has not started and end the workers now: a replay under way would otherwise
    run to its end in a worker that ignores Ctrl-C, long after the command has exited."""
    # The executor has no public way to end its workers before Python 3.14
    # (terminate_workers); its `_processes` map is where they are.
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join()
