"""The ``web`` settings section: credentials, validation, environment variables, masking."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from cxstream.config import Settings
from cxstream.web.settings import WebSettings

TOKEN = "abcdefghijklmnop-1"


def test_ingestion_is_off_without_credentials() -> None:
    assert Settings().web.ingest_enabled is False
    assert WebSettings(hmac={"secret": TOKEN}).ingest_enabled is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tokens": [{"name": "a", "token": "short"}]}, "at least 16 characters"),
        ({"hmac": {"secret": "short"}}, "at least 16 characters"),
        (
            {"tokens": [{"name": "a", "token": TOKEN}, {"name": "a", "token": TOKEN + "x"}]},
            "repeated: a",
        ),
        (
            {"tokens": [{"name": "hmac", "token": TOKEN}], "hmac": {"secret": TOKEN}},
            "also a token's name",
        ),
        ({"tokens": [{"name": "has space", "token": TOKEN}]}, "name"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"rate_per_s": 0}, "rate_per_s"),
    ],
)
def test_invalid_web_settings_are_rejected(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WebSettings.model_validate(values)


def test_web_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXSTREAM_WEB_PORT", "8080")
    monkeypatch.setenv("CXSTREAM_WEB__TOKENS", json.dumps([{"name": "survey", "token": TOKEN}]))
    monkeypatch.setenv("CXSTREAM_WEB__HMAC__SECRET", TOKEN + "-hmac")
    monkeypatch.setenv("CXSTREAM_WEB__RATE_PER_S", "50")
    settings = Settings()
    assert settings.web_port == 8080
    assert settings.web.tokens[0].name == "survey"
    assert settings.web.tokens[0].token.get_secret_value() == TOKEN
    assert settings.web.hmac is not None
    assert settings.web.hmac.name == "hmac"
    assert settings.web.rate_per_s == 50


def test_secrets_are_masked_in_the_printed_settings() -> None:
    settings = Settings(web=WebSettings(tokens=[{"name": "survey", "token": TOKEN}]))
    shown = json.dumps(settings.redacted())
    assert TOKEN not in shown
    assert "survey" in shown
