"""Stylised facts (delever.facts) on small hand-made event logs, and the equity reconstruction against a run.

Hand cases use V = 1,000,000 money units per lot per tick, so one lot at one tick is worth exactly 1 quote unit:
every figure below is plain arithmetic in quote units.
"""

from decimal import Decimal

import numpy as np
import pytest

from delever import events as ev
from delever.book import Book
from delever.facts import FactInputs, equity_before, final_equity, stylised_facts

V = 1_000_000
T0 = 1_700_000_000 * 10**9  # 2023-11-14T22:13:20Z, a whole minute + 20 s


def _events(rows: list[tuple]) -> dict[str, np.ndarray]:
    """rows: (step, kind, account, counterparty, position, size, price, amount quote); time = T0 + step s."""
    cols = ("step", "kind", "account", "counterparty", "position", "size", "price", "amount")
    out = {c: np.array([r[i] for r in rows], dtype=np.int64) for i, c in enumerate(cols)}
    out["amount"] = out["amount"] * V
    out["time_ns"] = T0 + out["step"] * 10**9
    out["instrument"] = np.zeros(len(rows), dtype=np.int64)
    out["indicator"] = np.zeros(len(rows), dtype=np.int64)
    return out


def _book(wallet, sizes, entries) -> Book:
    """Traders 0..n-1 with one position each (cross), plus an exempt LP account without positions."""
    n = len(sizes)
    return Book.from_arrays(
        wallet=np.array([*wallet, 0]) * V,
        exempt=np.array([False] * n + [True]),
        account=np.arange(n),
        size=np.array(sizes),
        cost=np.array(sizes) * np.array(entries) * V,
    )


# The crash case. Account 0: long 10 lots from 100 with 50 in its wallet; account 1: short 10 lots from 100
# with 1,000. Marks: 96 for steps 0-9, 95 for 10-11, 90 from 12 on (30 steps). Events:
#   step 0  account 0 liquidated 4 lots at 96 against the book: realized 4 * (96 - 100) = -16
#   step 10 ADL 2 lots at 95: account 0 realizes 2 * (95 - 100) = -10, account 1 realizes 2 * (100 - 95) = +10
#   step 12 ADL 1 lot at 95 (-5 / +5); step 20 ADL 1 lot at 95 (-5 / +5)
CRASH_ROWS = [
    (0, ev.LIQUIDATION_FILL, 0, ev.BOOK, 0, -4, 96, -16),
    (10, ev.ADL_FILL, 0, 1, 0, -2, 95, -10),
    (10, ev.ADL_COUNTERPARTY_FILL, 1, 0, 1, 2, 95, 10),
    (12, ev.ADL_FILL, 0, 1, 0, -1, 95, -5),
    (12, ev.ADL_COUNTERPARTY_FILL, 1, 0, 1, 1, 95, 5),
    (20, ev.ADL_FILL, 0, 1, 0, -1, 95, -5),
    (20, ev.ADL_COUNTERPARTY_FILL, 1, 0, 1, 1, 95, 5),
]


def _crash_inputs(rows=CRASH_ROWS) -> FactInputs:
    marks = np.array([96] * 10 + [95] * 2 + [90] * 18, dtype=np.int64)
    # fund: 100 at the start, 60 from step 10, 80 from 12, 30 from 20, 50 from 25
    fund = np.array([100] * 10 + [60] * 2 + [80] * 8 + [30] * 5 + [50] * 5, dtype=np.int64) * V
    start = _book([50, 1000], [10, -10], [100, 100])
    # the end book follows from the rows: account 0 keeps 2 lots of cost 200 and 50 - 36 = 14 in its wallet;
    # account 1 keeps -6 lots of cost -600 and 1,000 + 20 = 1,020
    end = Book.from_arrays(
        wallet=np.array([14, 1020, 0]) * V,
        exempt=np.array([False, False, True]),
        account=np.arange(2),
        size=np.array([2, -6]),
        cost=np.array([200, -600]) * V,
    )
    times = T0 + np.arange(30, dtype=np.int64) * 10**9
    return FactInputs(_events(rows), times, marks, fund, 100 * V, start, end, V)


