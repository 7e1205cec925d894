"""Planted errors: the one registry of deliberate errors that prove the checks can fail.

A planted error changes the simulation (or the measurement of a finished one),
never the theory. Every name maps, for every protocol (:data:`PROTOCOLS`), to the
options of that protocol's simulation task, which become its spec's perturbation
(:class:`mfval.simulation.network.spec.NetworkPerturbation`,
:class:`mfval.simulation.open_loop.spec.TransferPerturbation`, the closed loop's
``delay_scale``, :class:`mfval.simulation.spatial.spec.SpatialPerturbation`).
:func:`plant_options` is the one entry the tasks are built from.

Two kinds:

- named errors of :data:`PLANTED_ERRORS` (``--planted NAME``);
- graded errors ``NAME=SIZE[@MU,SIGMA][@F1-F2Hz]`` of :data:`GRADED_PLANTS`,
  optionally restricted to one working point (mV) and a frequency band.
  ``exc_weight_scale`` (recurrent excitatory weights times SIZE) and
  ``tau_m_scale`` (membrane time constant times SIZE) are simulated; so are the
  closed-loop plants :data:`CLOSED_LOOP_PLANTS` (the stability-point simulation only:
  recurrent delay, recurrent inhibitory weights, external drive of E, times SIZE). The others act
  on the measurement of a finished simulation, which lets one simulation serve
  every size: ``tf_gain`` multiplies the estimated N(f) by SIZE and leaves its SE
  (exactly what an applied modulation SIZE times larger than the dmu the estimate
  divides by gives in linear response: an amplitude calibration error);
  ``tf_phase_deg`` adds SIZE degrees to the phase; ``tf_latency_ms`` delays the
  response by SIZE ms (phase - 360 f SIZE); ``rate_scale`` multiplies the simulated
  rates (and their SEs) by SIZE.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mfval.config import ParameterError

#: protocols a planted error can act on (their simulation tasks' options)
PROTOCOLS = ("network", "transfer", "closed_loop", "spatial")


def _options(
    network: dict | None = None, transfer=None, closed_loop=None, spatial=None
) -> dict[str, dict]:
    """Task options per protocol (every protocol present, empty where the plant does not act)."""
    return {
        "network": network or {},
        "transfer": transfer or {},
        "closed_loop": closed_loop or {},
        "spatial": spatial or {},
    }


#: named planted errors: name -> protocol -> simulation task options
PLANTED_ERRORS: dict[str, dict[str, dict]] = {
    "none": _options(),
    "exc_weight_plus_10pct": _options(network={"weight_scale_exc": 1.1}),
    "modulation_latency_1.5ms": _options(transfer={"mod_delay": 1.5e-3}),
    "missing_synaptic_filter": _options(transfer={"drop_synaptic_filter": True}),
    "external_source_dropped": _options(network={"drop_external": "inh"}),
    "binomial_poisson_split_p0.05": _options(
        network={"poisson_split_p": 0.05, "allow_biased_poisson": True}
    ),
    # the 8 % stimulus calibration error of issue 10, simulated (spec perturbation)
    "modulation_amplitude_plus_8pct": _options(transfer={"amplitude_scale": 1.08}),
    "recurrent_delay_doubled": _options(closed_loop={"delay_scale": 2.0}),
    # issue 17: the inhibitory boxcar half-width R_I x 1.5 in the simulated ring only (the
    # mean input, hence the rates and every non-spatial protocol, are unchanged)
    "ring_inhibitory_width_x1.5": _options(spatial={"radius_scale": (1.0, 1.5)}),
}


@dataclass(frozen=True)
class GradedKind:
    """One family of graded planted errors.

    ``acts_on``: ``"simulation"`` (a spec perturbation: the run simulates it) or
    ``"network measurement"`` / ``"transfer measurement"`` (applied to a finished
    simulation's table, so that :func:`mfval.comparison.pipeline.replant` can judge
    one simulation under every size). ``options(size)``: protocol -> task options.
    """

    acts_on: str
    meaning: str
    options: Callable[[float], dict[str, dict]] = lambda size: _options()

    @property
    def simulated(self) -> bool:
        return self.acts_on == "simulation"


#: graded planted errors: name -> what SIZE means and where it acts
GRADED_PLANTS: dict[str, GradedKind] = {
    "exc_weight_scale": GradedKind(
        "simulation",
        "factor on the recurrent excitatory weights (network protocol)",
        lambda size: _options(network={"weight_scale_exc": size}),
    ),
    "tau_m_scale": GradedKind(
        "simulation",
        "factor on the simulated membrane time constant (network and transfer protocols)",
        lambda size: _options(network={"tau_m_scale": size}, transfer={"tau_m_scale": size}),
    ),
    "ring_inhibitory_width_scale": GradedKind(
        "simulation",
        "factor on the simulated inhibitory boxcar half-width R_I (spatial protocol)",
        lambda size: _options(spatial={"radius_scale": (1.0, size)}),
    ),
    # closed loop (issue 18): physical errors of the simulated network at the stability
    # point only (the theory, the external rates and the open-loop protocols are untouched)
    "delay_scale": GradedKind(
        "simulation",
        "factor on the recurrent delay (closed-loop simulation only)",
        lambda size: _options(closed_loop={"delay_scale": size}),
    ),
    "inh_weight_scale": GradedKind(
        "simulation",
        "factor on the recurrent inhibitory weights, the loop gain (closed-loop simulation only)",
        lambda size: _options(closed_loop={"weight_scale_inh": size}),
    ),
    "drive_e_scale": GradedKind(
        "simulation",
        "factor on the external Poisson rates of population E (closed-loop simulation only)",
        lambda size: _options(closed_loop={"drive_scale": (size, 1.0)}),
    ),
    "rate_scale": GradedKind("network measurement", "factor on the simulated rates and SEs"),
    "tf_gain": GradedKind(
        "transfer measurement", "factor on the estimated N(f) (amplitude calibration)"
    ),
    "tf_phase_deg": GradedKind("transfer measurement", "degrees added to the phase"),
    "tf_latency_ms": GradedKind("transfer measurement", "latency of the response (ms)"),
}

_PLANT = re.compile(
    r"^(?P<name>[a-z_]+)=(?P<size>[-+0-9.eE]+)"
    r"(?:@(?P<mu>[-0-9.]+),(?P<sigma>[0-9.]+))?"
    r"(?:@(?P<f1>[0-9.]+)-(?P<f2>[0-9.]+)Hz)?$"
)


@dataclass(frozen=True)
class GradedPlant:
    """A parsed graded planted error (see module docstring)."""

    name: str
    size: float
    point_mV: tuple[float, float] | None = None
    band_hz: tuple[float, float] | None = None

    def _where(self, df: pd.DataFrame) -> np.ndarray:
        mask = np.ones(len(df), bool)
        if self.point_mV is not None:
            mask &= np.isclose(df["mu_mV"], self.point_mV[0]) & np.isclose(
                df["sigma_mV"], self.point_mV[1]
            )
        if self.band_hz is not None and "frequency_hz" in df:
            f = df["frequency_hz"].to_numpy(float)
            mask &= (f >= self.band_hz[0]) & (f <= self.band_hz[1])
        return mask

    def _at(self, mu: float, sigma: float) -> bool:
        """Whether the plant acts at the working point (mu, sigma) (V)."""
        return self.point_mV is None or bool(
            np.isclose(mu * 1e3, self.point_mV[0]) and np.isclose(sigma * 1e3, self.point_mV[1])
        )

    def options(self, protocol: str, mu: float, sigma: float) -> dict:
        """Task options of ``protocol`` at the working point (mu, sigma) (V)."""
        if not self._at(mu, sigma):
            return {}
        return dict(GRADED_PLANTS[self.name].options(self.size)[protocol])

    def network_options(self, mu: float, sigma: float) -> dict:
        """Network task options of a simulated plant at (mu, sigma) (V)."""
        return self.options("network", mu, sigma)

    def transfer_options(self, mu: float, sigma: float) -> dict:
        """Transfer task options of a simulated plant at (mu, sigma) (V)."""
        return self.options("transfer", mu, sigma)

    def measure_network(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.name != "rate_scale" or df.empty:
            return df
        df = df.copy()
        mask = self._where(df)
        for column in ("rate_hz", "rate_se_hz"):
            df.loc[mask, column] = df.loc[mask, column] * self.size
        return df

    def measure_transfer(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.name not in ("tf_gain", "tf_phase_deg", "tf_latency_ms") or df.empty:
            return df
        df = df.copy()
        mask = self._where(df)
        f = df["frequency_hz"].to_numpy(float)
        if self.name == "tf_gain":
            factor = np.full(len(df), self.size, complex)
        elif self.name == "tf_phase_deg":
            factor = np.full(len(df), np.exp(1j * np.radians(self.size)))
        else:
            factor = np.exp(-2j * np.pi * f * self.size * 1e-3)
        factor = np.where(mask, factor, 1.0)
        N = (df["tf_re_hz_per_mV"] + 1j * df["tf_im_hz_per_mV"]).to_numpy() * factor
        df["tf_re_hz_per_mV"], df["tf_im_hz_per_mV"] = N.real, N.imag
        df["amp_hz_per_mV"] = df["amp_hz_per_mV"] * np.abs(factor)
        df["phase_deg"] = np.degrees(np.angle(N))
        return df


def parse_plant(text: str) -> GradedPlant | None:
    """A graded planted error from ``NAME=SIZE[@MU,SIGMA][@F1-F2Hz]``; None for a named one.

    Raises
    ------
    ParameterError
        Naming ``planted`` and the text, for an unknown name, a malformed or
        non-finite size, a scale that is not positive, or a band with F1 > F2.

    Examples
    --------
    >>> parse_plant("tf_gain=1.05@6,6")
    GradedPlant(name='tf_gain', size=1.05, point_mV=(6.0, 6.0), band_hz=None)
    >>> parse_plant("none") is None
    True
    """
    if text in PLANTED_ERRORS:
        return None
    match = _PLANT.match(text)
    if not match or match["name"] not in GRADED_PLANTS:
        raise ParameterError(
            "--planted",
            "planted",
            text,
            f"is neither one of {sorted(PLANTED_ERRORS)} nor "
            f"NAME=SIZE[@MU,SIGMA][@F1-F2Hz] with NAME in {sorted(GRADED_PLANTS)}",
        )
    try:
        size = float(match["size"])
    except ValueError:
        raise ParameterError("--planted", "planted", text, "SIZE is not a number") from None
    if not math.isfinite(size):
        raise ParameterError("--planted", "planted", text, "SIZE must be finite")
    if match["name"].endswith(("_scale", "_gain")) and size <= 0:
        raise ParameterError("--planted", "planted", text, "a factor SIZE must be > 0")
    try:
        point = (float(match["mu"]), float(match["sigma"])) if match["mu"] else None
        band = (float(match["f1"]), float(match["f2"])) if match["f1"] else None
    except ValueError:
        raise ParameterError(
            "--planted", "planted", text, "@MU,SIGMA and @F1-F2Hz must be numbers"
        ) from None
    if band is not None and band[0] > band[1]:
        raise ParameterError("--planted", "planted", text, "the band needs F1 <= F2")
    return GradedPlant(match["name"], size, point, band)


#: graded plants that act on the closed-loop simulation only
CLOSED_LOOP_PLANTS = ("delay_scale", "inh_weight_scale", "drive_e_scale")

#: graded plants that act on N(f) (the only ones a band @F1-F2Hz restricts)
FREQUENCY_PLANTS = ("tf_gain", "tf_phase_deg", "tf_latency_ms")


def check_plant_targets(
    planted: str,
    network_points: list[tuple[float, float]],
    transfer_points: list[tuple[float, float]],
    frequencies_hz,
) -> None:
    """Refuse a planted region that would act nowhere in this run (a silent no-op).

    Parameters
    ----------
    planted : str
        ``--planted`` (a named error passes unchecked).
    network_points, transfer_points : list of (mu, sigma)
        Simulated working points (V) of the network and transfer protocols.
    frequencies_hz : array
        Modulation frequencies of the transfer protocol (Hz).

    Raises
    ------
    ParameterError
        Naming ``planted``: a point ``@MU,SIGMA`` that is no simulated working
        point of the protocols the plant acts on, a band on a plant that does
        not act on N(f), or a band that holds no simulated frequency.
    """
    plant = parse_plant(planted)
    if plant is None:
        return
    if plant.name == "rate_scale":
        points = list(network_points)
    elif plant.name in FREQUENCY_PLANTS:
        points = list(transfer_points)
    else:
        points = list(network_points) + list(transfer_points)
    if plant.point_mV is not None and not any(plant._at(mu, sigma) for mu, sigma in points):
        shown = ", ".join(sorted({f"{mu * 1e3:g},{sigma * 1e3:g}" for mu, sigma in points}))
        raise ParameterError(
            "--planted",
            "planted",
            planted,
            f"@{plant.point_mV[0]:g},{plant.point_mV[1]:g} matches no simulated working point "
            f"of this run (mV: {shown or 'none'})",
        )
    if plant.band_hz is None:
        return
    if plant.name not in FREQUENCY_PLANTS:
        raise ParameterError(
            "--planted",
            "planted",
            planted,
            f"a band @F1-F2Hz restricts only {', '.join(FREQUENCY_PLANTS)}, not {plant.name}",
        )
    f = np.asarray(frequencies_hz, float)
    if not np.any((f >= plant.band_hz[0]) & (f <= plant.band_hz[1])):
        raise ParameterError(
            "--planted",
            "planted",
            planted,
            f"the band {plant.band_hz[0]:g}-{plant.band_hz[1]:g} Hz holds no simulated "
            f"modulation frequency ({', '.join(f'{x:.4g}' for x in f)} Hz)",
        )


def plant_options(planted: str, protocol: str, mu: float, sigma: float) -> dict:
    """Simulation task options of ``protocol`` at (mu, sigma) (V) for the planted error.

    The one entry every protocol's tasks are built from: a named error's options,
    or a graded error's at the working point ({} where it does not act).

    Examples
    --------
    A physical plant changes the spec of a simulation; a measurement plant does not:

    >>> plant_options("exc_weight_scale=1.02", "network", 0.01, 0.01)
    {'weight_scale_exc': 1.02}
    >>> plant_options("tf_gain=1.05", "transfer", 0.01, 0.01)
    {}
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got protocol = {protocol!r}")
    graded = parse_plant(planted)
    if graded is None:
        return dict(PLANTED_ERRORS[planted][protocol])
    return graded.options(protocol, mu, sigma)
