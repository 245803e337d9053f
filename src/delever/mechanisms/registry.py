"""The mechanisms the engine's step loop runs, in the order it calls them in each phase
(:mod:`delever.mechanisms.base`). Adding a mechanism: a :class:`~delever.mechanisms.base.Mechanism` in its
own module, listed here at the place its phases need; the engine is not edited.

The order is the step order of the engine before the protocol (tested byte for byte): market makers withdraw
before the marks move; per instrument before the sweep, dynamic margin, then funding, then the circuit
breaker's gate; in a batch the insurance fund's cap is set aside first (so every payer of the batch sees it),
the backstop takes next, then the per-step limits; orders are sized by partial liquidation (or incremental
liquidation), then cut by the per-step limits; after the stage, the fund's cap is put back, partial liquidation's
bookkeeping, then the clawback of socialized loss; proactive deleveraging after every instrument's liquidations.
"""

from __future__ import annotations

from ..options.engine_margin import OptionMargin
from .backstop import Backstop
from .base import BookRules, Mechanism
from .block_limits import LiquidationLimits
from .circuit_breaker import CircuitBreakers
from .dynamic_margin import DynamicMargin
from .funding import Funding
from .incremental import IncrementalLiquidation
from .insurance_cap import InsuranceCap
from .limits import PositionLimits
from .partial import PartialLiquidation
from .proactive import ProactiveDeleveraging
from .socialized import SocializedLoss
from .withdrawal import MarketMakerWithdrawal

STEP_MECHANISMS: tuple[type[Mechanism], ...] = (
    MarketMakerWithdrawal,
    DynamicMargin,
    Funding,
    CircuitBreakers,
    InsuranceCap,
    OptionMargin,
    Backstop,
    PartialLiquidation,
    IncrementalLiquidation,
    LiquidationLimits,
    SocializedLoss,
    ProactiveDeleveraging,
)
"""Every mechanism with a part in the step loop, in call order. ``cross_margin`` acts when the market is built
(:func:`delever.contagion.prepare_multi`): it makes the instruments the step loop runs over."""

BOOK_MECHANISMS: tuple[type[Mechanism], ...] = (PositionLimits, SocializedLoss)
"""The mechanisms with a book phase (:meth:`~delever.mechanisms.base.Mechanism.shape_book`), in call order:
position limits' notional cap, socialized loss's protected accounts."""


def book_rules(scenario) -> BookRules:
    """What ``scenario``'s enabled mechanisms ask of its starting book (phase -1, :data:`BOOK_MECHANISMS` order)."""
    rules = BookRules()
    for cls in BOOK_MECHANISMS:
        mechanism = cls.from_scenario(scenario)
        if mechanism is not None:
            rules = mechanism.shape_book(rules)
    return rules


def build(scenario) -> list[Mechanism]:
    """The mechanisms ``scenario`` turns on, in :data:`STEP_MECHANISMS` order."""
    return [m for cls in STEP_MECHANISMS if (m := cls.from_scenario(scenario)) is not None]


def after_sweep(mechanisms: list[Mechanism], engine, out, count: int) -> int:
    """Phase 5' (:meth:`~delever.mechanisms.base.Mechanism.after_sweep`) of every mechanism, in order: the
    liquidatable positions' count after each has listed the accounts its requirements make liquidatable."""
    for mechanism in mechanisms:
        count = mechanism.after_sweep(engine, out, count)
    return count
