"""Open-loop transfer-function protocol: spec, backends, measurements.

Protocol (issue 4, design "Simulation protocols" 2):

- Every neuron is the shared model of :mod:`simulation.lif` and receives
  independent Poisson input reproducing the working point without feedback:
  the external sources at nnmt's derived rates plus the recurrent inputs
  replaced by Poisson sources at the theory rates with the recurrent weights.
  External and recurrent inputs of one sign have equal weights in this model,
  so each neuron needs two Poisson streams, excitatory with rate
  nu_ext_E K_ext + K_EE nu_E and inhibitory with rate nu_ext_I K_ext + K_EI nu_I
  (checked; other weights raise ``NotImplementedError``).
- The mean input alone is modulated, delta_mu(t) = Re[dmu e^{i w t}],
  deterministically (no change of the input variance), through the synaptic
  current (``mode="synaptic"``, comparable with nnmt
  ``transfer_function(synaptic_filter=True)``) or straight into the membrane
  (``mode="membrane"``, ``synaptic_filter=False``).
- All frequencies share one simulation: n_freq x n_per_frequency neurons,
  neuron i modulated at frequency i // n_per_frequency, in independent
  sub-group (i % n_per_frequency) % n_subgroups (:func:`neuron_layout`).
  Frequencies are log-spaced and rounded so that the analysis window (after
  the warm-up) holds a whole number of cycles (:mod:`simulation.spectral`).
- Amplitude: ``amplitude`` (default ``transfer_amplitude``) is dmu at the
  lowest frequency. With ``amplitude_scaling="response"`` (default) dmu grows
  at higher frequencies as |N_theory(f_min)| / |N_theory(f)| (capped at
  ``max_amplitude_factor``), so that the rate modulation, the quantity that
  must stay small for linearity, has the same depth at every frequency and the
  relative standard error is about equal across frequencies. The theory only
  sets the stimulus size; the estimate divides by the dmu of the spec, so it
  is not biased towards theory (linearity is checked by doubling dmu).
  ``amplitude_scaling="constant"`` uses the same dmu everywhere.
- Design (``design`` option): ``"antithetic"`` (default) runs the spec twice
  with the same seed, i.e. the same Poisson input realization and initial
  potentials, once with +dmu and once with -dmu (:meth:`TransferSpec.arm`),
  and averages the two estimates of N (neuron i of the second arm is recorded
  as i + n_neurons, :func:`stack_arms`). The stimulus-independent part of the
  spike trains, which is most of their variance at the stimulus frequency,
  cancels in the difference (common random numbers), and even-order
  nonlinear terms cancel too. Measured (``python benchmarks/transfer_sim.py
  --compare-designs --seeds 2``, default sizes, the four marked points): the
  variance of N is smaller than that of the +dmu run alone by a median factor
  of 6 at (6, 6) mV and 20-34 at the other points (range 3.8-81 over
  frequencies and seeds), at twice the simulated time: 3-17x less simulated
  time for the same SE. The estimate is unbiased whether
  or not a backend reproduces the noise exactly (the arms are then simply two
  independent runs); the SE comes from independent sub-groups, each holding
  both arms of its neurons. ``"single"``: one run with +dmu.
- ``n_probe`` non-spiking neurons (threshold out of reach), same input, no
  modulation, measure the realized mean input: their mean free membrane
  potential is mu.

Three layers: :class:`TransferSpec` (plain data, perturbations included,
built by :func:`make_transfer_spec`); backends ``run(spec) -> Recording``
(:func:`run_transfer` dispatches to
:func:`simulation.open_loop_brian2.run_transfer_brian2` or
:func:`simulation.open_loop_nest.run_transfer_nest`); the measurement
:func:`simulation.open_loop_measure.measure_transfer`, shared by both.

Phase convention: N = |N| e^{i phi} with delta_nu(t) = Re[N dmu e^{i w t}];
phi < 0 is a lag. Spike times are the grid times at which the threshold
crossing is detected (Recording convention); on average a crossing occurs
dt/2 earlier in continuous time, a latency of the time-discretized model
(w dt / 2 = 3.6 degrees at 200 Hz for dt = 0.1 ms), not corrected here. How
each backend's modulation is realized on the grid is its Recording's
``stimulus_factor``, divided out by the measurement.

Perturbations (:class:`TransferPerturbation`, only to prove that the checks
detect them): a modulation latency, a missing synaptic filter, an error of
the applied modulation amplitude, and a different synaptic time constant
with the PSC charge kept.
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
from simulation.spectral import fit_low_pass, log_frequencies

#: bump when the content of a transfer result changes
TRANSFER_SCHEMA = 3
#: bump when the content of a transfer recording changes
RECORDING_SCHEMA = 2

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


def software_versions() -> dict[str, str]:
    """Versions that can move a simulated transfer function."""
    import brian2
    import scipy

    from theory.nnmt_compat import NNMT_VERSION

    return {
        "brian2": brian2.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "nnmt": NNMT_VERSION,
    }


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
    from theory.mean_field import (
        external_rates_for_fixed_input,
        nnmt_arrays,
        transfer_function,
        working_point,
    )

    arrays = nnmt_arrays(network)
    nu_ext = external_rates_for_fixed_input(mu, sigma, arrays)
    th = {"nu_ext": nu_ext, **working_point(nu_ext, arrays)}
    tf = transfer_function(
        th["mean_input"], th["std_input"], frequencies, arrays, synaptic_filter=(mode == "synaptic")
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
    from simulation.recording import Recording

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

    Parameters (SI: V, s, Hz)
    ----------
    mu, sigma : float
        Working point (V).
    params : dict
        From :func:`mfval.params.load_params`.
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
        from simulation.spectral import whole_cycle_frequencies

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


def run_transfer(spec: TransferSpec):
    """Run ``spec`` on its simulator; the raw :class:`simulation.recording.Recording`.

    A design with several arms runs each arm (:meth:`TransferSpec.arm`) and
    stacks them (:func:`stack_arms`).
    """
    if len(spec.arm_signs) > 1:
        runs = [run_transfer(spec.arm(sign)) for sign in spec.arm_signs]
        return stack_arms(runs, spec.n_neurons)
    if spec.simulator == "brian2":
        from simulation.open_loop_brian2 import run_transfer_brian2

        return run_transfer_brian2(spec)
    if spec.simulator == "nest":
        from simulation.open_loop_nest import run_transfer_nest

        return run_transfer_nest(spec)
    raise ValueError(f"simulator must be one of {SIMULATORS}, got {spec.simulator!r}")


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


def simulate_transfer(mu: float, sigma: float, params: dict, **kwargs) -> pd.DataFrame:
    """Simulated transfer function N(f) at (mu, sigma) (V), one row per frequency.

    Spec (:func:`spec_from_options`: the keywords of :func:`make_transfer_spec`
    and planted-error keywords), run (:func:`run_transfer`) and measurement
    (:func:`simulation.open_loop_measure.measure_transfer`) in one call.

    Returns
    -------
    DataFrame of :func:`simulation.open_loop_measure.measure_transfer`.
    """
    from simulation.open_loop_measure import measure_transfer

    spec = spec_from_options(mu, sigma, params, **kwargs)
    return measure_transfer(run_transfer(spec), spec)


def fit_transfer(df: pd.DataFrame, params: dict, method: str = "amplitude") -> pd.DataFrame:
    """Fit h0 / (1 + i w tau) to one simulated transfer function; one-row DataFrame.

    Columns: mu_mV, sigma_mV, mode, method, tau_rate_ms, tau_rate_se_ms,
    W_rate, W_rate_se, h0_hz_per_mV, h0_se_hz_per_mV, chi2, dof.
    W_rate = h0 tau_m J_EE K_EE with J = tau_s W / C (nnmt).
    """
    network = params["network"]
    J = network["tau_s"] * float(np.asarray(network["W"])[0, 0]) / network["C"]
    K = float(np.asarray(network["K"])[0, 0])
    N = (df["tf_re_hz_per_mV"].to_numpy() + 1j * df["tf_im_hz_per_mV"].to_numpy()) * 1e3
    fit = fit_low_pass(
        df["frequency_hz"].to_numpy(),
        N,
        df["amp_se_hz_per_mV"].to_numpy() * 1e3,
        se_re=df["tf_re_se_hz_per_mV"].to_numpy() * 1e3,
        se_im=df["tf_im_se_hz_per_mV"].to_numpy() * 1e3,
        method=method,
        tau_m=network["tau_m"],
        J=J,
        K=K,
    )
    first = df.iloc[0]
    return pd.DataFrame(
        [
            {
                "mu_mV": first["mu_mV"],
                "sigma_mV": first["sigma_mV"],
                "mode": first["mode"],
                "method": method,
                "tau_rate_ms": fit["tau_rate_s"] * 1e3,
                "tau_rate_se_ms": fit["tau_rate_se_s"] * 1e3,
                "W_rate": fit["W_rate"],
                "W_rate_se": fit["W_rate_se"],
                "h0_hz_per_mV": fit["h0"] * 1e-3,
                "h0_se_hz_per_mV": fit["h0_se"] * 1e-3,
                "chi2": fit["chi2"],
                "dof": fit["dof"],
            }
        ]
    )


def simulator_version(simulator: str) -> str:
    if simulator == "nest":
        from simulation.nest_support import nest_version

        return nest_version()
    import brian2

    return brian2.__version__


def recording_key(spec: TransferSpec) -> str:
    """Store key of an open-loop recording: the spec (minus reference values), versions."""
    data = dataclasses.asdict(spec)
    for name in ("theory_rate", "theory_N_re", "theory_N_im"):
        data.pop(name)
    versions = {spec.simulator: simulator_version(spec.simulator), "numpy": np.__version__}
    return stable_hash("transfer-recording", RECORDING_SCHEMA, versions, data)


def transfer_key_from_spec(spec: TransferSpec) -> str:
    """Store key of a measured transfer table."""
    versions = software_versions()
    return stable_hash(
        "transfer",
        TRANSFER_SCHEMA,
        recording_key(spec),
        versions["scipy"],
        versions["nnmt"],
        spec.theory_rate,
        spec.theory_N_re,
        spec.theory_N_im,
    )


def stored_recording(spec: TransferSpec, store=None):
    """The spec's Recording from the store (kind ``transfer_recording``), simulated on a miss."""
    if store is None:
        return run_transfer(spec)
    value, _ = store.get_or_compute(
        "transfer_recording", recording_key(spec), lambda: run_transfer(spec)
    )
    return value


