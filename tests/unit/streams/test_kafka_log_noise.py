"""aiokafka's retried offset lookups are not errors in graphfetch's logs; failures that stay are."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import NotLeaderForPartitionError, TopicAuthorizationFailedError

import streams.kafka.factory  # noqa: F401 - installs the filter on aiokafka's fetcher logger


def test_a_retriable_offset_lookup_failure_is_debug_and_any_other_stays_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fetcher = logging.getLogger("aiokafka.consumer.fetcher")
    with caplog.at_level(logging.INFO, logger="aiokafka.consumer.fetcher"):
        fetcher.error("Failed fetch offsets from %s: %s", 1, NotLeaderForPartitionError())
        fetcher.error("Failed fetch offsets from %s: %s", 1, TopicAuthorizationFailedError())
        fetcher.error("Unexpected error in fetcher routine")
    assert [(r.levelname, r.getMessage()[:26]) for r in caplog.records] == [
        ("ERROR", "Failed fetch offsets from "),
        ("ERROR", "Unexpected error in fetche"),
    ]
    assert "TopicAuthorizationFailed" in caplog.records[0].getMessage()

    with caplog.at_level(logging.DEBUG, logger="aiokafka.consumer.fetcher"):
        caplog.clear()
        fetcher.error("Failed fetch offsets from %s: %s", 1, NotLeaderForPartitionError())
    assert [r.levelname for r in caplog.records] == ["DEBUG"]
