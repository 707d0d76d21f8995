"""The ``graphfetch`` command (typer): :mod:`~streams.cli.main` holds the commands and the entry point.

* :mod:`~streams.cli.shared_options`: options several command groups share (``--bootstrap``, ``--broker``).
* :mod:`~streams.cli.config_commands`: ``graphfetch config``, publishing and reading live config.
* :mod:`~streams.cli.plan_formats`: ``graphfetch plan`` as text, Mermaid or Graphviz dot.
* :mod:`~streams.cli.explain`: ``graphfetch plan --explain``, the history's predictions.
* :mod:`~streams.cli.service_runner`: running a long-lived service: signals, logging, a clean exit.

The commands that need the tooling (``dev``, ``broker``, ``demo-upstreams``, ``bench``,
``chaos``) import :mod:`devkit` inside the command, never at import time.
"""
