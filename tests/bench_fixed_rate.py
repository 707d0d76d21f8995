"""Worker CPU per request held at fixed request rates: customer360 on the null connector, one worker.

Run: ``python tests/bench_fixed_rate.py --bootstrap HOST:PORT [--rates 100,300,500] [--seconds 6]
[--broker-pid PID]``. Not a test (pytest does not collect it). ``graphfetch bench`` steps the
rate up until it no longer holds; this holds each rate for ``--seconds`` on a broker that is
already running and warm (``graphfetch broker --kind kafka`` prints its bootstrap and pid), so
that two versions of the code can be compared rate by rate, alternating: run it once with
``PYTHONPATH`` at each checkout (its worker processes inherit ``PYTHONPATH``).

Prints, per rate: requests answered per second, end-to-end p50 and p99, and CPU ms per
request of the worker and (with ``--broker-pid``) of the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from pathlib import Path

import yaml

from devkit.bench.kafka_runtime import KafkaRuntime
from devkit.bench.load import RUNTIME, CpuClock, run_step
from devkit.bench.workloads import (
    customer360_on_null,
    load_workload_pipelines,
    low_credit_customers,
    write_configs,
)
from devkit.deployment.local import LocalDeployment
from devkit.deployment.usage import cpu_seconds
from streams.settings import Settings

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "customer360.yaml"
WARM_UP_REQUESTS = 50


async def main(bootstrap: str, rates: list[int], seconds: float, broker_pid: int | None) -> None:
    workload = customer360_on_null(
        yaml.safe_load(CONFIG.read_text(encoding="utf-8")), name="customer360-null"
    )
    keys = low_credit_customers(200)
    with tempfile.TemporaryDirectory(prefix="bench-fixed-rate-") as tmp:
        workdir = Path(tmp)
        prefix = f"fixed-rate-{uuid.uuid4().hex[:6]}"
        write_configs(workdir / "configs", [workload], output_topic=f"{prefix}.profiles")
        pipelines = load_workload_pipelines(workdir / "configs", env={})
        settings = Settings(bootstrap=bootstrap, configs=workdir / "configs").isolated(prefix)
        async with LocalDeployment(settings=settings, workdir=workdir, log_level="WARNING") as deployment:
            runtime = KafkaRuntime(
                name=prefix,
                deployment=deployment,
                output_topic=f"{prefix}.profiles",
                pipelines=pipelines,
                workers=1,
            )
            async with runtime:
                await runtime.start(probe=workload, probe_key=keys[0])
                for i in range(WARM_UP_REQUESTS):
                    await runtime.call(workload, key=keys[i % len(keys)], request_id=f"warm-{i}")
                clocks: dict[str, CpuClock] = {RUNTIME: runtime.worker_cpu_seconds}
                if broker_pid is not None:
                    clocks["broker"] = lambda: cpu_seconds([broker_pid])
                for rate in rates:
                    step = await run_step(
                        runtime,
                        workload,
                        keys,
                        rate=rate,
                        duration_s=seconds,
                        threshold_ms=100.0,
                        ceiling_ms=1000.0,
                        prefix=f"rate-{rate}",
                        drain_s=30.0,
                        cpu=clocks,
                    )
                    per_request = {
                        name: cores * 1000.0 / step.achieved_rps for name, cores in step.cpu_cores.items()
                    }
                    cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in per_request.items())
                    print(
                        f"{rate:5d} req/s offered: {step.achieved_rps:5.0f} answered/s, p50 {step.e2e.p50:6.1f} "
                        f"p99 {step.e2e.p99:6.1f} ms; CPU ms per request: {cpu}",
                        flush=True,
                    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="a running, warm broker")
    parser.add_argument("--rates", default="100,300,500", help="requests a second, comma separated")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long each rate is held (default 6)")
    parser.add_argument("--broker-pid", type=int, help="the broker's pid, to report its CPU too")
    args = parser.parse_args()
    asyncio.run(main(args.bootstrap, [int(r) for r in args.rates.split(",")], args.seconds, args.broker_pid))
