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

Folders: everything lies under :func:`brian_cache_dir`: ``<results
store>/brian2``, the store whose tasks this process computes
(``--cache-dir``, passed to every worker with the task, see
:func:`mfval.store.set_active_root`; default ``~/.cache/mfval/brian2``); the
environment variable ``MFVAL_BRIAN_CACHE`` overrides it (e.g. a node-local
disk for the workers of a cluster). The Cython cache is per worker: a
process takes the first free slot ``cython/slot-N`` (an exclusive ``flock``
held for the process's lifetime, :func:`cython_cache_slot`), so concurrent
processes never share one, and a later process reuses a slot's compiled
code. Standalone builds get a fresh folder per build inside the process's
own folder ``standalone/proc-*`` (also locked for the process's lifetime);
templates are only copied from under their lock, and written once by an
atomic rename.

Template keys. A template holds compiled objects, so its folder name
(:func:`template_key`) adds to the code's structure key the build
environment (:func:`build_environment`): the C++ compiler and its version,
the flags from ``brian2.prefs`` (``-march=native`` by default) and the
compiler environment variables, and the machine (``platform.machine()`` and
a hash of the CPU model and flags from ``/proc/cpuinfo``). A cache on a
shared disk then never gives one host objects compiled for another CPU. The
template key is a build-cache key only: it never enters a results store key.

Clearing. :func:`clear_brian_cache` (``mfval cache clear``) removes only what
no running process uses: a Cython slot or a process's standalone folder
whose lock it can take, a template whose lock it can take. ``flock`` works
on local disks and on NFS with lock support; on a shared file system
without it, stop the workers before clearing.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mfval.config import stable_hash
from mfval.store import BRIAN_SUBDIR, active_root

TARGETS = ("cython", "numpy", "cpp_standalone")


def brian_cache_dir() -> Path:
    """Root folder of Brian2's compiled code and build folders (see module docstring).

    ``$MFVAL_BRIAN_CACHE`` if set, else ``<store root>/brian2`` of the store
    whose tasks this process computes (:func:`mfval.store.active_root`).
    """
    env = os.environ.get("MFVAL_BRIAN_CACHE")
    return Path(env) if env else active_root() / BRIAN_SUBDIR


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


_PROC_DIR: tuple[Path, object] | None = None


def process_standalone_dir() -> Path:
    """This process's folder of standalone builds (``standalone/proc-*``), locked for its life.

    The lock (``fcntl.flock`` of ``standalone/proc-*.lock``, released when the
    process ends) tells :func:`clear_brian_cache` that the builds are in use.
    """
    global _PROC_DIR
    root = brian_cache_dir() / "standalone"
    if _PROC_DIR is not None and _PROC_DIR[0].parent == root:
        return _PROC_DIR[0]
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    name = f"proc-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    handle = open(root / f"{name}.lock", "a")  # noqa: SIM115 (held for the process)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh name: never held
    folder = root / name
    folder.mkdir(exist_ok=True)
    _PROC_DIR = (folder, handle)
    return folder


def new_standalone_dir() -> Path:
    """A fresh build folder for one standalone build of this process."""
    return process_standalone_dir() / uuid.uuid4().hex[:12]


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


def _compiler_command() -> list[str]:
    """The C++ compiler a build uses: ``$CXX``, else Python's configured one, else ``c++``."""
    import shlex
    import sysconfig

    text = os.environ.get("CXX") or sysconfig.get_config_var("CXX") or "c++"
    return shlex.split(text) or ["c++"]


@functools.lru_cache(maxsize=8)
def _compiler_version(command: tuple[str, ...]) -> str:
    """First line of ``<compiler> --version`` ('' if it cannot be run)."""
    import subprocess

    try:
        out = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.strip().splitlines()[0] if out.strip() else ""


def cpu_signature() -> str:
    """Hash of the CPU model and feature flags (``/proc/cpuinfo``; '' where unreadable).

    Lines that identify the instruction set (x86 ``model name``/``flags``,
    ARM ``Features``/``CPU implementer``/``CPU part``, ...) of the first
    processor; per-core values (MHz, core ids) are left out.
    """
    import hashlib

    wanted = (
        "vendor_id",
        "cpu family",
        "model",
        "model name",
        "flags",
        "features",
        "cpu implementer",
        "cpu architecture",
        "cpu variant",
        "cpu part",
        "isa",
        "uarch",
        "cpu",
    )
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""
    first = text.strip().split("\n\n")[0]
    lines = []
    for line in first.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() in wanted:
            lines.append(f"{name.strip().lower()}:{' '.join(value.split())}")
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:16]


def build_environment() -> dict:
    """What compiled objects depend on besides the code: compiler, flags, machine.

    Compiler (command and ``--version``), ``brian2.prefs`` compile and link
    flags (``get_compiler_and_args()``: ``-march=native`` etc.), macros,
    make arguments, the compiler environment variables, and the machine
    (``platform.machine()``, :func:`cpu_signature`).
    """
    import platform

    from brian2 import prefs
    from brian2.codegen.cpp_prefs import get_compiler_and_args

    compiler, compile_args = get_compiler_and_args()
    command = _compiler_command()
    env_names = ("CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS")
    return {
        "compiler": [str(compiler), *command],
        "compiler_version": _compiler_version(tuple(command)),
        "compile_args": [str(a) for a in compile_args],
        "link_args": [str(a) for a in prefs["codegen.cpp.extra_link_args"]],
        "define_macros": [list(map(str, m)) for m in prefs["codegen.cpp.define_macros"]],
        "make_args": [str(a) for a in prefs["devices.cpp_standalone.extra_make_args_unix"]],
        "env": {n: os.environ.get(n, "") for n in env_names},
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu": cpu_signature(),
    }


def template_key(key: str) -> str:
    """Template folder name for structure ``key`` in this build environment (module docstring).

    Only the build cache uses it; results store keys never include it.
    """
    return f"{key[:16]}-{stable_hash('standalone-template', key, build_environment())[:16]}"


def standalone_template_dir(key: str) -> Path:
    """Shared folder holding a compiled standalone project for template key ``key``."""
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


def _try_lock(path: Path):
    """An open, exclusively locked handle of ``path``, or None if another holds the lock."""
    import fcntl

    try:
        handle = open(path, "a")  # noqa: SIM115 (returned)
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


#: seconds after which a leftover without a lock (a failed template copy, a build
#: folder of an older layout) counts as abandoned
ABANDONED_AGE = 3600.0


def _remove_unless_locked(
    folder: Path, lock: Path, counts: dict, kind: str, drop_lock: bool = False
) -> None:
    """Remove ``folder`` (counted under ``kind``) unless a live process holds ``lock``.

    A held lock counts the folder as ``in_use`` and keeps it; ``drop_lock`` also
    removes the lock file (for a lock that only one process ever opens).
    """
    handle = _try_lock(lock)
    if handle is None:
        counts["in_use"] += 1
        return
    try:
        shutil.rmtree(folder, ignore_errors=True)
        if drop_lock:
            lock.unlink(missing_ok=True)
        counts[kind] += 1
    finally:
        handle.close()


def clear_brian_cache(root: Path | None = None) -> dict[str, int]:
    """Remove Brian2's compiled code under ``root`` that no running process uses.

    Parameters
    ----------
    root : Path, optional
        Default :func:`brian_cache_dir`.

    Returns
    -------
    dict
        Counts: ``cython`` slots, ``standalone`` process folders and
        ``templates`` removed, and ``in_use`` (kept: their lock is held by a
        running process). See the module docstring (Clearing).
    """
    import time

    root = brian_cache_dir() if root is None else Path(root)
    counts = {"cython": 0, "standalone": 0, "templates": 0, "in_use": 0}
    cutoff = time.time() - ABANDONED_AGE

    def old(path: Path) -> bool:
        try:
            return path.lstat().st_mtime < cutoff
        except FileNotFoundError:
            return False

    cython = root / "cython"
    if cython.is_dir():
        for folder in sorted(p for p in cython.iterdir() if p.is_dir()):
            # the lock files stay: a process may have opened one to take the slot
            _remove_unless_locked(folder, cython / f"{folder.name}.lock", counts, "cython")
    standalone = root / "standalone"
    if standalone.is_dir():
        for folder in sorted(p for p in standalone.iterdir() if p.is_dir()):
            lock = standalone / f"{folder.name}.lock"
            if not lock.exists():
                if old(folder):  # older layout or a crash before locking
                    shutil.rmtree(folder, ignore_errors=True)
                    counts["standalone"] += 1
                continue
            # the lock is unique per process: nobody else opens it, so it goes too
            _remove_unless_locked(folder, lock, counts, "standalone", drop_lock=True)
    templates = root / "standalone_templates"
    if templates.is_dir():
        for folder in sorted(p for p in templates.iterdir() if p.is_dir()):
            if folder.name.startswith("."):  # a copy in flight, or abandoned
                if old(folder):
                    shutil.rmtree(folder, ignore_errors=True)
                continue
            _remove_unless_locked(folder, templates / f".{folder.name}.lock", counts, "templates")
    return counts


def cache_size(root: Path | None = None) -> int:
    """Bytes of files under ``root`` (default :func:`brian_cache_dir`)."""
    root = brian_cache_dir() if root is None else Path(root)
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


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
        tkey = template_key(key)
        # one compilation per structure on this machine: a process that finds another
        # compiling the same key waits for its template instead of compiling it again
        with template_lock(tkey):
            load_standalone_template(directory, tkey)
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
            save_standalone_template(directory, tkey)
        model = StandaloneModel(device=device, objects=objects, directory=directory)
        self._models[key] = model
        return model, time.perf_counter() - t0

    def clear(self) -> None:
        """Remove every build folder of this cache."""
        for model in self._models.values():
            remove_standalone_dir(model.directory)
        self._models.clear()
