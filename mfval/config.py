"""Load and validate the YAML parameter files of ``params/``.

Every quantity in a parameter file is written as ``{value: ..., unit: ...}``.
:func:`load_params` converts all of them to SI units (plain floats or numpy
arrays) and checks them against :data:`SCHEMA`. Any problem raises
:class:`ParameterError`, whose message names the file, the key and the value.

A file may start with ``inherit: OTHER.yaml`` (a path relative to the file):
the other file is loaded first and the sections given here override it key by
key.

This module is also the one entry for reading every other YAML file of the
suite (``validation.yaml``, ``closed_loop.yaml``, ``expected_deviations.yaml``):
:func:`read_yaml` reads a file and rejects unknown top-level sections,
:func:`mapping` does the same for a nested section, :func:`quantity` parses a
``{value, unit}`` entry with the unit table :data:`UNITS`, and :func:`number`
a plain number. All of them raise :class:`ParameterError`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import reprlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

#: conversion factors to SI, by unit symbol
UNITS: dict[str, tuple[float, str]] = {
    "1": (1.0, "1"),
    "F": (1.0, "F"),
    "nF": (1e-9, "F"),
    "pF": (1e-12, "F"),
    "s": (1.0, "s"),
    "ms": (1e-3, "s"),
    "us": (1e-6, "s"),
    "V": (1.0, "V"),
    "mV": (1e-3, "V"),
    "A": (1.0, "A"),
    "nA": (1e-9, "A"),
    "pA": (1e-12, "A"),
    "Hz": (1.0, "Hz"),
    "m": (1.0, "m"),
    "mm": (1e-3, "m"),
    "um": (1e-6, "m"),
    "kHz": (1e3, "Hz"),
}


@dataclass(frozen=True)
class Spec:
    """Expected form of one quantity.

    Attributes
    ----------
    dimension : str
        SI dimension symbol the unit must convert to ("1" for dimensionless).
    shape : str
        One of "scalar", "pop" (one value per population), "popxpop"
        (target x source matrix), "vector" (any length >= 1), "pairs"
        (n x 2 array), "pair" (two values), "any" (no shape check).
    check : str
        "positive", "nonnegative", "integer_positive",
        "integer_nonnegative", "sigma_positive" (working points: the second
        value of each pair must be positive), or "" for none.
    maximum : float, optional
        Largest allowed value (in the file's unit for unit "1"; checked
        before the conversion to int, so that no value wraps around).
    """

    dimension: str
    shape: str = "scalar"
    check: str = ""
    maximum: float | None = None


#: largest population size, in-degree and count of a parameter file
MAX_COUNT = 10**8
#: seeds are 32-bit unsigned integers (NumPy's and the simulators' range)
MAX_SEED = 2**32 - 1


#: the quantities every parameter set must define, by section
SCHEMA: dict[str, dict[str, Spec]] = {
    "network": {
        "N": Spec("1", "pop", "integer_positive", MAX_COUNT),
        "C": Spec("F", "scalar", "positive"),
        "tau_m": Spec("s", "scalar", "positive"),
        "tau_r": Spec("s", "scalar", "nonnegative"),
        "E_L": Spec("V"),
        "V_reset": Spec("V"),
        "V_th": Spec("V"),
        "tau_s": Spec("s", "scalar", "positive"),
        "W": Spec("A", "popxpop"),
        "K": Spec("1", "popxpop", "integer_nonnegative", MAX_COUNT),
        "delay": Spec("s", "scalar", "positive"),
        "W_ext": Spec("A", "popxpop"),
        "K_ext": Spec("1", "popxpop", "integer_nonnegative", MAX_COUNT),
    },
    "analysis": {
        "f_min": Spec("Hz", "scalar", "positive"),
        "f_max": Spec("Hz", "scalar", "positive"),
        "df": Spec("Hz", "scalar", "positive"),
    },
    "scan": {
        "mu": Spec("V", "vector"),
        "sigma": Spec("V", "vector", "positive"),
        "marked_points": Spec("V", "pairs", "sigma_positive"),
        "stability_point": Spec("V", "pair", "sigma_positive"),
    },
    "simulation": {
        "dt": Spec("s", "scalar", "positive"),
        "max_poisson_p": Spec("1", "scalar", "positive"),
        "network_warmup": Spec("s", "scalar", "nonnegative"),
        "network_duration": Spec("s", "scalar", "positive"),
        "network_blocks": Spec("1", "scalar", "integer_positive", MAX_COUNT),
        "transfer_warmup": Spec("s", "scalar", "nonnegative"),
        "transfer_duration": Spec("s", "scalar", "positive"),
        "transfer_neurons_per_frequency": Spec("1", "scalar", "integer_positive", MAX_COUNT),
        "transfer_amplitude": Spec("V", "scalar", "positive"),
        "transfer_f_min": Spec("Hz", "scalar", "positive"),
        "transfer_f_max": Spec("Hz", "scalar", "positive"),
        "transfer_n_frequencies": Spec("1", "scalar", "integer_positive", MAX_COUNT),
        "seed": Spec("1", "scalar", "integer_nonnegative", MAX_SEED),
    },
}


#: top-level sections of a parameter file (``params/default.yaml``)
PARAMS_SECTIONS: tuple[str, ...] = ("inherit", *SCHEMA)

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxstring = 2, 4, 6, 60


class ParameterError(ValueError):
    """A parameter file is missing a key, or holds a bad unit, shape or value.

    The message names the file, the key (dotted, e.g. ``network.tau_m``;
    ``<file>`` for the file as a whole) and the value (abbreviated when its
    repr is long; the full value is kept in :attr:`value`).
    """

    def __init__(self, file: str | Path, key: str, value: Any, reason: str):
        self.file, self.key, self.value, self.reason = str(file), key, value, reason
        shown = repr(value)
        if len(shown) > 200:
            shown = _SHORT.repr(value)
        super().__init__(one_line(f"{file}: parameter '{key}' = {shown}: {reason}"))


def one_line(text: str) -> str:
    """``text`` with control characters (newlines, tabs, ...) escaped: one line of a message.

    Examples
    --------
    >>> print(one_line("two\\nlines"))
    two\\nlines
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def require_positive(name: str, value, unit: str = "") -> None:
    """Raise ValueError naming ``name`` and ``value`` unless it is finite and > 0."""
    try:
        ok = math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        suffix = f" {unit}" if unit else ""
        raise ValueError(f"{name} must be positive, got {name} = {value!r}{suffix}")


