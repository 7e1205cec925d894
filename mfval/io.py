"""Atomic writes of output files: a reader never sees a half-written file.

Files get the mode a program's new files usually get, ``0o666 & ~umask``
(0o644 with the common umask 022), not the owner-only mode of the temporary
file they are written through.
"""

from __future__ import annotations

import os
import shutil
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
    """Write text atomically.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = write_text("hello", Path(folder.name) / "note.txt")
    >>> path.read_text()
    'hello'
    >>> folder.cleanup()
    """
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def folder_mode() -> int:
    """Mode of a newly created output folder: ``0o777 & ~umask``."""
    return file_mode() | ((file_mode() & 0o444) >> 2)  # x wherever r (0o755 with umask 022)


def staging_folder(target: str | Path) -> Path:
    """An empty folder next to ``target`` to write a run's outputs into.

    Named ``.<name>.tmp-<pid>-XXXX`` in the parent of ``target`` (same file
    system, so :func:`replace_folder` can rename it into place).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-{os.getpid()}-"))
    os.chmod(path, folder_mode())
    return path


def replace_folder(new: str | Path, target: str | Path) -> Path:
    """Put the folder ``new`` in place of ``target`` (which may exist), whole.

    The old ``target`` is renamed aside, ``new`` renamed in, and the old one
    removed: readers see the old outputs or the new ones, never a mix, and
    files of the old outputs that the new ones lack are gone. If renaming
    ``new`` in fails, the old folder is put back.
    """
    new, target = Path(new), Path(target)
    aside = None
    if target.exists():
        aside = target.parent / f".{target.name}.old-{os.getpid()}"
        os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        if aside is not None:
            os.rename(aside, target)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return target
