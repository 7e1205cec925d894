"""Open-loop protocol spec: plain data that fully defines a transfer-function run.

:class:`TransferSpec` (neurons, Poisson rates, stimulus frequencies and amplitudes,
design, seed) with its :class:`TransferPerturbation` (planted errors), built by
:func:`make_transfer_spec`; the neuron layout and arm helpers every backend and the
measurement need. See :mod:`mfval.simulation.open_loop` for the protocol.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from mfval.config import require_positive
from mfval.simulation.estimators.fourier import log_frequencies
from mfval.simulation.model.recording import StepGrid

#: stimulus designs (``design`` option): sign of dmu in each run of the same noise
DESIGNS = {"antithetic": (1.0, -1.0), "single": (1.0,)}


#: simulators with a backend for this protocol
SIMULATORS = ("brian2", "nest")


#: default options of :func:`simulate_transfer` (keys of ``**options``)
DEFAULT_OPTIONS = {
    "n_subgroups": 20,
    "amplitude_scaling": "response",
    "max_amplitude_factor": 8.0,
    "n_probe": 100,
    "warmup": None,  # None: params["simulation"]["transfer_warmup"]
    "design": "antithetic",
}


#: sampling interval of the probe neurons' membrane potential, s
PROBE_INTERVAL = 1e-3


def default_frequencies(params: dict, duration: float | None = None) -> np.ndarray:
    """Log-spaced whole-cycle modulation frequencies (Hz) of the simulation section."""
    sim = params["simulation"]
    duration = sim["transfer_duration"] if duration is None else duration
    return log_frequencies(
        sim["transfer_f_min"], sim["transfer_f_max"], int(sim["transfer_n_frequencies"]), duration
    )


def input_rates(theory: dict, network: dict) -> tuple[float, float, float, float]:
    """(rate_exc, rate_inh, W_exc, W_inh) of the two Poisson streams of an open-loop neuron.

    Population 0 (E) is the target; its recurrent sources are replaced by
    Poisson input at the theory rates ``theory["firing_rates"]``.
    """
    W = np.asarray(network["W"], float)
    K = np.asarray(network["K"], float)
    W_ext = np.asarray(network["W_ext"], float)
    K_ext = np.asarray(network["K_ext"], float)
    nu = np.asarray(theory["firing_rates"], float)
    nu_ext = np.asarray(theory["nu_ext"], float)
    if W.shape != (2, 2) or W_ext.shape != (2, 2):
        raise NotImplementedError("the open-loop protocol expects one E and one I population")
    if not (np.isclose(W[0, 0], W_ext[0, 0]) and np.isclose(W[0, 1], W_ext[0, 1])):
        raise NotImplementedError(
            "external and recurrent weights of one sign differ; two streams do not suffice"
        )
    rate_exc = K_ext[0, 0] * nu_ext[0] + K[0, 0] * nu[0]
    rate_inh = K_ext[0, 1] * nu_ext[1] + K[0, 1] * nu[1]
    return float(rate_exc), float(rate_inh), float(W[0, 0]), float(W[0, 1])


def theory_for(mu: float, sigma: float, network: dict, frequencies, mode: str) -> dict:
    """Theory at the working point and N_theory (Hz/V) at ``frequencies`` for ``mode``."""
    from mfval.theory.mean_field import nnmt_arrays, transfer_function, working_point_for

    th = working_point_for(mu, sigma, network)
    tf = transfer_function(
        th["mean_input"],
        th["std_input"],
        frequencies,
        nnmt_arrays(network),
        synaptic_filter=(mode == "synaptic"),
    )
    return {
        "firing_rates": np.asarray(th["firing_rates"], float),
        "nu_ext": np.asarray(th["nu_ext"], float),
        "mean_input": np.asarray(th["mean_input"], float),
        "N": np.asarray(tf[:, 0], complex),
    }


def stimulus_amplitudes(amplitude, N_theory, scaling: str, max_factor: float) -> np.ndarray:
    """dmu per frequency (V); see the module docstring."""
    N_theory = np.abs(np.asarray(N_theory))
    if scaling == "constant":
        return np.full(N_theory.size, float(amplitude))
    if scaling == "response":
        factor = np.clip(N_theory[0] / N_theory, 1.0, max_factor)
        return float(amplitude) * factor
    raise ValueError(f"amplitude_scaling must be 'response' or 'constant', got {scaling!r}")


@dataclass(frozen=True)
class TransferPerturbation:
    """Deliberate errors of one open-loop run (plain data); default: none.

    Attributes
    ----------
    mod_delay : float
        Latency of the modulation, s.
    drop_synaptic_filter : bool
        Apply the modulation straight into the membrane although
        ``mode == "synaptic"``.
    amplitude_scale : float
        Factor on the applied modulation amplitude (the measurement divides
        by the nominal dmu of the spec).
    tau_s : float, optional
        Simulated synaptic time constant (s), PSC amplitudes scaled by
        tau_s_nominal / tau_s (PSC charge kept); the synaptic modulation
        filter uses it too.
    tau_m_scale : float
        Factor on the simulated membrane time constant (the modulation filter
        uses it too; nothing else changes).
    """

    mod_delay: float = 0.0
    drop_synaptic_filter: bool = False
    amplitude_scale: float = 1.0
    tau_s: float | None = None
    tau_m_scale: float = 1.0

    def __post_init__(self):
        if not math.isfinite(self.mod_delay):
            raise ValueError(f"mod_delay must be finite, got mod_delay = {self.mod_delay!r} s")
        require_positive("amplitude_scale", self.amplitude_scale)
        if self.tau_s is not None:
            require_positive("tau_s", self.tau_s, "s")
        require_positive("tau_m_scale", self.tau_m_scale)

    @classmethod
    def from_options(cls, options: dict) -> TransferPerturbation:
        """From planted-error keywords (removed from ``options``)."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{k: options.pop(k) for k in names if k in options})