def default_params_path(name: str = "default.yaml") -> Path:
    """Path of a parameter file shipped in the ``params`` package.

    Examples
    --------
    >>> default_params_path().name
    'default.yaml'
    """
    return Path(str(resources.files("mfval.params").joinpath(name)))


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and "value" not in value:
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: str | Path, sections, *, allow_empty: bool = False) -> dict:
    """Read a YAML file that holds a mapping of sections; the one reader of the suite.

    Parameters
    ----------
    path : str or Path
        The file.
    sections : iterable of str
        The allowed top-level sections; any other (e.g. a misspelled one)
        is an error that names it.
    allow_empty : bool
        Whether an empty file (or one with only comments) is read as ``{}``
        rather than rejected.

    Returns
    -------
    dict
        The top-level mapping, as PyYAML reads it (no unit conversion).

    Raises
    ------
    ParameterError
        If the file does not exist, cannot be read, is not UTF-8 text (e.g.
        a binary file), is not valid YAML, does not hold a mapping, or has an
        unknown section (key ``<file>`` or the section's name).
    """
    path = Path(path)
    if not path.is_file():
        reason = "not a file" if path.exists() else "file does not exist"
        raise ParameterError(path, "<file>", str(path), reason)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ParameterError(path, "<file>", str(path), f"cannot read ({err})") from err
    except UnicodeDecodeError as err:
        raise ParameterError(
            path, "<file>", str(path), f"not a UTF-8 text file (binary?) ({err})"
        ) from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        reason = " ".join(str(err).split())  # one line
        raise ParameterError(path, "<file>", str(path), f"not valid YAML ({reason})") from err
    if raw is None and allow_empty:
        return {}
    if not isinstance(raw, dict):
        raise ParameterError(path, "<file>", raw, "the file must hold a mapping of sections")
    _reject_unknown(path, "", raw, sections, "section")
    return raw


