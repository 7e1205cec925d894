"""No traceback on bad input: every bad option or parameter gives one named line and exit 2.

Property-based (hypothesis, derandomized): random values for every option of
every subcommand, random ``mfval run`` setups (seed, planted error, grid) up
to the point where its Dask cluster would start, and random parameter files
(values, types, units, nesting, broken YAML). Each must parse, or fail with
argparse's usage error (SystemExit 2) or a ParameterError that names the
option or parameter, never with another exception. Then explicit regression
tests for the inputs of the issue.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mfval.cli.main import build_parser, main
from mfval.comparison.planted import GRADED_PLANTS, PLANTED_ERRORS
from mfval.config import SCHEMA, UNITS, ParameterError, load_params, one_line
from tests.conftest import REPO

FUZZ = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)

# --- value strategies ---------------------------------------------------------------------

WEIRD = [
    "nan", "inf", "-inf", "1e400", "-1e400", "1e30", "-0", "0", "1e-320", "", " ", "abc",
    "1,2", "1:2:3", "0x10", "1_000", "4294967295", "4294967296", "-1", "NaN", "+5", "1e3",
]  # fmt: skip
numbers = st.one_of(
    st.integers(-(10**40), 10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-20, 20).map(lambda x: f"{x:.3g}"),
    st.sampled_from(WEIRD),
)
ranges = st.builds(lambda a, b, c: f"{a}:{b}:{c}", numbers, numbers, numbers)
pairs = st.builds(lambda a, b: f"{a},{b}", numbers, numbers)
values = st.one_of(
    numbers,
    ranges,
    pairs,
    st.builds(lambda a, b: f"{a},{b}", ranges, ranges),
    st.lists(numbers, min_size=1, max_size=5).map(",".join),
    st.text(max_size=12),
    st.sampled_from(["brian2", "nest", "brian2,nest", "fast", "nnmt", "synaptic", "info"]),
)


def _options(parser: argparse.ArgumentParser) -> dict[str, dict[str, tuple[str, bool]]]:
    """subcommand -> option -> (option string, takes a value)."""
    out = {}
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        out[name] = {
            a.option_strings[-1]: (a.option_strings[-1], a.nargs != 0)
            for a in p._actions
            if a.option_strings and a.option_strings[-1] != "--help"
        }
    return out


PARSER = build_parser()
OPTIONS = _options(PARSER)
COMMANDS = sorted(OPTIONS)


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(COMMANDS))
    names = draw(
        st.lists(st.sampled_from(sorted(OPTIONS[command])), min_size=1, max_size=4, unique=True)
    )
    argv = [command] + (["info"] if command == "cache" else [])
    for name in names:
        option, takes_value = OPTIONS[command][name]
        argv.append(f"{option}={draw(values)}" if takes_value else option)
    return argv, names


def parse(argv: list[str]) -> tuple[argparse.Namespace | None, int | None, str]:
    """(namespace or None, exit code or None, stderr) of parsing ``argv``."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return PARSER.parse_args(argv), None, err.getvalue()
        except SystemExit as exit_:
            return None, exit_.code, err.getvalue()


@settings(FUZZ, max_examples=1500)
@given(command_lines())
def test_every_option_parses_or_names_itself(case):
    argv, names = case
    args, code, err = parse(argv)
    event("parsed" if args is not None else "usage error")
    if args is not None:
        return
    assert code == 2, (argv, err)
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"mfval {argv[0]}: error: argument "), (argv, err)
    assert any(f"argument {n}" in last for n in names), (argv, last)


# --- mfval run up to its cluster -----------------------------------------------------------


class _ReachedWork(Exception):
    """Raised instead of starting the Dask cluster: every input check passed."""


def _no_cluster(*args, **kwargs):
    raise _ReachedWork


