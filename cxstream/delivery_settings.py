"""Settings of the notifiers and the dispatcher (frozen, secrets as ``SecretStr``).

They are sections of :class:`cxstream.config.Settings` (``slack``, ``smtp``,
``webhooks``, ``dispatch``): a notifier whose section is missing is not configured.
:mod:`cxstream.notify` re-exports them. Each model also works on its own, e.g. in
tests or for the folder notifier of the demo.

>>> s = SmtpSettings(from_address="service@shop.example", password="hunter2")
>>> s.message_id_domain_or_default, s.password
('shop.example', SecretStr('**********'))
>>> SlackSettings(token="xoxb-1").base_url
'https://slack.com/api/'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = [
    "DispatchSettings",
    "SlackSettings",
    "SmtpSecurity",
    "SmtpSettings",
    "WebhookSettings",
]

SmtpSecurity = Literal["starttls", "tls", "opportunistic", "none"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlackSettings(_Section):
    """Slack Web API access for ops alerts and VIP apology tasks."""

    token: SecretStr = Field(description="bot token (xoxb-...)")
    base_url: str = Field("https://slack.com/api/", description="Web API base URL")
    timeout_s: float = Field(10.0, gt=0, description="per HTTP request")
    max_retries: int = Field(
        3,
        ge=0,
        description="in-client retries of 429 (after Retry-After), 5xx and lost connections",
    )
    max_retry_after_s: float = Field(
        30.0,
        ge=0,
        description="longest Retry-After waited for in the client; a longer one is handed "
        "to the dispatcher as a retryable failure",
    )
    charts: bool = Field(True, description="attach a PNG chart of each alert's KPI history")
    max_charts: int = Field(3, ge=0, description="charts per alert group message at most")

    @field_validator("base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


class SmtpSettings(_Section):
    """An SMTP submission server and the identity customer emails are sent with."""

    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    security: SmtpSecurity = Field(
        "starttls",
        description="starttls: require STARTTLS; tls: implicit TLS (port 465); "
        "opportunistic: STARTTLS if offered; none: plain (local relays, tests)",
    )
    validate_certs: bool = True
    timeout_s: float = Field(15.0, gt=0)
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    from_name: str | None = None
    reply_to: str | None = None
    message_id_domain: str | None = Field(
        None, description="domain of the Message-IDs (default: the from address's domain)"
    )
    brand: str = Field("", description="shop name used in greetings and sign-offs")
    support_url: str | None = None
    max_connections: int = Field(
        8,
        ge=0,
        description="connections kept open and reused, and messages sent at once at most; "
        "0: one connection per message",
    )
    connection_idle_s: float = Field(
        30.0, gt=0, description="an open connection unused for this long is not reused"
    )
    messages_per_connection: int = Field(
        100, ge=1, description="messages sent on one connection before it is closed"
    )

    @property
    def message_id_domain_or_default(self) -> str:
        return self.message_id_domain or self.from_address.rpartition("@")[2]


class WebhookSettings(_Section):
    """A JSON webhook receiving actions, signed with HMAC-SHA256."""

    url: str = Field(pattern=r"^https?://")
    secret: SecretStr
    timeout_s: float = Field(10.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")


class DispatchSettings(_Section):
    """How hard the dispatcher tries, and how long it remembers what it sent."""

    max_attempts: int = Field(8, ge=1, description="tries per action before it is dead-lettered")
    max_elapsed_s: float = Field(900.0, gt=0, description="longest time spent retrying one action")
    retry_initial_s: float = Field(1.0, gt=0)
    retry_max_s: float = Field(60.0, gt=0)
    idempotency_ttl_hours: float = Field(
        24.0 * 30,
        gt=0,
        description="how long a sent action (and the Slack message of an alert group) "
        "is remembered; longer than any alert lasts and than the outbox topic's retention",
    )
    lease_s: float = Field(
        120.0, gt=0, description="how long a dispatcher may hold an action it is sending"
    )
    concurrency: int = Field(
        16,
        ge=1,
        description="actions the delivery agent delivers at once (the actions of one "
        "customer, and those concerning no customer, still one after the other)",
    )
