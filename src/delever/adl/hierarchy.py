"""ADL priority by a configurable hierarchy of factors (issue #7, part 1).

Some venues describe their ADL ranking not as one published score but as "a hierarchy of factors, including
leverage, position size, and funding rates". :class:`HierarchyRule` makes that hierarchy explicit and
configurable: an ordered list of keys, each ranked ``desc`` (largest first) or ``asc``, combined

- ``lexicographic``: by the first key; ties on it by the second; and so on; ties on every key by position
  index (the queue's canonical order, :mod:`delever.adl.queue`);
- ``weighted``: by ``sum_k w_k * r_k``, where ``r_k`` in [0, 1] is the winner's fractional rank on key
  ``k`` (``(average rank - 1) / (n - 1)``, ranked so that 1 is the first to be deleveraged; 1 for a lone
  winner). Ranks make the weights unit-free: a weight states how much a key counts, not how large its
  numbers are.

The rule yields a float score per winner (highest first), so it plugs into the queue family of
:mod:`delever.adl.policies` unchanged: the cascade engine closes whole positions in that order, and the ADL
indicator (lights) is the cumulative-quantity quantile of that order, i.e. of the hierarchy's own key.

Keys (:data:`KEYS`; every one is a column of :class:`delever.adl.policies.Winners`), and why a venue might
put each first:

==========================  ================================================================================
key                         value, and why rank by it
==========================  ================================================================================
``effective_leverage``      notional / equity (inf when equity <= 0). The most levered winners hold the
                            most exposure per unit of capital: closing them cuts the venue's tail risk
                            most (BitMEX's and Bybit's scores weigh it; venues.md sections 2, 3).
``pnl_pct``                 uPnL / |entry value|. The largest relative winners are least hurt by a close at
                            the bankruptcy price: their profit absorbs it (the PnL half of BitMEX's score).
``unrealized_pnl``          uPnL (money). The largest absolute winners can absorb the largest bankruptcy
                            gaps; the capacity measure of pro rata on PnL (adl_policies.md).
``notional``                |size| x mark (money). Large positions offset a bankrupt position with few
                            counterparties, so fewer accounts are touched.
``position_size``           |size| in lots: as notional, in contracts (exchange-style contract counts).
``account_equity``          equity of the position's margin (money). ``desc``: the best-capitalised pay
                            first; ``asc``: thin accounts are closed first, before they fail too.
``margin_ratio``            maintenance margin / equity (inf when equity <= 0; Binance's margin ratio,
                            venues.md section 1). The accounts nearest their own liquidation are the next
                            failures: deleveraging them first removes risk that would return as bad debt.
``funding_received``        net funding the position received over the configured window (money, received
                            > 0). Accounts that collected funding from the stressed side were paid to hold
                            the position the crash now turns against the venue: they pay first.
``position_age``            seconds since the position was opened. ``asc`` (newest first) targets
                            positions opened into the move (momentum entries that crowd the side);
                            ``desc`` targets stale positions that have had longest to take profit.
==========================  ================================================================================

Source of the framing: issue #7's quotation of a venue description of ADL; the key definitions follow
../shared/specs/venues.md (sections cited above) and ../shared/specs/adl_policies.md (policy families).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scores import entry_value

KEYS: dict[str, str] = {
    "effective_leverage": "notional / equity (inf when equity <= 0)",
    "pnl_pct": "unrealized PnL / |entry value|",
    "unrealized_pnl": "unrealized PnL, money",
    "notional": "|size| x mark, money",
    "position_size": "|size|, lots",
    "account_equity": "equity of the position's margin, money",
    "margin_ratio": "maintenance margin / equity (inf when equity <= 0)",
    "funding_received": "net funding received over the window, money",
    "position_age": "seconds since the position was opened",
}
"""Every key of the hierarchy and its value (module docstring for why each might be chosen)."""

DEFAULT_KEYS: tuple[str, ...] = ("effective_leverage desc", "notional desc", "funding_received desc")
"""The hierarchy when a scenario names none: the issue's example (leverage, then size, then funding)."""

FORMS = ("lexicographic", "weighted")


@dataclass(frozen=True)
class HierarchyKey:
    """One level of the hierarchy: a key of :data:`KEYS` and its direction (``desc``: largest first)."""

    name: str
    descending: bool = True

    @classmethod
    def parse(cls, text: str) -> HierarchyKey:
        """``"notional desc"``, ``"position_age asc"`` or a bare key (``desc``).

        Raises:
            ValueError: an unknown key or direction (the message lists the known ones).
        """
        parts = str(text).split()
        if not parts or len(parts) > 2:
            raise ValueError(f"ADL hierarchy key {text!r}: expected 'KEY [asc|desc]'")
        name = parts[0]
        if name not in KEYS:
            raise ValueError(f"unknown ADL hierarchy key {name!r}; known: {', '.join(KEYS)}")
        direction = parts[1].lower() if len(parts) == 2 else "desc"
        if direction not in ("asc", "desc"):
            raise ValueError(f"ADL hierarchy key {text!r}: direction must be 'asc' or 'desc'")
        return cls(name, direction == "desc")

    def __str__(self) -> str:
        return f"{self.name} {'desc' if self.descending else 'asc'}"


