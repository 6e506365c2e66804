"""Pieces every ``cxstream`` command shares: the ``--config`` option and loading settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cxstream.config import Settings, load_settings

__all__ = ["CONFIG_OPTION", "settings_from"]

#: ``--config FILE`` of every command that reads settings.
CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML, JSON or TOML settings file (environment variables CXSTREAM_* win over it).",
)


def settings_from(config_file: Path | None, **overrides: Any) -> Settings:
    """The settings (``overrides`` that are not ``None`` on top), or a usage error that
    names what is wrong with them."""
    try:
        return load_settings(config_file, **{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from exc
