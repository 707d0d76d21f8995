"""The token a mutating action needs: ``GRAPHFETCH_CONSOLE_TOKEN``, compared in constant time."""

from __future__ import annotations

import hmac

from streams.settings import Settings


class TokenRefused(Exception):
    """No token is configured (the console is read-only), or the one given is wrong."""


def check_token(settings: Settings, given: str | None) -> None:
    """Return if ``given`` is the configured token; else raise :class:`TokenRefused` saying why."""
    configured = settings.console_token
    if configured is None:
        raise TokenRefused(
            "this console is read-only: set GRAPHFETCH_CONSOLE_TOKEN where it runs to allow changes"
        )
    if not given or not hmac.compare_digest(given.encode(), configured.get_secret_value().encode()):
        raise TokenRefused("wrong token: nothing was changed")
