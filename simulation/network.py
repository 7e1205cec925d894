"""The E-I spiking network of the design's model table at one working point (Brian2).

Model
-----
All neurons are the shared LIF model of :mod:`simulation.lif` (NEST
``iaf_psc_exp`` semantics, exact integration, potentials relative to E_L):
one NeuronGroup, populations in the order of ``params['network']
['populations']`` (E first, then I).

- Recurrent connectivity: fixed in-degree. Every neuron of target population
  t receives exactly ``K[t, s]`` connections from population s. The sources
  of one target are drawn **without replacement** (no multapses) and a neuron
  never connects to itself (no autapses): for each target, the ``K``
  smallest of uniform random keys over the source population, with the key
  of the target itself set above all others (vectorized ``argpartition``).
  PSC amplitude ``W[t, s]`` (scalar per pathway, from the namespace), a single
  delay ``params['network']['delay']`` for all recurrent connections.
- External drive: two Poisson sources per neuron (K_ext = 1 each) at the
  rates ``nu_ext`` that the theory derives for (mu, sigma), weights
  ``W_ext[t, :]``. Their counts per time step are drawn **exactly** from
  Poisson(rate * dt) (:data:`simulation.lif.FAST_POISSON_INPUT_CODE` for
  C++ standalone and Cython: by default inversion of a tabulated CDF with a guide table, one
  uniform for lam < 100, Brian2's PTRS sampler above, see
  :func:`simulation.lif.table_poisson_function`; Brian2's ``poisson()`` for
  other targets), so there
  is no rate * dt <= 1 limit and no binomial variance deficit. A binomial
  split is available only as a planted error (``poisson_split_p``), see
  :func:`check_poisson_drive`.
- Initial state: v uniform in [V_reset, V_th) (relative), I at its mean
  value C mu / tau_m; a warm-up (``params['simulation']['network_warmup']``)
  is simulated and discarded.
- Seeds: ``brian2.seed(seed)`` (Cython) or the same seeding of the
  standalone generators at run time for the Poisson drive, a
  ``numpy.random.RandomState(seed)`` for connectivity and initial v. The
  same seed gives identical spikes (``cpp_standalone`` and ``cython`` agree).

Measurement
-----------
After the warm-up, the measurement window of length ``duration`` is cut into
``n_blocks`` consecutive blocks of equal length. ``rate_hz`` is the
population rate over the whole window; ``rate_se_hz`` is the standard error
of the mean of the ``n_blocks`` block rates, std(block rates, ddof=1) /
sqrt(n_blocks). This is a fair uncertainty because the blocks (>= 100 ms for
the defaults, 1 s / 10) are much longer than every correlation time of the
network activity (tau_m = 5 ms, tau_s = 0.5 ms, delay 1.5 ms; the
asynchronous state has no slow fluctuations), so the block means are
approximately independent, and the estimate includes the population-rate
fluctuations that a per-neuron estimate would miss. (Independent trials,
i.e. different seeds, would in addition sample the quenched connectivity;
the comparison layer can run several seeds with :func:`network_task`.)

``cv`` is the mean over neurons (with at least 3 spikes in the window) of
the coefficient of variation of their inter-spike intervals.
``mu_realized_mV`` is tau_m <I> / C for a sample of neurons of each
population (time average over the window of the synaptic current, recorded
every step), i.e. the realized mean input relative to E_L, to compare with
the requested mu; its standard error is again over blocks. I is sampled
every step after all jumps of that step; since the exact propagator lets
it decay continuously over the step, the continuous-time mean is the sample
mean times (tau_s/dt)(1 - exp(-dt/tau_s)) (measured: without this
correction, and sampling before the external jumps, mu came out 8.0 instead
of 10 mV at (10, 10) mV).

``sigma_realized_mV`` is the realized input fluctuation in the nnmt
convention, sigma^2 = tau_m (tau_s/C)^2 sum_k rate_k W_k^2, estimated from the
same recorded currents: with samples after all jumps of each step, the
shot-noise variance of the samples is sum_k rate_k W_k^2 dt / (1 - a^2),
a = exp(-dt/tau_s), exactly (see :func:`_sigma_blocks`). Its standard error
is over the same blocks. At (10, 10) mV (half-size network, 0.4 s, 400
recorded neurons per population) it came out 9.98 +- 0.01 mV, vs 10.03 mV
from the formula at the simulated rates (the recurrent spike trains are not
Poisson); with a planted binomial split p = 0.05 it dropped by 0.20 +- 0.02
mV (formula: 0.22 mV), which the rates alone (-3 %) do not reveal.
"""

