"""Who may ingest: bearer tokens and HMAC-signed bodies.

Two ways to authenticate an ingest request, configured in
:class:`~cxstream.web.settings.WebSettings`:

* ``Authorization: Bearer <token>``, one of ``web.tokens``; checked before the body is
  read;
* ``X-Cxstream-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body with
  ``web.hmac.secret``; checked once the body is read.

Either one is enough; a request that presents both must pass both. Secrets are
compared in constant time, and only the configured *name* of the token or key (the
client's identity, used for rate limits, logs, metrics and dead letters) ever leaves
this module. Without any credential configured, :attr:`Authenticator.enabled` is false
and the caller refuses every ingest request.

>>> from cxstream.web.settings import WebSettings
>>> auth = Authenticator(WebSettings(hmac={"secret": "0123456789abcdef"}))
>>> body = b'{"kind": "feedback"}'
>>> header = "sha256=" + sign(body, "0123456789abcdef")
>>> pending = auth.before_body(None, header)
>>> auth.after_body(pending, header, body)
Client(name='hmac', method='hmac')
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from cxstream.web.settings import WebSettings

__all__ = [
    "SIGNATURE_HEADER",
    "AuthError",
    "Authenticator",
    "Client",
    "PendingSignature",
    "sign",
]

SIGNATURE_HEADER = "X-Cxstream-Signature"
_SIGNATURE_PREFIX = "sha256="


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated client: the configured name of its token or key."""

    name: str
    method: Literal["bearer", "hmac"]


@dataclass(frozen=True, slots=True)
class PendingSignature:
    """The body still has to be checked against the signature (``client``: a bearer token
    already authenticated the request as well)."""

    client: Client | None


class AuthError(Exception):
    """The request is not authenticated (answered with 401 and this message)."""


def sign(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of ``body`` (what ``X-Cxstream-Signature`` carries after
    ``sha256=``)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Authenticator:
    """Checks the credentials of ingest requests against the configured ones."""

    def __init__(self, settings: WebSettings) -> None:
        self._tokens = [
            (t.name, t.token.get_secret_value().encode("utf-8")) for t in settings.tokens
        ]
        self._hmac = (
            (settings.hmac.name, settings.hmac.secret.get_secret_value())
            if settings.hmac is not None
            else None
        )

    @property
    def enabled(self) -> bool:
        """Whether any credential is configured (otherwise ingestion is off)."""
        return bool(self._tokens) or self._hmac is not None

    def _bearer(self, authorization: str) -> Client:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        given = token.strip().encode("utf-8")
        found: str | None = None
        for name, secret in self._tokens:  # no early exit: same work whichever matches
            if hmac.compare_digest(secret, given) and found is None:
                found = name
        if found is None:
            raise AuthError("invalid bearer token")
        return Client(found, "bearer")

    def before_body(
        self, authorization: str | None, signature: str | None
    ) -> Client | PendingSignature:
        """Check what can be checked before the body is read.

        Returns the client when a bearer token suffices, or a :class:`PendingSignature`
        when the body's signature must be checked (:meth:`after_body`); raises
        :class:`AuthError` otherwise.
        """
        client = self._bearer(authorization) if authorization is not None else None
        if signature is not None:
            if self._hmac is None:
                raise AuthError(f"{SIGNATURE_HEADER} given, but no HMAC secret is configured")
            return PendingSignature(client)
        if client is None:
            raise AuthError(
                "missing credentials: send 'Authorization: Bearer <token>'"
                + (f" or '{SIGNATURE_HEADER}: sha256=<hex>'" if self._hmac is not None else "")
            )
        return client

    def after_body(self, pending: PendingSignature, signature: str, body: bytes) -> Client:
        """Check ``body`` against ``signature``; the client (the bearer token's, if one
        authenticated the request too, else the HMAC key's), or :class:`AuthError`."""
        if self._hmac is None:  # pragma: no cover - before_body refused already
            raise AuthError("no HMAC secret is configured")
        name, secret = self._hmac
        value = signature.strip()
        if not value.lower().startswith(_SIGNATURE_PREFIX):
            raise AuthError(f"{SIGNATURE_HEADER} must be 'sha256=<hex>'")
        given = value[len(_SIGNATURE_PREFIX) :].lower().encode("ascii", "replace")
        if not hmac.compare_digest(sign(body, secret).encode("ascii"), given):
            raise AuthError("invalid signature")
        return pending.client or Client(name, "hmac")
