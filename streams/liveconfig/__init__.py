"""Live pipeline configuration: load, check and publish pipelines, and follow them in a worker.

* :mod:`~streams.liveconfig.catalog`: pipeline files loaded and checked against the connectors.
* :mod:`~streams.liveconfig.store`: the pipelines a worker serves now.
* :mod:`~streams.liveconfig.configtopic`: the versioned config topic, its records and history.
* :mod:`~streams.liveconfig.configsync`: a worker following the config topic into its store.
"""
