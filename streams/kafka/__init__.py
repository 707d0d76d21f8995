"""Talking to Kafka: client factory, topics, whole-topic readers.

* :mod:`~streams.kafka.factory`: producers and consumers configured from
  :class:`~streams.settings.Settings` (security, read-committed reads).
* :mod:`~streams.kafka.stableoffsets`: the read-committed consumer's stable offsets.
* :mod:`~streams.kafka.topics`: topic specs, creation and description.
* :mod:`~streams.kafka.topicreader`: reading a topic from its start to its end, or following it.

The Kafka runtime (:mod:`streams.runtime`), live config (:mod:`streams.liveconfig`) and the
public client (:mod:`streams.client`) build on it; it imports none of them.
"""
