"""Brian2 backend of the E-I network protocol: ``run_network_brian2(spec) -> Recording``.

Builds the network of a :class:`mfval.simulation.network.NetworkSpec` in Brian2
(model of :mod:`mfval.simulation.model.lif`, connectivity of
:func:`mfval.simulation.network.build_connectivity`) and returns the raw
:class:`mfval.simulation.model.recording.Recording`; the measurements live in
:mod:`mfval.simulation.network.measure`.

- External drive: Poisson counts per step and source drawn **exactly** from
  Poisson(rate * dt) (:data:`mfval.simulation.model.lif.FAST_POISSON_INPUT_CODE` for C++
  standalone and Cython: by default inversion of a tabulated CDF with a guide
  table, one uniform for lam < 100, Brian2's PTRS sampler above, see
  :func:`mfval.simulation.model.lif.table_poisson_function`; Brian2's ``poisson()`` for
  other targets), so there is no rate * dt <= 1 limit and no binomial variance
  deficit. A binomial split exists only as a perturbation of the spec
  (``poisson_split_p``), see :func:`mfval.simulation.network.check_poisson_drive`.
- Targets: ``cpp_standalone`` (default) compiles one binary per process and
  network structure (:func:`structure_key`: network parameters, dt, warm-up +
  duration, recorded count, perturbation options compiled into the code,
  sampler, threads) and reuses it for every seed and working point: seed,
  connectivity, recorded neurons, v, I and lam are set at run time. It gives
  the same spikes as ``cython`` for the same seed (same RNG, same samplers;
  tested).
- Seeds: ``brian2.seed(seed)`` (Cython) or the same seeding of the standalone
  generators at run time for the Poisson drive; connectivity, initial v and
  recorded neurons come from :func:`mfval.simulation.network.initial_state`.

Conventions of the Recording (see :mod:`mfval.simulation.model.recording`): Brian2's
SpikeMonitor stores the clock time t of the step in which the state was
advanced from t to t + dt and found above threshold, so ``spike_step =
round(t / dt) + 1``. The synaptic current is recorded ``before_groups``, i.e.
at grid time k dt after the external jumps (``start``) and the recurrent
jumps (``synapses`` slot of the previous step) of that time:
``state_sample = "after_jumps"``, ``state_step = round(t / dt)``.
"""

from __future__ import annotations

import atexit
import time

import numpy as np

from mfval.config import stable_hash
from mfval.simulation.model.device import (
    StandaloneCache,
    configure_runtime,
    standalone_seed_code,
    write_standalone_seed,
)
from mfval.simulation.model.lif import make_lif_group
from mfval.simulation.model.recording import STATE_AFTER_JUMPS, Recording
from mfval.simulation.model.versions import brian2_version
from mfval.simulation.network.spec import POISSON_SAMPLERS


def _input_code(
    split: dict | None,
    drop_external: str | None,
    extra_ns: dict,
    fast_poisson: bool | str = False,
):
    """Per-step external drive code and namespace additions.

    ``fast_poisson``: False or ``"brian2"`` (Brian2's ``poisson()``), True or
    ``"inversion"`` (:func:`mfval.simulation.model.lif.fast_poisson_function`),
    ``"table"`` (:func:`mfval.simulation.model.lif.table_poisson_function`).
    """
    from mfval.simulation.model.lif import (
        FAST_POISSON_INPUT_CODE,
        POISSON_INPUT_CODE,
        fast_poisson_function,
        table_poisson_function,
    )

    sampler = {False: "brian2", True: "inversion"}.get(fast_poisson, fast_poisson)
    if sampler not in POISSON_SAMPLERS:
        raise ValueError(f"poisson_sampler must be one of {POISSON_SAMPLERS}, got {sampler!r}")
    if split is None:
        if sampler == "inversion":
            extra_ns["poisson_fast"] = fast_poisson_function()
            return FAST_POISSON_INPUT_CODE
        if sampler == "table":
            extra_ns["poisson_fast"] = table_poisson_function()
            return FAST_POISSON_INPUT_CODE
        return POISSON_INPUT_CODE
    import brian2 as b2

    terms = []
    for idx, (name, weight) in enumerate((("exc", "W_exc"), ("inh", "W_inh"))):
        if drop_external == name or split["p"][idx] == 0:
            continue
        func = b2.BinomialFunction(
            int(split["n"][idx]),
            float(split["p"][idx]),
            approximate=False,
            name=f"_binomial_split_{name}*",
        )
        extra_ns[f"binomial_{name}"] = func
        terms.append(f"{weight} * binomial_{name}()")
    return ("I += " + " + ".join(terms)) if terms else ""


