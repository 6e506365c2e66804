"""Where a customer's address comes from at send time: the :class:`ContactDirectory`.

The decision to write to a customer is made from events; the address, name, language
and opt-out are read again just before sending, so an opt-out or a new address that
arrived after the decision is respected. :class:`RedisContactDirectory` reads the
customer profiles the engine keeps in Redis; :class:`DictContactDirectory` holds them
in memory (tests, replay).

>>> import asyncio
>>> d = DictContactDirectory([Contact("c-1", email="a@shop.example", language="de")])
>>> asyncio.run(d.lookup("c-1")).language, asyncio.run(d.lookup("c-2"))
('de', None)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from cxstream.config import Settings
from cxstream.keys import KeyLayout
from cxstream.notify.base import RetryableError
from cxstream.partitioning import partition_for
from cxstream.profiles import CustomerProfile

__all__ = ["Contact", "ContactDirectory", "DictContactDirectory", "RedisContactDirectory"]


@dataclass(frozen=True, slots=True)
class Contact:
    """How to reach a customer, and whether we may."""

    customer_id: str
    email: str | None = None
    name: str | None = None
    language: str | None = None
    opt_out: bool = False

    @classmethod
    def from_profile(cls, profile: CustomerProfile) -> Contact:
        return cls(
            customer_id=profile.customer_id,
            email=profile.email,
            name=profile.name,
            language=profile.language,
            opt_out=profile.contact_opt_out,
        )


class ContactDirectory(Protocol):
    """Looks up a customer's current contact details (``None``: unknown customer).

    Raises :class:`~cxstream.notify.base.RetryableError` when the directory cannot be
    reached.
    """

    async def lookup(self, customer_id: str) -> Contact | None: ...


class DictContactDirectory:
    """Contacts held in memory; :meth:`put` replaces a customer's entry."""

    def __init__(self, contacts: Iterable[Contact] = ()) -> None:
        self._contacts = {c.customer_id: c for c in contacts}

    def put(self, contact: Contact) -> None:
        self._contacts[contact.customer_id] = contact

    async def lookup(self, customer_id: str) -> Contact | None:
        return self._contacts.get(customer_id)


class RedisContactDirectory:
    """Reads the profile JSON the engine stores at ``KeyLayout.customer(partition, id)``,
    with the partition computed like the engine does (``partition_for(id, partitions)``).
    """

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        *,
        key_prefix: str = "cx",
        partitions: int = 8,
    ) -> None:
        self._client = client
        self._keys = KeyLayout(key_prefix)
        self._partitions = partitions

    @classmethod
    def from_settings(
        cls, client: aioredis.Redis | RedisCluster, settings: Settings
    ) -> RedisContactDirectory:
        """A directory over the profiles of the deployment ``settings`` describe."""
        return cls(client, key_prefix=settings.key_prefix, partitions=settings.partitions)

    def key(self, customer_id: str) -> str:
        return self._keys.customer(partition_for(customer_id, self._partitions), customer_id)

    async def lookup(self, customer_id: str) -> Contact | None:
        try:
            raw = await self._client.get(self.key(customer_id))
        except (RedisError, OSError) as exc:
            raise RetryableError(f"contact lookup: {type(exc).__name__}: {exc}") from exc
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return Contact.from_profile(CustomerProfile.from_json(customer_id, text))
