"""``graphfetch chaos``: graphfetch under faults, counted from its clients' side.

Each scenario starts a real deployment (a local Apache Kafka or Tansu broker,
worker processes, the demo upstreams), runs a steady open-loop stream of
customer360 requests, injects one fault (upstream errors, hangs, a latency
tail, a source down, SIGKILLed or restarted workers, a frozen broker, slow
connectors), clears it, and counts requests sent, profiles received, lost,
duplicated, statuses, recovery and upstream calls per request, under the
at-least-once or the exactly-once guarantee, as many times as asked.

Modules: ``runner`` (:func:`~devkit.chaos.runner.run_chaos`,
:func:`~devkit.chaos.runner.run_scenario`, ``Durations``), ``scenarios``
(``SCENARIOS``), ``layouts`` (worker processes and their roles), ``deployment``
(the harness's deployment with a profile ledger), ``stream`` (the request
stream), ``guarantees`` (``Guarantee``, what each asks of the broker and
allows), ``figures`` (``ScenarioFigures``, ``ScenarioSummary``), ``table`` (the
terminal table), ``command`` (``app``, mounted as ``graphfetch chaos``).
Nothing is re-exported here: the CLI imports only what its command needs.
"""
