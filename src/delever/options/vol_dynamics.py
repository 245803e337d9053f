"""How implied volatility moves along a price path: sticky strike (or moneyness), a spot-vol beta, a vol shock.

The rule (a documented choice of this project; the two sticky rules are the textbook ones, e.g. Derman, E.
(1999), "Regimes of volatility", Risk 12(4)): at a forward ``F_t`` on the path that started at ``F_0``, the
implied vol of strike ``K`` and expiry ``T`` is::

    sigma_t(K) = max(floor, surface(ln(K / F_ref), T) * (1 + shock) + beta * ln(F_t / F_0))

- ``rule="sticky_strike"``: ``F_ref = F_0``; each strike keeps its starting vol (the smile stays put as the
  price moves). ``rule="sticky_moneyness"``: ``F_ref = F_t``; the smile moves with the price.
- ``beta`` (spot-vol beta, vol points per unit log-return of the forward): ``beta < 0`` lifts vols in a sell-off
  (crypto's crash pattern: with ``beta = -1`` a 10% drop adds ``-ln(0.9) = 10.5`` vol points).
- ``shock``: a relative shift of the whole surface (``0.3`` = every vol x 1.3), e.g. a vol shock scenario.
- ``floor``: lowest vol the rule returns (default 1%), so a large rally with ``beta < 0`` cannot give vol <= 0.

Defaults: sticky strike, ``beta = 0``, ``shock = 0`` (the surface as given, strikes keep their vols).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .surface import DEFAULT_SURFACE, VolSurface


@dataclass(frozen=True)
class VolDynamics:
    """The rule of the module docstring.

    Raises:
        ValueError: unknown rule, ``shock <= -1`` or ``floor <= 0``.
    """

    rule: Literal["sticky_strike", "sticky_moneyness"] = "sticky_strike"
    beta: float = 0.0
    shock: float = 0.0
    floor: float = 0.01
    surface: VolSurface = DEFAULT_SURFACE

    def __post_init__(self) -> None:
        if self.rule not in ("sticky_strike", "sticky_moneyness"):
            raise ValueError(f"VolDynamics.rule: 'sticky_strike' or 'sticky_moneyness' (got {self.rule!r})")
        if not self.shock > -1:
            raise ValueError("VolDynamics.shock must be > -1 (a vol cannot be scaled to <= 0)")
        if not self.floor > 0:
            raise ValueError("VolDynamics.floor must be > 0")

    def implied_vol(self, strike, years, forward, forward_start) -> np.ndarray:
        """Implied vol of each strike at forward ``forward`` on a path that started at ``forward_start``.

        Args:
            strike: strikes (quote per base unit), array-like.
            years: time to expiry of each, > 0.
            forward: current forward, broadcast against ``strike`` (e.g. shape ``(steps, 1)`` for a path).
            forward_start: forward at the start of the path (scalar or broadcastable).

        Returns:
            float64 array of vols, the broadcast shape of the inputs.
        """
        f = np.asarray(forward, np.float64)
        f0 = np.asarray(forward_start, np.float64)
        f_ref = f0 if self.rule == "sticky_strike" else f
        k = np.log(np.asarray(strike, np.float64) / f_ref)
        k, t = np.broadcast_arrays(k, np.asarray(years, np.float64))
        base = self.surface.implied_vol(k, t)
        return np.maximum(self.floor, base * (1.0 + self.shock) + self.beta * np.log(f / f0))

    def vol_path(self, strike, years, forward_path) -> np.ndarray:
        """Vols of ``n`` series along a forward path of ``steps`` points (the first is ``F_0``).

        Args:
            strike: shape ``(n,)``; years: shape ``(n,)`` (held fixed along the path: the caller ages it if the
                path spans days).
            forward_path: shape ``(steps,)``.

        Returns:
            float64 array of shape ``(steps, n)``.
        """
        path = np.asarray(forward_path, np.float64)
        return self.implied_vol(strike, years, path[:, None], path[0])
