"""Latency against offered load, as a PNG (matplotlib's Agg canvas: no display needed)."""

from __future__ import annotations

from pathlib import Path

from devkit.bench.load import LoadResult


def plot_load(load: dict[str, LoadResult], path: Path) -> None:
    """p50 and p99 latency (left) and achieved rate (right) against offered load, per runtime
    (``inprocess``, ``kafka-1``, ``tansu-2``, ...)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    latency, throughput = figure.subplots(1, 2)
    threshold = None
    highest = 0.0
    for runtime, result in load.items():
        offered = [s.offered_rps for s in result.steps]
        highest = max([highest, *offered])
        (line,) = latency.plot(offered, [s.e2e.p99 for s in result.steps], marker="o", label=f"{runtime} p99")
        latency.plot(
            offered,
            [s.e2e.p50 for s in result.steps],
            marker=".",
            linestyle="--",
            color=line.get_color(),
            label=f"{runtime} p50",
        )
        throughput.plot(offered, [s.achieved_rps for s in result.steps], marker="o", label=runtime)
        threshold = result.threshold_ms
    if threshold is not None:
        latency.axhline(threshold, color="grey", linestyle=":", label=f"target p99 ({threshold:g} ms)")
    latency.set_yscale("log")
    latency.set_xlabel("offered load (requests/s)")
    latency.set_ylabel("latency from scheduled send (ms)")
    latency.set_title("customer360 on the null connector")
    latency.legend(fontsize="small")
    throughput.plot([0, highest], [0, highest], color="grey", linestyle=":", label="offered")
    throughput.set_xlabel("offered load (requests/s)")
    throughput.set_ylabel("answered (requests/s)")
    throughput.set_title("throughput")
    throughput.legend(fontsize="small")
    figure.savefig(path, dpi=110)
