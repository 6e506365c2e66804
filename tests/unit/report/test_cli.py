"""``cxstream report``: the report of a replay output directory as JSON, HTML or PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cxstream.cli import main
from cxstream.report import Report

from .conftest import shop_events
from .helpers import RULES, make_clock, replay


@pytest.fixture
async def replay_dir(tmp_path: Path) -> Path:
    out = tmp_path / "replayed"
    await replay(shop_events(), out)
    return out


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "rules.yaml").write_text(RULES, encoding="utf-8")
    return directory


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["report", *map(str, args)], obj={"clock": make_clock()}, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_the_report_of_a_replay_is_written_as_json_html_and_png(
    replay_dir: Path, rules_dir: Path, tmp_path: Path
) -> None:
    common = ("--replay-dir", replay_dir, "--rules", rules_dir)
    code, _, err = run("--format", "json", "--out", tmp_path / "r.json", *common)
    assert code == 0, err
    assert "r.json: json, 4 rows x 3 KPIs, window 1d" in err
    report = Report.model_validate_json((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert (report.source, report.generated_at) == ("replay", make_clock().now())
    de = next(r for r in report.rows if r.label == "DE").cell("late_rate")
    assert de is not None
    assert (de.value, de.status) == (0.2, "red")

    code, _, err = run("--out", tmp_path / "de.html", "--country", "DE", *common)
    assert code == 0, err
    page = (tmp_path / "de.html").read_text(encoding="utf-8")
    assert 'data-series="country=DE,carrier=dhl"' in page
    assert "/api/" not in page  # a file links no API

    code, _, err = run("--format", "png", "--out", tmp_path / "r.png", *common)
    assert code == 0, err
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_json_and_html_go_to_stdout_with_a_dash(replay_dir: Path, rules_dir: Path) -> None:
    code, out, _ = run(
        "--format", "json", "--out", "-", "--replay-dir", replay_dir, "--rules", rules_dir
    )
    assert code == 0
    assert json.loads(out)["window"] == "1d"
    code, out, _ = run("--out", "-", "--replay-dir", replay_dir, "--rules", rules_dir)
    assert code == 0
    assert out.startswith("<!DOCTYPE html>")


def test_unusable_requests_are_refused_with_a_reason(replay_dir: Path, rules_dir: Path) -> None:
    common = ("--replay-dir", replay_dir, "--rules", rules_dir)
    code, _, err = run("--format", "png", "--out", "-", *common)
    assert code == 2
    assert "give --out FILE.png" in err
    code, _, err = run("--out", "-", "--window", "1h", *common)
    assert code == 1
    assert "window 1d only" in err
    code, _, err = run("--out", "-", "--country", "XX", *common)
    assert code == 1
    assert "no data for country 'XX'" in err