def key_values(winners, name: str) -> np.ndarray:
    """float64 (n,) values of key ``name`` for ``winners`` (a :class:`delever.adl.policies.Winners`).

    Ratios whose denominator is <= 0 are ``inf`` (no equity: the most levered, the nearest to liquidation);
    ``funding_received`` and ``position_age`` are 0 where the winners carry no such column.
    """
    w = winners
    n = w.n
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "effective_leverage":
            eq = w.equity.astype(np.float64)
            return np.where(eq > 0, w.notional / np.where(eq > 0, eq, 1.0), np.inf)
        if name == "pnl_pct":
            value = entry_value(w.notional, w.entry_price, w.mark_price)  # the one entry-value rule
            return np.where(value > 0, w.pnl / np.where(value > 0, value, 1.0), 0.0)
        if name == "unrealized_pnl":
            return w.pnl.astype(np.float64)
        if name == "notional":
            return w.notional.astype(np.float64)
        if name == "position_size":
            return w.contracts.astype(np.float64)
        if name == "account_equity":
            return w.equity.astype(np.float64)
        if name == "margin_ratio":
            eq = w.equity.astype(np.float64)
            return np.where(eq > 0, w.mm / np.where(eq > 0, eq, 1.0), np.inf)
        if name == "funding_received":
            f = w.funding_received
            return np.zeros(n) if f is None else f.astype(np.float64)
        if name == "position_age":
            a = w.age_s
            return np.zeros(n) if a is None else a.astype(np.float64)
    raise ValueError(f"unknown ADL hierarchy key {name!r}; known: {', '.join(KEYS)}")


@dataclass(frozen=True)
class HierarchyRule:
    """An ordered hierarchy of ADL keys and how they combine (module docstring).

    Attributes:
        keys: the levels, first = most important.
        form: ``lexicographic`` or ``weighted``.
        weights: one non-negative weight per key (``weighted`` only; default all 1).

    Raises:
        ValueError: no keys, an unknown form, or weights that do not match the keys or are negative / all 0.
    """

    keys: tuple[HierarchyKey, ...]
    form: str = "lexicographic"
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("an ADL hierarchy needs at least one key")
        if self.form not in FORMS:
            raise ValueError(f"ADL hierarchy form must be one of {', '.join(FORMS)}, got {self.form!r}")
        if self.weights is not None:
            if len(self.weights) != len(self.keys):
                raise ValueError(f"ADL hierarchy: {len(self.weights)} weights for {len(self.keys)} keys")
            if any(not np.isfinite(x) or x < 0 for x in self.weights) or not any(x > 0 for x in self.weights):
                raise ValueError("ADL hierarchy weights must be finite, >= 0 and not all 0")

    @classmethod
    def from_config(cls, keys: list[str] | tuple[str, ...], form: str = "lexicographic", weights=None) -> HierarchyRule:
        """From the scenario's strings (``adl.keys``, ``adl.form``, ``adl.weights``)."""
        return cls(
            tuple(HierarchyKey.parse(k) for k in keys),
            form,
            None if weights is None else tuple(float(x) for x in weights),
        )

    @property
    def needs(self) -> frozenset[str]:
        """The optional :class:`~delever.adl.policies.Winners` columns the rule reads."""
        cols = {"funding_received": "funding_received", "position_age": "age_s"}
        return frozenset(cols[k.name] for k in self.keys if k.name in cols)

    def describe(self) -> str:
        """One line, e.g. ``lexicographic: effective_leverage desc > notional desc``."""
        if self.form == "lexicographic":
            return "lexicographic: " + " > ".join(str(k) for k in self.keys)
        w = self.weights or (1.0,) * len(self.keys)
        return "weighted ranks: " + " + ".join(f"{x:g} x {k}" for x, k in zip(w, self.keys))

    def _oriented(self, winners) -> list[np.ndarray]:
        """Each key's values, oriented so that larger = deleveraged first (NaN last)."""
        out = []
        for k in self.keys:
            x = key_values(winners, k.name)
            x = x if k.descending else -x
            out.append(np.where(np.isnan(x), -np.inf, x))
        return out

    def score(self, winners) -> np.ndarray:
        """float64 (n,) score, highest first; equal scores mean a tie on every key (the queue then orders
        them by position index).

        Lexicographic: the score is minus the winner's dense rank in the key order (exact for any number of
        keys and any values, inf included). Weighted: the weighted sum of fractional ranks.
        """
        n = winners.n
        if n == 0:
            return np.zeros(0)
        cols = self._oriented(winners)
        if self.form == "lexicographic":
            order = np.lexsort([-c for c in reversed(cols)])  # first key is the primary sort
            sorted_cols = np.stack([c[order] for c in cols])
            new_group = np.ones(n, dtype=bool)
            new_group[1:] = np.any(sorted_cols[:, 1:] != sorted_cols[:, :-1], axis=0)
            dense = np.cumsum(new_group)
            score = np.empty(n)
            score[order] = -dense.astype(np.float64)
            return score
        from scipy.stats import rankdata  # here: scipy.stats is a heavy import most runs never need

        w = self.weights or (1.0,) * len(self.keys)
        score = np.zeros(n)
        for x, c in zip(w, cols):
            r = (rankdata(c, method="average") - 1.0) / (n - 1) if n > 1 else np.ones(1)
            score += x * r
        return score
