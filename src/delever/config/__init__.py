"""The sections of a scenario (:mod:`delever.scenario`), one module per concept: the market's inputs
(:mod:`.market`), the book (:mod:`.book`), the deleveraging mechanisms (:mod:`.mechanisms`), the ADL policy
(:mod:`.adl`) and the liquidation stage's per-step limits (:mod:`.liquidation`). Each is a frozen pydantic model
that forbids unknown keys (:class:`.base.ConfigModel`)."""
