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
from mfval.config import stable_hash
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
    _store.set_active_root(store.root)  # Brian2's build cache follows the store (--cache-dir)
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


class SchedulerAddressError(SchedulerUnreachableError):
    """The ``--scheduler`` address is malformed, of an unknown protocol, or refused.

    Refused: a ``tls://`` address without certificates, TLS certificates
    with a ``tcp://`` address, or a plain ``tcp://`` address of another
    host without ``insecure`` (see :func:`check_scheduler_address`). Raised
    before any connection is attempted.
    """


#: seconds to wait for a Dask scheduler given by address (``--scheduler-timeout``)
DEFAULT_SCHEDULER_TIMEOUT = 10.0

#: protocols accepted in ``--scheduler`` addresses
SCHEDULER_PROTOCOLS = ("tcp", "tls")

INSECURE_HINT = (
    "plain tcp:// is unauthenticated and unencrypted: anyone who reaches that port can run "
    "code on the workers (and read or write the results store); use a tls:// address with "
    "--tls-ca-file/--tls-cert/--tls-key, or pass --insecure if this network is trusted"
)


def _local_addresses() -> set[str]:
    """IP addresses of this host: its interfaces and what its own names resolve to."""
    import ipaddress
    import socket

    found: set[str] = set()
    try:
        import psutil  # a dependency of distributed

        for addrs in psutil.net_if_addrs().values():
            inet = (socket.AF_INET, socket.AF_INET6)
            found.update(a.address.split("%")[0] for a in addrs if a.family in inet)
    except Exception:  # pragma: no cover - psutil missing or unusable
        pass
    for name in {socket.gethostname(), socket.getfqdn()}:
        try:
            found.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:
            pass
    out = set()
    for a in found:
        try:
            out.add(str(ipaddress.ip_address(a)))
        except ValueError:
            continue
    return out


