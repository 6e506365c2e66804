"""Slack notifier: alert groups, report digests and VIP apology tasks, via the Web API.

Uses slack-sdk's :class:`~slack_sdk.web.async_client.AsyncWebClient` on one aiohttp
session per notifier (closed by :meth:`SlackNotifier.aclose`). ``base_url`` comes from
:class:`~cxstream.notify.settings.SlackSettings`, so tests point it at a local server.

* ``slack_alert``, firing: ``chat.postMessage`` with the Block Kit message of
  :func:`~cxstream.notify.slack_blocks.alert_message`, then a PNG chart of each alert's
  KPI history (at most ``max_charts``) uploaded into the message's thread with
  ``files_upload_v2`` (``files.getUploadURLExternal``, a POST of the bytes to the
  returned URL, ``files.completeUploadExternal``). A chart that fails to upload does
  not fail the delivery (the message is already posted; retrying would post it
  twice): it is logged and listed in :attr:`Delivery.warnings`.
* ``slack_alert``, resolved: when the caller passes the firing message's
  :class:`Delivery` as ``previous``, ``chat.update`` replaces that message in place;
  without one (or if Slack no longer has it) the resolved message is posted anew.
* ``digest``: ``chat.postMessage`` of the traffic-light digest
  (:func:`~cxstream.notify.slack_digest.digest_message`, red and yellow cells first),
  then a PNG of the whole grid in its thread (like an alert's chart).
* ``vip_apology_task``: ``chat.postMessage`` of
  :func:`~cxstream.notify.slack_blocks.vip_task_message` (customer id, never an
  address).

Inside the client, HTTP 429 is retried after ``Retry-After`` (up to
``max_retry_after_s``), 5xx after a capped exponential backoff, and a refused
connection at once, ``max_retries`` times per request in all. What is still failing
then is raised as :class:`RetryableError` (with ``retry_after``) or
:class:`PermanentError` (``channel_not_found``, ``invalid_auth``, other 4xx), for the
dispatcher to handle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from cxstream.notify.base import Delivery, NotifyError, PermanentError, RetryableError
from cxstream.notify.payloads import DigestDetail, SlackAlertDetail, VipTaskDetail, parse_as
from cxstream.notify.settings import SlackSettings
from cxstream.notify.slack_blocks import (
    SlackMessage,
    alert_message,
    format_kpi_value,
    kpi_in_percent,
    kpi_label,
    segment_label,
    vip_task_message,
)
from cxstream.notify.slack_digest import digest_message
from cxstream.records import ActionRecord
from cxstream.retry import Backoff

__all__ = ["SlackNotifier", "slack_error"]

log = logging.getLogger("cxstream.notify.slack")

Sleep = Callable[[float], Awaitable[None]]

#: Slack ``error`` codes (with HTTP 200) that a later attempt may not see again.
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
#: ``chat.update`` errors after which the resolved message is posted anew.
_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


def _retry_after(headers: Any) -> float | None:
    value: Any = None
    if headers is not None:
        for key in headers:
            if str(key).lower() == "retry-after":
                value = headers[key]
                break
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


class _Attempts(AsyncRetryHandler):
    """Shared budget of in-client retries (per request) for the handlers below."""

    def __init__(self, max_retries: int, sleep: Sleep) -> None:
        super().__init__(max_retry_count=max_retries)
        self._sleep = sleep

    def _used(self, state: RetryState) -> int:
        if state.custom_values is None:
            state.custom_values = {}
        return int(state.custom_values.get("cxstream_retries", 0))

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if self._used(state) >= self.max_retry_count:
            return False
        return await self._can_retry_async(
            state=state, request=request, response=response, error=error
        )

    def _wait(self, state: RetryState, response: HttpResponse | None) -> float:
        raise NotImplementedError

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = self._wait(state, response)
        assert state.custom_values is not None
        state.custom_values["cxstream_retries"] = self._used(state) + 1
        state.next_attempt_requested = True
        state.increment_current_attempt()
        await self._sleep(wait)


class _RateLimited(_Attempts):
    """HTTP 429: wait as long as ``Retry-After`` says, if that is not too long."""

    def __init__(self, max_retries: int, max_wait: float, sleep: Sleep) -> None:
        super().__init__(max_retries, sleep)
        self._max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response.headers)
        return wait is None or wait <= self._max_wait

    def _wait(self, state: RetryState, response: HttpResponse | None) -> float:
        wait = _retry_after(response.headers) if response is not None else None
        return 1.0 if wait is None else wait


class _ServerError(_Attempts):
    """HTTP 5xx: wait with capped exponential backoff."""

    def __init__(self, max_retries: int, backoff: Backoff, sleep: Sleep) -> None:
        super().__init__(max_retries, sleep)
        self._backoff = backoff

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code >= 500

    def _wait(self, state: RetryState, response: HttpResponse | None) -> float:
        return self._backoff.delay(self._used(state))


class _Unreachable(_ServerError):
    """A connection that could not be made (the request never reached Slack)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return isinstance(error, aiohttp.ClientConnectorError)


