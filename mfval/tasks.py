"""Run independent tasks in parallel, each result stored in the results store.

A task is a plain-data description of one unit of work (one working point of
a scan): a ``kind`` (folder in the store), a ``key`` (hash of everything that
affects the result), a picklable top-level function and its keyword
arguments. :func:`run_tasks` returns the stored result of every task whose
entry exists and computes the others in worker processes. Each worker writes
its own entry as soon as it finishes, so an interrupted run loses only the
tasks in flight; a rerun computes only what is missing.

A worker returns its result together with the code fingerprint
(:func:`mfval.store.code_fingerprint`) of the code that computed it. A
long-lived Dask worker keeps the code it imported when it started, so after
an edit it may compute with older code than the client's: :func:`run_tasks`
then raises :class:`StaleWorkerCodeError` rather than return (or recompute on
the client, possibly for hours) a result of other code.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import mfval.store as _store
from mfval.config import ParameterError, stable_hash
from mfval.store import ResultStore


@dataclass(frozen=True)
class Task:
    """One unit of work; ``label`` is shown in progress messages.

    ``pass_store``: call ``func(**kwargs, store=store)`` with the results
    store, so that the task can keep intermediate entries (e.g. a raw
    simulation recording next to its measurement).
    """

    kind: str
    key: str
    func: Callable[..., Any]
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    pass_store: bool = False


class StaleWorkerCodeError(RuntimeError):
    """A worker computed a task with other code than the client's (see module docstring)."""


def execute_task(store_root: str, task: Task, shared: str | None = None) -> tuple[str, Any]:
    """Compute one task and write its store entry (runs in a worker).

    Parameters
    ----------
    store_root : str
        Folder of the results store.
    task : Task
    shared : str, optional
        Sharing mode of the store (``ResultStore(shared=...)``), passed from
        the client so that a remote worker's environment does not change it.

    Returns
    -------
    tuple
        ``(fingerprint, value)``: the worker's code fingerprint of
        ``task.kind`` and the result.
    """
    store = ResultStore(store_root, shared=shared)
    extra = {"store": store} if task.pass_store else {}
    value, _ = store.get_or_compute(task.kind, task.key, lambda: task.func(**task.kwargs, **extra))
    return _store.code_fingerprint(task.kind), value


def checked_result(task: Task, result: tuple[str, Any]) -> Any:
    """The value of an :func:`execute_task` result, if computed by this process's code.

    Raises
    ------
    StaleWorkerCodeError
        If the worker's code fingerprint of the task's kind differs from
        this process's.
    """
    fingerprint, value = result
    expected = _store.code_fingerprint(task.kind)
    if fingerprint != expected:
        raise StaleWorkerCodeError(
            f"task {task.label or task.key} ({task.kind}): computed by a worker running other "
            f"code (fingerprint {fingerprint}) than this process ({expected}); restart the "
            "Dask workers so that they import the current code, then rerun (finished tasks "
            "are stored)"
        )
    return value


class Progress:
    """Progress lines on stderr: ``[done/total] label (seconds)``."""

    def __init__(self, total: int, what: str, stream=None, enabled: bool = True):
        self.total, self.what, self.done = total, what, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.start = time.perf_counter()

    def step(self, label: str, cached: bool = False) -> None:
        self.done += 1
        if self.enabled:
            how = "cached" if cached else f"{time.perf_counter() - self.start:.1f} s"
            print(f"[{self.what} {self.done}/{self.total}] {label} ({how})", file=self.stream)
            self.stream.flush()


