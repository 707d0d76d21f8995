"""``graphfetch produce``, ``consume`` and ``request``: a cluster's requests and profiles, through the public client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

import typer

from planner import ConfigError, Profile
from streams.cli.common import (
    EXIT_STATUS,
    ConfigsOption,
    FieldsOption,
    KeyOption,
    fail,
    parse_fields,
    parse_keys,
    settings_from,
)
from streams.cli.shared_options import BootstrapOption
from streams.liveconfig.catalog import load_catalog
from streams.settings import Settings


def output_topics(settings: Settings) -> dict[str, str]:
    """Each loaded pipeline's output topic, for the client to wait on (and to refuse unknown pipelines)."""
    try:
        pipelines = load_catalog([settings.configs])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    return {name: pipeline.config.output.topic for name, pipeline in pipelines.items()}


def produce(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    key: KeyOption,
    fields: FieldsOption = None,
    count: Annotated[
        int,
        typer.Option(
            "--count", "-n", min=1, help="How many requests; {i} in a key value is the request number."
        ),
    ] = 1,
    rate: Annotated[
        float | None, typer.Option(help="Requests per second (default: as fast as possible).")
    ] = None,
    deadline_ms: Annotated[float | None, typer.Option(help="Request deadline (default: pipeline's).")] = None,
    bootstrap: BootstrapOption = None,
) -> None:
    """Send requests to graphfetch.requests (a progress bar for --count > 1)."""
    from rich.progress import Progress

    from streams.client import GraphfetchClient
    from streams.telemetry.tracing import setup_tracing

    setup_tracing("graphfetch-cli")
    settings = settings_from(bootstrap=bootstrap)
    keys = parse_keys(key)

    async def go(advance: Callable[[int], None]) -> list[str]:
        async with GraphfetchClient(settings=settings) as client:
            return await client.send_many(
                pipeline,
                keys=keys,
                count=count,
                fields=parse_fields(fields),
                deadline_ms=deadline_ms,
                rate=rate,
                progress=advance,
            )

    with Progress(disable=count == 1, transient=False) as bar:
        task = bar.add_task("producing", total=count)
        ids = asyncio.run(go(lambda n: bar.advance(task, n)))
    typer.echo(
        f"sent {len(ids)} request(s) to {settings.requests_topic}: {ids[0]}"
        + (f" .. {ids[-1]}" if len(ids) > 1 else "")
    )


def consume(
    topic: Annotated[str, typer.Argument(help="Topic to read.")] = "profiles.enriched",
    follow: Annotated[bool, typer.Option("--follow", help="Keep reading new records.")] = False,
    bootstrap: BootstrapOption = None,
) -> None:
    """Print the records of a topic (profiles by default) as JSON lines, from the beginning."""
    from streams.client import GraphfetchClient

    settings = settings_from(bootstrap=bootstrap)

    async def go() -> None:
        client = GraphfetchClient(settings=settings)  # reading only: no producer to open
        async for _, value in client.records(topic, follow=follow):
            if value is not None:
                typer.echo(value.decode("utf-8", "replace"))

    try:
        asyncio.run(go())
    except TimeoutError as exc:
        raise fail(str(exc)) from None


def request(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    key: KeyOption,
    fields: FieldsOption = None,
    deadline_ms: Annotated[float | None, typer.Option(help="Request deadline (default: pipeline's).")] = None,
    timeout_s: Annotated[float, typer.Option(help="How long to wait for the profile.")] = 30.0,
    bootstrap: BootstrapOption = None,
    configs: ConfigsOption = None,
) -> None:
    """Produce one request and wait for its profile; exit 0 complete, 2 partial, 1 failed, 3 no profile,
    4 refused (dead-lettered, with the reason)."""
    from streams.client import GraphfetchClient, ProfileTimeout, RequestRefused
    from streams.telemetry.tracing import setup_tracing

    setup_tracing("graphfetch-cli")
    settings = settings_from(bootstrap=bootstrap, configs=configs)
    topics = output_topics(settings)

    async def go() -> Profile:
        async with GraphfetchClient(settings=settings, output_topics=topics) as client:
            typer.echo(
                f"sending a {pipeline} request; its profile comes on {client.output_topic(pipeline)}",
                err=True,
            )
            return await client.request(
                pipeline,
                keys=parse_keys(key),
                fields=parse_fields(fields),
                deadline_ms=deadline_ms,
                timeout_s=timeout_s,
            )

    try:
        profile = asyncio.run(go())
    except RequestRefused as exc:
        raise fail(str(exc), code=4) from None
    except ProfileTimeout as exc:
        raise fail(str(exc), code=3) from None
    typer.echo(profile.model_dump_json(indent=2))
    if profile.trace_id:
        typer.echo(f"trace {profile.trace_id}: {settings.trace_url(profile.trace_id)}", err=True)
    raise typer.Exit(EXIT_STATUS[profile.status])
