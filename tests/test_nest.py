"""The NEST backend: its numerical conventions, reproducibility, and the missing-extra error.

The conventions that :mod:`mfval.simulation.model.nest_support` documents (device current
latency, port 1's synaptic filter, spike and sample stamps) are checked here
against deterministic NEST runs; the stimulus factor that the measurement
divides out is therefore computed, not fitted to a judged run.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from mfval.config import load_params


@pytest.fixture(scope="module")
def params():
    return load_params()


def test_missing_nest_gives_install_hint(monkeypatch):
    """Without the extra, selecting NEST fails with the pip command; Brian2 is unaffected."""
    from mfval.simulation.model import nest_support

    monkeypatch.setitem(sys.modules, "nest", None)  # import nest -> ImportError
    with pytest.raises(ImportError, match=r'pip install -e "\.\[nest\]"'):
        nest_support.import_nest()


def test_missing_nest_cli_error(monkeypatch, tmp_path, capsys):
    from mfval.cli.main import main

    monkeypatch.setitem(sys.modules, "nest", None)
    rc = main(
        ["simulate", "--simulator", "nest", "--point", "10,10", "--out", str(tmp_path / "o")]
        + ["--cache-dir", str(tmp_path / "c"), "--quiet"]
    )
    assert rc == 2
    assert "optional extra" in capsys.readouterr().err


def test_bad_simulator_name(tmp_path, capsys):
    from mfval.cli.main import main

    with pytest.raises(SystemExit):
        main(["simulate", "--simulator", "nset", "--out", str(tmp_path)])
    assert "nset" in capsys.readouterr().err


def test_nest_seed_range():
    from mfval.simulation.model.nest_support import nest_seed

    for seed in (0, 1, 12345, 2**31 - 1, 2**32 - 1, 2**40):
        assert 1 <= nest_seed(seed) <= 2**31 - 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["membrane", "synaptic"])
def test_stimulus_factor_matches_deterministic_nest(params, mode):
    """A noise-free iaf_psc_exp driven like the open-loop backend: the grid samples of V
    equal dmu H(w) F(w) e^{iwt} with the analytic stimulus factor F, to rounding."""
    pytest.importorskip("nest")
    from mfval.simulation.model.lif import modulation_filter
    from mfval.simulation.model.nest_support import (
        FILTERED_CURRENT_PORT,
        MEMBRANE_CURRENT_PORT,
        iaf_psc_exp_params,
        reset_kernel,
        set_quiet,
        stimulus_factor,
    )

    net = params["network"]
    dt = params["simulation"]["dt"]
    freqs = np.array([3.0, 40.0, 200.0, 1000.0])
    dmu = 1e-3
    set_quiet()
    nest = reset_kernel(dt, 1, 1)
    neurons = nest.Create("iaf_psc_exp", freqs.size, params=iaf_psc_exp_params(net, V_th=1.0))
    port = FILTERED_CURRENT_PORT if mode == "synaptic" else MEMBRANE_CURRENT_PORT
    for k, f in enumerate(freqs):
        ac = nest.Create(
            "ac_generator",
            params={
                "amplitude": dmu * net["C"] / net["tau_m"] * 1e12,
                "frequency": f,
                "phase": 90.0,
            },
        )
        nest.Connect(ac, neurons[k], syn_spec={"receptor_type": port, "delay": dt * 1e3})
    meter = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": dt * 1e3})
    nest.Connect(meter, neurons)
    nest.Simulate(1200.0)
    ev = meter.get("events")
    t = np.asarray(ev["times"]) * 1e-3
    v = (np.asarray(ev["V_m"]) - net["E_L"] * 1e3) * 1e-3
    sender = np.asarray(ev["senders"]) - neurons[0].global_id
    window = (t >= 0.2 - 1e-9) & (t < 1.2 - 1e-9)  # 1 s: whole cycles of every frequency
    factor = stimulus_factor(freqs, net, dt, mode)
    H = modulation_filter(freqs, net["tau_m"], net["tau_s"], mode)
    for k, f in enumerate(freqs):
        sel = window & (sender == k)
        assert sel.sum() == 10000
        X = 2 * np.mean(v[sel] * np.exp(-2j * np.pi * f * t[sel]))
        expected = dmu * H[k] * factor[k]
        arg = np.degrees(np.angle(factor[k]))
        print(f"{mode} {f:g} Hz: |F| {abs(factor[k]):.5f}, arg F {arg:.3f} deg")
        assert abs(X / expected - 1) < 1e-9
    # the convention's size: ~1.5 steps latency (membrane), 0.906 charge and ~2 steps (synaptic)
    w = 2 * np.pi * freqs
    lag_steps = -np.angle(factor) / (w * dt)
    if mode == "membrane":
        assert np.allclose(np.abs(factor[:2]), 1, atol=1e-3)
        assert np.allclose(lag_steps[:3], 1.5, atol=0.02)
    else:
        tau_s = net["tau_s"]
        assert abs(abs(factor[0]) - tau_s / dt * -math.expm1(-dt / tau_s)) < 1e-3


@pytest.mark.slow
def test_spike_stamp_is_detection_step(params):
    """NEST stamps a spike at the grid time whose state first reached threshold (Recording
    convention): a constant current, V_k = V_inf (1 - P22^k), first k with V_k >= theta."""
    pytest.importorskip("nest")
    from mfval.simulation.model.nest_support import iaf_psc_exp_params, reset_kernel, set_quiet

    net = params["network"]
    dt = params["simulation"]["dt"]
    set_quiet()
    nest = reset_kernel(dt, 1, 1)
    p = iaf_psc_exp_params(net)
    I_e = 1.3 * (net["V_th"] - net["E_L"]) * net["C"] / net["tau_m"]  # V_inf = 1.3 theta
    p["I_e"] = I_e * 1e12
    p["V_m"] = p["E_L"]
    neuron = nest.Create("iaf_psc_exp", params=p)
    rec = nest.Create("spike_recorder")
    nest.Connect(neuron, rec)
    nest.Simulate(30.0)
    t = np.asarray(rec.get("events")["times"]) * 1e-3
    theta = net["V_th"] - net["E_L"]
    v_inf = I_e * net["tau_m"] / net["C"]
    k = np.arange(1, 1000)
    v = v_inf * (1 - np.exp(-k * dt / net["tau_m"]))
    first = int(k[np.argmax(v >= theta)])
    assert round(t[0] / dt) == first
    # with t_ref = 0 and reset to E_L, the train is periodic with the same period
    assert np.allclose(np.diff(np.round(t / dt)), first)


@pytest.mark.slow
def test_nest_network_same_seed_same_numbers(params):
    pytest.importorskip("nest")
    from mfval.simulation.network.tasks import simulate_network

    p = {**params, "network": {**params["network"], "N": np.array([400, 100])}}
    p["network"]["K"] = np.array([[80, 20], [80, 20]])
    kw = {"duration": 0.1, "warmup": 0.05, "n_blocks": 2, "n_record": 20, "simulator": "nest"}
    a = simulate_network(10e-3, 10e-3, p, seed=3, **kw)
    b = simulate_network(10e-3, 10e-3, p, seed=3, **kw)
    c = simulate_network(10e-3, 10e-3, p, seed=4, **kw)
    cols = ["rate_hz", "cv", "mu_realized_mV", "sigma_realized_mV"]
    np.testing.assert_array_equal(a[cols].to_numpy(), b[cols].to_numpy())
    assert not np.array_equal(a[cols].to_numpy(), c[cols].to_numpy())
    assert set(a["simulator"]) == {"nest"}


@pytest.mark.slow
def test_nest_transfer_same_seed_same_numbers(params):
    pytest.importorskip("nest")
    from mfval.simulation.open_loop.tasks import simulate_transfer

    kw = {"frequencies": [5.0, 20.0], "duration": 0.2, "n_per_frequency": 40, "warmup": 0.05}
    a = simulate_transfer(10e-3, 10e-3, params, seed=3, n_probe=10, simulator="nest", **kw)
    b = simulate_transfer(10e-3, 10e-3, params, seed=3, n_probe=10, simulator="nest", **kw)
    cols = ["tf_re_hz_per_mV", "tf_im_hz_per_mV", "rate_hz", "mu_realized_mV"]
    np.testing.assert_array_equal(a[cols].to_numpy(), b[cols].to_numpy())


@pytest.mark.slow
def test_nest_antithetic_arms_share_the_noise(params):
    """NEST reproduces the input noise in both arms: unmodulated, they spike identically."""
    pytest.importorskip("nest")
    import dataclasses

    from mfval.simulation.open_loop.spec import make_transfer_spec
    from mfval.simulation.open_loop.tasks import run_transfer

    kw = {"frequencies": [5.0, 20.0], "duration": 0.2, "n_per_frequency": 40, "warmup": 0.05}
    spec = make_transfer_spec(10e-3, 10e-3, params, seed=4, simulator="nest", **kw)
    silent = dataclasses.replace(spec, amplitudes=tuple(0.0 * a for a in spec.amplitudes))
    rec = run_transfer(silent)
    n = spec.n_neurons
    first = rec.spike_sender < n
    assert rec.n_neurons == 2 * n and first.sum() > 100
    np.testing.assert_array_equal(rec.spike_step[first], rec.spike_step[~first])
    np.testing.assert_array_equal(rec.spike_sender[first], rec.spike_sender[~first] - n)


def test_recording_roundtrip_compressed():
    """A Recording pickles compressed and comes back identical."""
    import pickle

    from mfval.simulation.model.recording import Recording

    rng = np.random.default_rng(0)
    rec = Recording(
        simulator="nest",
        version="3.10.0",
        dt=1e-4,
        n_steps=100,
        n_neurons=5,
        spike_step=np.sort(rng.integers(0, 100, 50)),
        spike_sender=rng.integers(0, 5, 50),
        state={"I": rng.normal(size=(2, 100))},
        state_index={"I": np.array([1, 3])},
        state_step={"I": np.arange(100)},
        conventions={"state_sample": "after_jumps"},
        metadata={"seed": 1},
    )
    back = pickle.loads(pickle.dumps(rec))
    assert np.array_equal(back.spike_step, rec.spike_step)
    assert np.array_equal(back.state["I"], rec.state["I"])
    assert back.conventions == rec.conventions and back.metadata == rec.metadata
    with pytest.raises(ValueError, match="state_sample"):
        back.require("state_sample", "before_jumps")