def build_brian_network(
    network: dict,
    conn: dict,
    lam,
    v0: np.ndarray,
    I0: float,
    record_idx: np.ndarray,
    split: dict | None = None,
    drop_external: str | None = None,
    fast_poisson: bool | str = False,
) -> dict:
    """Brian2 objects of the network (in the current scope and device).

    Parameters
    ----------
    network : dict
        Network parameters as simulated (SI), i.e. with any perturbation of
        the spec applied (:meth:`mfval.simulation.network.NetworkSpec.simulated_network`).
    conn : dict
        From :func:`mfval.simulation.network.build_connectivity`.
    lam : array of shape (2,)
        Expected external counts per step (exc., inh. source).
    v0 : array
        Initial membrane potentials relative to E_L, V.
    I0 : float
        Initial synaptic current, A.
    record_idx : array
        Neurons whose current is recorded.
    split : dict, optional
        Perturbation: binomial split (from :func:`mfval.simulation.network.check_poisson_drive`).
    fast_poisson : bool or str
        Exact Poisson sampler (Cython only), see :func:`_input_code`:
        ``"inversion"`` (True; 1.8x faster drive than Brian2's ``poisson()``
        at lam ~ 10, measured) or ``"table"`` (tabulated CDF inversion).

    Returns
    -------
    dict
        ``network``, ``group``, ``synapses`` (dict by (t, s)), ``spikes``,
        ``current``.
    """
    import brian2 as b2

    net = network
    W_ext = np.asarray(net["W_ext"], float)
    if not np.allclose(W_ext, W_ext[0]):
        raise NotImplementedError("external weights that differ between target populations")
    W = np.asarray(net["W"], float)
    extra_ns: dict = {}
    code = _input_code(split, drop_external, extra_ns, fast_poisson)
    group = make_lif_group(
        len(v0),
        net,
        W_ext[0, 0],
        W_ext[0, 1],
        name="network",
        input_code=code,
        extra_namespace=extra_ns,
    )
    group.v = v0 * b2.volt
    group.I = I0 * b2.amp
    group.lam_exc = lam[0]
    group.lam_inh = lam[1]
    synapses = {}
    for (t, s), (i, j) in conn.items():
        if len(i) == 0:
            continue
        weight = W[t, s]
        syn = b2.Synapses(
            group,
            group,
            on_pre="I_post += w_rec",
            delay=net["delay"] * b2.second,
            namespace={"w_rec": weight * b2.amp},
            name=f"syn_{t}{s}",
        )
        syn.connect(i=i, j=j)
        synapses[(t, s)] = syn
    spikes = b2.SpikeMonitor(group, name="spikes")
    current = b2.StateMonitor(group, "I", record=record_idx, when="before_groups", name="current")
    network = b2.Network(group, *synapses.values(), spikes, current)
    return {
        "network": network,
        "group": group,
        "synapses": synapses,
        "spikes": spikes,
        "current": current,
    }


#: compiled standalone models of this process, by structure key
_MODELS = StandaloneCache(max_models=2)
atexit.register(_MODELS.clear)


