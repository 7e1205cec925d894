"""Brian2 code generation: target choice and build/cache folders.

Choice of target (measured here, see ``benchmarks/network_sim.py``):
``cpp_standalone`` without OpenMP is the default of the network. One binary
is compiled per process and network structure and run again for every seed
and working point (:func:`mfval.simulation.network.simulate_network` sets seed,
connectivity, initial state and rates at run time); a compiled copy is kept
as a template (:func:`standalone_template_dir`), so later processes only pay
code generation (~2.5 s instead of ~20 s). The Cython runtime
(``target="cython"``) stays available; its compiled code objects are cached
on disk by a hash of their code.

Folders: everything lies under :func:`brian_cache_dir` (default
``<results store>/brian2``, i.e. ``~/.cache/mfval/brian2``; the environment
variable ``MFVAL_BRIAN_CACHE`` overrides it), outside the repository or in
the ignored ``.cache/``. The Cython cache is per worker: a process takes the
first free slot ``cython/slot-N`` (an exclusive ``flock`` held for the
process's lifetime, :func:`cython_cache_slot`), so concurrent processes never
share one, and a later process reuses a slot's compiled code. Standalone
builds get a fresh folder per process and per build (templates are only
copied from, and written once by an atomic rename).
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
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
    b2.prefs.codegen.runtime.cython.cache_dir = str(cython_cache_slot())
    b2.prefs.codegen.runtime.cython.multiprocess_safe = True


_SLOT: tuple[Path, object] | None = None


def cython_cache_slot(max_slots: int = 256) -> Path:
    """This process's private Cython cache folder (``cython/slot-N``).

    The first call locks the first free slot (``fcntl.flock``, released when
    the process ends) and returns its folder; later calls return the same.
    """
    global _SLOT
    root = brian_cache_dir() / "cython"
    if _SLOT is not None and _SLOT[0].parent == root:
        return _SLOT[0]
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    for n in range(max_slots):
        handle = open(root / f"slot-{n}.lock", "a")  # noqa: SIM115 (held for the process)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        folder = root / f"slot-{n}"
        folder.mkdir(exist_ok=True)
        _SLOT = (folder, handle)
        return folder
    raise RuntimeError(f"no free Brian2 cache slot under {root} ({max_slots} in use)")


def new_standalone_dir() -> Path:
    """A fresh build folder for one standalone build of this process."""
    path = brian_cache_dir() / "standalone" / f"pid{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def new_standalone_device(directory: Path, openmp_threads: int = 0):
    """Activate a fresh ``CPPStandaloneDevice`` instance building into ``directory``.

    A new instance (not Brian2's singleton) so that several builds of one
    process can live side by side and be run again later (their objects keep
    a reference to their own device). If a template build folder for the
    same code exists (:func:`standalone_template_dir`), it is copied first
    with its timestamps: Brian2 rewrites only changed sources, so ``make``
    finds nothing to recompile.
    """
    import brian2 as b2
    from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

    device = CPPStandaloneDevice()
    b2.set_device(device, directory=str(directory), build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = int(openmp_threads)
    return device


def standalone_template_dir(key: str) -> Path:
    """Shared folder holding a compiled standalone project for code ``key``."""
    return brian_cache_dir() / "standalone_templates" / key


@contextmanager
def template_lock(key: str):
    """Exclusive lock (``flock``) of the template of ``key`` across processes.

    Held while a process builds (or copies) the project of ``key``, so that
    concurrent workers compile a structure once: the others wait, then copy
    the template and only regenerate code (measured: ~40 s compilation of
    the network instead of once per worker).
    """
    import fcntl

    root = brian_cache_dir() / "standalone_templates"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{key}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_standalone_template(directory: Path, key: str) -> None:
    """Copy a compiled build folder to its template (first writer wins, atomic rename)."""
    target = standalone_template_dir(key)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{key}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(directory, tmp, ignore=shutil.ignore_patterns("results", "mfval_run"))
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def load_standalone_template(directory: Path, key: str) -> bool:
    """Copy the template for ``key`` (if any) into the empty build folder ``directory``."""
    source = standalone_template_dir(key)
    if not source.is_dir():
        return False
    shutil.copytree(source, directory, dirs_exist_ok=True)
    return True


def remove_standalone_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def standalone_seed_code(n_threads: int = 0) -> str:
    """C++ for ``main``: seed the random generators from ``mfval_run/seed.txt``.

    Generator ``i`` gets ``seed + i`` (one per OpenMP thread, at least one),
    as ``brian2.seed(seed)`` seeds the Cython runtime's single generator, so
    that a standalone run and a Cython run with the same seed draw the same
    numbers. The file is written before every run by
    :func:`write_standalone_seed`.
    """
    return "\n".join(
        [
            "{",
            "long long _mfval_seed = 0;",
            'std::ifstream _mfval_seed_file("mfval_run/seed.txt");',
            "_mfval_seed_file >> _mfval_seed;",
            "if (!_mfval_seed_file) {",
            '    std::cerr << "mfval: cannot read mfval_run/seed.txt" << std::endl;',
            "    exit(1);",
            "}",
            f"for (int _i = 0; _i < {max(1, int(n_threads))}; _i++)",
            "    brian::_random_generators[_i].seed(_mfval_seed + _i);",
            "}",
        ]
    )


def write_standalone_seed(directory: Path, seed: int) -> Path:
    """Write the run-time seed read by :func:`standalone_seed_code`; return its folder."""
    folder = Path(directory) / "mfval_run"
    folder.mkdir(exist_ok=True)
    (folder / "seed.txt").write_text(f"{int(seed)}\n")
    return folder


@dataclass
class StandaloneModel:
    """A compiled ``cpp_standalone`` project: its device, objects and build folder."""

    device: object
    objects: dict
    directory: Path


class StandaloneCache:
    """Compiled standalone models of this process by structure key (least recently used out).

    Parameters
    ----------
    max_models : int
        Most models kept (each holds a build folder, removed when evicted or
        at :meth:`clear`).
    """

    def __init__(self, max_models: int = 2):
        self.max_models = int(max_models)
        self._models: dict[str, StandaloneModel] = {}

    def get(self, key: str, build, dt: float, openmp_threads: int = 0):
        """The model for ``key``, built on a miss; also the build time (s, 0 on a hit).

        ``build(device)`` creates the Brian2 objects in a fresh scope on the
        active standalone device, calls ``run`` on them and returns them (a
        dict); this method then generates and compiles the project (or
        reuses the template for ``key``, see :func:`load_standalone_template`).
        """
        import time

        import brian2 as b2

        if key in self._models:
            model = self._models.pop(key)
            self._models[key] = model  # most recently used last
            return model, 0.0
        while len(self._models) >= self.max_models:
            old = self._models.pop(next(iter(self._models)))
            remove_standalone_dir(old.directory)
        t0 = time.perf_counter()
        directory = new_standalone_dir()
        # one compilation per structure on this machine: a process that finds another
        # compiling the same key waits for its template instead of compiling it again
        with template_lock(key):
            load_standalone_template(directory, key)
            device = new_standalone_device(directory, openmp_threads)
            try:
                b2.start_scope()
                b2.defaultclock.dt = dt * b2.second
                objects = build(device)
                device.build(directory=str(directory), compile=True, run=False)
            except BaseException:
                remove_standalone_dir(directory)
                raise
            finally:
                b2.set_device("runtime")
                b2.prefs.devices.cpp_standalone.openmp_threads = 0
            save_standalone_template(directory, key)
        model = StandaloneModel(device=device, objects=objects, directory=directory)
        self._models[key] = model
        return model, time.perf_counter() - t0

    def clear(self) -> None:
        """Remove every build folder of this cache."""
        for model in self._models.values():
            remove_standalone_dir(model.directory)
        self._models.clear()
