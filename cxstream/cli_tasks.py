"""The ``cxstream tasks`` commands: acknowledge a VIP apology task.

``cxstream tasks ack ACTION_ID [--by NAME]`` records in the configured Redis that the
task was handled, so its reminder (held until the SLA) is not sent. ``ACTION_ID`` is the
task's action id (``detail.task_id`` of the task and of its reminder).

The command reads the wall clock. Tests pass another clock, or another acknowledgement
store, in the click context object:
``main.invoke(..., obj={"clock": ManualClock(...), "task_acks": acks})``.
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cxstream.cli_common import CONFIG_OPTION, settings_from
from cxstream.clock import Clock, SystemClock

if TYPE_CHECKING:
    from cxstream.planning.tasks import Acknowledgement, TaskAcknowledgements

__all__ = ["tasks"]


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@click.group()
def tasks() -> None:
    """Handle VIP apology tasks (stored in the configured Redis)."""


@tasks.command("ack")
@CONFIG_OPTION
@click.argument("action_id")
@click.option("--by", "by", default=None, help="who handled the task (default: the OS user)")
@click.pass_context
def ack(ctx: click.Context, config_file: Path | None, action_id: str, by: str | None) -> None:
    """Acknowledge the VIP apology task ACTION_ID, so its reminder is not sent."""
    from cxstream.planning.tasks import acknowledge_task

    obj = ctx.find_root().obj
    clock: Clock = SystemClock()
    given: TaskAcknowledgements | None = None
    if isinstance(obj, dict):
        clock = obj.get("clock") or clock
        given = obj.get("task_acks")
    who = by or _default_user()
    now = clock.now()

    async def run(acks: TaskAcknowledgements) -> tuple[Acknowledgement, bool]:
        return await acknowledge_task(acks, action_id, by=who, at=now)

    try:
        if given is not None:
            result, new = asyncio.run(run(given))
        else:
            from cxstream.planning.tasks import RedisTaskAcknowledgements

            settings = settings_from(config_file)

            async def with_redis() -> tuple[Acknowledgement, bool]:
                store = RedisTaskAcknowledgements.from_settings(settings)
                try:
                    return await run(store)
                finally:
                    await store.close()

            result, new = asyncio.run(with_redis())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ACTION_ID") from exc
    if new:
        click.echo(f"acknowledged {result.action_id} by {result.by} at {result.at.isoformat()}")
    else:
        click.echo(
            f"{result.action_id} was already acknowledged by {result.by} at {result.at.isoformat()}"
        )
