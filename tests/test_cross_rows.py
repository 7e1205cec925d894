"""Cross-simulator rows as pure functions of two tables (no simulation)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mfval.comparison.checks import load_cross_config
from mfval.comparison.cross_simulator import (
    CrossConfig,
    cross_simulator_table,
    curve_aggregates,
    network_cross_rows,
    transfer_cross_rows,
)


def _curve(sim, amp, phase, amp_se=0.1, phase_se=1.0):
    f = np.array([1.0, 10.0, 100.0])
    return pd.DataFrame(
        {
            "mu_mV": 10.0,
            "sigma_mV": 10.0,
            "mode": "synaptic",
            "frequency_hz": f,
            "amp_hz_per_mV": amp,
            "amp_se_hz_per_mV": amp_se,
            "phase_deg": phase,
            "phase_se_deg": phase_se,
            "rate_mean_hz": 50.0,
            "rate_mean_se_hz": 0.1,
            "mu_realized_mV": 10.0,
            "mu_realized_se_mV": 0.01,
            "simulator": sim,
        }
    )


def test_aggregates_weighted_mean_and_se():
    a = _curve("brian2", np.array([10.0, 8.0, 4.0]), np.array([0.0, -10.0, -60.0]))
    b = _curve("nest", np.array([10.5, 8.4, 4.2]), np.array([2.0, -8.0, -58.0]))
    agg = curve_aggregates(a, b)
    assert agg["gain_ratio"] == pytest.approx(1.05)
    # independent ratio SEs r sqrt((0.1/a)^2 + (0.1/b)^2), inverse-variance weighted
    r = np.array([1.05, 1.05, 1.05])
    se = r * np.hypot(0.1 / a["amp_hz_per_mV"], 0.1 / b["amp_hz_per_mV"])
    assert agg["gain_ratio_se"] == pytest.approx(1 / math.sqrt(np.sum(1 / se**2)))
    assert agg["phase_offset_deg"] == pytest.approx(2.0)
    assert agg["phase_offset_se_deg"] == pytest.approx(math.sqrt(2) / math.sqrt(3))


def test_phase_difference_wraps():
    a = _curve("brian2", np.ones(3), np.array([179.0, 0.0, -179.0]))
    b = _curve("nest", np.ones(3), np.array([-179.0, 0.0, 179.0]))
    rows = pd.DataFrame(transfer_cross_rows(a, b, CrossConfig(k=4)))
    phase = rows[rows["quantity"] == "tf_phase"]["difference"].to_numpy()
    np.testing.assert_allclose(phase, [2.0, 0.0, -2.0])


def test_verdict_rule_k_times_combined_se():
    def net(sim, rate):
        return pd.DataFrame(
            [
                {
                    "mu_mV": 10.0,
                    "sigma_mV": 10.0,
                    "population": "E",
                    "rate_hz": rate,
                    "rate_se_hz": 0.3,
                    "cv": 0.8,
                    "cv_se": 0.01,
                    "mu_realized_mV": 10.0,
                    "mu_realized_se_mV": 0.1,
                    "sigma_realized_mV": 10.0,
                    "sigma_realized_se_mV": 0.1,
                    "simulator": sim,
                }
            ]
        )

    bound = 4 * math.hypot(0.3, 0.3)
    ok = pd.DataFrame(
        network_cross_rows(net("a", 50.0), net("b", 50.0 + 0.99 * bound), CrossConfig())
    )
    bad = pd.DataFrame(
        network_cross_rows(net("a", 50.0), net("b", 50.0 + 1.01 * bound), CrossConfig())
    )
    assert ok.set_index("quantity").loc["rate", "verdict"] == "pass"
    assert bad.set_index("quantity").loc["rate", "verdict"] == "fail"
    assert bad.set_index("quantity").loc["rate", "bound"] == pytest.approx(bound)


def test_table_needs_two_simulators():
    empty = {"network": pd.DataFrame(), "transfer": pd.DataFrame(), "fits": pd.DataFrame()}
    assert cross_simulator_table({"brian2": empty}, CrossConfig()).empty


def test_config_section_and_errors(tmp_path):
    assert load_cross_config().k == 4
    bad = tmp_path / "v.yaml"
    bad.write_text("cross_simulator:\n  k: -1\n")
    with pytest.raises(ValueError, match=r"cross_simulator\.k' = -1"):
        load_cross_config(bad)
    bad.write_text("cross_simulator:\n  allowances:\n    rate: {absolute: 0.1}\n")
    with pytest.raises(ValueError, match="justification"):
        load_cross_config(bad)
    bad.write_text("cross_simulator:\n  allowances:\n    rte: {absolute: 0.1, justification: x}\n")
    with pytest.raises(ValueError, match="unknown quantity 'rte'"):
        load_cross_config(bad)
