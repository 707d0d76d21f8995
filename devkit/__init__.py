"""Tooling to develop, demonstrate and measure graphfetch; not needed by a production worker.

* :mod:`devkit.brokers`: local brokers (Apache Kafka from Maven Central's jars, Tansu).
* :mod:`devkit.demo`: the demo upstream services (``python -m devkit.demo``).
* :mod:`devkit.deployment`: the one harness that starts a local deployment (broker, demo
  upstreams, ``graphfetch worker`` processes, faults), used by ``dev``, ``bench``, ``chaos``
  and the integration tests.
* :mod:`devkit.devstack`: ``graphfetch dev``, a broker, the demo upstreams and a worker in one process.
* :mod:`devkit.bench`: ``graphfetch bench``, the floor, in-process engine and Kafka runtime measured.
* :mod:`devkit.chaos`: ``graphfetch chaos``, fault scenarios on a local deployment.

Its third-party dependencies come with the ``dev`` extra (``pip install 'graphfetch[dev]'``).
The ``graphfetch`` CLI imports this package only inside the commands that need it, and
:mod:`streams`, :mod:`planner` and :mod:`connectors` never import it.
"""
