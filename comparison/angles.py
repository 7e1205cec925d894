"""Angles: phase differences wrapped to one turn (shared by the theory and cross-simulator rows)."""

from __future__ import annotations

import numpy as np


def wrap_degrees(angle: np.ndarray | float) -> np.ndarray | float:
    """Angle difference wrapped to (-180, 180] degrees.

    Examples
    --------
    >>> float(wrap_degrees(190.0))
    -170.0
    >>> wrap_degrees(np.array([-190.0, 370.0]))
    array([170.,  10.])
    """
    return 180.0 - np.mod(180.0 - np.asarray(angle, float), 360.0)
