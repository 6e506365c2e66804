"""Customer emails: the MIME message of a ``delay_notice`` or ``apology_email`` action.

:class:`EmailComposer` renders the Jinja2 templates shipped in
``cxstream/notify/templates/`` (``<template>.<language>.txt`` with a ``subject`` block,
and ``<template>.<language>.html``, autoescaped) into a ``multipart/alternative``
message with a plain-text and an HTML part. The SMTP notifier sends it; the folder
notifier writes the very same message to an ``.eml`` file.

Templates: ``delay_notice``, ``apology`` (the default apology), ``apology_delivery``
(the reasons were about the delivery), ``apology_after_notice`` (a delay notice
already went out), ``apology_app`` (app problems); languages ``de`` and ``en``. The
language is the action's, else the customer's, else English. A voucher code, when
given, adds a voucher line.

The ``Message-ID`` depends only on the action id and the domain, so the same action
always yields the same id and receiving systems can drop a repeated send:

>>> from cxstream.notify.settings import SmtpSettings
>>> composer = EmailComposer(SmtpSettings(from_address="service@shop.example"))
>>> composer.message_id("apology:a84c2d68b41f7f57cb9b")
'<cx.fd5547294a80342a988fc271714fadee@shop.example>'
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cxstream.clock import Clock, SystemClock
from cxstream.notify.base import PayloadError, PermanentError
from cxstream.notify.contacts import Contact
from cxstream.notify.payloads import ApologyEmailDetail, DelayNoticeDetail, parse_as
from cxstream.notify.settings import SmtpSettings
from cxstream.records import ActionRecord

__all__ = [
    "EMAIL_ACTION_TYPES",
    "LANGUAGES",
    "TEMPLATES",
    "EmailComposer",
    "localise_reasons",
]

LANGUAGES = ("de", "en")
TEMPLATES = ("delay_notice", "apology", "apology_delivery", "apology_after_notice", "apology_app")
EMAIL_ACTION_TYPES = frozenset({"delay_notice", "apology_email"})

_MONTHS = {
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
_REASONS = {
    "de": {
        "delivery_late": "die Lieferung kam zu spät",
        "delivery_damaged": "die Sendung kam beschädigt an",
        "wrong_item": "Sie haben einen falschen Artikel erhalten",
        "item_quality": "die Qualität des Artikels hat Sie nicht überzeugt",
        "app_scan_failed": "das Scannen in der App hat nicht funktioniert",
        "app_crash": "die App ist abgestürzt",
        "checkout_problem": "es gab Probleme beim Bezahlen",
        "return_slow": "die Rücksendung hat zu lange gedauert",
        "refund_slow": "die Erstattung hat zu lange gedauert",
        "support_unreachable": "unser Kundenservice war nicht erreichbar",
        "price": "der Preis hat Sie nicht überzeugt",
    },
    "en": {
        "delivery_late": "your delivery arrived late",
        "delivery_damaged": "your parcel arrived damaged",
        "wrong_item": "you received the wrong item",
        "item_quality": "the item's quality let you down",
        "app_scan_failed": "scanning in our app did not work",
        "app_crash": "our app crashed",
        "checkout_problem": "paying for your order was a struggle",
        "return_slow": "your return took too long",
        "refund_slow": "your refund took too long",
        "support_unreachable": "you could not reach our customer service",
        "price": "the price did not convince you",
    },
}
_DELAY_CAUSES = {
    "de": {
        "weather": "schlechtes Wetter",
        "capacity": "ein hohes Sendungsaufkommen beim Versanddienstleister",
        "address": "eine Rückfrage zur Lieferadresse",
        "customs": "die Zollabfertigung",
        "strike": "ein Streik",
    },
    "en": {
        "weather": "bad weather",
        "capacity": "a backlog at the carrier",
        "address": "a question about the delivery address",
        "customs": "customs clearance",
        "strike": "a strike",
    },
}


def localise_reasons(codes: list[str], language: str) -> list[str]:
    """Readable phrases for the known reason codes (unknown codes are left out).

    >>> localise_reasons(["delivery_late", "other"], "de")
    ['die Lieferung kam zu spät']
    """
    table = _REASONS.get(language, _REASONS["en"])
    return [table[code] for code in codes if code in table]


def _long_date(day: date, language: str) -> str:
    month = _MONTHS.get(language, _MONTHS["en"])[day.month - 1]
    return f"{day.day}. {month} {day.year}" if language == "de" else f"{day.day} {month} {day.year}"


def _join(items: list[str], language: str) -> str:
    """``a, b and c`` (``und`` in German)."""
    if len(items) < 2:
        return "".join(items)
    last = "und" if language == "de" else "and"
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def _header_safe(value: str) -> str:
    return " ".join(value.split())


class EmailComposer:
    """Builds the MIME message of an email action for a contact."""

    def __init__(self, settings: SmtpSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self._clock = clock or SystemClock()
        self._env = Environment(
            loader=PackageLoader("cxstream.notify", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def message_id(self, action_id: str) -> str:
        """``<cx.<hash of the action id>@<domain>>``: the same for every send of an action."""
        digest = hashlib.blake2b(action_id.encode(), digest_size=16).hexdigest()
        return f"<cx.{digest}@{self.settings.message_id_domain_or_default}>"

    def language_for(self, wanted: str | None, contact: Contact) -> str:
        for candidate in (wanted, contact.language):
            if candidate:
                short = candidate.lower().split("-")[0].split("_")[0]
                if short in LANGUAGES:
                    return short
        return "en"

    def _context(self, action: ActionRecord, contact: Contact) -> tuple[str, str, dict[str, Any]]:
        if action.type == "delay_notice":
            notice = parse_as(action, DelayNoticeDetail)
            language = self.language_for(notice.language, contact)
            causes = _DELAY_CAUSES.get(language, _DELAY_CAUSES["en"])
            eta = notice.eta.astimezone(UTC).date() if notice.eta is not None else None
            return (
                "delay_notice",
                language,
                {
                    "promised_date": _long_date(notice.promised_date, language),
                    "eta_date": _long_date(eta, language) if eta else None,
                    "carrier": notice.carrier.upper() if notice.carrier else None,
                    "cause": causes.get(notice.reason or ""),
                    "voucher": None,
                },
            )
        if action.type == "apology_email":
            apology = parse_as(action, ApologyEmailDetail)
            language = self.language_for(apology.language, contact)
            reasons = localise_reasons(apology.reasons, language)
            return (
                apology.template,
                language,
                {
                    "reasons": reasons,
                    "reasons_text": _join(reasons, language),
                    "delay_notice_sent": apology.delay_notice_sent,
                    "voucher": apology.voucher,
                },
            )
        raise PermanentError(f"no email for {action.type} actions")

    def compose(self, action: ActionRecord, contact: Contact) -> EmailMessage:
        """The message for ``action`` to ``contact`` (who must have an email address)."""
        if not contact.email:
            raise PayloadError(f"customer {contact.customer_id} has no email address")
        template, language, context = self._context(action, contact)
        context |= {
            "name": contact.name,
            "brand": self.settings.brand,
            "support_url": self.settings.support_url,
            "order_id": action.order_id,
            "language": language,
        }
        text_template = self._env.get_template(f"{template}.{language}.txt")
        subject = "".join(text_template.blocks["subject"](text_template.new_context(context)))
        context["subject"] = _header_safe(subject)
        text = text_template.render(context)
        html = self._env.get_template(f"{template}.{language}.html").render(context)

        message = EmailMessage()
        message["From"] = formataddr(
            (_header_safe(self.settings.from_name or ""), self.settings.from_address)
        )
        message["To"] = formataddr((_header_safe(contact.name or ""), contact.email))
        if self.settings.reply_to:
            message["Reply-To"] = self.settings.reply_to
        message["Subject"] = _header_safe(subject)
        message["Date"] = format_datetime(self._clock.now().astimezone(UTC))
        message["Message-ID"] = self.message_id(action.action_id)
        message["Auto-Submitted"] = "auto-generated"
        message["X-Cxstream-Action"] = action.action_id
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        message["Content-Language"] = language  # after the parts: set_content drops Content-*
        return message
