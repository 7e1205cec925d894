"""Cluster security: --scheduler addresses, TLS, and the refusal of open tcp:// ports.

- Every address error (malformed, unknown protocol, tls:// without
  certificates, a remote tcp:// address without --insecure) is one line on
  stderr and exit code 3, naming --scheduler and the address, and happens
  before any connection.
- Every subcommand with --scheduler passes --scheduler-timeout, the TLS
  options and --insecure to the client.
- End to end: ``mfval theory`` on a TLS LocalCluster gives the same tables as
  an in-process run. The cluster uses ``Security.temporary()``; its
  in-memory certificate and key are written to files and passed with
  ``--tls-ca-file/--tls-cert/--tls-key`` through the real command line
  (``mfval.cli.main.main``), so the options themselves are tested, not only
  the Python entry ``open_client(..., security=...)``.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

import mfval.tasks as tasks
from mfval.cli.main import main
from mfval.tasks import (
    SchedulerAddressError,
    SchedulerUnreachableError,
    check_scheduler_address,
    is_local_host,
    open_client,
)

GRID = "6:8:2,6:8:2"


class _NoConnect:
    """Stands in for ``distributed.Client``: fails the test if a connection is tried."""

    def __init__(self, *args, **kwargs):
        raise AssertionError(f"Client was created: {args} {kwargs}")


@pytest.fixture
def no_connect(monkeypatch):
    import distributed

    monkeypatch.setattr(distributed, "Client", _NoConnect)


def _theory(tmp_path, *extra: str) -> list[str]:
    return [
        "theory",
        "--grid",
        GRID,
        "--quiet",
        "--cache-dir",
        str(tmp_path / "store"),
        "--out",
        str(tmp_path / "out"),
        *extra,
    ]


@pytest.mark.parametrize(
    "address, words",
    [
        ("tls://127.0.0.1:8786", "tls:// needs --tls-ca-file"),
        ("tcp://127.0.0.1:notaport", "port number"),
        ("foo://x:1", "unknown protocol 'foo'"),
        ("tcp://127.0.0.1:0", "between 1 and 65535"),
        ("tcp://127.0.0.1", "port number"),
        ("tcp://10.255.255.1:8786", "--insecure"),
    ],
)
def test_address_errors_are_one_line_exit_3(address, words, tmp_path, capsys, no_connect):
    start = time.perf_counter()
    code = main(_theory(tmp_path, "--scheduler", address, "--scheduler-timeout", "2"))
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "--scheduler" in lines[0] and address in lines[0] and words in lines[0]
    assert "Traceback" not in err
    assert elapsed < 10  # no connection attempt, no timeout waited
    assert not (tmp_path / "out").exists()


def test_remote_tcp_refused_before_connecting(no_connect):
    start = time.perf_counter()
    with pytest.raises(SchedulerAddressError) as info:
        open_client("tcp://10.255.255.1:8786", timeout=30)
    assert time.perf_counter() - start < 2  # refused, not a 30 s connection timeout
    message = str(info.value)
    assert "--scheduler 'tcp://10.255.255.1:8786'" in message and "--insecure" in message
    assert "tls://" in message and "run code on the workers" in message
    # a subclass: the CLI (and pytest's exit codes) map it like an unreachable scheduler
    assert isinstance(info.value, SchedulerUnreachableError)


def test_insecure_allows_remote_tcp_address_check():
    assert check_scheduler_address("tcp://10.255.255.1:8786", insecure=True) is None


@pytest.mark.parametrize(
    "address", ["tcp://127.0.0.1:8786", "tcp://localhost:8786", "127.0.0.1:8786", "tcp://[::1]:1"]
)
def test_local_tcp_addresses_allowed(address):
    assert check_scheduler_address(address) is None


def test_tcp_refused_when_dask_config_requires_encryption():
    import dask

    with dask.config.set({"distributed.comm.require-encryption": True}):
        with pytest.raises(SchedulerAddressError, match="requires encryption"):
            check_scheduler_address("tcp://127.0.0.1:8786")


def test_local_host_detection():
    import socket

    assert is_local_host("127.0.0.1") and is_local_host("::1") and is_local_host("localhost")
    assert is_local_host(socket.gethostname())
    assert not is_local_host("10.255.255.1")
    assert not is_local_host("no-such-host.invalid")


def test_tls_certificates_with_tcp_address_refused(tmp_path, capsys, no_connect):
    pem = tmp_path / "x.pem"
    pem.write_text("not used\n")
    files = ["--tls-ca-file", str(pem), "--tls-cert", str(pem), "--tls-key", str(pem)]
    code = main(_theory(tmp_path, "--scheduler", "tcp://127.0.0.1:8786", *files))
    err = capsys.readouterr().err
    assert code == 3 and "use tls://" in err and len(err.strip().splitlines()) == 1


def test_missing_tls_file_is_bad_input(tmp_path, capsys, no_connect):
    code = main(
        _theory(tmp_path, "--scheduler", "tls://127.0.0.1:8786", "--tls-ca-file", "/nonexistent")
    )
    err = capsys.readouterr().err
    assert code == 2 and "--tls-ca-file" in err and "/nonexistent" in err


SUBCOMMAND_ARGS = {
    "theory": [],
    "simulate": ["--point", "10,10"],
    "transfer": ["--point", "10,10"],
    "sweep": [],
    "run": ["--quick"],
    "calibrate": [],
}


@pytest.mark.parametrize("command", sorted(SUBCOMMAND_ARGS))
def test_every_subcommand_passes_timeout_and_security(command, tmp_path, monkeypatch, capsys):
    """``--scheduler-timeout`` (ignored by ``sweep`` before) and ``--insecure`` reach Client."""
    import distributed

    seen = {}

    class Recorder:
        def __init__(self, address, timeout=None, security=None, **kwargs):
            seen.update(address=address, timeout=timeout, security=security)
            raise OSError("recorded, not connected")

    monkeypatch.setattr(distributed, "Client", Recorder)
    argv = [
        command,
        *SUBCOMMAND_ARGS[command],
        "--scheduler",
        "tcp://10.255.255.1:8786",
        "--insecure",
        "--scheduler-timeout",
        "1.5",
        "--cache-dir",
        str(tmp_path / "store"),
        "--out",
        str(tmp_path / "out"),
    ]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 3, err
    assert seen == {"address": "tcp://10.255.255.1:8786", "timeout": "1.5s", "security": None}
    assert "within 1.5 s" in err


def test_tls_cluster_theory_equals_in_process(tmp_path, capsys):
    """``mfval theory --scheduler tls://... --tls-*`` on a TLS LocalCluster = in-process run."""
    pytest.importorskip("cryptography")
    from distributed import LocalCluster, Security

    security = Security.temporary()
    files = {}
    for option, content in (
        ("--tls-ca-file", security.tls_ca_file),
        ("--tls-cert", security.tls_client_cert),
        ("--tls-key", security.tls_client_key),
    ):
        path = tmp_path / f"{option.strip('-')}.pem"
        path.write_text(content)
        path.chmod(0o600)
        files[option] = str(path)
    tls_args = [x for item in files.items() for x in item]
    local_dir, cluster_dir = tmp_path / "local", tmp_path / "cluster"
    assert main(_theory(local_dir, "--workers", "1")) == 0
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        security=security,
        protocol="tls://",
        dashboard_address=None,
        silence_logs=40,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        # without certificates: refused before connecting
        assert main(_theory(cluster_dir, "--scheduler", address)) == 3
        assert main(_theory(cluster_dir, "--scheduler", address, *tls_args)) == 0
        # the tasks ran on the cluster's worker: its store holds the entries
        assert list((cluster_dir / "store" / "theory").glob("*.pkl"))
        # a certificate of another CA is refused by the scheduler: one line, exit 3
        rogue = Security.temporary()
        (tmp_path / "rogue-cert.pem").write_text(rogue.tls_client_cert)
        (tmp_path / "rogue-key.pem").write_text(rogue.tls_client_key)
        rogue_args = [
            *("--tls-ca-file", files["--tls-ca-file"]),
            *("--tls-cert", str(tmp_path / "rogue-cert.pem")),
            *("--tls-key", str(tmp_path / "rogue-key.pem")),
            *("--scheduler-timeout", "5"),
        ]
        capsys.readouterr()
        assert main(_theory(tmp_path / "rogue", "--scheduler", address, *rogue_args)) == 3
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "TLS handshake failed" in err, err
    for name in ("theory_scan.csv", "theory_transfer_functions.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(cluster_dir / "out" / name), pd.read_csv(local_dir / "out" / name)
        )


def test_tls_open_client_with_security_object(tmp_path):
    """The Python entry: ``open_client(address, security=Security.temporary())``."""
    pytest.importorskip("cryptography")
    from distributed import LocalCluster, Security

    security = Security.temporary()
    with LocalCluster(
        n_workers=1,
        processes=False,
        security=security,
        protocol="tls://",
        dashboard_address=None,
        silence_logs=40,
    ) as cluster:
        client = open_client(cluster.scheduler_address, timeout=20, security=security)
        try:
            assert client.submit(sum, [1, 2]).result() == 3
        finally:
            tasks.close_client(client)
