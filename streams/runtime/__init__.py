"""The Kafka runtime.

* :mod:`~streams.runtime.statstopic`: execution history shared between workers through a topic.
"""
