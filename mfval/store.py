"""A content-addressed results store on disk, safe for concurrent processes and to share.

One entry per task, keyed by a hash of everything that affects the result.
Entries are written atomically (temporary file in the same folder, then
``os.replace``), so a reader never sees a half-written entry.

The store's folder is, in order: the ``cache_dir`` argument (``--cache-dir``
on the command line), the environment variable ``MFVAL_CACHE_DIR``, or
``$XDG_CACHE_HOME/mfval`` (default ``~/.cache/mfval``).

Authentication. An entry is a pickle, and unpickling runs code, so an entry
is unpickled only after its HMAC-SHA256 verifies. The HMAC is keyed by the
store's secret key, 32 random bytes in the file :data:`KEY_FILE` at the
store's root (created once, atomically, by the first process that writes),
and covers the entry's kind, file name (key and code fingerprint) and
payload: an entry written by someone who does not know the key, or copied
to another key's name, never verifies. A key file that is readable by
others than its owner, or owned by another user, is refused (a
:class:`mfval.config.ParameterError`) unless the store is group-shared.

Never fatal. An entry that is truncated, corrupt, of an older format (its
magic is not :data:`MAGIC`), fails to verify, or verifies but fails to
unpickle (e.g. a class that was renamed since) is removed and reported as
missing, so :meth:`ResultStore.get_or_compute` recomputes it; a warning
line goes to stderr (not for older formats).

Paths stay inside. ``kind`` and ``key`` are single path components that
match :data:`NAME_PATTERN` (no ``/``, no ``..``, no leading dot);
anything else is refused with a :class:`mfval.config.ParameterError`.

Permissions. By default a store is private: the folders it creates (its
root and one folder per kind) are 0o700, entries and the key file 0o600. A
group-shared store, chosen with ``ResultStore(shared="group")`` or the
environment variable ``MFVAL_STORE_SHARED=group``, creates its folders
0o2770 (setgid, so everything inside keeps the folder's group), entries
0o660 and the key file 0o640: every member of the group can read, write
and authenticate entries, so share a store only with a group you trust.
``MFVAL_STORE_SHARED=private`` (or unset) is the default. Folders that
already exist keep their mode.

Code fingerprint. A task's key hashes its parameters, seed and library
versions; the store adds a fingerprint of the *source code* that computes
the entry, so that an edited simulation or theory never reuses a stale
result. The fingerprint of a kind is a sha256 over the relative paths and
bytes of every ``*.py`` file of the packages in :data:`CODE_PACKAGES`
(``theory``, ``spatial_theory`` and ``spatial_onset`` entries: ``theory/``;
``network`` and ``transfer`` entries: ``theory/`` and ``simulation/``, which
holds the specs, backends and
measurements; an unknown kind: both). The granularity is the package: any
edit of any file of those packages (a docstring included) recomputes the
entries of that kind. This over-invalidates on purpose: a finer,
import-graph-based fingerprint could miss code reached through a dynamic
import or a NEST backend chosen at run time. The entry's file name is
``<key>-<fingerprint>.pkl``; entries of older code stay on disk until
``mfval cache clear`` (``mfval cache info`` counts them as stale). Results
computed by Dask workers carry the fingerprint of the worker's code, and
:func:`mfval.tasks.run_tasks` rejects one that differs from the client's.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib.util
import os
import pickle
import re
import secrets
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mfval.config import ParameterError

MAGIC = b"MFVAL2\n"
_OLD_MAGIC_PREFIX = b"MFVAL"
_DIGEST_LEN = 32
#: file of the store's secret key, at the store's root
KEY_FILE = ".mfval-key"
_KEY_LEN = 32
#: ``kind`` and ``key``: one path component, not hidden (no ``..`` anywhere either)
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
#: sharing mode -> (folder mode, entry mode, key file mode)
SHARING_MODES: dict[str, tuple[int, int, int]] = {
    "private": (0o700, 0o600, 0o600),
    "group": (0o2770, 0o660, 0o640),
}
#: temporary files of ``put`` older than this (seconds, by mtime) are abandoned
STALE_TMP_AGE = 3600.0


#: kind of entry -> packages whose source code computes it (see module docstring)
CODE_PACKAGES: dict[str, tuple[str, ...]] = {
    "theory": ("mfval.theory",),
    "spatial_theory": ("mfval.theory",),
    "spatial_onset": ("mfval.theory",),
    "network": ("mfval.theory", "mfval.simulation"),
    "transfer": ("mfval.theory", "mfval.simulation"),
}
#: packages of a kind not listed in :data:`CODE_PACKAGES`
DEFAULT_CODE_PACKAGES: tuple[str, ...] = ("mfval.theory", "mfval.simulation")
_FINGERPRINT_LEN = 12


def package_dir(package: str) -> Path:
    """Folder of an importable package (without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} not found for the code fingerprint")
    return Path(next(iter(spec.submodule_search_locations)))


