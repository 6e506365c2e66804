"""Runtime configuration: one frozen settings object, from the environment or a file.

Every setting can be given as an environment variable with the prefix
``CXSTREAM_`` (nested ones with ``__``, e.g. ``CXSTREAM_TOPICS__FEEDBACK``) or in a
file passed with ``--config``: YAML (``.yaml``/``.yml``), JSON (``.json``) or TOML
(``.toml``), chosen by the file's suffix in any case; the environment wins over the
file. Secrets are :class:`~pydantic.SecretStr` and never printed.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from cxstream.delivery_settings import (
    DispatchSettings,
    SlackSettings,
    SmtpSettings,
    WebhookSettings,
)
from cxstream.web.settings import WebSettings

__all__ = [
    "DEFAULT_SERIES",
    "DIMENSIONS",
    "Dimension",
    "Settings",
    "TopicNames",
    "load_settings",
]

Dimension = Literal["country", "region", "channel", "segment", "carrier"]
DIMENSIONS: tuple[Dimension, ...] = ("country", "region", "channel", "segment", "carrier")

#: Which dimension combinations get their own rolling series by default: the whole
#: shop, each country, and each country broken down by one further dimension.
DEFAULT_SERIES: tuple[tuple[Dimension, ...], ...] = (
    (),
    ("country",),
    ("country", "channel"),
    ("country", "segment"),
    ("country", "carrier"),
    ("country", "region"),
)


class TopicNames(BaseModel):
    """Kafka topic names (the contract's defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feedback: str = "cx.feedback"
    logistics: str = "cx.logistics"
    customers: str = "cx.customers"
    deadletter: str = "cx.deadletter"
    alerts: str = "cx.alerts"
    actions: str = "cx.actions"
    actions_deadletter: str = "cx.actions.deadletter"
    corrections: str = "cx.corrections"

    def for_kind(self, kind: str) -> str:
        return {"feedback": self.feedback, "logistics": self.logistics, "customer": self.customers}[
            kind
        ]


class Settings(BaseSettings):
    """All of cxstream's settings, with production-sensible defaults."""

    model_config = SettingsConfigDict(
        env_prefix="CXSTREAM_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    # Kafka
    broker: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    app_id: str = Field("cxstream", description="Kafka consumer group and Faust application id")
    topics: TopicNames = TopicNames()
    partitions: int = Field(8, ge=1, description="partitions of each input topic (keyed by order)")
    replication_factor: int = Field(1, ge=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    session_timeout_s: float = Field(10.0, gt=0, description="consumer group session timeout")
    rebalance_timeout_s: float = Field(10.0, gt=0, description="consumer group rebalance timeout")

    # Redis
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (no password in it)")
    redis_password: SecretStr | None = None
    redis_cluster: bool = Field(False, description="connect with the Redis Cluster protocol")
    key_prefix: str = Field("cx", pattern=r"^[A-Za-z0-9_.-]{1,32}$")

    # Engine
    batch_size: int = Field(2000, ge=1, description="events per processing batch")
    batch_within_s: float = Field(0.05, gt=0, description="longest wait to fill a batch")
    fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=30_000,
        description="longest the broker may hold a fetch that finds no new data: lower"
        " means less latency on quiet topics (the outbox) and more idle requests",
    )
    bucket_seconds: int = Field(900, ge=60, description="event-time bucket size of aggregates")
    retention_days: float = Field(35.0, gt=0, description="how long aggregate buckets are kept")
    dedup_ttl_hours: float = Field(
        192.0, gt=0, description="how long an event id is remembered to drop redeliveries"
    )
    order_ttl_days: float = Field(120.0, gt=0, description="how long order state is kept")
    profile_ttl_days: float = Field(400.0, gt=0, description="how long customer profiles are kept")
    series: tuple[tuple[Dimension, ...], ...] = DEFAULT_SERIES
    join_hold_s: float = Field(
        0.5,
        ge=0,
        description="longest wall-clock wait for a reference stream (logistics, customers) that"
        " makes no progress to catch up with feedback; raise it if a stalled logistics feed"
        " should hold feedback back longer (at the price of latency)",
    )
    join_grace_s: float = Field(
        0.5,
        ge=0,
        description="how long feedback waits for a caught-up logistics stream to deliver "
        "events still in flight",
    )
    slack: SlackSettings | None = Field(None, description="Slack access; unset: no Slack")
    smtp: SmtpSettings | None = Field(None, description="SMTP server; unset: no email")
    webhooks: dict[str, WebhookSettings] = Field(
        default_factory=dict, description="signed JSON webhooks by name (e.g. ticket systems)"
    )
    dispatch: DispatchSettings = Field(
        default_factory=DispatchSettings, description="retries and idempotency of delivery"
    )
    outbox_dir: Path | None = Field(
        None,
        description="also write every delivered action as a file (.eml, Block Kit JSON) here;"
        " actions no notifier is configured for go only here",
    )
    rules_dir: Path | None = Field(
        None,
        description="directory of rule files (rules/*.yaml); unset: built-in detection only,"
        " no routing and no customer actions",
    )
    allowed_lateness_s: float = Field(
        600.0,
        ge=0,
        description="how long after its end a detection window waits for late events",
    )
    idle_after_s: float = Field(
        5.0,
        gt=0,
        description="a caught-up partition without events for this long stops holding the"
        " event-time watermark back",
    )
    max_payload_bytes: int = Field(64 * 1024, ge=1024)
    retry_initial_s: float = Field(0.2, gt=0)
    retry_max_s: float = Field(10.0, gt=0)

    # Operations
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    web_port: int = Field(
        6066, ge=0, le=65535, description="the worker's HTTP port (see ``web``); 0 turns it off"
    )
    web: WebSettings = Field(
        default_factory=WebSettings,
        description="the worker's HTTP server: bind address, ingest credentials and limits",
    )
    datadir: Path = Path(".cxstream")

    @field_validator("series")
    @classmethod
    def _series_unique(
        cls, value: tuple[tuple[Dimension, ...], ...]
    ) -> tuple[tuple[Dimension, ...], ...]:
        normalised: list[tuple[Dimension, ...]] = []
        for combo in value:
            if len(set(combo)) != len(combo):
                raise ValueError(f"series {combo!r} repeats a dimension")
            ordered = tuple(d for d in DIMENSIONS if d in combo)
            if ordered not in normalised:
                normalised.append(ordered)
        return tuple(normalised)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, for logs and ``cxstream config``."""
        return self.model_dump(mode="json")


_KIND_OF_VALUE = {
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _settings_mapping(data: object, path: Path | Traversable, kind: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        found = _KIND_OF_VALUE.get(type(data), f"a value of type {type(data).__name__}")
        raise ValueError(
            f"config file {path} must hold a {kind} mapping of setting names to values at the"
            f" top level, not {found}"
        )
    return data


class _CheckedFileSource:
    """Reads a settings file and turns parse errors and non-mapping contents into a
    ``ValueError`` that names the file."""

    file_format: str
    parse_errors: tuple[type[Exception], ...]

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            data: object = super()._read_file(file_path)  # type: ignore[misc]
        except self.parse_errors as exc:
            raise ValueError(
                f"config file {file_path} is not valid {self.file_format}: {exc}"
            ) from exc
        return _settings_mapping(data, file_path, self.file_format)


class _JsonFile(_CheckedFileSource, JsonConfigSettingsSource):
    file_format, parse_errors = "JSON", (json.JSONDecodeError,)


class _TomlFile(_CheckedFileSource, TomlConfigSettingsSource):
    file_format, parse_errors = "TOML", (tomllib.TOMLDecodeError,)


class _YamlFile(_CheckedFileSource, YamlConfigSettingsSource):
    file_format, parse_errors = "YAML", (yaml.YAMLError,)


def _file_source(path: Path) -> Callable[[type[BaseSettings]], PydanticBaseSettingsSource]:
    """How to read ``path``, chosen by its suffix (in any case)."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return lambda settings_cls: _JsonFile(settings_cls, json_file=path)
    if suffix == ".toml":
        return lambda settings_cls: _TomlFile(settings_cls, toml_file=path)
    if suffix in (".yaml", ".yml"):
        return lambda settings_cls: _YamlFile(settings_cls, yaml_file=path)
    raise ValueError(
        f"config file {path} has an unsupported type ({suffix or 'no suffix'}):"
        " use .yaml, .yml, .json or .toml"
    )


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from (lowest to highest priority) defaults, a file, the environment
    and explicit overrides.

    The file's format follows its suffix (``.yaml``/``.yml``, ``.json``, ``.toml``, in any
    case); an unknown suffix, a file that does not parse or one whose top level is not a
    mapping raises :class:`ValueError` naming the file.
    """
    if config_file is None:
        return Settings(**overrides)
    path = Path(config_file)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    make_source = _file_source(path)

    class FileBackedSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            file_source = make_source(settings_cls)
            return (init_settings, env_settings, file_source, file_secret_settings)

    return FileBackedSettings(**overrides)
