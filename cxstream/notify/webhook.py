"""Webhook notifier: any action as a signed JSON POST (aiohttp).

The body is the action's JSON (:meth:`ActionRecord.to_json
<cxstream.records.ActionRecord.to_json>`). Two headers let the receiver check it came
from us and is fresh: ``X-Cxstream-Timestamp`` (Unix seconds) and
``X-Cxstream-Signature: sha256=<hex>``, the HMAC-SHA256 with the shared secret of
``<timestamp>.<body>``. ``Idempotency-Key`` is the action id, so a receiver can drop a
repeated delivery.

Answers: 2xx is delivered; 408, 425, 429 and 5xx, timeouts and connection errors are
retryable (``Retry-After`` is passed on); any other status is permanent.

>>> sig = sign(b'{"a":1}', "1700000000", "s3cret")
>>> sig.startswith("sha256="), verify_signature(b'{"a":1}', "1700000000", sig, "s3cret")
(True, True)
>>> verify_signature(b'{"a":2}', "1700000000", sig, "s3cret")
False
"""

from __future__ import annotations

import hashlib
import hmac

import aiohttp

from cxstream.clock import Clock, SystemClock
from cxstream.notify.base import Delivery, PermanentError, RetryableError
from cxstream.notify.settings import WebhookSettings
from cxstream.records import ActionRecord

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookNotifier",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Cxstream-Signature"
TIMESTAMP_HEADER = "X-Cxstream-Timestamp"
_RETRYABLE_STATUS = frozenset({408, 425, 429})


def sign(body: bytes, timestamp: str, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` with ``secret``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(body: bytes, timestamp: str, signature: str, secret: str) -> bool:
    """Whether ``signature`` is :func:`sign` of ``body`` and ``timestamp`` (constant time)."""
    return hmac.compare_digest(sign(body, timestamp, secret), signature)


class WebhookNotifier:
    """POSTs actions to one URL; ``name`` is how routes refer to it."""

    action_types = frozenset(
        {"slack_alert", "delay_notice", "apology_email", "vip_apology_task", "digest"}
    )

    def __init__(
        self, settings: WebhookSettings, *, name: str = "webhook", clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.name = name
        self._clock = clock or SystemClock()
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s)
            )
        return self._session

    def request_headers(self, action: ActionRecord, body: bytes) -> dict[str, str]:
        """The headers of the POST of ``body`` (signed now)."""
        timestamp = str(int(self._clock.now().timestamp()))
        secret = self.settings.secret.get_secret_value()
        return {
            **self.settings.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": action.action_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(body, timestamp, secret),
        }

    async def send(self, action: ActionRecord, *, previous: Delivery | None = None) -> Delivery:
        body = action.to_json().encode()
        headers = self.request_headers(action, body)
        try:
            async with self._client().post(self.settings.url, data=body, headers=headers) as resp:
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise RetryableError(f"webhook {self.name}: {type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return Delivery(notifier=self.name, http_status=status)
        reason = f"webhook {self.name}: HTTP {status}"
        if status >= 500 or status in _RETRYABLE_STATUS:
            wait: float | None = None
            if retry_after is not None and retry_after.strip().isdigit():
                wait = float(retry_after)
            raise RetryableError(reason, retry_after=wait)
        raise PermanentError(reason)
