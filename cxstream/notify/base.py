"""The notifier contract: what a notifier is given, what it returns, how it fails.

A :class:`Notifier` delivers one :class:`~cxstream.records.ActionRecord` and returns a
:class:`Delivery`: where the message went (a Slack channel and message ``ts``, an
SMTP ``Message-ID``, a file path, an HTTP status), or that it was deliberately not sent
(``status="skipped"``, e.g. the customer opted out after the decision).

Failures are exceptions of two kinds, so that the dispatcher knows what to do:

* :class:`RetryableError`: the same request may succeed later (connection refused,
  timeouts, HTTP 429 and 5xx, SMTP 4xx replies). ``retry_after`` carries a server's
  hint (Slack's ``Retry-After``) in seconds.
* :class:`PermanentError`: repeating the request cannot help (an unknown Slack
  channel, invalid credentials, other HTTP 4xx, an SMTP 5xx reply such as a refused
  recipient, an action whose ``detail`` does not fit its type).

>>> error = RetryableError("slack chat.postMessage: HTTP 429", retry_after=3.0)
>>> error.retryable, error.retry_after
(True, 3.0)
>>> PermanentError("slack chat.postMessage: channel_not_found").retryable
False
>>> d = Delivery(notifier="slack", channel="C1", ts="1700000000.000100")
>>> Delivery.model_validate_json(d.model_dump_json()) == d
True
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from cxstream.records import ActionRecord

__all__ = [
    "Delivery",
    "DeliveryStatus",
    "Notifier",
    "NotifyError",
    "PayloadError",
    "PermanentError",
    "RetryableError",
]

DeliveryStatus = Literal["sent", "skipped"]


class Delivery(BaseModel):
    """The result of one delivered (or deliberately skipped) action.

    Only the fields that apply to the notifier are set: ``channel`` and ``ts`` for a
    Slack message (the reference :meth:`SlackNotifier.send` needs to update it in
    place), ``message_id`` for an email, ``path`` for a file, ``http_status`` for a
    webhook. ``files`` lists uploaded attachments (Slack file ids); ``warnings`` what
    went wrong without failing the delivery (e.g. a chart that could not be uploaded
    after the message was posted).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    notifier: str
    status: DeliveryStatus = "sent"
    reason: str | None = None
    channel: str | None = None
    ts: str | None = None
    updated: bool = False
    message_id: str | None = None
    recipient_domain: str | None = None
    path: str | None = None
    http_status: int | None = None
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class NotifyError(Exception):
    """A delivery failed; ``retryable`` says whether trying again may help."""

    retryable: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryableError(NotifyError):
    """A transient failure: try again later (after ``retry_after`` seconds if given)."""

    retryable = True


class PermanentError(NotifyError):
    """A failure that repeating the same request cannot fix."""

    retryable = False


class PayloadError(PermanentError):
    """The action's ``detail`` does not have the shape its type requires."""


@runtime_checkable
class Notifier(Protocol):
    """Delivers actions of the types it supports.

    ``previous`` is the earlier delivery this one continues (the Slack message of the
    firing alert group that a ``resolved`` action updates in place); notifiers that
    cannot continue a message ignore it. ``send`` raises :class:`RetryableError` or
    :class:`PermanentError`; any other exception is a bug and treated as permanent.
    """

    name: str

    async def send(self, action: ActionRecord, *, previous: Delivery | None = None) -> Delivery:
        """Deliver ``action`` once (the caller handles idempotency and retries)."""
        ...

    async def aclose(self) -> None:
        """Release connections and sessions."""
        ...
