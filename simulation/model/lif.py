"""The single-neuron model shared by every protocol: LIF with exponential PSCs.

NEST ``iaf_psc_exp`` semantics, potentials relative to E_L (``v`` = V_m - E_L)::

    dv/dt = -v / tau_m + I / C        (clamped during the refractory time)
    dI/dt = -I / tau_s                (I jumps by W at every input spike)

integrated with Brian2's ``exact`` method (the linear subthreshold dynamics are
propagated exactly, as NEST does; ``euler`` was measured +3 % in rate here).

Mean-input modulation (transfer-function protocol) without losing exactness:
the system is linear below threshold, so the response of v to a
deterministic modulation of the mean input delta_mu(t) = Re[dmu e^{i w t}] is
known in closed form, v_mod(t) = Re[dmu H(w) e^{i w t}] with

- H = 1 / ((1 + i w tau_s)(1 + i w tau_m)) when it enters through the
  synaptic current (comparable with nnmt ``synaptic_filter=True``),
- H = 1 / (1 + i w tau_m) when injected into the membrane
  (``synaptic_filter=False``).

The state variable ``v`` holds the membrane potential minus v_mod(t); the
threshold is ``v + v_mod > V_th`` and the reset ``v = V_reset - v_mod``. The
ODE of ``v`` is unchanged, so ``exact`` integration still applies, and the
total potential is exact on the time grid. (With tau_r > 0, the clamp during
the refractory time holds ``v``, not ``v + v_mod``; exact for tau_r = 0, the
default, and an O(dmu tau_r / tau_m) error otherwise.)

Poisson input: every time step, each neuron draws its input counts directly
from Poisson distributions with means ``lam_exc = rate_exc * dt`` and
``lam_inh = rate_inh * dt`` (Brian2's ``poisson()``), so the drive is exact at
any rate: no rate * dt <= 1 limit and no binomial variance deficit (the two
Poisson pitfalls of the design). ``lam_*`` are per-neuron state variables so
that one compiled model serves any working point.
"""

from __future__ import annotations

import numpy as np

#: subthreshold equations; `v_mod` is defined by `modulation_equations`
NEURON_EQUATIONS = """
dv/dt = -v / tau_m + I / C : volt (unless refractory)
dI/dt = -I / tau_s : amp
lam_exc : 1 (constant)
lam_inh : 1 (constant)
"""

#: as NEURON_EQUATIONS, plus a constant bias current I_e (``bias_current=True``)
BIAS_NEURON_EQUATIONS = """
dv/dt = -v / tau_m + (I + I_e) / C : volt (unless refractory)
dI/dt = -I / tau_s : amp
I_e : amp (constant)
lam_exc : 1 (constant)
lam_inh : 1 (constant)
"""

#: modulation of the mean input, v_mod(t) = mod_amp cos(2 pi f_mod (t - mod_delay) + mod_phase)
MODULATION_EQUATIONS = """
v_mod = mod_amp * cos(2 * pi * f_mod * (t - mod_delay) + mod_phase) : volt
mod_amp : volt (constant)
mod_phase : 1 (constant)
f_mod : Hz (constant)
"""

#: no modulation
NO_MODULATION_EQUATIONS = """
v_mod = 0 * volt : volt
"""

#: per-step Poisson input: counts drawn from Poisson(lam), weights in the namespace
POISSON_INPUT_CODE = "I += W_exc * poisson(lam_exc) + W_inh * poisson(lam_inh)"


def modulation_filter(frequencies: np.ndarray, tau_m: float, tau_s: float, mode: str) -> np.ndarray:
    """H(f): response of v to a unit mean-input modulation, complex, shape like f.

    Parameters
    ----------
    frequencies : array
        Modulation frequencies in Hz.
    tau_m, tau_s : float
        Membrane and synaptic time constants in s.
    mode : {"synaptic", "membrane"}
        Modulation through the synaptic current or straight into the membrane.
    """
    w = 2 * np.pi * np.asarray(frequencies, float)
    if mode == "synaptic":
        return 1.0 / ((1 + 1j * w * tau_s) * (1 + 1j * w * tau_m))
    if mode == "membrane":
        return 1.0 / (1 + 1j * w * tau_m)
    raise ValueError(f"mode must be 'synaptic' or 'membrane', got mode = {mode!r}")