def source_fingerprint(folders: list[Path] | tuple[Path, ...]) -> str:
    """sha256 (12 hex) over the relative path and bytes of every ``*.py`` below ``folders``.

    Caches and compiled files (``__pycache__``) do not enter; the order of
    the folders and files does not matter.
    """
    digest = hashlib.sha256()
    items = []
    for folder in folders:
        folder = Path(folder)
        for f in folder.rglob("*.py"):
            if "__pycache__" in f.parts:
                continue
            items.append((f"{folder.name}/{f.relative_to(folder).as_posix()}", f))
    for name, f in sorted(items):
        digest.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:_FINGERPRINT_LEN]


@functools.cache
def code_fingerprint(kind: str) -> str:
    """Fingerprint of the source code that computes entries of ``kind`` (read once per process)."""
    packages = CODE_PACKAGES.get(kind, DEFAULT_CODE_PACKAGES)
    return source_fingerprint([package_dir(p) for p in packages])


def file_mode() -> int:
    """Mode of a newly created output file: ``0o666 & ~umask`` (reads the umask safely)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:  # pragma: no cover - not Linux
        pass
    umask = os.umask(0o022)  # pragma: no cover
    os.umask(umask)  # pragma: no cover
    return 0o666 & ~umask  # pragma: no cover


def default_cache_dir() -> Path:
    """The store's folder when none is given (see module docstring)."""
    env = os.environ.get("MFVAL_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "mfval"


#: folder of Brian2's compiled code inside a store's root (not a kind of entries)
BRIAN_SUBDIR = "brian2"

_ACTIVE_ROOT: Path | None = None


def set_active_root(root: str | Path | None) -> None:
    """Record the root of the results store whose tasks this process computes.

    Called by :func:`mfval.tasks.execute_task` (in the client's process and
    in every worker, with the root the client passed), so that per-store
    folders such as Brian2's build cache (``<root>/brian2``, see
    :func:`mfval.simulation.model.device.brian_cache_dir`) follow
    ``--cache-dir`` on every worker. None: back to :func:`default_cache_dir`.
    """
    global _ACTIVE_ROOT
    _ACTIVE_ROOT = None if root is None else Path(root)


def active_root() -> Path:
    """The root recorded by :func:`set_active_root`, else :func:`default_cache_dir`."""
    return _ACTIVE_ROOT if _ACTIVE_ROOT is not None else default_cache_dir()


def check_name(what: str, value: Any, source: str = "results store") -> str:
    """Return ``value`` if it is a safe ``kind`` or ``key`` (one path component).

    Parameters
    ----------
    what : str
        ``"kind"`` or ``"key"`` (named in the error).
    value : str
        The name to check against :data:`NAME_PATTERN`.
    source : str
        Where the value comes from (e.g. ``"--kind"``), named in the error.

    Raises
    ------
    mfval.config.ParameterError
        If ``value`` could name a path outside its folder (``/``, ``..``),
        a hidden file, or is empty or too long.

    Examples
    --------
    >>> check_name("kind", "network")
    'network'
    >>> check_name("key", "../etc")
    Traceback (most recent call last):
    ...
    mfval.config.ParameterError: results store: parameter 'key' = '../etc': ...
    """
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value) or ".." in value:
        raise ParameterError(
            source,
            what,
            value,
            "must be letters, digits, '_', '.' or '-' (at most 128, not starting with '.' "
            "or '-', no '..' or '/'): it names a folder or file inside the results store",
        )
    return value


def sharing_mode(shared: str | None = None) -> str:
    """``"private"`` or ``"group"``: the argument, else ``$MFVAL_STORE_SHARED``, else private.

    Examples
    --------
    >>> sharing_mode("group")
    'group'
    """
    source = "ResultStore(shared=...)"
    if shared is None:
        shared, source = os.environ.get("MFVAL_STORE_SHARED", ""), "MFVAL_STORE_SHARED"
    shared = shared.strip().lower() or "private"
    if shared not in SHARING_MODES:
        raise ParameterError(
            source, "shared", shared, f"must be one of {sorted(SHARING_MODES)} (default private)"
        )
    return shared