@pytest.fixture
def no_work(monkeypatch):
    """``mfval run`` stops where its cluster would start; no simulation spec is built."""
    import mfval.cli.run
    import mfval.comparison.pipeline
    import mfval.config
    from mfval.comparison import checks

    monkeypatch.setattr(mfval.cli.run, "open_client", _no_cluster)
    monkeypatch.setattr(mfval.comparison.pipeline, "simulation_tasks", lambda *a, **k: ([], []))
    # the default files are read once (reading YAML is most of the time of a setup)
    real_load_params, real_load_validation = mfval.config.load_params, checks.load_validation
    default_params, default_validation = real_load_params(), real_load_validation()
    monkeypatch.setattr(
        mfval.config,
        "load_params",
        lambda path=None: copy.deepcopy(default_params) if path is None else real_load_params(path),
    )
    monkeypatch.setattr(
        checks,
        "load_validation",
        lambda path=None: default_validation if path is None else real_load_validation(path),
    )


def run_main(argv: list[str]) -> tuple[str, str]:
    """("reached" | "exit2" | "usage", stderr) of ``mfval run ARGV`` (anything else fails)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except _ReachedWork:
            return "reached", err.getvalue()
        except SystemExit as exit_:
            assert exit_.code == 2, (argv, err.getvalue())
            return "usage", err.getvalue()
    assert rc == 2, (argv, rc, err.getvalue())
    return "exit2", err.getvalue()


plant_numbers = st.one_of(st.sampled_from(["6", "10", "12", "25", "80", "1.5"]), numbers)
planted = st.one_of(
    st.sampled_from(sorted(PLANTED_ERRORS)),
    st.builds(
        lambda n, size, point, band: f"{n}={size}" + point + band,
        st.sampled_from(sorted(GRADED_PLANTS) + ["tf_gian"]),
        plant_numbers,
        st.one_of(st.just(""), st.builds(lambda m, s: f"@{m},{s}", plant_numbers, plant_numbers)),
        st.one_of(st.just(""), st.builds(lambda a, b: f"@{a}-{b}Hz", plant_numbers, plant_numbers)),
    ),
    st.text(max_size=20),
)
small_grids = st.sampled_from(["6:12:2,6:12:2", "6:6:1,6:12:6", "10:12:2,10:10:1", "0:1:1,0:1:1"])


@settings(FUZZ, max_examples=300)
@given(
    seed=st.one_of(st.none(), numbers),
    plant=st.one_of(st.none(), planted),
    grid=st.one_of(st.none(), small_grids),
    flags=st.lists(st.sampled_from(["--quick", "--full-grid"]), unique=True),
)
def test_run_setup_reaches_work_or_names_the_input(no_work, tmp_path, seed, plant, grid, flags):
    argv = ["run", "--quiet", "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "o")]
    named = []
    for option, value in (("--seed", seed), ("--planted", plant), ("--grid", grid)):
        if value is not None:
            argv.append(f"{option}={value}")
            named.append(option.lstrip("-"))
    outcome, err = run_main(argv + flags)
    event(outcome)
    assert not (tmp_path / "o").exists()
    if outcome == "reached":
        return
    if outcome == "exit2":
        assert err.count("\n") == 1, err
    last = err.strip().splitlines()[-1]
    assert any(n in last for n in named), (argv, last)


# --- parameter files -----------------------------------------------------------------------

DEFAULT_RAW = yaml.safe_load((REPO / "params" / "default.yaml").read_text())
KEYS = [(section, key) for section, specs in SCHEMA.items() for key in specs] + [
    ("network", "populations")
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**40), 10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
units = st.one_of(st.sampled_from(sorted(UNITS)), st.text(max_size=4), scalars)
entries = st.one_of(
    st.builds(lambda v, u: {"value": v, "unit": u}, yaml_values, units),
    st.builds(lambda v: {"value": v}, yaml_values),
    yaml_values,
)


def _scaled(value, factor):
    if isinstance(value, list):
        return [_scaled(v, factor) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    result = value * factor
    return int(result) if isinstance(value, int) and math.isfinite(result) else result


@st.composite
def parameter_files(draw):
    raw = copy.deepcopy(DEFAULT_RAW)
    touched = set()
    for _ in range(draw(st.integers(1, 3))):
        section, key = draw(st.sampled_from(KEYS))
        action = draw(st.sampled_from(["scale", "scale", "replace", "replace", "delete", "nest"]))
        touched.add(f"{section}.{key}")
        entry = raw[section].get(key)
        if action == "scale" and isinstance(entry, dict) and "value" in entry:
            # plausible: the default times a factor, in its own unit (often still valid)
            factor = draw(st.sampled_from([1, 1, 1, 2, 0.5, 1.5, 0, -1, 1e30, 1e-30, math.nan]))
            raw[section][key] = {**entry, "value": _scaled(entry["value"], factor)}
        elif action in ("replace", "scale"):
            raw[section][key] = draw(entries)
        elif action == "delete":
            raw[section].pop(key, None)
        else:
            raw[section][key] = {"deeper": raw[section].get(key)}
    extra = draw(st.sampled_from([None, None, None, "section", "key", "misspelled"]))
    if extra == "section":
        raw[draw(st.text(min_size=1, max_size=6))] = draw(yaml_values)
    elif extra == "key":
        raw["scan"][draw(st.one_of(st.text(max_size=6), st.integers()))] = draw(entries)
    elif extra == "misspelled":
        raw["simulaton"] = raw.pop("simulation")
    text = yaml.dump(raw, Dumper=yaml.CSafeDumper, allow_unicode=True)
    if draw(st.integers(0, 9)) == 0:  # broken YAML now and then
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["{", ": :", "\t", "- [", "'", "\x00"]))
    return text, touched


CONSISTENCY_KEYS = {"network.V_th", "analysis.f_max", "simulation.transfer_f_max", "simulation.dt"}


@settings(FUZZ, max_examples=600)
@given(parameter_files())
def test_parameter_file_loads_or_names_the_parameter(case):
    text, touched = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_text(text)
        try:
            params = load_params(path)
        except ParameterError as err:
            event("ParameterError")
            message = str(err)
            assert "\n" not in message, message
            assert f"parameter '{one_line(err.key)}'" in message and "fuzz.yaml" in message
            # the key is one that was changed, its section, a consistency rule, or the file
            assert (
                err.key in ("<file>", "network", "network.populations")
                or err.key.split(".")[0] in {t.split(".")[0] for t in touched} | {"scan"}
                or err.key in CONSISTENCY_KEYS
                or err.key.split(".")[0] not in SCHEMA
            ), (err.key, touched)
            return
    event("loaded")
    for section in SCHEMA:
        assert section in params
    assert all(0 < int(n) <= 10**8 for n in params["network"]["N"])
    assert 0 <= params["simulation"]["seed"] <= 2**32 - 1


# --- regression: every input of the issue --------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run", "--grid", "1:inf:1,6:12:1"], "argument --grid: --grid '1:inf:1,6:12:1'"),
        (["theory", "--grid", "6:12:1,1:1e308:1e-308"], "too many sigma values"),
        (["sweep", "--g", "5:inf:1"], "argument --g: --g '5:inf:1'"),
        (["sweep", "--g", "5:2000004:1"], "too many g values (more than 1000)"),
        (["sweep", "--g", "5,6,nan"], "every g must be finite"),
        (["simulate", "--blocks", "1"], "argument --blocks: --blocks '1': must lie in [2,"),
        (["transfer", "--n-per-frequency", "0"], "argument --n-per-frequency"),
        (["transfer", "--duration", "-1"], "argument --duration: --duration '-1'"),
        (["simulate", "--warmup", "nan"], "argument --warmup"),
        (["transfer", "--amplitude", "inf"], "argument --amplitude"),
        (["sweep", "--duration", "0"], "argument --duration"),
        (["calibrate", "--duration-factor", "-2"], "argument --duration-factor"),
        (["simulate", "--point", "nan,10"], "--point 'nan,10': MU and SIGMA must be finite"),
        (["sweep", "--point", "10,inf"], "argument --point"),
        (["run", "--seed", "1e30"], "argument --seed: --seed '1e30'"),
        (["run", "--seed", str(10**30)], "must lie in [0, 4294967295]"),
        (["simulate", "--seed", "-1"], "argument --seed"),
        (["transfer", "--seed", "4294967296"], "argument --seed"),
        (["calibrate", "--seed", "1.5"], "argument --seed"),
        (["sweep", "--seed", "99999999999"], "argument --seed"),
        (["run", "--workers", "-1"], "argument --workers"),
        (["simulate", "--threads", "0"], "argument --threads"),
        (["theory", "--scheduler-timeout", "nan"], "argument --scheduler-timeout"),
    ],
)
def test_bad_option_is_a_usage_error(argv, expected, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv + ["--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"mfval {argv[0]}: error: argument ") and expected in last, last
    assert not (tmp_path / "out").exists()


def test_a_file_as_out_or_cache_is_a_usage_error(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for argv, expected in [
        (["theory", "--out", str(afile)], f"--out '{afile}': exists and is not a folder"),
        (["run", "--out", str(afile / "x")], f"'{afile}' is not a folder"),
        (["simulate", "--cache-dir", str(afile)], "--cache-dir"),
        (["cache", "info", "--cache-dir", str(afile)], "exists and is not a folder"),
        (["calibrate", "--output-file", str(tmp_path)], "is a folder, expected a file"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert expected in capsys.readouterr().err
    assert afile.read_text() == "x"


def _params_file(tmp_path: Path, section: str, key: str, entry) -> Path:
    raw = copy.deepcopy(DEFAULT_RAW)
    raw[section][key] = entry
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    "section, key, entry, expected",
    [
        ("network", "N", {"value": [1e30, 1000], "unit": "1"}, "must be at most 100000000"),
        ("network", "K", {"value": [[1e12, 1], [1, 1]], "unit": "1"}, "must be at most"),
        ("network", "N", {"value": [10**400, 1000], "unit": "1"}, "value is not numeric"),
        ("simulation", "seed", {"value": 1e30, "unit": "1"}, "must be at most 4294967295"),
        ("simulation", "seed", {"value": 2**32, "unit": "1"}, "must be at most 4294967295"),
        ("simulation", "seed", {"value": -1, "unit": "1"}, "must not be negative"),
        ("scan", "marked_points", {"value": [[6, 0]], "unit": "mV"}, "sigma"),
        ("scan", "marked_points", {"value": [[6, -6], [8, 8]], "unit": "mV"}, "sigma"),
        ("scan", "marked_points", {"value": [[6, float("nan")]], "unit": "mV"}, "not finite"),
        ("scan", "stability_point", {"value": [10, 0], "unit": "mV"}, "sigma"),
        ("scan", "stability_point", {"value": [float("inf"), 10], "unit": "mV"}, "not finite"),
    ],
)
def test_bad_parameter_is_named(tmp_path, capsys, section, key, entry, expected):
    path = _params_file(tmp_path, section, key, entry)
    with pytest.raises(ParameterError, match=f"'{section}.{key}'.*{expected}".replace("[", r"\[")):
        load_params(path)
    # and through the command line: one line, exit 2, nothing written
    rc = main(["theory", "--params", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"{section}.{key}" in err
    assert not (tmp_path / "out").exists()


def test_misspelled_section_is_named(tmp_path):
    raw = copy.deepcopy(DEFAULT_RAW)
    raw["simulaton"] = raw.pop("simulation")
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParameterError, match="'simulaton'.*unknown section 'simulaton'"):
        load_params(path)


def test_broken_yaml_is_one_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("network:\n  N: {value: [1,\n  C: ]]\n")
    with pytest.raises(ParameterError, match="not valid YAML") as err:
        load_params(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "plant, expected",
    [
        ("tau_m_scale=0", "a factor SIZE must be > 0"),
        ("exc_weight_scale=-1", "a factor SIZE must be > 0"),
        ("tf_gain=1e400", "SIZE must be finite"),
        ("tf_gain=1.1@6..1,6", "must be numbers"),
        ("tf_gian=1.1", "is neither one of"),
        ("tf_gain=1.1@7,7", "@7,7 matches no simulated working point of this run"),
        ("rate_scale=1.1@6,6@1-10Hz", "a band @F1-F2Hz restricts only"),
        ("tf_gain=1.1@6,6@300-400Hz", "the band 300-400 Hz holds no simulated"),
        ("tf_gain=1.1@6,6@2-2.2Hz", "holds no simulated modulation frequency"),
    ],
)
def test_bad_plant_is_named_before_work(no_work, tmp_path, plant, expected):
    outcome, err = run_main(
        ["run", "--planted", plant, "--cache-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert outcome == "exit2" and err.count("\n") == 1
    assert "--planted" in err and repr(plant) in err and expected in err, err


@pytest.mark.parametrize("plant", ["tf_gain=1.08@6,6@25-80Hz", "rate_scale=0.9@12,12", "none"])
def test_good_plant_reaches_work(no_work, tmp_path, plant):
    outcome, err = run_main(
        ["run", "--planted", plant, "--cache-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert outcome == "reached", err


def test_run_checks_the_seed_before_its_cluster(no_work, tmp_path):
    """A seed outside the verification range (in the params file, too) stops before Dask."""
    path = _params_file(tmp_path, "simulation", "seed", {"value": 0, "unit": "1"})
    for argv in (["--seed", "0"], ["--params", str(path)], ["--seed", "4294967295"]):
        outcome, err = run_main(["run", "--cache-dir", str(tmp_path), *argv])
        assert outcome == "exit2" and "seeds.verification" in err and err.count("\n") == 1, err


def test_run_builds_every_spec_before_its_cluster(monkeypatch, tmp_path):
    """A protocol that cannot be simulated (here: too few neurons) is exit 2 before Dask."""
    import mfval.cli.run

    monkeypatch.setattr(mfval.cli.run, "open_client", _no_cluster)
    path = _params_file(
        tmp_path, "simulation", "transfer_neurons_per_frequency", {"value": 5, "unit": "1"}
    )
    outcome, err = run_main(["run", "--params", str(path), "--cache-dir", str(tmp_path)])
    assert outcome == "exit2" and "n_per_frequency = 5" in err and "nothing written" in err


def test_transfer_checks_specs_before_simulating(tmp_path, capsys):
    rc = main(
        ["transfer", "--n-per-frequency", "5", "--point", "10,10", "--cache-dir", str(tmp_path)]
        + ["--out", str(tmp_path / "out")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "n_per_frequency = 5" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_value_range_is_capped():
    from mfval.cli.common import MAX_AXIS_VALUES, parse_grid

    mu, sigma = parse_grid(f"0:{MAX_AXIS_VALUES - 1}:1,1:1:1")
    assert len(mu) == MAX_AXIS_VALUES and math.isclose(sigma[0], 1e-3)
    with pytest.raises(argparse.ArgumentTypeError, match="too many mu values"):
        parse_grid(f"0:{MAX_AXIS_VALUES}:1,1:1:1")
    with pytest.raises(argparse.ArgumentTypeError, match="grid points is too many"):
        parse_grid("0:999:1,1:1000:1")
    with pytest.raises(argparse.ArgumentTypeError, match="too small to give distinct"):
        parse_grid("0:1e-10:1e-13,1:1:1")


@pytest.mark.parametrize(
    "command,address", [("theory", "foo://host:1"), ("theory", "garbage"), ("sweep", "tcp://node")]
)
def test_bad_scheduler_address_is_named(command, address, tmp_path, capsys):
    """A scheduler address error is one line and exit 3 (the cluster's code), before connecting."""
    rc = main([command, "--scheduler", address, "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert rc == 3 and "--scheduler" in err and address in err and err.count("\n") == 1, err


def test_sweep_checks_its_point_before_any_work(tmp_path, capsys):
    rc = main(
        ["sweep", "--point", "100,1", "--g", "5,6,7", "--cache-dir", str(tmp_path / "c")]
        + ["--out", str(tmp_path / "out")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "mu = 100 mV, sigma = 1 mV is infeasible" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "c").exists()


def test_simulate_checks_its_specs_before_simulating(tmp_path, capsys):
    rc = main(
        ["simulate", "--duration", "0.0001", "--point", "10,10", "--cache-dir", str(tmp_path)]
        + ["--out", str(tmp_path / "out")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "whole number of steps per block" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
