"""Talking to Kafka: client factory, topics, whole-topic readers, and the request client.

* :mod:`~streams.kafka.factory`: producers and consumers configured from
  :class:`~streams.settings.Settings` (security, read-committed reads).
* :mod:`~streams.kafka.stableoffsets`: the read-committed consumer's stable offsets.
* :mod:`~streams.kafka.topics`: topic specs, creation and description.
* :mod:`~streams.kafka.topicreader`: reading a topic from its start to its end, or following it.
* :mod:`~streams.kafka.requestclient`: the client side (``graphfetch produce``, ``consume``,
  ``request``): produce requests, read profiles, wait for one profile.

The Kafka runtime (:mod:`streams.runtime`) and live config (:mod:`streams.liveconfig`)
build on it; it imports neither.
"""