def test_crash_case_every_fact():
    f = stylised_facts(_crash_inputs())
    assert f["first_liquidation_time"] == "2023-11-14T22:13:20Z"
    assert f["first_adl_time"] == "2023-11-14T22:13:30Z"
    assert f["seconds_first_liquidation_to_first_adl"] == 10.0
    # ADL fills at 10, 12, 20 s: 12 - 10 = 2 <= 5 keeps one wave, 20 - 12 = 8 > 5 starts another
    waves = f["adl_waves"]
    assert waves["count"] == 2
    assert [(w["fills"], w["notional"]) for w in waves["waves"]] == [(2, Decimal(285)), (1, Decimal(95))]
    assert waves["waves"][0]["end"] == "2023-11-14T22:13:32Z"
    # account 1 at step 10: equity 1,000 + (-10 * 95) - (-1,000) = 1,050, gross 950: 950 / 1,050
    assert f["adl_leverage"] == {"accounts": 1, "median": round(950 / 1050, 4), "p90": round(950 / 1050, 4),
                                 "nonpositive_equity": 0}  # fmt: skip
    # account 0 at step 0: equity 50 + 10 * 96 - 1,000 = 10, gross 960: 96x
    assert f["liquidated_leverage"]["median"] == 96.0
    assert f["liquidated_leverage"]["accounts"] == 1
    # one ADL'd account takes everything
    assert f["adl_concentration"] == {"accounts": 1, "top1pct_accounts": 1, "top1pct_share": 1.0, "top10_share": 1.0}
    # account 0's equity at the steps it was acted on: step 0: 10; step 10: 50 - 16 + 6 * 95 - 600 = 4;
    # step 12 (mark 90): 50 - 26 + 4 * 90 - 400 = -16; step 20: 50 - 31 + 3 * 90 - 300 = -11; end: 14 + 180 - 200
    # = -6. Lowest: -16.
    assert f["negative_equity_during_run"] == {"accounts": 1, "total": Decimal(-16), "worst": Decimal(-16)}
    assert f["negative_equity_at_end"] == {"accounts": 1, "total": Decimal(-6), "worst": Decimal(-6)}
    # one minute (22:13): 4 liquidations (position 0 at steps 0, 10, 12, 20), notional 4*96 + 4*95 = 764
    pm = f["liquidations_per_minute"]
    assert pm["minutes"] == [{"minute": "2023-11-14T22:13:00Z", "liquidations": 4, "notional": Decimal(764)}]
    assert (pm["peak_liquidations"], pm["peak_notional"]) == (4, Decimal(764))
    # fund 100 -> 60 -> 80 -> 30 -> 50: running peak 100, largest fall 70 (70 %), minimum 30 first at step 20
    assert f["fund_drawdown"] == {
        "max_drawdown": Decimal(70),
        "max_drawdown_pct": 70.0,
        "min": Decimal(30),
        "time_of_min": "2023-11-14T22:13:40Z",
    }


@pytest.mark.parametrize(
    ("gap_s", "waves"),
    [(0.0, 3), (1.9, 3), (2.0, 2), (7.9, 2), (8.0, 1), (60.0, 1)],
    ids=[
        "gap0-every-time-apart",
        "under-first-gap",
        "equal-first-gap-joins",
        "under-second-gap",
        "equal-second-gap-joins",
        "wide-one-wave",
    ],  # fmt: skip
)
def test_wave_gap(gap_s, waves):
    # ADL fill times 10, 12, 20 s: gaps 2 and 8 s; a gap strictly larger than gap_s splits
    assert stylised_facts(_crash_inputs(), wave_gap_s=gap_s)["adl_waves"]["count"] == waves


