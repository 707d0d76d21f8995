"""Reading what graphfetch publishes, as a reader of this contract version: unknown properties that a
later version added are ignored (docs/spec.md#versioning)."""

from __future__ import annotations

import base64
import binascii
import json

from planner import Profile
from streams.events import DeadLetter


def decode_profile(value: bytes) -> Profile:
    """A profile from its record value; ``ValueError`` (pydantic's ValidationError is one) if it is not."""
    return Profile.model_validate_json(value, extra="ignore")


def decode_dead_letter(value: bytes) -> DeadLetter:
    """A dead letter from its record value; ``ValueError`` if it is not."""
    return DeadLetter.model_validate_json(value, extra="ignore")


def decode_dlq_record(value: bytes) -> tuple[str | None, Profile | DeadLetter]:
    """A DLQ record: a dead letter (it has ``code``) or a failed profile (it has ``status``), with the
    request id it is about (for a dead letter, read from the original request it carries, if it can be)."""
    document = json.loads(value)
    if isinstance(document, dict) and "status" in document and "code" not in document:
        profile = Profile.model_validate(document, extra="ignore")
        return profile.request_id, profile
    letter = DeadLetter.model_validate(document, extra="ignore")
    return _original_request_id(letter), letter


def _original_request_id(letter: DeadLetter) -> str | None:
    """The id in the refused request's JSON; else its Kafka key, which is the request id for the
    requests this client sends (a value cut at 64 KiB, or one that is not JSON, still matches)."""
    try:
        request = json.loads(base64.b64decode(letter.value, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        request = None
    request_id = request.get("request_id") if isinstance(request, dict) else None
    if isinstance(request_id, str):
        return request_id
    if letter.key is None:
        return None
    try:
        return base64.b64decode(letter.key, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
