"""How long seeding the demo's ``credit`` table takes: 5,000 rows into a fresh SQLite file.

Run: ``.venv/bin/python tests/bench_seed.py [--runs N] [--customers N]``. Not a test (pytest does
not collect it): it prints the median and the slowest of ``N`` runs, each into a new file. The
test suite asserts only what keeps this fast (one executemany of every row,
tests/integration/demo/test_seed.py); the time itself follows the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from devkit.demo import seed_database


async def _seed_once(folder: Path, run: int, customers: int) -> float:
    started = time.perf_counter()
    await seed_database(f"sqlite+aiosqlite:///{folder / f'demo-{run}.db'}", customers=customers)
    return time.perf_counter() - started


async def _main(runs: int, customers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="graphfetch-bench-seed-") as folder:
        times = [await _seed_once(Path(folder), run, customers) for run in range(runs)]
    print(
        f"seed {customers} customers into SQLite, {runs} runs: "
        f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--customers", type=int, default=5_000)
    args = parser.parse_args()
    asyncio.run(_main(args.runs, args.customers))


if __name__ == "__main__":
    main()