def is_local_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) is this machine.

    True for loopback addresses, ``localhost`` and this host's own names and
    addresses. A name is resolved (DNS) and must resolve to local addresses
    only; a name that does not resolve is not local. No connection is made.

    Examples
    --------
    >>> is_local_host("127.0.0.1"), is_local_host("localhost")
    (True, True)
    """
    import ipaddress
    import socket

    host = host.strip("[]")
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        addresses = {ipaddress.ip_address(host.split("%")[0])}
    except ValueError:
        if host.lower() in {socket.gethostname().lower(), socket.getfqdn().lower()}:
            return True
        try:
            addresses = {
                ipaddress.ip_address(str(info[4][0]).split("%")[0])
                for info in socket.getaddrinfo(host, None)
            }
        except (OSError, ValueError):
            return False
    if not addresses:
        return False
    if all(a.is_loopback for a in addresses):
        return True
    local = _local_addresses()
    return all(a.is_loopback or str(a) in local for a in addresses)


def _has_tls(security) -> bool:
    """Whether a ``distributed.Security`` has what a client needs for TLS."""
    return bool(
        security is not None
        and security.tls_ca_file
        and security.tls_client_cert
        and (security.tls_client_key or "PRIVATE KEY" in str(security.tls_client_cert))
    )


def check_scheduler_address(address: str, security=None, insecure: bool = False):
    """Validate a ``--scheduler`` address before connecting; return the Security to use.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` or ``tls://HOST:PORT`` (no protocol: tcp).
    security : distributed.Security, optional
        TLS settings; default ``distributed.Security()``, which reads Dask's
        configuration ``distributed.comm.tls.*``.
    insecure : bool
        Allow a plain ``tcp://`` address of another host.

    Returns
    -------
    distributed.Security or None
        The security object for ``Client`` (None for a plain tcp address).

    Raises
    ------
    SchedulerAddressError
        A malformed address (no or a bad port), an unknown protocol, a
        ``tls://`` address without CA file, certificate and key, TLS
        certificates given for a ``tcp://`` address, or a ``tcp://`` address
        that is not this host without ``insecure``. One line, naming
        ``--scheduler`` and the address.
    """
    from distributed import Security
    from distributed.comm.addressing import parse_address, parse_host_port

    def fail(why: str) -> SchedulerAddressError:
        return SchedulerAddressError(f"--scheduler {address!r}: {why}")

    try:
        scheme, location = parse_address(str(address))
    except ValueError as err:
        raise fail(f"not an address ({err}); expected tls://HOST:PORT or tcp://HOST:PORT") from None
    if scheme not in SCHEDULER_PROTOCOLS:
        raise fail(f"unknown protocol {scheme!r}; expected tls://HOST:PORT or tcp://HOST:PORT")
    try:
        host, port = parse_host_port(location)
    except ValueError:
        raise fail("expected HOST:PORT with a port number, e.g. tls://HOST:8786") from None
    if not host or any(c.isspace() for c in host):
        raise fail("missing or invalid host name")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise fail(f"port {port} is not between 1 and 65535")
    explicit = security is not None
    security = Security() if security is None else security
    if scheme == "tls":
        if not _has_tls(security):
            raise fail(
                "tls:// needs --tls-ca-file, --tls-cert and --tls-key (or Dask's configuration "
                "distributed.comm.tls.ca-file and distributed.comm.tls.client.cert/key)"
            )
        return security
    if explicit and _has_tls(security):
        raise fail("TLS certificates were given but the address is tcp://; use tls://HOST:PORT")
    if security.require_encryption:
        raise fail(
            "Dask's configuration requires encryption (distributed.comm.require-encryption); "
            "use tls://HOST:PORT"
        )
    if not insecure and not is_local_host(host):
        raise fail(f"refused: {host} is not this host, and {INSECURE_HINT}")
    return None


def open_client(
    scheduler: str | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_SCHEDULER_TIMEOUT,
    security=None,
    insecure: bool = False,
):
    """A Dask client for the tasks of one run, or None for in-process execution.

    Parameters
    ----------
    scheduler : str, optional
        Address of an existing Dask scheduler (``tls://host:8786``, or
        ``tcp://host:8786``). If not given, a ``LocalCluster`` with
        ``workers`` single-threaded worker processes is started (default:
        the usable cores); with one worker the tasks run in-process and
        None is returned.
    timeout : float
        Seconds to wait for the scheduler before giving up.
    security : distributed.Security, optional
        TLS settings for a ``tls://`` scheduler (default: Dask's
        configuration, ``distributed.comm.tls.*``).
    insecure : bool
        Allow a plain ``tcp://`` scheduler on another host (see
        :func:`check_scheduler_address`).

    Raises
    ------
    SchedulerAddressError
        If the address is malformed or refused (before connecting).
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

        security = check_scheduler_address(scheduler, security, insecure)
        try:
            client = Client(scheduler, timeout=f"{timeout}s", security=security)
        except ValueError as err:  # a malformed address that the check let through
            raise SchedulerAddressError(f"--scheduler {scheduler!r}: {_one_line(err)}") from None
        except (OSError, TimeoutError) as err:
            if "SSL" in str(err) or _caused_by_ssl(err):
                raise SchedulerUnreachableError(
                    f"--scheduler {scheduler!r}: the TLS handshake failed (are the "
                    f"certificates signed by the cluster's CA?) ({_one_line(err)})"
                ) from err
            raise SchedulerUnreachableError(
                f"--scheduler {scheduler!r}: no Dask scheduler answered within {timeout:g} s "
                f"({_one_line(err)})"
            ) from err
    # Brian2 installs a signal handler when imported, which only works in a
    # process's main thread; Dask runs tasks in worker threads, so a worker
    # plugin imports it on each worker's main thread (event loop) at start-up,
    # also for workers that join or restart later.
    client.register_plugin(_import_plugin(), name="mfval-import-brian2")
    return client


def _caused_by_ssl(err: BaseException | None) -> bool:
    import ssl

    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, ssl.SSLError):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


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
def scheduler_client(
    scheduler: str | None,
    timeout: float = DEFAULT_SCHEDULER_TIMEOUT,
    security=None,
    insecure: bool = False,
):
    """``with scheduler_client(args.scheduler, args.scheduler_timeout) as client``.

    None (in-process or local worker processes) when no address is given;
    otherwise :func:`open_client` for that address (waiting at most
    ``timeout`` s; ``security`` and ``insecure`` as there), closed on exit.
    """
    client = (
        open_client(scheduler, timeout=timeout, security=security, insecure=insecure)
        if scheduler
        else None
    )
    try:
        yield client
    finally:
        close_client(client)


def task_seed(run_seed: int, kind: str, mu: float, sigma: float) -> int:
    """Seed of one simulation task, derived from the run seed and the task's identity.

    Independent of the number of workers and of the order of completion, and
    different for different working points (no shared noise realizations).

    Examples
    --------
    >>> task_seed(12345, "network", 0.01, 0.01)
    262201211
    >>> task_seed(12345, "network", 0.01, 0.01) != task_seed(12345, "transfer", 0.01, 0.01)
    True
    """
    return int(stable_hash("seed", int(run_seed), kind, float(mu), float(sigma))[:8], 16)
