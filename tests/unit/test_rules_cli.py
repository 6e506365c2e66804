"""``cxstream rules`` and ``cxstream silence`` as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from cxstream.cli import main
from cxstream.clock import ManualClock
from cxstream.rules.schema import rules_json_schema_text
from cxstream.rules.silences import MemorySilenceStore

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "rules"
WALL = datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_rules_check_passes_on_the_default_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["rules", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "rules: ok: 11 rules (1 apology, 1 delay_notice, 7 kpi_alert, 1 report_digest"
    )
    assert len(result.output.splitlines()) == 1


def test_rules_check_prints_every_problem_and_fails(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "rules:\n  - type: kpi_alert\n    name: n\n    kpi: nps\n    windoes: [1h]\n"
        "  - type: apology\n    name: a\n    score: {max: 12}\n"
    )
    result = CliRunner().invoke(main, ["rules", "check", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == (
        f"{tmp_path / 'a.yaml'}:5:5: rules[0].windoes: Extra inputs are not permitted"
        " (hint: did you mean 'windows'? (allowed keys: type, name, description, kpi, windows,"
        " group_by, detector, threshold, expectations, min_volume, severity, labels, receiver))"
    )
    assert lines[1] == (
        f"{tmp_path / 'a.yaml'}:8:18: rules[1].score.max: Input should be less than or equal"
        " to 10 (hint: use a value at most 10)"
    )
    assert "2 problem(s)" in lines[-1]


def test_rules_check_of_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_rules_schema_prints_or_writes_the_schema(tmp_path: Path) -> None:
    printed = CliRunner().invoke(main, ["rules", "schema"])
    assert printed.exit_code == 0
    assert printed.output == rules_json_schema_text()
    out = tmp_path / "schema.json"
    written = CliRunner().invoke(main, ["rules", "schema", "--out", str(out)])
    assert written.exit_code == 0
    assert written.output == f"wrote {out}\n"
    assert json.loads(out.read_text())["title"] == "cxstream rules file"


def test_silence_add_list_and_expire() -> None:
    clock = ManualClock(wall=WALL)
    obj = {"clock": clock, "silence_store": MemorySilenceStore()}
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args), obj=obj)
        assert result.exit_code == code, result.output
        return result.output

    silence_id = run(
        "silence",
        "add",
        "--matcher",
        "country=DE",
        "--matcher",
        'kpi=~"nps|detractor_rate"',
        "--duration",
        "2h",
        "--author",
        "ana",
        "--comment",
        "app release",
    ).strip()
    listed = run("silence", "list")
    assert listed.startswith(f"{silence_id}  active   2026-03-02T09:00:00+00:00 -> ")
    assert '{country="DE", kpi=~"nps|detractor_rate"}  by ana: app release' in listed
    record = json.loads(run("silence", "list", "--json"))
    assert (record["id"], record["state"], record["ends_at"]) == (
        silence_id,
        "active",
        "2026-03-02T11:00:00Z",
    )

    clock.advance(1800)
    expired = run("silence", "expire", silence_id)
    assert (
        f"{silence_id}  expired  2026-03-02T09:00:00+00:00 -> 2026-03-02T09:30:00+00:00" in expired
    )
    assert run("silence", "list").strip() == "no silences"
    assert silence_id in run("silence", "list", "--expired")
    assert "no silence with id 'nope'" in run("silence", "expire", "nope", code=1)


def test_silence_add_rejects_bad_input() -> None:
    obj = {"clock": ManualClock(wall=WALL), "silence_store": MemorySilenceStore()}
    runner = CliRunner()
    args = ["silence", "add", "--author", "ana", "--comment", "x"]
    bad_matcher = runner.invoke(main, [*args, "--matcher", "country"], obj=obj)
    assert bad_matcher.exit_code == 2
    assert "is not a matcher" in bad_matcher.output
    bad_duration = runner.invoke(
        main, [*args, "--matcher", "a=b", "--duration", "2 hours"], obj=obj
    )
    assert bad_duration.exit_code == 2
    assert "is not a duration" in bad_duration.output
    missing = runner.invoke(main, ["silence", "add", "--matcher", "a=b"], obj=obj)
    assert missing.exit_code == 2
    assert "--author" in missing.output
