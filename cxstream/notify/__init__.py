"""Notifiers: Slack, email, webhook and folder clients that deliver decided actions.

The dispatcher (:mod:`cxstream.notify.dispatch`) routes each
:class:`~cxstream.records.ActionRecord` to a notifier and delivers it effectively once
under an idempotency record (:mod:`cxstream.notify.idempotency`). Notifiers follow the
:class:`~cxstream.notify.base.Notifier` protocol:

- :class:`~cxstream.notify.slack.SlackNotifier`: alert groups (with KPI charts) and VIP
  apology tasks via Slack's Web API;
- :class:`~cxstream.notify.smtp.EmailNotifier`: delay notices and apologies to
  customers over SMTP, addresses looked up at send time
  (:mod:`cxstream.notify.contacts`);
- :class:`~cxstream.notify.webhook.WebhookNotifier`: any action as signed JSON;
- :class:`~cxstream.notify.folder.FolderNotifier`: the same messages as files.

Nothing here imports Faust; the worker and ``cxstream replay`` drive it.
"""

from cxstream.notify.base import (
    Delivery,
    Notifier,
    NotifyError,
    PayloadError,
    PermanentError,
    RetryableError,
)
from cxstream.notify.contacts import (
    Contact,
    ContactDirectory,
    DictContactDirectory,
    RedisContactDirectory,
)
from cxstream.notify.dispatch import DEFAULT_ROUTES, ActionDispatcher, DispatchResult
from cxstream.notify.folder import FolderNotifier
from cxstream.notify.idempotency import (
    IdempotencyStore,
    IdempotencyStoreError,
    MemoryIdempotencyStore,
    RedisIdempotencyStore,
    SentRecord,
)
from cxstream.notify.mail import EmailComposer
from cxstream.notify.settings import (
    DispatchSettings,
    SlackSettings,
    SmtpSettings,
    WebhookSettings,
)
from cxstream.notify.slack import SlackNotifier
from cxstream.notify.smtp import EmailNotifier
from cxstream.notify.webhook import WebhookNotifier

__all__ = [
    "DEFAULT_ROUTES",
    "ActionDispatcher",
    "Contact",
    "ContactDirectory",
    "Delivery",
    "DictContactDirectory",
    "DispatchResult",
    "DispatchSettings",
    "EmailComposer",
    "EmailNotifier",
    "FolderNotifier",
    "IdempotencyStore",
    "IdempotencyStoreError",
    "MemoryIdempotencyStore",
    "Notifier",
    "NotifyError",
    "PayloadError",
    "PermanentError",
    "RedisContactDirectory",
    "RedisIdempotencyStore",
    "RetryableError",
    "SentRecord",
    "SlackNotifier",
    "SlackSettings",
    "SmtpSettings",
    "WebhookNotifier",
    "WebhookSettings",
]
