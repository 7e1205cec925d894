"""The verdict rule, its configuration and the comparison tables (no simulation)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from comparison.checks import (
    VERDICT_FAIL,
    VERDICT_KNOWN,
    VERDICT_PASS,
    KnownDeviation,
    Rule,
    load_validation,
    verdict,
)
from comparison.metrics import comparison_table, wrap_degrees
from comparison.report import summary_table
from mfval.params import ParameterError
from tests.conftest import REPO


def test_rule_boundaries():
    rule = Rule(k=4)
    assert verdict(10.0, 10.0 + 4 * 0.5 + 1.0, 0.5, rule, 1.0)["verdict"] == VERDICT_PASS
    assert verdict(10.0, 10.0 + 4 * 0.5 + 1.01, 0.5, rule, 1.0)["verdict"] == VERDICT_FAIL
    row = verdict(10.0, 7.0, 0.5, rule, 0.0)
    assert row["z"] == pytest.approx(-6.0) and row["bound"] == pytest.approx(2.0)
    assert verdict(1.0, float("nan"), 0.1, rule, 0.0)["verdict"] == VERDICT_FAIL


def test_known_deviation_needs_region_sign_and_size():
    rule = Rule(k=4)
    known = KnownDeviation("rate", "low rates", rate_below_hz=10, max_relative=0.2, direction=-1)
    row = verdict(6.0, 5.0, 0.05, rule, 0.1, known)  # -17 %, below theory
    assert row["verdict"] == VERDICT_KNOWN and "-16.7%" in row["known_deviation"]
    assert verdict(6.0, 7.0, 0.05, rule, 0.1, known)["verdict"] == VERDICT_FAIL  # wrong sign
    assert verdict(6.0, 4.0, 0.05, rule, 0.1, known)["verdict"] == VERDICT_FAIL  # too large
    assert known.applies("rate", 6.0, math.nan) and not known.applies("rate", 20.0, math.nan)


def test_allowance_terms():
    rule = Rule(k=4, absolute=0.1, relative=0.05, mu_equivalent_mV=0.2, high_frequency=0.1)
    # x = w sqrt(tau_m tau_s) = 1 at f = 1 / (2 pi sqrt(tau_m tau_s))
    f1 = 1 / (2 * math.pi * math.sqrt(5e-3 * 0.5e-3))
    allowance = rule.allowance(
        10.0, rate_slope_hz_per_mV=8.0, frequency_hz=f1, tau_m=5e-3, tau_s=0.5e-3
    )
    assert allowance == pytest.approx(0.1 + 0.5 + 1.6 + 1.0)


def test_validation_yaml_loads_with_justifications():
    config = load_validation()
    for quantity, rule in config.rules.items():
        assert rule.justification, quantity
        assert rule.k > 0


def _bad_validation(tmp_path, edit):
    raw = yaml.safe_load((REPO / "params" / "validation.yaml").read_text())
    edit(raw)
    path = tmp_path / "val.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda r: r["quantities"].pop("rate"), "quantities.rate"),
        (lambda r: r["quantities"]["rate"].pop("justification"), "quantities.rate.justification"),
        (lambda r: r["quantities"]["tf_phase"].update(absolute=-1), "quantities.tf_phase.absolute"),
        (lambda r: r["known_deviations"][0].update(quantity="cv"), "known_deviations[0].quantity"),
    ],
)
def test_bad_validation_yaml_named(tmp_path, edit, key):
    with pytest.raises(ParameterError, match=rf"val.yaml: parameter '{re_escape(key)}'"):
        load_validation(_bad_validation(tmp_path, edit))


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_wrap_degrees():
    np.testing.assert_allclose(wrap_degrees([190.0, -190.0, 10.0, 180.0]), [-170, 170, 10, 180])


def test_comparison_table_from_synthetic_simulation(params, theory_scan):
    """Rows, units and verdicts from hand-made simulation tables."""
    scan, _ = theory_scan
    th = scan[(scan.mu_mV == 10) & (scan.sigma_mV == 10)].iloc[0]
    network = pd.DataFrame(
        [
            {
                "mu_mV": 10.0,
                "sigma_mV": 10.0,
                "population": "E",
                "rate_hz": th.rate_hz + 0.1,
                "rate_se_hz": 0.2,
                "mu_realized_mV": 10.01,
                "mu_realized_se_mV": 0.02,
                "sigma_realized_mV": 10.0,
                "sigma_realized_se_mV": 0.01,
            },
            {
                "mu_mV": 10.0,
                "sigma_mV": 10.0,
                "population": "I",
                "rate_hz": th.rate_hz * 1.5,
                "rate_se_hz": 0.2,
                "mu_realized_mV": 10.0,
                "mu_realized_se_mV": 0.02,
                "sigma_realized_mV": 10.0,
                "sigma_realized_se_mV": 0.01,
            },
        ]
    )
    table = comparison_table(scan, load_validation(), params, network=network)
    rates = table[table.quantity == "rate"].set_index("population")
    assert rates.loc["E", "verdict"] == VERDICT_PASS
    assert rates.loc["I", "verdict"] == VERDICT_FAIL
    assert rates.loc["E", "mu_equivalent_error_mV"] == pytest.approx(
        0.1 / th.dnu_dmu_hz_per_mV, rel=1e-6
    )
    summary = summary_table(table).set_index("quantity")
    assert summary.loc["rate", "fail"] == 1 and summary.loc["mu_realized", "pass"] == 2
    assert summary.loc["sigma_realized", "pass"] == 2
