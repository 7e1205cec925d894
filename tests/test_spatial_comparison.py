"""Spatial comparison (comparison/spatial.py): configuration, settings and the pure rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mfval.comparison.spatial import (
    Setting,
    SpatialSettingsError,
    load_spatial_config,
    onset_columns,
    peak_frequency_allowance,
    setting_state,
    simulator_rows,
    stable_margin,
    sweep_settings,
)
from mfval.config import ParameterError, default_params_path


@pytest.fixture(scope="module")
def config():
    return load_spatial_config()


def test_default_config_reads(config):
    assert config["sweep"]["control"] in ("radius_ratio", "delay", None)
    assert config["sweep"]["g"]
    assert max(config["checks"]["modes"]) < config["ring"]["n_modes"]


def _write(tmp_path, text_old, text_new):
    text = default_params_path("spatial.yaml").read_text()
    assert text_old in text
    path = tmp_path / "spatial.yaml"
    path.write_text(text.replace(text_old, text_new))
    return path


def test_misspelled_check_key_is_named(tmp_path):
    path = _write(tmp_path, "  peak_mode_allowance:", "  peak_mode_alowance:")
    with pytest.raises(ParameterError, match="peak_mode_alowance"):
        load_spatial_config(path)


def test_two_controls_are_refused(tmp_path):
    path = _write(
        tmp_path,
        "  g_bracket:",
        "  delay: {value: [1.0, 1.5], unit: ms}\n  g_bracket:",
    )
    with pytest.raises(ParameterError, match="one control parameter"):
        load_spatial_config(path)


def test_checked_mode_beyond_the_measured_modes_is_refused(tmp_path):
    path = _write(tmp_path, "modes: {value: [0, 1", "modes: {value: [0, 99, 1")
    with pytest.raises(ParameterError, match="checks.modes"):
        load_spatial_config(path)


def test_settings_grid(config):
    default = sweep_settings(config)
    assert len(default) == len(config["sweep"]["g"]) * max(1, len(config["sweep"]["values"]))
    only_g = sweep_settings(config, g_values=[4.0, 4.5])
    assert [(s.g, s.control) for s in only_g] == [(4.0, None), (4.5, None)]
    both = sweep_settings(config, g_values=[4.0, 5.0], control=("delay", [1e-3, 2e-3]))
    assert [(s.g, s.value) for s in both] == [(4.0, 1e-3), (4.0, 2e-3), (5.0, 1e-3), (5.0, 2e-3)]
    with pytest.raises(SpatialSettingsError, match="width"):
        sweep_settings(config, control=("width", [1.0]))


def test_setting_applies_its_control():
    params = {"network": {"delay": 1.5e-3, "x": 1}}
    s = Setting(5.0, "radius_ratio", 0.5)
    assert s.radii((2e-4, 7e-5)) == (2e-4, 1e-4)
    assert s.params(params) is params
    d = Setting(5.0, "delay", 1e-3)
    assert d.params(params)["network"]["delay"] == 1e-3
    assert params["network"]["delay"] == 1.5e-3  # not modified in place
    assert d.radii((2e-4, 7e-5)) == (2e-4, 7e-5)
    assert "R_I/R_E=0.5" in s.label and "d=1 ms" in d.label


def test_setting_state_and_margin():
    margin = stable_margin({"psd": {"tf_amplitude_above_25hz": 0.3}})
    assert margin == pytest.approx(1 / 1.3)
    assert setting_state({"crossing_lif": np.array([-np.inf, 0.5, 0.7])}, margin) == "stable"
    assert setting_state({"crossing_lif": np.array([0.2, 0.9])}, margin) == "near onset"
    assert setting_state({"crossing_lif": np.array([1.2, 0.9])}, margin) == "unstable"


def test_peak_frequency_allowance_is_phase_over_slope():
    f = np.linspace(100, 300, 201)
    d = 1.5e-3
    phase = -2 * np.pi * f * d  # a pure delay: slope -2 pi d rad/Hz
    delta = np.radians(20.0)
    assert peak_frequency_allowance(200.0, phase, f, delta) == pytest.approx(
        delta / (2 * np.pi * d)
    )


def test_onset_columns_use_the_issue_names_for_g():
    onset = {"value_c_lif": 4.1, "mode_lif": 3, "k_star_lif_per_mm": 18.8, "f_star_lif_hz": 196}
    cols = onset_columns("g", onset, {"value_c_semi": 3.9})
    assert cols["g_c_lif"] == 4.1 and cols["k_star_lif_per_mm"] == 18.8
    assert cols["f_star_lif_hz"] == 196 and cols["mode_lif"] == 3
    assert cols["g_c_semi"] == 3.9 and math.isnan(cols["g_c_rate"])
    ratio = onset_columns("radius_ratio", onset, {})
    assert ratio["radius_ratio_c_lif"] == 4.1 and ratio["mode_radius_ratio_lif"] == 3


def _sim(psd, se, n_chunks=5):
    rows = []
    for pop in ("E", "I"):
        for n in range(3):
            for f in (20.0, 60.0):
                rows.append((pop, n, f, psd(pop, n, f), se))
    spectra = pd.DataFrame(
        rows, columns=["population", "mode", "frequency_hz", "psd_per_s", "psd_se_per_s"]
    )
    summary = pd.DataFrame({"mu_mV": [10.0], "sigma_mV": [10.0], "n_chunks": [n_chunks]})
    return {"spectra": spectra, "summary": summary}


def test_simulator_rows_pass_equal_and_fail_different_spectra():
    config = {"checks": {"modes": [0, 1, 2], "frequencies": [20.0, 60.0]}}
    rng = np.random.default_rng(1)
    noise = {k: rng.normal() for k in range(24)}
    a = _sim(lambda p, n, f: 1.0 + 0.01 * noise[hash((p, n, f)) % 24], 0.05)
    b = _sim(lambda p, n, f: 1.0, 0.05)
    same = simulator_rows(Setting(5.0), a, b, config, ["E", "I"])
    assert all(r["p_value"] > 0.05 for r in same)
    assert all(r["dof"] == 6 for r in same)
    c = _sim(lambda p, n, f: 1.5, 0.05)
    different = simulator_rows(Setting(5.0), a, c, config, ["E", "I"])
    assert all(r["p_value"] < 1e-6 for r in different)


def test_measured_onset_is_the_bracket_from_the_stable_side():
    from mfval.comparison.spatial import measured_onset

    ratio = [0.35, 0.5, 0.8, 1.0]
    m = measured_onset(ratio, [False, False, True, True], towards_unstable=-1.0)
    assert m["value"] == pytest.approx(0.65) and m["half_width"] == pytest.approx(0.15)
    assert m["bracket"] == "0.8..0.5"
    g = measured_onset([4.0, 4.5, 5.0], [True, True, False])
    assert m and g["value"] == pytest.approx(4.75)
    assert math.isnan(measured_onset(ratio, [True] * 4, -1.0)["value"])
    assert math.isnan(measured_onset(ratio, [True, True, True, False], -1.0)["value"])
    first = measured_onset(ratio, [True, True, False, True], -1.0)  # the first transition
    assert first["bracket"] == "1..0.8"
