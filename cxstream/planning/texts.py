"""What a support lead sees in a VIP apology task: the order's story and a suggested reply.

:func:`order_history` turns an :class:`~cxstream.orders.OrderState` into
``[[iso time, event type, note], ...]`` (oldest first). :func:`suggested_apology` writes
a short apology in the customer's language (German or English; other languages get the
English text) naming the concrete problem: how late the order was, what held it up, and
the reasons the customer gave.

>>> from datetime import UTC, datetime
>>> print(suggested_apology("de", ("delivery_damaged",), late_days=2, exceptions=()))
Es tut uns sehr leid, dass Ihre Bestellung 2 Tage später als versprochen ankam und \
Ihr Artikel beschädigt ankam. Wir melden uns persönlich, um das in Ordnung zu bringen, \
und danken Ihnen für Ihre offene Rückmeldung.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cxstream.orders import OrderState

__all__ = ["SUGGESTION_LANGUAGES", "last_change", "order_history", "suggested_apology"]

#: Languages :func:`suggested_apology` writes in.
SUGGESTION_LANGUAGES = ("de", "en")

_REASONS: dict[str, dict[str, str]] = {
    "en": {
        "delivery_late": "your order did not arrive on time",
        "delivery_damaged": "your item arrived damaged",
        "wrong_item": "you received the wrong item",
        "item_quality": "the item did not meet your expectations",
        "app_scan_failed": "scanning in our app did not work",
        "app_crash": "our app crashed",
        "checkout_problem": "you had trouble at checkout",
        "return_slow": "your return took too long",
        "refund_slow": "your refund took too long",
        "support_unreachable": "you could not reach our support",
        "price": "our prices disappointed you",
    },
    "de": {
        "delivery_late": "Ihre Bestellung nicht pünktlich ankam",
        "delivery_damaged": "Ihr Artikel beschädigt ankam",
        "wrong_item": "Sie den falschen Artikel erhalten haben",
        "item_quality": "der Artikel nicht Ihren Erwartungen entsprach",
        "app_scan_failed": "das Scannen in unserer App nicht funktionierte",
        "app_crash": "unsere App abgestürzt ist",
        "checkout_problem": "es beim Bezahlen Probleme gab",
        "return_slow": "Ihre Rücksendung so lange gedauert hat",
        "refund_slow": "Ihre Erstattung so lange gedauert hat",
        "support_unreachable": "Sie unseren Kundenservice nicht erreicht haben",
        "price": "unsere Preise Sie enttäuscht haben",
    },
}

_TEXT = {
    "en": {
        "late_delivered": "your order arrived {days} later than promised",
        "late_open": "your order is already {days} later than promised",
        "day": "day",
        "days": "days",
        "held_up": "your delivery was held up ({what})",
        "generic": "your experience with us was not what it should have been",
        "and": "and",
        "sentence": "We are very sorry that {problems}. We will get in touch personally to"
        " put this right, and thank you for your honest feedback.",
    },
    "de": {
        "late_delivered": "Ihre Bestellung {days} später als versprochen ankam",
        "late_open": "Ihre Bestellung schon {days} später als versprochen ist",
        "day": "Tag",
        "days": "Tage",
        "held_up": "Ihre Lieferung aufgehalten wurde ({what})",
        "generic": "Ihre Erfahrung mit uns nicht so war, wie sie sein sollte",
        "and": "und",
        "sentence": "Es tut uns sehr leid, dass {problems}. Wir melden uns persönlich, um das"
        " in Ordnung zu bringen, und danken Ihnen für Ihre offene Rückmeldung.",
    },
}

_EXCEPTIONS: dict[str, dict[str, str]] = {
    "en": {
        "weather": "weather",
        "capacity": "the carrier's capacity",
        "address": "an address problem",
        "customs": "customs",
        "strike": "a strike",
    },
    "de": {
        "weather": "Wetter",
        "capacity": "Kapazität des Paketdienstes",
        "address": "Adressproblem",
        "customs": "Zoll",
        "strike": "Streik",
    },
}


def _join(parts: Sequence[str], word: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"


def suggested_apology(
    language: str,
    reasons: Sequence[str],
    *,
    late_days: int | None,
    exceptions: Sequence[str],
    delivered: bool = True,
) -> str:
    """A short apology naming the problems, in ``language`` (German or English)."""
    lang = language if language in SUGGESTION_LANGUAGES else "en"
    text = _TEXT[lang]
    problems: list[str] = []
    if late_days is not None and late_days > 0:
        days = f"{late_days} {text['day'] if late_days == 1 else text['days']}"
        problems.append(text["late_delivered" if delivered else "late_open"].format(days=days))
    if exceptions:
        names = _EXCEPTIONS[lang]
        what = ", ".join(dict.fromkeys(names.get(e, e.replace("_", " ")) for e in exceptions))
        problems.append(text["held_up"].format(what=what))
    covered = {"delivery_late"} if problems else set()
    for reason in dict.fromkeys(reasons):
        phrase = _REASONS[lang].get(reason)
        if phrase is not None and reason not in covered:
            problems.append(phrase)
    if not problems:
        problems.append(text["generic"])
    return text["sentence"].format(problems=_join(problems[:3], text["and"]))


def last_change(order: OrderState) -> datetime | None:
    """The latest event time the order's state records (``None`` for an empty state)."""
    times = [
        order.first_seen_at,
        order.eta_at,
        order.promised_at,
        order.placed_at,
        order.shipped_at,
        order.delivered_at,
        order.return_registered_at,
        order.return_received_at,
        order.refunded_at,
    ]
    if order.carriers:
        times.append(order.carriers[-1][0])
    if order.promises:
        times.append(order.promises[-1][0])
    known = [t for t in times if t is not None]
    return max(known) if known else None


def order_history(order: OrderState) -> list[list[str]]:
    """The order's story as ``[[iso time, event type, note], ...]``, oldest first.

    Delivery exceptions carry no time of their own in the order state; they are listed
    once, at the latest time the state records.
    """
    rows: list[tuple[datetime, int, str, str]] = []

    def add(at: datetime | None, event_type: str, note: str) -> None:
        if at is not None:
            rows.append((at, len(rows), event_type, note))

    add(order.placed_at, "order_placed", f"channel {order.channel}" if order.channel else "")
    for i, (at, promised) in enumerate(order.promises):
        add(at, "promised_date", f"{'promised' if i == 0 else 'promise moved to'} {promised}")
    if order.shipped_at is not None:
        add(order.shipped_at, "shipped", order.carrier_as_of(order.shipped_at) or "")
    for at, carrier in order.carriers[1:]:
        add(at, "carrier_changed", carrier)
    if order.eta is not None:
        add(order.eta_at, "eta", f"expected {order.eta.isoformat()}")
    if order.exceptions:
        add(last_change(order), "delivery_exception", ", ".join(order.exceptions))
    if order.delivered_at is not None:
        days = order.late_days()
        note = "" if days is None else ("on time" if days <= 0 else f"{days} day(s) late")
        add(order.delivered_at, "delivered", note)
    add(order.return_registered_at, "return_registered", "")
    add(order.return_received_at, "return_received", "")
    add(order.refunded_at, "refund_issued", "")
    rows.sort()
    return [[at.isoformat(), event_type, note] for at, _, event_type, note in rows]
