"""Library versions that can move a theory prediction (part of store keys).

The one definition of the theory's version dict: the theory scan, the
closed-loop theory tasks and the simulation side (which adds its simulator,
:mod:`mfval.simulation.model.versions`) all call :func:`software_versions`.
"""

from __future__ import annotations

import numpy as np
import scipy

from mfval.theory.nnmt_compat import NNMT_VERSION


def software_versions() -> dict[str, str]:
    """Versions that can move a prediction: nnmt, numpy and scipy."""
    return {"nnmt": NNMT_VERSION, "numpy": np.__version__, "scipy": scipy.__version__}
