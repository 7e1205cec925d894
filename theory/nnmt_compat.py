"""The one place where nnmt is imported and made to work with NumPy 2.

nnmt 1.3.0 uses ``np.complex_`` in its transfer-function fit
(``nnmt.lif._general._fit_transfer_function``); NumPy 2 removed that alias.
Importing this module restores the alias (as ``np.complex128``, which it
always was) before nnmt is used. Import nnmt through this module only.
"""

from __future__ import annotations

import numpy as np

if not hasattr(np, "complex_"):
    # removed in NumPy 2.0; nnmt 1.3.0 still uses it (setattr: ruff's NPY201
    # autofix would otherwise "modernize" this line into a no-op)
    setattr(np, "complex_", np.complex128)  # noqa: B010

import nnmt  # noqa: E402
import nnmt.lif._general as lif_general  # noqa: E402
import nnmt.lif.exp as lif_exp  # noqa: E402

NNMT_VERSION: str = getattr(nnmt, "__version__", "unknown")

__all__ = ["NNMT_VERSION", "lif_exp", "lif_general", "nnmt"]
