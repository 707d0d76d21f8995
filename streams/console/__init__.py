"""``graphfetch console``: the operator's web page, reading the cluster through Kafka like any client.

The console follows the topics (pipeline versions on ``graphfetch.configs``,
history sketches on ``graphfetch.stats``, profiles on each pipeline's output
topic, dead letters on ``graphfetch.dlq``) into bounded in-memory views
(:class:`~streams.console.cluster.ClusterView`), and Starlette pages render
from those views (:func:`~streams.console.app.create_app`). Nothing is read
from a worker directly, so it works against any deployment; it adds no load
to the workers beyond a few consumers of topics they write anyway.

Its web stack (starlette, uvicorn, jinja2) is the ``console`` extra:
``pip install 'graphfetch[console]'``. Mutating actions (rollback, re-submit,
try a request) need ``GRAPHFETCH_CONSOLE_TOKEN``; without it the console is
read-only.
"""

from __future__ import annotations

from streams.console.app import create_app
from streams.console.cluster import ClusterView
from streams.console.server import serve_console

__all__ = ["ClusterView", "create_app", "serve_console"]
