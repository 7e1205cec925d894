"""Brian2 backend of the open-loop transfer-function protocol: ``run_transfer_brian2(spec)``.

Modulation without losing exact integration: the subthreshold system is
linear, so the response of v to the deterministic modulation
delta_mu(t) = Re[dmu e^{i w t}] is known in closed form, v_mod(t) =
Re[dmu H(w) e^{i w t}] with H of :func:`mfval.simulation.model.lif.modulation_filter`
(through the synaptic current or into the membrane). The state variable
holds v - v_mod and the threshold is ``v + v_mod > V_th``
(:mod:`mfval.simulation.model.lif`), so every grid value of the total potential is exact.

Recording conventions (:mod:`mfval.simulation.model.recording`):

- ``spike_step = round(t / dt) + 1``: Brian2 labels a spike with the clock
  time t at the start of the step that advanced the state to t + dt;
- the threshold condition evaluates v_mod at that clock time t, i.e. one
  step before the detection step: at the grid time k dt of detection the
  membrane sees the modulation of (k - 1) dt, so ``stimulus_factor =
  exp(-i w dt)`` (the measurement divides it out; the net effect on N is
  nil: the result equals labelling spikes by the clock time);
- probe potentials ``v`` (relative to E_L) are sampled at ``when="start"``,
  the grid state at the clock time (``state_step = round(t / dt)``), every
  ``spec.probe_interval``.

Seeds: the Poisson drive's generator gets ``seed`` (``brian2.seed`` in the
runtime, the same seeding of the standalone generators at run time), numpy
``default_rng(seed)`` draws the initial potentials.

Targets (``spec.backend["target"]``)
------------------------------------
``cpp_standalone`` (default): one binary is compiled per process and
*structure* (network parameters, input weights, neuron and probe counts, dt,
total time, compiled-in planted latency, Brian2 version; see
:func:`structure_key`) and run again for every seed, working point, frequency
set and amplitude: the seed, the Poisson means ``lam_exc``/``lam_inh``, the
modulation ``f_mod``/``mod_amp``/``mod_phase`` and the initial potentials are
set at run time (``run_args``; the seed from a file read by ``main``). A
compiled copy is kept as a template (:mod:`mfval.simulation.model.device`), so later
processes only pay code generation. ``cython`` and ``numpy``: Brian2's
runtime. ``cpp_standalone`` and ``cython`` draw the Poisson counts from
Brian2's ``poisson()`` with identically seeded generators, so the same seed
gives the same spikes on both (tested).
"""

from __future__ import annotations

import atexit
import time
from dataclasses import dataclass

import numpy as np

from mfval.config import stable_hash
from mfval.simulation.model.device import (
    StandaloneCache,
    configure_runtime,
    standalone_seed_code,
    write_standalone_seed,
)
from mfval.simulation.model.recording import Recording, open_loop_conventions
from mfval.simulation.model.versions import brian2_version

TARGETS = ("cpp_standalone", "cython", "numpy")


@dataclass(frozen=True)
class OpenLoopArrays:
    """Everything one open-loop run needs, as plain data (SI: V, A, s, Hz).

    Attributes
    ----------
    network : dict
        ``network`` section of the parameters (tau_m, tau_s, C, E_L, V_th,
        V_reset, tau_r).
    W_exc, W_inh : float
        PSC amplitudes of the excitatory and inhibitory Poisson streams (A).
    lam_exc, lam_inh : float
        Expected input counts per step of the two streams (rate * dt).
    f_mod, mod_amp, mod_phase : ndarray, shape (n,)
        Per neuron: modulation frequency (Hz), amplitude of the membrane
        potential modulation v_mod (V) and its phase (rad).
    v0 : ndarray, shape (n,)
        Initial membrane potentials relative to E_L (V).
    n_probe : int
        Non-spiking probe neurons (0: none), initial potential ``probe_v0``.
    probe_v0 : float
        Initial potential of the probes (V).
    probe_interval : float
        Interval of the probes' membrane-potential samples (s).
    mod_delay : float
        Latency of the modulation (s); nonzero only as a planted error.
    dt, total : float
        Time step and simulated time (s).
    seed : int
        Seed of the Poisson drive.
    poisson_sampler : {"table", "brian2"}
        Exact Poisson sampler of the drive (compiled in): tabulated CDF
        inversion with a guide table (:func:`mfval.simulation.model.lif.table_poisson_function`,
        Cython and C++) or Brian2's ``poisson()``. Both are exact; they give
        different realizations.
    """

    network: dict
    W_exc: float
    W_inh: float
    lam_exc: float
    lam_inh: float
    f_mod: np.ndarray
    mod_amp: np.ndarray
    mod_phase: np.ndarray
    v0: np.ndarray
    n_probe: int
    probe_v0: float
    probe_interval: float
    mod_delay: float
    dt: float
    total: float
    seed: int
    poisson_sampler: str = "table"

    @property
    def n(self) -> int:
        return int(np.size(self.v0))


