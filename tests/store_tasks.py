"""Top-level helpers of tests/test_store_safety.py that Dask workers import by name."""

from __future__ import annotations


def double(x: int) -> int:
    """A tiny task function."""
    return 2 * x


class Renamed:
    """A stored value whose class a test removes (like a renamed module)."""


def explode(exc_type: type[BaseException]):
    """Called on unpickling by :class:`RaisesOnLoad`: raises ``exc_type``."""
    raise exc_type("cannot rebuild this value")


class RaisesOnLoad:
    """A value that pickles fine but raises ``exc_type`` when unpickled."""

    def __init__(self, exc_type: type[BaseException]):
        self.exc_type = exc_type

    def __reduce__(self):
        return explode, (self.exc_type,)


def brian_cache_dir_here() -> str:
    """Brian2's build cache folder as seen by the process that runs the task."""
    from mfval.simulation.model.device import brian_cache_dir

    return str(brian_cache_dir())
