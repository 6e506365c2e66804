"""The ``cxstream rules`` and ``cxstream silence`` commands.

* ``cxstream rules check [DIR]``: every problem of a rules directory as
  ``file:line:col: path: message (hint: ...)``; exit code 1 if there is any;
* ``cxstream rules schema [--out FILE]``: the JSON Schema of a rules file;
* ``cxstream silence add|list|expire``: silences in the configured Redis.

The silence commands read the wall clock (a silence starts now). Tests pass another
clock, or another silence store, in the click context object:
``main.invoke(..., obj={"clock": ManualClock(...), "silence_store": store})``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cxstream.cli_common import CONFIG_OPTION, settings_from
from cxstream.clock import Clock, SystemClock

if TYPE_CHECKING:
    from cxstream.rules.silences import Silence, SilenceStore

__all__ = ["rules", "silence"]

_T = TypeVar("_T")


@click.group()
def rules() -> None:
    """Check rule files and export their JSON Schema."""


@rules.command("check")
@click.argument(
    "directory",
    default="rules",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
def check(directory: Path) -> None:
    """Check every rule file in DIRECTORY (default: rules/)."""
    from cxstream.rules.loading import RulesError, load_rules

    try:
        rule_set = load_rules(directory)
    except RulesError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        click.echo(f"{len(exc.problems)} problem(s) in {directory}", err=True)
        raise SystemExit(1) from None
    kinds: dict[str, int] = {}
    for rule in rule_set.rules:
        kinds[rule.type] = kinds.get(rule.type, 0) + 1
    counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "no rules"
    routes = "a route tree" if rule_set.route is not None else "no route"
    click.echo(
        f"{directory}: ok: {len(rule_set.rules)} rules ({counted}), {routes},"
        f" {len(rule_set.receivers)} receivers, {len(rule_set.inhibit_rules)} inhibit rules"
    )


@rules.command("schema")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the schema to this file (default: print it)",
)
def schema(out: Path | None) -> None:
    """Print or write the JSON Schema of a rules file (for yaml-language-server)."""
    from cxstream.rules.schema import rules_json_schema_text

    text = rules_json_schema_text()
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")


def _clock(ctx: click.Context) -> Clock:
    obj = ctx.find_root().obj
    if isinstance(obj, dict) and obj.get("clock") is not None:
        clock: Clock = obj["clock"]
        return clock
    return SystemClock()


def _with_store(
    ctx: click.Context,
    config_file: Path | None,
    action: Callable[[SilenceStore], Coroutine[Any, Any, _T]],
) -> _T:
    """Run ``action`` with the context's silence store, else one on the configured Redis."""
    obj = ctx.find_root().obj
    if isinstance(obj, dict) and obj.get("silence_store") is not None:
        given: SilenceStore = obj["silence_store"]
        return asyncio.run(action(given))
    from cxstream.rules.silences import RedisSilenceStore

    settings = settings_from(config_file)

    async def run() -> _T:
        store = RedisSilenceStore.from_settings(settings)
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _describe(item: Silence, state: str) -> str:
    matchers = ", ".join(str(m) for m in item.matchers)
    return (
        f"{item.id}  {state:<8} {item.starts_at.isoformat()} -> {item.ends_at.isoformat()}"
        f"  {{{matchers}}}  by {item.created_by}: {item.comment}"
    )


@click.group()
def silence() -> None:
    """Mute alerts matching labels for a while (stored in the configured Redis)."""


@silence.command("add")
@CONFIG_OPTION
@click.option(
    "--matcher",
    "matchers",
    multiple=True,
    required=True,
    help='label matcher, repeatable: country=DE, kpi=~"nps|detractor_rate", carrier!=dhl',
)
@click.option("--duration", default="2h", show_default=True, help="how long: 30m, 2h, 1d")
@click.option("--author", required=True, help="who creates the silence")
@click.option("--comment", required=True, help="why (shown to everyone)")
@click.pass_context
def silence_add(
    ctx: click.Context,
    config_file: Path | None,
    matchers: tuple[str, ...],
    duration: str,
    author: str,
    comment: str,
) -> None:
    """Add a silence starting now."""
    from pydantic import ValidationError

    from cxstream.rules.base import parse_duration
    from cxstream.rules.silences import new_silence

    try:
        length = parse_duration(duration)
        created = new_silence(matchers, length, author, comment, _clock(ctx).now())
    except (ValueError, ValidationError) as exc:
        raise click.BadParameter(str(exc)) from exc

    async def add(store: SilenceStore) -> None:
        await store.add(created)

    _with_store(ctx, config_file, add)
    click.echo(created.id)


@silence.command("list")
@CONFIG_OPTION
@click.option("--expired", is_flag=True, help="also list expired silences")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.pass_context
def silence_list(
    ctx: click.Context, config_file: Path | None, expired: bool, as_json: bool
) -> None:
    """List pending and active silences (and expired ones with --expired)."""
    now = _clock(ctx).now()

    async def listed(store: SilenceStore) -> list[Silence]:
        return await store.list_silences(now, include_expired=expired)

    found = _with_store(ctx, config_file, listed)
    for item in found:
        if as_json:
            data: dict[str, Any] = item.model_dump(mode="json")
            data["state"] = item.state(now)
            click.echo(json.dumps(data, sort_keys=True))
        else:
            click.echo(_describe(item, item.state(now)))
    if not found and not as_json:
        click.echo("no silences", err=True)


@silence.command("expire")
@CONFIG_OPTION
@click.argument("silence_id")
@click.pass_context
def silence_expire(ctx: click.Context, config_file: Path | None, silence_id: str) -> None:
    """End the silence SILENCE_ID now."""
    from cxstream.rules.silences import SilenceNotFoundError

    now = _clock(ctx).now()

    async def expire(store: SilenceStore) -> Silence:
        return await store.expire(silence_id, now)

    try:
        ended = _with_store(ctx, config_file, expire)
    except SilenceNotFoundError:
        raise click.ClickException(f"no silence with id {silence_id!r}") from None
    click.echo(_describe(ended, ended.state(now)))