def structure_key(arrays: OpenLoopArrays) -> str:
    """Key of the compiled code: what is compiled in, not what is set at run time."""
    net = arrays.network
    return stable_hash(
        "open-loop-standalone",
        brian2_version(),
        {k: net[k] for k in ("tau_m", "tau_s", "C", "E_L", "V_th", "V_reset", "tau_r")},
        float(arrays.W_exc),
        float(arrays.W_inh),
        arrays.n,
        int(arrays.n_probe),
        float(arrays.probe_interval),
        float(arrays.dt),
        float(arrays.total),
        float(arrays.mod_delay),
        arrays.poisson_sampler,
    )


def _build_objects(arrays: OpenLoopArrays) -> dict:
    """Brian2 objects (current scope and device) with the values of ``arrays``."""
    import brian2 as b2

    from mfval.simulation.model.lif import (
        FAST_POISSON_INPUT_CODE,
        make_lif_group,
        table_poisson_function,
    )

    net = arrays.network
    if arrays.poisson_sampler == "table":
        drive = {
            "input_code": FAST_POISSON_INPUT_CODE,
            "extra_namespace": {"poisson_fast": table_poisson_function()},
        }
    elif arrays.poisson_sampler == "brian2":
        drive = {}
    else:
        raise ValueError(
            "poisson_sampler must be 'table' or 'brian2', got "
            f"poisson_sampler = {arrays.poisson_sampler!r}"
        )
    neurons = make_lif_group(
        arrays.n, net, arrays.W_exc, arrays.W_inh, modulated=True, name="open_loop", **drive
    )
    neurons.namespace["mod_delay"] = float(arrays.mod_delay) * b2.second
    neurons.lam_exc = arrays.lam_exc
    neurons.lam_inh = arrays.lam_inh
    neurons.f_mod = np.asarray(arrays.f_mod, float) * b2.Hz
    neurons.mod_amp = np.asarray(arrays.mod_amp, float) * b2.volt
    neurons.mod_phase = np.asarray(arrays.mod_phase, float)
    neurons.v = np.asarray(arrays.v0, float) * b2.volt
    spikes = b2.SpikeMonitor(neurons, name="open_loop_spikes")
    objects = {"neurons": neurons, "spikes": spikes, "probe": None, "probe_v": None}
    if arrays.n_probe > 0:
        probe = make_lif_group(
            arrays.n_probe, net, arrays.W_exc, arrays.W_inh, modulated=False, name="probe", **drive
        )
        probe.namespace["V_th"] = 1.0 * b2.volt  # never reached: free membrane potential
        probe.lam_exc = arrays.lam_exc
        probe.lam_inh = arrays.lam_inh
        probe.v = float(arrays.probe_v0) * b2.volt
        probe_v = b2.StateMonitor(
            probe, "v", record=True, dt=arrays.probe_interval * b2.second, name="probe_v"
        )
        objects.update(probe=probe, probe_v=probe_v)
    objects["network"] = b2.Network(*(o for o in objects.values() if o is not None))
    return objects


def _run_args(objects: dict, arrays: OpenLoopArrays) -> dict:
    """Values set at run time of a compiled binary (everything but the structure)."""
    import brian2 as b2

    neurons, probe = objects["neurons"], objects["probe"]
    out = {
        neurons.v: np.asarray(arrays.v0, float) * b2.volt,
        neurons.lam_exc: arrays.lam_exc,
        neurons.lam_inh: arrays.lam_inh,
        neurons.f_mod: np.asarray(arrays.f_mod, float) * b2.Hz,
        neurons.mod_amp: np.asarray(arrays.mod_amp, float) * b2.volt,
        neurons.mod_phase: np.asarray(arrays.mod_phase, float),
    }
    if probe is not None:
        out.update(
            {
                probe.v: float(arrays.probe_v0) * b2.volt,
                probe.lam_exc: arrays.lam_exc,
                probe.lam_inh: arrays.lam_inh,
            }
        )
    return out


_MODELS = StandaloneCache(max_models=2)
atexit.register(_MODELS.clear)


def _read_out(objects: dict) -> dict:
    import brian2 as b2

    spikes, probe_v = objects["spikes"], objects["probe_v"]
    out = {
        "spike_i": np.asarray(spikes.i[:], np.int64),
        "spike_t": np.asarray(spikes.t[:] / b2.second, float),
        "probe_t": np.zeros(0),
        "probe_v": np.zeros((0, 0)),
    }
    if probe_v is not None:
        out["probe_t"] = np.asarray(probe_v.t[:] / b2.second, float)
        out["probe_v"] = np.asarray(probe_v.v[:] / b2.volt, float)
    return out