from __future__ import annotations

import atexit
import math
import time

import numpy as np
import pandas as pd

from mfval.params import stable_hash
from mfval.tasks import Task
from simulation.device import (
    configure_runtime,
    load_standalone_template,
    new_standalone_device,
    new_standalone_dir,
    remove_standalone_dir,
    save_standalone_template,
)
from simulation.lif import make_lif_group

#: bump when the content of a network result changes
NETWORK_SCHEMA = 4

#: largest expected Poisson count per step and source (int32 counts; far above any real use)
MAX_COUNTS_PER_STEP = 1.0e6


# ----------------------------------------------------------------------------- checks


def check_duration(duration: float, name: str = "duration") -> float:
    """Return ``duration`` as float or raise ValueError naming it."""
    try:
        value = float(duration)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {name} = {duration!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {name} = {duration!r} s")
    return value


def check_poisson_drive(
    nu_ext,
    dt: float,
    params: dict,
    split_p: float | None = None,
    allow_biased_poisson: bool = False,
) -> dict:
    """Check that the external Poisson sources are valid at time step ``dt``.

    Rules (the two Poisson pitfalls and the integration pitfall of the design):

    - ``dt`` must be positive, finite and smaller than tau_s (the synaptic
      current must be resolved; the exact propagator then applies to the
      per-step input counts) and must divide the delay;
    - the expected count per step, rate * dt, must stay below
      :data:`MAX_COUNTS_PER_STEP` (int32 counts);
    - with a binomial split (``split_p``), each source's count is
      Binomial(n, p) with n = round(rate * dt / p) >= 1 sub-sources; its
      variance is short of Poisson by the factor (1 - p), so p must not exceed
      ``params['simulation']['max_poisson_p']`` unless
      ``allow_biased_poisson=True`` (planted-error mode only).

    Returns
    -------
    dict
        ``lam`` (expected counts per step, per source), and for a split
        ``n`` (sub-sources) and ``p`` (per sub-source probability, adjusted
        so that n p = lam exactly).

    Raises
    ------
    ValueError
        Naming ``dt`` (and its value) or ``poisson_split_p``.
    """
    net, sim = params["network"], params["simulation"]
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be positive and finite, got dt = {dt!r} s")
    if dt >= net["tau_s"]:
        raise ValueError(
            f"dt = {dt!r} s is not smaller than tau_s = {net['tau_s']!r} s: the Poisson "
            "sources' shot noise would not be resolved by the synaptic current"
        )
    steps = net["delay"] / dt
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"dt = {dt!r} s does not divide the delay {net['delay']!r} s")
    nu_ext = np.asarray(nu_ext, float)
    if np.any(~np.isfinite(nu_ext)) or np.any(nu_ext < 0):
        raise ValueError(f"external rates must be finite and >= 0, got {nu_ext} Hz")
    lam = nu_ext * dt
    if np.any(lam > MAX_COUNTS_PER_STEP):
        raise ValueError(
            f"dt = {dt!r} s gives {lam.max():.3g} expected input counts per step and source "
            f"(> {MAX_COUNTS_PER_STEP:g}): the Poisson source is invalid at this dt"
        )
    out = {"lam": lam}
    if split_p is not None:
        p = float(split_p)
        if not (0 < p <= 1):
            raise ValueError(f"poisson_split_p must be in (0, 1], got poisson_split_p = {p!r}")
        if p > sim["max_poisson_p"] and not allow_biased_poisson:
            raise ValueError(
                f"poisson_split_p = {p!r} exceeds max_poisson_p = {sim['max_poisson_p']!r}: a "
                "binomial split biases the input variance by (1 - p); pass "
                "allow_biased_poisson=True only to plant this error"
            )
        n = np.maximum(1, np.round(lam / p)).astype(int)
        out["n"] = n
        out["p"] = np.where(lam > 0, lam / n, 0.0)
        if np.any(out["p"] > 1):
            raise ValueError(f"dt = {dt!r} s makes a split Poisson source invalid (p > 1)")
    return out


# ----------------------------------------------------------------------------- connectivity


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


# ----------------------------------------------------------------------------- theory


def theory_for_point(mu: float, sigma: float, params: dict) -> dict:
    """nu_ext (Hz) and the self-consistent rates (Hz) for (mu, sigma) in V.

    Raises :class:`theory.mean_field.InfeasibleWorkingPointError` (naming
    mu and sigma) for a point the theory cannot realize.
    """
    from theory.mean_field import external_rates_for_fixed_input, nnmt_arrays, working_point

    arrays = nnmt_arrays(params["network"])
    nu_ext = external_rates_for_fixed_input(mu, sigma, arrays)
    wp = working_point(nu_ext, arrays)
    return {"mu": float(mu), "sigma": float(sigma), "nu_ext": nu_ext, **wp}


