"""Figure 5 of Senk et al. 2020 from the tidy theory tables (panels A, B, C).

:func:`figure5` draws the theory-only figure of the seed example and returns
the figure and a dict of its axes, so that :mod:`mfval.figures.comparison` can
overlay simulation results on the same panels. The heatmaps adapt to any
grid size.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import gridspec, ticker  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

#: heatmap quantities: column -> (title, scale applied to the column)
HEATMAPS: dict[str, tuple[str, float]] = {
    "nu_ext_exc_hz": ("exc. external rate\n" + r"$\nu_\mathrm{ext,E}$ (1000/s)", 1e-3),
    "nu_ext_inh_hz": ("inh. external rate\n" + r"$\nu_\mathrm{ext,I}$ (1000/s)", 1e-3),
    "rate_hz": ("rate\n" + r"$\nu$ (1/s)", 1.0),
    "tau_rate_ms": ("fit time constant\n" + r"$\tau$ (ms)", 1.0),
    "W_rate": ("fit exc. weight\n" + r"$w_\mathrm{E}$", 1.0),
    "fit_error": ("fit error\n" + r"$\eta$ (%)", 1e2),
}
PANEL_A = ["nu_ext_exc_hz", "nu_ext_inh_hz", "rate_hz"]
#: colour of masked (infeasible) cells in the heatmaps
MASKED_COLOR = "0.8"
PANEL_C = ["tau_rate_ms", "W_rate", "fit_error"]

#: (dark, light) colour pairs for the transfer functions of panel B (Paul Tol's rainbow)
TF_COLORS = [
    ("#882E72", "#D1BBD7"),
    ("#4EB265", "#CAE0AB"),
    ("#E8601C", "#F6C141"),
    ("#555555", "#BBBBBB"),
    ("#1965B0", "#7BAFDE"),
    ("#DC050C", "#F1932D"),
]


def grid_matrix(scan: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu values, sigma values, matrix[sigma, mu]) of one column of the scan table."""
    table = scan.pivot_table(index="sigma_mV", columns="mu_mV", values=column, dropna=False)
    return table.columns.to_numpy(), table.index.to_numpy(), table.to_numpy()


def _grid_ticks(axis, values: np.ndarray) -> None:
    """Ticks of a heatmap axis in cell coordinates (cell i spans [i, i + 1]), labelled in mV.

    Up to 8 grid values: one tick per cell. Denser grids: at most 5 round
    values, placed by interpolation between the cell centres.
    """
    values = np.asarray(values, float)
    if len(values) <= 8:
        ticks = values
    else:
        locator = ticker.MaxNLocator(5, steps=[1, 2, 5, 10])
        ticks = locator.tick_values(values.min(), values.max())
        span = 1e-9 * max(1.0, float(np.ptp(values)))
        ticks = ticks[(ticks >= values.min() - span) & (ticks <= values.max() + span)]
    axis.set_ticks(np.interp(ticks, values, np.arange(len(values))) + 0.5)
    axis.set_ticklabels([f"{t:g}" for t in ticks])


def heatmap(
    ax, scan: pd.DataFrame, column: str, scale: float = 1.0, cmap: str = "viridis", symmetric=False
):
    """Draw one quantity over the (mu, sigma) grid; returns the mesh.

    Cells are drawn in cell coordinates (see :func:`grid_position`); missing
    values (infeasible working points) are masked and shown in grey.
    ``symmetric`` centres the colour scale on zero (for deviations).
    """
    mus, sigmas, values = grid_matrix(scan, column)
    values = np.ma.masked_invalid(values * scale)
    limits = {}
    if symmetric:
        vmax = float(np.nanmax(np.abs(values))) if values.count() else 1.0
        limits = {"vmin": -vmax, "vmax": vmax}
    colormap = plt.get_cmap(cmap).copy()
    colormap.set_bad(MASKED_COLOR)
    mesh = ax.pcolormesh(values, cmap=colormap, rasterized=values.size > 400, **limits)
    _grid_ticks(ax.xaxis, mus)
    _grid_ticks(ax.yaxis, sigmas)
    return mesh


