"""Brian2 code generation: target choice and build/cache folders.

Choice of target (measured here, see ``benchmarks/network_sim.py`` and the
closing note of issue 3): the Cython runtime is the default. Its compiled
code objects are cached on disk by a hash of their code, so one compilation
serves every working point, seed and process (the working point enters only
through the per-neuron state variables ``lam_exc``/``lam_inh``, and
connectivity is data). ``cpp_standalone`` is available for comparison
(``target="cpp_standalone"``); it must recompile for every new seed (its
random seed and connectivity are baked into the build) and its compile time
is paid per build.

Folders: everything lies under :func:`brian_cache_dir` (default
``<results store>/brian2``, i.e. ``~/.cache/mfval/brian2``; the environment
variable ``MFVAL_BRIAN_CACHE`` overrides it), outside the repository or in
the ignored ``.cache/``. The Cython cache is shared (Brian2 locks it for
concurrent processes); standalone builds get a fresh folder per process and
per build, so concurrent processes never share one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from mfval.store import default_cache_dir

TARGETS = ("cython", "numpy", "cpp_standalone")


def brian_cache_dir() -> Path:
    """Root folder of Brian2's compiled code and build folders."""
    env = os.environ.get("MFVAL_BRIAN_CACHE")
    return Path(env) if env else default_cache_dir() / "brian2"


def configure_runtime(target: str = "cython") -> None:
    """Select Brian2's runtime device with the given code-generation target.

    Resets the device to ``runtime`` if an earlier call left
    ``cpp_standalone`` active, and points the Cython cache to
    :func:`brian_cache_dir`.
    """
    import brian2 as b2

    if target not in ("cython", "numpy"):
        raise ValueError(f"runtime target must be 'cython' or 'numpy', got target = {target!r}")
    if b2.get_device().__class__.__name__ != "RuntimeDevice":
        b2.set_device("runtime")
    b2.prefs.codegen.target = target
    cache = brian_cache_dir() / "cython"
    cache.mkdir(parents=True, exist_ok=True)
    b2.prefs.codegen.runtime.cython.cache_dir = str(cache)
    b2.prefs.codegen.runtime.cython.multiprocess_safe = True


def new_standalone_dir() -> Path:
    """A fresh build folder for one standalone build of this process."""
    path = brian_cache_dir() / "standalone" / f"pid{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class StandaloneBuild:
    """Context manager: a cpp_standalone device in a private build folder.

    On exit the device is reset to ``runtime`` (no device state leaks into
    later calls of the same process) and the build folder is removed unless
    ``keep=True``.
    """

    def __init__(self, openmp_threads: int = 0, keep: bool = False):
        self.openmp_threads, self.keep = openmp_threads, keep
        self.directory = new_standalone_dir()

    def __enter__(self) -> StandaloneBuild:
        import brian2 as b2

        b2.set_device("cpp_standalone", directory=str(self.directory), build_on_run=False)
        b2.get_device().reinit()
        b2.get_device().activate(directory=str(self.directory), build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = int(self.openmp_threads)
        return self

    def __exit__(self, *exc) -> None:
        import brian2 as b2

        b2.get_device().reinit()
        b2.set_device("runtime")
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
        if not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)
