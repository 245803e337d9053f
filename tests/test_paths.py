"""Synthetic index paths (:mod:`delever.paths`): seeded determinism, shape, positivity, moments of long paths,
the GARCH variance recursion by hand, per-path seeds independent of the number of paths, the crash path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from delever import paths as P

YEAR = P.YEAR_SECONDS


def rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


@pytest.mark.parametrize("model", ["gbm-jump", "garch"])
def test_same_seed_same_path_other_seed_other_path(model):
    params = P.model_params(model)
    a = P.generate(model, params, 114_000.0, 500, 1.0, seed=7, start_ns=10**18)
    b = P.generate(model, params, 114_000.0, 500, 1.0, seed=7, start_ns=10**18)
    c = P.generate(model, params, 114_000.0, 500, 1.0, seed=8, start_ns=10**18)
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.time_ns, b.time_ns)
    assert a.source == b.source and model in a.source
    assert not np.array_equal(a.index, c.index)


@pytest.mark.parametrize("model", ["gbm-jump", "garch"])
def test_shape_grid_and_start(model):
    p = P.generate(model, P.model_params(model), 250.5, 121, 0.5, seed=1, start_ns=1_000)
    assert p.steps == 121 and p.index.shape == (121,) and p.index.dtype == np.float64
    assert p.time_ns.dtype == np.int64 and p.time_ns[0] == 1_000
    np.testing.assert_array_equal(np.diff(p.time_ns), np.full(120, 500_000_000))
    assert p.index[0] == 250.5
    one = P.generate(model, P.model_params(model), 250.5, 1, 1.0, seed=1)
    assert one.steps == 1 and one.index[0] == 250.5


def test_positive_under_extreme_parameters():
    wild = P.GbmJumpParams(mu=-50.0, sigma=20.0, lam=5e6, jump_mean=-0.5, jump_sd=1.0)
    p = P.gbm_jump_path(wild, 100.0, 5_000, 1.0, rng(3))
    assert np.all(p.index > 0) and np.all(np.isfinite(p.index))
    g = P.garch_path(P.GarchParams(omega=1e-3, alpha=0.3, beta=0.69, nu=2.5), 100.0, 5_000, 1.0, rng(3))
    assert np.all(g.index > 0) and np.all(np.isfinite(g.index))


def test_gbm_without_jumps_log_return_moments():
    mu, sigma, step = 0.3, 0.9, 60.0
    n = 200_000
    p = P.gbm_jump_path(P.GbmJumpParams(mu=mu, sigma=sigma, lam=0.0), 100.0, n + 1, step, rng(11))
    r = np.diff(np.log(p.index))
    dt = step / YEAR
    sd = sigma * math.sqrt(dt)
    assert abs(r.std() / sd - 1) < 0.01  # relative s.e. of a sd estimate: 1/sqrt(2n) = 0.16%
    assert abs(r.mean() - (mu - sigma**2 / 2) * dt) < 4 * sd / math.sqrt(n)


def test_merton_log_return_moments_and_jump_rate():
    prm = P.GbmJumpParams(mu=0.1, sigma=0.5, lam=0.2 * YEAR / 3600, jump_mean=-0.01, jump_sd=0.02)  # 0.2/step
    n, step = 200_000, 3600.0
    p = P.gbm_jump_path(prm, 100.0, n + 1, step, rng(12))
    r = np.diff(np.log(p.index))
    dt = step / YEAR
    lam_dt = prm.lam * dt
    kappa = math.exp(prm.jump_mean + prm.jump_sd**2 / 2) - 1
    mean = (prm.mu - prm.sigma**2 / 2 - prm.lam * kappa) * dt + lam_dt * prm.jump_mean
    var = prm.sigma**2 * dt + lam_dt * (prm.jump_mean**2 + prm.jump_sd**2)
    assert abs(r.mean() - mean) < 4 * math.sqrt(var / n)
    assert abs(r.var() / var - 1) < 0.03
    # jumps fatten the tails: excess kurtosis well above 0
    assert ((r - r.mean()) ** 4).mean() / r.var() ** 2 - 3 > 1.0


def test_garch_unconditional_variance():
    prm = P.GarchParams(omega=2e-6, alpha=0.05, beta=0.9, shocks="normal")
    n = 200_000
    p = P.garch_path(prm, 100.0, n + 1, 1.0, rng(5))
    r = np.diff(np.log(p.index))
    assert abs(r.var() / (2e-6 / 0.05) - 1) < 0.1
    # volatility clusters: squared returns are autocorrelated
    s = r**2 - (r**2).mean()
    assert (s[1:] * s[:-1]).mean() / (s * s).mean() > 0.05


def test_garch_omega_from_annual_vol():
    prm = P.GarchParams(vol=0.8, alpha=0.1, beta=0.85)
    assert prm.omega_per_step(1.0) == pytest.approx(0.64 / YEAR * 0.05, rel=1e-12)
    assert P.GarchParams(omega=1e-7).omega_per_step(1.0) == 1e-7


def test_garch_variance_recursion_by_hand_three_steps():
    omega, a, b, mu, nu = 4e-6, 0.12, 0.8, 1e-4, 5.0
    prm = P.GarchParams(omega=omega, alpha=a, beta=b, mu=mu, shocks="t", nu=nu)
    path = P.garch_path(prm, 200.0, 4, 1.0, rng(99))
    eps = rng(99).standard_t(nu, 3) * math.sqrt((nu - 2) / nu)
    h1 = omega / (1 - a - b)
    r1 = mu + math.sqrt(h1) * eps[0]
    h2 = omega + a * (r1 - mu) ** 2 + b * h1
    r2 = mu + math.sqrt(h2) * eps[1]
    h3 = omega + a * (r2 - mu) ** 2 + b * h2
    r3 = mu + math.sqrt(h3) * eps[2]
    expect = 200.0 * np.exp(np.cumsum([0.0, r1, r2, r3]))
    np.testing.assert_allclose(path.index, expect, rtol=1e-13)
    r, h = P.garch_returns(prm, eps, 1.0)
    np.testing.assert_allclose(h, [h1, h2, h3], rtol=1e-13)
    np.testing.assert_allclose(r, [r1, r2, r3], rtol=1e-13)


def test_garch_normal_shocks_draw_standard_normals():
    prm = P.GarchParams(omega=1e-6, shocks="normal")
    np.testing.assert_array_equal(P.garch_shocks(prm, 5, rng(4)), rng(4).standard_normal(5))


def test_path_seeds_depend_only_on_root_and_index():
    a = P.path_seeds(2025, 3)
    b = P.path_seeds(2025, 10)
    assert a.dtype == np.uint64 and a.shape == (3,)
    np.testing.assert_array_equal(a, b[:3])
    assert len(set(b.tolist())) == 10
    assert not np.array_equal(P.path_seeds(2026, 3), a)
    child = np.random.SeedSequence(2025).spawn(3)[2]
    assert int(a[2]) == int(child.generate_state(1, np.uint64)[0])


def test_crash_path():
    p = P.crash_path()
    assert p.steps == 41
    np.testing.assert_array_equal(p.index, np.arange(100.0, 59.0, -1.0))
    np.testing.assert_array_equal(np.diff(p.time_ns), np.full(40, 1_000_000_000))
    assert P.crash_path(50, 40, 5).index.tolist() == [50, 48, 46, 44, 42, 40]
    with pytest.raises(ValueError):
        P.crash_path(ticks=0)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="alpha"):
        P.GarchParams(alpha=0.5, beta=0.5)
    with pytest.raises(ValueError, match="nu"):
        P.GarchParams(nu=2.0)
    with pytest.raises(ValueError, match="sigma"):
        P.GbmJumpParams(sigma=-1)
    with pytest.raises(ValueError, match="unknown parameter 'vol'"):
        P.model_params("gbm-jump", {"vol": 1})
    with pytest.raises(ValueError, match="unknown path model"):
        P.model_params("heston")
    with pytest.raises(ValueError, match="start price"):
        P.gbm_jump_path(P.GbmJumpParams(), 0.0, 10, 1.0, rng(1))
    got = P.model_params("garch", {"alpha": "0.05", "shocks": "normal"})
    assert got == P.GarchParams(alpha=0.05, shocks="normal")
