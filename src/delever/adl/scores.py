"""The venues' ADL ranking scores, one implementation each (issue #11): the venue rulebooks
(:mod:`delever.venues.adl_rules`, ``AdlInputs``) and the engine's queue policies (:mod:`delever.adl.policies`,
``Winners``) both call these. Inputs are float64 arrays of one length, money in any one unit; a higher score is
deleveraged first; ``-inf`` ranks last.

The entry value a PnL% is taken of is the position's ``|cost|`` (``|lots x entry x V|``), for longs and shorts
alike (issue #11: the engine used ``notional x mark / entry`` for shorts).
"""

from __future__ import annotations

import numpy as np


def safe_div(a, b) -> np.ndarray:
    """``a / b`` elementwise, 0 where ``b == 0``."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    out = np.zeros(a.shape, dtype=np.float64)
    np.divide(a, b, out=out, where=b != 0)
    return out


def bitmex(upnl, entry_value, notional, equity) -> np.ndarray:
    """BitMEX: ``PnL% x EffLev`` if PnL% > 0 else ``PnL% / EffLev``; ``PnL% = uPnL / |entry value|``,
    ``EffLev = notional / equity``; equity <= 0 or no entry value ranks last (-inf). venues.md section 2,
    https://www.bitmex.com/app/autoDeleveraging."""
    equity = np.asarray(equity, dtype=np.float64)
    entry_value = np.abs(np.asarray(entry_value, dtype=np.float64))
    pnl = safe_div(upnl, entry_value)
    lev = safe_div(notional, equity)
    s = np.where(pnl > 0, pnl * lev, safe_div(pnl, lev))
    return np.where((equity > 0) & (entry_value != 0) & np.isfinite(s), s, -np.inf)


def binance(upnl, wallet, maintenance_margin, one_quote: float) -> np.ndarray:
    """Binance LeveragePnl: ``max(0, uPnL) / max(1, WB) x MarginRatio``, ``MarginRatio = MM / (WB + uPnL)`` (0 when
    ``WB + uPnL <= 0``); ``one_quote`` is 1 quote unit in the money unit. venues.md section 1, text quoted at
    https://dev.binance.vision/t/how-to-caculating-leverage-pnl-quantile/17801 (TV-03)."""
    upnl = np.asarray(upnl, dtype=np.float64)
    wallet = np.asarray(wallet, dtype=np.float64)
    pnl_pct = np.maximum(0.0, upnl) / np.maximum(float(one_quote), wallet)
    eq = wallet + upnl
    ratio = np.where(eq > 0, safe_div(maintenance_margin, eq), 0.0)
    return pnl_pct * ratio


def hyperliquid(upnl, side, mark, entry, notional, equity) -> np.ndarray:
    """Hyperliquid: ``(mark / entry) x (notional / account value)`` for positions in profit (venues.md section 6,
    https://hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging). Stand-in for shorts (the doc's
    index falls as a short gains; "whether HL inverts it for shorts is not stated"): a short (``side`` < 0) uses
    ``entry / mark`` so that, like a long's, its index grows with its profit. Positions not in profit, or with
    equity <= 0, rank last (-inf)."""
    equity = np.asarray(equity, dtype=np.float64)
    ratio = np.where(np.asarray(side) > 0, safe_div(mark, entry), safe_div(entry, mark))
    s = ratio * safe_div(notional, equity)
    return np.where((np.asarray(upnl) > 0) & (equity > 0), s, -np.inf)


def roi_mmr(upnl, entry_value, maintenance_margin, equity) -> np.ndarray:
    """Bitget (cross): ``ROI x accountMMR`` in profit, ``ROI / accountMMR`` in loss; ``ROI = uPnL / |entry value|``
    (venues.md section 8, https://www.bitget.live/bg/support/articles/12560603800805); ``accountMMR`` read as
    the account's maintenance margin over its equity [INF: Bitget's margin ratio]; equity <= 0, MM <= 0 or no
    entry value ranks last (-inf)."""
    equity = np.asarray(equity, dtype=np.float64)
    mm = np.asarray(maintenance_margin, dtype=np.float64)
    entry_value = np.abs(np.asarray(entry_value, dtype=np.float64))
    roi = safe_div(upnl, entry_value)
    mmr = safe_div(mm, equity)
    s = np.where(roi > 0, roi * mmr, safe_div(roi, mmr))
    return np.where((equity > 0) & (mm > 0) & (entry_value != 0), s, -np.inf)


def entry_value(notional, entry_price, mark_price) -> np.ndarray:
    """|Entry value| = notional x entry / mark (money, float64): what a PnL% is a percentage of. With the
    position's real entry and mark this is ``|lots x entry x V| = |cost|`` for a long and a short alike (the
    rule of the venue rulebooks' scores, :class:`delever.venues.base.AdlInputs` ``cost``; issue #11); where the
    mark is 0 (or the ratio is not a number) the ratio counts as 1."""
    entry, mark = np.asarray(entry_price), np.asarray(mark_price)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mark != 0, entry / np.where(mark != 0, mark, 1), np.nan)
    return np.abs(notional * np.nan_to_num(ratio, nan=1.0))
