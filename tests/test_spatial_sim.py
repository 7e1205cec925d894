"""The spatial ring protocol (simulation/spatial): connectivity, mode spectra, peak, tasks.

Small rings and synthetic spike trains (fast); the runs that need NEST skip without
it (``pytest.importorskip("nest")``, as tests/test_nest.py); no Brian2 compilation
here (the benchmark and the validation run the full ring on Brian2).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from mfval.config import ParameterError
from mfval.simulation.model.connectivity import (
    RingConnectivity,
    build_ring_connectivity,
    ring_boxes,
    ring_positions,
)
from mfval.simulation.spatial.measure import (
    DEFAULT_MEASURE,
    measure_ring_window,
    pool_spatial_chunks,
    space_time_raster,
    spatial_tables,
)
from mfval.simulation.spatial.spec import (
    SpatialPerturbation,
    load_spatial_params,
    spatial_chunk_seed,
    spatial_spec,
)

L = 1e-3
RADIUS = (0.2e-3, 0.07e-3)
#: theory of the small ring's spec (the measurement does not use it)
THEORY = {"nu_ext": np.array([20000.0, 4000.0]), "firing_rates": np.array([20.0, 20.0])}


@pytest.fixture(scope="module")
def small(params) -> dict:
    """Parameters of a small ring: N = (400, 100), K = (40, 10) (boxes 160 and 14)."""
    out = copy.deepcopy({k: params[k] for k in ("network", "simulation")})
    out["network"]["N"] = np.array([400, 100])
    out["network"]["K"] = np.array([[40, 10], [40, 10]])
    return out


def _distance(a, b):
    d = np.abs(a - b) % L
    return np.minimum(d, L - d)


# ----------------------------------------------------------------------------- connectivity


def test_ring_connectivity_boxes_indegree_no_autapses(small):
    net = small["network"]
    conn = build_ring_connectivity(net, L, RADIUS, np.random.RandomState(3))
    sizes = np.asarray(net["N"])
    offsets = [0, sizes[0]]
    for (t, s), (i, j) in conn.items():
        xi = ring_positions(sizes[s], L)[i - offsets[s]]
        xj = ring_positions(sizes[t], L)[j - offsets[t]]
        assert _distance(xi, xj).max() <= RADIUS[s] * (1 + 1e-9)
        assert np.all(np.bincount(j - offsets[t], minlength=sizes[t]) == net["K"][t, s])
        assert not np.any(i == j)  # no autapses (global indices)
        assert len(set(zip(i.tolist(), j.tolist()))) == len(i)  # no multapses
        assert np.all(np.diff(i) >= 0)  # sorted by presynaptic index
    # every source of the box is reachable (uniform without replacement: K of the box)
    again = build_ring_connectivity(net, L, RADIUS, np.random.RandomState(3))
    other = build_ring_connectivity(net, L, RADIUS, np.random.RandomState(4))
    for key in conn:
        assert np.array_equal(conn[key][0], again[key][0])
        assert np.array_equal(conn[key][1], again[key][1])
    assert not np.array_equal(conn[(0, 0)][0], other[(0, 0)][0])


def test_ring_box_sizes_at_the_default_ring():
    # E box 2 R_E N_E / L = 1600 (+ the target itself), I box 140 (+ itself)
    assert set(ring_boxes(4000, 4000, L, 0.2e-3)[1]) == {1601}
    assert set(ring_boxes(1000, 1000, L, 0.07e-3)[1]) == {141}
    assert set(ring_boxes(4000, 1000, L, 0.07e-3)[1]) == {140}
    assert set(ring_boxes(1000, 4000, L, 0.2e-3)[1]) == {1600}


def test_ring_sources_are_uniform_in_the_box(small):
    net = copy.deepcopy(small["network"])
    conn = build_ring_connectivity(net, L, RADIUS, np.random.RandomState(0))
    i, j = conn[(0, 0)]
    offset = ring_positions(400, L)[i] - ring_positions(400, L)[j]
    offset = (offset + L / 2) % L - L / 2  # signed, m
    # boxcar: flat in [-R, R]; both halves equally often, mean |offset| R / 2
    assert abs(np.mean(offset > 0) - 0.5) < 0.02
    assert abs(np.mean(np.abs(offset)) / RADIUS[0] - 0.5) < 0.02


@pytest.mark.parametrize(
    ("length", "radius", "match"),
    [
        (0.3e-3, (0.2e-3, 0.07e-3), "must exceed 2 R: radius of E"),
        (1e-3, (0.2e-3, 0.03e-3), "holds only .* neurons of I .* K = 10"),
        (1e-3, (0.04e-3, 0.07e-3), "holds only .* neurons of E"),
    ],
)
def test_ring_refuses_wrapping_or_small_boxes(small, length, radius, match):
    with pytest.raises(ValueError, match=match):
        build_ring_connectivity(small["network"], length, radius, np.random.RandomState(0))
    with pytest.raises(ValueError, match=match):
        spatial_spec(
            10e-3, 10e-3, small, 1, ring={"length": length, "radius": radius}, theory=THEORY
        )


def test_ring_rule_rejects_bad_values():
    with pytest.raises(ValueError, match="length"):
        RingConnectivity(0.0, RADIUS)
    with pytest.raises(ValueError, match="radius"):
        RingConnectivity(L, (0.2e-3, -1.0))
    with pytest.raises(ValueError, match="radius_scale"):
        SpatialPerturbation(radius_scale=(1.0, 0.0))


def _spec(small, **options):
    opts = {"ring": {"length": L, "radius": RADIUS}, "theory": THEORY, "n_chunks": 2}
    opts.update(chunk_duration=0.1, warmup=0.02)
    opts.update(options)
    return spatial_spec(10e-3, 10e-3, small, 7, **opts)


def test_spec_chunks_seeds_and_planted_radius(small):
    from mfval.simulation.network.spec import initial_state

    spec = _spec(small, n_chunks=3)
    assert [c.seed for c in spec.chunks] == [spatial_chunk_seed(7, i) for i in range(3)]
    assert len({c.seed for c in spec.chunks}) == 3
    assert spec.chunks[0].connectivity == RingConnectivity(L, RADIUS)
    planted = _spec(small, perturbation=SpatialPerturbation(radius_scale=(1.0, 1.5)))
    assert planted.ring == spec.ring  # nominal ring kept
    assert planted.chunks[0].connectivity.radius == pytest.approx((RADIUS[0], RADIUS[1] * 1.5))
    conn = initial_state(planted.chunks[0])["conn"]
    i, j = conn[(1, 1)]
    x = ring_positions(100, L)
    assert _distance(x[i - 400], x[j - 400]).max() > RADIUS[1] * 1.2
    delayed = _spec(small, perturbation=SpatialPerturbation(delay_scale=2.0), g=4.0)
    assert delayed.chunks[0].network["delay"] == pytest.approx(2 * small["network"]["delay"])
    assert -delayed.chunks[0].network["W"][0, 1] / delayed.chunks[0].network["W"][0, 0] == 4.0


def test_spatial_seed_depends_on_point_and_g():
    from mfval.simulation.spatial.tasks import spatial_seed

    seeds = {spatial_seed(1, 10e-3, 10e-3, g) for g in (None, 4.0, 5.0)}
    seeds.add(spatial_seed(1, 10e-3, 8e-3, 5.0))
    assert len(seeds) == 4 and spatial_seed(1, 10e-3, 10e-3, 4.0) == spatial_seed(1, 0.01, 0.01, 4)


def test_brian2_and_nest_specs_share_the_connectivity(small):
    from mfval.simulation.network.spec import initial_state

    a = initial_state(_spec(small).chunks[0])
    b = initial_state(_spec(small, simulator="nest").chunks[0])
    for key in a["conn"]:
        assert np.array_equal(a["conn"][key][0], b["conn"][key][0])
        assert np.array_equal(a["conn"][key][1], b["conn"][key][1])
    assert np.array_equal(a["v0"], b["v0"])


def test_random_rule_keys_and_structure_unchanged(small):
    """A ring is run-time data for Brian2: one binary for every seed, g and ring."""
    from mfval.simulation.network.brian2 import structure_key
    from mfval.simulation.network.spec import make_network_spec
    from mfval.simulation.network.tasks import recording_key

    spec = _spec(small)
    plain = make_network_spec(10e-3, 10e-3, small, spec.chunks[0].seed, theory=THEORY)
    ring_a, ring_b = spec.chunks
    other = _spec(small, ring={"length": 0.8e-3, "radius": (0.15e-3, 0.07e-3)}).chunks[0]
    assert structure_key(ring_a) == structure_key(ring_b) == structure_key(other)
    assert len({recording_key(ring_a), recording_key(other), recording_key(plain)}) == 3


# ----------------------------------------------------------------------------- measurement


def _poisson_window(rng, sizes, rate, n_steps, dt, modulation=None):
    """Spikes of independent neurons on a ring; ``modulation(x, t)`` multiplies the rate."""
    steps, neurons, pops, positions = [], [], [], []
    t = np.arange(n_steps) * dt
    for p, n in enumerate(sizes):
        x = ring_positions(n, L)
        lam = np.full((n, n_steps), rate * dt)
        if modulation is not None:
            lam = lam * modulation(x[:, None], t[None, :])
        counts = rng.poisson(lam)
        j, k = np.nonzero(counts)
        reps = counts[j, k]
        j, k = np.repeat(j, reps), np.repeat(k, reps)
        steps.append(k)
        neurons.append(j)
        pops.append(np.full(j.size, p))
        positions.append(x[j])
    return {
        "steps": np.concatenate(steps).astype(np.int64),
        "neurons": np.concatenate(neurons),
        "populations": np.concatenate(pops),
        "positions": np.concatenate(positions),
        "sizes": np.asarray(sizes),
        "names": ["E", "I"],
        "n_steps": n_steps,
        "dt": dt,
        "length": L,
    }


def test_poisson_and_shuffled_positions_give_rate_over_n():
    """Normalisation: independent trains, and a wave with shuffled positions, are flat at nu/N."""
    rng = np.random.default_rng(1)
    dt, n_steps, rate = 1e-4, 20000, 20.0
    sizes = (400, 100)
    measure = {"n_modes": 6}

    def wave(x, t):
        return 1 + 0.8 * np.cos(2 * np.pi * 3 * x / L - 2 * np.pi * 200 * t)

    for modulation, shuffle in ((None, False), (wave, True)):
        chunks = []
        for _ in range(2):
            w = _poisson_window(rng, sizes, rate, n_steps, dt, modulation)
            if shuffle:  # positions shuffled among the neurons of each population
                for p, n in enumerate(sizes):
                    perm = rng.permutation(n)
                    sel = w["populations"] == p
                    w["positions"][sel] = ring_positions(n, L)[perm[w["neurons"][sel]]]
            chunks.append(measure_ring_window(w, measure))
        pooled = pool_spatial_chunks(chunks, measure)
        psd = pooled["spectrum"]["psd"]  # (n_pop, n_modes, n_freq)
        poisson = pooled["spectrum"]["rates"] / np.asarray(sizes)
        ratio = psd / poisson[:, None, None]
        # mean over all frequencies and modes within 2 %; each mode within 5 %
        assert abs(ratio.mean() - 1) < 0.02
        assert np.all(np.abs(ratio.mean(axis=2) - 1) < 0.05)
        for s in pooled["stats"]:
            assert s["plateau_ratio"] == pytest.approx(1, abs=0.05)
            assert s["order_parameter"] < 1.3


@pytest.mark.parametrize("sign", [1, -1])
def test_synthetic_travelling_wave_peak_direction_velocity(sign):
    rng = np.random.default_rng(2)
    dt, n_steps, rate, n_wave, f_wave = 1e-4, 10000, 20.0, 3, 200.0

    def wave(x, t):
        return 1 + 0.5 * np.cos(2 * np.pi * n_wave * x / L - sign * 2 * np.pi * f_wave * t)

    measure = {"n_modes": 8}
    chunks = [
        measure_ring_window(_poisson_window(rng, (400, 100), rate, n_steps, dt, wave), measure)
        for _ in range(3)
    ]
    stats = pool_spatial_chunks(chunks, measure)["stats"]
    for s in stats:
        assert s["peak_mode"] == n_wave
        assert s["peak_frequency_hz"] == pytest.approx(f_wave)
        assert not s["peak_at_band_edge"]
        assert s["peak_wave_number_per_mm"] == pytest.approx(2 * np.pi * n_wave)
        assert s["direction"] == sign  # +1: towards +x
        # raw asymmetry: the other sign holds the Poisson floor rate / N only
        assert sign * s["direction_asymmetry"] > 0.6
        assert s["travelling_index"] > 0.6
        # v = 2 pi f / k = f L / n = 200 Hz * 1 mm / 3
        assert s["phase_velocity_mm_per_s"] == pytest.approx(f_wave * 1.0 / n_wave)
        # a line of amplitude c = rate a / 2 at one sign of f, in its bin:
        # c^2 T <w>^2 / <w^2> = c^2 T 2 / 3 (Hann), averaged with the other sign (/ 2),
        # on the Poisson floor rate / N
        n_pop = 400 if s["population"] == "E" else 100
        line = (rate * 0.5 / 2) ** 2 * 0.1 * 2 / 3
        assert s["peak_ratio"] == pytest.approx(1 + line / 2 / (rate / n_pop), rel=0.2)
        # order parameter: band mean over the 31 bins of 10 Hz in 100-400 Hz; the line's
        # power c^2 (Parseval), half of it on each sign of f
        band = (rate * 0.5 / 2) ** 2 / 2 / (31 * 10.0)
        assert s["order_parameter"] == pytest.approx(1 + band / (rate / n_pop), rel=0.1)
        assert s["order_parameter_se"] > 0
    # a standing wave: no direction
    standing = [
        measure_ring_window(
            _poisson_window(
                rng,
                (400, 100),
                rate,
                n_steps,
                dt,
                lambda x, t: 1 + 0.5 * np.cos(2 * np.pi * n_wave * x / L) * np.cos(2e2 * np.pi * t),
            ),
            measure,
        )
        for _ in range(3)
    ]
    for s in pool_spatial_chunks(standing, measure)["stats"]:
        assert s["peak_mode"] == n_wave and s["direction"] == 0
        assert s["travelling_index"] < 0.3


def test_measurement_refuses_bad_segment():
    rng = np.random.default_rng(0)
    w = _poisson_window(rng, (40, 10), 10.0, 1000, 1e-4)
    with pytest.raises(ValueError, match="segment"):
        measure_ring_window(w, {"segment": 0.03})
    with pytest.raises(ValueError, match="unknown measurement settings"):
        measure_ring_window(w, {"segmnet": 0.01})
    with pytest.raises(ValueError, match="peak_band"):
        measure_ring_window(w, {"peak_band": (500.0, 50.0)})


# ----------------------------------------------------------------------------- parameters


def test_spatial_params_load_in_si():
    p = load_spatial_params()
    assert p["ring"]["length"] == pytest.approx(1e-3)
    assert p["ring"]["radius"] == pytest.approx((0.2e-3, 0.07e-3))
    assert p["working_point"]["mu"] == pytest.approx(10e-3)
    assert p["measure"]["n_modes"] == 16
    assert set(p["measure"]) == set(DEFAULT_MEASURE)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (("ring", "lenght"), "ring.lenght"),
        (("rings", None), "rings"),
        (("ring", "radius", "unit", "ms"), "ring.radius"),
        (("ring", "length", "value", -1.0), "ring.length"),
        (("simulation", "n_chunks", "value", 1.5), "simulation.n_chunks"),
        (("measurement", "peak_band", "value", [500.0, 50.0]), "measurement.peak_band"),
        (("measurement", "segment", None), "measurement.segment"),
    ],
)
def test_spatial_params_errors_name_the_key(tmp_path, edit, key):
    import yaml

    from mfval.config import default_params_path

    raw = yaml.safe_load(default_params_path("spatial.yaml").read_text())
    if edit[0] == "rings":
        raw["rings"] = raw.pop("ring")
    elif edit[1] == "lenght":
        raw["ring"]["lenght"] = raw["ring"].pop("length")
    elif len(edit) == 3:
        del raw[edit[0]][edit[1]]
    else:
        raw[edit[0]][edit[1]][edit[2]] = edit[3]
    path = tmp_path / "spatial.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParameterError) as err:
        load_spatial_params(path)
    assert err.value.key == key
    assert key in str(err.value)


# ----------------------------------------------------------------------------- runs (NEST)


def test_nest_ring_run_same_seed_same_numbers_and_connections(small, tmp_path):
    pytest.importorskip("nest")
    import nest

    from mfval.simulation.network.spec import initial_state, theory_for_point
    from mfval.simulation.network.tasks import run_network
    from mfval.simulation.spatial.measure import measure_spatial
    from mfval.simulation.spatial.tasks import spatial_tasks
    from mfval.store import ResultStore
    from mfval.tasks import run_tasks

    theory = theory_for_point(10e-3, 10e-3, small)
    spec = _spec(small, simulator="nest", theory=theory)
    recordings = [run_network(c) for c in spec.chunks]
    # the connections NEST holds are the spec's (the last chunk's kernel is still there)
    got = nest.GetConnections(synapse_model="static_synapse").get(["source", "target"])
    pairs = set(zip(np.asarray(got["source"]) - 1, np.asarray(got["target"]) - 1))
    conn = initial_state(spec.chunks[-1])["conn"]
    want = set()
    for i, j in conn.values():
        want |= set(zip(i.tolist(), j.tolist()))
    assert {p for p in pairs if p[0] < 500 and p[1] < 500} == want
    # every spike of every neuron is in the recording
    assert recordings[0].n_neurons == 500
    assert np.unique(recordings[0].spike_sender).size > 400
    tables = measure_spatial(recordings, spec)
    summary = tables["summary"]
    assert list(summary.population) == ["E", "I"]
    assert np.all(summary.rate_hz > 1)
    raster = space_time_raster(recordings[0], spec.chunks[0], 0.0, 0.05)
    assert raster["times"].max() < 0.05 and raster["positions"].max() < L
    # the store tasks give the same numbers (same seed), cached one by one
    store = ResultStore(tmp_path / "store")
    chunks = spatial_tasks(
        10e-3,
        10e-3,
        small,
        7,
        ring={"length": L, "radius": RADIUS},
        theory=theory,
        n_chunks=2,
        chunk_duration=0.1,
        warmup=0.02,
        simulator="nest",
    )
    assert [t.kind for t in chunks.tasks] == ["spatial_chunk"] * 2
    assert [t.kwargs["spec"].seed for t in chunks.tasks] == [c.seed for c in spec.chunks]
    assert len({t.key for t in chunks.tasks}) == 2
    results = run_tasks(chunks.tasks, store, workers=1, progress=False)
    again = chunks.tables(results)
    np.testing.assert_array_equal(again["spectra"].psd_per_s, tables["spectra"].psd_per_s)
    assert again["summary"].equals(tables["summary"])
    assert math.isfinite(again["summary"].order_parameter_se.iloc[0])
    tables_again = spatial_tables(results, spec)
    assert tables_again["summary"].equals(tables["summary"])
