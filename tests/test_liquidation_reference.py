"""The compiled liquidation stage equals a plain-Python reference of the same stage (issue #11), on random
multi-instrument portfolio books: the same events, in the same order, and the same book, funds and order-book
state afterwards.

The reference (:func:`reference_stage`) is written from the stage's specification (:mod:`delever.liquidation`'s
docstring, issue #11) in Python ints: the account backing of a cross position (:func:`delever.margin.cross_backing`,
Python), the largest book part the fund can cover, the book fill shared pro rata by the liquidity providers
(largest remainder, ties to the lower index), ADL in queue order at the bankruptcy price with each counterparty's
non-overlapping cap, the rest to the book, then the fee, the payout (only once the account is flat) or the bad
debt. It shares with the kernel only the order-book model (:func:`delever.liquidation.book_fill_price`) and the
ranking of the ADL queue (:class:`delever.adl.queue.AdlQueue`), neither of which is under test here.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_portfolio_properties import INSTRUMENTS, START, TIERS, figures, random_book, valuation

from delever import events as ev
from delever import margin
from delever.adl.queue import AdlQueue
from delever.events import EventBuffer
from delever.liquidation import book_fill_price
from delever.liquidation_stage import run_stage
from delever.liquidity import DepthCurve
from delever.units import mul_ppm_ceil, money

VPL = [i.value_per_lot_tick for i in INSTRUMENTS]


class Ref:
    """A Python copy of the book (lists of ints) and the stage's events."""

    def __init__(self, book):
        self.wallet = [int(x) for x in book.wallet]
        self.size = [int(x) for x in book.size]
        self.cost = [int(x) for x in book.cost]
        self.coll = [int(x) for x in book.collateral]
        self.iso = [bool(x) for x in book.isolated]
        self.acc = [int(x) for x in book.account]
        self.inst = [int(x) for x in book.instrument]
        self.events = []

    def trade(self, p: int, delta: int, price: int) -> int:
        """``delta`` lots at ``price`` on position ``p``; the realized PnL (the closed share of the cost rounds up,
        so the PnL rounds down: against the account), credited to its margin."""
        v = VPL[self.inst[p]]
        s, c = self.size[p], self.cost[p]
        if s == 0 or (s > 0) == (delta > 0):
            self.size[p], self.cost[p] = s + delta, c + delta * price * v
            return 0
        k = -delta if abs(delta) <= abs(s) else s
        ck = c if k == s else -((-(c * k)) // s)
        realized = k * price * v - ck
        rest = delta + k
        self.size[p], self.cost[p] = s - k + rest, c - ck + rest * price * v
        if self.iso[p]:
            self.coll[p] += realized
        else:
            self.wallet[self.acc[p]] += realized
        return realized

    def emit(self, *row):
        self.events.append(tuple(int(x) for x in row))


def reference_stage(ref, book_copy, order, m, marks, fee_ppm, centre, curve, lp, fund, policy, rule, excluded):
    """The liquidation stage of ``order`` on instrument ``m`` (module docstring); returns the order book's net
    absorbed lots. ``book_copy`` (a :class:`Book` kept equal to ``ref``) feeds the ADL ranking."""
    v = VPL[m]
    net = 0.0
    queue = AdlQueue(book_copy, m, int(marks[m]), v, lambda: equities(ref, marks), excluded, policy,
                     (TIERS.floors, TIERS.mmr_ppm, TIERS.cum))  # fmt: skip
    ptr = [0, 0]  # the first entry of each side not used up

    def sync():
        book_copy.size[:], book_copy.cost[:] = ref.size, ref.cost
        book_copy.collateral[:], book_copy.wallet[:] = ref.coll, ref.wallet

    def upnl(p):
        return ref.size[p] * int(marks[ref.inst[p]]) * VPL[ref.inst[p]] - ref.cost[p]

    def margin_equity(p):
        if ref.iso[p]:
            return ref.coll[p] + upnl(p)
        a = ref.acc[p]
        return ref.wallet[a] + sum(upnl(x) for x in range(len(ref.size)) if ref.acc[x] == a and not ref.iso[x])

    def capacity(p2, sg, price):
        lots = abs(ref.size[p2])
        gap = sg * (price - int(marks[ref.inst[p2]])) * v
        if gap <= 0:
            return lots
        eq = margin_equity(p2)
        return 0 if eq <= 0 else min(lots, eq // gap)

    def book_execute(p, delta, price):
        nonlocal net
        r = ref.trade(p, delta, price)
        net += delta
        ref.emit(ev.LIQUIDATION_FILL, ref.acc[p], ev.BOOK, p, delta, price, r, 0)
        total, n_lp = abs(delta), len(lp)
        share = [total // n_lp] * n_lp  # equal weights: the odd lots to the lowest indices
        for j in range(total - sum(share)):
            share[j] += 1
        sign = -1 if delta > 0 else 1
        for j, q in enumerate(lp):
            if share[j]:
                r2 = ref.trade(q, sign * share[j], price)
                ref.emit(ev.LP_FILL, ref.acc[q], ref.acc[p], q, sign * share[j], price, r2, 0)

    for p in order:
        s = ref.size[p]
        if s == 0:
            continue
        sg, q, a, c = (1 if s > 0 else -1), abs(s), ref.acc[p], ref.cost[p]
        mine = [x for x in range(len(ref.size)) if ref.acc[x] == a]
        other_upnl = other_open = 0
        if ref.iso[p]:
            b0 = ref.coll[p]
        elif len(mine) == 1:
            b0 = ref.wallet[a]
        else:
            cross = [x for x in mine if not ref.iso[x] and ref.size[x] != 0]
            other_upnl = sum(upnl(x) for x in cross if x != p)
            other_open = len(cross) - 1
            mm = {x: TIERS.maintenance_margin(abs(ref.size[x]) * int(marks[ref.inst[x]]) * VPL[ref.inst[x]])
                  for x in cross}  # fmt: skip
            b0 = margin.cross_backing(rule, ref.wallet[a], upnl(p), other_upnl, mm[p] if rule else 0,
                                      sum(mm.values()) if rule else 0)  # fmt: skip
        p_adl = max(margin.bankruptcy_price(s, c, b0, INSTRUMENTS[m]), 1)

        def final(k, b0=b0, c=c, sg=sg, q=q, p_adl=p_adl):  # the margin left with k lots to the book, the rest
            vk = book_fill_price(centre, net, -sg * k, curve) if k else 0  # at the bankruptcy price
            return b0 - c + sg * (k * vk + (q - k) * p_adl) * v

        k_book, need_adl = q, False
        if final(q) < 0 and -final(q) > int(fund[0]):
            v1 = book_fill_price(centre, net, -sg, curve)
            if int(fund[0]) == 0 and sg * (v1 - p_adl) < 0:
                k_book = 0  # the first lot already fills beyond bankruptcy with nothing to pay it
            else:
                # the largest book part the fund can pay for (none: everything to ADL, as the kernel's search)
                k_book = max((k for k in range(q) if -final(k) <= int(fund[0])), default=0)
            need_adl = True
        side = 1 if sg > 0 else 0
        closed = 0
        if k_book > 0:
            vk = book_fill_price(centre, net, -sg * k_book, curve)
            book_execute(p, -sg * k_book, vk)
            closed += k_book * vk * v
        if need_adl:
            rem = q - k_book
            e = ptr[side]  # entries used up leave the queue; a capped counterparty stays for a later price
            while rem > 0:
                if e >= int(queue.length[side]):
                    if queue.complete[side]:
                        break
                    sync()
                    queue.extend(side)  # the ranking is fixed at the first extension, as the kernel's
                    continue
                p2 = int(queue.queue[side, e])
                s2 = ref.size[p2]
                if s2 == 0 or (s2 > 0) == (sg > 0):
                    ptr[side] += e == ptr[side]
                    e += 1
                    continue
                give = capacity(p2, sg, p_adl)
                x = min(abs(s2), rem, give)
                if x <= 0:
                    e += 1
                    continue
                r1 = ref.trade(p, -sg * x, p_adl)
                r2 = ref.trade(p2, sg * x, p_adl)
                if ref.iso[p2] and ref.size[p2] == 0 and ref.coll[p2] >= 0:
                    ref.wallet[ref.acc[p2]] += ref.coll[p2]
                    ref.coll[p2] = 0
                ind = int(queue.indicator[side, e])
                ref.emit(ev.ADL_FILL, a, ref.acc[p2], p, -sg * x, p_adl, r1, ind)
                ref.emit(ev.ADL_COUNTERPARTY_FILL, ref.acc[p2], a, p2, sg * x, p_adl, r2, ind)
                rem -= x
                closed += x * p_adl * v
                if ref.size[p2] == 0:
                    ptr[side] += e == ptr[side]
                    e += 1
                elif x == give:
                    e += 1
            queue.pointer[side] = ptr[side]
            if rem > 0:
                vr = book_fill_price(centre, net, -sg * rem, curve)
                book_execute(p, -sg * rem, vr)
                closed += rem * vr * v
        bal = ref.coll[p] if ref.iso[p] else ref.wallet[a] + other_upnl
        if bal >= 0:
            fee = min(mul_ppm_ceil(closed, fee_ppm), bal)
            if fee > 0:
                bal -= fee
                fund[0] += fee
                ref.emit(ev.LIQUIDATION_FEE, a, ev.INSURANCE_FUND, p, 0, 0, -fee, 0)
        elif other_open == 0:
            pay = min(-bal, int(fund[0]))
            if pay > 0:
                bal += pay
                fund[0] -= pay
                ref.emit(ev.INSURANCE_PAYOUT, a, ev.INSURANCE_FUND, p, 0, 0, pay, 0)
            if bal < 0:
                ref.emit(ev.BAD_DEBT, a, ev.INSURANCE_FUND, p, 0, 0, bal, 0)
        if ref.iso[p]:
            if bal >= 0:
                ref.wallet[a] += bal
                ref.coll[p] = 0
            else:
                ref.coll[p] = bal
        else:
            ref.wallet[a] = bal - other_upnl
        sync()
    return net


def equities(ref, marks):
    n = len(ref.size)
    upnl = [ref.size[p] * int(marks[ref.inst[p]]) * VPL[ref.inst[p]] - ref.cost[p] for p in range(n)]
    pos_eq = [ref.coll[p] + upnl[p] if ref.iso[p] else upnl[p] for p in range(n)]
    acc_eq = list(ref.wallet)
    for p in range(n):
        if not ref.iso[p]:
            acc_eq[ref.acc[p]] += upnl[p]
    return np.array(pos_eq, dtype=np.int64), np.array(acc_eq, dtype=np.int64)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_inst=st.integers(2, 3),
    n_accounts=st.integers(3, 20),
    shock=st.lists(st.floats(0.8, 1.2), min_size=3, max_size=3),
    funds=st.lists(st.sampled_from([0, 50, 5_000, 1_000_000]), min_size=3, max_size=3),
    depth=st.sampled_from([0.01, 5.0, 1_000.0, 1e6]),
    fee_ppm=st.sampled_from([0, 3_000, 50_000]),
    policy=st.sampled_from(["queue-bitmex", "queue-binance"]),
    rule=st.sampled_from([margin.BACKING_WHOLE_ACCOUNT, margin.BACKING_MM_SHARE]),
)
def test_compiled_stage_equals_the_python_reference(seed, n_inst, n_accounts, shock, funds, depth, fee_ppm, policy,
                                                     rule):  # fmt: skip
    rng = np.random.default_rng(seed)
    book = random_book(rng, n_inst, n_accounts)
    ref_book = book.copy()
    ref = Ref(book)
    marks = np.array([max(1, int(START[k] * shock[k])) for k in range(3)], dtype=np.int64)
    pos_eq, pos_mm, acc_eq, acc_mm = figures(book, marks)
    trader = ~book.exempt[book.account]
    liquidatable = [
        p for p in range(book.n_positions)
        if trader[p] and book.size[p] != 0
        and ((pos_eq[p] < pos_mm[p]) if book.isolated[p] else (acc_eq[book.account[p]] < acc_mm[book.account[p]]))
    ]  # fmt: skip
    excluded = np.zeros(book.n_positions, dtype=bool)
    excluded[liquidatable] = True
    for m in range(n_inst):
        order = np.array([p for p in liquidatable if book.instrument[p] == m], dtype=np.int64)
        if order.size == 0:
            continue
        curve = DepthCurve.linear(depth).arrays()
        lp = np.flatnonzero(book.exempt[book.account] & (book.instrument == m))
        fund = np.array([money(funds[m])], dtype=np.int64)
        ref_fund = [int(fund[0])]
        queue = AdlQueue(book, m, int(marks[m]), VPL[m], lambda: figures_np(book, marks), excluded, policy,
                         (TIERS.floors, TIERS.mmr_ppm, TIERS.cum))  # fmt: skip
        buf, state = EventBuffer(), np.zeros(1)
        run_stage(order, book, VPL[m], fee_ppm, float(marks[m]), state, curve, lp, np.ones(lp.size, dtype=np.int64),
                  fund, queue, buf, np.zeros(order.size, np.int64), 1, valuation(marks, rule))  # fmt: skip
        ref.events = []
        net = reference_stage(ref, ref_book, order.tolist(), m, marks, fee_ppm, float(marks[m]), curve, lp.tolist(),
                              ref_fund, policy, rule, excluded)  # fmt: skip
        cols = ("kind", "account", "counterparty", "position", "size", "price", "amount", "indicator")
        kernel_events = [tuple(int(buf.cols[k][i]) for k in cols) for i in range(buf.n)]
        assert kernel_events == ref.events
        assert int(fund[0]) == ref_fund[0] and state[0] == net
        assert book.wallet.tolist() == ref.wallet and book.size.tolist() == ref.size
        assert book.cost.tolist() == ref.cost and book.collateral.tolist() == ref.coll


def figures_np(book, marks):
    pos_eq, _, acc_eq, _ = figures(book, marks)
    return np.array(pos_eq, dtype=np.int64), np.array(acc_eq, dtype=np.int64)
