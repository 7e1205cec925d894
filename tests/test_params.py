"""The parameter loader: SI conversion, inheritance, and every error path."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from mfval.config import ParameterError, analysis_frequencies, load_params, stable_hash
from tests.conftest import REPO


def test_default_in_si(params):
    net = params["network"]
    assert net["C"] == pytest.approx(250e-12)
    assert net["tau_m"] == pytest.approx(5e-3)
    assert net["tau_s"] == pytest.approx(0.5e-3)
    assert net["V_th"] - net["V_reset"] == pytest.approx(15e-3)
    np.testing.assert_allclose(net["W"], [[87.8e-12, -439e-12]] * 2)
    np.testing.assert_array_equal(net["K"], [[400, 100], [400, 100]])
    assert net["N"].dtype.kind == "i"
    assert params["scan"]["mu"] == pytest.approx([6e-3, 8e-3, 10e-3, 12e-3])


def test_analysis_frequencies_follow_nnmt_convention(params):
    f = analysis_frequencies(params)
    # nnmt.models.Basic: np.arange(f_min, f_max, df) with f_max excluded
    assert f[0] == pytest.approx(1.0) and f[-1] == pytest.approx(199.0) and len(f) == 199


def test_g6_inherits_and_overrides():
    g6 = load_params(REPO / "params" / "g6.yaml")
    assert g6["network"]["W"][0, 1] == pytest.approx(-526.8e-12)
    assert g6["network"]["W"][0, 1] / g6["network"]["W"][0, 0] == pytest.approx(-6.0)
    assert g6["network"]["tau_m"] == pytest.approx(5e-3)


def _write_variant(tmp_path, edit) -> str:
    raw = yaml.safe_load((REPO / "params" / "default.yaml").read_text())
    edit(raw)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize(
    "edit, key, value_text, reason",
    [
        (lambda r: r["network"].pop("tau_m"), "network.tau_m", "None", "missing key"),
        (
            lambda r: r["network"].update(C={"value": 250, "unit": "furlong"}),
            "network.C",
            "furlong",
            "unknown unit",
        ),
        (
            lambda r: r["network"].update(C={"value": 250, "unit": "ms"}),
            "network.C",
            "ms",
            "not a unit of F",
        ),
        (
            lambda r: r["network"].update(W={"value": [87.8, -439.0], "unit": "pA"}),
            "network.W",
            "87.8",
            "shape",
        ),
        (
            lambda r: r["network"].update(tau_m={"value": 0.0, "unit": "ms"}),
            "network.tau_m",
            "0.0",
            "must be positive",
        ),
        (
            lambda r: r["network"].update(tau_s={"value": -0.5, "unit": "ms"}),
            "network.tau_s",
            "-0.5",
            "must be positive",
        ),
        (
            lambda r: r["network"].update(K={"value": [[400.5, 100], [400, 100]], "unit": "1"}),
            "network.K",
            "400.5",
            "integer",
        ),
        (lambda r: r["scan"].update(sigma=7), "scan.sigma", "7", "value: ..., unit"),
        (
            lambda r: r["network"].update(foo={"value": 1, "unit": "1"}),
            "network.foo",
            "",
            "unknown",
        ),
        (lambda r: r.pop("simulation"), "simulation", "None", "missing section"),
    ],
)
def test_bad_yaml_names_file_key_and_value(tmp_path, edit, key, value_text, reason):
    path = _write_variant(tmp_path, edit)
    with pytest.raises(ParameterError) as info:
        load_params(path)
    message = str(info.value)
    assert "variant.yaml" in message
    assert f"'{key}'" in message
    assert value_text in message
    assert reason in message


def test_unparsable_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("network: [unclosed\n")
    with pytest.raises(ParameterError, match="broken.yaml.*not valid YAML"):
        load_params(path)


def test_missing_file(tmp_path):
    with pytest.raises(ParameterError, match="does not exist"):
        load_params(tmp_path / "nope.yaml")


def test_stable_hash_sees_every_change(params):
    base = stable_hash(params["network"])
    assert stable_hash(params["network"]) == base
    changed = {**params["network"], "tau_s": params["network"]["tau_s"] * (1 + 1e-12)}
    assert stable_hash(changed) != base
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
