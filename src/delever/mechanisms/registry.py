"""The mechanisms the engine's step loop runs, in the order it calls them in each phase
(:mod:`delever.mechanisms.base`). Adding a mechanism: a :class:`~delever.mechanisms.base.Mechanism` in its
own module, listed here at the place its phases need; the engine is not edited.

The order is the step order of the engine before the protocol (tested byte for byte): market makers withdraw
before the marks move; per instrument before the sweep, dynamic margin, then funding, then the circuit
breaker's gate; in a batch the backstop takes first, then the per-step limits; orders are sized by partial
liquidation, then cut by the per-step limits; after the stage, partial liquidation's bookkeeping, then the
clawback of socialized loss; proactive deleveraging after every instrument's liquidations.
"""

from __future__ import annotations

from .backstop import Backstop
from .base import Mechanism
from .block_limits import LiquidationLimits
from .circuit_breaker import CircuitBreakers
from .dynamic_margin import DynamicMargin
from .funding import Funding
from .partial import PartialLiquidation
from .proactive import ProactiveDeleveraging
from .socialized import SocializedLoss
from .withdrawal import MarketMakerWithdrawal

STEP_MECHANISMS: tuple[type[Mechanism], ...] = (
    MarketMakerWithdrawal,
    DynamicMargin,
    Funding,
    CircuitBreakers,
    Backstop,
    PartialLiquidation,
    LiquidationLimits,
    SocializedLoss,
    ProactiveDeleveraging,
)
"""Every mechanism with a part in the step loop, in call order. ``[mechanisms.limits]`` (position caps) and
``socialized_loss``'s protected accounts act when the book is built (:func:`delever.engine.market.prepare`),
``cross_margin`` when the market is (:func:`delever.contagion.prepare_multi`)."""


def build(scenario) -> list[Mechanism]:
    """The mechanisms ``scenario`` turns on, in :data:`STEP_MECHANISMS` order."""
    return [m for cls in STEP_MECHANISMS if (m := cls.from_scenario(scenario)) is not None]
