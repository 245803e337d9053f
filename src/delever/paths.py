"""Seeded synthetic index paths on the engine's step grid, for Monte Carlo sweeps and benchmarks.

Every generator has the signature ``(params, start_price, steps, step_seconds, rng) -> PricePath``: ``steps``
prices, the first equal to ``start_price`` (quote), one every ``step_seconds``, drawn from ``rng`` (a
``numpy.random.Generator``, PCG64 in delever) in a fixed order, so a path is a pure function of its seed.
:func:`path_seeds` gives the per-path seeds of a sweep from ``SeedSequence(root).spawn(n)``: path ``i``'s seed
depends only on ``(root, i)``, never on how paths are split among workers.

Models (``dt = step_seconds / YEAR_SECONDS`` for the annualised parameters):

- **GBM with Poisson jumps** (Merton 1976, "Option pricing when underlying stock returns are discontinuous",
  J. Financial Economics 3(1-2), 125-144; the discretisation of Glasserman 2003, "Monte Carlo Methods in
  Financial Engineering", section 3.5.1). Per step, exactly in distribution::

      log S[t+1] - log S[t] = (mu - sigma^2 / 2 - lam * kappa) dt + sigma sqrt(dt) Z
                              + jump_mean * N + jump_sd * sqrt(N) Z'
      N ~ Poisson(lam dt),  Z, Z' ~ N(0, 1),  kappa = exp(jump_mean + jump_sd^2 / 2) - 1

  (the sum of ``N`` i.i.d. ``N(jump_mean, jump_sd^2)`` log-jumps is ``N(N jump_mean, N jump_sd^2)``); the
  compensator ``lam * kappa`` makes ``E[S_t] = S_0 exp(mu t)``.
- **GARCH(1,1)** (Bollerslev 1986, "Generalized autoregressive conditional heteroskedasticity", J.
  Econometrics 31(3), 307-327; Student-t shocks as Bollerslev 1987, Rev. Econ. Stat. 69(3), 542-547). Per-step
  log returns::

      r[t] = mu + sqrt(h[t]) eps[t],   h[t+1] = omega + alpha (r[t] - mu)^2 + beta h[t],
      h[1] = omega / (1 - alpha - beta)

  with ``eps`` standard normal or Student-t with ``nu > 2`` degrees of freedom scaled to unit variance
  (``t_nu * sqrt((nu - 2) / nu)``). ``omega`` is a per-step variance; when it is not given it is set from an
  annualised unconditional volatility ``vol``: ``omega = vol^2 dt (1 - alpha - beta)``.

Prices are ``S[t] = start_price * exp(cumsum(r))``: positive whatever the draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np

from .prices import PricePath

YEAR_SECONDS = 365.25 * 86_400.0
"""Seconds per year of the annualised parameters (crypto trades every day)."""

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class GbmJumpParams:
    """Merton jump-diffusion (module docstring). ``mu``, ``sigma`` and ``lam`` are annualised (per year,
    1/year); ``jump_mean`` and ``jump_sd`` are the mean and standard deviation of one log-jump.

    Defaults: a stressed BTC-like market, 80% volatility and on average one jump an hour of -1% (sd 2%).
    """

    mu: float = 0.0
    sigma: float = 0.8
    lam: float = 24 * 365.25
    jump_mean: float = -0.01
    jump_sd: float = 0.02

    def __post_init__(self) -> None:
        if not (self.sigma >= 0 and self.lam >= 0 and self.jump_sd >= 0):
            raise ValueError("gbm-jump: sigma, lam and jump_sd must be >= 0")


@dataclass(frozen=True)
class GarchParams:
    """GARCH(1,1) log returns (module docstring). ``omega`` per-step variance (``None``: from ``vol``, the
    annualised unconditional volatility); ``alpha``, ``beta`` >= 0 with ``alpha + beta < 1``; ``mu`` per-step
    log drift; ``shocks`` ``"t"`` (Student-t, ``nu`` > 2 degrees of freedom) or ``"normal"``.

    Defaults: persistence 0.95 (alpha 0.1, beta 0.85), fat tails (t with 4 degrees of freedom), 80% a year.
    """

    omega: float | None = None
    alpha: float = 0.10
    beta: float = 0.85
    vol: float = 0.8
    mu: float = 0.0
    shocks: Literal["t", "normal"] = "t"
    nu: float = 4.0

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.beta < 0 or self.alpha + self.beta >= 1:
            raise ValueError("garch: need alpha >= 0, beta >= 0 and alpha + beta < 1")
        if self.omega is not None and self.omega <= 0:
            raise ValueError("garch: omega must be > 0")
        if self.vol <= 0:
            raise ValueError("garch: vol must be > 0")
        if self.shocks not in ("t", "normal"):
            raise ValueError("garch: shocks must be 't' or 'normal'")
        if self.shocks == "t" and not self.nu > 2:
            raise ValueError("garch: Student-t shocks need nu > 2 (finite variance)")

    def omega_per_step(self, step_seconds: float) -> float:
        """``omega`` if given, else ``vol^2 * dt * (1 - alpha - beta)`` with ``dt`` the step in years."""
        if self.omega is not None:
            return float(self.omega)
        return self.vol**2 * (step_seconds / YEAR_SECONDS) * (1.0 - self.alpha - self.beta)


def _check(start_price: float, steps: int, step_seconds: float) -> None:
    if not start_price > 0:
        raise ValueError("start price must be > 0")
    if steps < 1:
        raise ValueError("a path needs at least one step")
    if not step_seconds > 0:
        raise ValueError("step length must be > 0")


def _path(start_price: float, log_returns: np.ndarray, step_seconds: float, start_ns: int, source: str) -> PricePath:
    steps = log_returns.shape[0] + 1
    logp = np.concatenate([[0.0], np.cumsum(log_returns)])
    index = start_price * np.exp(logp)
    index[0] = start_price
    time_ns = start_ns + np.rint(np.arange(steps) * step_seconds * NS_PER_S).astype(np.int64)
    return PricePath(time_ns=time_ns, index=index, source=source)


def _describe(name: str, params: object) -> str:
    items = asdict(params).items()  # type: ignore[call-overload]
    return f"{name}(" + ", ".join(f"{k}={v}" for k, v in items) + ")"


def gbm_jump_path(
    params: GbmJumpParams,
    start_price: float,
    steps: int,
    step_seconds: float,
    rng: np.random.Generator,
    start_ns: int = 0,
) -> PricePath:
    """A Merton jump-diffusion path (module docstring) of ``steps`` prices from ``start_price``.

    Draw order (fixed, part of the contract): ``Z`` (steps - 1 normals), ``N`` (steps - 1 Poisson counts),
    ``Z'`` (steps - 1 normals).
    """
    _check(start_price, steps, step_seconds)
    p = params
    m = steps - 1
    dt = step_seconds / YEAR_SECONDS
    z = rng.standard_normal(m)
    n_jumps = rng.poisson(p.lam * dt, m)
    z2 = rng.standard_normal(m)
    kappa = np.expm1(p.jump_mean + 0.5 * p.jump_sd**2)
    drift = (p.mu - 0.5 * p.sigma**2 - p.lam * kappa) * dt
    r = drift + p.sigma * np.sqrt(dt) * z + p.jump_mean * n_jumps + p.jump_sd * np.sqrt(n_jumps) * z2
    return _path(start_price, r, step_seconds, start_ns, _describe("gbm-jump", p))


def garch_shocks(params: GarchParams, n: int, rng: np.random.Generator) -> np.ndarray:
    """The ``n`` unit-variance shocks ``eps`` a GARCH path draws (the only draws it makes)."""
    if params.shocks == "normal":
        return rng.standard_normal(n)
    return rng.standard_t(params.nu, n) * np.sqrt((params.nu - 2.0) / params.nu)


def garch_returns(params: GarchParams, eps: np.ndarray, step_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """``(r, h)``: GARCH(1,1) log returns and their conditional variances for the shocks ``eps`` (n,)."""
    omega = params.omega_per_step(step_seconds)
    a, b, mu = params.alpha, params.beta, params.mu
    n = eps.shape[0]
    r = np.empty(n)
    h = np.empty(n)
    var = omega / (1.0 - a - b)
    for t, x in enumerate(eps.tolist()):  # a scalar recursion (~0.3 us a step), cheap next to the engine
        h[t] = var
        e = math.sqrt(var) * x
        r[t] = mu + e
        var = omega + a * e * e + b * var
    return r, h


def garch_path(
    params: GarchParams,
    start_price: float,
    steps: int,
    step_seconds: float,
    rng: np.random.Generator,
    start_ns: int = 0,
) -> PricePath:
    """A GARCH(1,1) path (module docstring) of ``steps`` prices from ``start_price``; draws
    :func:`garch_shocks` (steps - 1 shocks)."""
    _check(start_price, steps, step_seconds)
    eps = garch_shocks(params, steps - 1, rng)
    r, _ = garch_returns(params, eps, step_seconds)
    return _path(start_price, r, step_seconds, start_ns, _describe("garch", params))


def crash_path(
    start: float = 100.0, end: float = 60.0, ticks: int = 40, step_seconds: float = 1.0, start_ns: int = 0
) -> PricePath:
    """The peer benchmark's crash (issue #6): ``ticks`` equal moves from ``start`` to ``end``, i.e.
    ``ticks + 1`` prices ``linspace(start, end, ticks + 1)`` (100, 99, ..., 60 by default)."""
    if ticks < 1:
        raise ValueError("a crash needs at least one tick")
    index = np.linspace(float(start), float(end), ticks + 1)
    time_ns = start_ns + np.rint(np.arange(ticks + 1) * step_seconds * NS_PER_S).astype(np.int64)
    return PricePath(time_ns=time_ns, index=index, source=f"crash({start:g}->{end:g}, {ticks} ticks)")


MODELS: dict[str, tuple[type, Callable[..., PricePath]]] = {
    "gbm-jump": (GbmJumpParams, gbm_jump_path),
    "garch": (GarchParams, garch_path),
}
"""Path models by name: ``(parameter class, generator)``."""


def model_params(model: str, values: dict | None = None) -> object:
    """The parameter object of ``model`` with ``values`` (name -> value) over its defaults.

    Raises:
        ValueError: unknown model or parameter name, or an invalid value.
    """
    if model not in MODELS:
        raise ValueError(f"unknown path model {model!r}; known: {', '.join(MODELS)}")
    cls = MODELS[model][0]
    names = {f.name: f for f in fields(cls)}
    kw = {}
    for k, v in (values or {}).items():
        if k not in names:
            raise ValueError(f"unknown parameter {k!r} of path model {model!r}; known: {', '.join(names)}")
        if k == "shocks":
            kw[k] = str(v)
        elif k == "omega" and v is None:
            kw[k] = None
        else:
            kw[k] = float(v)
    return cls(**kw)


def generate(
    model: str, params: object, start_price: float, steps: int, step_seconds: float, seed: int, start_ns: int = 0
) -> PricePath:
    """Path of ``model`` with ``params`` drawn from ``Generator(PCG64(seed))``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return MODELS[model][1](params, start_price, steps, step_seconds, rng, start_ns=start_ns)


def path_seeds(root: int, n: int) -> np.ndarray:
    """``n`` per-path seeds (uint64 as int64-safe Python ints in a uint64 array): path ``i``'s is the first
    64-bit word of ``SeedSequence(root).spawn(n)[i]``, so it depends only on ``(root, i)``; pass it to
    ``PCG64`` (:func:`generate`) to redraw that path alone."""
    children = np.random.SeedSequence(int(root)).spawn(int(n))
    return np.array([c.generate_state(1, np.uint64)[0] for c in children], dtype=np.uint64)