def neuron_namespace(network: dict, W_exc: float, W_inh: float) -> dict:
    """Brian2 namespace (with units) of the neuron model.

    Parameters
    ----------
    network : dict
        ``network`` section of the parameters (SI).
    W_exc, W_inh : float
        PSC amplitudes of the Poisson input in A (W_inh negative).
    """
    import brian2 as b2

    return {
        "tau_m": network["tau_m"] * b2.second,
        "tau_s": network["tau_s"] * b2.second,
        "C": network["C"] * b2.farad,
        "V_th": (network["V_th"] - network["E_L"]) * b2.volt,
        "V_reset": (network["V_reset"] - network["E_L"]) * b2.volt,
        "W_exc": W_exc * b2.amp,
        "W_inh": W_inh * b2.amp,
    }


def make_lif_group(
    n: int,
    network: dict,
    W_exc: float,
    W_inh: float,
    modulated: bool = False,
    name: str = "neurons",
    bias_current: bool = False,
    input_code: str | None = None,
    extra_namespace: dict | None = None,
):
    """A Brian2 NeuronGroup of ``n`` LIF neurons with per-step Poisson input.

    The caller sets ``lam_exc``, ``lam_inh`` (expected input counts per
    step), the initial ``v`` and, if ``modulated``, ``mod_amp``,
    ``mod_phase``, ``f_mod`` and the namespace entry ``mod_delay``.

    Optional extensions (defaults leave the model above unchanged):

    bias_current : bool
        Add a constant current ``I_e : amp (constant)`` to the membrane
        equation, ``dv/dt = -v/tau_m + (I + I_e)/C`` (still linear, still
        integrated exactly); the caller sets ``I_e`` (default 0).
    input_code : str, optional
        Code run every step at ``when="start"`` instead of
        :data:`POISSON_INPUT_CODE` (e.g. a planted-error binomial drive);
        ``""`` disables the external drive.
    extra_namespace : dict, optional
        Additional namespace entries (e.g. functions used by ``input_code``).

    Returns
    -------
    brian2.NeuronGroup
    """
    import brian2 as b2

    equations = NEURON_EQUATIONS + (MODULATION_EQUATIONS if modulated else NO_MODULATION_EQUATIONS)
    if bias_current:
        equations = BIAS_NEURON_EQUATIONS + (
            MODULATION_EQUATIONS if modulated else NO_MODULATION_EQUATIONS
        )
    namespace = neuron_namespace(network, W_exc, W_inh)
    namespace.update(extra_namespace or {})
    namespace.setdefault("mod_delay", 0 * b2.second)
    group = b2.NeuronGroup(
        n,
        equations,
        threshold="v + v_mod > V_th",
        reset="v = V_reset - v_mod",
        refractory=network["tau_r"] * b2.second,
        method="exact",
        namespace=namespace,
        name=name,
    )
    code = POISSON_INPUT_CODE if input_code is None else input_code
    if code:
        group.run_regularly(code, when="start", name=f"{name}_poisson")
    return group


#: per-step Poisson input with :func:`fast_poisson_function` (Cython runtime only)
FAST_POISSON_INPUT_CODE = "I += W_exc * poisson_fast(lam_exc) + W_inh * poisson_fast(lam_inh)"

_FAST_POISSON_CYTHON = """
cdef int32_t _poisson_fast(double lam, int _vectorisation_idx):
    # exact Poisson sample by sequential inversion of the CDF with one uniform
    # (lam < 10); Brian2's own exact sampler (PTRS) for lam >= 10
    cdef int32_t k = 0
    cdef double u, p, F
    if lam >= 10.0 or lam <= 0.0:
        return _poisson(lam, _vectorisation_idx)
    u = _rand(_vectorisation_idx)
    p = exp(-lam)
    F = p
    while u > F:
        k += 1
        p *= lam / k
        F += p
        if k > 200:  # only reachable through rounding of F near 1: draw afresh
            return _poisson(lam, _vectorisation_idx)
    return k
"""


