"""``python -m devkit.bench``: ``graphfetch bench`` with every flag of :mod:`devkit.bench.command`."""

from devkit.bench.command import app

app(prog_name="graphfetch bench")
