"""The results store is safe to share: it runs no foreign code and serves no stale results.

- Entries are authenticated (HMAC-SHA256 with a per-store key) before any
  unpickling: a crafted entry with a valid header runs nothing.
- An entry that verifies but fails to unpickle is removed and recomputed.
- ``kind`` and ``key`` cannot leave the store's folder (``--kind ../x``: exit 2).
- New folders are 0o700 and files 0o600 (0o2770/0o660/0o640 for a group store).
- ``cache clear`` keeps another writer's in-flight temporary file.
- A Dask worker that runs other code than the client has its result rejected.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import time

import pytest

import mfval.store as store_module
from mfval.config import ParameterError
from mfval.store import ResultStore
from tests import store_tasks


class _CreatesMarker:
    """A payload that creates a file when unpickled (stands for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _key_file(root):
    return root / store_module.KEY_FILE


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


# --- authentication ---------------------------------------------------------------------------


def test_crafted_entry_with_valid_header_runs_nothing(tmp_path):
    store = ResultStore(tmp_path / "store")
    store.put("kind", "good", 1)
    marker = tmp_path / "marker"
    payload = pickle.dumps(_CreatesMarker(marker))
    path = store.path("kind", "k")
    # the header of an entry of the old format: magic and an unkeyed sha256 of the payload
    path.write_bytes(store_module.MAGIC + hashlib.sha256(payload).digest() + payload)
    assert store.get("kind", "k") is None
    assert not marker.exists()  # nothing was unpickled
    assert not path.exists()  # removed, so it is recomputed
    assert store.get_or_compute("kind", "k", lambda: 7) == (7, False)
    assert store.get("kind", "good") == 1


def test_entry_of_another_key_or_store_is_refused(tmp_path):
    """A valid entry copied to another key's name, or from another store, does not verify."""
    store = ResultStore(tmp_path / "a")
    source = store.put("kind", "one", 1)
    target = store.path("kind", "two")
    target.write_bytes(source.read_bytes())
    assert store.get("kind", "two") is None and not target.exists()
    other = ResultStore(tmp_path / "b")
    other.path("kind", "one").parent.mkdir(parents=True)
    other.put("kind", "zero", 0)  # creates the other store's own key
    other.path("kind", "one").write_bytes(source.read_bytes())
    assert other.get("kind", "one") is None
    assert store.get("kind", "one") == 1


def test_old_format_entries_are_missing(tmp_path):
    store = ResultStore(tmp_path)
    path = store.put("kind", "k", 1)
    payload = pickle.dumps(2)
    path.write_bytes(b"MFVAL1\n" + hashlib.sha256(payload).digest() + payload)
    assert store.get("kind", "k") is None and not path.exists()
    assert store_module.MAGIC != b"MFVAL1\n"


@pytest.mark.parametrize(
    "exc_type", [ModuleNotFoundError, AttributeError, EOFError, pickle.UnpicklingError, ValueError]
)
def test_entry_that_fails_to_unpickle_is_recomputed(tmp_path, exc_type, capsys):
    store = ResultStore(tmp_path)
    path = store.put("kind", "k", store_tasks.RaisesOnLoad(exc_type))
    assert store.get("kind", "k") is None
    assert not path.exists()
    assert store.get_or_compute("kind", "k", lambda: 3) == (3, False)
    assert store.get("kind", "k") == 3
    assert "removed" in capsys.readouterr().err


def test_entry_of_a_renamed_class_is_recomputed(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    store.put("kind", "k", store_tasks.Renamed())
    monkeypatch.delattr(store_tasks, "Renamed")
    assert store.get_or_compute("kind", "k", lambda: "new") == ("new", False)


def test_key_file_is_created_once_and_shared(tmp_path, umask022):
    a, b = ResultStore(tmp_path), ResultStore(tmp_path)
    a.put("kind", "k", 1)
    key = _key_file(tmp_path)
    assert key.stat().st_size == 32 and _mode(key) == 0o600
    before = key.read_bytes()
    assert b.get("kind", "k") == 1
    b.put("kind", "k2", 2)
    assert key.read_bytes() == before
    copy = pickle.loads(pickle.dumps(b))
    assert before not in pickle.dumps(b)  # the key never travels with a pickled store
    assert copy.get("kind", "k2") == 2


def test_group_readable_key_file_is_refused(tmp_path):
    ResultStore(tmp_path).put("kind", "k", 1)
    _key_file(tmp_path).chmod(0o644)
    with pytest.raises(ParameterError, match="key"):
        ResultStore(tmp_path).get("kind", "k")
    with pytest.raises(ParameterError, match="key"):
        ResultStore(tmp_path).put("kind", "k", 2)
    _key_file(tmp_path).chmod(0o640)
    assert ResultStore(tmp_path, shared="group").get("kind", "k") == 1  # a group store allows it
    _key_file(tmp_path).chmod(0o604)
    with pytest.raises(ParameterError, match="key"):
        ResultStore(tmp_path, shared="group").get("kind", "k")


# --- paths stay inside ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../x", "..", "a/b", "/etc", "", ".hidden", "a..b", "x\n"])
def test_kind_and_key_are_validated(tmp_path, bad):
    store = ResultStore(tmp_path / "store")
    with pytest.raises(ParameterError):
        store.path(bad, "k")
    with pytest.raises(ParameterError):
        store.path("kind", bad)
    with pytest.raises(ParameterError):
        store.get(bad, "k")
    with pytest.raises(ParameterError):
        store.put("kind", bad, 1)
    with pytest.raises(ParameterError):
        store.clear(bad)
    with pytest.raises(ParameterError):
        store.info(bad)


def test_cache_clear_refuses_kind_outside_the_store(tmp_path, capsys):
    from mfval.cli.main import main

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.pkl").write_text("keep")
    store_dir = tmp_path / "store"
    ResultStore(store_dir).put("kind", "k", 1)
    rc = main(["cache", "clear", "--cache-dir", str(store_dir), "--kind", "../outside"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "--kind" in err and "../outside" in err
    assert (outside / "precious.pkl").exists()
    assert ResultStore(store_dir).get("kind", "k") == 1
    assert main(["cache", "info", "--cache-dir", str(store_dir), "--kind", "../outside"]) == 2


# --- permissions ------------------------------------------------------------------------------


def test_new_store_is_private(tmp_path, umask022, monkeypatch):
    monkeypatch.delenv("MFVAL_STORE_SHARED", raising=False)
    root = tmp_path / "cache" / "store"
    entry = ResultStore(root).put("kind", "k", 1)
    assert _mode(root) == 0o700
    assert _mode(root / "kind") == 0o700
    assert _mode(entry) == 0o600
    assert _mode(_key_file(root)) == 0o600


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_group_shared_store(tmp_path, umask022, monkeypatch, how):
    if how == "argument":
        store = ResultStore(tmp_path / "store", shared="group")
    else:
        monkeypatch.setenv("MFVAL_STORE_SHARED", "group")
        store = ResultStore(tmp_path / "store")
    entry = store.put("kind", "k", 1)
    root = tmp_path / "store"
    for folder in (root, root / "kind"):
        assert _mode(folder) == 0o2770
    assert _mode(entry) == 0o660
    assert _mode(_key_file(root)) == 0o640
    assert store.get("kind", "k") == 1


def test_unknown_sharing_mode_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MFVAL_STORE_SHARED", "world")
    with pytest.raises(ParameterError, match="MFVAL_STORE_SHARED"):
        ResultStore(tmp_path)


# --- clear ------------------------------------------------------------------------------------


def test_clear_keeps_in_flight_temporary_files(tmp_path):
    store = ResultStore(tmp_path)
    store.put("kind", "k", 1)
    live = tmp_path / "kind" / ".k.live.tmp"  # another process is writing it right now
    live.write_bytes(b"partial")
    abandoned = tmp_path / "kind" / ".k.dead.tmp"
    abandoned.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(abandoned, (old, old))
    assert store.clear() == 1
    assert live.exists()
    assert not abandoned.exists()


# --- stale results from workers ---------------------------------------------------------------


def test_worker_with_other_code_is_rejected(tmp_path, monkeypatch):
    from distributed import Client, LocalCluster

    from mfval.tasks import Task, run_tasks

    store = ResultStore(tmp_path)
    task = Task(kind="kind", key="k", func=store_tasks.double, kwargs={"x": 21}, label="t")
    cluster = LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    try:
        assert run_tasks([task], store, progress=False, client=client) == [42]
        # the client's code changes; the long-lived worker keeps the code it imported
        store_module.code_fingerprint.cache_clear()
        monkeypatch.setattr(store_module, "code_fingerprint", lambda kind: "f" * 12)
        with pytest.raises(Exception, match="fingerprint|other code|restart"):
            run_tasks([task], store, progress=False, client=client)
        assert store.get("kind", "k") is None  # nothing stored under the client's code
    finally:
        client.close()
        cluster.close()


def test_in_process_results_carry_the_fingerprint(tmp_path):
    from mfval.tasks import Task, execute_task

    task = Task(kind="kind", key="k", func=store_tasks.double, kwargs={"x": 1})
    fingerprint, value = execute_task(str(tmp_path), task)
    assert (fingerprint, value) == (store_module.code_fingerprint("kind"), 2)