def _warn(message: str) -> None:
    print(f"mfval: results store: {message}", file=sys.stderr)


class ResultStore:
    """Pickled, authenticated results on disk under ``root/<kind>/<key>-<fingerprint>.pkl``.

    Parameters
    ----------
    root : str or Path, optional
        Folder of the store; see :func:`default_cache_dir`.
    shared : {"private", "group"}, optional
        Permissions of what the store creates (see module docstring);
        default ``$MFVAL_STORE_SHARED``, else private.
    """

    def __init__(self, root: str | Path | None = None, shared: str | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.shared = sharing_mode(shared)
        self._dir_mode, self._file_mode, self._key_mode = SHARING_MODES[self.shared]
        self._key: bytes | None = None

    def __getstate__(self) -> dict:
        """Pickled without the secret key (a copy sent to a worker reads it from the file)."""
        return {**self.__dict__, "_key": None}

    # --- folders and key ------------------------------------------------------------------

    def _make_dir(self, path: Path) -> None:
        """Create ``path`` with the store's folder mode (an existing folder keeps its own)."""
        try:
            os.mkdir(path, self._dir_mode & 0o777)
        except FileExistsError:
            return
        os.chmod(path, self._dir_mode)  # the umask may have cleared bits; setgid needs chmod

    def _make_root(self) -> None:
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self._make_dir(self.root)

    def _check_key_file(self, fd: int, path: Path) -> None:
        """Refuse a key file that others could read (or that is not ours, for a private store)."""
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):
            problem = "is not a regular file"
        elif self.shared == "private" and st.st_uid != os.getuid():
            problem = f"is owned by another user (uid {st.st_uid})"
        elif self.shared == "private" and mode & 0o077:
            problem = "is readable or writable by others than its owner"
        elif self.shared == "group" and mode & 0o027:
            problem = "is writable by its group or accessible to all users"
        else:
            return
        raise ParameterError(
            path,
            "key file",
            oct(mode),
            f"the store's key file {problem}; anyone who can read it can make the store run "
            "code. Remove the store's folder (or chmod the key file 600), or set "
            "MFVAL_STORE_SHARED=group for a store shared by a trusted group (mode 640)",
        )

    def _read_key(self, path: Path) -> bytes:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            self._check_key_file(fd, path)
            key = os.read(fd, _KEY_LEN + 1)
        finally:
            os.close(fd)
        if len(key) != _KEY_LEN:
            raise ParameterError(
                path, "key file", f"{len(key)} bytes", f"must hold {_KEY_LEN} bytes; remove it"
            )
        return key

    def _new_key(self, path: Path) -> None:
        """Create the key file atomically: written in full, then linked (never a partial key)."""
        self._make_root()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".mfval-key.", suffix=".tmp")
        try:
            os.fchmod(fd, self._key_mode)
            os.write(fd, secrets.token_bytes(_KEY_LEN))
            os.fsync(fd)
            os.close(fd)
            fd = -1
            try:
                os.link(tmp, path)  # fails if another process created the key first
            except FileExistsError:
                pass
            except OSError:  # pragma: no cover - a file system without hard links
                self._new_key_exclusive(path)
        finally:
            if fd >= 0:
                os.close(fd)
            os.unlink(tmp)

    def _new_key_exclusive(self, path: Path) -> None:  # pragma: no cover - see _new_key
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), self._key_mode)
            fh.write(secrets.token_bytes(_KEY_LEN))
            fh.flush()
            os.fsync(fh.fileno())

    def _secret(self) -> bytes:
        """The store's key (created on first use, read once per instance)."""
        if self._key is None:
            path = self.root / KEY_FILE
            try:
                self._key = self._read_key(path)
            except FileNotFoundError:
                self._new_key(path)
                self._key = self._read_key(path)
        return self._key

    def _mac(self, path: Path, payload: bytes) -> bytes:
        """HMAC-SHA256 of an entry: its format, kind, file name and payload."""
        mac = hmac.new(self._secret(), MAGIC, hashlib.sha256)
        for part in (path.parent.name, path.name):
            mac.update(part.encode() + b"\0")
        mac.update(payload)
        return mac.digest()

    # --- entries --------------------------------------------------------------------------

    def path(self, kind: str, key: str) -> Path:
        """File of an entry: the key and the code fingerprint of its kind."""
        check_name("kind", kind)
        check_name("key", key)
        return self.root / kind / f"{key}-{code_fingerprint(kind)}.pkl"

    def get(self, kind: str, key: str) -> Any | None:
        """The stored result, or None if absent or unusable (which is then removed).

        The entry is unpickled only after its HMAC verifies; one that does not
        verify, or fails to unpickle, is removed (see module docstring).
        """
        path = self.path(kind, key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        head = len(MAGIC) + _DIGEST_LEN
        payload = blob[head:]
        if not blob.startswith(MAGIC):
            if not blob.startswith(_OLD_MAGIC_PREFIX):
                _warn(f"removed {path}: not a store entry")
            path.unlink(missing_ok=True)  # an older format or damaged: never read, recompute
            return None
        if len(blob) < head or not hmac.compare_digest(
            blob[len(MAGIC) : head], self._mac(path, payload)
        ):
            _warn(f"removed {path}: truncated, damaged or not written with this store's key")
            path.unlink(missing_ok=True)
            return None
        try:
            return pickle.loads(payload)
        except Exception as err:  # e.g. a module or class renamed since it was stored
            _warn(f"removed {path}: cannot be unpickled ({type(err).__name__}: {err})")
            path.unlink(missing_ok=True)
            return None

    def put(self, kind: str, key: str, value: Any) -> Path:
        """Write an entry atomically and return its path."""
        path = self.path(kind, key)
        self._make_root()
        self._make_dir(path.parent)
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        blob = MAGIC + self._mac(path, payload) + payload
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=".tmp")
        try:
            os.fchmod(fd, self._file_mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def get_or_compute(self, kind: str, key: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """Return ``(result, was_cached)``; compute and store it if absent.

        Examples
        --------
        >>> import tempfile
        >>> folder = tempfile.TemporaryDirectory()
        >>> store = ResultStore(folder.name)
        >>> store.get_or_compute("demo", "answer", lambda: 42)
        (42, False)
        >>> store.get_or_compute("demo", "answer", lambda: 0)  # read back, not computed again
        (42, True)
        >>> folder.cleanup()
        """
        value = self.get(kind, key)
        if value is not None:
            return value, True
        value = compute()
        self.put(kind, key, value)
        return value, False

    def _kind_dirs(self, kind: str | None) -> list[Path]:
        if kind is not None:
            check_name("kind", kind)
        if not self.root.is_dir():
            return []
        dirs = [p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()]
        names_ok = (
            p
            for p in dirs
            if NAME_PATTERN.fullmatch(p.name) and ".." not in p.name and p.name != BRIAN_SUBDIR
        )
        return sorted(p for p in names_ok if kind is None or p.name == kind)

    def info(self, kind: str | None = None) -> dict[str, dict[str, int]]:
        """Number of entries, bytes and stale entries (computed by other code) per kind.

        Parameters
        ----------
        kind : str, optional
            Only this kind (default: all).
        """
        out: dict[str, dict[str, int]] = {}
        for sub in self._kind_dirs(kind):
            files = list(sub.glob("*.pkl"))
            current = f"-{code_fingerprint(sub.name)}.pkl"
            out[sub.name] = {
                "entries": len(files),
                "bytes": sum(f.stat().st_size for f in files),
                "stale": sum(not f.name.endswith(current) for f in files),
            }
        return out

    def clear(self, kind: str | None = None) -> int:
        """Remove entries (of one kind, or all) and abandoned temporary files.

        Parameters
        ----------
        kind : str, optional
            Only this kind (default: all).

        Returns
        -------
        int
            Number of entries removed.
        """
        removed = 0
        # A temporary file exists only while one ``put`` writes and renames it (the
        # computation happens before), so one older than STALE_TMP_AGE is abandoned,
        # while a younger one may be another process's write in flight. The age is
        # used rather than the writer's pid because a store may be shared by hosts
        # or containers (other pid namespaces), where a pid says nothing.
        cutoff = time.time() - STALE_TMP_AGE
        for sub in self._kind_dirs(kind):
            for f in sub.glob("*.pkl"):
                f.unlink(missing_ok=True)
                removed += 1
            for f in sub.glob(".*.tmp"):
                try:
                    if f.stat().st_mtime < cutoff:
                        f.unlink(missing_ok=True)
                except FileNotFoundError:  # renamed by its writer meanwhile
                    pass
        return removed
