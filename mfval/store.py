"""A content-addressed results store on disk, safe for concurrent processes.

One entry per task, keyed by a hash of everything that affects the result.
Entries are written atomically (temporary file in the same folder, then
``os.replace``) and carry a checksum of their payload, so a reader never sees
a half-written entry: a truncated or corrupt file is reported as missing (and
removed), and the task is recomputed.

The store's folder is, in order: the ``cache_dir`` argument (``--cache-dir``
on the command line), the environment variable ``MFVAL_CACHE_DIR``, or
``$XDG_CACHE_HOME/mfval`` (default ``~/.cache/mfval``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAGIC = b"MFVAL1\n"
_DIGEST_LEN = 32


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
        return self.root / kind / f"{key}.pkl"

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
        """Number of entries and bytes per kind."""
        out: dict[str, dict[str, int]] = {}
        if not self.root.is_dir():
            return out
        for sub in sorted(p for p in self.root.iterdir() if p.is_dir()):
            files = list(sub.glob("*.pkl"))
            out[sub.name] = {"entries": len(files), "bytes": sum(f.stat().st_size for f in files)}
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