#: keywords of :class:`TransferPerturbation`
PERTURBATION_KEYS = ("mod_delay", "drop_synaptic_filter", "amplitude_scale", "tau_s", "tau_m_scale")


@dataclass(frozen=True)
class TransferSpec(StepGrid):
    """Plain data that fully defines one open-loop run (SI units).

    ``frequencies`` (Hz) and ``amplitudes`` (nominal dmu, V) per frequency;
    ``rate_exc``/``rate_inh`` (Hz) and ``W_exc``/``W_inh`` (A) the two input
    streams (:func:`input_rates`); ``theory_rate`` (Hz) and ``theory_N_re``
    / ``theory_N_im`` (Hz/V) are the reference values reported next to the
    measurement (they set the amplitudes but are not used by the backends).
    """

    mu: float
    sigma: float
    mode: str
    frequencies: tuple
    amplitudes: tuple
    network: dict
    rate_exc: float
    rate_inh: float
    W_exc: float
    W_inh: float
    dt: float
    warmup: float
    duration: float
    n_per_frequency: int
    n_subgroups: int
    n_probe: int
    seed: int
    theory_rate: float
    theory_N_re: tuple
    theory_N_im: tuple
    probe_interval: float = PROBE_INTERVAL
    simulator: str = "brian2"
    backend: dict = field(default_factory=dict)
    perturbation: TransferPerturbation = field(default_factory=TransferPerturbation)
    design: str = "antithetic"

    def __post_init__(self):
        if self.design not in DESIGNS:
            raise ValueError(
                f"design must be one of {sorted(DESIGNS)}, got design = {self.design!r}"
            )

    @property
    def n_neurons(self) -> int:
        """Modulated (spiking) neurons of one run (one arm)."""
        return len(self.frequencies) * self.n_per_frequency

    @property
    def arm_signs(self) -> tuple:
        """Sign of dmu in each run of the design (see module docstring)."""
        return DESIGNS[self.design]

    def arm(self, sign: float) -> TransferSpec:
        """The single run of this spec with modulation ``sign * dmu`` (same seed)."""
        return dataclasses.replace(
            self, amplitudes=tuple(sign * a for a in self.amplitudes), design="single"
        )

    def backend_options(self) -> dict:
        defaults = {
            "brian2": {"target": "cpp_standalone", "poisson_sampler": "table"},
            "nest": {"threads": 1},
        }[self.simulator]
        return {**defaults, **self.backend}

    def simulated(self) -> dict:
        """What the backend applies: tau_s, stream weights, modulation (perturbation applied).

        Returns
        -------
        dict
            ``network`` (with the simulated tau_s), ``W_exc``, ``W_inh`` (A),
            ``filter_mode`` (``"synaptic"`` or ``"membrane"``), ``amplitudes``
            (applied dmu per frequency, V), ``mod_delay`` (s).
        """
        pert = self.perturbation
        net = dict(self.network)
        charge = 1.0
        if pert.tau_s is not None:
            charge = float(net["tau_s"]) / pert.tau_s
            net["tau_s"] = float(pert.tau_s)
        net["tau_m"] = float(net["tau_m"]) * pert.tau_m_scale
        filter_mode = "membrane" if pert.drop_synaptic_filter else self.mode
        return {
            "network": net,
            "W_exc": self.W_exc * charge,
            "W_inh": self.W_inh * charge,
            "filter_mode": filter_mode,
            "amplitudes": np.asarray(self.amplitudes, float) * pert.amplitude_scale,
            "mod_delay": float(pert.mod_delay),
        }


