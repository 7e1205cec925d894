"""Network protocol spec: plain data that fully defines a run of the E-I network.

:class:`NetworkSpec` (model, connectivity rule, drive, durations, seed, recorded
neurons, simulator options) with its :class:`NetworkPerturbation` (planted errors),
built by :func:`make_network_spec`; :func:`initial_state` is the helper every backend
needs. See :mod:`mfval.simulation.network` for the protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mfval.config import require_positive
from mfval.simulation.model.connectivity import (
    RingConnectivity,
    connectivity_for,
    population_slices,
)
from mfval.simulation.model.drive import check_duration, check_poisson_drive
from mfval.simulation.model.recording import StepGrid

#: simulators with a backend for this protocol
SIMULATORS = ("brian2", "nest")


def theory_for_point(mu: float, sigma: float, params: dict) -> dict:
    """nu_ext (Hz) and the self-consistent rates (Hz) for (mu, sigma) in V.

    Raises :class:`mfval.theory.mean_field.InfeasibleWorkingPointError` (naming
    mu and sigma) for a point the theory cannot realize.
    """
    from mfval.theory.mean_field import working_point_for

    return working_point_for(mu, sigma, params["network"])


@dataclass(frozen=True)
class NetworkPerturbation:
    """Deliberate errors of one run (plain data); the default is no perturbation.

    Attributes
    ----------
    weight_scale : tuple of tuples
        Factor on the recurrent PSC amplitude W[t, s] of each pathway
        (targets x sources), e.g. ``((1.05, 1), (1, 1))`` for a 5 % error in
        E->E only.
    drop_external : {None, "exc", "inh"}
        Drop one external Poisson source.
    poisson_split_p : float, optional
        Binomial split of the external drive with this probability per
        sub-source instead of exact Poisson counts (Brian2 only).
    allow_biased_poisson : bool
        Allow ``poisson_split_p`` above ``max_poisson_p``.
    tau_s : float, optional
        Simulated synaptic time constant (s) instead of the nominal one, with
        every PSC amplitude scaled by tau_s_nominal / tau_s so that the PSC
        charge W tau_s (hence the mean input) is kept.
    tau_m_scale : float
        Factor on the simulated membrane time constant (nothing else changes,
        so the mean input and its fluctuations change with it).
    drive_scale : tuple of float
        Factor on the external Poisson rates (both sources) of each target
        population, e.g. ``(1.05, 1.0)`` for a 5 % stronger drive of E only;
        ``()``: none. The rates are run-time data (no compilation).
    """

    weight_scale: tuple = ((1.0, 1.0), (1.0, 1.0))
    drop_external: str | None = None
    poisson_split_p: float | None = None
    allow_biased_poisson: bool = False
    tau_s: float | None = None
    tau_m_scale: float = 1.0
    drive_scale: tuple = ()

    def __post_init__(self):
        if self.drop_external not in (None, "exc", "inh"):
            raise ValueError(
                f"drop_external must be None, 'exc' or 'inh', got {self.drop_external!r}"
            )
        scale = np.asarray(self.weight_scale, float)
        if scale.ndim != 2 or not np.all(np.isfinite(scale)):
            raise ValueError(f"weight_scale must be a finite matrix, got {self.weight_scale!r}")
        object.__setattr__(self, "weight_scale", tuple(tuple(map(float, r)) for r in scale))
        if self.tau_s is not None:
            require_positive("tau_s", self.tau_s, "s")
        require_positive("tau_m_scale", self.tau_m_scale)
        drive = tuple(float(x) for x in np.ravel(np.asarray(self.drive_scale, float)))
        if not all(math.isfinite(x) and x > 0 for x in drive):
            raise ValueError(
                f"drive_scale must hold positive finite factors, got {self.drive_scale!r}"
            )
        object.__setattr__(self, "drive_scale", drive)

    @classmethod
    def from_options(cls, options: dict) -> NetworkPerturbation:
        """A perturbation from the planted-error keywords of the earlier interface.

        ``weight_scale_exc`` (factor on every weight from E), ``weight_scale_inh``
        (factor on every weight from I), ``drop_external``, ``poisson_split_p``,
        ``allow_biased_poisson``, ``weight_scale``, ``tau_s``, ``tau_m_scale``,
        ``drive_scale``; the keys are removed from ``options``.
        """
        kw = {}
        exc = options.pop("weight_scale_exc", 1.0)
        scale = np.array(options.pop("weight_scale", ((1.0, 1.0), (1.0, 1.0))), float)
        scale[:, 0] *= float(exc)
        scale[:, 1] *= float(options.pop("weight_scale_inh", 1.0))
        kw["weight_scale"] = scale
        for name in (
            "drop_external",
            "poisson_split_p",
            "allow_biased_poisson",
            "tau_s",
            "tau_m_scale",
            "drive_scale",
        ):
            if name in options:
                kw[name] = options.pop(name)
        return cls(**kw)


@dataclass(frozen=True)
class NetworkSpec(StepGrid):
    """Plain data that fully defines one network run (SI units).

    ``n_blocks`` is an analysis choice (blocks of the standard errors): it
    is not part of the recording's identity (:func:`recording_key`), so a
    new block count re-measures the stored recording.
    """

    mu: float
    sigma: float
    network: dict
    nu_ext: tuple
    theory_rates: tuple
    dt: float
    warmup: float
    duration: float
    n_blocks: int
    n_record: int
    seed: int
    max_poisson_p: float
    simulator: str = "brian2"
    backend: dict = field(default_factory=dict)
    perturbation: NetworkPerturbation = field(default_factory=NetworkPerturbation)
    #: connectivity rule: None (random fixed in-degree) or a ring boxcar
    connectivity: RingConnectivity | None = None

    def backend_options(self) -> dict:
        """Backend options with defaults filled in (see the backends)."""
        defaults = {
            "brian2": {"target": "cpp_standalone", "openmp_threads": 0, "poisson_sampler": "table"},
            "nest": {"threads": 1},
        }[self.simulator]
        return {**defaults, **self.backend}

    def simulated_network(self) -> dict:
        """Network parameters as simulated: the nominal ones with the perturbation applied."""
        net = dict(self.network)
        pert = self.perturbation
        W = np.asarray(net["W"], float) * np.asarray(pert.weight_scale, float)
        W_ext = np.asarray(net["W_ext"], float)
        if pert.tau_s is not None:
            charge = float(net["tau_s"]) / pert.tau_s
            W, W_ext = W * charge, W_ext * charge
            net["tau_s"] = float(pert.tau_s)
        net["tau_m"] = float(net["tau_m"]) * pert.tau_m_scale
        net["W"], net["W_ext"] = W, W_ext
        return net

    def drive(self) -> dict:
        """:func:`check_poisson_drive` of the external rates (with the split, if any)."""
        pert = self.perturbation
        return check_poisson_drive(
            self.nu_ext,
            self.dt,
            {
                "network": self.simulated_network(),
                "simulation": {"max_poisson_p": self.max_poisson_p},
            },
            pert.poisson_split_p,
            pert.allow_biased_poisson,
        )

    def lam(self) -> np.ndarray:
        """Expected external counts per step and source (after a dropped source)."""
        lam = np.asarray(self.nu_ext, float) * self.dt
        if self.perturbation.drop_external == "exc":
            lam[0] = 0.0
        elif self.perturbation.drop_external == "inh":
            lam[1] = 0.0
        return lam

    def lam_per_neuron(self) -> np.ndarray | None:
        """Expected external counts per step, per source and neuron, shape (2, N), or None.

        None without a ``drive_scale`` perturbation (every neuron gets :meth:`lam`);
        otherwise :meth:`lam` times the factor of each neuron's population.
        """
        scale = self.perturbation.drive_scale
        if not scale:
            return None
        pops = population_slices(self.network)
        if len(scale) != len(pops):
            raise ValueError(
                f"drive_scale = {scale!r} needs one factor per population ({len(pops)})"
            )
        factor = np.concatenate([np.full(n, f) for (_, _, n), f in zip(pops, scale)])
        return self.lam()[:, None] * factor[None, :]


def make_network_spec(
    mu: float,
    sigma: float,
    params: dict,
    seed: int | None = None,
    duration: float | None = None,
    warmup: float | None = None,
    n_blocks: int | None = None,
    n_record: int = 100,
    theory: dict | None = None,
    simulator: str = "brian2",
    backend: dict | None = None,
    perturbation: NetworkPerturbation | None = None,
    connectivity: RingConnectivity | None = None,
) -> NetworkSpec:
    """The spec of a run at working point (mu, sigma) (V), checked before anything runs.

    Defaults come from ``params['simulation']``; the external rates and the
    theory rates from :func:`theory_for_point` unless ``theory`` is given.
    ``connectivity``: None (random fixed in-degree) or a
    :class:`~mfval.simulation.model.connectivity.RingConnectivity` (checked here).

    Raises
    ------
    InfeasibleWorkingPointError
        The theory cannot realize (mu, sigma).
    ValueError
        Bad duration, warm-up, block count, dt, simulator, perturbation or
        ring (length, radius), naming the parameter and its value.
    """
    sim = params["simulation"]
    duration = check_duration(sim["network_duration"] if duration is None else duration)
    warmup = float(sim["network_warmup"] if warmup is None else warmup)
    if not (math.isfinite(warmup) and warmup >= 0):
        raise ValueError(f"warmup must be >= 0, got warmup = {warmup!r} s")
    seed = int(sim["seed"] if seed is None else seed)
    n_blocks = int(sim["network_blocks"] if n_blocks is None else n_blocks)
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be >= 2 for a standard error, got n_blocks = {n_blocks}")
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, got simulator = {simulator!r}")
    backend = dict(backend or {})
    if simulator == "brian2":
        target = backend.get("target", "cpp_standalone")
        if target not in ("cython", "numpy", "cpp_standalone"):
            raise ValueError(f"unknown target = {target!r}")
        sampler = backend.get("poisson_sampler", "table")
        if sampler not in POISSON_SAMPLERS:
            raise ValueError(f"poisson_sampler must be one of {POISSON_SAMPLERS}, got {sampler!r}")
    dt = float(sim["dt"])
    if theory is None:
        theory = theory_for_point(mu, sigma, params)
    nu_ext = np.asarray(theory["nu_ext"], float)
    n_pops = len(params["network"]["populations"])
    theory_rates = np.ravel(theory.get("firing_rates", np.full(n_pops, np.nan)))
    spec = NetworkSpec(
        mu=float(mu),
        sigma=float(sigma),
        network={k: v for k, v in params["network"].items()},
        nu_ext=tuple(float(x) for x in nu_ext),
        theory_rates=tuple(float(x) for x in theory_rates),
        dt=dt,
        warmup=warmup,
        duration=duration,
        n_blocks=n_blocks,
        n_record=int(n_record),
        seed=seed,
        max_poisson_p=float(sim["max_poisson_p"]),
        simulator=simulator,
        backend=backend,
        perturbation=perturbation or NetworkPerturbation(),
        connectivity=connectivity,
    )
    if connectivity is not None:
        connectivity.check(spec.simulated_network())
    spec.drive()  # dt, rates and split checked before anything is simulated
    if spec.duration_steps < n_blocks or spec.duration_steps % n_blocks:
        raise ValueError(
            f"duration = {duration!r} s must hold a whole number of steps per block "
            f"(dt = {dt!r} s, n_blocks = {n_blocks})"
        )
    return spec


def initial_state(spec: NetworkSpec) -> dict:
    """Connectivity, initial v, recorded neurons and initial I of a run (shared by backends).

    Returns
    -------
    dict
        ``conn`` (:func:`~mfval.simulation.model.connectivity.connectivity_for`
        of the spec's rule), ``v0`` (V relative to E_L,
        shape (N,)), ``record_idx`` (``n_record`` neurons per population,
        sorted, global indices), ``I0`` (A).
    """
    net = spec.network
    rng = np.random.RandomState(spec.seed)
    pops = population_slices(net)
    n_total = int(sum(n for _, _, n in pops))
    conn = connectivity_for(net, rng, spec.connectivity)
    v0 = rng.uniform(0.0, net["V_th"] - net["V_reset"], size=n_total) + (
        net["V_reset"] - net["E_L"]
    )
    record_idx = np.concatenate(
        [o + np.sort(rng.choice(n, size=min(spec.n_record, n), replace=False)) for _, o, n in pops]
    )
    I0 = net["C"] * spec.mu / net["tau_m"]
    out_degree = np.zeros(n_total, np.int64)
    for i, _ in conn.values():
        out_degree += np.bincount(i, minlength=n_total)
    return {
        "conn": conn,
        "v0": v0,
        "record_idx": record_idx,
        "I0": I0,
        "out_degree": out_degree.astype(np.int32),
    }


#: exact Poisson samplers of the Brian2 drive: Brian2's ``poisson()``,
#: sequential CDF inversion, tabulated CDF inversion from the mode
POISSON_SAMPLERS = ("brian2", "inversion", "table")
