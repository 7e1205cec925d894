"""The shared LIF model: analytic firing rate, exact Poisson drive, planted binomial split."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from mfval.config import load_params
from mfval.simulation.model.drive import check_poisson_drive
from mfval.simulation.network.brian2 import _input_code


@pytest.fixture(scope="module")
def params():
    return load_params()


def _run_counts(params, lam, split=None, n=2000, steps=500, seed=7, drop=None, fast=False):
    """Per-step input counts of n neurons (exc. half, inh. half) over `steps` steps.

    tau_s is made huge, so I integrates the jumps and diff(I)/W is the count.
    """
    import brian2 as b2

    from mfval.simulation.model.device import configure_runtime
    from mfval.simulation.model.lif import make_lif_group

    configure_runtime()
    b2.start_scope()
    net = copy.deepcopy(params["network"])
    net["tau_s"] = 1e9
    net["V_th"] = net["E_L"] + 1e9  # never fires
    dt = params["simulation"]["dt"]
    b2.defaultclock.dt = dt * b2.second
    b2.seed(seed)
    extra: dict = {}
    code = _input_code(split, drop, extra, fast) if (split is not None or fast) else None
    W_exc, W_inh = 1e-12, -1e-12
    group = make_lif_group(
        n, net, W_exc, W_inh, name="counts", input_code=code, extra_namespace=extra
    )
    half = n // 2
    lam_exc = np.zeros(n)
    lam_inh = np.zeros(n)
    lam_exc[:half] = lam[0]
    lam_inh[half:] = lam[1]
    group.lam_exc = lam_exc
    group.lam_inh = lam_inh
    mon = b2.StateMonitor(group, "I", record=True, when="before_groups")
    b2.Network(group, mon).run(steps * dt * b2.second)
    current = np.asarray(mon.I[:] / b2.amp)
    counts = np.diff(np.concatenate([np.zeros((n, 1)), current], axis=1), axis=1)
    exc = counts[:half] / W_exc
    inh = counts[half:] / W_inh
    return np.rint(exc), np.rint(inh)


@pytest.mark.slow
@pytest.mark.parametrize(
    "fast, rates",
    [
        (False, (150e3, 15718.6)),  # Brian2 poisson(): 150 kHz (PTRS) and (10,10) inh. rate
        (True, (95504.5, 15718.6)),  # poisson_fast: inversion at the (10,10) rates
        ("table", (150e3, 15718.6)),  # tabulated inversion: 150 kHz and (10,10) inh. rate
    ],
)
def test_poisson_counts_exact(params, fast, rates):
    """Per-step counts: mean = rate dt, variance = mean within 1 % (Poisson)."""
    dt = params["simulation"]["dt"]
    lam = np.asarray(rates) * dt
    exc, inh = _run_counts(params, lam, fast=fast)
    for counts, expected in ((exc, lam[0]), (inh, lam[1])):
        n = counts.size  # 5e5 samples: SE of the variance ratio sqrt((1/lam + 2)/n) < 0.3 %
        mean, var = counts.mean(), counts.var(ddof=1)
        assert abs(mean - expected) < 4 * math.sqrt(expected / n)
        assert abs(var / mean - 1) < 0.01, (var, mean)
        se_ratio = math.sqrt((1 / expected + 2) / n)
        assert 4 * se_ratio < 0.01  # 1 % is a meaningful tolerance at this sample size


def test_table_sampler_matches_pmf_and_inversion(params):
    """Tabulated inversion: chi-square against the Poisson pmf at lam = 9.55 and 15, and
    the same counts as the sequential inversion for the same seed (lam < 10)."""
    from scipy import stats

    dt = params["simulation"]["dt"]
    for lam in (9.55, 15.0):
        exc, _ = _run_counts(params, np.array([lam, 1.0]), fast="table", steps=300, seed=11)
        k = exc.astype(int).ravel()
        edges = np.arange(int(stats.poisson.ppf(1e-4, lam)), int(stats.poisson.isf(1e-4, lam)) + 1)
        observed = np.array(
            [(k < edges[0]).sum()] + [(k == e).sum() for e in edges] + [(k > edges[-1]).sum()]
        )
        prob = np.concatenate(
            [[stats.poisson.cdf(edges[0] - 1, lam)], stats.poisson.pmf(edges, lam)]
            + [[stats.poisson.sf(edges[-1], lam)]]
        )
        chi2 = ((observed - k.size * prob) ** 2 / (k.size * prob)).sum()
        p_value = stats.chi2.sf(chi2, len(observed) - 1)
        print(f"lam = {lam}: chi2 = {chi2:.1f} ({len(observed) - 1} dof), p = {p_value:.3f}")
        assert p_value > 1e-3
    lam = np.array([95504.5, 15718.6]) * dt
    a = _run_counts(params, lam, fast="table", steps=50, seed=5)
    b = _run_counts(params, lam, fast="inversion", steps=50, seed=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_planted_binomial_split_keeps_mean_and_loses_variance(params):
    """Planted error: a binomial split keeps the mean and shrinks the variance by (1 - p)."""
    dt = params["simulation"]["dt"]
    nu_ext = np.array([95504.5, 15718.6])
    with pytest.raises(ValueError, match="poisson_split_p.*max_poisson_p"):
        check_poisson_drive(nu_ext, dt, params, split_p=0.05)
    split = check_poisson_drive(nu_ext, dt, params, split_p=0.05, allow_biased_poisson=True)
    assert np.allclose(split["n"] * split["p"], nu_ext * dt)  # total rate preserved exactly
    exc, _ = _run_counts(params, nu_ext * dt, split=split, steps=300, drop="inh")
    mean, var = exc.mean(), exc.var(ddof=1)
    p = split["p"][0]
    assert abs(mean - nu_ext[0] * dt) < 4 * math.sqrt(nu_ext[0] * dt / exc.size)
    assert abs(var / mean - (1 - p)) < 0.012
    assert var / mean < 0.97  # the deficit is visible: not Poisson


def test_poisson_drive_checks(params):
    nu_ext = np.array([95504.5, 15718.6])
    with pytest.raises(ValueError, match=r"dt = 0\.0006"):
        check_poisson_drive(nu_ext, 6e-4, params)  # dt > tau_s
    with pytest.raises(ValueError, match=r"dt = -0\.0001"):
        check_poisson_drive(nu_ext, -1e-4, params)
    with pytest.raises(ValueError, match=r"dt = 0\.1 s gives"):
        p = copy.deepcopy(params)
        p["network"]["tau_s"] = 1.0
        p["network"]["delay"] = 0.1
        check_poisson_drive(nu_ext * 1e3, 0.1, p)  # 1e7 counts per step
    ok = check_poisson_drive(nu_ext, 1e-4, params, split_p=1e-3)
    assert np.all(ok["p"] <= params["simulation"]["max_poisson_p"] * 1.001)


@pytest.mark.slow
def test_constant_current_matches_analytic_lif_rate(params):
    """Unconnected neuron, constant suprathreshold current: ISI = tau_r + tau_m ln(mu/(mu-V_th))."""
    import brian2 as b2

    from mfval.simulation.model.device import configure_runtime
    from mfval.simulation.model.lif import make_lif_group

    configure_runtime()
    dt = params["simulation"]["dt"]
    for tau_r in (0.0, 2e-3):
        b2.start_scope()
        b2.defaultclock.dt = dt * b2.second
        net = dict(params["network"], tau_r=tau_r)
        tau_m, C = net["tau_m"], net["C"]
        v_th = net["V_th"] - net["E_L"]
        mus = np.array([16e-3, 20e-3, 40e-3])
        group = make_lif_group(len(mus), net, 0.0, 0.0, name="bias", bias_current=True)
        group.I_e = C * mus / tau_m * b2.amp
        group.v = 0 * b2.volt
        group.lam_exc = 0
        group.lam_inh = 0
        mon = b2.SpikeMonitor(group)
        b2.Network(group, mon).run(0.2 * b2.second)
        trains = mon.spike_trains()
        for k, mu in enumerate(mus):
            expected = tau_r + tau_m * math.log(mu / (mu - v_th))
            isi = np.diff(np.asarray(trains[k] / b2.second))
            assert len(isi) >= 5
            assert np.all(np.abs(isi - expected) <= dt * 1.0001), (tau_r, mu, isi[:3], expected)