def grid_position(scan: pd.DataFrame, mu_mV: float, sigma_mV: float) -> tuple[float, float]:
    """Heatmap coordinates of a working point (cell centres at i + 0.5)."""
    mus = np.sort(scan["mu_mV"].unique())
    sigmas = np.sort(scan["sigma_mV"].unique())
    return (
        float(np.interp(mu_mV, mus, np.arange(len(mus)))) + 0.5,
        float(np.interp(sigma_mV, sigmas, np.arange(len(sigmas)))) + 0.5,
    )


def _marked(ax, x: float, y: float, color: str) -> None:
    """A marked working point (transfer function shown in panel B) on a heatmap."""
    ax.plot(x, y, marker="o", ms=5, mfc="none", mec="white", mew=2.2)
    ax.plot(x, y, marker="o", ms=5, mfc="none", mec=color, mew=1.2)


def _star(ax, x: float, y: float) -> None:
    size = plt.rcParams["lines.markersize"]
    ax.plot(x, y, marker="*", color="white", markersize=size * 2.5, mec="none")
    ax.plot(x, y, marker="*", color="k", markersize=size * 2.0, mec="none")


def _label(ax, letter: str, x: float = -0.45, y: float = 1.12) -> None:
    ax.text(x, y, letter, transform=ax.transAxes, fontweight="bold", fontsize=12, va="bottom")


def phase_deg(values: np.ndarray) -> np.ndarray:
    """Phase of complex values in degrees, in (-180, 180].

    Examples
    --------
    >>> phase_deg(np.array([1j, -1.0]))
    array([ 90., 180.])
    """
    return np.degrees(np.angle(values))


