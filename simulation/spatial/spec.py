"""Spatial ring protocol spec: the network specs of the chunks of one ring measurement.

:class:`SpatialSpec` (plain data) holds the nominal ring (length, radii), the working
point, g, the deliberate :class:`SpatialPerturbation` and one
:class:`~mfval.simulation.network.spec.NetworkSpec` per chunk, each with its own seed
(:func:`spatial_chunk_seed`) and the ring connectivity *as simulated* (perturbation
applied); :func:`spatial_spec` builds and checks it. :func:`load_spatial_params`
reads ``params/spatial.yaml``. See :mod:`mfval.simulation.spatial` for the protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mfval.config import (
    ParameterError,
    Spec,
    default_params_path,
    mapping,
    quantity,
    read_yaml,
    stable_hash,
)
from mfval.simulation.model.connectivity import RingConnectivity, population_slices

#: simulators with a backend for this protocol (the network protocol's backends)
SIMULATORS = ("brian2", "nest")

#: sections of ``params/spatial.yaml`` and their keys with the expected form
SPATIAL_SCHEMA: dict[str, dict[str, Spec]] = {
    "ring": {
        "length": Spec("m", "scalar", "positive"),
        "radius": Spec("m", "vector", "positive"),
        "n_modes": Spec("1", "scalar", "integer_positive", maximum=10**4),
    },
    "working_point": {
        "mu": Spec("V", "scalar", ""),
        "sigma": Spec("V", "scalar", "positive"),
        "g": Spec("1", "scalar", "positive"),
    },
    "simulation": {
        "chunk_warmup": Spec("s", "scalar", "nonnegative"),
        "chunk_duration": Spec("s", "scalar", "positive"),
        "n_chunks": Spec("1", "scalar", "integer_positive", maximum=10**4),
    },
    "measurement": {
        "segment": Spec("s", "scalar", "positive"),
        "f_max": Spec("Hz", "scalar", "positive"),
        "peak_band": Spec("Hz", "pair", "nonnegative"),
        "plateau_band": Spec("Hz", "pair", "nonnegative"),
    },
}


#: sections of ``params/spatial.yaml`` that the comparison reads (the sweep and the checks
#: of :mod:`mfval.comparison.spatial`); allowed here, returned unparsed
COMPARISON_SECTIONS = ("sweep", "checks")


def load_spatial_params(
    path: str | Path | None = None, extra_sections: tuple = COMPARISON_SECTIONS
) -> dict:
    """Read ``params/spatial.yaml`` (or ``path``) into plain SI data.

    ``extra_sections``: further top-level sections allowed in the file (read by a
    higher layer, e.g. the comparison's ``sweep`` and ``checks``), returned
    unparsed under ``_extra``.

    Returns
    -------
    dict
        ``ring`` (``length`` m, ``radius`` tuple of m per source population,
        ``n_modes``), ``working_point`` (``mu``, ``sigma`` V, ``g``),
        ``simulation`` (``chunk_warmup``, ``chunk_duration`` s, ``n_chunks``),
        ``measure`` (``segment`` s, ``f_max`` Hz, ``peak_band``,
        ``plateau_band`` (Hz, Hz), ``n_modes``: the overrides of
        :data:`mfval.simulation.spatial.measure.DEFAULT_MEASURE`) and ``_file``.

    Raises
    ------
    ParameterError
        Naming the file and the dotted key: a missing file, an unknown
        (e.g. misspelled) section or key, a missing key, a bad unit, shape
        or value, a band whose ends are not increasing.
    """
    path = Path(path) if path is not None else default_params_path("spatial.yaml")
    raw = read_yaml(path, [*SPATIAL_SCHEMA, *extra_sections])
    out: dict = {}
    for section, keys in SPATIAL_SCHEMA.items():
        if section not in raw:
            raise ParameterError(path, section, None, "missing section")
        entries = mapping(path, section, raw[section], keys)
        values = {}
        for key, form in keys.items():
            if key not in entries:
                raise ParameterError(path, f"{section}.{key}", None, "missing key")
            values[key] = quantity(path, f"{section}.{key}", entries[key], form)
        out[section] = values
    for band in ("peak_band", "plateau_band"):
        lo, hi = out["measurement"][band]
        if not lo < hi:
            raise ParameterError(
                path, f"measurement.{band}", raw["measurement"][band], "expected low < high"
            )
        out["measurement"][band] = (float(lo), float(hi))
    ring = out["ring"]
    ring["radius"] = tuple(float(r) for r in np.ravel(ring["radius"]))
    out["measure"] = {**out.pop("measurement"), "n_modes": int(ring["n_modes"])}
    out["_file"] = str(path)
    out["_extra"] = {name: raw.get(name) for name in extra_sections}
    return out


@dataclass(frozen=True)
class SpatialPerturbation:
    """Deliberate errors of a ring run (simulation only); the default is none.

    Attributes
    ----------
    radius_scale : tuple of float
        Factor on the simulated boxcar half-width of each source population
        (e.g. ``(1.0, 1.5)``: R_I x 1.5, the planted error of issue 17).
    delay_scale : float
        Factor on the simulated recurrent delay.
    """

    radius_scale: tuple = (1.0, 1.0)
    delay_scale: float = 1.0

    def __post_init__(self):
        scale = np.asarray(self.radius_scale, float)
        if scale.ndim != 1 or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError(
                f"radius_scale must be positive per population, got {self.radius_scale!r}"
            )
        object.__setattr__(self, "radius_scale", tuple(float(x) for x in scale))
        delay = float(self.delay_scale)
        if not (math.isfinite(delay) and delay > 0):
            raise ValueError(f"delay_scale must be positive, got delay_scale = {delay!r}")
        object.__setattr__(self, "delay_scale", delay)


def spatial_chunk_seed(seed: int, index: int) -> int:
    """Seed of chunk ``index`` of a ring measurement with base ``seed``.

    Each chunk is an independent realization (connectivity, initial state,
    drive); a hash of (seed, index), independent of workers and order.
    """
    return int(stable_hash("spatial chunk", int(seed), int(index))[:8], 16)


@dataclass(frozen=True)
class SpatialSpec:
    """Plain data that fully defines one ring measurement (SI units).

    Attributes
    ----------
    mu, sigma : float
        Working point, V.
    g : float or None
        Relative inhibition (None: the parameter file's W).
    ring : RingConnectivity
        The nominal ring (length and radii as the theory sees them).
    seed : int
        Base seed (chunk seeds: :func:`spatial_chunk_seed`).
    perturbation : SpatialPerturbation
        Errors of the simulation only.
    chunks : tuple of NetworkSpec
        One per chunk, each with the simulated ring (radii times
        ``perturbation.radius_scale``) as its connectivity rule.
    """

    mu: float
    sigma: float
    g: float | None
    ring: RingConnectivity
    seed: int
    perturbation: SpatialPerturbation = field(default_factory=SpatialPerturbation)
    chunks: tuple = ()

    @property
    def network(self) -> dict:
        """Nominal network parameters (of the chunks; g applied, no perturbation)."""
        return self.chunks[0].network

    def positions(self) -> list[np.ndarray]:
        """Neuron positions per population, m (shape (N_a,) each)."""
        return self.ring.positions(self.network)

    @property
    def duration(self) -> float:
        """Measured time over all chunks, s."""
        return float(sum(c.duration for c in self.chunks))


def simulated_ring(ring: RingConnectivity, perturbation: SpatialPerturbation) -> RingConnectivity:
    """The ring as simulated: radii times ``perturbation.radius_scale``."""
    scale = perturbation.radius_scale
    if len(scale) != len(ring.radius):
        raise ValueError(
            f"radius_scale {scale!r} must give one factor per source population "
            f"(radius = {ring.radius!r})"
        )
    return RingConnectivity(ring.length, tuple(r * s for r, s in zip(ring.radius, scale)))


def spatial_spec(
    mu: float,
    sigma: float,
    params: dict,
    seed: int,
    ring: RingConnectivity | dict | None = None,
    g: float | None = None,
    n_chunks: int | None = None,
    chunk_duration: float | None = None,
    warmup: float | None = None,
    simulator: str = "brian2",
    backend: dict | None = None,
    perturbation: SpatialPerturbation | None = None,
    theory: dict | None = None,
    n_record: int = 1,
) -> SpatialSpec:
    """The spec of one ring measurement at (mu, sigma) (V), checked before anything runs.

    Parameters
    ----------
    mu, sigma : float
        Working point, V; the external rates are the theory's at this g
        (:func:`mfval.simulation.network.spec.theory_for_point` of the
        nominal network, the ring does not enter the mean-field rates).
    params : dict
        Loaded parameters (SI): ``network``, ``simulation`` and optionally
        ``spatial`` (:func:`load_spatial_params`) for the defaults of ``ring``,
        ``n_chunks``, ``chunk_duration``, ``warmup``.
    seed : int
        Base seed.
    ring : RingConnectivity or dict, optional
        Nominal ring (dict: ``length``, ``radius`` in m).
    g : float, optional
        Relative inhibition (:func:`mfval.theory.closed_loop.network_with_g`).
    n_chunks : int, optional
        Independent chunks (>= 1; >= 2 for standard errors from chunks).
    chunk_duration, warmup : float, optional
        Measured time and discarded warm-up of each chunk, s.
    simulator, backend
        As :func:`mfval.simulation.network.spec.make_network_spec`.
    perturbation : SpatialPerturbation, optional
        Planted errors (simulation only).
    theory : dict, optional
        ``theory_for_point`` at this g (computed if not given).
    n_record : int
        Neurons per population whose synaptic current is recorded (the
        spatial measurement uses spikes only).

    Raises
    ------
    ValueError
        Naming parameter and value: L <= 2 R, a box with fewer neurons than
        K, a bad chunk count or duration, and the network spec's checks.
    """
    from mfval.simulation.closed_loop.spec import params_for
    from mfval.simulation.network.spec import make_network_spec, theory_for_point

    spatial = params.get("spatial") or {}
    sim_defaults = spatial.get("simulation", {})
    if ring is None:
        if "ring" not in spatial:
            raise ValueError("no ring given and no params['spatial'] (load_spatial_params)")
        ring = spatial["ring"]
    if isinstance(ring, dict):
        ring = RingConnectivity(ring["length"], tuple(ring["radius"]))
    n_pops = len(population_slices(params["network"]))
    if len(ring.radius) != n_pops:
        raise ValueError(
            f"ring radius must give one value per source population ({n_pops}), "
            f"got radius = {ring.radius!r}"
        )
    n_chunks = int(sim_defaults.get("n_chunks", 2) if n_chunks is None else n_chunks)
    if n_chunks < 1:
        raise ValueError(f"n_chunks must be >= 1, got n_chunks = {n_chunks}")
    if chunk_duration is None:
        chunk_duration = sim_defaults.get("chunk_duration")
    if warmup is None:
        warmup = sim_defaults.get("chunk_warmup")
    perturbation = perturbation or SpatialPerturbation()
    sim_ring = simulated_ring(ring, perturbation)
    plain = {k: params[k] for k in ("network", "simulation") if k in params}
    nominal = params_for(plain, g, 1.0)
    if theory is None:
        theory = theory_for_point(mu, sigma, nominal)
    ring.check(nominal["network"])
    simulated = params_for(plain, g, perturbation.delay_scale)
    chunks = []
    for i in range(n_chunks):
        chunk = make_network_spec(
            mu,
            sigma,
            simulated,
            spatial_chunk_seed(seed, i),
            duration=chunk_duration,
            warmup=warmup,
            n_blocks=2,
            n_record=n_record,
            theory=theory,
            simulator=simulator,
            backend=backend,
            connectivity=sim_ring,
        )
        chunks.append(chunk)
    return SpatialSpec(
        mu=float(mu),
        sigma=float(sigma),
        g=None if g is None else float(g),
        ring=ring,
        seed=int(seed),
        perturbation=perturbation,
        chunks=tuple(chunks),
    )
