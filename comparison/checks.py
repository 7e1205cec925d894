"""The verdict rule and its configuration (``params/validation.yaml``).

A simulated value is compared with its expectation, the theory plus the
calibrated expected deviation (:mod:`mfval.comparison.calibration`)::

    expected  = theory (1 + d)  or  theory + d      (relative or absolute scale)
    sigma     = sqrt(SE_run^2 + SE_cal^2)            (SE_cal on the row's scale)
    z         = max(|sim - expected| - allowance, 0) / sigma
    p         = 2 (1 - Phi(z))

The allowance (``absolute + relative * |theory|``) is set a priori, with a
justification that uses no measured data. Every judged row, pointwise or
aggregate (:mod:`mfval.comparison.aggregate`), has a p-value; Holm's step-down
procedure over the whole table (:func:`holm`) at the family-wise level
``family_wise_alpha`` decides which rows fail, so that more rows do not mean
more false alarms. A row outside the calibrated region is ``not judged``
(its measured deviation is still reported, with the reason).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from mfval.comparison.calibration import ExpectedDeviations, load_expected_deviations
from mfval.comparison.cross_simulator import CrossConfig, cross_config
from mfval.config import ParameterError, default_params_path, mapping, number, read_yaml

VERDICT_PASS = "pass"
VERDICT_FAIL = "fail"
VERDICT_NOT_JUDGED = "not judged"

#: allowance terms (in the quantity's unit, or relative to |theory|)
ALLOWANCE_TERMS = ("absolute", "relative")

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

#: seed purposes of ``seeds`` in the YAML
SEED_PURPOSES = ("verification", "calibration")


@dataclass(frozen=True)
class Rule:
    """A-priori allowance of one quantity."""

    absolute: float = 0.0
    relative: float = 0.0
    justification: str = ""

    def allowance(self, theory: float) -> float:
        return self.absolute + self.relative * abs(theory)


@dataclass
class ValidationConfig:
    rules: dict[str, Rule]
    family_wise_alpha: float = 0.01
    seeds: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"verification": (1, 999_999), "calibration": (10**6, 2 * 10**6)}
    )
    duration_factor: float = 2.0
    k_agree: float = 3.0
    expected: ExpectedDeviations = field(default_factory=ExpectedDeviations)
    source: str = ""
    #: Brian2 vs NEST rule (the ``cross_simulator`` section of the same file)
    cross: CrossConfig = field(default_factory=CrossConfig)

    def rule(self, quantity: str) -> Rule:
        if quantity not in self.rules:
            raise ParameterError(self.source, f"quantities.{quantity}", None, "missing rule")
        return self.rules[quantity]

    def check_seed(self, seed: int, purpose: str) -> int:
        """Return ``seed`` if it lies in the range of ``purpose``, else a clear error.

        Raises
        ------
        ParameterError
            Naming the seed, its purpose and the allowed range.
        """
        first, last = self.seeds[purpose]
        if not first <= int(seed) <= last:
            other = "calibration" if purpose == "verification" else "verification"
            lo, hi = self.seeds[other]
            inside = f" (it is a {other} seed)" if lo <= int(seed) <= hi else ""
            raise ParameterError(
                self.source,
                f"seeds.{purpose}",
                int(seed),
                f"a {purpose} run needs a seed in [{first}, {last}]{inside}; calibration and "
                "verification seeds are disjoint",
            )
        return int(seed)


#: top-level sections of ``params/validation.yaml``; ``known_deviations`` is
#: recognized only to explain that it is gone
VALIDATION_SECTIONS = (
    "family_wise_alpha",
    "family_wise_justification",
    "expected_deviations",
    "seeds",
    "calibration",
    "quantities",
    "cross_simulator",
)


def load_cross_config(path: str | Path | None = None) -> CrossConfig:
    """The ``cross_simulator`` section of ``params/validation.yaml`` (or the given file).

    The whole file is read with :func:`mfval.config.read_yaml` (its sections are
    :data:`VALIDATION_SECTIONS`); the section is parsed by
    :func:`mfval.comparison.cross_simulator.cross_config`.
    """
    path = Path(path) if path is not None else default_params_path("validation.yaml")
    return cross_config(
        path, read_yaml(path, (*VALIDATION_SECTIONS, "known_deviations"), allow_empty=True)
    )


def load_validation(
    path: str | Path | None = None, expected_path: str | Path | None = None
) -> ValidationConfig:
    """Read ``params/validation.yaml`` (or the given file) and its expected deviations.

    ``expected_path`` overrides the file named by ``expected_deviations``
    (relative to the validation file's folder). The ``cross_simulator``
    section is read too (:func:`load_cross_config`),
    so that a bad one is reported before any simulation runs.

    Raises
    ------
    ParameterError
        Naming the file, the key and the value of a missing, unknown
        (e.g. misspelled) or bad entry.

    Examples
    --------
    >>> config = load_validation()  # params/validation.yaml and its expected deviations
    >>> config.family_wise_alpha
    0.01
    """
    path = Path(path) if path is not None else default_params_path("validation.yaml")
    raw = read_yaml(path, (*VALIDATION_SECTIONS, "known_deviations"))
    if "known_deviations" in raw:
        raise ParameterError(
            path,
            "known_deviations",
            "...",
            "flat known-deviation envelopes are gone; expected deviations come from "
            "`mfval calibrate` (expected_deviations)",
        )
    if "quantities" not in raw:
        raise ParameterError(path, "quantities", None, "missing section")
    quantities = mapping(path, "quantities", raw["quantities"], QUANTITIES)
    alpha = number(path, "family_wise_alpha", raw.get("family_wise_alpha"), "positive")
    if not alpha < 1:
        raise ParameterError(path, "family_wise_alpha", alpha, "expected 0 < alpha < 1")
    rules = {}
    for quantity in QUANTITIES:
        entry = quantities.get(quantity)
        if not isinstance(entry, dict):
            raise ParameterError(path, f"quantities.{quantity}", entry, "missing rule")
        if not str(entry.get("justification", "")).strip():
            raise ParameterError(
                path, f"quantities.{quantity}.justification", None, "every allowance needs one"
            )
        unknown = set(entry) - {*ALLOWANCE_TERMS, "justification"}
        if unknown:
            raise ParameterError(
                path, f"quantities.{quantity}", sorted(unknown), "unknown allowance terms"
            )
        terms = {
            term: number(path, f"quantities.{quantity}.{term}", entry.get(term, 0.0))
            for term in ALLOWANCE_TERMS
        }
        rules[quantity] = Rule(justification=str(entry["justification"]).strip(), **terms)
    calibration = mapping(
        path, "calibration", raw.get("calibration"), ("duration_factor", "k_agree")
    )
    if expected_path is None:
        name = raw.get("expected_deviations")
        if not name or not isinstance(name, str):
            raise ParameterError(path, "expected_deviations", name, "missing file name")
        expected_path = path.parent / name
    return ValidationConfig(
        rules=rules,
        family_wise_alpha=alpha,
        seeds=_seed_ranges(path, raw),
        duration_factor=number(
            path, "calibration.duration_factor", calibration.get("duration_factor", 2.0), "positive"
        ),
        k_agree=number(path, "calibration.k_agree", calibration.get("k_agree", 3.0), "positive"),
        expected=load_expected_deviations(expected_path),
        source=str(path),
        cross=cross_config(path, raw),
    )


def _seed_ranges(path, raw: dict) -> dict[str, tuple[int, int]]:
    """The disjoint seed ranges of the ``seeds`` section, purpose -> (first, last)."""
    if raw.get("seeds") is None:
        raise ParameterError(path, "seeds", None, "missing section (verification, calibration)")
    seeds = mapping(path, "seeds", raw["seeds"], SEED_PURPOSES)
    ranges = {}
    for purpose in SEED_PURPOSES:
        entry = seeds.get(purpose)
        if not isinstance(entry, dict) or not {"first", "last"} <= set(entry):
            raise ParameterError(path, f"seeds.{purpose}", entry, "expected {first: N, last: M}")
        mapping(path, f"seeds.{purpose}", entry, ("first", "last"))
        first, last = entry["first"], entry["last"]
        if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last):
            raise ParameterError(path, f"seeds.{purpose}", entry, "expected 0 <= first <= last")
        ranges[purpose] = (first, last)
    (a0, a1), (b0, b1) = ranges["verification"], ranges["calibration"]
    if a0 <= b1 and b0 <= a1:
        raise ParameterError(
            path,
            "seeds",
            seeds,
            "the verification and calibration seed ranges overlap; they must be disjoint",
        )
    return ranges


def row_test(
    difference: float, sigma: float, allowance: float, dof: float | None = None
) -> tuple[float, float]:
    """(z, two-sided p) of ``|difference| <= allowance`` under Gaussian noise of SD ``sigma``.

    ``z = max(|difference| - allowance, 0) / sigma``; a NaN difference or
    non-positive sigma gives (nan, nan) (such a row cannot be judged). With
    ``dof`` (an SE estimated from dof + 1 independent units, e.g. a
    jackknife over few chunks) p comes from Student's t with ``dof`` degrees
    of freedom, whose heavier tails keep the false-alarm rate at its level.

    Examples
    --------
    A difference of 0.3 with SE 0.1 and allowance 0.1 is 2 SE beyond the allowance:

    >>> z, p = row_test(difference=0.3, sigma=0.1, allowance=0.1)
    >>> round(z, 6), round(p, 4)
    (2.0, 0.0455)
    >>> row_test(0.05, 0.1, 0.1)  # inside the allowance
    (0.0, 1.0)
    """
    if not (math.isfinite(difference) and sigma > 0 and math.isfinite(sigma)):
        return math.nan, math.nan
    z = max(abs(difference) - allowance, 0.0) / sigma
    if dof is not None and math.isfinite(dof):
        if dof < 1:
            raise ValueError(f"dof must be >= 1, got dof = {dof!r}")
        return z, float(2 * stats.t.sf(z, dof))
    return z, float(2 * stats.norm.sf(z))


def bonferroni_k(alpha: float, m: int) -> float:
    """k with 2 (1 - Phi(k)) = alpha / m: inside k sigma + allowance, a row never fails.

    Examples
    --------
    >>> round(bonferroni_k(0.01, 1), 3), round(bonferroni_k(0.01, 200), 2)
    (2.576, 4.06)
    """
    return float(stats.norm.isf(alpha / (2 * max(m, 1))))


def holm(p_values, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down procedure: (rejected, adjusted p), family-wise level ``alpha``.

    Valid under any dependence between the tests (the pointwise and the
    aggregate rows of one curve are strongly dependent). NaN p-values are
    not part of the family (never rejected; adjusted p NaN).

    Examples
    --------
    >>> failed, p_holm = holm([0.001, 0.02, 0.5], 0.05)
    >>> failed.tolist(), p_holm.round(3).tolist()
    ([True, True, False], [0.003, 0.04, 0.5])
    """
    p = np.asarray(p_values, float)
    ok = np.isfinite(p)
    adjusted = np.full(p.shape, np.nan)
    m = int(ok.sum())
    if m == 0:
        return np.zeros(p.shape, bool), adjusted
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[idx], kind="stable")]
    steps = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted <= alpha, adjusted
