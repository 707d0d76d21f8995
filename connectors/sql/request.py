"""A node's SQL request spec: a literal query whose ``:name`` parameters are always bound."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError


class SqlRequest(BaseModel):
    """What one SQL node asks for. Values never become SQL text: they are bind parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: StrictStr = Field(min_length=1, description="SQL with :name bind parameters.")
    params: dict[StrictStr, Any] = Field(default_factory=dict, description="Values of the bind parameters.")
    one: StrictBool = Field(False, description="Return the first row (or null) instead of a list.")

    @model_validator(mode="after")
    def _params_match_query(self) -> SqlRequest:
        try:
            used = set(text(self.query).compile().params)
        except SQLAlchemyError as exc:
            raise ValueError(f"query cannot be parsed: {type(exc).__name__}") from None
        missing = sorted(used - self.params.keys())
        unused = sorted(self.params.keys() - used)
        if missing:
            raise ValueError(
                f"query uses {', '.join(':' + m for m in missing)} but params has no value for it"
            )
        if unused:
            raise ValueError(f"params {', '.join(unused)} not used by the query (a typo?)")
        return self