_TABLE_POISSON_CYTHON = """
# exact Poisson sample by inversion of a tabulated CDF with a guide table
# (Chen & Asau: _pt_guide[j] = smallest k with F_k >= j / _PT_GUIDE, a lower
# bound of the answer for u >= j / _PT_GUIDE; ~1 comparison per sample, one
# uniform). The CDF F_k (k = 0..200) is
# computed once per distinct lam by the same recurrence as the sequential
# inversion (p_0 = exp(-lam), p_k = p_{k-1} lam / k, F_k = F_{k-1} + p_k) and
# kept in one of _PT_SLOTS slots (the network uses two values of lam); the
# sample is the smallest k with u <= F_k, i.e. the same k as the sequential
# inversion for the same u.
DEF _PT_SLOTS = 4
DEF _PT_LEN = 201
DEF _PT_GUIDE = 512
cdef double _pt_lam[_PT_SLOTS]
cdef double _pt_cdf[_PT_SLOTS][_PT_LEN]
cdef int32_t _pt_guide[_PT_SLOTS][_PT_GUIDE]
cdef int _pt_used[_PT_SLOTS]
cdef int _pt_next = 0
cdef int _pt_last = 0

cdef int _pt_slot(double lam):
    global _pt_next, _pt_last
    cdef int s, k, j
    cdef double p, F
    if _pt_used[_pt_last] and _pt_lam[_pt_last] == lam:
        return _pt_last
    for s in range(_PT_SLOTS):
        if _pt_used[s] and _pt_lam[s] == lam:
            _pt_last = s
            return s
    s = _pt_next
    _pt_next = (_pt_next + 1) % _PT_SLOTS
    p = exp(-lam)
    F = p
    _pt_cdf[s][0] = F
    for k in range(1, _PT_LEN):
        p *= lam / k
        F += p
        _pt_cdf[s][k] = F
    k = 0
    for j in range(_PT_GUIDE):
        while k < _PT_LEN - 1 and _pt_cdf[s][k] < j / <double>_PT_GUIDE:
            k += 1
        _pt_guide[s][j] = k
    _pt_lam[s] = lam
    _pt_used[s] = 1
    _pt_last = s
    return s

cdef int32_t _poisson_table(double lam, int _vectorisation_idx):
    cdef int32_t k
    cdef int s
    cdef double u
    cdef double *F
    if lam <= 0.0 or lam >= 100.0:
        return _poisson(lam, _vectorisation_idx)
    s = _pt_slot(lam)
    F = _pt_cdf[s]
    u = _rand(_vectorisation_idx)
    k = _pt_guide[s][<int>(u * _PT_GUIDE)]
    while u > F[k]:
        k += 1
        if k == _PT_LEN:  # only through rounding of F near 1: draw afresh
            return _poisson(lam, _vectorisation_idx)
    return k
"""


