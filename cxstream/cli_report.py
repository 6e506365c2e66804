"""The ``cxstream report`` command: the traffic-light report as HTML, JSON or PNG.

``cxstream report --format html|json|png --out FILE [--window 1d] [--country DE]
[--rules DIR] [--replay-dir DIR]`` builds the report (see
:mod:`cxstream.report.build`) and writes it to ``FILE`` (``-``: standard output, for
html and json). Without ``--replay-dir`` it reads the configured Redis (state store,
firing alerts and silences); with it, the output directory of ``cxstream replay``
(daily figures: window ``1d`` only). Rules come from ``--rules`` or the configured
``rules_dir`` (none: the default KPI columns, everything grey).

The command reads the wall clock (``generated_at``, which silences are active). Tests
pass another clock, or another report source, in the click context object:
``main.invoke(..., obj={"clock": ManualClock(...), "report_source": source})``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cxstream.cli_common import CONFIG_OPTION, settings_from
from cxstream.clock import Clock, SystemClock

if TYPE_CHECKING:
    from cxstream.report.model import Report
    from cxstream.report.sources import ReportSource
    from cxstream.rules import RuleSet

__all__ = ["report_command"]

_FORMATS = ("html", "json", "png")


def _load_rules(rules_dir: Path | None) -> RuleSet | None:
    from cxstream.rules import RulesError, load_rules

    if rules_dir is None:
        return None
    try:
        return load_rules(rules_dir)
    except RulesError as error:
        raise click.ClickException(str(error)) from error


def _render(report: Report, fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(report.model_dump(mode="json"), indent=2) + "\n").encode()
    if fmt == "png":
        from cxstream.report.png import render_png

        return render_png(report)
    from cxstream.report.html import render_html

    # A page written to a file: relative links only, no JSON API beside it.
    return render_html(report, base_path="").encode()


@click.command("report")
@CONFIG_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="html",
    show_default=True,
    help="html: the page; json: the API's data; png: the coloured grid",
)
@click.option(
    "--out",
    required=True,
    help="file to write, or '-' for standard output (html and json)",
)
@click.option("--window", default="1d", show_default=True, help="report window, e.g. 1h or 1d")
@click.option("--country", default=None, help="drill down into this country, e.g. DE")
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="rule files with the KPIs and local expectations (default: the configured rules_dir)",
)
@click.option(
    "--replay-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="read the output directory of `cxstream replay` instead of the configured Redis"
    " (daily figures: window 1d only)",
)
@click.pass_context
def report_command(
    ctx: click.Context,
    config_file: Path | None,
    fmt: str,
    out: str,
    window: str,
    country: str | None,
    rules_dir: Path | None,
    replay_dir: Path | None,
) -> None:
    """Write the traffic-light report: every KPI per country (or per segment of --country),
    green/yellow/red against the local expectations, with trends and alerts."""
    from cxstream.report.build import ReportBuilder
    from cxstream.report.sources import ReplayOutputSource, StoreReportSource

    if out == "-" and fmt == "png":
        raise click.UsageError("a PNG is not written to standard output: give --out FILE.png")
    obj = ctx.find_root().obj
    clock: Clock = SystemClock()
    given: ReportSource | None = None
    if isinstance(obj, dict):
        clock = obj.get("clock") or clock
        given = obj.get("report_source")

    needs_settings = rules_dir is None or (given is None and replay_dir is None)
    settings = None
    if needs_settings:
        settings = settings_from(config_file)
    rule_set = _load_rules(rules_dir or (settings.rules_dir if settings is not None else None))

    async def run() -> Report:
        if given is not None:
            return await ReportBuilder(given, rule_set, clock=clock).build(window, country)
        if replay_dir is not None:
            source = ReplayOutputSource(replay_dir)
            return await ReportBuilder(source, rule_set, clock=clock).build(window, country)
        assert settings is not None
        store_source = StoreReportSource.from_settings(settings)
        try:
            return await ReportBuilder(store_source, rule_set, clock=clock).build(window, country)
        finally:
            await store_source.close()

    from redis.exceptions import RedisError

    try:
        report = asyncio.run(run())
    except ValueError as error:  # bad window, unsupported window, unknown country, files
        raise click.ClickException(str(error)) from error
    except (RedisError, OSError) as error:
        raise click.ClickException(f"cannot read the report data: {error}") from error
    data = _render(report, fmt)
    if out == "-":
        click.echo(data.decode(), nl=False)
        return
    Path(out).write_bytes(data)
    rows = len(report.rows)
    click.echo(
        f"wrote {out}: {fmt}, {rows} rows x {len(report.columns)} KPIs, window {report.window},"
        f" as of {report.as_of.isoformat()}",
        err=True,
    )
