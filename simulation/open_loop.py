"""Open-loop transfer-function protocol: LIF neurons at a working point, modulated mean input.

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
  (``mode="membrane"``, ``synaptic_filter=False``). The closed-form shift
  v_mod = Re[dmu H(w) e^{i w t}] of :mod:`simulation.lif` keeps the
  integration exact.
- All frequencies share one compiled simulation: one NeuronGroup of
  n_freq x n_per_frequency neurons, each with its own f_mod, amplitude, phase.
  Frequencies are log-spaced and rounded so that the analysis window (after
  the warm-up) holds a whole number of cycles (:mod:`simulation.spectral`).
- Amplitude: ``amplitude`` (default ``transfer_amplitude``) is dmu at the
  lowest frequency. With ``amplitude_scaling="response"`` (default) dmu grows
  at higher frequencies as |N_theory(f_min)| / |N_theory(f)| (capped at
  ``max_amplitude_factor``), so that the rate modulation, the quantity that
  must stay small for linearity, has the same depth at every frequency and the
  relative standard error is about equal across frequencies. The theory only
  sets the stimulus size; the estimate divides by the dmu actually applied,
  so it is not biased towards theory (linearity is checked by doubling dmu).
  ``amplitude_scaling="constant"`` uses the same dmu everywhere.
- A probe group of non-spiking neurons (threshold out of reach), same input,
  no modulation, measures the realized mean input: its mean free membrane
  potential is mu.

Phase convention: N = |N| e^{i phi} with delta_nu(t) = Re[N dmu e^{i w t}];
phi < 0 is a lag. Spike times are the grid times at which the threshold
crossing is detected; on average a crossing occurs dt/2 earlier in
continuous time, a latency of the time-discretized model (w dt / 2 = 3.6
degrees at 200 Hz for dt = 0.1 ms), not corrected here.

Planted-error hooks (only for proving that the validation suite detects
them): ``mod_delay`` delays the modulation by a latency (s), and
``drop_synaptic_filter`` applies the membrane filter although
``mode="synaptic"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mfval.params import stable_hash
from mfval.tasks import Task
from simulation.spectral import fit_low_pass, fourier_response, log_frequencies

#: bump when the content of a transfer result changes
TRANSFER_SCHEMA = 1

#: default options of :func:`simulate_transfer` (keys of ``**options``)
DEFAULT_OPTIONS = {
    "n_subgroups": 20,
    "amplitude_scaling": "response",
    "max_amplitude_factor": 8.0,
    "n_probe": 100,
    "warmup": None,  # None: params["simulation"]["transfer_warmup"]
}


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


def simulate_transfer(
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
    mod_delay: float = 0.0,
    drop_synaptic_filter: bool = False,
    **options,
) -> pd.DataFrame:
    """Simulated transfer function N(f) at (mu, sigma), one row per frequency.

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
    mod_delay, drop_synaptic_filter
        Planted-error hooks (module docstring).
    **options
        See :data:`DEFAULT_OPTIONS`.

    Returns
    -------
    DataFrame with columns mu_mV, sigma_mV, mode, frequency_hz,
    tf_re_hz_per_mV, tf_im_hz_per_mV, tf_re_se_hz_per_mV, tf_im_se_hz_per_mV,
    amp_hz_per_mV, amp_se_hz_per_mV, phase_deg, phase_se_deg, rate_hz,
    rate_se_hz, mu_realized_mV, mu_realized_se_mV, rate_mean_hz,
    rate_mean_se_hz, theory_rate_hz, theory_amp_hz_per_mV,
    theory_phase_deg, amplitude_mV, duration_s, warmup_s, seed, n_neurons,
    n_subgroups, mod_delay_s, drop_synaptic_filter, wall_s.
    """
    import time

    import brian2 as b2

    from simulation.device import configure_runtime
    from simulation.lif import make_lif_group, modulation_filter

    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}")
    opt = {**DEFAULT_OPTIONS, **options}
    if mode not in ("synaptic", "membrane"):
        raise ValueError(f"mode must be 'synaptic' or 'membrane', got mode = {mode!r}")
    network, sim = params["network"], params["simulation"]
    duration = float(sim["transfer_duration"] if duration is None else duration)
    warmup = float(sim["transfer_warmup"] if opt["warmup"] is None else opt["warmup"])
    amplitude = float(sim["transfer_amplitude"] if amplitude is None else amplitude)
    n_per = int(
        sim["transfer_neurons_per_frequency"] if n_per_frequency is None else n_per_frequency
    )
    seed = int(sim["seed"] if seed is None else seed)
    m = int(opt["n_subgroups"])
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
    tau_m, tau_s = float(network["tau_m"]), float(network["tau_s"])
    H = modulation_filter(freqs, tau_m, tau_s, "membrane" if drop_synaptic_filter else mode)
    n_freq = freqs.size
    n = n_freq * n_per
    group_of = np.repeat(np.arange(n_freq), n_per)
    sub_of = np.tile(np.arange(n_per) % m, n_freq)

    t_wall = time.perf_counter()
    configure_runtime("cython")
    b2.start_scope()
    b2.defaultclock.dt = dt * b2.second
    b2.seed(seed)
    rng = np.random.default_rng(seed)
    v_th = float(network["V_th"] - network["E_L"])
    v_reset = float(network["V_reset"] - network["E_L"])

    neurons = make_lif_group(n, network, W_exc, W_inh, modulated=True, name="open_loop")
    neurons.namespace["mod_delay"] = float(mod_delay) * b2.second
    neurons.lam_exc = rate_exc * dt
    neurons.lam_inh = rate_inh * dt
    neurons.f_mod = freqs[group_of] * b2.Hz
    neurons.mod_amp = (dmu * np.abs(H))[group_of] * b2.volt
    neurons.mod_phase = np.angle(H)[group_of]
    neurons.v = rng.uniform(v_reset, v_th, n) * b2.volt
    spikes = b2.SpikeMonitor(neurons, name="open_loop_spikes")
    objects = [neurons, spikes]
    n_probe = int(opt["n_probe"])
    if n_probe > 0:
        probe = make_lif_group(n_probe, network, W_exc, W_inh, modulated=False, name="probe")
        probe.namespace["V_th"] = 1.0 * b2.volt  # never reached: free membrane potential
        probe.lam_exc = rate_exc * dt
        probe.lam_inh = rate_inh * dt
        probe.v = float(mu) * b2.volt
        probe_mon = b2.StateMonitor(probe, "v", record=True, dt=1 * b2.ms, name="probe_v")
        objects += [probe, probe_mon]
    net = b2.Network(*objects)
    net.run((warmup + duration) * b2.second, namespace={})
    wall = time.perf_counter() - t_wall

    r = fourier_response(
        np.asarray(spikes.t / b2.second),
        np.asarray(spikes.i),
        group_of,
        sub_of,
        freqs,
        dmu,
        warmup,
        duration,
        n_subgroups=m,
    )
    # mean rate over all neurons (modulation changes it only at second order)
    keep = np.asarray(spikes.t / b2.second) >= warmup
    per_neuron = np.bincount(np.asarray(spikes.i)[keep], minlength=n) / duration
    rate_mean, rate_mean_se = per_neuron.mean(), per_neuron.std(ddof=1) / np.sqrt(n)
    if n_probe > 0:
        t_rec = np.asarray(probe_mon.t / b2.second)
        v_rec = np.asarray(probe_mon.v / b2.volt)[:, t_rec >= warmup]
        v_means = v_rec.mean(axis=1)
        mu_real, mu_real_se = v_means.mean(), v_means.std(ddof=1) / np.sqrt(n_probe)
    else:
        mu_real = mu_real_se = np.nan
    N_th = np.asarray(theory["N"], complex)
    return pd.DataFrame(
        {
            "mu_mV": mu * 1e3,
            "sigma_mV": sigma * 1e3,
            "mode": mode,
            "frequency_hz": freqs,
            "tf_re_hz_per_mV": r["N"].real * 1e-3,
            "tf_im_hz_per_mV": r["N"].imag * 1e-3,
            "tf_re_se_hz_per_mV": r["se_re"] * 1e-3,
            "tf_im_se_hz_per_mV": r["se_im"] * 1e-3,
            "amp_hz_per_mV": r["amp"] * 1e-3,
            "amp_se_hz_per_mV": r["amp_se"] * 1e-3,
            "phase_deg": np.degrees(r["phase"]),
            "phase_se_deg": np.degrees(r["phase_se"]),
            "rate_hz": r["rate"],
            "rate_se_hz": r["rate_se"],
            "rate_mean_hz": rate_mean,
            "rate_mean_se_hz": rate_mean_se,
            "mu_realized_mV": mu_real * 1e3,
            "mu_realized_se_mV": mu_real_se * 1e3,
            "theory_rate_hz": float(theory["firing_rates"][0]),
            "theory_amp_hz_per_mV": np.abs(N_th) * 1e-3,
            "theory_phase_deg": np.degrees(np.angle(N_th)),
            "amplitude_mV": dmu * 1e3,
            "duration_s": duration,
            "warmup_s": warmup,
            "seed": seed,
            "n_neurons": r["n_neurons"],
            "n_subgroups": m,
            "mod_delay_s": float(mod_delay),
            "drop_synaptic_filter": bool(drop_synaptic_filter),
            "wall_s": wall,
        }
    )


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


def transfer_key(mu, sigma, params, mode, seed, **kwargs) -> str:
    """Store key: everything that affects a simulated transfer function."""
    return stable_hash(
        "transfer",
        TRANSFER_SCHEMA,
        software_versions(),
        params["network"],
        params["simulation"],
        float(mu),
        float(sigma),
        mode,
        int(seed),
        {k: v for k, v in sorted(kwargs.items())},
    )


def transfer_task(
    mu: float, sigma: float, params: dict, mode: str = "synaptic", seed: int | None = None, **kwargs
) -> Task:
    """Store task (kind ``"transfer"``) running :func:`simulate_transfer`.

    ``kwargs`` are passed on (frequencies, amplitude, duration,
    n_per_frequency, mod_delay, drop_synaptic_filter, options) and enter the
    key, as do the brian2/numpy/scipy/nnmt versions and the seed.
    """
    seed = int(params["simulation"]["seed"] if seed is None else seed)
    kwargs = {
        k: (np.asarray(v, float).tolist() if k == "frequencies" else v)
        for k, v in kwargs.items()
        if v is not None
    }
    kwargs.setdefault("mod_delay", 0.0)
    kwargs.setdefault("drop_synaptic_filter", False)
    plain = {k: v for k, v in params.items() if k in ("network", "simulation", "analysis")}
    return Task(
        kind="transfer",
        key=transfer_key(mu, sigma, plain, mode, seed, **kwargs),
        func=simulate_transfer,
        kwargs={"mu": mu, "sigma": sigma, "params": plain, "mode": mode, "seed": seed, **kwargs},
        label=f"transfer mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV {mode}",
    )


def fit_task(df: pd.DataFrame, params: dict, method: str = "amplitude") -> pd.DataFrame:
    """Alias of :func:`fit_transfer` (fits are cheap; no store task needed)."""
    return fit_transfer(df, params, method)
