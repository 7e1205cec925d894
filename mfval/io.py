"""Atomic writes of output files: a reader never sees a half-written file.

Files get the mode a program's new files usually get, ``0o666 & ~umask``
(0o644 with the common umask 022), not the owner-only mode of the temporary
file they are written through.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from mfval.store import file_mode


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file to ``path``.

    The temporary file lies in the same folder and keeps the suffix of
    ``path`` (so writers that infer a format from it, like matplotlib, work).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    try:
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv(df, path: str | Path) -> Path:
    """Write a DataFrame as CSV atomically (full float precision)."""
    return write_atomic(path, lambda tmp: df.to_csv(tmp, index=False, float_format="%.10g"))


def write_text(text: str, path: str | Path) -> Path:
    """Write text atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))
