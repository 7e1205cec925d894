"""Fixed in-degree connectivity without autapses or multapses (shared by every backend).

Two rules: random (:func:`build_connectivity`: each target draws its inputs among
all neurons of the source population) and ring boxcar
(:func:`build_ring_connectivity`: neurons on a ring of length L at grid positions,
each target draws its inputs among the source neurons within ring distance R);
:class:`RingConnectivity` is the plain-data rule a network spec carries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def fixed_indegree_sources(
    n_targets: int,
    n_sources: int,
    k: int,
    rng: np.random.RandomState,
    same: bool,
    chunk: int = 256,
) -> np.ndarray:
    """Source indices, shape (n_targets, k): k distinct sources per target.

    No multapses (without replacement); if ``same`` (source population is
    the target population), target j never receives from source j (no
    autapses). Each row is sorted.
    """
    available = n_sources - (1 if same else 0)
    if k > available:
        raise ValueError(
            f"in-degree K = {k} exceeds the {available} available sources (N = {n_sources})"
        )
    out = np.empty((n_targets, k), dtype=np.int32)
    if k == 0:
        return out
    for start in range(0, n_targets, chunk):
        stop = min(start + chunk, n_targets)
        keys = rng.random_sample((stop - start, n_sources))
        if same:
            rows = np.arange(stop - start)
            keys[rows, start + rows] = 2.0  # above every uniform key: never chosen
        sel = (
            np.argpartition(keys, k - 1, axis=1)[:, :k]
            if k < n_sources
            else (np.argsort(keys, axis=1))
        )
        out[start:stop] = np.sort(sel, axis=1)
    return out


def population_slices(network: dict) -> list[tuple[str, int, int]]:
    """(name, first index, size) of each population in the NeuronGroup."""
    sizes = np.asarray(network["N"], int)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return [(p, int(o), int(n)) for p, o, n in zip(network["populations"], offsets, sizes)]


def build_connectivity(network: dict, rng: np.random.RandomState) -> dict:
    """Fixed in-degree connectivity: ``{(t, s): (i_global_pre, j_global_post)}``.

    Indices are global neuron indices into the single NeuronGroup; pairs are
    sorted by presynaptic index.
    """
    pops = population_slices(network)
    K = np.asarray(network["K"], int)
    conn = {}
    for t, (_, t_off, t_n) in enumerate(pops):
        for s, (_, s_off, s_n) in enumerate(pops):
            src = fixed_indegree_sources(t_n, s_n, int(K[t, s]), rng, same=(t == s))
            i = (src + s_off).ravel()
            j = np.repeat(np.arange(t_off, t_off + t_n, dtype=np.int32), K[t, s])
            order = np.argsort(i, kind="stable")
            conn[(t, s)] = (i[order].astype(np.int32), j[order].astype(np.int32))
    return conn


# ----------------------------------------------------------------------------- ring


def ring_positions(n: int, length: float) -> np.ndarray:
    """Grid positions on a ring, m: neuron i at (i + 0.5) L / n, shape (n,)."""
    return (np.arange(int(n)) + 0.5) * (float(length) / int(n))


def ring_boxes(
    n_targets: int, n_sources: int, length: float, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """The boxcar of every target on the ring: first source index and source count.

    Source i (population of ``n_sources``, at (i + 0.5) L / n_sources) lies in
    the box of target j (at (j + 0.5) L / n_targets) if their ring distance is
    at most ``radius`` (closed box, with a relative tolerance of 1e-9 so that
    a source exactly at the edge counts on every platform). The box is a
    contiguous run of source indices on the ring.

    Returns
    -------
    (first, count): int64 arrays (n_targets,); the box of target j holds the
    sources ``(first[j] + m) % n_sources`` for m = 0 .. count[j] - 1
    (``first`` may be negative or >= n_sources: unwrapped).
    """
    nt, ns = int(n_targets), int(n_sources)
    # in units of L / (2 ns nt) the positions are the odd integers (2i + 1) nt, (2j + 1) ns
    half = 2.0 * float(radius) * ns * nt / float(length) * (1.0 + 1e-9)
    centre = (2.0 * np.arange(nt) + 1.0) * ns
    first = np.ceil(((centre - half) / nt - 1.0) / 2.0).astype(np.int64)
    last = np.floor(((centre + half) / nt - 1.0) / 2.0).astype(np.int64)
    return first, last - first + 1


def check_ring(network: dict, length: float, radius) -> None:
    """Refuse a ring whose boxes wrap it or hold fewer sources than the in-degree.

    Raises
    ------
    ValueError
        Naming the parameter and its value: ``length`` <= 2 ``radius`` of a
        source population (the box wraps the ring), or a box with fewer
        neurons (the target itself excluded) than the in-degree K.
    """
    pops = population_slices(network)
    length = float(length)
    radius = np.asarray(radius, float)
    K = np.asarray(network["K"], int)
    if radius.shape != (len(pops),):
        raise ValueError(
            f"ring radius must give one value per source population {[p for p, _, _ in pops]}, "
            f"got radius = {radius.tolist()}"
        )
    for s, (name, _, n_s) in enumerate(pops):
        if not length > 2 * radius[s]:
            raise ValueError(
                f"ring length L = {length * 1e3:g} mm must exceed 2 R: radius of {name} = "
                f"{radius[s] * 1e3:g} mm (the box would wrap the ring)"
            )
        for t, (t_name, _, n_t) in enumerate(pops):
            _, count = ring_boxes(n_t, n_s, length, radius[s])
            available = int(count.min()) - (1 if s == t else 0)
            if available < K[t, s]:
                raise ValueError(
                    f"ring radius of {name} = {radius[s] * 1e3:g} mm holds only {available} "
                    f"neurons of {name} for a target in {t_name}, fewer than its in-degree "
                    f"K = {K[t, s]} (ring length L = {length * 1e3:g} mm)"
                )


def ring_indegree_sources(
    n_targets: int,
    n_sources: int,
    k: int,
    length: float,
    radius: float,
    rng: np.random.RandomState,
    same: bool,
    chunk: int = 256,
) -> np.ndarray:
    """Source indices, shape (n_targets, k): k distinct sources inside each target's box.

    Uniformly without replacement among the sources of :func:`ring_boxes`
    (no multapses), never the target itself when ``same`` (no autapses):
    the ``k`` smallest of uniform keys over the box, keys of positions
    outside the box (boxes of unequal size) or of the target itself set
    above every uniform key. Each row is sorted.
    """
    first, count = ring_boxes(n_targets, n_sources, length, radius)
    width = int(count.max())
    out = np.empty((n_targets, k), dtype=np.int32)
    if k == 0:
        return out
    offsets = np.arange(width)
    for start in range(0, n_targets, chunk):
        stop = min(start + chunk, n_targets)
        idx = first[start:stop, None] + offsets[None, :]
        keys = rng.random_sample((stop - start, width))
        blocked = offsets[None, :] >= count[start:stop, None]
        if same:
            blocked |= idx == np.arange(start, stop)[:, None]
        keys[blocked] = 2.0
        if int((~blocked).sum(axis=1).min()) < k:
            raise ValueError(
                f"in-degree K = {k} exceeds the sources in a ring box of radius "
                f"{radius * 1e3:g} mm (L = {length * 1e3:g} mm, N = {n_sources})"
            )
        sel = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < width else np.argsort(keys, 1)
        src = np.take_along_axis(idx, sel, axis=1) % n_sources
        out[start:stop] = np.sort(src, axis=1)
    return out


def build_ring_connectivity(
    network: dict, length: float, radius, rng: np.random.RandomState
) -> dict:
    """Ring boxcar connectivity with fixed in-degree: ``{(t, s): (i_pre, j_post)}``.

    As :func:`build_connectivity`, but target j of population t draws its
    ``K[t, s]`` inputs from the neurons of population s within ring distance
    ``radius[s]`` (m) of its position (:func:`ring_positions`,
    :func:`ring_indegree_sources`); checked by :func:`check_ring`.
    """
    check_ring(network, length, radius)
    pops = population_slices(network)
    K = np.asarray(network["K"], int)
    radius = np.asarray(radius, float)
    conn = {}
    for t, (_, t_off, t_n) in enumerate(pops):
        for s, (_, s_off, s_n) in enumerate(pops):
            src = ring_indegree_sources(
                t_n, s_n, int(K[t, s]), length, float(radius[s]), rng, same=(t == s)
            )
            i = (src.astype(np.int64) + s_off).ravel()
            j = np.repeat(np.arange(t_off, t_off + t_n, dtype=np.int32), K[t, s])
            order = np.argsort(i, kind="stable")
            conn[(t, s)] = (i[order].astype(np.int32), j[order].astype(np.int32))
    return conn


@dataclass(frozen=True)
class RingConnectivity:
    """The ring boxcar connectivity rule of a network spec (plain data, SI).

    Attributes
    ----------
    length : float
        Ring length L, m.
    radius : tuple of float
        Boxcar half-width R per *source* population (order of
        ``network['populations']``), m: the profile's Fourier transform is
        sin(k R) / (k R).
    """

    length: float
    radius: tuple

    def __post_init__(self):
        length = float(self.length)
        if not (math.isfinite(length) and length > 0):
            raise ValueError(f"ring length must be positive, got length = {self.length!r} m")
        radius = np.asarray(self.radius, float)
        if radius.ndim != 1 or not np.all(np.isfinite(radius)) or np.any(radius <= 0):
            raise ValueError(f"ring radius must be positive per population, got {self.radius!r}")
        object.__setattr__(self, "length", length)
        object.__setattr__(self, "radius", tuple(float(r) for r in radius))

    def check(self, network: dict) -> None:
        """:func:`check_ring` of this rule for ``network``."""
        check_ring(network, self.length, self.radius)

    def positions(self, network: dict) -> list[np.ndarray]:
        """Positions of the neurons of each population, m (:func:`ring_positions`)."""
        return [ring_positions(n, self.length) for _, _, n in population_slices(network)]

    def build(self, network: dict, rng: np.random.RandomState) -> dict:
        """:func:`build_ring_connectivity` of this rule."""
        return build_ring_connectivity(network, self.length, self.radius, rng)


def connectivity_for(network: dict, rng: np.random.RandomState, rule=None) -> dict:
    """Connectivity of a spec's rule: random fixed in-degree (``rule`` None) or the ring's."""
    if rule is None:
        return build_connectivity(network, rng)
    return rule.build(network, rng)
