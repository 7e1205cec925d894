"""Open-loop transfer-function protocol with Brian2 (short runs, about a minute after compilation).

Every tolerance is K_SE standard errors computed by the simulation itself,
plus, where theory is compared, a stated model-error allowance (mean-field
theory is a diffusion approximation; the design measured rate deviations of
2-12 %). Nothing here is tuned to the simulated numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("brian2")

from mfval.config import load_params
from mfval.simulation.open_loop.spec import theory_for
from mfval.simulation.open_loop.tasks import simulate_transfer, transfer_task
from tests.conftest import run_side_by_side

pytestmark = pytest.mark.slow

K_SE = 4.0
#: model-error allowance of theory vs simulation, relative (rate and low-frequency gain)
MODEL_ALLOWANCE = 0.08
MU, SIGMA = 10e-3, 10e-3
FREQS = np.array([2.0, 10.0, 40.0, 150.0])
SHORT = {"frequencies": FREQS, "duration": 2.0, "n_per_frequency": 800, "warmup": 0.2}


@pytest.fixture(scope="module")
def params():
    return load_params()


@pytest.fixture(scope="module")
def theory(params):
    return theory_for(MU, SIGMA, params["network"], FREQS, "synaptic")


#: the planted-latency pair: 40 Hz, same seed (same noise), latency 0 and 2 ms
DELAY = {"frequencies": [40.0], "duration": 1.0, "n_per_frequency": 400, "warmup": 0.1}


@pytest.fixture(scope="module")
def simulated(params, theory, session_store) -> dict:
    """The four larger runs of this module, once, side by side in worker processes.

    ``one``, ``two``: (10, 10) mV at amplitude A and 2A, independent seeds;
    ``base``, ``late``: :data:`DELAY` without and with a 2 ms latency.
    """
    a = 0.5e-3
    # in this order, the two workers start on different compiled structures
    runs = {
        "one": {"amplitude": a, "seed": 1, "theory": theory, **SHORT},
        "base": {"seed": 4, "n_probe": 0, **DELAY},
        "two": {"amplitude": 2 * a, "seed": 2, "theory": theory, **SHORT},
        "late": {"seed": 4, "n_probe": 0, "mod_delay": 2e-3, **DELAY},
    }
    jobs = {
        name: (simulate_transfer, {"mu": MU, "sigma": SIGMA, "params": params, **kw})
        for name, kw in runs.items()
    }
    return run_side_by_side(session_store, "test_open_loop", jobs)


@pytest.fixture(scope="module")
def runs(simulated):
    """(10, 10) mV at amplitude A and 2A, independent seeds."""
    return simulated["one"], simulated["two"]


def complex_n(df):
    return df["tf_re_hz_per_mV"].to_numpy() + 1j * df["tf_im_hz_per_mV"].to_numpy()


def test_realized_input_and_rate_match_theory(runs, theory):
    df = runs[0]
    mu_real, mu_se = df["mu_realized_mV"].iloc[0], df["mu_realized_se_mV"].iloc[0]
    print(f"realized mu {mu_real:.4f} +- {mu_se:.4f} mV, requested {MU * 1e3:g} mV")
    assert mu_se < 0.1  # the check has power: 1 % of mu
    # the free membrane potential averages to mu exactly: no model allowance
    assert abs(mu_real - MU * 1e3) <= K_SE * mu_se
    rate, rate_se = df["rate_mean_hz"].iloc[0], df["rate_mean_se_hz"].iloc[0]
    nu_th = float(theory["firing_rates"][0])
    print(f"rate {rate:.3f} +- {rate_se:.3f} Hz, theory {nu_th:.3f} Hz")
    assert abs(rate - nu_th) <= K_SE * rate_se + MODEL_ALLOWANCE * nu_th


def test_linearity_doubling_amplitude(runs):
    """N (the response per mV) is the same at amplitudes A and 2A."""
    one, two = runs
    np.testing.assert_allclose(two["amplitude_mV"], 2 * one["amplitude_mV"])
    diff = complex_n(two) - complex_n(one)
    se_re = np.hypot(one["tf_re_se_hz_per_mV"], two["tf_re_se_hz_per_mV"]).to_numpy()
    se_im = np.hypot(one["tf_im_se_hz_per_mV"], two["tf_im_se_hz_per_mV"]).to_numpy()
    print("N(2A) - N(A) in SEs, Re:", diff.real / se_re, "Im:", diff.imag / se_im)
    # power: a 30 % change of the response per mV would be seen
    assert np.all(np.hypot(se_re, se_im) / np.sqrt(2) < 0.3 / K_SE * np.abs(complex_n(one)))
    assert np.all(np.abs(diff.real) <= K_SE * se_re)
    assert np.all(np.abs(diff.imag) <= K_SE * se_im)


def test_low_frequency_gain_and_growing_phase_lag(runs, theory):
    df = runs[1]
    amp, amp_se = df["amp_hz_per_mV"].to_numpy(), df["amp_se_hz_per_mV"].to_numpy()
    ph, ph_se = df["phase_deg"].to_numpy(), df["phase_se_deg"].to_numpy()
    amp_th = np.abs(theory["N"]) * 1e-3
    ph_th = np.degrees(np.angle(theory["N"]))
    print("f", FREQS, "\namp", amp, "+-", amp_se, "theory", amp_th)
    print("phase", ph, "+-", ph_se, "theory", ph_th)
    # lowest frequency: nearly real and positive, amplitude as theory
    assert df["tf_re_hz_per_mV"].iloc[0] > K_SE * df["tf_re_se_hz_per_mV"].iloc[0]
    assert abs(amp[0] - amp_th[0]) <= K_SE * amp_se[0] + MODEL_ALLOWANCE * amp_th[0]
    assert abs(ph[0] - ph_th[0]) <= K_SE * ph_se[0]
    # the phase lag grows with frequency: each step down, the last one significantly
    assert np.all(np.diff(ph) < K_SE * np.hypot(ph_se[1:], ph_se[:-1]))
    assert ph[0] - ph[-1] > K_SE * np.hypot(ph_se[0], ph_se[-1])


def test_same_seed_same_numbers(params, theory):
    kw = {"frequencies": [5.0, 20.0], "duration": 0.2, "n_per_frequency": 40, "warmup": 0.05}
    a = simulate_transfer(MU, SIGMA, params, seed=3, theory=None, n_probe=10, **kw)
    b = simulate_transfer(MU, SIGMA, params, seed=3, theory=None, n_probe=10, **kw)
    cols = ["tf_re_hz_per_mV", "tf_im_hz_per_mV", "rate_hz", "mu_realized_mV"]
    np.testing.assert_array_equal(a[cols].to_numpy(), b[cols].to_numpy())


def test_planted_delay_shifts_phase(simulated):
    """With the same seed (same noise), a planted latency d shifts the phase by -w d."""
    base, late = simulated["base"], simulated["late"]
    shift = late["phase_deg"].iloc[0] - base["phase_deg"].iloc[0]
    expected = -360.0 * 40.0 * 2e-3
    se = np.hypot(base["phase_se_deg"].iloc[0], late["phase_se_deg"].iloc[0])
    print(f"phase shift {shift:.2f} deg, expected {expected:.2f} +- {se:.2f}")
    assert abs(shift - expected) <= K_SE * se


def test_transfer_task_key(params):
    a = transfer_task(MU, SIGMA, params, "synaptic", 1)
    assert a.kind == "transfer"
    assert a.key == transfer_task(MU, SIGMA, params, "synaptic", 1).key
    assert a.key != transfer_task(MU, SIGMA, params, "synaptic", 2).key
    assert a.key != transfer_task(MU, SIGMA, params, "membrane", 1).key
    assert a.key != transfer_task(MU, SIGMA, params, "synaptic", 1, mod_delay=1e-3).key
    assert a.key != transfer_task(MU, SIGMA, params, "synaptic", 1, drop_synaptic_filter=True).key


@pytest.mark.validation
def test_linearity_low_rate_point_default_frequencies(params, session_store):
    """(6, 6) mV, the low-rate point, all default frequencies: N at A and 2A agree.

    The two runs go side by side in worker processes.
    """
    kw = {"mu": 6e-3, "sigma": 6e-3, "params": params, "n_per_frequency": 1000, "duration": 4.0}
    jobs = {
        "linearity-A": (simulate_transfer, {"amplitude": 0.5e-3, "seed": 21, **kw}),
        "linearity-2A": (simulate_transfer, {"amplitude": 1.0e-3, "seed": 22, **kw}),
    }
    runs = run_side_by_side(session_store, "test_open_loop", jobs)
    one, two = runs["linearity-A"], runs["linearity-2A"]
    diff = complex_n(two) - complex_n(one)
    se_re = np.hypot(one["tf_re_se_hz_per_mV"], two["tf_re_se_hz_per_mV"]).to_numpy()
    se_im = np.hypot(one["tf_im_se_hz_per_mV"], two["tf_im_se_hz_per_mV"]).to_numpy()
    print("N(2A) - N(A) in SEs, Re:", diff.real / se_re, "Im:", diff.imag / se_im)
    assert np.all(np.abs(diff.real) <= K_SE * se_re)
    assert np.all(np.abs(diff.imag) <= K_SE * se_im)
