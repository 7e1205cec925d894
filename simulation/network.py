"""The E-I network protocol at one working point: spec, backends, measurements.

Three layers (design, "Simulation protocols"):

- :class:`NetworkSpec` (this module): plain data that fully defines a run:
  model parameters, fixed in-degree connectivity rule, drive (the theory's
  external rates), durations, seed, recorded neurons, simulator and its
  options, and any deliberate :class:`NetworkPerturbation` (planted errors
  live here, nowhere else). :func:`make_network_spec` builds it from the
  parameters and the theory.
- backends ``run(spec) -> Recording``: :func:`run_network` dispatches to
  :func:`simulation.network_brian2.run_network_brian2` (default) or
  :func:`simulation.network_nest.run_network_nest` (optional extra,
  imported only when selected).
- measurements of :mod:`simulation.network_measure`, pure functions of
  (recording, spec), shared by every backend: :func:`measure_network` gives
  the table :func:`simulate_network` and :func:`network_task` return.

Model (both backends): all neurons are the shared LIF model of
:mod:`simulation.lif` (NEST ``iaf_psc_exp`` semantics, exact integration,
potentials relative to E_L), populations in the order of ``network
['populations']`` (E first, then I), neuron indices global in that order.

- Recurrent connectivity: fixed in-degree. Every neuron of target population
  t receives exactly ``K[t, s]`` connections from population s, drawn
  **without replacement** (no multapses), never from itself (no autapses):
  for each target, the ``K`` smallest of uniform random keys over the source
  population, with the key of the target itself set above all others
  (vectorized ``argpartition``, :func:`build_connectivity`). PSC amplitude
  ``W[t, s]``, one delay ``network['delay']`` for all recurrent connections.
  Both backends use the same realization (from the spec's seed), so that a
  cross-simulator comparison is not blurred by quenched disorder that the
  block standard errors do not sample.
- External drive: two Poisson sources per neuron (K_ext = 1 each) at the
  rates ``nu_ext`` that the theory derives for (mu, sigma), weights
  ``W_ext[t, :]``, exact Poisson counts per step.
- Initial state: v uniform in [V_reset, V_th) (relative), I at its mean
  value C mu / tau_m; a warm-up is simulated and discarded
  (:func:`initial_state`).
- Seeds: a ``numpy.random.RandomState(seed)`` for connectivity, initial v
  and recorded neurons; the simulator's own generator, seeded with the same
  seed, for the Poisson drive. Same seed and options, same numbers.

Perturbations (:class:`NetworkPerturbation`, to prove that the checks can
fail): a factor on any recurrent pathway's weight, a dropped external
source, a binomial split of the Poisson drive (refused above
``max_poisson_p`` unless explicitly allowed), and a different synaptic time
constant with the PSC charge W tau_s kept. They change what is simulated,
never the measurement, which interprets the Recording with the nominal
parameters.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mfval.params import require_positive, stable_hash
from mfval.tasks import Task
from simulation.recording import StepGrid

#: simulators with a backend for this protocol
SIMULATORS = ("brian2", "nest")

#: bump when the content of a network result changes
NETWORK_SCHEMA = 5
#: bump when the content of a network recording changes
RECORDING_SCHEMA = 1

#: largest expected Poisson count per step and source (int32 counts; far above any real use)
MAX_COUNTS_PER_STEP = 1.0e6


# ----------------------------------------------------------------------------- checks


def check_duration(duration: float, name: str = "duration") -> float:
    """Return ``duration`` as float or raise ValueError naming it."""
    try:
        value = float(duration)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {name} = {duration!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {name} = {duration!r} s")
    return value


def check_poisson_drive(
    nu_ext,
    dt: float,
    params: dict,
    split_p: float | None = None,
    allow_biased_poisson: bool = False,
) -> dict:
    """Check that the external Poisson sources are valid at time step ``dt``.

    Rules (the two Poisson pitfalls and the integration pitfall of the design):

    - ``dt`` must be positive, finite and smaller than tau_s (the synaptic
      current must be resolved; the exact propagator then applies to the
      per-step input counts) and must divide the delay;
    - the expected count per step, rate * dt, must stay below
      :data:`MAX_COUNTS_PER_STEP` (int32 counts);
    - with a binomial split (``split_p``), each source's count is
      Binomial(n, p) with n = round(rate * dt / p) >= 1 sub-sources; its
      variance is short of Poisson by the factor (1 - p), so p must not exceed
      ``params['simulation']['max_poisson_p']`` unless
      ``allow_biased_poisson=True`` (planted-error mode only).

    Returns
    -------
    dict
        ``lam`` (expected counts per step, per source), and for a split
        ``n`` (sub-sources) and ``p`` (per sub-source probability, adjusted
        so that n p = lam exactly).

    Raises
    ------
    ValueError
        Naming ``dt`` (and its value) or ``poisson_split_p``.
    """
    net, sim = params["network"], params["simulation"]
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be positive and finite, got dt = {dt!r} s")
    if dt >= net["tau_s"]:
        raise ValueError(
            f"dt = {dt!r} s is not smaller than tau_s = {net['tau_s']!r} s: the Poisson "
            "sources' shot noise would not be resolved by the synaptic current"
        )
    steps = net["delay"] / dt
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"dt = {dt!r} s does not divide the delay {net['delay']!r} s")
    nu_ext = np.asarray(nu_ext, float)
    if np.any(~np.isfinite(nu_ext)) or np.any(nu_ext < 0):
        raise ValueError(f"external rates must be finite and >= 0, got {nu_ext} Hz")
    lam = nu_ext * dt
    if np.any(lam > MAX_COUNTS_PER_STEP):
        raise ValueError(
            f"dt = {dt!r} s gives {lam.max():.3g} expected input counts per step and source "
            f"(> {MAX_COUNTS_PER_STEP:g}): the Poisson source is invalid at this dt"
        )
    out = {"lam": lam}
    if split_p is not None:
        p = float(split_p)
        if not (0 < p <= 1):
            raise ValueError(f"poisson_split_p must be in (0, 1], got poisson_split_p = {p!r}")
        if p > sim["max_poisson_p"] and not allow_biased_poisson:
            raise ValueError(
                f"poisson_split_p = {p!r} exceeds max_poisson_p = {sim['max_poisson_p']!r}: a "
                "binomial split biases the input variance by (1 - p); pass "
                "allow_biased_poisson=True only to plant this error"
            )
        n = np.maximum(1, np.round(lam / p)).astype(int)
        out["n"] = n
        out["p"] = np.where(lam > 0, lam / n, 0.0)
        if np.any(out["p"] > 1):
            raise ValueError(f"dt = {dt!r} s makes a split Poisson source invalid (p > 1)")
    return out


# ----------------------------------------------------------------------------- connectivity


def fixed_indegree_sources(
    n_targets: int,
    n_sources: int,
    k: int,
    rng: np.random.RandomState,
    same: bool,
    chunk: int = 256,
) -> np.ndarray:
    """Source indices, shape (n_targets, k): k distinct sources per target.

    No multapses (without replacement); if ``same`` (source population is
    the target population), target j never receives from source j (no
    autapses). Each row is sorted.
    """
    available = n_sources - (1 if same else 0)
    if k > available:
        raise ValueError(
            f"in-degree K = {k} exceeds the {available} available sources (N = {n_sources})"
        )
    out = np.empty((n_targets, k), dtype=np.int32)
    if k == 0:
        return out
    for start in range(0, n_targets, chunk):
        stop = min(start + chunk, n_targets)
        keys = rng.random_sample((stop - start, n_sources))
        if same:
            rows = np.arange(stop - start)
            keys[rows, start + rows] = 2.0  # above every uniform key: never chosen
        sel = (
            np.argpartition(keys, k - 1, axis=1)[:, :k]
            if k < n_sources
            else (np.argsort(keys, axis=1))
        )
        out[start:stop] = np.sort(sel, axis=1)
    return out


def population_slices(network: dict) -> list[tuple[str, int, int]]:
    """(name, first index, size) of each population in the NeuronGroup."""
    sizes = np.asarray(network["N"], int)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return [(p, int(o), int(n)) for p, o, n in zip(network["populations"], offsets, sizes)]


def build_connectivity(network: dict, rng: np.random.RandomState) -> dict:
    """Fixed in-degree connectivity: ``{(t, s): (i_global_pre, j_global_post)}``.

    Indices are global neuron indices into the single NeuronGroup; pairs are
    sorted by presynaptic index.
    """
    pops = population_slices(network)
    K = np.asarray(network["K"], int)
    conn = {}
    for t, (_, t_off, t_n) in enumerate(pops):
        for s, (_, s_off, s_n) in enumerate(pops):
            src = fixed_indegree_sources(t_n, s_n, int(K[t, s]), rng, same=(t == s))
            i = (src + s_off).ravel()
            j = np.repeat(np.arange(t_off, t_off + t_n, dtype=np.int32), K[t, s])
            order = np.argsort(i, kind="stable")
            conn[(t, s)] = (i[order].astype(np.int32), j[order].astype(np.int32))
    return conn


# ----------------------------------------------------------------------------- theory


def theory_for_point(mu: float, sigma: float, params: dict) -> dict:
    """nu_ext (Hz) and the self-consistent rates (Hz) for (mu, sigma) in V.

    Raises :class:`theory.mean_field.InfeasibleWorkingPointError` (naming
    mu and sigma) for a point the theory cannot realize.
    """
    from theory.mean_field import external_rates_for_fixed_input, nnmt_arrays, working_point

    arrays = nnmt_arrays(params["network"])
    nu_ext = external_rates_for_fixed_input(mu, sigma, arrays)
    wp = working_point(nu_ext, arrays)
    return {"mu": float(mu), "sigma": float(sigma), "nu_ext": nu_ext, **wp}


# ----------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class NetworkPerturbation:
    """Deliberate errors of one run (plain data); the default is no perturbation.

    Attributes
    ----------
    weight_scale : tuple of tuples
        Factor on the recurrent PSC amplitude W[t, s] of each pathway
        (targets x sources), e.g. ``((1.05, 1), (1, 1))`` for a 5 % error in
        E->E only.
    drop_external : {None, "exc", "inh"}
        Drop one external Poisson source.
    poisson_split_p : float, optional
        Binomial split of the external drive with this probability per
        sub-source instead of exact Poisson counts (Brian2 only).
    allow_biased_poisson : bool
        Allow ``poisson_split_p`` above ``max_poisson_p``.
    tau_s : float, optional
        Simulated synaptic time constant (s) instead of the nominal one, with
        every PSC amplitude scaled by tau_s_nominal / tau_s so that the PSC
        charge W tau_s (hence the mean input) is kept.
    tau_m_scale : float
        Factor on the simulated membrane time constant (nothing else changes,
        so the mean input and its fluctuations change with it).
    """

    weight_scale: tuple = ((1.0, 1.0), (1.0, 1.0))
    drop_external: str | None = None
    poisson_split_p: float | None = None
    allow_biased_poisson: bool = False
    tau_s: float | None = None
    tau_m_scale: float = 1.0

    def __post_init__(self):
        if self.drop_external not in (None, "exc", "inh"):
            raise ValueError(
                f"drop_external must be None, 'exc' or 'inh', got {self.drop_external!r}"
            )
        scale = np.asarray(self.weight_scale, float)
        if scale.ndim != 2 or not np.all(np.isfinite(scale)):
            raise ValueError(f"weight_scale must be a finite matrix, got {self.weight_scale!r}")
        object.__setattr__(self, "weight_scale", tuple(tuple(map(float, r)) for r in scale))
        if self.tau_s is not None:
            require_positive("tau_s", self.tau_s, "s")
        require_positive("tau_m_scale", self.tau_m_scale)

    @classmethod
    def from_options(cls, options: dict) -> NetworkPerturbation:
        """A perturbation from the planted-error keywords of the earlier interface.

        ``weight_scale_exc`` (factor on every weight from E), ``drop_external``,
        ``poisson_split_p``, ``allow_biased_poisson``, ``weight_scale``,
        ``tau_s``, ``tau_m_scale``; the keys are removed from ``options``.
        """
        kw = {}
        exc = options.pop("weight_scale_exc", 1.0)
        scale = np.array(options.pop("weight_scale", ((1.0, 1.0), (1.0, 1.0))), float)
        scale[:, 0] *= float(exc)
        kw["weight_scale"] = scale
        for name in (
            "drop_external",
            "poisson_split_p",
            "allow_biased_poisson",
            "tau_s",
            "tau_m_scale",
        ):
            if name in options:
                kw[name] = options.pop(name)
        return cls(**kw)


@dataclass(frozen=True)
class NetworkSpec(StepGrid):
    """Plain data that fully defines one network run (SI units).

    ``n_blocks`` is an analysis choice (blocks of the standard errors): it
    is not part of the recording's identity (:func:`recording_key`), so a
    new block count re-measures the stored recording.
    """

    mu: float
    sigma: float
    network: dict
    nu_ext: tuple
    theory_rates: tuple
    dt: float
    warmup: float
    duration: float
    n_blocks: int
    n_record: int
    seed: int
    max_poisson_p: float
    simulator: str = "brian2"
    backend: dict = field(default_factory=dict)
    perturbation: NetworkPerturbation = field(default_factory=NetworkPerturbation)

    def backend_options(self) -> dict:
        """Backend options with defaults filled in (see the backends)."""
        defaults = {
            "brian2": {"target": "cpp_standalone", "openmp_threads": 0, "poisson_sampler": "table"},
            "nest": {"threads": 1},
        }[self.simulator]
        return {**defaults, **self.backend}

    def simulated_network(self) -> dict:
        """Network parameters as simulated: the nominal ones with the perturbation applied."""
        net = dict(self.network)
        pert = self.perturbation
        W = np.asarray(net["W"], float) * np.asarray(pert.weight_scale, float)
        W_ext = np.asarray(net["W_ext"], float)
        if pert.tau_s is not None:
            charge = float(net["tau_s"]) / pert.tau_s
            W, W_ext = W * charge, W_ext * charge
            net["tau_s"] = float(pert.tau_s)
        net["tau_m"] = float(net["tau_m"]) * pert.tau_m_scale
        net["W"], net["W_ext"] = W, W_ext
        return net

    def drive(self) -> dict:
        """:func:`check_poisson_drive` of the external rates (with the split, if any)."""
        pert = self.perturbation
        return check_poisson_drive(
            self.nu_ext,
            self.dt,
            {
                "network": self.simulated_network(),
                "simulation": {"max_poisson_p": self.max_poisson_p},
            },
            pert.poisson_split_p,
            pert.allow_biased_poisson,
        )

    def lam(self) -> np.ndarray:
        """Expected external counts per step and source (after a dropped source)."""
        lam = np.asarray(self.nu_ext, float) * self.dt
        if self.perturbation.drop_external == "exc":
            lam[0] = 0.0
        elif self.perturbation.drop_external == "inh":
            lam[1] = 0.0
        return lam


def make_network_spec(
    mu: float,
    sigma: float,
    params: dict,
    seed: int | None = None,
    duration: float | None = None,
    warmup: float | None = None,
    n_blocks: int | None = None,
    n_record: int = 100,
    theory: dict | None = None,
    simulator: str = "brian2",
    backend: dict | None = None,
    perturbation: NetworkPerturbation | None = None,
) -> NetworkSpec:
    """The spec of a run at working point (mu, sigma) (V), checked before anything runs.

    Defaults come from ``params['simulation']``; the external rates and the
    theory rates from :func:`theory_for_point` unless ``theory`` is given.

    Raises
    ------
    InfeasibleWorkingPointError
        The theory cannot realize (mu, sigma).
    ValueError
        Bad duration, warm-up, block count, dt, simulator or perturbation,
        naming the parameter and its value.
    """
    sim = params["simulation"]
    duration = check_duration(sim["network_duration"] if duration is None else duration)
    warmup = float(sim["network_warmup"] if warmup is None else warmup)
    if not (math.isfinite(warmup) and warmup >= 0):
        raise ValueError(f"warmup must be >= 0, got warmup = {warmup!r} s")
    seed = int(sim["seed"] if seed is None else seed)
    n_blocks = int(sim["network_blocks"] if n_blocks is None else n_blocks)
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be >= 2 for a standard error, got n_blocks = {n_blocks}")
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, got simulator = {simulator!r}")
    backend = dict(backend or {})
    if simulator == "brian2":
        target = backend.get("target", "cpp_standalone")
        if target not in ("cython", "numpy", "cpp_standalone"):
            raise ValueError(f"unknown target = {target!r}")
        sampler = backend.get("poisson_sampler", "table")
        if sampler not in POISSON_SAMPLERS:
            raise ValueError(f"poisson_sampler must be one of {POISSON_SAMPLERS}, got {sampler!r}")
    dt = float(sim["dt"])
    if theory is None:
        theory = theory_for_point(mu, sigma, params)
    nu_ext = np.asarray(theory["nu_ext"], float)
    n_pops = len(params["network"]["populations"])
    theory_rates = np.ravel(theory.get("firing_rates", np.full(n_pops, np.nan)))
    spec = NetworkSpec(
        mu=float(mu),
        sigma=float(sigma),
        network={k: v for k, v in params["network"].items()},
        nu_ext=tuple(float(x) for x in nu_ext),
        theory_rates=tuple(float(x) for x in theory_rates),
        dt=dt,
        warmup=warmup,
        duration=duration,
        n_blocks=n_blocks,
        n_record=int(n_record),
        seed=seed,
        max_poisson_p=float(sim["max_poisson_p"]),
        simulator=simulator,
        backend=backend,
        perturbation=perturbation or NetworkPerturbation(),
    )
    spec.drive()  # dt, rates and split checked before anything is simulated
    if spec.duration_steps < n_blocks or spec.duration_steps % n_blocks:
        raise ValueError(
            f"duration = {duration!r} s must hold a whole number of steps per block "
            f"(dt = {dt!r} s, n_blocks = {n_blocks})"
        )
    return spec


def initial_state(spec: NetworkSpec) -> dict:
    """Connectivity, initial v, recorded neurons and initial I of a run (shared by backends).

    Returns
    -------
    dict
        ``conn`` (:func:`build_connectivity`), ``v0`` (V relative to E_L,
        shape (N,)), ``record_idx`` (``n_record`` neurons per population,
        sorted, global indices), ``I0`` (A).
    """
    net = spec.network
    rng = np.random.RandomState(spec.seed)
    pops = population_slices(net)
    n_total = int(sum(n for _, _, n in pops))
    conn = build_connectivity(net, rng)
    v0 = rng.uniform(0.0, net["V_th"] - net["V_reset"], size=n_total) + (
        net["V_reset"] - net["E_L"]
    )
    record_idx = np.concatenate(
        [o + np.sort(rng.choice(n, size=min(spec.n_record, n), replace=False)) for _, o, n in pops]
    )
    I0 = net["C"] * spec.mu / net["tau_m"]
    out_degree = np.zeros(n_total, np.int64)
    for i, _ in conn.values():
        out_degree += np.bincount(i, minlength=n_total)
    return {
        "conn": conn,
        "v0": v0,
        "record_idx": record_idx,
        "I0": I0,
        "out_degree": out_degree.astype(np.int32),
    }


#: exact Poisson samplers of the Brian2 drive: Brian2's ``poisson()``,
#: sequential CDF inversion, tabulated CDF inversion from the mode
POISSON_SAMPLERS = ("brian2", "inversion", "table")


# ----------------------------------------------------------------------------- backends


def run_network(spec: NetworkSpec, report: str | None = None):
    """Run ``spec`` on its simulator; the raw :class:`simulation.recording.Recording`."""
    if spec.simulator == "brian2":
        from simulation.network_brian2 import run_network_brian2

        return run_network_brian2(spec, report=report)
    if spec.simulator == "nest":
        from simulation.network_nest import run_network_nest

        return run_network_nest(spec)
    raise ValueError(f"simulator must be one of {SIMULATORS}, got {spec.simulator!r}")


def simulate_network(
    mu: float,
    sigma: float,
    params: dict,
    duration: float | None = None,
    seed: int | None = None,
    n_blocks: int | None = None,
    theory: dict | None = None,
    warmup: float | None = None,
    n_record: int = 100,
    target: str = "cpp_standalone",
    openmp_threads: int = 0,
    report: str | None = None,
    return_details: bool = False,
    poisson_sampler: str = "table",
    simulator: str = "brian2",
    threads: int = 1,
    perturbation: NetworkPerturbation | None = None,
    **planted,
):
    """Spec, run and measurement of the E-I network at (mu, sigma) in one call.

    Convenience for scripts and tests: :func:`make_network_spec`, then
    :func:`run_network`, then :func:`simulation.network_measure.measure_network`.
    ``target``, ``openmp_threads``, ``poisson_sampler`` are Brian2 backend
    options, ``threads`` NEST's; ``planted`` accepts the planted-error
    keywords of :meth:`NetworkPerturbation.from_options` (``weight_scale_exc``,
    ``drop_external``, ``poisson_split_p``, ``allow_biased_poisson``) and
    turns them into the spec's perturbation.

    Returns
    -------
    pandas.DataFrame
        :func:`simulation.network_measure.measure_network`; with
        ``return_details``, a tuple ``(frame, details)`` with ``spike_i``,
        ``spike_t`` (detection times, s), ``connectivity``, ``record_idx``,
        ``record_t``, ``record_I``, ``lam``, ``v0``, ``recording``, ``spec``.
    """
    from simulation.network_measure import measure_network

    if planted:
        if perturbation is not None:
            raise TypeError("give either perturbation or planted-error keywords, not both")
        perturbation = NetworkPerturbation.from_options(planted)
        if planted:
            raise TypeError(f"unknown options {sorted(planted)}")
    backend = (
        {
            "target": target,
            "openmp_threads": int(openmp_threads),
            "poisson_sampler": poisson_sampler,
        }
        if simulator == "brian2"
        else {"threads": int(threads)}
    )
    spec = make_network_spec(
        mu,
        sigma,
        params,
        seed=seed,
        duration=duration,
        warmup=warmup,
        n_blocks=n_blocks,
        n_record=n_record,
        theory=theory,
        simulator=simulator,
        backend=backend,
        perturbation=perturbation,
    )
    recording = run_network(spec, report=report)
    frame = measure_network(recording, spec)
    if return_details:
        state = initial_state(spec)
        details = {
            "spike_i": recording.spike_sender.astype(np.int64),
            "spike_t": recording.spike_times,
            "connectivity": state["conn"],
            "record_idx": recording.state_index["I"],
            "record_t": recording.state_step["I"] * spec.dt,
            "record_I": recording.state["I"],
            "lam": spec.lam(),
            "v0": state["v0"],
            "recording": recording,
            "spec": spec,
        }
        return frame, details
    return frame


# ----------------------------------------------------------------------------- tasks


def simulator_version(simulator: str) -> str:
    """Version string of a simulator (imports it)."""
    if simulator == "nest":
        from simulation.nest_support import nest_version

        return nest_version()
    import brian2

    return brian2.__version__


def brian2_version() -> str:
    return simulator_version("brian2")


def spec_data(spec: NetworkSpec) -> dict:
    """The spec as plain data (for keys and tables)."""
    return dataclasses.asdict(spec)


def recording_key(spec: NetworkSpec) -> str:
    """Store key of a network recording: every field that affects the simulation."""
    data = spec_data(spec)
    data.pop("n_blocks")
    return stable_hash(
        "network-recording",
        RECORDING_SCHEMA,
        {spec.simulator: simulator_version(spec.simulator), "numpy": np.__version__},
        data,
    )


def network_key_from_spec(spec: NetworkSpec) -> str:
    """Store key of the measured network table: recording key, block count, schema."""
    return stable_hash("network", NETWORK_SCHEMA, recording_key(spec), spec.n_blocks)


def stored_recording(spec: NetworkSpec, store=None, report: str | None = None):
    """The spec's Recording from the store (kind ``network_recording``), simulated on a miss."""
    if store is None:
        return run_network(spec, report=report)
    value, _ = store.get_or_compute(
        "network_recording", recording_key(spec), lambda: run_network(spec, report=report)
    )
    return value


