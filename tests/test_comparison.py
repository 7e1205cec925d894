"""The verdict rule, its configuration and the comparison tables (no simulation)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from mfval.comparison.angles import wrap_degrees
from mfval.comparison.calibration import ENTRY_COLUMNS, ExpectedDeviations
from mfval.comparison.checks import (
    VERDICT_FAIL,
    VERDICT_NOT_JUDGED,
    VERDICT_PASS,
    Rule,
    bonferroni_k,
    holm,
    load_validation,
    row_test,
)
from mfval.comparison.metrics import comparison_table, detection_latency
from mfval.comparison.report import summary_table, theory_error_tables
from mfval.config import ParameterError
from tests.conftest import REPO


def test_row_test_and_allowance():
    assert Rule(absolute=0.1, relative=0.05).allowance(-10.0) == pytest.approx(0.6)
    z, p = row_test(3.0, 0.5, 1.0)
    assert z == pytest.approx(4.0) and p == pytest.approx(2 * stats.norm.sf(4.0))
    assert row_test(-0.9, 0.5, 1.0) == (0.0, 1.0)  # inside the allowance
    assert all(math.isnan(x) for x in row_test(math.nan, 0.5, 0.0))
    assert all(math.isnan(x) for x in row_test(1.0, 0.0, 0.0))
    # an SE from 10 chunks (9 dof): Student's t, larger p than the normal at the same z
    z9, p9 = row_test(3.0, 0.5, 1.0, dof=9)
    assert z9 == z and p9 == pytest.approx(2 * stats.t.sf(4.0, 9)) and p9 > 5 * p
    with pytest.raises(ValueError, match="dof = 0"):
        row_test(3.0, 0.5, 1.0, dof=0)


def test_holm_matches_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    rejected, adjusted = holm(p, 0.05)
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06, 0.04 -> 0.06
    np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
    assert list(rejected) == [True, False, False, True, False]
    assert np.isnan(adjusted[4])


def test_family_wise_false_alarms_stay_below_alpha():
    """Monte Carlo: 200 tables of 150 null rows; family-wise false alarms <= alpha (+ noise)."""
    rng = np.random.default_rng(1)
    alpha, n_tables = 0.05, 400
    alarms = 0
    for _ in range(n_tables):
        z = rng.standard_normal(150)
        p = 2 * stats.norm.sf(np.abs(z))
        alarms += holm(p, alpha)[0].any()
    # binomial: expected <= 20 of 400; 35 is > 3 SD above
    assert alarms <= 35
    assert bonferroni_k(0.01, 160) == pytest.approx(stats.norm.isf(0.01 / 320))


def test_validation_yaml_loads_with_justifications():
    config = load_validation()
    for quantity, rule in config.rules.items():
        assert rule.justification, quantity
    assert 0 < config.family_wise_alpha < 1
    (a0, a1), (b0, b1) = config.seeds["verification"], config.seeds["calibration"]
    assert a1 < b0 or b1 < a0
    assert config.check_seed(12345, "verification") == 12345
    with pytest.raises(ParameterError, match="it is a calibration seed"):
        config.check_seed(b0, "verification")
    with pytest.raises(ParameterError, match=r"seeds.calibration.*disjoint"):
        config.check_seed(12345, "calibration")


def test_expected_deviations_point_to_records():
    config = load_validation()
    ids = {r["id"] for r in config.expected.records}
    assert set(config.expected.entries["record"]) <= ids
    for record in config.expected.records:
        for key in ("command", "date", "run_seeds", "versions", "network_duration_s"):
            assert key in record, key
        for seed in record["run_seeds"]:
            config.check_seed(seed, "calibration")


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
        (lambda r: r["quantities"]["rate"].update(k=4), "quantities.rate"),
        (lambda r: r.update(family_wise_alpha=1.5), "family_wise_alpha"),
        (lambda r: r["seeds"]["calibration"].update(first=5), "seeds"),
        (lambda r: r.update(known_deviations=[]), "known_deviations"),
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


def test_detection_latency_is_half_a_step():
    assert detection_latency(1e-4) == pytest.approx(5e-5)
    # 3.6 deg at 200 Hz for dt = 0.1 ms
    assert 360 * 200 * detection_latency(1e-4) == pytest.approx(3.6)
    with pytest.raises(ValueError, match="dt"):
        detection_latency(0.0)


def _network(th, rate_e, rate_i):
    common = {
        "mu_mV": 10.0,
        "sigma_mV": 10.0,
        "rate_se_hz": 0.2,
        "mu_realized_mV": 10.01,
        "mu_realized_se_mV": 0.02,
        "sigma_realized_mV": 10.0,
        "sigma_realized_se_mV": 0.01,
    }
    return pd.DataFrame(
        [
            {**common, "population": "E", "rate_hz": rate_e},
            {**common, "population": "I", "rate_hz": rate_i},
        ]
    )


def _expected(th, rate_deviation=0.05):
    rows = []
    for pop in ("E", "I"):
        rows.append(
            ["rate", pop, 10.0, 10.0, math.nan, "relative", rate_deviation, 0.002, "b", "r"]
        )
        rows.append(["mu_realized", pop, 10.0, 10.0, math.nan, "absolute", 0.0, 0.01, "b", "r"])
        rows.append(["sigma_realized", pop, 10.0, 10.0, math.nan, "relative", 0.0, 0.001, "b", "r"])
    return ExpectedDeviations(
        entries=pd.DataFrame(rows, columns=ENTRY_COLUMNS), records=[{"id": "r"}]
    )


def test_comparison_table_from_synthetic_simulation(params, theory_scan):
    """Expectation = theory (1 + expected deviation); verdicts, CI tables, not-judged rows."""
    scan, _ = theory_scan
    th = scan[(scan.mu_mV == 10) & (scan.sigma_mV == 10)].iloc[0]
    config = load_validation()
    config.expected = _expected(th)
    # E at theory * 1.05 (the expected deviation): pass; I at theory * 1.5: fail
    network = _network(th, th.rate_exc_hz * 1.05 + 0.1, th.rate_inh_hz * 1.5)
    table = comparison_table(scan, config, params, network=network)
    rates = table[(table.quantity == "rate") & (table.kind == "point")].set_index("population")
    assert rates.loc["E", "verdict"] == VERDICT_PASS
    assert rates.loc["I", "verdict"] == VERDICT_FAIL
    assert rates.loc["E", "expected"] == pytest.approx(th.rate_exc_hz * 1.05)
    # sigma combines run SE and calibration SE (0.002 relative)
    assert rates.loc["E", "sigma"] == pytest.approx(math.hypot(0.2, 0.002 * th.rate_exc_hz))
    assert rates.loc["E", "mu_equivalent_error_mV"] == pytest.approx(
        (th.rate_exc_hz * 0.05 + 0.1) / th.dnu_dmu_hz_per_mV, rel=1e-6
    )
    # (b): the measured deviation of the theory is reported, with a CI, without verdict
    assert rates.loc["E", "deviation"] == pytest.approx(0.05 + 0.1 / th.rate_exc_hz)
    assert "point" in theory_error_tables(table)
    summary = summary_table(table).set_index(["quantity", "rows"])
    assert summary.loc[("rate", "point"), "fail"] == 1
    assert summary.loc[("mu_realized", "point"), "pass"] == 2

    # a working point outside the calibration: not judged, with the reason
    config.expected = ExpectedDeviations()
    table = comparison_table(scan, config, params, network=network)
    assert (table["verdict"] == VERDICT_NOT_JUDGED).all()
    assert table["reason"].str.contains("no calibration").all()
    assert np.isfinite(table["deviation"]).all()


def test_exit_code_of_a_table():
    from mfval.cli.run import exit_code

    table = pd.DataFrame({"verdict": [VERDICT_PASS, VERDICT_NOT_JUDGED]})
    assert exit_code(table) == 0
    assert exit_code(table.assign(verdict=[VERDICT_PASS, VERDICT_FAIL])) == 1
    assert exit_code(table.assign(verdict=[VERDICT_NOT_JUDGED] * 2)) == 2