# ----------------------------------------------------------------------------- simulation


#: exact Poisson samplers of the external drive (Cython): Brian2's ``poisson()``,
#: sequential CDF inversion, tabulated CDF inversion from the mode
POISSON_SAMPLERS = ("brian2", "inversion", "table")


def _input_code(
    split: dict | None,
    drop_external: str | None,
    extra_ns: dict,
    fast_poisson: bool | str = False,
):
    """Per-step external drive code and namespace additions.

    ``fast_poisson``: False or ``"brian2"`` (Brian2's ``poisson()``), True or
    ``"inversion"`` (:func:`simulation.lif.fast_poisson_function`),
    ``"table"`` (:func:`simulation.lif.table_poisson_function`).
    """
    from simulation.lif import (
        FAST_POISSON_INPUT_CODE,
        POISSON_INPUT_CODE,
        fast_poisson_function,
        table_poisson_function,
    )

    sampler = {False: "brian2", True: "inversion"}.get(fast_poisson, fast_poisson)
    if sampler not in POISSON_SAMPLERS:
        raise ValueError(f"poisson_sampler must be one of {POISSON_SAMPLERS}, got {sampler!r}")
    if split is None:
        if sampler == "inversion":
            extra_ns["poisson_fast"] = fast_poisson_function()
            return FAST_POISSON_INPUT_CODE
        if sampler == "table":
            extra_ns["poisson_fast"] = table_poisson_function()
            return FAST_POISSON_INPUT_CODE
        return POISSON_INPUT_CODE
    import brian2 as b2

    terms = []
    for idx, (name, weight) in enumerate((("exc", "W_exc"), ("inh", "W_inh"))):
        if drop_external == name or split["p"][idx] == 0:
            continue
        func = b2.BinomialFunction(
            int(split["n"][idx]),
            float(split["p"][idx]),
            approximate=False,
            name=f"_binomial_split_{name}*",
        )
        extra_ns[f"binomial_{name}"] = func
        terms.append(f"{weight} * binomial_{name}()")
    return ("I += " + " + ".join(terms)) if terms else ""


def build_brian_network(
    params: dict,
    conn: dict,
    lam,
    v0: np.ndarray,
    I0: float,
    record_idx: np.ndarray,
    weight_scale_exc: float = 1.0,
    split: dict | None = None,
    drop_external: str | None = None,
    fast_poisson: bool | str = False,
) -> dict:
    """Brian2 objects of the network (in the current scope and device).

    Parameters
    ----------
    conn : dict
        From :func:`build_connectivity`.
    lam : array of shape (2,)
        Expected external counts per step (exc., inh. source).
    v0 : array
        Initial membrane potentials relative to E_L, V.
    I0 : float
        Initial synaptic current, A.
    record_idx : array
        Neurons whose current is recorded.
    split : dict, optional
        Planted-error binomial split (from :func:`check_poisson_drive`).
    fast_poisson : bool or str
        Exact Poisson sampler (Cython only), see :func:`_input_code`:
        ``"inversion"`` (True; 1.8x faster drive than Brian2's ``poisson()``
        at lam ~ 10, measured) or ``"table"`` (tabulated CDF inversion).

    Returns
    -------
    dict
        ``network``, ``group``, ``synapses`` (dict by (t, s)), ``spikes``,
        ``current``.
    """
    import brian2 as b2

    net = params["network"]
    W_ext = np.asarray(net["W_ext"], float)
    if not np.allclose(W_ext, W_ext[0]):
        raise NotImplementedError("external weights that differ between target populations")
    W = np.asarray(net["W"], float)
    extra_ns: dict = {}
    code = _input_code(split, drop_external, extra_ns, fast_poisson)
    group = make_lif_group(
        len(v0),
        net,
        W_ext[0, 0],
        W_ext[0, 1],
        name="network",
        input_code=code,
        extra_namespace=extra_ns,
    )
    group.v = v0 * b2.volt
    group.I = I0 * b2.amp
    group.lam_exc = lam[0]
    group.lam_inh = lam[1]
    synapses = {}
    for (t, s), (i, j) in conn.items():
        if len(i) == 0:
            continue
        weight = W[t, s] * (weight_scale_exc if s == 0 else 1.0)
        syn = b2.Synapses(
            group,
            group,
            on_pre="I_post += w_rec",
            delay=net["delay"] * b2.second,
            namespace={"w_rec": weight * b2.amp},
            name=f"syn_{t}{s}",
        )
        syn.connect(i=i, j=j)
        synapses[(t, s)] = syn
    spikes = b2.SpikeMonitor(group, name="spikes")
    current = b2.StateMonitor(group, "I", record=record_idx, when="before_groups", name="current")
    network = b2.Network(group, *synapses.values(), spikes, current)
    return {
        "network": network,
        "group": group,
        "synapses": synapses,
        "spikes": spikes,
        "current": current,
    }


