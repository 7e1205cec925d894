"""The verdict rule and its configuration (``params/validation.yaml``).

Every check is ``|sim - theory| <= k * SE + allowance``: SE is the
simulation's standard error, k a fixed multiple, and the allowance a stated
model-error budget of the theory for that quantity (each with a one-line
justification in the YAML). A check that fails the rule but lies inside a
documented *known deviation* of the theory (a region and a size, also in the
YAML) gets the verdict ``known deviation`` and is reported with its size;
beyond that size it fails.

Allowance of one check, in the quantity's unit::

    allowance = absolute + relative * |theory| + mu_equivalent * |d nu / d mu|
                + high_frequency * |theory| * (w sqrt(tau_m tau_s))^2

(``mu_equivalent`` is in mV and applies to rates: a rate error expressed
as an error of the mean input, so that low and high rates are comparable;
``high_frequency`` covers the fast-synapse expansion of the transfer
function, whose error grows with w sqrt(tau_m tau_s), about 2 at 200 Hz.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mfval.params import ParameterError, default_params_path

VERDICT_PASS = "pass"
VERDICT_KNOWN = "known deviation"
VERDICT_FAIL = "fail"

#: allowance terms and the unit each is written in
ALLOWANCE_TERMS = ("absolute", "relative", "mu_equivalent_mV", "high_frequency")


@dataclass(frozen=True)
class KnownDeviation:
    """A documented deviation of the theory: where it occurs, how large it may be.

    ``where`` restricts by theory rate (``rate_below_hz``) and/or frequency
    (``frequency_above_hz`` < f <= ``frequency_below_hz``); ``max_abs`` is the
    largest |sim - theory| (in the quantity's unit, or as a fraction of |theory|
    via ``max_relative``)
    that is still the known deviation rather than a failure. ``direction``
    (+1 or -1; 0 for either) is the sign of sim - theory that the deviation
    has: a difference of the other sign is not this deviation.
    """

    quantity: str
    description: str
    rate_below_hz: float = math.inf
    frequency_above_hz: float = -math.inf
    frequency_below_hz: float = math.inf
    max_abs: float = 0.0
    max_relative: float = 0.0
    direction: int = 0

    def applies(self, quantity: str, theory_rate_hz: float, frequency_hz: float) -> bool:
        if quantity != self.quantity or not theory_rate_hz < self.rate_below_hz:
            return False
        if math.isnan(frequency_hz):
            return self.frequency_above_hz == -math.inf and self.frequency_below_hz == math.inf
        return self.frequency_above_hz < frequency_hz <= self.frequency_below_hz

    def bound(self, theory: float) -> float:
        return self.max_abs + self.max_relative * abs(theory)

    def matches(self, difference: float) -> bool:
        return self.direction == 0 or difference * self.direction > 0


@dataclass(frozen=True)
class Rule:
    """k and the allowance terms of one quantity."""

    k: float
    absolute: float = 0.0
    relative: float = 0.0
    mu_equivalent_mV: float = 0.0
    high_frequency: float = 0.0
    justification: str = ""

    def allowance(
        self,
        theory: float,
        rate_slope_hz_per_mV: float = 0.0,
        frequency_hz: float = math.nan,
        tau_m: float = 0.0,
        tau_s: float = 0.0,
    ) -> float:
        allowance = self.absolute + self.relative * abs(theory)
        allowance += self.mu_equivalent_mV * abs(rate_slope_hz_per_mV)
        if self.high_frequency and not math.isnan(frequency_hz):
            x = 2 * math.pi * frequency_hz * math.sqrt(tau_m * tau_s)
            allowance += self.high_frequency * abs(theory) * x**2
        return allowance


@dataclass(frozen=True)
class ValidationConfig:
    rules: dict[str, Rule]
    known_deviations: list[KnownDeviation] = field(default_factory=list)
    source: str = ""

    def rule(self, quantity: str) -> Rule:
        if quantity not in self.rules:
            raise ParameterError(self.source, f"quantities.{quantity}", None, "missing rule")
        return self.rules[quantity]

    def known(self, quantity: str, theory_rate_hz: float, frequency_hz: float):
        for dev in self.known_deviations:
            if dev.applies(quantity, theory_rate_hz, frequency_hz):
                return dev
        return None


#: quantities that must have a rule
QUANTITIES = (
    "rate",
    "mu_realized",
    "sigma_realized",
    "tf_amplitude",
    "tf_phase",
    "tau_rate",
    "W_rate",
)


def _number(file, key, value, nonnegative=True) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(file, key, value, "expected a number") from None
    if math.isnan(number) or (nonnegative and number < 0):
        raise ParameterError(file, key, value, "expected a non-negative number")
    return number


def _direction(file, key, value) -> int:
    if value not in (-1, 0, 1):
        raise ParameterError(file, key, value, "expected -1, 0 or +1")
    return int(value)


def load_validation(path: str | Path | None = None) -> ValidationConfig:
    """Read ``params/validation.yaml`` (or the given file) into a ValidationConfig.

    Raises
    ------
    ParameterError
        Naming the file, the key and the value of a missing or bad entry.
    """
    path = Path(path) if path is not None else default_params_path("validation.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ParameterError(path, "<file>", str(path), f"cannot read ({err})") from err
    if not isinstance(raw, dict) or "quantities" not in raw:
        raise ParameterError(path, "quantities", None, "missing section")
    k_default = _number(path, "k", raw.get("k", 4))
    rules = {}
    for quantity in QUANTITIES:
        entry = raw["quantities"].get(quantity)
        if not isinstance(entry, dict):
            raise ParameterError(path, f"quantities.{quantity}", entry, "missing rule")
        if not str(entry.get("justification", "")).strip():
            raise ParameterError(
                path, f"quantities.{quantity}.justification", None, "every allowance needs one"
            )
        terms = {
            term: _number(path, f"quantities.{quantity}.{term}", entry.get(term, 0.0))
            for term in ALLOWANCE_TERMS
        }
        k = _number(path, f"quantities.{quantity}.k", entry.get("k", k_default))
        rules[quantity] = Rule(k=k, justification=str(entry["justification"]).strip(), **terms)
    known = []
    for i, entry in enumerate(raw.get("known_deviations", []) or []):
        key = f"known_deviations[{i}]"
        if entry.get("quantity") not in QUANTITIES:
            raise ParameterError(path, f"{key}.quantity", entry.get("quantity"), "unknown quantity")
        known.append(
            KnownDeviation(
                quantity=entry["quantity"],
                description=str(entry.get("description", "")).strip(),
                rate_below_hz=_number(
                    path, f"{key}.rate_below_hz", entry.get("rate_below_hz", math.inf)
                ),
                frequency_above_hz=float(entry.get("frequency_above_hz", -math.inf)),
                frequency_below_hz=float(entry.get("frequency_below_hz", math.inf)),
                max_abs=_number(path, f"{key}.max_abs", entry.get("max_abs", 0.0)),
                max_relative=_number(path, f"{key}.max_relative", entry.get("max_relative", 0.0)),
                direction=_direction(path, f"{key}.direction", entry.get("direction", 0)),
            )
        )
    return ValidationConfig(rules=rules, known_deviations=known, source=str(path))


def verdict(
    theory: float,
    simulation: float,
    se: float,
    rule: Rule,
    allowance: float,
    known: KnownDeviation | None = None,
    show_relative: bool = True,
) -> dict:
    """Apply the rule to one comparison; plain dict of the row's verdict fields.

    ``show_relative`` adds the relative size to a known deviation's label
    (not meaningful for angles).

    Returns
    -------
    dict with difference, z (difference / SE), k, allowance, bound
    (k SE + allowance), verdict, known_deviation (description and size, or "").
    """
    difference = simulation - theory
    z = difference / se if se > 0 else math.copysign(math.inf, difference) if difference else 0.0
    bound = rule.k * se + allowance
    ok = abs(difference) <= bound and not math.isnan(difference)
    result = {
        "difference": difference,
        "z": z,
        "k": rule.k,
        "allowance": allowance,
        "bound": bound,
        "verdict": VERDICT_PASS if ok else VERDICT_FAIL,
        "known_deviation": "",
    }
    if (
        not ok
        and known is not None
        and known.matches(difference)
        and abs(difference) <= rule.k * se + known.bound(theory)
    ):
        result["verdict"] = VERDICT_KNOWN
        rel = f" ({difference / theory:+.1%})" if theory and show_relative else ""
        label = known.description.split(":")[0].split(";")[0].strip()
        result["known_deviation"] = f"{label}: {difference:+.3g}{rel}"
    return result