_TABLE_POISSON_CPP = """
// exact Poisson sample by inversion of a tabulated CDF with a guide table:
// the same algorithm, tables and results (for the same uniform) as the Cython
// version; per-thread tables (OpenMP), 4 slots of distinct lam each
struct _mfval_poisson_table {
    double lam;
    int used;
    double cdf[201];
    int32_t guide[512];
};
static thread_local _mfval_poisson_table _pt_tables[4];
static thread_local int _pt_next = 0;
static thread_local int _pt_last = 0;

static inline _mfval_poisson_table* _pt_slot(double lam) {
    if (_pt_tables[_pt_last].used && _pt_tables[_pt_last].lam == lam)
        return &_pt_tables[_pt_last];
    for (int s = 0; s < 4; s++) {
        if (_pt_tables[s].used && _pt_tables[s].lam == lam) {
            _pt_last = s;
            return &_pt_tables[s];
        }
    }
    const int s = _pt_next;
    _pt_next = (_pt_next + 1) % 4;
    _mfval_poisson_table* t = &_pt_tables[s];
    double p = exp(-lam);
    double F = p;
    t->cdf[0] = F;
    for (int k = 1; k < 201; k++) {
        p *= lam / k;
        F += p;
        t->cdf[k] = F;
    }
    int k = 0;
    for (int j = 0; j < 512; j++) {
        while (k < 200 && t->cdf[k] < j / 512.0)
            k++;
        t->guide[j] = k;
    }
    t->lam = lam;
    t->used = 1;
    _pt_last = s;
    return t;
}

static inline int32_t _poisson_table(double lam, int _vectorisation_idx) {
    if (lam <= 0.0 || lam >= 100.0)
        return _poisson(lam, _vectorisation_idx);
    const _mfval_poisson_table* t = _pt_slot(lam);
    const double u = _rand(_vectorisation_idx);
    int32_t k = t->guide[(int)(u * 512)];
    while (u > t->cdf[k]) {
        k++;
        if (k == 201)  // only through rounding of F near 1: draw afresh
            return _poisson(lam, _vectorisation_idx);
    }
    return k;
}
"""


def table_poisson_function():
    """Brian2 function ``poisson_fast(lam)`` by inversion of a tabulated CDF (Cython).

    Exact Poisson counts for 0 < lam < 100 (Brian2's PTRS sampler outside):
    one uniform per sample and ~1 comparison (guide table); the table is
    computed once per distinct lam (a few slots), so it suits a drive with
    few distinct rates (the network: two). For the same uniform it returns
    the same count as the sequential inversion of
    :func:`fast_poisson_function` (lam < 10). Also implemented in C++ for
    ``cpp_standalone`` (same algorithm, per-thread tables). Numpy implementation:
    ``numpy.random.poisson``.
    """
    return _poisson_function(_TABLE_POISSON_CYTHON, "_poisson_table", _TABLE_POISSON_CPP)


def fast_poisson_function():
    """Brian2 function ``poisson_fast(lam)``: exact Poisson counts, cheaper for lam < 10.

    Brian2's ``poisson()`` draws ~lam + 1 uniforms per sample for lam < 10
    (multiplication method); sequential inversion of the CDF needs one
    uniform and ~lam multiply-adds, and is equally exact (up to the rounding
    of the CDF sum, ~1e-15). Samples with lam >= 10 use Brian2's PTRS
    sampler. Implementations: Cython and numpy (``numpy.random.poisson``).
    """
    return _poisson_function(_FAST_POISSON_CYTHON, "_poisson_fast")


def _poisson_function(cython_code: str, cython_name: str, cpp_code: str | None = None):
    """Brian2 ``Function`` with the given Cython (and C++) sampler and a numpy fallback."""
    import brian2 as b2
    from brian2.core.functions import DEFAULT_FUNCTIONS

    def numpy_impl(lam, vectorisation_idx):
        return np.random.poisson(lam)  # noqa: NPY002 (Brian2 seeds the global RNG)

    func = b2.Function(
        pyfunc=lambda lam: np.random.poisson(lam),  # noqa: NPY002
        arg_units=[1],
        return_unit=1,
        return_type="integer",
        stateless=False,
        auto_vectorise=True,
    )
    func.implementations.add_implementation("numpy", numpy_impl, name="poisson_fast")
    func.implementations.add_implementation(
        "cython",
        cython_code,
        name=cython_name,
        dependencies={"_rand": DEFAULT_FUNCTIONS["rand"], "_poisson": DEFAULT_FUNCTIONS["poisson"]},
    )
    if cpp_code is not None:
        func.implementations.add_implementation(
            "cpp",
            cpp_code,
            name=cython_name,
            dependencies={
                "_rand": DEFAULT_FUNCTIONS["rand"],
                "_poisson": DEFAULT_FUNCTIONS["poisson"],
            },
        )
    return func
