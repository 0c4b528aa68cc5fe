"""Run independent per-file jobs in worker processes with a tqdm bar (feature extraction, conversions).

Workers are started with ``spawn`` (safe after torch has used threads in the parent; callers' scripts need the
usual ``if __name__ == "__main__":`` guard) and use one thread each (torch and BLAS). The first failing job's exception
(e.g. util.errors.InputError naming the file) is raised in the parent after cancelling the rest.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any

from tqdm import tqdm

#: thread-count variables of the numeric libraries, set to 1 in worker processes
_THREAD_VARS: tuple[str, ...] = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    if "torch" in sys.modules:  # otherwise OMP_NUM_THREADS=1 (set for the workers) is torch's default
        sys.modules["torch"].set_num_threads(1)
    if initializer is not None:
        initializer(*initargs)


def run_parallel(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int = 1, desc: str = "",
                 total: int | None = None, progress: bool = True, initializer: Callable[..., None] | None = None,
                 initargs: tuple = ()) -> None:
    """Call ``fn(*job)`` for every job (in-process when ``workers <= 1`` or a single job).

    ``total`` (>= len(jobs)) lets the bar count already finished items as done.
    """
    total = len(jobs) if total is None else total
    with tqdm(total=total, initial=total - len(jobs), desc=desc, unit="file", disable=not progress) as bar:
        if workers <= 1 or len(jobs) <= 1:
            if initializer is not None:
                initializer(*initargs)
            for job in jobs:
                fn(*job)
                bar.update()
            return
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update({k: "1" for k in _THREAD_VARS})  # inherited by the spawned workers: one BLAS thread each
        try:
            _run_pool(fn, jobs, workers, bar, initializer, initargs)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _run_pool(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int, bar: tqdm,
              initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """Submit every job to a spawn pool; the bar advances as each job finishes (``FIRST_COMPLETED``:
    ``FIRST_EXCEPTION`` would return only once every job is done or one has failed); re-raise the first failure
    after cancelling the rest."""
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(initializer, initargs)) as pool:
        pending = {pool.submit(fn, *job) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                exc = fut.exception()
                if exc is not None:
                    for other in pending:
                        other.cancel()
                    raise exc
                bar.update()