def _standalone_load_code(device, objects: dict, n_threads: int) -> str:
    """C++ for ``main``: per-run seed, connectivity and recorded neurons from files.

    Read from ``mfval_run/`` of the build folder (written by
    :func:`_write_standalone_inputs` before every run), so that one binary
    serves every seed and working point.
    """
    lines = [
        standalone_seed_code(n_threads),
        "{",
        "auto _mfval_load = [](const char* fn, char* p, size_t n) {",
        "    std::ifstream f(fn, std::ios::binary);",
        "    f.read(p, n);",
        "    if (!f || (size_t)f.gcount() != n) {",
        '        std::cerr << "mfval: cannot read " << fn << std::endl;',
        "        exit(1);",
        "    }",
        "};",
    ]
    for syn in objects["synapses"].values():
        for var in ("_synaptic_pre", "_synaptic_post"):
            arr = device.get_array_name(syn.variables[var], access_data=False)
            lines.append(
                f'_mfval_load("mfval_run/{syn.name}{var}.dat", (char*)&brian::{arr}[0], '
                f"brian::{arr}.size() * sizeof(int32_t));"
            )
    idx = objects["current"].variables["_indices"]
    arr = device.get_array_name(idx)
    lines.append(
        f'_mfval_load("mfval_run/current_indices.dat", (char*)brian::{arr}, '
        f"{idx.size} * sizeof(int32_t));"
    )
    lines.append("}")
    return "\n".join(lines)


def _write_standalone_inputs(model, conn: dict, record_idx: np.ndarray, seed: int) -> None:
    folder = write_standalone_seed(model.directory, seed)
    for (t, s), syn in model.objects["synapses"].items():
        i, j = conn[(t, s)]
        np.ascontiguousarray(i, np.int32).tofile(folder / f"{syn.name}_synaptic_pre.dat")
        np.ascontiguousarray(j, np.int32).tofile(folder / f"{syn.name}_synaptic_post.dat")
    np.ascontiguousarray(record_idx, np.int32).tofile(folder / "current_indices.dat")


def _standalone_model(key: str, build_args: dict, openmp_threads: int, total: float, dt: float):
    """The compiled standalone model for ``key`` (built on a miss); also the compile time.

    ``build_args`` are the arguments of :func:`build_brian_network` for the
    build; everything that varies between seeds and working points (seed,
    connectivity, recorded neurons, v, I, lam) is set again at every run.
    """
    import brian2 as b2

    def build(device):
        objects = build_brian_network(**build_args)
        device.insert_code("main", _standalone_load_code(device, objects, openmp_threads))
        objects["network"].run(total * b2.second)
        return objects

    return _MODELS.get(key, build, dt, openmp_threads)


def structure_key(spec) -> str:
    """Key of the compiled ``cpp_standalone`` binary of a spec (one compile per key).

    Everything compiled into the code: the simulated network parameters, dt,
    warm-up + duration, the recorded count, a binomial split (its functions
    are compiled in; lam and drop_external are data otherwise), the sampler
    and the thread count. Seed, connectivity, recorded neurons, initial state
    and the external rates are set at run time, so specs that differ only
    there (other seeds, working points) share one binary.
    """
    from mfval.simulation.model.connectivity import population_slices

    opts = spec.backend_options()
    pert = spec.perturbation
    split = pert.poisson_split_p is not None
    drive = spec.drive() if split else None
    n_recorded = sum(min(spec.n_record, n) for _, _, n in population_slices(spec.network))
    return stable_hash(
        "network-standalone",
        brian2_version(),
        spec.simulated_network(),
        spec.dt,
        spec.warmup + spec.duration,
        [n_recorded],
        None if drive is None else [drive["n"].tolist(), drive["p"].tolist()],
        pert.drop_external if split else None,
        opts["poisson_sampler"],
        int(opts["openmp_threads"]),
    )


