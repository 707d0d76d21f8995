"""``graphfetch bench``: graphfetch's speed, measured side by side with the floor it is compared with.

Runtimes: the *floor* (the upstream calls alone), the *in-process* engine and
the *Kafka* runtime with one and two worker processes, on the same request
sequence in one run. :func:`run_bench` measures, :func:`write_outputs` saves
``bench.json`` and the latency-vs-load plot, :func:`print_report` prints the tables.
"""

from devkit.bench.errors import BenchError
from devkit.bench.options import FULL, QUICK, BenchOptions, Sizes, parse_only
from devkit.bench.report_tables import print_report, report_console
from devkit.bench.results import BenchReport
from devkit.bench.suite import run_bench, write_outputs

__all__ = [
    "FULL",
    "QUICK",
    "BenchError",
    "BenchOptions",
    "BenchReport",
    "Sizes",
    "parse_only",
    "print_report",
    "report_console",
    "run_bench",
    "write_outputs",
]
