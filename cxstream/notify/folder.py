"""Folder notifier: what would be sent, as files a person can open (demo, ``replay --send``).

* ``delay_notice`` / ``apology_email``: ``<action>.eml``, the same MIME message the
  email notifier sends (open it in any mail program). The address comes from the
  contact directory when one is given (opt-outs are skipped as by email), else it is
  the placeholder ``<customer_id>@customers.invalid``.
* ``slack_alert`` / ``vip_apology_task``: ``<action>.slack.json``, the exact
  ``chat.postMessage`` (or ``chat.update``) arguments, ready for Slack's Block Kit
  Builder, plus ``<action>.<n>.png`` charts for alerts with a history.
* ``digest``: ``<action>.slack.json`` (the digest message) and ``<action>.png`` (the
  traffic-light grid).
* anything else: ``<action>.json``, the action itself.

File names come from the action id, and files are replaced atomically, so sending an
action again overwrites its files instead of adding new ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from pathlib import Path

from cxstream.notify.base import Delivery, PermanentError, RetryableError
from cxstream.notify.contacts import Contact, ContactDirectory
from cxstream.notify.mail import EMAIL_ACTION_TYPES, EmailComposer
from cxstream.notify.payloads import (
    DigestDetail,
    SlackAlertDetail,
    VipTaskDetail,
    parse_as,
    parse_detail,
)
from cxstream.notify.slack_blocks import (
    alert_message,
    kpi_in_percent,
    kpi_label,
    segment_label,
    vip_task_message,
)
from cxstream.notify.slack_digest import digest_message
from cxstream.records import ActionRecord

__all__ = ["FolderNotifier", "file_stem"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(action_id: str) -> str:
    """A file name stem for an action id (``apology:ab12`` -> ``apology_ab12``).

    >>> file_stem("apology:a84c2d68b41f7f57cb9b")
    'apology_a84c2d68b41f7f57cb9b'
    """
    return _UNSAFE.sub("_", action_id)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FolderNotifier:
    """Writes every action it is given into ``folder`` (created if missing)."""

    name = "folder"
    action_types = frozenset(
        {"slack_alert", "delay_notice", "apology_email", "vip_apology_task", "digest"}
    )

    def __init__(
        self,
        folder: Path,
        composer: EmailComposer,
        *,
        contacts: ContactDirectory | None = None,
        charts: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.composer = composer
        self.contacts = contacts
        self.charts = charts

    async def aclose(self) -> None:
        """Nothing to release."""

    async def send(self, action: ActionRecord, *, previous: Delivery | None = None) -> Delivery:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = file_stem(action.action_id)
        if action.type in EMAIL_ACTION_TYPES:
            return await self._email(action, stem)
        if action.type == "slack_alert":
            return await self._alert(action, stem, previous)
        if action.type == "vip_apology_task":
            message = vip_task_message(action, parse_as(action, VipTaskDetail))
            path = self.folder / f"{stem}.slack.json"
            payload = {"method": "chat.postMessage", "arguments": message.payload()}
            _write_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False).encode())
            return Delivery(notifier=self.name, path=str(path), channel=message.channel)
        if action.type == "digest":
            return await self._digest(action, stem)
        path = self.folder / f"{stem}.json"
        _write_atomic(path, json.dumps(action.as_dict(), indent=2, ensure_ascii=False).encode())
        return Delivery(notifier=self.name, path=str(path))

    async def _digest(self, action: ActionRecord, stem: str) -> Delivery:
        detail = parse_as(action, DigestDetail)
        message = digest_message(
            detail.report, channel=detail.channel or detail.receiver, report_url=detail.report_url
        )
        path = self.folder / f"{stem}.slack.json"
        payload = {"method": "chat.postMessage", "arguments": message.payload()}
        _write_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False).encode())
        if self.charts and detail.report.rows:
            from cxstream.report.png import render_png  # matplotlib: load on first use

            png = await asyncio.to_thread(render_png, detail.report)
            _write_atomic(self.folder / f"{stem}.png", png)
        return Delivery(notifier=self.name, path=str(path), channel=message.channel)

    async def _email(self, action: ActionRecord, stem: str) -> Delivery:
        if not action.customer_id:
            raise PermanentError(f"action {action.action_id}: an email needs a customer_id")
        parse_detail(action)
        if self.contacts is None:
            contact: Contact | None = Contact(
                action.customer_id, email=f"{action.customer_id}@customers.invalid"
            )
        else:
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
        path = self.folder / f"{stem}.eml"
        _write_atomic(path, message.as_bytes())
        return Delivery(notifier=self.name, path=str(path), message_id=str(message["Message-ID"]))

    async def _alert(self, action: ActionRecord, stem: str, previous: Delivery | None) -> Delivery:
        detail = parse_as(action, SlackAlertDetail)
        message = alert_message(detail, action_id=action.action_id)
        arguments = message.payload()
        method = "chat.postMessage"
        if detail.status == "resolved" and previous is not None and previous.ts:
            method = "chat.update"
            arguments = {
                "channel": previous.channel or message.channel,
                "ts": previous.ts,
                "text": message.text,
                "blocks": message.blocks,
            }
        path = self.folder / f"{stem}.slack.json"
        payload = {"method": method, "arguments": arguments}
        _write_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False).encode())
        files: list[str] = []
        if self.charts:
            from cxstream.notify.chart import render_kpi_chart  # matplotlib: load on first use

            for n, alert in enumerate(detail.alerts[:3]):
                points = detail.points(alert.alert_id)
                if not points:
                    continue
                png = await asyncio.to_thread(
                    render_kpi_chart,
                    points,
                    title=f"{kpi_label(alert.kpi)} · {segment_label(alert.segment)}",
                    percent=kpi_in_percent(alert.kpi),
                )
                chart = self.folder / f"{stem}.{n}.png"
                _write_atomic(chart, png)
                files.append(str(chart))
        return Delivery(
            notifier=self.name,
            path=str(path),
            channel=message.channel,
            ts=previous.ts if method == "chat.update" and previous else None,
            updated=method == "chat.update",
            files=tuple(files),
        )
