"""Localised texts of the simulated customers: names and free-text survey comments."""

from __future__ import annotations

__all__ = ["COMMENTS", "COMMENT_KEY", "NAMES"]

#: First and last names by language.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        ("Anna", "Lukas", "Marie", "Jonas", "Laura", "Felix", "Sophie", "Paul", "Lena", "Max"),
        (
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Hoffmann",
            "Schulz",
        ),
    ),
    "nl": (
        ("Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Finn", "Sophie"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer"),
    ),
    "fr": (
        ("Camille", "Louis", "Léa", "Gabriel", "Chloé", "Jules", "Manon", "Hugo"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
    ),
    "pl": (
        ("Zuzanna", "Jakub", "Julia", "Antoni", "Maja", "Jan", "Hanna", "Szymon"),
        (
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Wójcik",
            "Kowalczyk",
            "Kamiński",
            "Lewandowski",
            "Zieliński",
        ),
    ),
    "en": (
        ("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies"),
    ),
}

#: Survey comments by language and topic (see ``COMMENT_KEY``).
COMMENTS: dict[str, dict[str, str]] = {
    "de": {
        "positive": "Schnelle Lieferung, alles bestens.",
        "late": "Das Paket kam zu spät.",
        "damaged": "Der Karton war beschädigt.",
        "wrong": "Falscher Artikel geliefert.",
        "app": "Scannen in der App funktioniert nicht.",
        "refund": "Die Erstattung dauert viel zu lange.",
        "support": "Beim Kundenservice erreicht man niemanden.",
        "generic": "Ganz okay, aber ausbaufähig.",
    },
    "en": {
        "positive": "Fast delivery, all good.",
        "late": "The parcel arrived late.",
        "damaged": "The box was damaged.",
        "wrong": "I received the wrong item.",
        "app": "Scanning in the app keeps failing.",
        "refund": "The refund is taking far too long.",
        "support": "Could not reach customer service.",
        "generic": "Okay, could be better.",
    },
    "fr": {
        "positive": "Livraison rapide, parfait.",
        "late": "Colis arrivé en retard.",
        "damaged": "Le carton était abîmé.",
        "wrong": "J'ai reçu le mauvais article.",
        "app": "Le scan dans l'appli ne marche pas.",
        "refund": "Le remboursement est trop long.",
        "support": "Impossible de joindre le service client.",
        "generic": "Correct, mais peut mieux faire.",
    },
    "nl": {
        "positive": "Snelle levering, prima.",
        "late": "Het pakket kwam te laat.",
        "damaged": "De doos was beschadigd.",
        "wrong": "Verkeerd artikel ontvangen.",
        "app": "Scannen in de app werkt niet.",
        "refund": "Terugbetaling duurt te lang.",
        "support": "Klantenservice is onbereikbaar.",
        "generic": "Prima, maar kan beter.",
    },
    "pl": {
        "positive": "Szybka dostawa, wszystko w porządku.",
        "late": "Paczka przyszła z opóźnieniem.",
        "damaged": "Karton był uszkodzony.",
        "wrong": "Otrzymałem niewłaściwy produkt.",
        "app": "Skanowanie w aplikacji nie działa.",
        "refund": "Zwrot pieniędzy trwa za długo.",
        "support": "Nie można dodzwonić się do obsługi klienta.",
        "generic": "W porządku, ale mogłoby być lepiej.",
    },
}

#: Comment topic of a survey reason.
COMMENT_KEY: dict[str, str] = {
    "delivery_late": "late",
    "delivery_damaged": "damaged",
    "wrong_item": "wrong",
    "app_scan_failed": "app",
    "app_crash": "app",
    "refund_slow": "refund",
    "return_slow": "refund",
    "support_unreachable": "support",
}
