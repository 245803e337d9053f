"""The venue's defence line beyond full liquidation, insurance fund and ADL; each mechanism is a scenario
option (:class:`delever.scenario.MechanismsConfig`), off by default, in its own module:

- :mod:`.partial` tier-by-tier partial liquidation and Hyperliquid-style slicing;
- :mod:`.incremental` Deribit's incremental liquidation (lots per round, rounds per second);
- :mod:`.backstop` a backstop liquidity vault (HLP) taking over positions below a fraction of MM;
- :mod:`.proactive` proactive deleveraging of the most levered accounts when a stress trigger trips;
- :mod:`.dynamic_margin` margin rates scaled by realised volatility;
- :mod:`.circuit_breaker` halts of liquidation fills after fast moves;
- :mod:`.limits` per-account notional caps and tier leverage caps;
- :mod:`.socialized` socialized loss instead of ADL (over the winners, or through funding on both sides), with
  negative-balance protection flags;
- :mod:`.insurance_cap` caps on the insurance fund's payouts per market (Drift);
- :mod:`.withdrawal` market makers thinning the book as volatility rises;
- :mod:`.funding` funding payments between longs and shorts;
- :mod:`.block_limits` per-step liquidation limits (``[liquidation]``, dYdX's per-block limits);
- cross-margin contagion across instruments: :mod:`delever.contagion` prepares the instruments; the engine's one
  step loop runs them, every mechanism above per instrument (:class:`delever.engine.Simulation`).

The step loop sees each mechanism through one protocol of step phases (:mod:`.base`): a
:class:`~delever.mechanisms.base.Mechanism` subclass in the mechanism's module, listed in :mod:`.registry`, whose
order is the order the engine calls them in. Adding a mechanism does not edit the engine.
"""