def default_workers() -> int:
    """Worker processes for a local run: the usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def run_tasks(
    tasks: list[Task],
    store: ResultStore,
    workers: int | None = None,
    what: str = "tasks",
    progress: bool = True,
    client: Any = None,
) -> list[Any]:
    """Results of all tasks, in order, computing only those not in the store.

    Parameters
    ----------
    tasks : list of Task
    store : ResultStore
    workers : int, optional
        Local worker processes (default: usable cores); 1 runs in-process.
    what : str
        Name shown in progress lines.
    progress : bool
        Print a line per finished task to stderr.
    client : dask.distributed.Client, optional
        If given, missing tasks are submitted to this client instead (with
        priorities that follow the order of ``tasks``).
    """
    results: list[Any] = [None] * len(tasks)
    bar = Progress(len(tasks), what, enabled=progress)
    missing = []
    for i, task in enumerate(tasks):
        cached = store.get(task.kind, task.key)
        if cached is not None:
            results[i] = cached
            bar.step(task.label, cached=True)
        else:
            missing.append(i)
    if not missing:
        return results
    root, shared = str(store.root), store.shared
    if client is not None:
        from distributed import as_completed as dask_as_completed

        # Dask does not run futures in submission order: priorities keep the task order
        futures = {
            client.submit(
                execute_task,
                root,
                tasks[i],
                shared,
                key=f"{tasks[i].kind}-{tasks[i].key}",
                priority=len(missing) - rank,
            ): i
            for rank, i in enumerate(missing)
        }
        try:
            for fut in dask_as_completed(futures):
                i = futures[fut]
                results[i] = checked_result(tasks[i], fut.result())
                bar.step(tasks[i].label)
        except BaseException:
            client.cancel(list(futures))
            raise
        return results
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(missing) == 1:
        for i in missing:
            results[i] = checked_result(tasks[i], execute_task(root, tasks[i], shared))
            bar.step(tasks[i].label)
        return results
    with ProcessPoolExecutor(max_workers=min(workers, len(missing))) as pool:
        futures = {pool.submit(execute_task, root, tasks[i], shared): i for i in missing}
        try:
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = checked_result(tasks[i], fut.result())
                bar.step(tasks[i].label)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return results


class SchedulerUnreachableError(ConnectionError):
    """The Dask scheduler at the given address did not answer."""


#: seconds to wait for a Dask scheduler given by address (``--scheduler-timeout``)
DEFAULT_SCHEDULER_TIMEOUT = 10.0


def open_client(
    scheduler: str | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_SCHEDULER_TIMEOUT,
):
    """A Dask client for the tasks of one run, or None for in-process execution.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``). If not
        given, a ``LocalCluster`` with ``workers`` single-threaded worker
        processes is started (default: the usable cores); with one worker
        the tasks run in-process and None is returned.
    timeout : float
        Seconds to wait for the scheduler before giving up.

    Raises
    ------
    SchedulerUnreachableError
        If ``scheduler`` does not answer within ``timeout``, naming it.
    """
    if scheduler is None:
        workers = default_workers() if workers is None else workers
        if workers <= 1:
            return None
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        client = Client(cluster)
    else:
        from distributed import Client

        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except ValueError as err:  # a malformed address: bad input (exit 2)
            raise ParameterError("--scheduler", "scheduler", scheduler, str(err)) from None
        except (OSError, TimeoutError) as err:
            raise SchedulerUnreachableError(
                f"--scheduler {scheduler!r}: no Dask scheduler answered within {timeout:g} s "
                f"({err})"
            ) from err
    # Brian2 installs a signal handler when imported, which only works in a
    # process's main thread; Dask runs tasks in worker threads, so a worker
    # plugin imports it on each worker's main thread (event loop) at start-up,
    # also for workers that join or restart later.
    client.register_plugin(_import_plugin(), name="mfval-import-brian2")
    return client


def _import_plugin():
    """Dask worker plugin: import Brian2 in the worker's main thread (see open_client)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class ImportSimulationLibraries(WorkerPlugin):
        def setup(self, worker) -> None:
            import brian2  # noqa: F401

    return ImportSimulationLibraries()


def close_client(client) -> None:
    """Close a client from :func:`open_client` (and its local cluster, if any)."""
    if client is None:
        return
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


@contextmanager
def scheduler_client(scheduler: str | None, timeout: float = DEFAULT_SCHEDULER_TIMEOUT):
    """``with scheduler_client(args.scheduler, args.scheduler_timeout) as client``.

    None (in-process or local worker processes) when no address is given;
    otherwise :func:`open_client` for that address (waiting at most
    ``timeout`` s), closed on exit.
    """
    client = open_client(scheduler, timeout=timeout) if scheduler else None
    try:
        yield client
    finally:
        close_client(client)


def task_seed(run_seed: int, kind: str, mu: float, sigma: float) -> int:
    """Seed of one simulation task, derived from the run seed and the task's identity.

    Independent of the number of workers and of the order of completion, and
    different for different working points (no shared noise realizations).
    """
    return int(stable_hash("seed", int(run_seed), kind, float(mu), float(sigma))[:8], 16)