def figure5(
    scan: pd.DataFrame,
    transfer: pd.DataFrame,
    params: dict,
    width: float = 10.0,
    extra: dict | None = None,
) -> tuple[plt.Figure, dict]:
    """Draw the theory-only Figure 5.

    Parameters
    ----------
    scan, transfer : DataFrame
        Tables of :func:`mfval.theory.scan.scan_table` and :func:`mfval.theory.scan.transfer_table`.
    params : dict
        Loaded parameters (for marked points and the stability point).
    width : float
        Figure width in inches.
    extra : dict, optional
        A fourth heatmap per row: ``{"A": (column, title, scale), "C": ...}``,
        drawn with a diverging colour scale centred on zero (used by
        :mod:`mfval.figures.comparison` for deviation maps; columns of ``scan``).

    Returns
    -------
    fig, axes
        ``axes`` maps each heatmap column name, ``"amplitude"`` and ``"phase"``
        to its Axes, and ``"tf_colors"`` maps (mu_mV, sigma_mV) of each marked
        point to its colour pair.
    """
    plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7})
    extra = extra or {}
    n_cols = 4 if extra else 3
    fig = plt.figure(figsize=(width * (2 * n_cols + 4) / 10, width * 0.5))
    outer = gridspec.GridSpec(
        1, 2 * n_cols + 4, figure=fig, left=0.07, right=0.98, bottom=0.1, top=0.86
    )
    grid = gridspec.GridSpecFromSubplotSpec(
        2, n_cols, subplot_spec=outer[0, : 2 * n_cols], hspace=0.55, wspace=0.5
    )
    axes: dict = {}
    star = np.asarray(params["scan"]["stability_point"]) * 1e3
    marked = np.asarray(params["scan"]["marked_points"]) * 1e3
    mu_range = (scan["mu_mV"].min(), scan["mu_mV"].max())
    sigma_range = (scan["sigma_mV"].min(), scan["sigma_mV"].max())

    def inside(mu: float, sigma: float) -> bool:
        return mu_range[0] <= mu <= mu_range[1] and sigma_range[0] <= sigma <= sigma_range[1]

    rows = [PANEL_A, PANEL_C]
    cells = []
    for r, (letter, columns) in enumerate(zip("AC", rows)):
        for c, column in enumerate(columns):
            cells.append((r * n_cols + c, column, *HEATMAPS[column], "viridis", False))
        if letter in extra:
            column, title, scale = extra[letter]
            cells.append((r * n_cols + 3, column, title, scale, "RdBu_r", True))
    for index, column, title, scale, cmap, symmetric in cells:
        k = index % n_cols
        ax = fig.add_subplot(grid[index])
        mesh = heatmap(ax, scan, column, scale, cmap, symmetric)
        cbar = fig.colorbar(mesh, ax=ax)
        cbar.locator = ticker.MaxNLocator(nbins=4)
        cbar.update_ticks()
        ax.set_title(title)
        if k == 0:
            ax.set_ylabel(r"std input $\sigma$ (mV)")
        if k == 1:
            ax.set_xlabel(r"mean input $\mu$ (mV)")
        for c, (mu, sigma) in enumerate(marked):
            if inside(mu, sigma) and not np.allclose((mu, sigma), star):
                _marked(ax, *grid_position(scan, mu, sigma), TF_COLORS[c % len(TF_COLORS)][0])
        if inside(*star):
            _star(ax, *grid_position(scan, *star))
        axes[column] = ax
    _label(axes[PANEL_A[0]], "A")
    _label(axes[PANEL_C[0]], "C")
    if "status" in scan and (scan["status"] != "ok").any():
        axes[PANEL_C[0]].text(
            0.0,
            -0.32,
            "grey: infeasible (negative external rates)",
            transform=axes[PANEL_C[0]].transAxes,
            fontsize=6,
            va="top",
        )

    tf_grid = gridspec.GridSpecFromSubplotSpec(
        2, 1, subplot_spec=outer[0, 2 * n_cols + 1 :], hspace=0.08
    )
    ax_amp = fig.add_subplot(tf_grid[0])
    ax_phase = fig.add_subplot(tf_grid[1], sharex=ax_amp)
    _label(ax_amp, "B", x=-0.3, y=1.02)
    colors: dict = {}
    handles_dark, handles_light, labels = [], [], []
    for c, (mu, sigma) in enumerate(marked):
        rows = transfer[np.isclose(transfer["mu_mV"], mu) & np.isclose(transfer["sigma_mV"], sigma)]
        if rows.empty:
            continue
        dark, light = TF_COLORS[c % len(TF_COLORS)]
        colors[(float(mu), float(sigma))] = (dark, light)
        f = rows["frequency_hz"].to_numpy()
        tf = rows["tf_re_hz_per_mV"].to_numpy() + 1j * rows["tf_im_hz_per_mV"].to_numpy()
        fit = rows["fit_re_hz_per_mV"].to_numpy() + 1j * rows["fit_im_hz_per_mV"].to_numpy()
        ax_amp.plot(f, np.abs(tf), color=dark)
        ax_amp.plot(f, np.abs(fit), color=light, ls="none", marker="o", ms=1.0)
        ax_phase.plot(f, phase_deg(tf), color=dark)
        ax_phase.plot(f, phase_deg(fit), color=light, ls="none", marker="o", ms=1.0)
        handles_dark.append(Patch(facecolor=dark))
        handles_light.append(Patch(facecolor=light))
        labels.append(f"({mu:g}, {sigma:g})")
    ax_amp.set_xscale("log")
    ax_amp.set_ylabel(r"amplitude $|N|$ (1/(s$\cdot$mV))")
    ax_phase.set_ylabel(r"phase $\angle N$ (°)")
    ax_phase.set_xlabel("frequency (Hz)")
    plt.setp(ax_amp.get_xticklabels(), visible=False)
    ax_amp.set_title(r"transfer function $N$")
    if labels:
        ax_phase.legend(
            handles=handles_dark + handles_light,
            labels=[""] * len(labels) + labels,
            title=r"$(\mu, \sigma)$ in mV",
            ncol=2,
            handletextpad=0.5,
            handlelength=1.0,
            columnspacing=-0.5,
            loc="lower left",
        )
    ax_amp.legend(
        handles=[
            plt.Line2D([], [], color="k", label="LIF theory (nnmt)"),
            plt.Line2D([], [], color="k", ls="none", marker="o", ms=1.5, label="rate model (fit)"),
        ],
        loc="lower left",
    )
    axes.update(amplitude=ax_amp, phase=ax_phase, tf_colors=colors)
    return fig, axes


def save_figure(fig: plt.Figure, stem) -> list:
    """Save as ``stem.png`` and ``stem.pdf`` (atomically); returns the paths."""
    from mfval.io import write_atomic

    paths = []
    for suffix in (".png", ".pdf"):
        path = write_atomic(
            f"{stem}{suffix}", lambda tmp: fig.savefig(tmp, dpi=200, bbox_inches="tight")
        )
        paths.append(path)
    plt.close(fig)
    return paths
