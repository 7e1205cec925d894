"""Brian2's build cache: follows --cache-dir (also on workers), cleared by ``mfval cache clear``,
and keyed by the build environment (compiler, flags, machine), never the results' keys."""

from __future__ import annotations

import fcntl

import pytest

import mfval.simulation.model.device as device
import mfval.store as store_module
from mfval.cli.main import main
from mfval.store import ResultStore
from mfval.tasks import Task, close_client, execute_task, run_tasks
from tests.store_tasks import brian_cache_dir_here


@pytest.fixture(autouse=True)
def no_env_override(monkeypatch):
    monkeypatch.delenv("MFVAL_BRIAN_CACHE", raising=False)
    monkeypatch.setattr(store_module, "_ACTIVE_ROOT", None)


def _probe() -> Task:
    return Task(kind="probe", key="brian-dir", func=brian_cache_dir_here)


def test_brian_cache_follows_store_root_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("MFVAL_CACHE_DIR", str(tmp_path / "default"))
    assert device.brian_cache_dir() == tmp_path / "default" / "brian2"
    root = tmp_path / "given"
    _, seen = execute_task(str(root), _probe())
    assert seen == str(root / "brian2")
    assert device.brian_cache_dir() == root / "brian2"


def test_brian_cache_env_override_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MFVAL_BRIAN_CACHE", str(tmp_path / "node-local"))
    _, seen = execute_task(str(tmp_path / "store"), _probe())
    assert seen == str(tmp_path / "node-local")


def test_brian_cache_follows_store_root_on_dask_worker(tmp_path, monkeypatch):
    """A worker process (other environment) uses the client's store root."""
    from distributed import Client, LocalCluster

    monkeypatch.setenv("MFVAL_CACHE_DIR", str(tmp_path / "client-default"))
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        client = Client(cluster)
        try:
            root = tmp_path / "shared-store"
            [seen] = run_tasks([_probe()], ResultStore(root), progress=False, client=client)
        finally:
            close_client(client)
    assert seen == str(root / "brian2")


def _fake_cache(root):
    """A Brian2 cache with one item of each kind, plus a Cython slot in use."""
    brian = root / "brian2"
    for folder in (
        "cython/slot-0",
        "cython/slot-1",
        "standalone/proc-1-aaaa",
        "standalone/proc-2-bbbb/x",
        "standalone_templates/key1",
    ):
        (brian / folder).mkdir(parents=True)
        (brian / folder / "obj.o").write_bytes(b"\0" * 100)
    for lock in (
        "cython/slot-0.lock",
        "cython/slot-1.lock",
        "standalone/proc-1-aaaa.lock",
        "standalone/proc-2-bbbb.lock",
        "standalone_templates/.key1.lock",
    ):
        (brian / lock).touch()
    return brian


def test_cache_clear_removes_brian_cache_but_not_in_use(tmp_path, capsys):
    root = tmp_path / "store"
    ResultStore(root).put("theory", "k1", 1)
    brian = _fake_cache(root)
    # another process holds slot-1 and its standalone folder (flock is per open file)
    held = [
        open(brian / "cython/slot-1.lock", "a"),
        open(brian / "standalone/proc-2-bbbb.lock", "a"),
    ]
    for handle in held:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        assert main(["cache", "info", "--cache-dir", str(root)]) == 0
        out = capsys.readouterr().out
        assert f"Brian2 build cache: {brian}" in out and "brian2 " not in out.split("Brian2")[0]
        assert main(["cache", "clear", "--cache-dir", str(root)]) == 0
        out = capsys.readouterr().out
    finally:
        for handle in held:
            handle.close()
    assert "removed 1 entries" in out and "kept 2 in use" in out
    assert (
        not (brian / "cython/slot-0").exists() and not (brian / "standalone/proc-1-aaaa").exists()
    )
    assert not (brian / "standalone_templates/key1").exists()
    assert (brian / "cython/slot-1/obj.o").exists() and (
        brian / "standalone/proc-2-bbbb/x"
    ).exists()
    # once released, a second clear removes the rest
    assert main(["cache", "clear", "--cache-dir", str(root)]) == 0
    assert (
        not (brian / "cython/slot-1").exists() and not (brian / "standalone/proc-2-bbbb").exists()
    )


def test_cache_clear_with_kind_keeps_brian_cache(tmp_path):
    root = tmp_path / "store"
    brian = _fake_cache(root)
    assert main(["cache", "clear", "--kind", "theory", "--cache-dir", str(root)]) == 0
    assert (brian / "standalone_templates/key1/obj.o").exists()


def test_template_key_follows_flags_and_machine(monkeypatch):
    import platform

    from brian2 import prefs

    key = "0123456789abcdef" * 4
    base = device.template_key(key)
    assert device.template_key(key) == base  # deterministic
    assert device.template_key("f" * 64) != base
    assert base.startswith(key[:16])

    old = prefs["codegen.cpp.extra_compile_args"]
    try:
        prefs["codegen.cpp.extra_compile_args"] = ["-O2"]  # e.g. no -march=native
        assert device.template_key(key) != base
    finally:
        prefs["codegen.cpp.extra_compile_args"] = old
    assert device.template_key(key) == base

    with monkeypatch.context() as m:
        m.setattr(platform, "machine", lambda: "aarch64")
        assert device.template_key(key) != base
    with monkeypatch.context() as m:
        m.setattr(device, "cpu_signature", lambda: "another-cpu")
        assert device.template_key(key) != base
    with monkeypatch.context() as m:
        m.setenv("CXXFLAGS", "-mavx512f")
        assert device.template_key(key) != base
    with monkeypatch.context() as m:
        m.setattr(device, "_compiler_version", lambda command: "g++ 99.0")
        assert device.template_key(key) != base


def test_cpu_signature_is_stable():
    assert device.cpu_signature() == device.cpu_signature()


def test_results_keys_ignore_build_environment(params, monkeypatch):
    """The build environment is a build-cache key only: store keys do not change with it."""
    import platform

    from mfval.comparison.pipeline import default_settings, simulation_tasks

    settings = default_settings(params)

    def keys():
        net, tr = simulation_tasks(params, settings)
        return [(t.kind, t.key) for t in net + tr]

    before = keys()
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(device, "cpu_signature", lambda: "another-cpu")
    monkeypatch.setenv("CXXFLAGS", "-O0")
    assert keys() == before
