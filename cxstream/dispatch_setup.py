"""Build the action dispatcher that fits the settings and the rules.

Notifiers are configured by settings sections: ``slack`` (Slack Web API), ``smtp``
(customer email), ``webhooks`` (signed JSON POSTs by name) and ``outbox_dir`` (files a
person can open: ``.eml`` and Block Kit JSON). A receiver of the rules is delivered by
the first configured notifier among its own configs (Slack, then webhook, then
email); actions no configured notifier takes go to the outbox folder when there is
one, else they are reported ``unrouted``.
"""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from cxstream.config import Settings
from cxstream.delivery_settings import SmtpSettings
from cxstream.memory_store import MemoryStateStore
from cxstream.notify.base import Notifier
from cxstream.notify.contacts import Contact, ContactDirectory, RedisContactDirectory
from cxstream.notify.dispatch import ActionDispatcher
from cxstream.notify.folder import FolderNotifier
from cxstream.notify.idempotency import (
    IdempotencyStore,
    MemoryIdempotencyStore,
    RedisIdempotencyStore,
)
from cxstream.notify.mail import EmailComposer
from cxstream.notify.slack import SlackNotifier
from cxstream.notify.smtp import EmailNotifier
from cxstream.notify.webhook import WebhookNotifier
from cxstream.profiles import CustomerProfile
from cxstream.rules import RuleSet
from cxstream.rules.receivers import WebhookConfig

__all__ = ["MemoryStoreContacts", "build_dispatcher", "receiver_notifiers"]

_FOLDER_IDENTITY = SmtpSettings(from_address="service@shop.invalid")


class MemoryStoreContacts:
    """Contacts read from the profiles of an in-process state store (replay)."""

    def __init__(self, store: MemoryStateStore) -> None:
        self.store = store

    async def lookup(self, customer_id: str) -> Contact | None:
        raw = self.store.customers.get(customer_id)
        if raw is None:
            return None
        return Contact.from_profile(CustomerProfile.from_json(customer_id, raw))


def receiver_notifiers(
    rule_set: RuleSet | None, notifiers: set[str], webhook_urls: dict[str, str] | None = None
) -> dict[str, str]:
    """Which configured notifier delivers each receiver of the rules (a webhook config
    is delivered by the settings' webhook with the same URL)."""
    by_url = {url.rstrip("/"): name for name, url in (webhook_urls or {}).items()}
    out: dict[str, str] = {}
    for receiver in rule_set.receivers if rule_set is not None else ():
        for config in receiver.configs:
            name = {"slack": "slack", "email": "email"}.get(config.type)
            if isinstance(config, WebhookConfig):
                name = by_url.get(str(config.url).rstrip("/"))
            if name is not None and name in notifiers:
                out[receiver.name] = name
                break
    return out


def build_dispatcher(
    settings: Settings,
    *,
    client: aioredis.Redis | RedisCluster | None = None,
    memory_store: MemoryStateStore | None = None,
    rule_set: RuleSet | None = None,
    outbox_dir: Path | None = None,
) -> ActionDispatcher:
    """A dispatcher with the notifiers the settings configure; idempotency records and
    contacts in ``client``'s Redis (else in memory and from ``memory_store``)."""
    contacts: ContactDirectory
    store: IdempotencyStore
    if client is not None:
        contacts = RedisContactDirectory.from_settings(client, settings)
        store = RedisIdempotencyStore.from_settings(client, settings)
    else:
        contacts = MemoryStoreContacts(memory_store or MemoryStateStore())
        store = MemoryIdempotencyStore()
    notifiers: dict[str, Notifier] = {}
    if settings.slack is not None:
        notifiers["slack"] = SlackNotifier(settings.slack)
    if settings.smtp is not None:
        notifiers["email"] = EmailNotifier(settings.smtp, contacts)
    for name, webhook in settings.webhooks.items():
        notifiers[name] = WebhookNotifier(webhook, name=name)
    folder = outbox_dir or settings.outbox_dir
    if folder is not None:
        composer = EmailComposer(settings.smtp or _FOLDER_IDENTITY)
        notifiers["folder"] = FolderNotifier(Path(folder), composer, contacts=contacts)
    return ActionDispatcher(
        notifiers,
        store,
        settings=settings.dispatch,
        receivers=receiver_notifiers(
            rule_set, set(notifiers), {n: str(w.url) for n, w in settings.webhooks.items()}
        ),
        fallback="folder" if folder is not None else None,
    )