#: compiled standalone models of this process, by structure key (most recent last)
_STANDALONE_MODELS: dict = {}
#: most standalone models kept per process (each holds a build folder)
MAX_STANDALONE_MODELS = 2


def _clear_standalone_models() -> None:
    for model in _STANDALONE_MODELS.values():
        remove_standalone_dir(model["directory"])
    _STANDALONE_MODELS.clear()


atexit.register(_clear_standalone_models)


def _standalone_load_code(device, objects: dict, n_threads: int) -> str:
    """C++ for ``main``: per-run seed, connectivity and recorded neurons from files.

    Read from ``mfval_run/`` of the build folder (written by
    :func:`_write_standalone_inputs` before every run), so that one binary
    serves every seed and working point.
    """
    lines = [
        "{",
        "auto _mfval_load = [](const char* fn, char* p, size_t n) {",
        "    std::ifstream f(fn, std::ios::binary);",
        "    f.read(p, n);",
        "    if (!f || (size_t)f.gcount() != n) {",
        '        std::cerr << "mfval: cannot read " << fn << std::endl;',
        "        exit(1);",
        "    }",
        "};",
        "long long _mfval_seed = 0;",
        "{",
        '    std::ifstream f("mfval_run/seed.txt");',
        "    f >> _mfval_seed;",
        '    if (!f) { std::cerr << "mfval: cannot read seed" << std::endl; exit(1); }',
        "}",
        f"for (int _i = 0; _i < {max(1, n_threads)}; _i++)",
        "    brian::_random_generators[_i].seed(_mfval_seed + _i);",
    ]
    for syn in objects["synapses"].values():
        for var in ("_synaptic_pre", "_synaptic_post"):
            arr = device.get_array_name(syn.variables[var], access_data=False)
            lines.append(
                f'_mfval_load("mfval_run/{syn.name}{var}.dat", (char*)&brian::{arr}[0], '
                f"brian::{arr}.size() * sizeof(int32_t));"
            )
    idx = objects["current"].variables["_indices"]
    arr = device.get_array_name(idx)
    lines.append(
        f'_mfval_load("mfval_run/current_indices.dat", (char*)brian::{arr}, '
        f"{idx.size} * sizeof(int32_t));"
    )
    lines.append("}")
    return "\n".join(lines)


def _write_standalone_inputs(model: dict, conn: dict, record_idx: np.ndarray, seed: int) -> None:
    folder = model["directory"] / "mfval_run"
    folder.mkdir(exist_ok=True)
    (folder / "seed.txt").write_text(f"{int(seed)}\n")
    for (t, s), syn in model["objects"]["synapses"].items():
        i, j = conn[(t, s)]
        np.ascontiguousarray(i, np.int32).tofile(folder / f"{syn.name}_synaptic_pre.dat")
        np.ascontiguousarray(j, np.int32).tofile(folder / f"{syn.name}_synaptic_post.dat")
    np.ascontiguousarray(record_idx, np.int32).tofile(folder / "current_indices.dat")


def _standalone_model(key: str, build_args: dict, openmp_threads: int, total: float, dt: float):
    """The compiled standalone model for ``key`` (built on a miss); also the compile time.

    ``build_args`` are the arguments of :func:`build_brian_network` for the
    build; everything that varies between seeds and working points (seed,
    connectivity, recorded neurons, v, I, lam) is set again at every run.
    """
    import brian2 as b2

    if key in _STANDALONE_MODELS:
        model = _STANDALONE_MODELS.pop(key)
        _STANDALONE_MODELS[key] = model  # most recently used last
        return model, 0.0
    while len(_STANDALONE_MODELS) >= MAX_STANDALONE_MODELS:
        old = _STANDALONE_MODELS.pop(next(iter(_STANDALONE_MODELS)))
        remove_standalone_dir(old["directory"])
    t0 = time.perf_counter()
    directory = new_standalone_dir()
    load_standalone_template(directory, key)
    device = new_standalone_device(directory, openmp_threads)
    try:
        b2.start_scope()
        b2.defaultclock.dt = dt * b2.second
        objects = build_brian_network(**build_args)
        device.insert_code("main", _standalone_load_code(device, objects, openmp_threads))
        objects["network"].run(total * b2.second)
        device.build(directory=str(directory), compile=True, run=False)
    except BaseException:
        remove_standalone_dir(directory)
        raise
    finally:
        b2.set_device("runtime")
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    save_standalone_template(directory, key)
    model = {"device": device, "objects": objects, "directory": directory}
    _STANDALONE_MODELS[key] = model
    return model, time.perf_counter() - t0


