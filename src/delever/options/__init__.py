"""European options on a future or index, their volatility surface and their margin (issue #16).

One concept per module:

- :mod:`.black76`: Black-76 prices and greeks on a forward (vectorised, float64).
- :mod:`.series`: option and future series (linear or inverse settlement) as a structure of arrays, and the
  rounding of model values to integer money units against the account.
- :mod:`.surface`: implied volatility surfaces (raw SVI, a grid read from a file) and the documented default.
- :mod:`.vol_dynamics`: how implied volatility moves along a price path (sticky strike, spot-vol beta, vol shock).
- :mod:`.standard_margin`: Deribit's standard initial and maintenance margin of option positions.
- :mod:`.portfolio_margin`: a scenario-grid portfolio margin (price moves x volatility shocks, worst loss plus
  add-ons) of many accounts at once.

- :mod:`.engine_market`: option series as instruments of a run (premium paths, books widening with vol, the
  option holders of the starting book).
- :mod:`.engine_margin`: the standard option margin in the engine's step loop and Deribit's liquidation order
  (futures first, stop once healthy).
"""
