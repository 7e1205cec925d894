"""Figure honesty: unsimulated cells are marked, expected-deviation bands only where calibrated."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mfval.comparison.calibration import ENTRY_COLUMNS, ExpectedDeviations
from mfval.comparison.checks import ValidationConfig
from mfval.figures.comparison import expected_band, mark_not_simulated


def test_unsimulated_cells_are_hatched():
    scan = pd.DataFrame(
        {
            "mu_mV": [6.0, 6.0, 8.0, 8.0],
            "sigma_mV": [6.0, 8.0, 6.0, 8.0],
            "rate_dev_pct": [0.0, np.nan, -3.0, np.nan],
        }
    )
    fig, ax = plt.subplots()
    assert mark_not_simulated(ax, scan, "rate_dev_pct") == 2
    hatched = [p for p in ax.patches if p.get_hatch()]
    # the two NaN cells: (mu 6, sigma 8) and (mu 8, sigma 8) -> row 1, columns 0 and 1
    assert sorted(p.get_xy() for p in hatched) == [(0, 1), (1, 1)]
    plt.close(fig)


def test_expected_band_only_inside_calibration():
    rows = [
        ["tf_amplitude", "E (synaptic)", 10.0, 10.0, f, "relative", 0.1, 0.01, "b", "r"]
        for f in (2.0, 20.0)
    ]
    config = ValidationConfig(
        rules={},
        expected=ExpectedDeviations(entries=pd.DataFrame(rows, columns=ENTRY_COLUMNS)),
    )
    f = np.array([1.0, 2.0, 10.0, 20.0, 50.0])
    fb, low, high = expected_band(config, "tf_amplitude", 10.0, 10.0, f, np.ones(5))
    assert list(fb) == [2.0, 10.0, 20.0]  # no extrapolation to 1 or 50 Hz
    assert low[0] == pytest.approx(1.08) and high[0] == pytest.approx(1.12)
    assert math.isclose(0.5 * (low[1] + high[1]), 1.1)
