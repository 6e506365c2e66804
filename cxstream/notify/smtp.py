"""Email notifier: delay notices and apologies to customers over SMTP (aiosmtplib).

The recipient is looked up in a :class:`~cxstream.notify.contacts.ContactDirectory`
when the action is sent, not when it was decided: a customer who opted out (or whose
address was removed) in between gets nothing, and the delivery is reported as
``skipped`` with the reason (``opt_out``, ``no_email``), not as an error. A customer
without a stored profile yet (the action can be decided before the batch that carries
the profile is written) is a retryable failure.

The message (see :class:`~cxstream.notify.mail.EmailComposer`) carries a
``Message-ID`` derived from the action id, so if a crash makes the dispatcher send an
action a second time, mail systems that deduplicate by Message-ID show it once.

Connections are kept open and reused (:class:`SmtpConnectionPool`): up to
``max_connections`` at once, each closed after ``connection_idle_s`` without a message
or ``messages_per_connection`` messages, and after any failure. Opening a connection
(TCP, greeting, EHLO, STARTTLS, AUTH) costs more round trips than the message itself;
``max_connections=0`` opens and closes one per message.

Failures: connection refused or lost, timeouts and 4xx replies are retryable; 5xx
replies (a refused recipient, rejected data, failed authentication) and a server
without the required STARTTLS are permanent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from cxstream.clock import Clock
from cxstream.notify.base import (
    Delivery,
    NotifyError,
    PayloadError,
    PermanentError,
    RetryableError,
)
from cxstream.notify.contacts import ContactDirectory
from cxstream.notify.mail import EMAIL_ACTION_TYPES, EmailComposer
from cxstream.notify.payloads import parse_detail
from cxstream.notify.settings import SmtpSettings
from cxstream.records import ActionRecord

__all__ = ["EmailNotifier", "SmtpConnectionPool", "smtp_error"]

log = logging.getLogger("cxstream.notify.smtp")


def smtp_error(exc: Exception) -> NotifyError:
    """Classify an SMTP failure: 4xx and connection trouble retryable, 5xx permanent."""
    if isinstance(exc, NotifyError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if codes and all(400 <= code < 500 for code in codes):
            return RetryableError(f"smtp: recipient deferred: {text}")
        return PermanentError(f"smtp: recipient refused: {text}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = f"smtp: {type(exc).__name__}: {exc.code} {exc.message}"
        if 400 <= exc.code < 500:
            return RetryableError(reason)
        return PermanentError(reason)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentError(f"smtp: {exc}")
    if isinstance(exc, aiosmtplib.SMTPException | OSError | asyncio.TimeoutError):
        return RetryableError(f"smtp: {type(exc).__name__}: {exc}")
    return PermanentError(f"smtp: {type(exc).__name__}: {exc}")


def _connection_options(s: SmtpSettings) -> dict[str, Any]:
    """aiosmtplib's connection arguments for the configured server."""
    return {
        "hostname": s.host,
        "port": s.port,
        "username": s.username,
        "password": s.password.get_secret_value() if s.password is not None else None,
        "use_tls": s.security == "tls",
        "start_tls": {"starttls": True, "opportunistic": None}.get(s.security, False),
        "validate_certs": s.validate_certs,
        "timeout": s.timeout_s,
    }


class SmtpConnectionPool:
    """Open SMTP connections to one server, reused for message after message.

    At most ``settings.max_connections`` messages are sent at once (each on its own
    connection); a connection that failed in any way is closed, not reused.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._idle: list[tuple[aiosmtplib.SMTP, float, int]] = []
        self._slots = asyncio.Semaphore(max(1, settings.max_connections))
        self._local_hostname: str | None = None
        self.opened = 0

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            **_connection_options(self.settings), local_hostname=self._local_hostname
        )

    def _take(self) -> tuple[aiosmtplib.SMTP, int] | None:
        """An idle connection that is still open and fresh enough, if there is one."""
        now = time.monotonic()
        while self._idle:
            client, since, sent = self._idle.pop()
            if client.is_connected and now - since < self.settings.connection_idle_s:
                return client, sent
            client.close()
        return None

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Send ``message`` on an open connection (opening one if none is idle); raises
        what aiosmtplib raises."""
        async with self._slots:
            if self._local_hostname is None:
                # Resolved once, not in a thread for every connection.
                self._local_hostname = await asyncio.to_thread(socket.getfqdn)
            taken = self._take()
            if taken is None:
                client, sent = self._client(), 0
            else:
                client, sent = taken
            try:
                if not client.is_connected:
                    await client.connect()
                    self.opened += 1
                await client.send_message(message, sender=sender, recipients=[recipient])
            except BaseException:
                client.close()
                raise
            sent += 1
            if sent < self.settings.messages_per_connection:
                self._idle.append((client, time.monotonic(), sent))
            else:
                await _quit(client)

    async def aclose(self) -> None:
        """Say goodbye on every idle connection."""
        idle, self._idle = self._idle, []
        for client, _, _ in idle:
            await _quit(client)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (TimeoutError, aiosmtplib.SMTPException, OSError):
        client.close()


class EmailNotifier:
    """Sends ``delay_notice`` and ``apology_email`` actions by SMTP."""

    name = "email"
    action_types = EMAIL_ACTION_TYPES

    def __init__(
        self,
        settings: SmtpSettings,
        contacts: ContactDirectory,
        *,
        composer: EmailComposer | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.contacts = contacts
        self.composer = composer or EmailComposer(settings, clock=clock)
        self.pool = SmtpConnectionPool(settings) if settings.max_connections > 0 else None

    async def aclose(self) -> None:
        """Close the open connections."""
        if self.pool is not None:
            await self.pool.aclose()

    async def send(self, action: ActionRecord, *, previous: Delivery | None = None) -> Delivery:
        if action.type not in EMAIL_ACTION_TYPES:
            raise PermanentError(f"the email notifier does not send {action.type} actions")
        if not action.customer_id:
            raise PayloadError(f"action {action.action_id}: an email needs a customer_id")
        parse_detail(action)
        contact = await self.contacts.lookup(action.customer_id)
        if contact is None:
            # Decided from a profile the engine is about to store: try again shortly (the
            # dispatcher dead-letters it if the profile never appears).
            raise RetryableError(f"customer {action.customer_id}: no profile stored yet")
        if contact.opt_out:
            return Delivery(notifier=self.name, status="skipped", reason="opt_out")
        if not contact.email:
            return Delivery(notifier=self.name, status="skipped", reason="no_email")
        message = self.composer.compose(action, contact)
        s = self.settings
        try:
            if self.pool is not None:
                await self.pool.send(message, s.from_address, contact.email)
            else:
                await aiosmtplib.send(
                    message,
                    sender=s.from_address,
                    recipients=[contact.email],
                    **_connection_options(s),
                )
        except Exception as exc:
            raise smtp_error(exc) from exc
        return Delivery(
            notifier=self.name,
            message_id=str(message["Message-ID"]),
            recipient_domain=contact.email.rpartition("@")[2].lower(),
        )
