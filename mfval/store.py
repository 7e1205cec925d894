"""A content-addressed results store on disk, safe for concurrent processes.

One entry per task, keyed by a hash of everything that affects the result.
Entries are written atomically (temporary file in the same folder, then
``os.replace``) and carry a checksum of their payload, so a reader never sees
a half-written entry: a truncated or corrupt file is reported as missing (and
removed), and the task is recomputed.

The store's folder is, in order: the ``cache_dir`` argument (``--cache-dir``
on the command line), the environment variable ``MFVAL_CACHE_DIR``, or
``$XDG_CACHE_HOME/mfval`` (default ``~/.cache/mfval``).

Code fingerprint. A task's key hashes its parameters, seed and library
versions; the store adds a fingerprint of the *source code* that computes
the entry, so that an edited simulation or theory never reuses a stale
result. The fingerprint of a kind is a sha256 over the relative paths and
bytes of every ``*.py`` file of the packages in :data:`CODE_PACKAGES`
(``theory`` entries: ``theory/``; ``network`` and ``transfer`` entries:
``theory/`` and ``simulation/``, which holds the specs, backends and
measurements; an unknown kind: both). The granularity is the package: any
edit of any file of those packages (a docstring included) recomputes the
entries of that kind. This over-invalidates on purpose: a finer,
import-graph-based fingerprint could miss code reached through a dynamic
import or a NEST backend chosen at run time. The entry's file name is
``<key>-<fingerprint>.pkl``; entries of older code stay on disk until
``mfval cache clear`` (``mfval cache info`` counts them as stale).

Permissions: entries are written with mode ``0o666 & ~umask`` (usually
0o644), like any file a program creates, not the owner-only mode of a
temporary file.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAGIC = b"MFVAL1\n"
_DIGEST_LEN = 32


#: kind of entry -> packages whose source code computes it (see module docstring)
CODE_PACKAGES: dict[str, tuple[str, ...]] = {
    "theory": ("mfval.theory",),
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


class ResultStore:
    """Pickled results on disk under ``root/<kind>/<key>.pkl``.

    Parameters
    ----------
    root : str or Path, optional
        Folder of the store; see :func:`default_cache_dir`.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, kind: str, key: str) -> Path:
        """File of an entry: the key and the code fingerprint of its kind."""
        return self.root / kind / f"{key}-{code_fingerprint(kind)}.pkl"

    def get(self, kind: str, key: str) -> Any | None:
        """The stored result, or None if absent, truncated or corrupt."""
        path = self.path(kind, key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        head = len(MAGIC) + _DIGEST_LEN
        payload = blob[head:]
        if (
            len(blob) < head
            or not blob.startswith(MAGIC)
            or hashlib.sha256(payload).digest() != blob[len(MAGIC) : head]
        ):
            path.unlink(missing_ok=True)  # damaged: never read, recompute
            return None
        return pickle.loads(payload)

    def put(self, kind: str, key: str, value: Any) -> Path:
        """Write an entry atomically and return its path."""
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        blob = MAGIC + hashlib.sha256(payload).digest() + payload
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=".tmp")
        try:
            os.fchmod(fd, file_mode())
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
        """Return ``(result, was_cached)``; compute and store it if absent."""
        value = self.get(kind, key)
        if value is not None:
            return value, True
        value = compute()
        self.put(kind, key, value)
        return value, False

    def info(self) -> dict[str, dict[str, int]]:
        """Number of entries, bytes and stale entries (computed by other code) per kind."""
        out: dict[str, dict[str, int]] = {}
        if not self.root.is_dir():
            return out
        for sub in sorted(p for p in self.root.iterdir() if p.is_dir()):
            files = list(sub.glob("*.pkl"))
            current = f"-{code_fingerprint(sub.name)}.pkl"
            out[sub.name] = {
                "entries": len(files),
                "bytes": sum(f.stat().st_size for f in files),
                "stale": sum(not f.name.endswith(current) for f in files),
            }
        return out

    def clear(self, kind: str | None = None) -> int:
        """Remove entries (of one kind, or all); return how many were removed."""
        if not self.root.is_dir():
            return 0
        pattern = f"{kind}/*.pkl" if kind else "*/*.pkl"
        removed = 0
        for f in self.root.glob(pattern):
            f.unlink(missing_ok=True)
            removed += 1
        for f in self.root.glob("*/.*.tmp"):
            f.unlink(missing_ok=True)
        return removed