def slack_error(exc: Exception, what: str) -> NotifyError:
    """Classify a failed Web API call as retryable or permanent."""
    if isinstance(exc, NotifyError):
        return exc
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        data = getattr(response, "data", None)
        code = data.get("error") if isinstance(data, dict) else None
        reason = f"slack {what}: {code or f'HTTP {status}'}"
        if status == 429 or code == "ratelimited":
            return RetryableError(reason, retry_after=_retry_after(response.headers))
        if status >= 500 or code in _TRANSIENT_ERRORS:
            return RetryableError(reason)
        return PermanentError(reason)
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return RetryableError(f"slack {what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, SlackRequestError):
        return RetryableError(f"slack {what}: {exc}")
    return PermanentError(f"slack {what}: {type(exc).__name__}: {exc}")


class SlackNotifier:
    """Delivers ``slack_alert`` and ``vip_apology_task`` actions to Slack.

    ``sleep`` is what the in-client retries wait with (tests pass a fast one);
    ``backoff`` the delays between 5xx retries.
    """

    name = "slack"
    action_types = frozenset({"slack_alert", "vip_apology_task", "digest"})

    def __init__(
        self,
        settings: SlackSettings,
        *,
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings
        backoff = backoff or Backoff(initial=1.0, maximum=10.0)
        retries = settings.max_retries
        self._client = AsyncWebClient(
            token=settings.token.get_secret_value(),
            base_url=settings.base_url,
            timeout=max(1, round(settings.timeout_s)),
            retry_handlers=[
                _RateLimited(retries, settings.max_retry_after_s, sleep),
                _ServerError(retries, backoff, sleep),
                _Unreachable(retries, backoff, sleep),
            ],
        )
        self._session: aiohttp.ClientSession | None = None

    def _ensure_session(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s)
            )
            self._client.session = self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _call(
        self, what: str, call: Callable[[], Awaitable[AsyncSlackResponse]]
    ) -> AsyncSlackResponse:
        self._ensure_session()
        try:
            return await call()
        except Exception as exc:
            raise slack_error(exc, what) from exc

    async def auth_test(self) -> dict[str, Any]:
        """Check the token (``auth.test``); the response's fields (team, bot user)."""
        response = await self._call("auth.test", self._client.auth_test)
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def send(self, action: ActionRecord, *, previous: Delivery | None = None) -> Delivery:
        if action.type == "slack_alert":
            return await self._send_alert(action, parse_as(action, SlackAlertDetail), previous)
        if action.type == "vip_apology_task":
            if not action.customer_id:
                raise PermanentError(f"action {action.action_id}: a VIP task needs a customer_id")
            message = vip_task_message(action, parse_as(action, VipTaskDetail))
            channel, ts = await self._post(message)
            return Delivery(notifier=self.name, channel=channel, ts=ts)
        if action.type == "digest":
            return await self._send_digest(action, parse_as(action, DigestDetail))
        raise PermanentError(f"the slack notifier does not send {action.type} actions")

    async def _send_digest(self, action: ActionRecord, detail: DigestDetail) -> Delivery:
        if not detail.channel:
            raise PermanentError(
                f"action {action.action_id}: receiver {detail.receiver!r} has no Slack channel"
            )
        message = digest_message(
            detail.report, channel=detail.channel, report_url=detail.report_url
        )
        channel, ts = await self._post(message)
        files: tuple[str, ...] = ()
        warnings: tuple[str, ...] = ()
        if self.settings.charts and detail.report.rows:
            try:
                files = await self._upload_grid(detail, channel, ts)
            except NotifyError as exc:
                log.warning("%s: report grid not attached: %s", action.action_id, exc)
                warnings = (f"report grid not attached: {exc}",)
        return Delivery(notifier=self.name, channel=channel, ts=ts, files=files, warnings=warnings)

    async def _upload_grid(self, detail: DigestDetail, channel: str, ts: str) -> tuple[str, ...]:
        from cxstream.report.png import render_png  # matplotlib: load on first use

        png = await asyncio.to_thread(render_png, detail.report)
        day = detail.scheduled_for.strftime("%Y-%m-%d")
        upload = {
            "content": png,
            "filename": f"cx-report-{day}.png",
            "title": f"CX traffic light {day}",
            "alt_txt": "KPI per segment coloured green, yellow or red against the local"
            " expectation",
        }
        response = await self._call(
            "files_upload_v2",
            lambda: self._client.files_upload_v2(
                file_uploads=[upload], channel=channel, thread_ts=ts
            ),
        )
        files = response.get("files") or []
        return tuple(str(f["id"]) for f in files if isinstance(f, dict) and "id" in f)

    async def _post(self, message: SlackMessage) -> tuple[str, str]:
        payload = message.payload()
        response = await self._call(
            "chat.postMessage", lambda: self._client.chat_postMessage(**payload)
        )
        return str(response["channel"]), str(response["ts"])

    async def _send_alert(
        self, action: ActionRecord, detail: SlackAlertDetail, previous: Delivery | None
    ) -> Delivery:
        message = alert_message(detail, action_id=action.action_id)
        updated = False
        channel = ts = None
        if detail.status == "resolved" and previous is not None and previous.ts:
            target_channel, target_ts = previous.channel or message.channel, previous.ts
            try:
                response = await self._call(
                    "chat.update",
                    lambda: self._client.chat_update(
                        channel=target_channel,
                        ts=target_ts,
                        text=message.text,
                        blocks=message.blocks,
                    ),
                )
                channel, ts, updated = str(response["channel"]), str(response["ts"]), True
            except PermanentError as exc:
                if not any(code in str(exc) for code in _GONE_ERRORS):
                    raise
                log.info("%s: original message gone (%s), posting anew", action.action_id, exc)
        if channel is None or ts is None:
            channel, ts = await self._post(message)
        files: tuple[str, ...] = ()
        warnings: tuple[str, ...] = ()
        if self.settings.charts and self.settings.max_charts and detail.history:
            try:
                files = await self._upload_charts(detail, channel, ts)
            except NotifyError as exc:
                log.warning("%s: chart not attached: %s", action.action_id, exc)
                warnings = (f"chart not attached: {exc}",)
        return Delivery(
            notifier=self.name,
            channel=channel,
            ts=ts,
            updated=updated,
            files=files,
            warnings=warnings,
        )

    async def _upload_charts(
        self, detail: SlackAlertDetail, channel: str, ts: str
    ) -> tuple[str, ...]:
        from cxstream.notify.chart import render_kpi_chart  # matplotlib: load on first use

        uploads: list[dict[str, Any]] = []
        for alert in detail.alerts:
            if len(uploads) >= self.settings.max_charts:
                break
            points = detail.points(alert.alert_id)
            if not points:
                continue
            title = f"{kpi_label(alert.kpi)} · {segment_label(alert.segment)}"
            percent = kpi_in_percent(alert.kpi)
            png = await asyncio.to_thread(render_kpi_chart, points, title=title, percent=percent)
            latest = format_kpi_value(alert.kpi, points[-1].value)
            uploads.append(
                {
                    "content": png,
                    "filename": f"{alert.kpi}-{alert.alert_id}.png".replace(":", "_"),
                    "title": title,
                    "alt_txt": f"{title}: recent history, latest {latest}, expected band shaded,"
                    " anomalous windows in red",
                }
            )
        if not uploads:
            return ()
        response = await self._call(
            "files_upload_v2",
            lambda: self._client.files_upload_v2(
                file_uploads=uploads, channel=channel, thread_ts=ts
            ),
        )
        files = response.get("files") or []
        return tuple(str(f["id"]) for f in files if isinstance(f, dict) and "id" in f)
