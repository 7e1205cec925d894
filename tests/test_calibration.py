"""Expected deviations: interpolation, no extrapolation, simulator gating, file, aggregates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mfval.cli.calibrate import pool_seeds
from mfval.comparison.aggregate import aggregate_of, family_wise_verdicts
from mfval.comparison.calibration import (
    ENTRY_COLUMNS,
    ExpectedDeviations,
    NotCalibrated,
    combine_simulators,
    load_expected_deviations,
    write_expected_deviations,
)
from mfval.comparison.planted import parse_plant
from mfval.config import ParameterError

F = [1.0, 10.0, 100.0]


def _entries(points=((6.0, 6.0), (6.0, 12.0), (12.0, 6.0), (12.0, 12.0))):
    rows = []
    for mu, sigma in points:
        for f, d in zip(F, (0.0, 0.1, 0.3)):
            offset = 0.01 * (mu - 6) + 0.001 * (sigma - 6)
            rows.append(["tf_amplitude", "E", mu, sigma, f, "relative", d + offset, 0.02, "b", "r"])
        rows.append(["rate", "E", mu, sigma, math.nan, "relative", -0.1, 0.01, "b", "r"])
    return ExpectedDeviations(
        entries=pd.DataFrame(rows, columns=ENTRY_COLUMNS), records=[{"id": "r"}]
    )


def test_interpolation_in_log_frequency():
    e = _entries()
    d, se, record = e.lookup("tf_amplitude", "E", 6.0, 6.0, math.sqrt(10.0))  # halfway in log f
    assert d == pytest.approx(0.05) and se == pytest.approx(math.hypot(0.01, 0.01))
    assert record == "r"
    assert e.lookup("tf_amplitude", "E", 6.0, 6.0, 10.0)[:2] == pytest.approx((0.1, 0.02))
    with pytest.raises(NotCalibrated, match=r"outside the calibrated frequencies \[1, 100\]"):
        e.lookup("tf_amplitude", "E", 6.0, 6.0, 150.0)


def test_bilinear_over_the_grid_and_refusal():
    e = _entries()
    d, se, _ = e.lookup("tf_amplitude", "E", 9.0, 9.0, 10.0)
    assert d == pytest.approx(0.1 + 0.01 * 3 + 0.001 * 3)
    assert se == pytest.approx(math.sqrt(4 * (0.25 * 0.02) ** 2))
    assert e.lookup("rate", "E", 9.0, 6.0)[0] == pytest.approx(-0.1)  # on an edge
    with pytest.raises(NotCalibrated, match="outside the calibrated working points"):
        e.lookup("rate", "E", 14.0, 6.0)
    sparse = _entries(((6.0, 6.0), (12.0, 12.0)))  # a diagonal: cell corners missing
    with pytest.raises(NotCalibrated, match="lacks the calibrated corner"):
        sparse.lookup("rate", "E", 9.0, 9.0)
    with pytest.raises(NotCalibrated, match="no calibration of W_rate"):
        e.lookup("W_rate", "E", 6.0, 6.0)


def test_not_recorded_rows_block_interpolation():
    e = _entries()
    e.not_recorded = [
        {
            "quantity": "tf_amplitude",
            "population": "E",
            "mu_mV": 6.0,
            "sigma_mV": 6.0,
            "frequency_hz": 5.0,
            "reason": "simulators disagree: brian2 vs nest",
        }
    ]
    with pytest.raises(NotCalibrated, match="simulators disagree"):
        e.lookup("tf_amplitude", "E", 6.0, 6.0, 3.0)
    assert e.lookup("tf_amplitude", "E", 6.0, 6.0, 50.0)  # other interval: fine


def _sim_table(deviations, se=0.01):
    return pd.DataFrame(
        {
            "quantity": "tf_phase",
            "population": "E",
            "mu_mV": 10.0,
            "sigma_mV": 10.0,
            "frequency_hz": F[: len(deviations)],
            "scale": "absolute",
            "deviation": deviations,
            "se": se,
        }
    )


def test_simulator_gating_records_only_agreement():
    brian = _sim_table([1.0, 2.0, 5.0], se=0.3)
    nest = _sim_table([1.2, 2.1, 9.0], se=0.4)  # agree, agree, disagree (8 SE apart)
    recorded, rejected = combine_simulators({"brian2": brian, "nest": nest}, k_agree=3.0)
    assert list(recorded["frequency_hz"]) == [1.0, 10.0]
    w = np.array([1 / 0.09, 1 / 0.16])
    assert recorded["deviation"].iloc[0] == pytest.approx((w @ [1.0, 1.2]) / w.sum())
    assert recorded["se"].iloc[0] == pytest.approx(1 / math.sqrt(w.sum()))
    assert set(recorded["simulators"]) == {"brian2+nest"}
    assert list(rejected["frequency_hz"]) == [100.0]
    assert "disagree" in rejected["reason"].iloc[0]
    # a key that one simulator did not measure is not recorded either
    recorded, rejected = combine_simulators({"brian2": brian, "nest": nest.iloc[:2]}, 3.0)
    assert list(recorded["frequency_hz"]) == [1.0, 10.0]
    assert "not measured by nest" in rejected["reason"].iloc[0]
    # one simulator: everything it measured
    recorded, rejected = combine_simulators({"brian2": brian}, 3.0)
    assert len(recorded) == 3 and rejected.empty
    with pytest.raises(ValueError, match="at least one simulator"):
        combine_simulators({}, 3.0)


def test_pool_seeds_is_inverse_variance_mean():
    a, b = _sim_table([1.0, 2.0], se=0.1), _sim_table([2.0, 2.0], se=0.2)
    pooled = pool_seeds([a, b])
    assert pooled["deviation"].iloc[0] == pytest.approx((10 * 1.0 + 2.5 * 2.0) / 12.5)
    assert pooled["se"].iloc[0] == pytest.approx(1 / math.sqrt(125.0))


def test_file_roundtrip_and_bad_record(tmp_path):
    recorded, rejected = combine_simulators(
        {"brian2": _sim_table([1.0, 2.0, 5.0]), "nest": _sim_table([1.0, 2.0, 3.0])}, 3.0
    )
    record = {"id": "cal-x", "command": "mfval calibrate", "run_seeds": [1000000]}
    path = write_expected_deviations(tmp_path / "e.yaml", recorded, record, rejected)
    assert path.stat().st_mode & 0o044  # readable by others (umask permitting)
    loaded = load_expected_deviations(path)
    assert loaded.records == [record]
    assert loaded.lookup("tf_phase", "E", 10.0, 10.0, 1.0)[0] == pytest.approx(1.0)
    with pytest.raises(NotCalibrated, match="disagree"):
        loaded.lookup("tf_phase", "E", 10.0, 10.0, 100.0)
    path.write_text(path.read_text().replace("record: cal-x", "record: other"))
    with pytest.raises(ParameterError, match=r"entries\[0\].record"):
        load_expected_deviations(path)
    assert load_expected_deviations(tmp_path / "missing.yaml").entries.empty


def _judged(diffs, sigma=1.0, allowance=0.0, scale="absolute"):
    n = len(diffs)
    return pd.DataFrame(
        {
            "kind": "point",
            "mu_mV": 10.0,
            "sigma_mV": 10.0,
            "quantity": "tf_phase",
            "population": "E",
            "frequency_hz": np.geomspace(1, 200, n),
            "unit": "deg",
            "scale": scale,
            "expected": 1.0,
            "difference": diffs,
            "sigma": sigma,
            "allowance": allowance,
            "record": "r",
            "verdict": "",
            "p_value": [2 * stats.norm.sf(abs(d) / sigma) for d in diffs],
        }
    )


def test_aggregate_sees_a_systematic_error_no_single_row_sees():
    diffs = np.full(12, 2.0)  # 2 SE at each of 12 frequencies
    rows = _judged(diffs)
    mean, chi2 = aggregate_of(rows)
    assert mean["simulation"] == pytest.approx(2.0)
    assert mean["se"] == pytest.approx(1 / math.sqrt(12))
    assert mean["z"] == pytest.approx(2.0 * math.sqrt(12))
    assert chi2["chi2"] == pytest.approx(48.0) and chi2["dof"] == 12
    table = family_wise_verdicts(pd.concat([rows, pd.DataFrame([mean, chi2])]), 0.01)
    assert (table[table.kind == "point"]["verdict"] == "pass").all()
    assert table[table.kind == "mean"]["verdict"].iloc[0] == "fail"
    assert table[table.kind == "chi2"]["verdict"].iloc[0] == "fail"


def test_aggregate_without_error_passes_and_respects_allowance():
    rng = np.random.default_rng(3)
    rows = _judged(rng.standard_normal(12) * 0.5 + 0.4, sigma=0.5, allowance=0.5)
    mean, chi2 = aggregate_of(rows)
    assert mean["allowance"] == pytest.approx(0.5)
    assert mean["p_value"] > 0.01
    assert aggregate_of(rows.iloc[:1]) is None


def test_graded_plant_parsing():
    plant = parse_plant("tf_gain=1.08@6,6@25-80Hz")
    assert plant.size == 1.08 and plant.point_mV == (6.0, 6.0) and plant.band_hz == (25.0, 80.0)
    df = pd.DataFrame(
        {
            "mu_mV": [6.0, 6.0, 10.0],
            "sigma_mV": [6.0, 6.0, 10.0],
            "frequency_hz": [10.0, 50.0, 50.0],
            "tf_re_hz_per_mV": [1.0, 1.0, 1.0],
            "tf_im_hz_per_mV": [0.0, 0.0, 0.0],
            "amp_hz_per_mV": [1.0, 1.0, 1.0],
            "amp_se_hz_per_mV": [0.1, 0.1, 0.1],
            "phase_deg": [0.0, 0.0, 0.0],
        }
    )
    out = plant.measure_transfer(df)
    assert list(out["amp_hz_per_mV"]) == [1.0, 1.08, 1.0]
    assert list(out["amp_se_hz_per_mV"]) == [0.1, 0.1, 0.1]  # SE unchanged
    lat = parse_plant("tf_latency_ms=1").measure_transfer(df)
    assert lat["phase_deg"].iloc[1] == pytest.approx(-18.0)  # 360 * 50 Hz * 1 ms
    assert parse_plant("none") is None
    assert parse_plant("exc_weight_scale=1.02@6,6").network_options(6e-3, 6e-3) == {
        "weight_scale_exc": 1.02
    }
    with pytest.raises(ValueError, match="NAME=SIZE"):
        parse_plant("tf_gainx=2")


def test_closed_loop_calibration_replaces_only_its_own_entries(tmp_path):
    """`mfval calibrate --closed-loop` keeps the open-loop record and entries of the file."""
    from mfval.comparison.calibration import merge_expected_deviations

    open_loop, _ = combine_simulators({"brian2": _sim_table([1.0, 2.0])}, 3.0)
    path = write_expected_deviations(tmp_path / "e.yaml", open_loop, {"id": "cal-open"})

    def closed(value, record_id):
        table = _sim_table([value]).assign(quantity="psd", scale="relative", population="I")
        recorded, _ = combine_simulators({"brian2": table, "nest": table}, 3.0)
        return merge_expected_deviations(path, recorded, {"id": record_id}, None, ["psd", "cv"])

    closed(0.1, "cal-closed-1")
    closed(0.2, "cal-closed-2")  # a second closed-loop calibration replaces the first
    loaded = load_expected_deviations(path)
    assert [r["id"] for r in loaded.records] == ["cal-open", "cal-closed-2"]
    assert loaded.lookup("tf_phase", "E", 10.0, 10.0, 10.0)[:2] == pytest.approx((2.0, 0.01))
    d, se, record = loaded.lookup("psd", "I", 10.0, 10.0, 1.0)
    assert (d, record) == (pytest.approx(0.2), "cal-closed-2")
    assert se == pytest.approx(0.01 / math.sqrt(2), rel=1e-3)
