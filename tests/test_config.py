"""The one YAML reader and unit parser (mfval.config) and every loader built on them.

For each file kind (params, validation.yaml with its cross_simulator section,
closed_loop.yaml, expected_deviations.yaml): a misspelled section is rejected
with its name, a bad unit names its key, and every error is a ParameterError
naming the file.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from mfval.cli.main import main
from mfval.comparison.calibration import load_expected_deviations
from mfval.comparison.checks import load_cross_config, load_validation
from mfval.comparison.closed_loop import load_closed_loop_config
from mfval.config import (
    UNITS,
    ParameterError,
    Spec,
    load_params,
    mapping,
    number,
    quantity,
    read_raw,
    read_yaml,
)
from tests.conftest import REPO

PARAMS = REPO / "params"


def _load_yaml(name: str) -> dict:
    return yaml.safe_load((PARAMS / name).read_text())


def _write(tmp_path, name: str, raw) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _validation_file(tmp_path, edit=None) -> str:
    """validation.yaml copied next to the committed expected deviations (small copy)."""
    raw = _load_yaml("validation.yaml")
    expected = _load_yaml("expected_deviations.yaml")
    expected["entries"] = expected["entries"][:3]
    _write(tmp_path, raw["expected_deviations"], expected)
    if edit is not None:
        edit(raw)
    return _write(tmp_path, "val.yaml", raw)


def _rename(raw: dict, old: str, new: str) -> None:
    raw[new] = raw.pop(old)


def _params_loader(tmp_path, edit):
    raw = _load_yaml("default.yaml")
    edit(raw)
    return lambda: load_params(_write(tmp_path, "p.yaml", raw))


def _closed_loop_loader(tmp_path, edit):
    raw = _load_yaml("closed_loop.yaml")
    edit(raw)
    return lambda: load_closed_loop_config(_write(tmp_path, "cl.yaml", raw))


def _expected_loader(tmp_path, edit):
    raw = _load_yaml("expected_deviations.yaml")
    raw["entries"] = raw["entries"][:3]
    edit(raw)
    return lambda: load_expected_deviations(_write(tmp_path, "ed.yaml", raw))


def _validation_loader(tmp_path, edit):
    return lambda: load_validation(_validation_file(tmp_path, edit))


def _cross_loader(tmp_path, edit):
    return lambda: load_cross_config(_validation_file(tmp_path, edit))


# ---------------------------------------------------------------------------- the committed files


def test_committed_files_load():
    assert load_params()["network"]["populations"] == ["E", "I"]
    assert load_params(PARAMS / "g6.yaml")["network"]["W"][0, 1] == pytest.approx(-526.8e-12)
    config = load_validation()
    assert config.family_wise_alpha == 0.01 and config.cross.k == 4.0
    assert load_cross_config().k == 4.0
    closed = load_closed_loop_config()
    assert closed["duration"] == 10.0
    np.testing.assert_array_equal(closed["check_frequencies"], [10, 20, 40, 60, 100, 150, 200, 300])
    assert not load_expected_deviations(PARAMS / "expected_deviations.yaml").entries.empty


# ---------------------------------------------------------------------- misspelled sections, named


@pytest.mark.parametrize(
    "loader, edit, name",
    [
        (_params_loader, lambda r: _rename(r, "analysis", "analisys"), "analisys"),
        (_params_loader, lambda r: r.update(_files=["x.yaml"]), "_files"),
        (_validation_loader, lambda r: _rename(r, "calibration", "calibraton"), "calibraton"),
        (_validation_loader, lambda r: r["calibration"].update(k_agre=2.0), "calibration.k_agre"),
        (
            _validation_loader,
            lambda r: r["quantities"].update(rtae=r["quantities"]["rate"]),
            "rtae",
        ),
        (
            _cross_loader,
            lambda r: _rename(r, "cross_simulator", "cross_simulatr"),
            "cross_simulatr",
        ),
        (
            _cross_loader,
            lambda r: _rename(r["cross_simulator"], "allowances", "alowances"),
            "cross_simulator.alowances",
        ),
        (_closed_loop_loader, lambda r: _rename(r, "sweep", "swep"), "swep"),
        (_closed_loop_loader, lambda r: r["simulation"].update(duraton=1), "simulation.duraton"),
        (
            _closed_loop_loader,
            lambda r: r["allowances"]["cv"].update(relativ=0.1),
            "allowances.cv.relativ",
        ),
        (_expected_loader, lambda r: _rename(r, "entries", "entires"), "entires"),
    ],
)
def test_misspelled_section_is_named(tmp_path, loader, edit, name):
    with pytest.raises(ParameterError) as info:
        loader(tmp_path, edit)()
    assert info.value.key.endswith(name)
    assert f"'{name.rsplit('.', 1)[-1]}'" in str(info.value)
    assert "unknown" in info.value.reason
    assert len(str(info.value)) < 1000  # a large section's value is abbreviated


def test_misspelled_section_of_an_inherited_file_names_that_file(tmp_path):
    raw = _load_yaml("default.yaml")
    _rename(raw, "scan", "scna")
    _write(tmp_path, "base.yaml", raw)
    child = _write(tmp_path, "child.yaml", {"inherit": "base.yaml", "network": {}})
    with pytest.raises(ParameterError, match=r"base.yaml: parameter 'scna'"):
        load_params(child)


def test_inherit_must_name_a_file(tmp_path):
    path = _write(tmp_path, "child.yaml", {"inherit": ["default.yaml"]})
    with pytest.raises(ParameterError, match=r"child.yaml: parameter 'inherit'"):
        read_raw(path)


def test_read_raw_records_the_files_read():
    raw = read_raw(PARAMS / "g6.yaml")
    assert [p.rsplit("/", 1)[-1] for p in raw["_files"]] == ["default.yaml", "g6.yaml"]


# ----------------------------------------------------------------------- bad units, key named


@pytest.mark.parametrize(
    "loader, edit, key",
    [
        (
            _params_loader,
            lambda r: r["simulation"].update(dt={"value": 0.1, "unit": "msec"}),
            "simulation.dt",
        ),
        (
            _params_loader,
            lambda r: r["network"].update(tau_s={"value": 0.5, "unit": "mV"}),
            "network.tau_s",
        ),
        (
            _closed_loop_loader,
            lambda r: r["simulation"].update(duration={"value": 10, "unit": "furlong"}),
            "simulation.duration",
        ),
        (
            _closed_loop_loader,
            lambda r: r.update(check_frequencies={"value": [10, 20], "unit": "ms"}),
            "check_frequencies",
        ),
    ],
)
def test_bad_unit_names_the_key(tmp_path, loader, edit, key):
    with pytest.raises(ParameterError, match=rf"parameter '{key}' = .*unit") as info:
        loader(tmp_path, edit)()
    assert info.value.key == key


def test_quantity_is_the_one_unit_parser():
    assert quantity("f", "a", {"value": 5.0, "unit": "ms"}, "s") == pytest.approx(5e-3)
    np.testing.assert_allclose(
        quantity("f", "a", {"value": [1, 2], "unit": "kHz"}, "Hz"), [1e3, 2e3]
    )
    n = quantity(
        "f", "a", {"value": [4000, 1000], "unit": "1"}, Spec("1", "pop", "integer_positive"), 2
    )
    assert n.dtype.kind == "i"
    for entry, reason in [
        ({"value": 1.0, "unit": "parsec"}, "unknown unit"),
        ({"value": 1.0, "unit": "pA"}, "not a unit of s"),
        ({"value": "fast", "unit": "s"}, "not numeric"),
        ({"value": float("nan"), "unit": "s"}, "not finite"),
        (1.0, "value: ..., unit"),
    ]:
        with pytest.raises(ParameterError, match=reason):
            quantity("f.yaml", "x.y", entry, "s")
    with pytest.raises(ParameterError, match="must be positive"):
        quantity("f.yaml", "x.y", {"value": [1, 0], "unit": "s"}, Spec("s", "any", "positive"))
    assert set(UNITS) >= {"ms", "mV", "pA", "pF", "Hz"}


def test_number_and_mapping():
    assert number("f", "k", 4) == 4.0 and number("f", "k", "1e-3", "positive") == 1e-3
    assert number("f", "k", -2.5, "") == -2.5
    for value, check in [(None, "nonnegative"), ("x", ""), (-1, "nonnegative"), (0, "positive")]:
        with pytest.raises(ParameterError, match="f: parameter 'k'"):
            number("f", "k", value, check)
    with pytest.raises(ParameterError, match="positive finite number"):
        number("f", "k", float("inf"), "positive")
    assert mapping("f", "s", None, ("a",)) == {}
    with pytest.raises(ParameterError, match="expected a mapping"):
        mapping("f", "s", [1, 2])
    with pytest.raises(ParameterError, match=r"'s\.b'.*unknown key 'b'"):
        mapping("f", "s", {"a": 1, "b": 2}, ("a",))


# --------------------------------------------------------------- ParameterError for every loader

LOADERS = {
    "params": load_params,
    "validation": load_validation,
    "cross_simulator": load_cross_config,
    "closed_loop": load_closed_loop_config,
    "expected_deviations": load_expected_deviations,
}


@pytest.mark.parametrize("name", sorted(LOADERS))
@pytest.mark.parametrize(
    "content, reason",
    [
        (b"- just\n- a list\n", "mapping"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "UTF-8"),
        (b"network: [unclosed\n", "not valid YAML"),
        (b"a: 1\x00\n", "not valid YAML"),
    ],
)
def test_bad_file_is_a_parameter_error(tmp_path, name, content, reason):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ParameterError, match=reason) as info:
        LOADERS[name](path)
    assert isinstance(info.value, ValueError)
    assert info.value.file.endswith("bad.yaml") and "bad.yaml" in str(info.value)


@pytest.mark.parametrize("name", ["params", "validation", "closed_loop"])
def test_missing_file_is_a_parameter_error(tmp_path, name):
    with pytest.raises(ParameterError, match="does not exist"):
        LOADERS[name](tmp_path / "nope.yaml")
    with pytest.raises(ParameterError, match="not a file"):
        LOADERS[name](tmp_path)


@pytest.mark.parametrize(
    "loader, edit, key",
    [
        (_params_loader, lambda r: r["network"].update(N="many"), "network.N"),
        (_validation_loader, lambda r: r.update(seeds=[1, 2]), "seeds"),
        (_validation_loader, lambda r: r.update(expected_deviations=3), "expected_deviations"),
        (_cross_loader, lambda r: r["cross_simulator"].update(k="four"), "cross_simulator.k"),
        (
            _cross_loader,
            lambda r: r["cross_simulator"].update(
                allowances={"rate": {"absolute": -1, "justification": "x"}}
            ),
            "cross_simulator.allowances.rate.absolute",
        ),
        (_closed_loop_loader, lambda r: r.update(k=-4), "k"),
        (_closed_loop_loader, lambda r: r.update(simulation=[1]), "simulation"),
        (_expected_loader, lambda r: r.update(entries={"a": 1}), "entries"),
        (_expected_loader, lambda r: r["entries"].append("not a mapping"), "entries[3]"),
        (_expected_loader, lambda r: r["entries"][0].pop("mu_mV"), "entries[0].mu_mV"),
    ],
)
def test_bad_value_is_a_parameter_error_naming_the_key(tmp_path, loader, edit, key):
    with pytest.raises(ParameterError) as info:
        loader(tmp_path, edit)()
    assert info.value.key == key
    assert f"parameter '{key}'" in str(info.value)


def test_read_yaml_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# only a comment\n")
    assert read_yaml(path, ("a",), allow_empty=True) == {}
    with pytest.raises(ParameterError, match="mapping"):
        read_yaml(path, ("a",))
    assert load_expected_deviations(path).entries.empty
    assert load_cross_config(path).k == 4.0


# ------------------------------------------------------------------------------------ the CLI


def test_cli_bad_validation_file_exits_2_before_running(tmp_path, capsys):
    bad = _validation_file(tmp_path, lambda r: _rename(r, "quantities", "quantitties"))
    out = tmp_path / "out"
    rc = main(["run", "--validation", bad, "--out", str(out), "--cache-dir", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "val.yaml" in err and "quantitties" in err
    assert not out.exists()


def test_cli_bad_cross_section_exits_2_before_running(tmp_path, capsys):
    bad = _validation_file(tmp_path, lambda r: r["cross_simulator"].update(k=0))
    out = tmp_path / "out"
    rc = main(["calibrate", "--validation", bad, "--out", str(out), "--cache-dir", str(tmp_path)])
    assert rc == 2
    assert "cross_simulator.k" in capsys.readouterr().err
    assert not out.exists()
