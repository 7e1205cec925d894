"""Fixed in-degree connectivity without autapses or multapses (shared by every backend)."""

from __future__ import annotations

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