def run_network_task(spec: NetworkSpec, store=None, report: str | None = None) -> pd.DataFrame:
    """Task function (top level, picklable): recording (stored) and its measurement."""
    from simulation.network_measure import measure_network

    return measure_network(stored_recording(spec, store, report), spec)


def network_task(mu: float, sigma: float, params: dict, seed: int | None = None, **options) -> Task:
    """A :class:`mfval.tasks.Task` (kind ``network``) for one simulation.

    ``options``: keyword arguments of :func:`make_network_spec` (duration,
    warmup, n_blocks, n_record, simulator, backend, perturbation), the
    Brian2 backend options ``target``, ``openmp_threads``,
    ``poisson_sampler``, NEST's ``threads``, ``report``, and the planted-error
    keywords of :meth:`NetworkPerturbation.from_options`. The result is the
    DataFrame of :func:`simulation.network_measure.measure_network`; the raw
    recording is stored too (kind ``network_recording``), so a new
    measurement does not re-simulate.
    """
    options = dict(options)
    report = options.pop("report", None)
    simulator = options.get("simulator", "brian2")
    backend = dict(options.pop("backend", {}) or {})
    for name in ("target", "openmp_threads", "poisson_sampler", "threads"):
        if name in options:
            backend[name] = options.pop(name)
    perturbation = options.pop("perturbation", None)
    planted = {
        k: options.pop(k)
        for k in list(options)
        if k
        in (
            "weight_scale_exc",
            "weight_scale",
            "drop_external",
            "poisson_split_p",
            "allow_biased_poisson",
            "tau_s",
            "tau_m_scale",
        )
    }
    if planted:
        perturbation = NetworkPerturbation.from_options(planted)
    params_plain = {k: params[k] for k in ("network", "simulation") if k in params}
    spec = make_network_spec(
        mu, sigma, params_plain, seed, backend=backend, perturbation=perturbation, **options
    )
    return Task(
        kind="network",
        key=network_key_from_spec(spec),
        func=run_network_task,
        kwargs={"spec": spec, "report": report},
        label=(
            f"network mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV seed={spec.seed}"
            + ("" if simulator == "brian2" else f" [{simulator}]")
        ),
        pass_store=True,
    )
