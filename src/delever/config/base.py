"""The base of every scenario section: a frozen pydantic model that forbids unknown keys and inf/nan."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """A scenario section: frozen, unknown keys are errors, no inf/nan anywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
