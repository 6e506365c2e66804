"""Customer email templates: every template in every language, both parts, Message-IDs."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from cxstream.clock import ManualClock
from cxstream.notify.base import PayloadError
from cxstream.notify.contacts import Contact
from cxstream.notify.mail import LANGUAGES, TEMPLATES, EmailComposer
from cxstream.notify.settings import SmtpSettings
from cxstream.records import ActionRecord

AT = datetime(2026, 3, 2, 10, tzinfo=UTC)
SETTINGS = SmtpSettings(
    from_address="service@shop.example",
    from_name="Shop Service",
    reply_to="help@shop.example",
    brand="Musterladen",
    support_url="https://shop.example/help",
)
CONTACT = Contact("c-1", email="jane@example.com", name="Jane Doe")


def composer() -> EmailComposer:
    return EmailComposer(SETTINGS, clock=ManualClock(wall=AT))


def email_action(
    template: str, language: str, action_id: str = "a:1", **extra: Any
) -> ActionRecord:
    if template == "delay_notice":
        detail: dict[str, Any] = {"language": language, "promised_date": "2026-03-03"}
        kind = "delay_notice"
    else:
        detail = {"template": template, "language": language, "reasons": ["delivery_late"]}
        kind = "apology_email"
    detail.update(extra)
    return ActionRecord(
        action_id=action_id,
        type=kind,
        at=AT,
        rule="r",
        order_id="o-1",
        customer_id="c-1",
        detail=detail,
    )


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_both_parts(template: str, language: str) -> None:
    message = composer().compose(email_action(template, language), CONTACT)
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    greeting = "Hallo Jane Doe" if language == "de" else "Hello Jane Doe"
    assert greeting in text
    assert greeting in html
    assert "Musterladen" in text
    assert "Musterladen" in html
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert f'lang="{language}"' in html
    assert message["Content-Language"] == language
    assert message["Subject"]
    assert "{" not in message["Subject"]
    assert message["To"] == "Jane Doe <jane@example.com>"
    assert message["From"] == "Shop Service <service@shop.example>"
    assert message["Reply-To"] == "help@shop.example"
    assert "\n\n\n\n" not in text


def test_subjects_are_localised() -> None:
    subjects = {
        lang: composer().compose(email_action("delay_notice", lang), CONTACT)["Subject"]
        for lang in LANGUAGES
    }
    assert subjects == {
        "de": "Ihre Bestellung o-1 kommt später als geplant",
        "en": "Your order o-1 will arrive later than planned",
    }


def test_voucher_line_only_with_a_voucher() -> None:
    with_voucher = composer().compose(email_action("apology", "de", voucher="DANKE-15"), CONTACT)
    without = composer().compose(email_action("apology", "de"), CONTACT)
    assert all("DANKE-15" in part for part in parts(with_voucher))
    assert all("Gutschein" not in part for part in parts(without))


def test_html_part_escapes_what_comes_from_events() -> None:
    contact = Contact("c-1", email="x@example.com", name="<script>alert(1)</script>")
    message = composer().compose(email_action("apology", "en"), contact)
    text, html = parts(message)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text is not HTML


def test_reasons_are_phrased_in_the_language() -> None:
    de, _ = parts(composer().compose(email_action("apology", "de"), CONTACT))
    en, _ = parts(composer().compose(email_action("apology", "en"), CONTACT))
    assert "die Lieferung kam zu spät" in de
    assert "your delivery arrived late" in en


def test_language_falls_back_to_the_contact_then_english() -> None:
    c = composer()
    assert c.language_for("de-AT", CONTACT) == "de"
    assert c.language_for("fr", Contact("c", language="de")) == "de"
    assert c.language_for(None, Contact("c", language="it")) == "en"


def test_message_id_depends_only_on_the_action_id() -> None:
    one = composer().compose(email_action("apology", "de", "apology:1"), CONTACT)
    again = EmailComposer(SETTINGS).compose(email_action("apology", "en", "apology:1"), CONTACT)
    other = composer().compose(email_action("apology", "de", "apology:2"), CONTACT)
    assert one["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert one["Message-ID"].startswith("<cx.")
    assert one["Message-ID"].endswith("@shop.example>")
    custom = EmailComposer(SETTINGS.model_copy(update={"message_id_domain": "mail.example"}))
    assert custom.message_id("apology:1").endswith("@mail.example>")


def test_date_header_comes_from_the_clock() -> None:
    message = composer().compose(email_action("apology", "de"), CONTACT)
    assert message["Date"] == "Mon, 02 Mar 2026 10:00:00 +0000"


def test_header_injection_through_the_name_is_neutralised() -> None:
    contact = Contact("c-1", email="x@example.com", name="Jane\r\nBcc: evil@example.com")
    message = composer().compose(email_action("apology", "en"), contact)
    assert message["Bcc"] is None
    assert "\n" not in message["To"]


def test_a_contact_without_address_cannot_be_composed() -> None:
    with pytest.raises(PayloadError):
        composer().compose(email_action("apology", "en"), Contact("c-1"))