def run_network_brian2(spec, report: str | None = None) -> Recording:
    """Simulate a :class:`mfval.simulation.network.NetworkSpec` with Brian2; the raw Recording.

    Backend options (``spec.backend``): ``target`` (``"cpp_standalone"``,
    default, ``"cython"`` or ``"numpy"``), ``openmp_threads`` (standalone;
    leave 0 where cores are shared: with more runnable threads than cores,
    OpenMP's per-step barriers made 0.2 s take 120-210 s instead of 0.6 s
    here), ``poisson_sampler`` (see :data:`POISSON_SAMPLERS`; ``numpy``
    uses numpy's sampler). ``report``: Brian2 progress report (``"stderr"``).
    """
    import brian2 as b2

    from mfval.simulation.network.spec import initial_state

    opts = spec.backend_options()
    target, threads, sampler = opts["target"], opts["openmp_threads"], opts["poisson_sampler"]
    dt = spec.dt
    pert = spec.perturbation
    network = spec.simulated_network()
    drive = spec.drive()
    lam = spec.lam()
    lam_neurons = spec.lam_per_neuron()  # a drive_scale perturbation: per-neuron rates
    total = spec.warmup + spec.duration
    n_steps = spec.n_steps
    t_setup = time.perf_counter()
    state = initial_state(spec)
    conn, v0, record_idx, I0 = state["conn"], state["v0"], state["record_idx"], state["I0"]
    split = drive if pert.poisson_split_p is not None else None
    build_args = {
        "network": network,
        "conn": conn,
        "lam": lam,
        "v0": v0,
        "I0": I0,
        "record_idx": record_idx,
        "split": split,
        "drop_external": pert.drop_external,
        "fast_poisson": (sampler if target != "numpy" else "brian2"),
    }
    if target == "cpp_standalone":
        key = structure_key(spec)
        model, compile_s = _standalone_model(key, build_args, threads, total, dt)
        objects = model.objects
        group = objects["group"]
        _write_standalone_inputs(model, conn, record_idx, spec.seed)
        setup_s = time.perf_counter() - t_setup - compile_s
        t0 = time.perf_counter()
        model.device.run(
            directory=str(model.directory),
            with_output=False,
            run_args={
                group.v: v0 * b2.volt,
                group.I: I0 * b2.amp,
                group.lam_exc: lam[0] if lam_neurons is None else lam_neurons[0],
                group.lam_inh: lam[1] if lam_neurons is None else lam_neurons[1],
            },
        )
        run_s = time.perf_counter() - t0
    else:
        configure_runtime(target)
        b2.start_scope()
        b2.defaultclock.dt = dt * b2.second
        b2.seed(spec.seed)
        objects = build_brian_network(**build_args)
        if lam_neurons is not None:
            objects["group"].lam_exc = lam_neurons[0]
            objects["group"].lam_inh = lam_neurons[1]
        network_obj = objects["network"]
        setup_s = time.perf_counter() - t_setup
        t0 = time.perf_counter()
        network_obj.run(dt * b2.second)  # code generation and compilation (or cache load)
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        network_obj.run(
            total * b2.second - dt * b2.second, report=report, report_period=10 * b2.second
        )
        run_s = time.perf_counter() - t0
    spikes, current = objects["spikes"], objects["current"]
    spike_label = np.round(np.asarray(spikes.t[:] / b2.second, float) / dt).astype(np.int64)
    rec_step = np.round(np.asarray(current.t[:] / b2.second, float) / dt).astype(np.int64)
    return Recording(
        simulator="brian2",
        version=brian2_version(),
        dt=dt,
        n_steps=n_steps,
        n_neurons=len(v0),
        # SpikeMonitor time = start of the step whose end state crossed: detection one step later
        spike_step=spike_label + 1,
        spike_sender=np.asarray(spikes.i[:], dtype=np.int32),
        state={"I": np.asarray(current.I[:] / b2.amp, float)},
        state_index={"I": np.asarray(record_idx, np.int32)},
        state_step={"I": rec_step},
        conventions={"state_sample": STATE_AFTER_JUMPS},
        metadata={
            "target": target,
            "threads": int(threads),
            "poisson_sampler": sampler,
            "seed": int(spec.seed),
            "setup_s": float(setup_s),
            "compile_s": float(compile_s),
            "run_s": float(run_s),
            "out_degree": state["out_degree"],
        },
    )