def neuron_layout(spec: TransferSpec) -> tuple[np.ndarray, np.ndarray]:
    """(frequency index, sub-group) of each modulated neuron of one run, int arrays (n_neurons,)."""
    n_freq, n_per, m = len(spec.frequencies), spec.n_per_frequency, spec.n_subgroups
    group_of = np.repeat(np.arange(n_freq), n_per)
    sub_of = np.tile(np.arange(n_per) % m, n_freq)
    return group_of, sub_of


def recorded_layout(spec: TransferSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequency index, sub-group and dmu sign of every recorded neuron, arms stacked.

    Returns
    -------
    group_of, sub_of : int arrays (n_arms * n_neurons,)
        As :func:`neuron_layout`; neuron i + a n_neurons of arm a has the
        layout of neuron i (both arms of a neuron are in the same sub-group,
        so sub-groups stay independent).
    sign : float array (n_arms * n_neurons,)
        Sign of its modulation (:attr:`TransferSpec.arm_signs`).
    """
    group_of, sub_of = neuron_layout(spec)
    arms = len(spec.arm_signs)
    sign = np.repeat(np.asarray(spec.arm_signs, float), spec.n_neurons)
    return np.tile(group_of, arms), np.tile(sub_of, arms), sign


def stack_arms(recordings: list, n_neurons: int):
    """One Recording of the runs of a design: arm a's neuron i becomes i + a n_neurons.

    Sampled states (probes, unmodulated) are those of the first arm; the
    conventions must agree; wall, compile and run times add up.
    """
    from mfval.simulation.model.recording import Recording

    first = recordings[0]
    for other in recordings[1:]:
        if other.conventions != first.conventions:
            raise ValueError("the arms of a design were recorded with different conventions")
    metadata = dict(first.metadata)
    for name in ("wall_s", "compile_s", "run_s", "setup_s"):
        if all(name in r.metadata for r in recordings):
            metadata[name] = float(sum(r.metadata[name] for r in recordings))
    metadata["arms"] = len(recordings)
    return Recording(
        simulator=first.simulator,
        version=first.version,
        dt=first.dt,
        n_steps=first.n_steps,
        n_neurons=n_neurons * len(recordings),
        spike_step=np.concatenate([r.spike_step for r in recordings]),
        spike_sender=np.concatenate(
            [r.spike_sender.astype(np.int64) + a * n_neurons for a, r in enumerate(recordings)]
        ),
        state=first.state,
        state_index=first.state_index,
        state_step=first.state_step,
        conventions=dict(first.conventions),
        metadata=metadata,
    )


def make_transfer_spec(
    mu: float,
    sigma: float,
    params: dict,
    frequencies=None,
    mode: str = "synaptic",
    amplitude: float | None = None,
    duration: float | None = None,
    n_per_frequency: int | None = None,
    seed: int | None = None,
    theory: dict | None = None,
    simulator: str = "brian2",
    backend: dict | None = None,
    perturbation: TransferPerturbation | None = None,
    **options,
) -> TransferSpec:
    """The spec of an open-loop run at (mu, sigma) (V).

    Every quantity in SI units (V, s, Hz).

    Parameters
    ----------
    mu, sigma : float
        Working point (V).
    params : dict
        From :func:`mfval.config.load_params`.
    frequencies : array, optional
        Modulation frequencies (Hz); rounded to whole cycles of ``duration``.
        Default: :func:`default_frequencies`.
    mode : {"synaptic", "membrane"}
    amplitude : float, optional
        dmu (V) at the lowest frequency; default ``transfer_amplitude``.
    duration : float, optional
        Analysis window after the warm-up (s); default ``transfer_duration``.
    n_per_frequency : int, optional
        Neurons per frequency; default ``transfer_neurons_per_frequency``.
    seed : int, optional
        Default ``simulation.seed``. Same seed, same numbers.
    theory : dict, optional
        ``{"firing_rates", "nu_ext", "N"}`` as from :func:`theory_for`
        (computed if not given; ``N`` at ``frequencies`` is needed for the
        response scaling of the amplitude).
    simulator, backend : str, dict
        Backend and its options.
    perturbation : TransferPerturbation, optional
        Deliberate errors (planted-error keywords: :func:`spec_from_options`).
    **options
        See :data:`DEFAULT_OPTIONS` (``design``: :data:`DESIGNS`).

    Raises
    ------
    ValueError
        Bad mode, sizes or simulator, naming the parameter and value.
    TypeError
        Unknown options.
    """
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}")
    opt = {**DEFAULT_OPTIONS, **options}
    if mode not in ("synaptic", "membrane"):
        raise ValueError(f"mode must be 'synaptic' or 'membrane', got mode = {mode!r}")
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, got simulator = {simulator!r}")
    network, sim = params["network"], params["simulation"]
    duration = float(sim["transfer_duration"] if duration is None else duration)
    warmup = float(sim["transfer_warmup"] if opt["warmup"] is None else opt["warmup"])
    amplitude = float(sim["transfer_amplitude"] if amplitude is None else amplitude)
    n_per = int(
        sim["transfer_neurons_per_frequency"] if n_per_frequency is None else n_per_frequency
    )
    seed = int(sim["seed"] if seed is None else seed)
    m = int(opt["n_subgroups"])
    if opt["design"] not in DESIGNS:
        raise ValueError(f"design must be one of {sorted(DESIGNS)}, got design = {opt['design']!r}")
    if n_per < m:
        raise ValueError(f"n_per_frequency = {n_per} < n_subgroups = {m}")
    dt = float(sim["dt"])
    if frequencies is None:
        freqs = default_frequencies(params, duration)
    else:
        from mfval.simulation.estimators.fourier import whole_cycle_frequencies

        freqs = whole_cycle_frequencies(frequencies, duration)
    if theory is None or "N" not in theory or np.size(theory["N"]) != freqs.size:
        theory = theory_for(mu, sigma, network, freqs, mode)
    dmu = stimulus_amplitudes(
        amplitude, theory["N"], opt["amplitude_scaling"], opt["max_amplitude_factor"]
    )
    rate_exc, rate_inh, W_exc, W_inh = input_rates(theory, network)
    N_th = np.asarray(theory["N"], complex)
    return TransferSpec(
        mu=float(mu),
        sigma=float(sigma),
        mode=mode,
        frequencies=tuple(float(f) for f in freqs),
        amplitudes=tuple(float(a) for a in dmu),
        network={k: v for k, v in network.items()},
        rate_exc=rate_exc,
        rate_inh=rate_inh,
        W_exc=W_exc,
        W_inh=W_inh,
        dt=dt,
        warmup=warmup,
        duration=duration,
        n_per_frequency=n_per,
        n_subgroups=m,
        n_probe=int(opt["n_probe"]),
        seed=seed,
        theory_rate=float(theory["firing_rates"][0]),
        theory_N_re=tuple(float(x) for x in N_th.real),
        theory_N_im=tuple(float(x) for x in N_th.imag),
        simulator=simulator,
        backend=dict(backend or {}),
        perturbation=perturbation or TransferPerturbation(),
        design=str(opt["design"]),
    )


def split_arms(recording, n_neurons: int) -> list:
    """The arms of a stacked Recording (:func:`stack_arms`), each with neurons 0..n_neurons-1.

    States and metadata are the stacked Recording's (times are totals).
    """
    arms = recording.n_neurons // n_neurons
    if arms * n_neurons != recording.n_neurons:
        raise ValueError(
            f"recording of {recording.n_neurons} neurons is no stack of arms of "
            f"n_neurons = {n_neurons}"
        )
    out = []
    for a in range(arms):
        sel = (recording.spike_sender >= a * n_neurons) & (
            recording.spike_sender < (a + 1) * n_neurons
        )
        out.append(
            dataclasses.replace(
                recording,
                n_neurons=n_neurons,
                spike_step=recording.spike_step[sel],
                spike_sender=recording.spike_sender[sel] - a * n_neurons,
            )
        )
    return out


def spec_from_options(mu: float, sigma: float, params: dict, **kwargs) -> TransferSpec:
    """:func:`make_transfer_spec` that also takes the planted-error keywords.

    ``mod_delay``, ``drop_synaptic_filter``, ``amplitude_scale``, ``tau_s``
    and ``tau_m_scale`` become the spec's :class:`TransferPerturbation`
    (not together with ``perturbation``).
    """
    kwargs = dict(kwargs)
    if any(k in kwargs for k in PERTURBATION_KEYS):
        if kwargs.get("perturbation") is not None:
            raise TypeError("give either perturbation or planted-error keywords, not both")
        kwargs["perturbation"] = TransferPerturbation.from_options(kwargs)
    return make_transfer_spec(mu, sigma, params, **kwargs)