def simulate_network(
    mu: float,
    sigma: float,
    params: dict,
    duration: float | None = None,
    seed: int | None = None,
    n_blocks: int | None = None,
    theory: dict | None = None,
    weight_scale_exc: float = 1.0,
    drop_external: str | None = None,
    poisson_split_p: float | None = None,
    allow_biased_poisson: bool = False,
    warmup: float | None = None,
    n_record: int = 100,
    target: str = "cpp_standalone",
    openmp_threads: int = 0,
    report: str | None = None,
    return_details: bool = False,
    poisson_sampler: str = "table",
):
    """Simulate the E-I network at working point (mu, sigma) and measure it.

    Parameters
    ----------
    mu, sigma : float
        Working point in V; the external rates come from the theory.
    params : dict
        As returned by :func:`mfval.params.load_params` (SI).
    duration : float, optional
        Measurement window in s (default ``simulation.network_duration``).
    seed : int, optional
        Default ``simulation.seed``.
    n_blocks : int, optional
        Blocks for the standard errors (default ``simulation.network_blocks``).
    theory : dict, optional
        A theory result with ``nu_ext`` (and ``firing_rates``) for this point,
        e.g. from :func:`theory.scan.run_points`; computed if omitted.
    weight_scale_exc : float
        Planted-error hook: factor on the recurrent excitatory weights only.
    drop_external : {None, "exc", "inh"}
        Planted-error hook: drop one external Poisson source.
    poisson_split_p : float, optional
        Planted-error hook: binomial split with this probability per
        sub-source instead of exact Poisson counts; refused above
        ``max_poisson_p`` unless ``allow_biased_poisson``.
    warmup : float, optional
        Discarded warm-up in s (default ``simulation.network_warmup``).
    n_record : int
        Neurons per population whose synaptic current is recorded.
    target : {"cpp_standalone", "cython", "numpy"}
        Brian2 code generation (see :mod:`simulation.device`). The default
        ``cpp_standalone`` compiles one binary per process and network
        structure (key: network parameters, dt, warm-up + duration, recorded
        count, planted-error options, sampler, threads) and reuses it for
        every seed and working point: seed, connectivity, recorded neurons,
        v, I and lam are set at run time. It gives the same spikes as
        ``cython`` for the same seed (same RNG, same samplers; tested).
    openmp_threads : int
        OpenMP threads for ``cpp_standalone`` (0: none). Leave 0 where the
        cores are shared: with more runnable threads than cores, OpenMP's
        per-step barriers made 0.2 s take 120-210 s instead of 0.6 s here.
    report : str, optional
        Brian2 progress report (``"stderr"``, ``"text"``).
    return_details : bool
        Also return a dict with spike trains and connectivity (tests).
    poisson_sampler : {"table", "inversion", "brian2"}
        Exact Poisson sampler of the external drive (see
        :data:`POISSON_SAMPLERS`; ``inversion`` for Cython only, ``numpy``
        uses numpy's sampler). All are exact; they give different realizations.

    Returns
    -------
    pandas.DataFrame
        One row per population: ``mu_mV, sigma_mV, population, rate_hz,
        rate_se_hz, theory_rate_hz, cv, cv_n_neurons, mu_realized_mV,
        mu_realized_se_mV, sigma_realized_mV, sigma_realized_se_mV,
        nu_ext_exc_hz, nu_ext_inh_hz, duration_s, warmup_s, n_blocks, seed,
        n_neurons, dt_s, target, compile_s, run_s, recurrent_events,
        external_events, weight_scale_exc, drop_external, poisson_split_p``.
        (With ``return_details``, a tuple ``(frame, details)``.)

    Raises
    ------
    InfeasibleWorkingPointError
        The theory cannot realize (mu, sigma).
    ValueError
        Bad duration, warm-up, block count, dt or planted-error options;
        all raised before anything is simulated.
    """
    net, sim = params["network"], params["simulation"]
    duration = check_duration(sim["network_duration"] if duration is None else duration)
    warmup = float(sim["network_warmup"] if warmup is None else warmup)
    if not (math.isfinite(warmup) and warmup >= 0):
        raise ValueError(f"warmup must be >= 0, got warmup = {warmup!r} s")
    seed = int(sim["seed"] if seed is None else seed)
    n_blocks = int(sim["network_blocks"] if n_blocks is None else n_blocks)
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be >= 2 for a standard error, got n_blocks = {n_blocks}")
    if drop_external not in (None, "exc", "inh"):
        raise ValueError(f"drop_external must be None, 'exc' or 'inh', got {drop_external!r}")
    if target not in ("cython", "numpy", "cpp_standalone"):
        raise ValueError(f"unknown target = {target!r}")
    if poisson_sampler not in POISSON_SAMPLERS:
        raise ValueError(
            f"poisson_sampler must be one of {POISSON_SAMPLERS}, got {poisson_sampler!r}"
        )
    dt = float(sim["dt"])
    if theory is None:
        theory = theory_for_point(mu, sigma, params)
    nu_ext = np.asarray(theory["nu_ext"], float)
    drive = check_poisson_drive(nu_ext, dt, params, poisson_split_p, allow_biased_poisson)
    lam = drive["lam"].copy()
    if drop_external == "exc":
        lam[0] = 0.0
    elif drop_external == "inh":
        lam[1] = 0.0
    n_steps = int(round(duration / dt))
    if n_steps < n_blocks or n_steps % n_blocks:
        raise ValueError(
            f"duration = {duration!r} s must hold a whole number of steps per block "
            f"(dt = {dt!r} s, n_blocks = {n_blocks})"
        )

    import brian2 as b2

    t_setup = time.perf_counter()
    rng = np.random.RandomState(seed)
    pops = population_slices(net)
    n_total = int(sum(n for _, _, n in pops))
    conn = build_connectivity(net, rng)
    v0 = rng.uniform(0.0, net["V_th"] - net["V_reset"], size=n_total) + (
        net["V_reset"] - net["E_L"]
    )
    record_idx = np.concatenate(
        [o + np.sort(rng.choice(n, size=min(n_record, n), replace=False)) for _, o, n in pops]
    )
    total = warmup + duration
    I0 = net["C"] * mu / net["tau_m"]
    build_args = {
        "params": params,
        "conn": conn,
        "lam": lam,
        "v0": v0,
        "I0": I0,
        "record_idx": record_idx,
        "weight_scale_exc": weight_scale_exc,
        "split": drive if poisson_split_p is not None else None,
        "drop_external": drop_external,
        "fast_poisson": (poisson_sampler if target != "numpy" else "brian2"),
    }
    if target == "cpp_standalone":
        key = stable_hash(
            "network-standalone",
            brian2_version(),
            params["network"],
            dt,
            total,
            [len(record_idx)],
            float(weight_scale_exc),
            # the split's binomial functions are compiled in; lam and drop_external are data
            None if poisson_split_p is None else [drive["n"].tolist(), drive["p"].tolist()],
            drop_external if poisson_split_p is not None else None,
            poisson_sampler,
            int(openmp_threads),
        )
        model, compile_s = _standalone_model(key, build_args, openmp_threads, total, dt)
        objects = model["objects"]
        group = objects["group"]
        _write_standalone_inputs(model, conn, record_idx, seed)
        setup_s = time.perf_counter() - t_setup - compile_s
        t0 = time.perf_counter()
        model["device"].run(
            directory=str(model["directory"]),
            with_output=False,
            run_args={
                group.v: v0 * b2.volt,
                group.I: I0 * b2.amp,
                group.lam_exc: lam[0],
                group.lam_inh: lam[1],
            },
        )
        run_s = time.perf_counter() - t0
        spikes, current = objects["spikes"], objects["current"]
        spike_i = np.asarray(spikes.i[:], dtype=np.int64)
        spike_t = np.asarray(spikes.t[:] / b2.second, float)
        rec_t = np.asarray(current.t[:] / b2.second, float)
        rec_I = np.asarray(current.I[:] / b2.amp, float)
    else:
        configure_runtime(target)
        b2.start_scope()
        b2.defaultclock.dt = dt * b2.second
        b2.seed(seed)
        objects = build_brian_network(**build_args)
        network, spikes, current = objects["network"], objects["spikes"], objects["current"]
        setup_s = time.perf_counter() - t_setup
        t0 = time.perf_counter()
        network.run(dt * b2.second)  # code generation and compilation (or cache load)
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        network.run(total * b2.second - dt * b2.second, report=report, report_period=10 * b2.second)
        run_s = time.perf_counter() - t0
        spike_i = np.asarray(spikes.i[:], dtype=np.int64)
        spike_t = np.asarray(spikes.t[:] / b2.second, float)
        rec_t = np.asarray(current.t[:] / b2.second, float)
        rec_I = np.asarray(current.I[:] / b2.amp, float)

    # ------------------------------------------------------------- measurement
    out_degree = np.zeros(n_total, np.int64)
    for i, _ in conn.values():
        out_degree += np.bincount(i, minlength=n_total)
    recurrent_events = int(out_degree[spike_i].sum())
    external_events = float(lam.sum() * n_total * round(total / dt))
    t_start = warmup - 0.5 * dt  # spike times lie on the grid; avoid rounding at the edge
    in_window = (spike_t >= t_start) & (spike_t < warmup + duration - 0.5 * dt)
    block_len = duration / n_blocks
    block = np.clip(((spike_t - warmup + 0.5 * dt) // block_len).astype(int), 0, n_blocks - 1)
    rec_window = (rec_t >= t_start) & (rec_t < warmup + duration - 0.5 * dt)
    rec_block = np.clip(
        ((rec_t[rec_window] - warmup + 0.5 * dt) // block_len).astype(int), 0, n_blocks - 1
    )
    rows = []
    theory_rates = np.ravel(theory.get("firing_rates", np.full(len(pops), np.nan)))
    for p_idx, (name, off, n) in enumerate(pops):
        sel = in_window & (spike_i >= off) & (spike_i < off + n)
        counts = np.bincount(block[sel], minlength=n_blocks)
        block_rates = counts / (n * block_len)
        rate = sel.sum() / (n * duration)
        rate_se = block_rates.std(ddof=1) / math.sqrt(n_blocks)
        cvs = _cvs(spike_i[sel] - off, spike_t[sel], n)
        rec_sel = (record_idx >= off) & (record_idx < off + n)
        # samples hold I right after all jumps of the step (external at
        # "start", recurrent at "synapses" of the previous step); the exact
        # propagator then sees I decay over the step, so the continuous-time
        # mean over a step is the sample times (tau_s/dt)(1 - exp(-dt/tau_s))
        step_mean = net["tau_s"] / dt * -math.expm1(-dt / net["tau_s"])
        I_rec = rec_I[rec_sel][:, rec_window]
        I_pop = I_rec.mean(axis=0) * step_mean
        mu_blocks = (
            np.array([I_pop[rec_block == b].mean() for b in range(n_blocks)])
            * net["tau_m"]
            / net["C"]
        )
        sigma_blocks = _sigma_blocks(I_rec, rec_block, n_blocks, dt, net)
        rows.append(
            {
                "mu_mV": mu * 1e3,
                "sigma_mV": sigma * 1e3,
                "population": name,
                "rate_hz": float(rate),
                "rate_se_hz": float(rate_se),
                "theory_rate_hz": float(theory_rates[p_idx]),
                "cv": float(np.mean(cvs)) if len(cvs) else float("nan"),
                "cv_n_neurons": int(len(cvs)),
                "mu_realized_mV": float(mu_blocks.mean() * 1e3),
                "mu_realized_se_mV": float(mu_blocks.std(ddof=1) / math.sqrt(n_blocks) * 1e3),
                "sigma_realized_mV": float(sigma_blocks.mean() * 1e3),
                "sigma_realized_se_mV": float(sigma_blocks.std(ddof=1) / math.sqrt(n_blocks) * 1e3),
                "nu_ext_exc_hz": float(nu_ext[0]),
                "nu_ext_inh_hz": float(nu_ext[1]),
                "duration_s": duration,
                "warmup_s": warmup,
                "n_blocks": n_blocks,
                "seed": seed,
                "n_neurons": n,
                "dt_s": dt,
                "target": target,
                "setup_s": setup_s,
                "compile_s": compile_s,
                "run_s": run_s,
                "recurrent_events": recurrent_events,
                "external_events": external_events,
                "weight_scale_exc": float(weight_scale_exc),
                "drop_external": drop_external or "",
                "poisson_split_p": float("nan") if poisson_split_p is None else poisson_split_p,
            }
        )
    frame = pd.DataFrame(rows)
    if return_details:
        details = {
            "spike_i": spike_i,
            "spike_t": spike_t,
            "connectivity": conn,
            "record_idx": record_idx,
            "record_t": rec_t,
            "record_I": rec_I,
            "lam": lam,
            "v0": v0,
        }
        return frame, details
    return frame


def _sigma_blocks(
    I_rec: np.ndarray, rec_block: np.ndarray, n_blocks: int, dt: float, net: dict
) -> np.ndarray:
    """Realized input fluctuation sigma (V) in each block, from sampled currents.

    ``I_rec`` (neurons x steps) holds I sampled once per step after all
    jumps of the step (see :func:`simulate_network`). Between two samples
    I decays by a = exp(-dt/tau_s) and receives the jumps of the step
    undecayed, X_n = a X_{n-1} + J_n; for shot noise with independent
    Poisson counts, Var(J) = sum_k rate_k W_k^2 dt, so Var(X) =
    sum_k rate_k W_k^2 dt / (1 - a^2) exactly, and

        sigma^2 = tau_m (tau_s/C)^2 sum_k rate_k W_k^2
                = tau_m (tau_s/C)^2 Var(X) (1 - a^2) / dt

    (nnmt convention, J = tau_s W / C). Var(X) is the variance over time of
    each neuron about its own mean over the window, averaged over neurons,
    per block; the removal of the mean biases it low by the factor
    1 - g/T (T samples, g = (1 + a)/(1 - a) for the AR(1) sample
    correlation a^|lag|), which is divided out (0.25 % in the variance for
    T = 4000; slower, network-generated correlations are not corrected).
    """
    tau_s, tau_m, C = net["tau_s"], net["tau_m"], net["C"]
    a = math.exp(-dt / tau_s)
    n_t = I_rec.shape[1]
    g = (1 + a) / (1 - a)
    dev2 = ((I_rec - I_rec.mean(axis=1, keepdims=True)) ** 2).mean(axis=0)
    var = np.array([dev2[rec_block == b].mean() for b in range(n_blocks)]) / (1 - g / n_t)
    return tau_s / C * np.sqrt(tau_m * var * -math.expm1(-2 * dt / tau_s) / dt)


def _cvs(local_i: np.ndarray, t: np.ndarray, n: int) -> np.ndarray:
    """CV of the ISIs of every neuron with at least 3 spikes (2 intervals)."""
    order = np.lexsort((t, local_i))
    i_sorted, t_sorted = local_i[order], t[order]
    same = i_sorted[1:] == i_sorted[:-1]
    isi = np.diff(t_sorted)[same]
    owner = i_sorted[1:][same]
    n_isi = np.bincount(owner, minlength=n)
    s1 = np.bincount(owner, weights=isi, minlength=n)
    s2 = np.bincount(owner, weights=isi**2, minlength=n)
    ok = n_isi >= 2
    mean = s1[ok] / n_isi[ok]
    var = (s2[ok] - n_isi[ok] * mean**2) / (n_isi[ok] - 1)
    return np.sqrt(np.maximum(var, 0.0)) / mean


# ----------------------------------------------------------------------------- tasks


def brian2_version() -> str:
    import brian2

    return brian2.__version__


def network_key(mu: float, sigma: float, params: dict, seed: int, **options) -> str:
    """Store key: every parameter that affects a network result."""
    return stable_hash(
        "network",
        NETWORK_SCHEMA,
        {"brian2": brian2_version(), "numpy": np.__version__},
        params["network"],
        params["simulation"],
        float(mu),
        float(sigma),
        int(seed),
        {k: v for k, v in sorted(options.items()) if k not in ("report",)},
    )


def run_network_task(mu: float, sigma: float, params: dict, seed: int, **options) -> pd.DataFrame:
    """Task function (top level, picklable): :func:`simulate_network`."""
    return simulate_network(mu, sigma, params, seed=seed, **options)


def network_task(mu: float, sigma: float, params: dict, seed: int | None = None, **options) -> Task:
    """A :class:`mfval.tasks.Task` (kind ``network``) for one simulation.

    ``options`` are keyword arguments of :func:`simulate_network` (plain
    data: duration, n_blocks, weight_scale_exc, drop_external,
    poisson_split_p, ...). The result is the DataFrame of
    :func:`simulate_network`.
    """
    seed = int(params["simulation"]["seed"] if seed is None else seed)
    params_plain = {k: params[k] for k in ("network", "simulation") if k in params}
    return Task(
        kind="network",
        key=network_key(mu, sigma, params_plain, seed, **options),
        func=run_network_task,
        kwargs={
            "mu": float(mu),
            "sigma": float(sigma),
            "params": params_plain,
            "seed": seed,
            **options,
        },
        label=f"network mu={mu * 1e3:g} mV sigma={sigma * 1e3:g} mV seed={seed}",
    )
