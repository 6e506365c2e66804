"""Settings come from defaults, a YAML/JSON/TOML file and ``CXSTREAM_`` variables, safely.

Covers the environment prefix and nested variables, the three file formats (chosen by
the suffix in any case; unparsable files, non-mapping files and unknown suffixes are
reported with the file's name), the precedence (explicit > environment > file >
defaults), secrets never shown in ``repr`` or :meth:`Settings.redacted`, rejection of
invalid values and unknown keys, and that a settings object cannot be changed once built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from cxstream.config import DEFAULT_SERIES, Settings, TopicNames, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set exactly the variables they are about."""
    for name in list(os.environ):
        if name.upper().startswith("CXSTREAM_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_the_event_contract() -> None:
    settings = Settings()
    assert settings.topics == TopicNames(
        feedback="cx.feedback",
        logistics="cx.logistics",
        customers="cx.customers",
        deadletter="cx.deadletter",
    )
    assert settings.topics.for_kind("customer") == "cx.customers"
    assert settings.series == DEFAULT_SERIES
    assert settings.max_payload_bytes == 64 * 1024


def test_environment_variables_with_the_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXSTREAM_PARTITIONS", "12")
    monkeypatch.setenv("CXSTREAM_BROKER", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("CXSTREAM_REDIS_CLUSTER", "true")
    monkeypatch.setenv("PARTITIONS", "3")
    settings = load_settings()
    assert settings.partitions == 12
    assert settings.broker == "kafka-1:9092,kafka-2:9092"
    assert settings.redis_cluster is True


def test_nested_environment_variable_sets_one_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXSTREAM_TOPICS__FEEDBACK", "shop.survey-answers")
    settings = Settings()
    assert settings.topics.feedback == "shop.survey-answers"
    assert settings.topics.logistics == "cx.logistics"


def test_series_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXSTREAM_SERIES", '[[], ["carrier", "country"]]')
    assert Settings().series == ((), ("country", "carrier"))


def test_yaml_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cxstream.yaml",
        "partitions: 4\n"
        "bucket_seconds: 300\n"
        "topics:\n"
        "  logistics: wms.events\n"
        "series:\n"
        "  - []\n"
        "  - [country, channel]\n",
    )
    settings = load_settings(path)
    assert settings.partitions == 4
    assert settings.bucket_seconds == 300
    assert settings.topics.logistics == "wms.events"
    assert settings.topics.feedback == "cx.feedback"
    assert settings.series == ((), ("country", "channel"))


def test_toml_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cxstream.toml",
        'partitions = 5\nbroker = "kafka:9093"\n\n[topics]\nfeedback = "survey.answers"\n',
    )
    settings = load_settings(path)
    assert settings.partitions == 5
    assert settings.broker == "kafka:9093"
    assert settings.topics.feedback == "survey.answers"


def test_json_file(tmp_path: Path) -> None:
    path = write(tmp_path, "cxstream.json", '{"partitions": 6, "log_level": "debug"}')
    settings = load_settings(path)
    assert (settings.partitions, settings.log_level) == (6, "debug")


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        "cxstream.yaml",
        "partitions: 4\nbroker: file:9092\ntopics:\n  logistics: wms.events\n",
    )
    monkeypatch.setenv("CXSTREAM_PARTITIONS", "16")
    monkeypatch.setenv("CXSTREAM_TOPICS__FEEDBACK", "env.feedback")
    settings = load_settings(path)
    assert settings.partitions == 16
    assert settings.broker == "file:9092"
    assert settings.topics.feedback == "env.feedback"
    assert settings.topics.logistics == "wms.events"


