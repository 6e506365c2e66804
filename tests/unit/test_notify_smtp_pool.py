"""The SMTP connection pool: connections reused, closed after failures, age and count."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from cxstream.notify.settings import SmtpSettings
from cxstream.notify.smtp import SmtpConnectionPool


class FakeSmtp:
    """Records what a pooled connection is asked to do."""

    instances: list[FakeSmtp] = []
    fail_next: Exception | None = None

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.connected = False
        self.sent: list[str] = []
        self.quit_called = False
        FakeSmtp.instances.append(self)

    @property
    def is_connected(self) -> bool:
        return self.connected

    async def connect(self) -> None:
        self.connected = True

    async def send_message(self, message: EmailMessage, **kwargs: Any) -> None:
        if FakeSmtp.fail_next is not None:
            error, FakeSmtp.fail_next = FakeSmtp.fail_next, None
            raise error
        self.sent.append(str(message["Subject"]))

    async def quit(self) -> None:
        self.quit_called = True
        self.connected = False

    def close(self) -> None:
        self.connected = False


@pytest.fixture(autouse=True)
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeSmtp.instances = []
    FakeSmtp.fail_next = None
    monkeypatch.setattr(aiosmtplib, "SMTP", FakeSmtp)


def settings(**overrides: Any) -> SmtpSettings:
    return SmtpSettings(host="mail.test", security="none", from_address="s@shop.test", **overrides)


def message(n: int) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"m{n}"
    return mail


async def test_messages_share_one_open_connection() -> None:
    pool = SmtpConnectionPool(settings())
    for n in range(3):
        await pool.send(message(n), "s@shop.test", "c@example.com")
    assert len(FakeSmtp.instances) == 1
    assert FakeSmtp.instances[0].sent == ["m0", "m1", "m2"]
    assert pool.opened == 1
    await pool.aclose()
    assert FakeSmtp.instances[0].quit_called


async def test_a_failed_connection_is_not_reused() -> None:
    pool = SmtpConnectionPool(settings())
    await pool.send(message(0), "s@shop.test", "c@example.com")
    FakeSmtp.fail_next = aiosmtplib.SMTPServerDisconnected("gone")
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await pool.send(message(1), "s@shop.test", "c@example.com")
    await pool.send(message(2), "s@shop.test", "c@example.com")
    first, second = FakeSmtp.instances
    assert not first.is_connected
    assert second.sent == ["m2"]


async def test_a_connection_is_closed_after_its_message_budget() -> None:
    pool = SmtpConnectionPool(settings(messages_per_connection=2))
    for n in range(3):
        await pool.send(message(n), "s@shop.test", "c@example.com")
    first, second = FakeSmtp.instances
    assert first.sent == ["m0", "m1"]
    assert first.quit_called
    assert second.sent == ["m2"]


async def test_a_connection_the_server_closed_is_replaced() -> None:
    pool = SmtpConnectionPool(settings())
    await pool.send(message(0), "s@shop.test", "c@example.com")
    FakeSmtp.instances[0].connected = False  # e.g. the server's idle timeout
    await pool.send(message(1), "s@shop.test", "c@example.com")
    assert [c.sent for c in FakeSmtp.instances] == [["m0"], ["m1"]]


def test_pool_settings_are_validated() -> None:
    assert settings().max_connections == 8
    with pytest.raises(ValueError, match="messages_per_connection"):
        settings(messages_per_connection=0)