def _reject_unknown(file, prefix: str, raw: dict, allowed, what: str) -> None:
    allowed = list(allowed)
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        key = unknown[0]
        raise ParameterError(
            file,
            f"{prefix}{key}",
            raw[key],
            f"unknown {what} '{key}' (expected one of: {', '.join(map(str, allowed))})",
        )


def mapping(file: str | Path, key: str, value: Any, allowed=None) -> dict:
    """A nested section of a YAML file: ``{}`` if absent, else a mapping with known keys.

    Parameters
    ----------
    file : str or Path
        The file (for the message).
    key : str
        Dotted name of the section, e.g. ``allowances.psd``.
    value : Any
        The section as read (None when absent).
    allowed : iterable of str, optional
        The allowed keys; default: any.

    Raises
    ------
    ParameterError
        If the value is not a mapping, or holds a key not in ``allowed``
        (named ``KEY.UNKNOWN``).
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParameterError(file, key, value, "expected a mapping")
    if allowed is not None:
        _reject_unknown(file, f"{key}.", value, allowed, "key")
    return value


def read_raw(path: str | Path, _seen: tuple = ()) -> dict:
    """Read a YAML parameter file, resolving ``inherit``; no unit conversion.

    The sections are those of :data:`PARAMS_SECTIONS`; the result has the
    merged sections and ``_files``, the files read (parents first).

    Raises
    ------
    ParameterError
        For a missing, unreadable or non-mapping file, an unknown section
        (also ``_files``, which only the loader writes), a bad ``inherit``
        or circular inheritance.
    """
    path = Path(path).resolve()
    if path in _seen:
        raise ParameterError(path, "inherit", str(path), "circular inheritance")
    raw = read_yaml(path, PARAMS_SECTIONS)
    parent = raw.pop("inherit", None)
    if parent is not None:
        if not isinstance(parent, str) or not parent:
            raise ParameterError(path, "inherit", parent, "expected a file name")
        base = read_raw(path.parent / parent, _seen + (path,))
        raw = _deep_merge(base, raw)
    raw["_files"] = list(raw.get("_files", [])) + [str(path)]
    return raw


def quantity(
    file: str | Path, key: str, entry: Any, dimension: str | Spec, n_pop: int | None = None
) -> Any:
    """Convert one ``{value: ..., unit: ...}`` entry to SI with :data:`UNITS`.

    Parameters
    ----------
    file : str or Path
        The file (for the message).
    key : str
        Dotted name of the entry, e.g. ``network.tau_m``.
    entry : Any
        The entry as read.
    dimension : str or Spec
        SI dimension symbol of the unit ("s", "Hz", "1", ...; any shape, no
        value check), or a :class:`Spec` with shape and check.
    n_pop : int, optional
        Number of populations, for the shapes "pop" and "popxpop".

    Returns
    -------
    float, int or numpy.ndarray
        The value in SI units of ``dimension`` (float for a scalar; int
        for an integer check).

    Raises
    ------
    ParameterError
        Naming the file, the key and the entry: not a ``{value, unit}``
        mapping, unknown unit, unit of another dimension, not numeric, wrong
        shape, not finite, or failing the check.

    Examples
    --------
    >>> quantity("my.yaml", "tau_m", {"value": 5.0, "unit": "ms"}, "s")
    0.005
    """
    spec = dimension if isinstance(dimension, Spec) else Spec(dimension, "any")
    if not isinstance(entry, dict) or "value" not in entry or "unit" not in entry:
        raise ParameterError(file, key, entry, "expected a mapping {value: ..., unit: ...}")
    unit = str(entry["unit"])
    if unit not in UNITS:
        raise ParameterError(file, key, entry, f"unknown unit '{unit}' (known: {sorted(UNITS)})")
    factor, unit_dimension = UNITS[unit]
    if unit_dimension != spec.dimension:
        raise ParameterError(file, key, entry, f"unit '{unit}' is not a unit of {spec.dimension}")
    try:
        value = np.asarray(entry["value"], dtype=float)
    except (TypeError, ValueError, OverflowError) as err:  # OverflowError: an int > 1e308
        raise ParameterError(file, key, entry["value"], "value is not numeric") from err
    expected = {
        "scalar": (),
        "pop": (n_pop,),
        "popxpop": (n_pop, n_pop),
        "pair": (2,),
    }
    if spec.shape in expected and value.shape != expected[spec.shape]:
        raise ParameterError(
            file, key, entry["value"], f"shape {value.shape}, expected {expected[spec.shape]}"
        )
    if spec.shape == "vector" and (value.ndim != 1 or value.size == 0):
        raise ParameterError(file, key, entry["value"], "expected a non-empty list")
    if spec.shape == "pairs" and (value.ndim != 2 or value.shape[1] != 2):
        raise ParameterError(file, key, entry["value"], "expected a list of [mu, sigma] pairs")
    if not np.all(np.isfinite(value)):
        raise ParameterError(file, key, entry["value"], "value is not finite")
    if spec.check == "positive" and np.any(value <= 0):
        raise ParameterError(file, key, entry["value"], "must be positive")
    if spec.check == "nonnegative" and np.any(value < 0):
        raise ParameterError(file, key, entry["value"], "must not be negative")
    if spec.check.startswith("integer"):
        if np.any(value != np.round(value)):
            raise ParameterError(file, key, entry["value"], "must be an integer")
        if spec.check == "integer_positive" and np.any(value <= 0):
            raise ParameterError(file, key, entry["value"], "must be positive")
        if spec.check == "integer_nonnegative" and np.any(value < 0):
            raise ParameterError(file, key, entry["value"], "must not be negative")
    if spec.check == "sigma_positive" and np.any(value[..., 1] <= 0):
        raise ParameterError(file, key, entry["value"], "sigma (the second value) must be positive")
    if spec.maximum is not None and np.any(value * factor > spec.maximum):
        raise ParameterError(file, key, entry["value"], f"must be at most {spec.maximum:.10g}")
    value = value * factor
    if spec.check.startswith("integer"):
        value = value.astype(int)
    return value.item() if value.ndim == 0 else value


def number(file: str | Path, key: str, value: Any, check: str = "nonnegative") -> float:
    """A plain (unitless) number of a YAML file, as float.

    Parameters
    ----------
    file : str or Path
        The file (for the message).
    key : str
        Dotted name of the entry.
    value : Any
        The entry as read (a number, or a string such as ``"1e-3"`` that
        PyYAML leaves unparsed).
    check : str
        "nonnegative" (default), "positive", or "" (any finite number).

    Raises
    ------
    ParameterError
        If the value is missing, not a number, not finite, or fails the check.

    Examples
    --------
    >>> number("my.yaml", "k", 3)
    3.0
    >>> number("my.yaml", "k", -1)
    Traceback (most recent call last):
    ...
    mfval.config.ParameterError: my.yaml: parameter 'k' = -1: expected a non-negative finite number
    """
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ParameterError(file, key, value, "expected a number") from None
    wanted = {"positive": "a positive", "nonnegative": "a non-negative", "": "a"}[check]
    ok = math.isfinite(result) and (
        (check == "positive" and result > 0)
        or (check == "nonnegative" and result >= 0)
        or check == ""
    )
    if not ok:
        raise ParameterError(file, key, value, f"expected {wanted} finite number")
    return result


def load_params(path: str | Path | None = None) -> dict:
    """Load a parameter file, convert every quantity to SI and validate it.

    Parameters
    ----------
    path : str or Path, optional
        YAML file; default ``params/default.yaml`` of the installed package.

    Returns
    -------
    dict
        ``{"network": {...}, "analysis": {...}, "scan": {...},
        "simulation": {...}, "source": str}`` with plain floats and numpy
        arrays in SI units (F, s, V, A, Hz). ``network["populations"]`` is
        the list of population names.

    Raises
    ------
    ParameterError
        Naming the file, the key and the value of the first problem found.

    Examples
    --------
    >>> params = load_params()  # params/default.yaml, in SI units
    >>> params["network"]["tau_m"], params["simulation"]["dt"]
    (0.005, 0.0001)
    """
    path = Path(path) if path is not None else default_params_path()
    raw = read_raw(path)
    file = raw["_files"][-1]
    out: dict = {"source": file}
    network_raw = raw.get("network")
    if not isinstance(network_raw, dict):
        raise ParameterError(file, "network", network_raw, "missing section")
    populations = network_raw.get("populations")
    if not isinstance(populations, list) or not populations:
        raise ParameterError(file, "network.populations", populations, "expected a list of names")
    n_pop = len(populations)
    for section, specs in SCHEMA.items():
        section_raw = raw.get(section)
        if not isinstance(section_raw, dict):
            raise ParameterError(file, section, section_raw, "missing section")
        converted = {}
        for key, spec in specs.items():
            full_key = f"{section}.{key}"
            if key not in section_raw:
                raise ParameterError(file, full_key, None, "missing key")
            converted[key] = quantity(file, full_key, section_raw[key], spec, n_pop)
        unknown = set(section_raw) - set(specs) - {"populations"}
        if unknown:
            key = sorted(unknown, key=str)[0]
            raise ParameterError(file, f"{section}.{key}", section_raw[key], "unknown key")
        out[section] = converted
    out["network"]["populations"] = [str(p) for p in populations]
    _check_consistency(file, out)
    return out


def _check_consistency(file, params: dict) -> None:
    net, ana, sim = params["network"], params["analysis"], params["simulation"]
    if net["V_th"] <= net["V_reset"]:
        raise ParameterError(file, "network.V_th", net["V_th"], "threshold must exceed reset")
    if ana["f_max"] < ana["f_min"]:
        raise ParameterError(file, "analysis.f_max", ana["f_max"], "must be >= f_min")
    if sim["transfer_f_max"] < sim["transfer_f_min"]:
        raise ParameterError(
            file, "simulation.transfer_f_max", sim["transfer_f_max"], "must be >= transfer_f_min"
        )
    if sim["dt"] >= net["tau_s"]:
        raise ParameterError(file, "simulation.dt", sim["dt"], "must be smaller than tau_s")


def analysis_frequencies(params: dict) -> np.ndarray:
    """Theory analysis frequencies in Hz, shape (n,).

    Computed exactly as ``nnmt.models.Basic`` does (``np.arange`` over angular
    frequencies from f_min to f_max, f_max excluded), so that the seed
    example's numbers are reproduced: 1, 2, ..., 199 Hz for the defaults.

    Examples
    --------
    >>> f = analysis_frequencies(load_params())  # nnmt's np.arange: f_max excluded
    >>> float(f[0]), float(f[-1]), len(f)
    (1.0, 199.0, 199)
    """
    ana = params["analysis"]
    omegas = np.arange(2 * np.pi * ana["f_min"], 2 * np.pi * ana["f_max"], 2 * np.pi * ana["df"])
    return omegas / (2 * np.pi)


def scan_points(params: dict) -> list[tuple[float, float]]:
    """All (mu, sigma) pairs of the scan grid in V, mu-major order.

    Examples
    --------
    >>> points = scan_points(load_params())
    >>> len(points), points[0]
    (16, (0.006, 0.006))
    """
    return [(float(m), float(s)) for m in params["scan"]["mu"] for s in params["scan"]["sigma"]]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


def stable_hash(*objects: Any) -> str:
    """Hex digest (sha256, 24 chars) of plain data, independent of dict order.

    Examples
    --------
    >>> stable_hash("network", 1) == stable_hash("network", 1) != stable_hash("network", 2)
    True
    """
    text = json.dumps(_jsonable(list(objects)), sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]