@pytest.mark.parametrize(
    ("cover_rows", "worst", "accounts"),
    [
        # the fund paid 30 of a -30 balance at step 0: lowest of 10 (mark) and -30 (after the fill) is -30
        ([(0, ev.INSURANCE_PAYOUT, 0, ev.INSURANCE_FUND, 0, 0, 0, 30)], -30, 1),
        # the fund paid 20, 25 was left unrecovered: the balance after the fills was -45
        (
            [
                (0, ev.INSURANCE_PAYOUT, 0, ev.INSURANCE_FUND, 0, 0, 0, 20),
                (0, ev.BAD_DEBT, 0, ev.INSURANCE_FUND, 0, 0, 0, -25),
            ],
            -45,
            1,
        ),
        # no payout: the equity at the mark, 10, was never negative
        ([], None, 0),
    ],
    ids=["fund-covered", "fund-short-bad-debt", "no-deficit"],
)
def test_negative_equity_after_fills(cover_rows, worst, accounts):
    """Account 0 is liquidated at step 0 only (equity 10 at the mark, see the crash case); the end book is
    left flat so that only the step-0 deficit can count."""
    fi = _crash_inputs(CRASH_ROWS[:1] + cover_rows)
    flat = _book([0, 0], [0, 0], [100, 100])
    fi = FactInputs(fi.events, fi.time_ns, fi.mark_ticks, fi.fund, fi.fund_start, fi.start, flat, V)
    neg = stylised_facts(fi)["negative_equity_during_run"]
    assert neg["accounts"] == accounts
    assert neg["worst"] == (None if worst is None else Decimal(worst))


def test_no_adl_no_timing():
    f = stylised_facts(_crash_inputs(CRASH_ROWS[:1]))
    assert f["first_adl_time"] is None
    assert f["seconds_first_liquidation_to_first_adl"] is None
    assert f["adl_waves"] == {"count": 0, "waves": []}
    assert f["adl_concentration"]["top1pct_share"] is None
    assert f["adl_leverage"]["median"] is None


def test_negative_wave_gap_rejected():
    with pytest.raises(ValueError, match="wave_gap_s"):
        stylised_facts(_crash_inputs(), wave_gap_s=-1)


@pytest.mark.parametrize(
    ("big", "top1", "top10"),
    [
        # 200 accounts: ceil(1 % of 200) = 2 take 100 + 1 of 299; the top 10 take 100 + 9 of 299
        (100, 101 / 299, 109 / 299),
        # all equal: 2 of 200 and 10 of 200
        (1, 2 / 200, 10 / 200),
    ],
    ids=["one-whale", "all-equal"],
)
def test_adl_concentration(big, top1, top10):
    n = 200
    rows = [(5, ev.ADL_COUNTERPARTY_FILL, a, ev.BOOK, a, 1, big if a == 0 else 1, 0) for a in range(n)]
    start = _book([10] * n, [-1] * n, [200] * n)
    fi = FactInputs(_events(rows), T0 + np.arange(10) * 10**9, np.full(10, 100), np.zeros(10, np.int64), 0, start,
                    start, V)  # fmt: skip
    c = stylised_facts(fi)["adl_concentration"]
    assert c["accounts"] == n and c["top1pct_accounts"] == 2
    assert c["top1pct_share"] == round(top1, 6)
    assert c["top10_share"] == round(top10, 6)


def test_equity_reconstruction_matches_the_final_book():
    """Invariant: replaying the whole log onto the starting book gives the final book's equity exactly."""
    from delever.engine import run
    from delever.scenario import default_scenario_path, load_scenario

    sc = load_scenario(
        default_scenario_path(),
        {
            "book": {"generator": {"accounts": 3000}},
            "insurance_fund": {"balance": "0"},
            "fees": {"liquidation_fee_rate": "0"},
        },
    )
    r = run(sc)
    marks = np.concatenate([r.steps.mark_ticks, r.steps.mark_ticks[-1:]])
    fi = FactInputs(r.events, r.steps.time_ns, marks, r.steps.fund, r.fund_start, r.book_start, r.book,
                    r.instrument.value_per_lot_tick)  # fmt: skip
    traders = np.flatnonzero(~r.book_start.exempt)
    eq, _ = equity_before(fi, traders, np.full(traders.size, r.steps.time_ns.size))
    assert (r.events["kind"] == ev.ADL_COUNTERPARTY_FILL).any()  # the log exercises ADL rows too
    np.testing.assert_array_equal(eq, final_equity(r.book, int(marks[-1]), r.instrument.value_per_lot_tick)[traders])