def run_transfer_task(spec: TransferSpec, store=None) -> pd.DataFrame:
    """Task function (top level, picklable): recording (stored) and its measurement."""
    from simulation.open_loop_measure import measure_transfer

    return measure_transfer(stored_recording(spec, store), spec)


def transfer_task(
    mu: float, sigma: float, params: dict, mode: str = "synaptic", seed: int | None = None, **kwargs
) -> Task:
    """Store task (kind ``"transfer"``): :func:`make_transfer_spec`, run, measure.

    ``kwargs`` are keyword arguments of :func:`make_transfer_spec`
    (frequencies, amplitude, duration, n_per_frequency, simulator, backend,
    perturbation, options) or perturbation keywords (``mod_delay``,
    ``drop_synaptic_filter``, ``amplitude_scale``, ``tau_s``). The raw
    recording is stored too (kind ``transfer_recording``).
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    plain = {k: v for k, v in params.items() if k in ("network", "simulation", "analysis")}
    spec = spec_from_options(mu, sigma, plain, mode=mode, seed=seed, **kwargs)
    simulator = spec.simulator
    return Task(
        kind="transfer",
        key=transfer_key_from_spec(spec),
        func=run_transfer_task,
        kwargs={"spec": spec},
        label=(
            f"transfer mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV {mode}"
            + ("" if simulator == "brian2" else f" [{simulator}]")
        ),
        pass_store=True,
    )


def fit_task(df: pd.DataFrame, params: dict, method: str = "amplitude") -> pd.DataFrame:
    """Alias of :func:`fit_transfer` (fits are cheap; no store task needed)."""
    return fit_transfer(df, params, method)
