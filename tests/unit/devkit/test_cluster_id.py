"""Cluster ids for a fresh local Apache Kafka: Kafka's form, and never one the storage tool misreads."""

from __future__ import annotations

import base64
import re

from devkit.brokers.apache_kafka import cluster_id

DRAWS = 3_000  # with one id in 64 starting with '-', all 3,000 would pass by chance with p ~ 1e-21


def test_a_cluster_id_is_16_bytes_of_url_safe_base64_and_never_starts_with_a_dash() -> None:
    ids = [cluster_id() for _ in range(DRAWS)]
    for text in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", text), text
        assert len(base64.urlsafe_b64decode(text + "==")) == 16, text
        assert not text.startswith("-"), f"{text!r} would be read as an option by kafka-storage format"
    assert len(set(ids)) == DRAWS
