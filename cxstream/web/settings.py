"""Settings of the worker's HTTP surface: the ``web`` section of the settings.

Environment variables use the nested delimiter, e.g. ``CXSTREAM_WEB__MAX_BODY_BYTES``;
lists and objects are JSON::

    CXSTREAM_WEB__TOKENS='[{"name": "survey-tool", "token": "..."}]'
    CXSTREAM_WEB__HMAC__SECRET=...          # with CXSTREAM_WEB__HMAC__NAME=shop (default "hmac")

The port stays the top-level ``web_port`` setting (``CXSTREAM_WEB_PORT``, 0 turns the
server off), as before. Without a token and without an HMAC secret, HTTP ingestion is
disabled: the ingest endpoints answer 404 and say why, they are never open by default.

>>> s = WebSettings(tokens=[{"name": "survey", "token": "s3cret-token-1234"}])
>>> s.ingest_enabled, s.tokens[0].token
(True, SecretStr('**********'))
>>> WebSettings().ingest_enabled
False
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["HmacKey", "IngestToken", "WebSettings"]

_NAME = r"^[A-Za-z0-9_.:-]{1,64}$"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestToken(_Section):
    """A bearer token allowed to ingest; its ``name`` is the client's identity in logs,
    metrics and dead letters, and the key of its rate limit (the token is never shown)."""

    name: str = Field(pattern=_NAME, description="who uses the token, e.g. 'survey-tool'")
    token: SecretStr = Field(description="the bearer token (at least 16 characters)")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("a bearer token must have at least 16 characters")
        return value


class HmacKey(_Section):
    """A shared secret for ``X-Cxstream-Signature: sha256=<hex HMAC-SHA256 of the body>``."""

    name: str = Field("hmac", pattern=_NAME, description="identity of signed requests")
    secret: SecretStr = Field(description="the shared secret (at least 16 characters)")

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("an HMAC secret must have at least 16 characters")
        return value


class WebSettings(_Section):
    """The HTTP server beside the worker: bind address, ingest credentials and limits."""

    host: str = Field("0.0.0.0", description="address the HTTP server binds to")
    public_url: str | None = Field(
        None,
        description="where people reach this server (e.g. https://cx.example.com), for links"
        " to the report in Slack messages",
    )
    tokens: list[IngestToken] = Field(
        default_factory=list, description="bearer tokens allowed to POST /ingest/*"
    )
    hmac: HmacKey | None = Field(
        None, description="shared secret for signed ingest requests (X-Cxstream-Signature)"
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="largest ingest request body; larger ones get 413"
    )
    rate_per_s: float = Field(
        500.0, gt=0, description="events per second each token (or HMAC key) may ingest"
    )
    burst: int = Field(
        5000, ge=1, description="events a client may send at once (the token bucket's size)"
    )
    send_timeout_s: float = Field(
        10.0, gt=0, description="longest wait for the broker to acknowledge a request's events"
    )
    idempotence: Literal["auto", "on", "off"] = Field(
        "auto",
        description="idempotent producer for ingested events: auto uses it when the broker"
        " supports it",
    )
    readiness_timeout_s: float = Field(2.0, gt=0, description="per readiness check")
    shutdown_timeout_s: float = Field(
        5.0, gt=0, description="longest wait for open requests when the server stops"
    )

    @field_validator("tokens")
    @classmethod
    def _unique_names(cls, value: list[IngestToken]) -> list[IngestToken]:
        names = [t.name for t in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"token names must be unique; repeated: {', '.join(repeated)}")
        return value

    @model_validator(mode="after")
    def _hmac_name_is_not_a_token_name(self) -> Self:
        if self.hmac is not None and self.hmac.name in {t.name for t in self.tokens}:
            raise ValueError(f"the HMAC key's name {self.hmac.name!r} is also a token's name")
        return self

    @property
    def ingest_enabled(self) -> bool:
        """Whether any credential is configured (without one, ingestion is off)."""
        return bool(self.tokens) or self.hmac is not None