def test_explicit_overrides_win_over_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "cxstream.toml", "partitions = 4\n")
    monkeypatch.setenv("CXSTREAM_PARTITIONS", "16")
    assert load_settings(path, partitions=2).partitions == 2
    assert load_settings(None, partitions=3).partitions == 3


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_secrets_are_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "cxstream.yaml", "redis_password: file-secret-123\n")
    monkeypatch.setenv("CXSTREAM_KAFKA_PASSWORD", "env-secret-456")
    settings = load_settings(path)
    assert isinstance(settings.redis_password, SecretStr)
    assert settings.redis_password.get_secret_value() == "file-secret-123"
    assert settings.kafka_password is not None
    assert settings.kafka_password.get_secret_value() == "env-secret-456"
    shown = [repr(settings), str(settings), str(settings.redacted()), settings.model_dump_json()]
    for text in shown:
        assert "file-secret-123" not in text
        assert "env-secret-456" not in text
    redacted = settings.redacted()
    assert redacted["redis_password"] == "**********"
    assert redacted["kafka_password"] == "**********"
    assert redacted["partitions"] == 8


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"partitions": 0}, "partitions"),
        ({"replication_factor": 0}, "replication_factor"),
        ({"bucket_seconds": 10}, "bucket_seconds"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_within_s": 0}, "batch_within_s"),
        ({"web_port": 70000}, "web_port"),
        ({"key_prefix": "has space"}, "key_prefix"),
        ({"key_prefix": "{cx}"}, "key_prefix"),
        ({"log_level": "verbose"}, "log_level"),
        ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
        ({"series": [["country", "country"]]}, "series"),
        ({"series": [["planet"]]}, "series"),
        ({"max_payload_bytes": 10}, "max_payload_bytes"),
        ({"topics": {"feedbak": "x"}}, "feedbak"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_invalid_values_are_rejected(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**values)


def test_invalid_environment_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXSTREAM_PARTITIONS", "eight")
    with pytest.raises(ValidationError, match="partitions"):
        Settings()


def test_unknown_key_in_a_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "cxstream.yaml", "partitons: 4\n")
    with pytest.raises(ValidationError, match="partitons"):
        load_settings(path)


def test_invalid_value_in_a_toml_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "cxstream.toml", 'log_level = "loud"\n')
    with pytest.raises(ValidationError, match="log_level"):
        load_settings(path)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.partitions = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.topics.feedback = "other"  # type: ignore[misc]
    from_file = load_settings(write(tmp_path, "c.yaml", "partitions: 4\n"))
    with pytest.raises(ValidationError):
        from_file.partitions = 5  # type: ignore[misc]


def test_series_are_normalised_and_deduplicated() -> None:
    settings = Settings(series=[["carrier", "country"], ["country", "carrier"], []])
    assert settings.series == (("country", "carrier"), ())


def test_json_file_indented_with_tabs(tmp_path: Path) -> None:
    path = write(tmp_path, "cxstream.json", '{\n\t"partitions": 6,\n\t"log_level": "debug"\n}\n')
    assert load_settings(path).partitions == 6


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("cxstream.JSON", '{"partitions": 7}'),
        ("cxstream.Json", '{\n\t"partitions": 7\n}'),
        ("cxstream.yml", "partitions: 7\n"),
        ("cxstream.YAML", "partitions: 7\n"),
        ("cxstream.Yml", "partitions: 7\n"),
        ("cxstream.TOML", "partitions = 7\n"),
    ],
)
def test_file_format_follows_the_suffix_in_any_case(tmp_path: Path, name: str, text: str) -> None:
    assert load_settings(write(tmp_path, name, text)).partitions == 7


def test_empty_yaml_file_gives_the_defaults(tmp_path: Path) -> None:
    loaded = load_settings(write(tmp_path, "cxstream.yaml", ""))
    assert loaded.model_dump() == Settings().model_dump()


@pytest.mark.parametrize(
    ("name", "text", "found"),
    [
        ("cxstream.yaml", "- partitions\n- 4\n", "not a list"),
        ("cxstream.yaml", "4\n", "not a number"),
        ("cxstream.json", '["partitions", 4]', "not a list"),
        ("cxstream.json", '"partitions: 4"', "not a string"),
        ("cxstream.json", "null", "not null"),
    ],
)
def test_file_whose_top_level_is_not_a_mapping_is_rejected(
    tmp_path: Path, name: str, text: str, found: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ValueError, match="mapping of setting names") as info:
        load_settings(path)
    assert str(path) in str(info.value)
    assert found in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("cxstream.json", '{"partitions": 4,}', "JSON"),
        ("cxstream.toml", "partitions =\n", "TOML"),
        ("cxstream.yaml", "partitions: [4\n", "YAML"),
    ],
)
def test_file_that_does_not_parse_is_reported_with_its_name(
    tmp_path: Path, name: str, text: str, kind: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ValueError, match=f"is not valid {kind}") as info:
        load_settings(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["cxstream.ini", "cxstream.conf", "cxstream"])
def test_file_of_an_unsupported_type_is_rejected(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, "partitions: 4\n")
    with pytest.raises(ValueError, match=r"unsupported type .*\.yaml, \.yml, \.json or \.toml"):
        load_settings(path)
