"""The measurement window of a recording: which spikes and samples lie after the warm-up.

One pure function, :func:`in_window`, used by every protocol's measurement
(network, closed loop, open loop). Conventions (:mod:`mfval.simulation.model.recording`):
with w warm-up steps and a window of n steps, a spike counts if its
detection step (``spike_step``) lies in [w + 1, w + n] (:func:`spike_window`),
a state sample if its step (``state_step``) lies in [w, w + n).
"""

from __future__ import annotations

import numpy as np


def in_window(steps, start: int, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps in [start, start + n_steps), counted from the window start.

    Returns
    -------
    (local, keep): ``steps - start`` of the steps inside (0 .. n_steps - 1,
    in input order) and the boolean mask of those steps in ``steps``.

    Examples
    --------
    >>> in_window(np.array([1, 5, 12, 20]), 5, 10)
    (array([0, 7]), array([False,  True,  True, False]))
    """
    local = np.asarray(steps) - start
    keep = (local >= 0) & (local < n_steps)
    return local[keep], keep


def spike_window(spike_step, warmup_steps: int, duration_steps: int):
    """:func:`in_window` for spike detection steps: [w + 1, w + n] -> 0 .. n - 1."""
    return in_window(spike_step, warmup_steps + 1, duration_steps)
