"""The ADL policy of a scenario and when a liquidation's loss goes to ADL."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..adl.hierarchy import DEFAULT_KEYS as DEFAULT_HIERARCHY_KEYS
from ..validate import Money
from .base import ConfigModel


class AdlConfig(ConfigModel):
    """The ADL policy (:mod:`delever.adl.policies`): a queue (``queue-bitmex`` default, ``queue-binance``,
    ``queue-hyperliquid``, ``queue-bitget``), the configurable ``hierarchy`` queue, or an allocation rule
    (``pro-rata-pnl`` ...).

    ``keys``, ``form``, ``weights`` and ``funding_window_s`` configure the ``hierarchy`` policy
    (:mod:`delever.adl.hierarchy`): ``keys = ["effective_leverage desc", "notional desc", ...]`` in priority
    order, combined lexicographically or as a weighted sum of ranks (one weight per key), and the window
    (seconds) over which ``funding_received`` sums a position's funding. They are kept, unused, under the other
    policies, so that ``delever compare`` can run the scenario's hierarchy beside them.
    """

    policy: str = "queue-bitmex"
    keys: list[str] = Field(default_factory=lambda: list(DEFAULT_HIERARCHY_KEYS))
    form: Literal["lexicographic", "weighted"] = "lexicographic"
    weights: list[Annotated[float, Field(ge=0)]] | None = None
    funding_window_s: Annotated[float, Field(gt=0)] = 28_800.0
    trigger: Literal["fund-cannot-pay", "negative-equity", "fund-drawdown", "zero-fill"] = "fund-cannot-pay"
    """When a liquidation's loss goes to ADL rather than the insurance fund (:mod:`delever.adl.trigger`):
    ``fund-cannot-pay`` (Binance, BitMEX: the fund cannot pay the book close's deficit), ``negative-equity``
    (Hyperliquid: the account's value would go below zero; the fund is not used first) or ``fund-drawdown``
    (OKX, Bybit's pool drawdown: the fund fell ``drawdown_pct`` from its peak within ``drawdown_window_s``;
    otherwise ``fund-cannot-pay``) or ``zero-fill`` (dYdX: only a position whose IOC liquidation order filled
    nothing and whose equity is < 0; with a market order as ``fund-cannot-pay``)."""
    fill: Literal["bankruptcy", "mark", "previous-mark"] = "bankruptcy"
    """ADL fill price: the bankrupt position's bankruptcy price (Binance, BitMEX, Bybit), the mark (OKX) or the
    previous step's mark (Hyperliquid); what a fill other than the bankruptcy price leaves on the bankrupt
    account is settled with the insurance fund (:mod:`delever.adl.trigger`)."""
    drawdown_pct: Annotated[Decimal, Field(gt=0, le=100)] = Decimal(30)
    """``fund-drawdown``: ADL starts when the fund is at or below its peak within the window less this percent
    (OKX: "a straight-line decrease of 30% from the peak value of the risk reserve within 8 hours")."""
    drawdown_stop_pct: Annotated[Decimal, Field(ge=0, le=100)] | None = None
    """``fund-drawdown``: ADL, once started, stops when the drawdown is back below this percent (Bybit:
    ``adlStopRatio`` -0.25 against a start at -0.30); default ``drawdown_pct`` (OKX's end threshold
    ``adlRecRate`` is not published)."""
    drawdown_window_s: Annotated[float, Field(gt=0)] = 28_800.0
    """``fund-drawdown``: the window (seconds) over which the fund's peak is taken (OKX, Bybit: 8 h)."""
    drawdown_peak: Literal["window", "run"] = "window"
    """``fund-drawdown``: the peak is the largest balance within ``drawdown_window_s`` (``window``: OKX, Bybit) or
    since the run's start (``run``: Bitget's "drops 30% from its peak", no window stated)."""
    drawdown_min_balance: Annotated[Money, Field(ge=0)] | None = None
    """``fund-drawdown``: the drawdown rule starts only while the fund is above this balance (quote; Bybit's
    ``adlTriggerThreshold``: "balance > adlTriggerThreshold AND pnlRatio < insurancePnlRatio"); None: no
    threshold. Checked at the start of each step (:mod:`delever.adl.trigger`)."""
    drawdown_close: Literal["whole-position", "deficit"] = "whole-position"
    """``fund-drawdown``, while on: ``whole-position`` (OKX: "no more market liquidation orders; liquidated
    positions matched directly with highest-ranked counterparties") or ``deficit`` (Bybit: the book first,
    the part the fund would have to pay is deleveraged)."""

    @field_validator("keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        from ..adl.hierarchy import HierarchyKey

        for k in keys:
            HierarchyKey.parse(k)  # ValueError names the key and the known ones
        if not keys:
            raise ValueError("at least one key")
        return keys

    @model_validator(mode="after")
    def _known(self) -> AdlConfig:
        from ..adl.policies import POLICIES

        if self.policy not in POLICIES:
            raise ValueError(f"unknown ADL policy {self.policy!r}; known: {', '.join(POLICIES)}")
        self.hierarchy()  # raises ValueError on a bad key, direction or weights
        if self.drawdown_stop_pct is not None and self.drawdown_stop_pct > self.drawdown_pct:
            raise ValueError(
                f"drawdown_stop_pct {self.drawdown_stop_pct} exceeds drawdown_pct {self.drawdown_pct}: ADL would "
                "stop before it starts"
            )
        return self

    def hierarchy(self):
        """The :class:`~delever.adl.hierarchy.HierarchyRule` of ``keys``/``form``/``weights``."""
        from ..adl.hierarchy import HierarchyRule

        return HierarchyRule.from_config(self.keys, self.form, self.weights)

    def build(self, policy: str | None = None):
        """The :class:`~delever.adl.policies.Policy` to run: ``policy`` (default: this config's), with this
        config's hierarchy when it is ``hierarchy``."""
        from ..adl.policies import get_policy, hierarchy_policy

        name = self.policy if policy is None else policy
        return hierarchy_policy(self.hierarchy()) if name == "hierarchy" else get_policy(name)
