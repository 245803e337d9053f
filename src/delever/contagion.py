"""Cross-margin contagion: several perpetuals, cross accounts holding positions on more than one, so that a loss
on one instrument liquidates positions on the others (issue #4, item 9).

Inputs (``[mechanisms.cross_margin]``, :class:`delever.scenario.CrossMarginConfig`): the scenario's instrument
(BTCUSDT on its real index path) and one or more extra perpetuals whose index paths follow a stated
correlation model, since ../shared/data holds no ETH or SOL path for 10 October 2025 (its ETH 10-minute data,
stablesims-eth-10m, covers 12 March 2020 and 19 May 2021 only): ``r = beta * (rho * r_index + sqrt(1 - rho^2)
* sigma_index * eps)`` per step, eps standard normal from the scenario seed. A fraction ``holders_fraction`` of
the cross trader accounts also opens a position on each extra instrument at its start price (side, notional and
leverage drawn as the generator draws them; the margin is added to the cross wallet), and the
liquidity-provider accounts take the opposite of the traders' net position there too.

Each step: every instrument's mark (:mod:`delever.mark`) from its own book (:mod:`delever.liquidity`, the
calibrated depth shape at ``depth_scale`` of its notional); one full margin sweep over all instruments
(:func:`delever.sweep.margin_sweep`: a cross account's equity and MM sum over its positions); every position of
a liquidatable account is closed, instrument by instrument, each in its own book with its own insurance fund
and its own ADL queue (ADL stays per instrument, as on Hyperliquid, where "ADL never crossed assets",
venues.md section 11). Order and size within an account: every position, whole, in the scenario's instrument
order (a stand-in: Binance first tries one large IOC order to bring the account back above maintenance and
dYdX liquidates by a per-position ratio, engines.md section 1; neither is modelled in multi-instrument runs).
A close's bankruptcy price follows the account (issue #11): the position is backed by
the wallet plus the uPnL of the account's other positions at their marks (Binance ``WB + UPNL1``,
:func:`delever.margin.cross_backing`), so closing it there leaves the account's equity at zero. A deficit left
while the account still holds positions on other instruments is carried to their closes, later in the same
step: the last close settles it with that instrument's fund and ADL queue - the contagion - and a solvent
account never receives fund money. A position liquidated while its own PnL was positive (it was taken down by
another instrument) is counted as a contagion liquidation.

Dated futures (issue #7): an extra instrument with ``kind = "dated_future"`` and ``index = "underlying"`` is a
future on the scenario's own underlying; its book is centred on the index plus a basis that shrinks to 0 at
expiry, calendar-spread accounts hold the opposite of their perpetual position on it, and at the first step at
or after its expiry it is settled (:func:`delever.settlement.final_settlement`) before that step's margin
sweep, after which its mark stays at the settlement price and it takes no further part in the run.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction
from functools import partial

import numpy as np

from . import events as ev
from .adl.queue import AdlQueue
from .adl.trigger import AdlTriggerState
from .book import Book, check_int64_headroom
from .engine import Market, RunResult, StepSeries, position_column, prepare
from .instruments import Instrument
from .liquidation import AccountValuation, run_stage
from .liquidity import DepthCurve, marginal_price, refill_factor
from .mark import MarkPrice, band_fraction
from .prices import PricePath
from .scenario import CrossInstrumentConfig, Scenario, build_tiers
from .settlement import SettlementReport, basis_left, check_expiry, expiry_ns, settle_at
from .sweep import margin_sweep
from .units import money, rate_ppm


@dataclasses.dataclass
class MultiMarket:
    """The inputs of a multi-instrument run: instruments, index paths, book centres (the index, or a dated
    future's index plus its basis; quote, float64 (T,)), depth curves and settlement windows (seconds; dated
    futures only), one each, and the book."""

    base: Market
    instruments: list[Instrument]
    paths: list[PricePath]
    curves: list[DepthCurve]
    funds: list[int]
    book: Book
    centres: list[np.ndarray]
    settlement_windows: list[float]


def correlated_path(base: PricePath, cfg: CrossInstrumentConfig, rng: np.random.Generator) -> PricePath:
    """The extra instrument's index path from the base path's log returns (module docstring)."""
    r = np.diff(np.log(base.index))
    sigma = float(np.std(r)) if r.size else 0.0
    eps = rng.standard_normal(r.size)
    rho = cfg.correlation
    rx = cfg.beta * (rho * r + np.sqrt(max(1.0 - rho * rho, 0.0)) * sigma * eps)
    index = float(cfg.start_price) * np.exp(np.concatenate([[0.0], np.cumsum(rx)]))
    return PricePath(base.time_ns.copy(), index, f"correlated with {base.source} (beta {cfg.beta}, rho {rho})")


@dataclasses.dataclass
class ExtraInstrument:
    """One extra instrument of a multi-instrument run before its positions: the instrument, its index path, its
    book centre (quote, float64 (T,)), its start price (ticks) and the generator that drew its path (and draws
    its holders next, so that a run stays a pure function of (scenario, seed))."""

    inst: Instrument
    path: PricePath
    centre: np.ndarray
    start_ticks: int
    rng: np.random.Generator


def extra_instruments(scenario: Scenario, seed: int, base_inst: Instrument, base_path: PricePath
                      ) -> list[ExtraInstrument]:  # fmt: skip
    """The scenario's extra instruments (``mechanisms.cross_margin.instruments``) with their paths (module
    docstring). Raises InputError when a dated future expires before the path starts."""
    out = []
    t0 = int(base_path.time_ns[0])
    for k, cfg in enumerate(scenario.mechanisms.cross_margin.instruments, start=1):
        rng = np.random.Generator(np.random.PCG64([seed, k]))
        tiers = build_tiers(f"{cfg.symbol}-scenario", cfg.tiers)
        underlying = base_inst.base if cfg.index == "underlying" else cfg.symbol.replace("USDT", "")
        inst = Instrument(cfg.symbol, cfg.tick_size, cfg.lot_size, tiers, kind=cfg.kind, base=underlying,
                          expiry=cfg.expiry)  # fmt: skip
        if cfg.index == "underlying":
            path = PricePath(base_path.time_ns.copy(), base_path.index.copy(), f"{base_path.source} (same underlying)")
        else:
            path = correlated_path(base_path, cfg, rng)
        centre = path.index * (1.0 + cfg.basis_pct / 100.0 * basis_left(path.time_ns, inst))
        check_expiry(inst, t0, f"mechanisms.cross_margin.instruments[{k - 1}].expiry")
        start_ticks = inst.price_to_ticks(Decimal(repr(float(centre[0]))), rounding="floor")
        out.append(ExtraInstrument(inst, path, centre, start_ticks, rng))
    return out


def prepare_multi(scenario: Scenario, seed: int) -> MultiMarket:
    """Build the base market and add each extra instrument's path, depth and positions.

    A generated book gets its extra positions here (module docstring); a book file (:mod:`delever.bookio`)
    gives every position itself, on any of the scenario's instruments (its ``instrument`` column), and the
    liquidity providers close it on each."""
    extras: list[ExtraInstrument] = []

    def instruments_for(base_inst: Instrument, base_path: PricePath) -> tuple[list[Instrument], list[int]]:
        extras.extend(extra_instruments(scenario, seed, base_inst, base_path))
        return [e.inst for e in extras], [e.start_ticks for e in extras]

    base = prepare(scenario, seed, extra_instruments=instruments_for)
    if not extras:  # a generated book: prepare did not ask
        extras = extra_instruments(scenario, seed, base.instrument, base.path)
    from_file = scenario.book.generator is None
    cm = scenario.mechanisms.cross_margin
    gen = scenario.book.generator
    instruments, paths, curves = [base.instrument], [base.path], [base.curve]
    centres, windows = [base.path.index], [scenario.instrument.settlement_window_s]
    funds = [money(scenario.insurance_fund.balance)]
    b = base.book
    cols = {
        f.name: [getattr(b, f.name)] for f in dataclasses.fields(b) if f.name not in ("wallet", "exempt", "protected")
    }
    wallet = b.wallet.copy()
    trader_cross = np.flatnonzero(~b.exempt[b.account] & ~b.isolated & (b.instrument == 0))
    lp_accounts = np.flatnonzero(b.exempt)
    first_position = b.first_position()
    base_start = float(base.path.index[0])
    t0 = int(base.path.time_ns[0])
    for k, (cfg, x) in enumerate(zip(cm.instruments, extras), start=1):
        inst, path, centre, start_ticks, rng = x.inst, x.path, x.centre, x.start_ticks, x.rng
        tiers = inst.tiers
        start_price = float(centre[0])
        profile = dataclasses.replace(
            base.depth,
            bid_base=base.depth.bid_base * base_start / start_price,
            ask_base=base.depth.ask_base * base_start / start_price,
        )
        curve = DepthCurve.from_profile(profile, inst, cfg.depth_scale)
        instruments.append(inst)
        paths.append(path)
        centres.append(centre)
        curves.append(curve)
        funds.append(money(cfg.insurance_fund))
        windows.append(cfg.settlement_window_s)
        if from_file:
            continue  # the file gave this instrument's positions
        held = rng.random(trader_cross.size) < cfg.holders_fraction
        holders = trader_cross[held]
        side = np.where(rng.random(holders.size) < 0.5, 1, -1)
        median = float(gen.notional_median) if gen else 5_000.0
        sig = gen.notional_sigma if gen else 1.5
        notional_q = median * np.exp(rng.normal(0.0, sig, holders.size))
        v = inst.value_per_lot_tick
        lots = np.maximum(1, np.rint(notional_q / (start_ticks * float(inst.tick_size) * float(inst.lot_size)))).astype(
            np.int64
        )
        size = side * lots
        if cfg.spread_fraction > 0:  # calendar spreads: the opposite of the account's first position
            rest = trader_cross[~held]
            spreaders = rest[rng.random(rest.size) < cfg.spread_fraction]
            base_size = b.size[first_position[spreaders]]
            ratio = Fraction(base.instrument.lot_size) / Fraction(cfg.lot_size)  # the same base quantity
            spread_lots = np.maximum(1, np.abs(base_size) * ratio.numerator // ratio.denominator)
            holders = np.concatenate([holders, spreaders])
            size = np.concatenate([size, -np.sign(base_size) * spread_lots])
            lots = np.abs(size)
        lev = np.maximum(b.entry_leverage[first_position[holders]], 1.0)
        max_lev = float(max(t.max_leverage for t in tiers.tiers))
        lev = np.minimum(lev, max_lev)
        margin = np.ceil(lots * start_ticks * v / lev).astype(np.int64)
        np.add.at(wallet, holders, margin)  # the extra position's margin, deposited into the cross wallet
        net = int(size.sum())
        lp_size = np.full(lp_accounts.size, -net // lp_accounts.size, dtype=np.int64)
        lp_size[: (-net) % lp_accounts.size] += 1
        acc = np.concatenate([holders, lp_accounts])
        sz = np.concatenate([size, lp_size])
        cols["account"].append(acc)
        cols["instrument"].append(np.full(acc.size, k, dtype=np.int64))
        cols["size"].append(sz)
        cols["cost"].append(sz * start_ticks * v)
        cols["collateral"].append(np.zeros(acc.size, dtype=np.int64))
        cols["isolated"].append(np.zeros(acc.size, dtype=bool))
        cols["entry_leverage"].append(np.concatenate([lev, np.zeros(lp_accounts.size)]))
        cols["opened_ns"].append(np.full(acc.size, t0, dtype=np.int64))
    book = Book.from_arrays(
        wallet=wallet, exempt=b.exempt, protected=b.protected, **{k: np.concatenate(v) for k, v in cols.items()}
    )
    # every instrument at twice its path's highest price (as :func:`delever.engine.prepare`)
    tops = [2 * int(np.ceil(float(c.max()) / float(i.tick_size))) + 1 for c, i in zip(centres, instruments)]
    source, field = (str(scenario.book.file), "size") if from_file else ("book.generator", "notional_median")
    check_int64_headroom(book, [i.value_per_lot_tick for i in instruments], tops, funds, source=source,
                         field=field)  # fmt: skip
    return MultiMarket(base, instruments, paths, curves, funds, book, centres, windows)


def _tier_arrays(instruments: list[Instrument]) -> tuple[np.ndarray, ...]:
    k = max(len(i.tiers.tiers) for i in instruments)
    big = np.iinfo(np.int64).max
    floors = np.full((len(instruments), k), big, dtype=np.int64)
    mmr = np.zeros((len(instruments), k), dtype=np.int64)
    cum = np.zeros((len(instruments), k), dtype=np.int64)
    for m, inst in enumerate(instruments):
        t = inst.tiers
        n = len(t.tiers)
        floors[m, :n], mmr[m, :n], cum[m, :n] = t.floors, t.mmr_ppm, t.cum
    return floors, mmr, cum, np.array([len(i.tiers.tiers) for i in instruments], dtype=np.int64)


def run_multi(
    scenario: Scenario, seed: int, mm: MultiMarket | None = None, check_every_step: bool = False, progress=None
) -> RunResult:
    """Run a cross-margin scenario (module docstring); the result's step series are the first instrument's,
    its insurance-fund series the sum over instruments, and ``extra["cross_margin"]`` the per-instrument
    figures."""
    mm = mm or prepare_multi(scenario, seed)
    book = mm.book.copy()
    book_start = mm.book.copy()
    insts = mm.instruments
    M = len(insts)
    floors, mmr, cum, n_tiers = _tier_arrays(insts)
    vpl = np.array([i.value_per_lot_tick for i in insts], dtype=np.int64)
    fee_ppm = rate_ppm(scenario.fees.liquidation_fee_rate)
    policy = scenario.adl.build()
    funds = np.array(mm.funds, dtype=np.int64)
    fund_start = int(funds.sum())
    money_start = book.total_money(funds)
    triggers = [AdlTriggerState(scenario.adl, int(f), scenario.step_seconds) for f in funds]
    n, a = book.n_positions, book.n_accounts
    pos_eq, pos_mm = np.zeros(n, np.int64), np.zeros(n, np.int64)
    acc_eq, acc_mm = np.zeros(a, np.int64), np.zeros(a, np.int64)
    liq_out = np.zeros(n, np.int64)
    excluded = np.zeros(n, dtype=bool)
    lp_pos = [np.flatnonzero(book.exempt[book.account] & (book.instrument == m)).astype(np.int64) for m in range(M)]
    dt = scenario.step_seconds
    refill = refill_factor(dt, scenario.liquidity.resilience_half_life_s)
    band = band_fraction(scenario.mark.max_deviation_pct)
    rules = [MarkPrice(scenario.mark.basis_ema_s, band=band) for _ in range(M)]
    states = [np.zeros(1) for _ in range(M)]
    curves = [c.arrays() for c in mm.curves]
    ticks = [float(i.tick_size) for i in insts]
    T = mm.paths[0].steps
    index_ticks = [p.index / tk for p, tk in zip(mm.paths, ticks)]
    centre_ticks = [c / tk for c, tk in zip(mm.centres, ticks)]
    expiries = [expiry_ns(i) if i.expiry is not None else None for i in insts]
    settled: dict[int, SettlementReport] = {}
    mark_s = np.zeros((M, T), dtype=np.int64)
    last_s = np.zeros((M, T))
    fund_s = np.zeros((M, T), dtype=np.int64)
    marks = np.zeros(M, dtype=np.int64)
    buf, log = ev.EventBuffer(), ev.EventLog()
    contagion = np.zeros(M, dtype=np.int64)
    contagion_notional = np.zeros(M, dtype=np.int64)
    time_ns = mm.paths[0].time_ns
    for t in range(T):
        for m in range(M):
            if m in settled:
                continue  # a settled future's mark stays at its settlement price
            centre = float(centre_ticks[m][t])
            states[m][0] *= refill
            marks[m] = rules[m].update(centre, marginal_price(centre, states[m][0], curves[m]), dt)
        for m in range(M):
            if expiries[m] is not None and m not in settled and time_ns[t] >= expiries[m]:
                columns = partial(position_column, book, int(time_ns[t]))
                settled[m] = settle_at(book, m, insts[m], mm.paths[m], t, mm.settlement_windows[m], marks, vpl,
                                       funds[m : m + 1], policy, buf, columns)  # fmt: skip
                log.append(buf, t, int(time_ns[t]), m)
        count = margin_sweep(book.size, book.cost, book.collateral, book.isolated, book.account, book.instrument,
                             book.wallet, marks, vpl, floors, mmr, cum, n_tiers, book.exempt, pos_eq, pos_mm, acc_eq,
                             acc_mm, liq_out)  # fmt: skip
        if count:
            position_data = partial(position_column, book, int(time_ns[t]))
            order_all = liq_out[:count].copy()
            iso = book.isolated[order_all]
            equity = np.where(iso, pos_eq[order_all], acc_eq[book.account[order_all]])
            req = np.where(iso, pos_mm[order_all], acc_mm[book.account[order_all]])
            ratio = equity / np.maximum(req, 1)
            upnl = book.size[order_all] * marks[book.instrument[order_all]] * vpl[book.instrument[order_all]]
            upnl = upnl - book.cost[order_all]
            excluded[order_all] = True
            for m in range(M):
                sel = book.instrument[order_all] == m
                if not sel.any():
                    continue
                order = order_all[sel]
                s = np.lexsort((order, ratio[sel]))
                order = order[s]
                dragged = (upnl[sel][s] > 0) & ~book.isolated[order]
                contagion[m] += int(dragged.sum())
                contagion_notional[m] += int((np.abs(book.size[order[dragged]]) * marks[m] * vpl[m]).sum())
                adl_rule = triggers[m].control(t, int(funds[m]), fund_s[m], int(marks[m]), mark_s[m])
                _liquidate(policy, position_data, book, order, m, float(centre_ticks[m][t]), states[m], curves[m],
                           lp_pos[m], funds[m : m + 1], int(marks[m]), int(vpl[m]), fee_ppm, buf, pos_eq, acc_eq,
                           excluded, (floors[m, : n_tiers[m]], mmr[m, : n_tiers[m]], cum[m, : n_tiers[m]]),
                           AccountValuation(marks.copy(), vpl, floors, mmr, cum, n_tiers), adl_rule,
                           offset_key=(seed, t, m))  # fmt: skip
                log.append(buf, t, int(time_ns[t]), m)
            excluded[order_all] = False
        for m in range(M):
            mark_s[m, t] = marks[m]
            last_s[m, t] = (
                marks[m] if m in settled else marginal_price(float(centre_ticks[m][t]), states[m][0], curves[m])
            )
            fund_s[m, t] = funds[m]
        if check_every_step and book.total_money(funds) != money_start:
            from .errors import ConservationError

            raise ConservationError(f"money changed at step {t}")
        if progress is not None and (t % 64 == 0 or t == T - 1):
            progress(t + 1, T)
    e = log.columns()
    per = []
    for m, inst in enumerate(insts):
        rows = e["instrument"] == m
        k = e["kind"][rows]
        notional = np.abs(e["size"][rows]) * e["price"][rows] * int(vpl[m])
        fills = (k == ev.LIQUIDATION_FILL) | (k == ev.ADL_FILL)
        amounts = e["amount"][rows]
        per.append({
            "symbol": inst.symbol,
            "liquidations": int(np.unique(e["step"][rows][fills] * (n + 1) + e["position"][rows][fills]).size),
            "contagion_liquidations": int(contagion[m]),
            "contagion_notional": int(contagion_notional[m]),
            "liquidated_notional": int(notional[fills].sum()),
            "bad_debt": int(amounts[k == ev.INSURANCE_PAYOUT].sum() - amounts[k == ev.BAD_DEBT].sum()),
            "insurance_fund_start": int(mm.funds[m]),
            "insurance_fund_end": int(funds[m]),
            "adl_notional": int(notional[k == ev.ADL_COUNTERPARTY_FILL].sum()),
            "min_mark": float(mark_s[m].min()) * ticks[m] if T else 0.0,
            "open_interest_balanced": book.open_interest(m)[0] == book.open_interest(m)[1],
            "open_interest_end": float(book.open_interest(m)[0] * inst.lot_size),
            "kind": inst.kind,
            "expiry": None if inst.expiry is None else inst.expiry.isoformat(),
            "settlement": None if m not in settled else settled[m].as_dict(inst),
        })  # fmt: skip
    base = mm.base
    return RunResult(
        scenario=scenario, seed=seed, instrument=insts[0], book_start=book_start, book=book,
        steps=StepSeries(time_ns, index_ticks[0], mark_s[0], last_s[0], fund_s.sum(axis=0)),
        events=e, fund_start=fund_start, money_start=money_start, money_end=book.total_money(funds),
        depth=base.depth, path=mm.paths[0], lp_accounts=int(book.exempt.sum()), account_labels=base.labels,
        extra={"cross_margin": {"fired_steps": int((contagion > 0).sum()), "accounts": int(contagion.sum()),
                                "notional": int(contagion_notional.sum()), "instruments": per}},
        instruments=insts, marks_end=marks.copy(),
        instrument_steps=[StepSeries(time_ns, index_ticks[m], mark_s[m], last_s[m], fund_s[m]) for m in range(M)],
    )  # fmt: skip


def _liquidate(policy, position_data, book, order, m, centre, state, curve, lp_pos, fund, mark, v, fee_ppm, buf,
               pos_eq, acc_eq, excluded, tiers, valuation, adl_rule, offset_key=(0,)) -> None:  # fmt: skip
    """One instrument's liquidations through the shared kernel (as :meth:`delever.engine.Simulation._liquidate`);
    ``adl_rule`` the instrument's ``(adl_ctl, fill_px)`` (:meth:`delever.adl.trigger.AdlTriggerState.control`);
    ``offset_key`` (seed, step, instrument): the start of a ``random-offset`` ADL queue (:class:`AdlQueue`)."""
    queue = AdlQueue(book, m, mark, v, lambda: (pos_eq, acc_eq), excluded, policy, tiers, position_data,
                     offset_key=offset_key)  # fmt: skip
    partial = np.zeros(order.shape[0], dtype=np.int64)
    weight = np.ones(lp_pos.shape[0], dtype=np.int64)
    adl_ctl, fill_px = adl_rule
    run_stage(order, book, v, fee_ppm, centre, state, curve, lp_pos, weight, fund, queue, buf, partial, 1, valuation,
              adl_ctl, fill_px)  # fmt: skip
