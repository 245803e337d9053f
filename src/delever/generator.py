"""A seeded generator of trader books, and the liquidity-provider accounts that close every book.

Traders: ``accounts`` one-position accounts on one instrument. Each draws, from ``numpy.random.Generator``
(PCG64) seeded by the scenario seed:

- side: long with probability ``long_fraction``;
- notional at entry (quote): lognormal with median ``notional_median`` and log-sd ``notional_sigma``;
- entry price: the start price times ``exp(N(0, entry_sigma))`` (positions opened over the preceding hours);
- leverage at entry: lognormal with median ``leverage_median`` and log-sd ``leverage_sigma``, clipped to
  ``[1, leverage_max]`` and to the tier's max leverage at its notional (risk-limit tiers, Binance section 1);
- margin mode: isolated with probability ``isolated_fraction``, else cross;
- position age at the start: exponential with mean ``age_mean_s`` seconds (drawn from a separate stream,
  ``PCG64([seed, 1])``, so that it leaves every other draw unchanged); used by the ADL hierarchy's
  ``position_age`` key.

Margin posted = ``ceil(entry notional / leverage)``: the isolated margin, or the cross wallet. A position
that would already be liquidatable at the start price is re-entered at the start price (a real book holds
no account below maintenance margin). The choice of distributions is justified in README.md ("The default
book").

Liquidity providers: ``lp_accounts`` accounts, each with one position on the instrument and ``lp_wallet``
quote in its wallet; together they hold the opposite of the traders' net position (entered at the start
price), so open interest is balanced from the first step, and they take the other side of every liquidation
fill (their positions are the book's resting depth).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from .book import Book, lp_sizes
from .instruments import Instrument
from .margin import maintenance_margins
from .tiers import BASIS_SIZE
from .units import MONEY_SCALE, PPM, money
from .validate import MAX_MONEY


@dataclass(frozen=True)
class GeneratorParams:
    """Parameters of :func:`generate_book` (quote amounts as ``Decimal`` or str)."""

    accounts: int = 100_000
    long_fraction: float = 0.5
    notional_median: Decimal = Decimal(5_000)
    notional_sigma: float = 1.5
    leverage_median: float = 5.0
    leverage_sigma: float = 1.0
    leverage_max: float = 100.0
    entry_sigma: float = 0.02
    isolated_fraction: float = 0.3
    age_mean_s: float = 259_200.0


def generate_book(
    params: GeneratorParams,
    inst: Instrument,
    start_price_ticks: int,
    seed: int,
    lp_accounts: int,
    lp_wallet: Decimal,
    max_account_notional: Decimal | None = None,
    protected_fraction: float = 1.0,
    start_time_ns: int = 0,
) -> Book:
    """Draw a trader book and close it with liquidity providers (module docstring). Accounts
    ``0..accounts-1`` are traders, the last ``lp_accounts`` are the liquidity providers.

    ``max_account_notional`` (quote; position limits, :mod:`delever.mechanisms.limits`) caps each account's
    entry notional by cutting its size; ``protected_fraction`` of the traders get negative-balance protection
    (drawn after everything else, so it does not change the rest of the book); ``start_time_ns`` (ns since the
    Unix epoch) is the time of the start price: positions were opened their age before it, the liquidity
    providers' at it.

    Raises:
        ValueError: non-positive counts or a distribution parameter out of range.
    """
    if params.accounts < 1 or lp_accounts < 1:
        raise ValueError("accounts and lp_accounts must be >= 1")
    if params.age_mean_s < 0:
        raise ValueError("age_mean_s must be >= 0")
    if not 0.0 <= params.long_fraction <= 1.0 or not 0.0 <= params.isolated_fraction <= 1.0:
        raise ValueError("fractions must lie in [0, 1]")
    rng = np.random.Generator(np.random.PCG64(seed))
    n = params.accounts
    v = inst.value_per_lot_tick
    tick = float(inst.tick_size)
    lot = float(inst.lot_size)
    tiers = inst.tiers

    side = np.where(rng.random(n) < params.long_fraction, 1, -1).astype(np.int64)
    notional_q = float(params.notional_median) * np.exp(rng.normal(0.0, params.notional_sigma, n))
    # a lognormal tail can reach any size: no position above the money limit (delever.validate), so that its
    # exact notional, cost and margin fit int64 (never reached by realistic parameters: 5,000 x e^(6 x 1.5)
    # is 4e7 USDT, the limit 2.3e12)
    np.minimum(notional_q, float(MAX_MONEY) / 4, out=notional_q)
    entry = np.maximum(1, np.rint(start_price_ticks * np.exp(rng.normal(0.0, params.entry_sigma, n)))).astype(np.int64)
    lots = np.maximum(1, np.rint(notional_q / (entry * tick * lot))).astype(np.int64)
    del notional_q
    if max_account_notional is not None:
        cap_lots = np.maximum(1, money(max_account_notional) // (entry * v))
        lots = np.minimum(lots, cap_lots)
    lev = np.clip(params.leverage_median * np.exp(rng.normal(0.0, params.leverage_sigma, n)), 1.0, params.leverage_max)
    isolated = rng.random(n) < params.isolated_fraction

    floors = tiers.floors
    max_lev = np.array([float(t.max_leverage) for t in tiers.tiers])
    mmr = tiers.mmr_ppm
    cum = tiers.cum

    def reenter_unhealthy(entry, lots, lev, side) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # temporaries are dropped as soon as they are used: at a million accounts each is 8 MB
        entry_notional = lots * entry * v
        key = lots if tiers.basis == BASIS_SIZE else entry_notional  # the tier of the size on size tiers
        tier = np.clip(np.searchsorted(floors, key, side="right") - 1, 0, len(floors) - 1)
        del key
        lev_cap = np.minimum(lev, max_lev[tier])
        del tier
        margin = np.ceil(entry_notional / lev_cap).astype(np.int64)
        del entry_notional
        mark_notional = lots * start_price_ticks * v
        mm = maintenance_margins(mark_notional, floors, mmr, cum, lots, tiers.basis, tiers.rate_per_lot)
        del mark_notional
        upnl = side * lots * (start_price_ticks - entry) * v
        return margin, margin + upnl < mm, lev_cap

    margin, bad, lev_cap = reenter_unhealthy(entry, lots, lev, side)
    entry = np.where(bad, start_price_ticks, entry)
    del margin, bad, lev_cap
    if max_account_notional is not None:  # the cap holds at the re-entry price too
        lots = np.minimum(lots, np.maximum(1, money(max_account_notional) // (entry * v)))
    margin, bad, lev_cap = reenter_unhealthy(entry, lots, lev, side)
    assert not bad.any(), "a position entered at the start price at <= max leverage is healthy"
    del bad, lev

    size = side * lots
    del side, lots
    cost = size * entry * v
    del entry
    protected = rng.random(n) < protected_fraction if protected_fraction < 1.0 else np.ones(n, dtype=bool)
    net = int(size.sum())
    # liquidity providers hold -net, split as evenly as whole lots allow
    lp_size = lp_sizes(net, lp_accounts)
    lp_cost = lp_size * start_price_ticks * v

    # the book's columns, each built once and handed over without a copy
    wallet = np.concatenate([np.where(isolated, 0, margin), np.full(lp_accounts, money(lp_wallet), dtype=np.int64)])
    collateral = np.concatenate([np.where(isolated, margin, 0), np.zeros(lp_accounts, dtype=np.int64)])
    del margin
    size = np.concatenate([size, lp_size])
    cost = np.concatenate([cost, lp_cost])
    isolated = np.concatenate([isolated, np.zeros(lp_accounts, dtype=bool)])
    entry_leverage = np.concatenate([lev_cap, np.zeros(lp_accounts)])
    del lev_cap
    # opening times: position ages from their own stream (the draws above are unchanged), a block at a time
    # so that a large book holds no full-size temporary
    ages = np.random.Generator(np.random.PCG64([seed, 1]))
    opened = np.full(n + lp_accounts, int(start_time_ns), dtype=np.int64)
    for lo in range(0, n, 65_536):
        hi = min(lo + 65_536, n)
        opened[lo:hi] -= np.rint(ages.exponential(params.age_mean_s, hi - lo) * 1e9).astype(np.int64)
    return Book.from_arrays(
        wallet=wallet,
        exempt=np.concatenate([np.zeros(n, dtype=bool), np.ones(lp_accounts, dtype=bool)]),
        account=np.arange(n + lp_accounts, dtype=np.int64),
        size=size,
        cost=cost,
        collateral=collateral,
        isolated=isolated,
        entry_leverage=entry_leverage,
        protected=np.concatenate([protected, np.ones(lp_accounts, dtype=bool)]),
        opened_ns=opened,
        copy=False,
    )


assert MONEY_SCALE == PPM  # margin rounding above works in money units of 1e-6 quote
