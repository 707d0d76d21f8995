"""Cache keys: one hash per (source identity, rendered request).

Two fetches share an entry exactly when they go to the same source (its
identity, :func:`streams.engine.sources.source_identity`, hashes its connector and
settings, credentials included) and ask the same thing. The request is written
as canonical JSON (sorted keys, no spaces) and hashed with SHA-256, so the key
is short, the same in every worker, and holds no key value or secret in clear.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr


def _unwrap(value: Any) -> Any:
    """JSON stand-in for the non-JSON values source settings may hold."""
    if isinstance(value, SecretStr | SecretBytes):
        secret = value.get_secret_value()
        return secret.decode("latin-1") if isinstance(secret, bytes) else secret
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python")
    raise TypeError(f"{type(value).__name__} is not JSON")


def canonical_json(value: Any) -> str:
    """One text per value whatever the order of its mappings; ``TypeError`` for non-JSON values."""
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_unwrap
        )
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot build a cache key from a value that is not JSON: {exc}") from None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(*, source_ident: str, request: Any) -> str:
    """The key of one rendered request to one source: 64 hex digits."""
    return _sha256(canonical_json({"source": source_ident, "request": request}))
