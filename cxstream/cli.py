"""The ``cxstream`` command line: worker, produce, generate, replay, demo, config."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cxstream.cli_common import CONFIG_OPTION, settings_from
from cxstream.cli_report import report_command
from cxstream.cli_rules import rules, silence
from cxstream.cli_tasks import tasks
from cxstream.config import Settings

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cxstream")
def main() -> None:
    """cxstream: real-time alert engine for customer-experience operations."""
    # Batches create many short-lived objects and a few long-lived ones (reorder buffer,
    # caches): collecting the youngest generation less often saves about a third of the
    # CPU of a replay without holding more than a batch's garbage.
    gc.set_threshold(50_000, 20, 20)


@main.command()
@CONFIG_OPTION
def config(config_file: Path | None) -> None:
    """Print the effective settings (secrets masked)."""
    click.echo(json.dumps(settings_from(config_file).redacted(), indent=2))


@main.command()
@CONFIG_OPTION
def worker(config_file: Path | None) -> None:
    """Run the Faust worker against the configured Kafka and Redis."""
    import faust

    from cxstream.agents.app import create_app
    from cxstream.logs import configure_logging
    from cxstream.producing import ensure_topics
    from cxstream.rules import RulesError

    settings = settings_from(config_file)
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except RulesError as error:
        click.echo(f"refusing to start: {error}", err=True)
        sys.exit(2)
    # Create the topics with the configured partition count before anyone auto-creates
    # them with the broker's default (state partitions follow the topic partitions).
    asyncio.run(ensure_topics(settings))
    faust.Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


@main.command()
@CONFIG_OPTION
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def produce(config_file: Path | None, files: tuple[Path, ...]) -> None:
    """Send JSONL event FILES (gzip accepted) to their topics, keyed per the contract."""
    from cxstream.producing import produce_files

    settings = settings_from(config_file)
    result = asyncio.run(produce_files(files, settings))
    for topic, count in sorted(result.sent.items()):
        click.echo(f"{topic}: {count}")
    if result.dead_lettered:
        click.echo(f"{settings.topics.deadletter}: {result.dead_lettered} (could not be routed)")


@main.command()
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="first day (UTC)")
@click.option("--orders-per-day", type=click.IntRange(1), default=None)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def generate(
    days: int, seed: int, start: datetime | None, orders_per_day: int | None, out: Path
) -> None:
    """Write the realistic sample stream (JSONL, .gz compresses) that the demo uses."""
    from cxstream.generator import GeneratorConfig, generate_events, write_jsonl

    options: dict[str, Any] = {"days": days, "seed": seed}
    if start is not None:
        options["start"] = start.replace(tzinfo=__import__("datetime").UTC)
    if orders_per_day is not None:
        options["orders_per_day"] = orders_per_day
    count = write_jsonl(generate_events(GeneratorConfig(**options)), out)
    click.echo(f"wrote {count} events to {out}")


@asynccontextmanager
async def _replay_store(kind: str, settings: Settings) -> AsyncIterator[Any]:
    from cxstream.memory_store import MemoryStateStore
    from cxstream.redis_store import RedisStateStore

    if kind == "memory":
        yield MemoryStateStore()
        return
    if kind == "redis":
        store = RedisStateStore.from_settings(settings)
        try:
            yield store
        finally:
            await store.close()
        return
    from cxstream.embedded import EmbeddedRedis

    with EmbeddedRedis() as server:
        store = RedisStateStore.from_settings(settings.model_copy(update={"redis_url": server.url}))
        try:
            yield store
        finally:
            await store.close()


@main.command()
@CONFIG_OPTION
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--store",
    type=click.Choice(["embedded", "redis", "memory"]),
    default="embedded",
    show_default=True,
    help="embedded: a private Redis started for the run; redis: the configured one "
    "(use a key_prefix of its own); memory: in-process.",
)
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="rule files to apply (default: the configured rules_dir): try a rule change on "
    "past events before deploying it",
)
@click.option(
    "--send",
    is_flag=True,
    help="also deliver the actions: through the configured Slack, SMTP and webhooks, and "
    "as files in DIR/outbox (.eml, Block Kit JSON) for the rest",
)
@click.option("--progress/--no-progress", default=None, help="progress bar (default: on a tty)")
def replay(
    config_file: Path | None,
    files: tuple[Path, ...],
    out: Path,
    store: str,
    rules_dir: Path | None,
    send: bool,
    progress: bool | None,
) -> None:
    """Run the engine over event FILES in event-time order and write the outputs to --out:
    deadletter.jsonl, figures.jsonl, alerts.jsonl, actions.jsonl and summary.json."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from cxstream.decoding import EventDecoder
    from cxstream.detection_setup import action_planner, detection_stage, load_rule_set
    from cxstream.engine import Engine, EngineOptions
    from cxstream.firing import MemoryFiringAlerts
    from cxstream.replay import Replayer
    from cxstream.rules import RulesError

    settings = settings_from(config_file)
    if rules_dir is not None:
        settings = settings.model_copy(update={"rules_dir": rules_dir})
    try:
        rule_set = load_rule_set(settings)
    except RulesError as error:
        raise click.ClickException(str(error)) from error
    console = Console(stderr=True)
    show = console.is_terminal if progress is None else progress

    async def run() -> dict[str, Any]:
        async with _replay_store(store, settings) as state:
            engine = Engine(state, EngineOptions.from_settings(settings))
            delivery = _replay_delivery(settings, state, rule_set, out) if send else None
            firing = MemoryFiringAlerts()
            replayer = Replayer(
                engine,
                EventDecoder(settings.max_payload_bytes),
                batch_size=settings.batch_size,
                stage=detection_stage(
                    settings,
                    state,
                    rule_set=rule_set,
                    firing=firing,
                    report_url=settings.web.public_url,
                ),
                planner=action_planner(settings, state, rule_set),
                deliver=delivery.handle if delivery is not None else None,
                firing=firing,
            )
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=console,
                disable=not show,
            ) as bar:
                task = bar.add_task("replaying", total=None)

                def report(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                result = await replayer.run(list(files), out, progress=report)
            summary = result.as_dict()
            if delivery is not None:
                summary["deliveries"] = dict(delivery.counts)
                await delivery.dispatcher.aclose()
            return summary

    summary = asyncio.run(run())
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    click.echo(
        f"events read {summary['events_read']}, accepted {summary['accepted']}, "
        f"duplicates {summary['duplicates']}, rejected {summary['rejected']}, "
        f"segments {summary['segments']}, alerts {summary['alerts']}, "
        f"actions {summary['actions']}, corrections {summary['corrections']}, "
        f"{summary['events_per_s']:.0f} events/s"
    )


def _replay_delivery(settings: Settings, state: Any, rule_set: Any, out: Path) -> Any:
    """Deliver replayed actions now (no holding for quiet hours: their time has passed),
    dead letters into ``out/actions.deadletter.jsonl``."""
    from cxstream.delivery import DeliveryLoop, MemoryScheduledActions
    from cxstream.dispatch_setup import build_dispatcher
    from cxstream.memory_store import MemoryStateStore
    from cxstream.planning import MemoryTaskAcknowledgements
    from cxstream.redis_store import RedisStateStore
    from cxstream.retry import Backoff

    client = state.client if isinstance(state, RedisStateStore) else None
    memory = state if isinstance(state, MemoryStateStore) else None
    dispatcher = build_dispatcher(
        settings, client=client, memory_store=memory, rule_set=rule_set, outbox_dir=out / "outbox"
    )
    dead = out / "actions.deadletter.jsonl"

    async def send_deadletter(action: Any, record: dict[str, Any]) -> None:
        with dead.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record, default=str) + "\n")

    return DeliveryLoop(
        dispatcher,
        MemoryScheduledActions(),
        MemoryTaskAcknowledgements(),
        send_deadletter,
        backoff=Backoff(settings.retry_initial_s, settings.retry_max_s),
        hold=False,
    )


@main.command()
@CONFIG_OPTION
@click.option("--days", type=click.IntRange(1, 60), default=14, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--rate",
    type=click.FloatRange(min=1.0),
    default=2000.0,
    show_default=True,
    help="events per second",
)
@click.option("--follow/--no-follow", default=True, hidden=True)
def demo(config_file: Path | None, days: int, seed: int, rate: float, follow: bool) -> None:
    """Start an embedded broker, Redis and worker, feed a generated stream, show live figures."""
    from cxstream.demo import run_demo

    sys.exit(run_demo(settings_from(config_file), days=days, seed=seed, rate=rate, follow=follow))


@main.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
def nab(data_dir: Path, out: Path, seed: int) -> None:
    """Run the default detector over a NAB corpus and write one scored CSV per series."""
    from cxstream.nab import run_nab

    summary = run_nab(data_dir, out, seed=seed)
    click.echo(
        f"{summary.files} files, {summary.rows} rows -> {summary.out_dir} "
        f"({summary.microseconds_per_row:.1f} us/row)"
    )


main.add_command(rules)
main.add_command(silence)
main.add_command(tasks)
main.add_command(report_command)
