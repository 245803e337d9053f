"""Caps on what the insurance fund pays for one market's bankruptcies (Drift v2, ../shared/specs/engines.md section
2; drift-labs/protocol-v2 ``controller/liquidation.rs`` ``resolve_perp_bankruptcy``):

``if_payment = min(loss, insurance_fund_vault_balance - 1, quote_max_insurance - quote_settled_insurance)``: the
vault always keeps one unit ("subtract 1 so insurance_fund_vault_balance always stays >= 1"; Drift's quote
precision is 1e-6 USDC, the engine's money unit, so ``keep`` = 0.000001), and each market may draw at most
``quote_max_insurance`` over its life, ``quote_settled_insurance`` counting what it drew. What the fund does not
pay is the bankrupt account's bad debt, which the socialized loss (:mod:`.socialized`, Drift: through the
cumulative funding rate) or ADL takes. Drift's market fee pool, which pays between the fund and socialization,
has no counterpart in the engine (liquidation fees go to the insurance fund): not modelled.

How: while a batch of the market is liquidated (phases 5a-5d), the part of the fund above its payable budget is
held aside, so every payer of the stage (the liquidation kernel, the backstop or takeover) sees only what it may
pay, and is put back after the stage; the stage's ``insurance_payout`` rows count towards the market's settled
insurance. Nothing moves between accounts here: the fund's balance after the batch is what the stage left
plus what was held aside, so money is conserved exactly.
"""

from __future__ import annotations

import numpy as np

from .. import events as ev
from ..units import money
from .base import NO_ACCOUNTS, Mechanism

UNCAPPED = -1
"""``max_payout`` in money when the market's lifetime draw is not capped."""


def payable(balance: int, keep: int, max_payout: int, settled: int) -> int:
    """What the fund may pay now (money, >= 0): ``min(balance - keep, max_payout - settled)``, without the second
    term when ``max_payout`` is :data:`UNCAPPED` (Drift: ``min(vault - 1, quote_max_insurance -
    quote_settled_insurance)``)."""
    budget = balance - keep
    if max_payout != UNCAPPED:
        budget = min(budget, max_payout - settled)
    return max(budget, 0)


class InsuranceCap(Mechanism):
    """The step loop's cap on the insurance fund's payouts (module docstring), per instrument: in the take phase
    (first of the mechanisms, so the backstop's takeover sees the cap too) the fund above :func:`payable` is held
    aside; after the stage it is put back and the batch's payouts are added to the instrument's settled
    insurance (``settled_insurance`` in the figures, money). It counts as fired in a batch where it held money
    aside and a deficit was left unpaid (notional: the money held aside)."""

    name = "insurance_cap"

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def from_scenario(cls, scenario) -> InsuranceCap | None:
        ic = scenario.mechanisms.insurance_cap
        return cls(ic) if ic.enabled else None

    def setup(self, sim) -> None:
        self.keep = money(self.config.keep)
        self.max_payout = UNCAPPED if self.config.max_payout is None else money(self.config.max_payout)
        self.settled = np.zeros(sim.M, dtype=np.int64)
        self.held = 0

    def take(self, sim, batch) -> None:
        fund = sim.funds.of(batch.m)
        budget = payable(int(fund[0]), self.keep, self.max_payout, int(self.settled[batch.m]))
        self.held = max(int(fund[0]) - budget, 0)
        fund[0] -= self.held

    def after_stage(self, sim, batch) -> None:
        held, self.held = self.held, 0
        sim.funds.of(batch.m)[0] += held
        c, rows = sim.buf.cols, slice(batch.first_event, sim.buf.n)
        kinds = c["kind"][rows]
        self.settled[batch.m] += int(c["amount"][rows][kinds == ev.INSURANCE_PAYOUT].sum())
        if held and (kinds == ev.BAD_DEBT).any():  # the cap bound: money held aside while a deficit went unpaid
            sim.note(self.name, NO_ACCOUNTS, held)

    def finish(self, sim, extra: dict) -> None:
        extra[self.name]["settled_insurance"] = int(self.settled[0])  # the scenario instrument's

    def instrument_figures(self, sim, m: int, record: dict) -> None:
        record["settled_insurance"] = int(self.settled[m])
