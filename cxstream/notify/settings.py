"""Settings of the notifiers and the dispatcher: see :mod:`cxstream.delivery_settings`.

They live outside this package so that :mod:`cxstream.config` can use them as sections
without importing the notifiers.
"""

from cxstream.delivery_settings import (
    DispatchSettings,
    SlackSettings,
    SmtpSecurity,
    SmtpSettings,
    WebhookSettings,
)

__all__ = [
    "DispatchSettings",
    "SlackSettings",
    "SmtpSecurity",
    "SmtpSettings",
    "WebhookSettings",
]
