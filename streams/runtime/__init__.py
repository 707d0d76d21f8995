"""The Kafka runtime: ``graphfetch worker``, its agents, offsets, transactions and shared statistics.

* :mod:`~streams.runtime.worker`: one worker process running any of the agent roles.
* :mod:`~streams.runtime.agents`: the planner, connector and aggregator agents.
* :mod:`~streams.runtime.intake`: requests decoded and checked as they arrive.
* :mod:`~streams.runtime.offsets`, :mod:`~streams.runtime.transactions`: committing
  offsets, exactly-once delivery.
* :mod:`~streams.runtime.statstopic`: execution history shared between workers through a topic.

It runs the fetch path of :mod:`streams.engine`, follows :mod:`streams.liveconfig`, and
talks to Kafka through :mod:`streams.kafka`; none of those imports it.
"""
