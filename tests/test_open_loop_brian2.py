"""Open-loop neurons compiled once (cpp_standalone): reuse, and the same spikes as Cython."""

from __future__ import annotations

import numpy as np
import pytest

from mfval.simulation.open_loop.brian2 import OpenLoopArrays, run_open_loop, structure_key

pytestmark = pytest.mark.slow

N = 120


def _arrays(params, seed, lam=(6.0, 0.6), freqs=(5.0, 40.0, 160.0), amp=2e-3) -> OpenLoopArrays:
    """Strong drive (tens of Hz) so that the comparison involves hundreds of spikes."""
    rng = np.random.default_rng(seed)
    f = np.repeat(np.asarray(freqs, float), N // len(freqs))
    return OpenLoopArrays(
        network=params["network"],
        W_exc=87.8e-12,
        W_inh=-439.0e-12,
        lam_exc=lam[0],
        lam_inh=lam[1],
        f_mod=f,
        mod_amp=np.full(N, amp),
        mod_phase=rng.uniform(-np.pi, np.pi, N),
        v0=rng.uniform(0.0, 15e-3, N),
        n_probe=5,
        probe_v0=10e-3,
        probe_interval=1e-3,
        mod_delay=0.0,
        dt=params["simulation"]["dt"],
        total=0.25,
        seed=seed,
    )


@pytest.fixture(scope="module")
def standalone_runs(params):
    first = run_open_loop(_arrays(params, seed=7))
    # other seed, drive and stimulus, same structure: no new compilation
    second = run_open_loop(_arrays(params, seed=8, lam=(7.0, 0.5), freqs=(2.0, 20.0, 90.0)))
    return first, second


def test_structure_key_ignores_run_time_values(params):
    a = _arrays(params, seed=1)
    b = _arrays(params, seed=2, lam=(1.0, 2.0), freqs=(3.0, 4.0, 5.0), amp=1e-3)
    assert structure_key(a) == structure_key(b)
    longer = OpenLoopArrays(**{**a.__dict__, "total": 0.5})
    delayed = OpenLoopArrays(**{**a.__dict__, "mod_delay": 1e-3})
    assert len({structure_key(a), structure_key(longer), structure_key(delayed)}) == 3


def test_binary_is_reused_across_seeds_and_drives(standalone_runs):
    first, second = standalone_runs
    assert first["target"] == second["target"] == "cpp_standalone"
    assert second["compile_s"] == 0.0
    assert len(first["spike_i"]) > 300 and len(second["spike_i"]) > 300
    assert not np.array_equal(first["spike_i"][:50], second["spike_i"][:50])


def test_same_spikes_and_probe_as_cython(params, standalone_runs):
    first, _ = standalone_runs
    cython = run_open_loop(_arrays(params, seed=7), target="cython")
    assert np.array_equal(first["spike_i"], cython["spike_i"])
    assert np.array_equal(first["spike_t"], cython["spike_t"])
    assert first["probe_v"].shape == cython["probe_v"].shape == (5, 250)
    assert np.allclose(first["probe_v"], cython["probe_v"], rtol=1e-12, atol=0)


def test_bad_target_named(params):
    with pytest.raises(ValueError, match="target = 'gpu'"):
        run_open_loop(_arrays(params, seed=1), target="gpu")


def test_transfer_spec_same_recording_on_both_targets(params):
    """The protocol's Brian2 backend: default cpp_standalone equals the Cython runtime."""
    from mfval.simulation.open_loop.spec import make_transfer_spec
    from mfval.simulation.open_loop.tasks import run_transfer

    kw = {"frequencies": [5.0, 50.0], "n_per_frequency": 40, "duration": 0.2, "seed": 11}
    spec = make_transfer_spec(10e-3, 10e-3, params, **kw)
    assert spec.backend_options()["target"] == "cpp_standalone"
    cython = make_transfer_spec(10e-3, 10e-3, params, backend={"target": "cython"}, **kw)
    a, b = run_transfer(spec), run_transfer(cython)
    assert a.metadata["target"] == "cpp_standalone" and b.metadata["target"] == "cython"
    assert a.spike_step.size > 500
    assert np.array_equal(a.spike_step, b.spike_step)
    assert np.array_equal(a.spike_sender, b.spike_sender)
    assert np.allclose(a.state["v"], b.state["v"], rtol=1e-12, atol=0)


def test_antithetic_arms_share_the_noise(params):
    """Both arms of the default design see the same input noise: without modulation
    their spikes are identical and the measured response is exactly zero."""
    import dataclasses

    from mfval.simulation.open_loop.measure import measure_response
    from mfval.simulation.open_loop.spec import make_transfer_spec
    from mfval.simulation.open_loop.tasks import run_transfer

    kw = {"frequencies": [5.0, 50.0], "n_per_frequency": 40, "duration": 0.2, "seed": 12}
    spec = make_transfer_spec(10e-3, 10e-3, params, **kw)
    assert spec.design == "antithetic" and spec.arm_signs == (1.0, -1.0)
    silent = dataclasses.replace(spec, amplitudes=tuple(0.0 * a for a in spec.amplitudes))
    rec = run_transfer(silent)
    n = spec.n_neurons
    assert rec.n_neurons == 2 * n and rec.metadata["arms"] == 2
    first = rec.spike_sender < n
    assert first.sum() > 200
    np.testing.assert_array_equal(rec.spike_step[first], rec.spike_step[~first])
    np.testing.assert_array_equal(rec.spike_sender[first], rec.spike_sender[~first] - n)
    np.testing.assert_allclose(measure_response(rec, spec)["N"], 0.0, atol=1e-9)
    # the modulated arms differ; a single-run recording is refused for this spec
    modulated = run_transfer(spec)
    assert modulated.spike_step.size != 2 * first.sum() or not np.array_equal(
        modulated.spike_step[modulated.spike_sender < n],
        modulated.spike_step[modulated.spike_sender >= n],
    )
    with pytest.raises(ValueError, match="design 'antithetic'"):
        measure_response(run_transfer(spec.arm(1.0)), spec)
