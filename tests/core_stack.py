"""The packaged multi-instrument scenarios (cross margin, calendar spread) run with every mechanism on (issue #11);
tests that check the core stack (full liquidation, insurance fund, ADL) on their markets turn the other mechanisms
off with :data:`MECHANISMS_OFF` (scenario overrides)."""

from delever.scenario import MechanismsConfig

MECHANISMS_OFF = {name: {"enabled": False} for name in MechanismsConfig.model_fields if name != "cross_margin"}
"""``[mechanisms]`` overrides that switch every mechanism off but the multi-instrument market itself."""