def run_open_loop(arrays: OpenLoopArrays, target: str = "cpp_standalone") -> dict:
    """Simulate the open-loop neurons of ``arrays``.

    Parameters
    ----------
    arrays : OpenLoopArrays
        The run, as plain data.
    target : {"cpp_standalone", "cython", "numpy"}
        Code generation (module docstring); same spikes for the same seed.

    Returns
    -------
    dict
        ``spike_i`` (int64, shape (n_spikes,)): neuron index;
        ``spike_t`` (s, shape (n_spikes,)): grid time of the step in which the
        threshold crossing was detected; ``probe_t`` (s, shape (n_samples,))
        and ``probe_v`` (V, shape (n_probe, n_samples)): the probes' free
        membrane potential, sampled every ``probe_interval`` at the
        start of the step; ``compile_s``,
        ``run_s``: wall times (s); ``target``.
    """
    import brian2 as b2

    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got target = {target!r}")
    if target == "cpp_standalone":
        key = structure_key(arrays)

        def build(device):
            objects = _build_objects(arrays)
            device.insert_code("main", standalone_seed_code(n_threads=0))
            objects["network"].run(arrays.total * b2.second, namespace={})
            return objects

        model, compile_s = _MODELS.get(key, build, arrays.dt)
        write_standalone_seed(model.directory, arrays.seed)
        t0 = time.perf_counter()
        model.device.run(
            directory=str(model.directory),
            with_output=False,
            run_args=_run_args(model.objects, arrays),
        )
        run_s = time.perf_counter() - t0
        return {
            **_read_out(model.objects),
            "compile_s": compile_s,
            "run_s": run_s,
            "target": target,
        }
    configure_runtime(target)
    b2.start_scope()
    b2.defaultclock.dt = arrays.dt * b2.second
    b2.seed(int(arrays.seed))
    objects = _build_objects(arrays)
    t0 = time.perf_counter()
    objects["network"].run(arrays.dt * b2.second, namespace={})  # code generation / cache load
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    objects["network"].run((arrays.total - arrays.dt) * b2.second, namespace={})
    run_s = time.perf_counter() - t0
    return {**_read_out(objects), "compile_s": compile_s, "run_s": run_s, "target": target}


def transfer_arrays(spec) -> OpenLoopArrays:
    """The :class:`OpenLoopArrays` of a :class:`mfval.simulation.open_loop.TransferSpec`."""
    from mfval.simulation.model.lif import modulation_filter
    from mfval.simulation.open_loop.spec import neuron_layout

    sim = spec.simulated()
    network = sim["network"]
    freqs = np.asarray(spec.frequencies, float)
    H = modulation_filter(
        freqs, float(network["tau_m"]), float(network["tau_s"]), sim["filter_mode"]
    )
    group_of, _ = neuron_layout(spec)
    rng = np.random.default_rng(spec.seed)
    v_th = float(network["V_th"] - network["E_L"])
    v_reset = float(network["V_reset"] - network["E_L"])
    return OpenLoopArrays(
        network=network,
        W_exc=float(sim["W_exc"]),
        W_inh=float(sim["W_inh"]),
        lam_exc=spec.rate_exc * spec.dt,
        lam_inh=spec.rate_inh * spec.dt,
        f_mod=freqs[group_of],
        mod_amp=(sim["amplitudes"] * np.abs(H))[group_of],
        mod_phase=np.angle(H)[group_of],
        v0=rng.uniform(v_reset, v_th, spec.n_neurons),
        n_probe=int(spec.n_probe),
        probe_v0=float(spec.mu),
        probe_interval=float(spec.probe_interval),
        mod_delay=float(sim["mod_delay"]),
        dt=float(spec.dt),
        total=spec.n_steps * spec.dt,
        seed=int(spec.seed),
        poisson_sampler=spec.backend_options()["poisson_sampler"],
    )


def run_transfer_brian2(spec) -> Recording:
    """Simulate a :class:`~mfval.simulation.open_loop.spec.TransferSpec` with Brian2 (Recording)."""

    target = spec.backend_options()["target"]
    arrays = transfer_arrays(spec)
    t_wall = time.perf_counter()
    out = run_open_loop(arrays, target=target)
    wall = time.perf_counter() - t_wall
    n, dt = arrays.n, arrays.dt
    state, state_index, state_step = {}, {}, {}
    if arrays.n_probe > 0:
        state["v"] = out["probe_v"]
        state_index["v"] = n + np.arange(arrays.n_probe, dtype=np.int32)
        state_step["v"] = np.round(out["probe_t"] / dt).astype(np.int64)
    factor = np.exp(-1j * 2 * np.pi * np.asarray(spec.frequencies, float) * dt)
    return Recording(
        simulator="brian2",
        version=brian2_version(),
        dt=dt,
        n_steps=spec.n_steps,
        n_neurons=n,
        spike_step=np.round(out["spike_t"] / dt).astype(np.int64) + 1,
        spike_sender=out["spike_i"].astype(np.int32),
        state=state,
        state_index=state_index,
        state_step=state_step,
        conventions=open_loop_conventions(factor),
        metadata={
            "target": target,
            "threads": 1,
            "seed": int(spec.seed),
            "wall_s": wall,
            "compile_s": out["compile_s"],
            "run_s": out["run_s"],
        },
    )
