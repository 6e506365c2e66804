"""Receivers: named destinations of alert notifications and tasks.

A receiver has a name and a list of typed configurations, each chosen by ``type``:

* ``slack``: a channel (``#cx-alerts``), who to mention, whether to post resolutions;
* ``email``: operator addresses;
* ``webhook``: an HTTPS endpoint (e.g. a ticket system), optionally signed with a secret.

Secrets never appear in rule files. A webhook's ``secret`` is the *name* of a secret
held in the settings (the environment or the settings file), looked up with
:meth:`WebhookConfig.secret_value` when a request is signed.

>>> r = Receiver.model_validate(
...     {"name": "cx-ops", "configs": [{"type": "slack", "channel": "#cx-alerts"}]}
... )
>>> r.send_resolved, r.slack_channels
(True, ('#cx-alerts',))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import AnyHttpUrl, Field, SecretStr, StringConstraints, model_validator

from cxstream.rules.base import Name, RulesModel

__all__ = [
    "EmailConfig",
    "Receiver",
    "ReceiverConfig",
    "SecretName",
    "SlackConfig",
    "WebhookConfig",
]

EmailAddress = Annotated[
    str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
]
SecretName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""The name of a secret held in the settings, never the secret itself."""


class SlackConfig(RulesModel):
    """Post to a Slack channel (the bot token is a setting, not part of the rules)."""

    type: Literal["slack"]
    channel: Annotated[str, StringConstraints(pattern=r"^#[a-z0-9][a-z0-9._-]{0,79}$")] = Field(
        description="channel to post to, with its '#', e.g. #cx-alerts"
    )
    mention: tuple[str, ...] = Field(
        (), description="who to mention in firing notifications, e.g. '@cx-oncall' or '@here'"
    )
    send_resolved: bool = Field(True, description="also post when an alert resolves")


class EmailConfig(RulesModel):
    """Mail operators (SMTP server and sender are settings)."""

    type: Literal["email"]
    to: tuple[EmailAddress, ...] = Field(min_length=1, description="recipient addresses")
    send_resolved: bool = Field(False, description="also mail when an alert resolves")


class WebhookConfig(RulesModel):
    """POST a JSON payload to a URL, signed with a named secret from the settings."""

    type: Literal["webhook"]
    url: AnyHttpUrl = Field(description="endpoint (https recommended); no credentials in it")
    secret: SecretName | None = Field(
        None, description="name of the signing secret in the settings (not the secret itself)"
    )
    send_resolved: bool = Field(True, description="also call when an alert resolves")

    @model_validator(mode="after")
    def _no_credentials(self) -> Self:
        if self.url.username or self.url.password:
            raise ValueError(
                "the webhook url holds credentials: remove them from the url and put the"
                " secret in the settings, naming it in 'secret'"
            )
        return self

    def secret_value(self, secrets: Mapping[str, SecretStr]) -> str | None:
        """The signing secret from the settings' ``secrets`` (``None`` if none is named);
        ``KeyError`` naming the missing setting if it is not configured."""
        if self.secret is None:
            return None
        try:
            return secrets[self.secret].get_secret_value()
        except KeyError:
            raise KeyError(
                f"webhook secret {self.secret!r} is not configured in the settings"
            ) from None


ReceiverConfig = Annotated[SlackConfig | EmailConfig | WebhookConfig, Field(discriminator="type")]
"""One configuration of a receiver, chosen by its ``type``."""


class Receiver(RulesModel):
    """A named destination with one or more configurations."""

    name: Name = Field(description="the name routes and rules refer to")
    configs: tuple[ReceiverConfig, ...] = Field(
        min_length=1, description="where notifications go: slack, email and webhook configs"
    )

    @property
    def send_resolved(self) -> bool:
        """Whether any configuration wants resolved notifications."""
        return any(c.send_resolved for c in self.configs)

    @property
    def slack_channels(self) -> tuple[str, ...]:
        return tuple(c.channel for c in self.configs if isinstance(c, SlackConfig))

    @property
    def webhooks(self) -> tuple[WebhookConfig, ...]:
        return tuple(c for c in self.configs if isinstance(c, WebhookConfig))
