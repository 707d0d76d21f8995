"""A mutating action needs the configured token; without one the console is read-only."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from streams.console.tokens import TokenRefused, check_token
from streams.settings import Settings


def test_without_a_configured_token_every_change_is_refused() -> None:
    with pytest.raises(TokenRefused, match="read-only"):
        check_token(Settings(console_token=None), "anything")


@pytest.mark.parametrize("given", ["", None, "wrong", "s3cret "])
def test_a_wrong_or_missing_token_is_refused(given: str | None) -> None:
    with pytest.raises(TokenRefused, match="wrong token"):
        check_token(Settings(console_token=SecretStr("s3cret")), given)


def test_the_configured_token_is_accepted() -> None:
    check_token(Settings(console_token=SecretStr("s3cret")), "s3cret")


def test_the_token_is_masked_when_settings_are_printed() -> None:
    assert "s3cret" not in repr(Settings(console_token=SecretStr("s3cret")))
