"""Loading a rules directory: every mistake is found, located and explained."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from cxstream.rules import RuleProblem, RulesError, check_rules, load_rules

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"

ROUTING = """\
route:
  receiver: ops
receivers:
  - name: ops
    configs:
      - type: slack
        channel: "#ops"
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def one(problems: list[RuleProblem]) -> RuleProblem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    write(tmp_path, "routing.yaml", ROUTING)
    return tmp_path


def test_the_default_rules_have_no_problems() -> None:
    assert check_rules(RULES_DIR) == []


def test_a_misspelled_key_points_at_the_key_and_suggests_the_field(rules_dir: Path) -> None:
    path = write(
        rules_dir,
        "kpi.yaml",
        """\
        rules:
          - type: kpi_alert
            name: nps
            kpi: nps
            windoes: [1h]
        """,
    )
    problem = one(check_rules(rules_dir))
    assert (problem.file, problem.line, problem.column) == (str(path), 5, 5)
    assert problem.path == "rules[0].windoes"
    assert "did you mean 'windows'?" in problem.hint
    assert str(problem).startswith(f"{path}:5:5: rules[0].windoes: Extra inputs are not permitted")
    assert str(problem).endswith(")")
    assert "(hint: did you mean 'windows'?" in str(problem)


@pytest.mark.parametrize(
    ("body", "line", "column", "path", "hint"),
    [
        ("kpi: late_rat", 4, 10, "rules[0].kpi", "did you mean 'late_rate'?"),
        ("windows: [1h, 1 day]", 4, 19, "rules[0].windows[1]", "a number and a unit"),
        ("group_by: [[country, chanel]]", 4, 26, "rules[0].group_by[0][1]", "'channel'"),
        ("min_volume: lots", 4, 17, "rules[0].min_volume", "plain number"),
        ("labels: {team: 7}", 4, 20, "rules[0].labels.team", "quote the value"),
        ("receiver: Ops Team", 4, 15, "rules[0].receiver", "lower-case letters"),
        ("threshold: {type: fixd, above: 1}", 4, 23, "rules[0].threshold.type", "'fixed'"),
        ("severity: {warning: 2}", 4, 25, "rules[0].severity.warning", "at most 1"),
    ],
)
def test_value_mistakes_are_located_with_a_hint(
    rules_dir: Path, body: str, line: int, column: int, path: str, hint: str
) -> None:
    write(
        rules_dir,
        "kpi.yaml",
        f"rules:\n  - type: kpi_alert\n    name: nps\n    {body}\n"
        + ("    kpi: nps\n" if "kpi:" not in body else ""),
    )
    problem = one(check_rules(rules_dir))
    assert (problem.line, problem.column, problem.path) == (line, column, path), str(problem)
    assert hint in problem.hint, str(problem)


def test_an_unknown_rule_type_suggests_the_right_one(rules_dir: Path) -> None:
    write(rules_dir, "kpi.yaml", "rules:\n  - type: kpi_alrt\n    name: nps\n")
    problem = one(check_rules(rules_dir))
    assert (problem.line, problem.column, problem.path) == (2, 11, "rules[0].type")
    assert problem.hint.startswith("did you mean 'kpi_alert'?")


def test_a_rule_without_type_lists_the_types(rules_dir: Path) -> None:
    write(rules_dir, "kpi.yaml", "rules:\n  - name: nps\n    kpi: nps\n")
    problem = one(check_rules(rules_dir))
    assert (problem.line, problem.path) == (2, "rules[0]")
    assert (
        problem.hint
        == "add 'type:' with one of kpi_alert, delay_notice, apology, vip_apology_task,"
        " report_digest"
    )


def test_a_missing_field_points_at_its_mapping(rules_dir: Path) -> None:
    write(rules_dir, "kpi.yaml", "rules:\n  - type: kpi_alert\n    name: nps\n")
    problem = one(check_rules(rules_dir))
    assert (problem.line, problem.column, problem.path) == (2, 5, "rules[0].kpi")
    assert problem.message == "Field required"
    assert problem.hint.startswith("add 'kpi:'")


def test_every_problem_of_every_file_is_reported(rules_dir: Path) -> None:
    write(
        rules_dir,
        "a.yaml",
        """\
        rules:
          - type: kpi_alert
            name: one
            kpi: nps
            windows: [1x]
          - type: apology
            name: two
            score: {min: 0, max: 11}
        """,
    )
    write(rules_dir, "b.yml", "countries:\n  DE: {time_zone: Europe/Berln}\n")
    problems = check_rules(rules_dir)
    assert [(Path(p.file).name, p.line, p.path) for p in problems] == [
        ("a.yaml", 5, "rules[0].windows[0]"),
        ("a.yaml", 8, "rules[1].score.max"),
        ("b.yml", 2, "countries.DE.time_zone"),
    ]
    assert problems[2].hint.startswith("did you mean 'Europe/Berlin'?")
    with pytest.raises(RulesError) as caught:
        load_rules(rules_dir)
    assert caught.value.problems == problems
    assert "3 problem(s)" in str(caught.value)


def test_cross_references_are_located_in_the_file_that_makes_them(rules_dir: Path) -> None:
    path = write(
        rules_dir,
        "tasks.yaml",
        """\
        rules:
          - type: vip_apology_task
            name: vip
            receiver: support-leeds
        """,
    )
    write(
        rules_dir,
        "more.yaml",
        "receivers:\n  - name: support-leads\n    configs: [{type: slack, channel: '#support'}]\n",
    )
    problem = one(check_rules(rules_dir))
    assert (problem.file, problem.line, problem.column) == (str(path), 4, 15)
    assert problem.path == "rules[0].receiver"
    assert problem.message == "unknown receiver 'support-leeds'"
    assert problem.hint == "did you mean 'support-leads'?"


def test_names_must_be_unique_across_files(rules_dir: Path) -> None:
    write(rules_dir, "a.yaml", "rules:\n  - {type: apology, name: sorry}\n")
    b = write(rules_dir, "b.yaml", "rules:\n  - type: apology\n    name: sorry\n")
    problem = one(check_rules(rules_dir))
    assert (problem.file, problem.line, problem.path) == (str(b), 3, "rules[0].name")
    assert "used twice" in problem.message


def test_route_and_countries_are_defined_once(rules_dir: Path) -> None:
    write(rules_dir, "zz.yaml", "route:\n  receiver: ops\ncountries:\n  DE: {time_zone: UTC}\n")
    write(rules_dir, "countries.yaml", "countries:\n  DE: {time_zone: Europe/Berlin}\n")
    problems = check_rules(rules_dir)
    assert [(Path(p.file).name, p.line, p.path) for p in problems] == [
        ("zz.yaml", 2, "route"),
        ("zz.yaml", 4, "countries.DE"),
    ]
    assert "already defined in" in problems[0].message


def test_yaml_syntax_errors_and_duplicate_keys(rules_dir: Path) -> None:
    write(rules_dir, "broken.yaml", "rules:\n  - type: apology\n   name: x\n")
    write(rules_dir, "twice.yaml", "rules:\n  - type: apology\n    name: a\n    name: b\n")
    problems = check_rules(rules_dir)
    assert [(Path(p.file).name, p.line) for p in problems] == [
        ("broken.yaml", 3),
        ("twice.yaml", 4),
    ]
    assert problems[0].message.startswith("not valid YAML")
    assert "appears twice" in problems[1].message


def test_yaml_1_2_scalars_keep_country_codes_and_times_as_text(rules_dir: Path) -> None:
    write(
        rules_dir,
        "countries.yaml",
        """\
        defaults:
          quiet_hours: {start: 21:00, end: 08:00}
        countries:
          NO: {time_zone: Europe/Oslo}
        """,
    )
    rule_set = load_rules(rules_dir)
    assert "NO" in rule_set.countries
    assert rule_set.defaults.quiet_hours is not None


def test_empty_files_directories_and_wrong_top_levels(tmp_path: Path) -> None:
    assert one(check_rules(tmp_path)).message.startswith("no rule files")
    write(tmp_path, "empty.yaml", "")
    write(tmp_path, "list.yaml", "- a\n- b\n")
    (tmp_path / "latin1.yaml").write_bytes(b"rules: [\xe9]\n")
    problems = check_rules(tmp_path)
    assert [Path(p.file).name for p in problems] == ["latin1.yaml", "list.yaml"]
    assert "not UTF-8" in problems[0].message
    assert "not a mapping" in problems[1].message
    with pytest.raises(FileNotFoundError):
        check_rules(tmp_path / "missing")


def test_a_rules_directory_without_route_for_its_alerts(tmp_path: Path) -> None:
    write(tmp_path, "kpi.yaml", "rules:\n  - {type: kpi_alert, name: n, kpi: nps}\n")
    problem = one(check_rules(tmp_path))
    assert (problem.file, problem.line, problem.path) == (str(tmp_path), None, "route")
    assert str(problem).startswith(f"{tmp_path}: route: there are kpi_alert rules but no route")


def test_a_copy_of_the_default_rules_with_one_mistake(tmp_path: Path) -> None:
    for path in RULES_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    routing = tmp_path / "routing.yaml"
    routing.write_text(routing.read_text().replace("receiver: logistics", "receiver: logistic"))
    problem = one(check_rules(tmp_path))
    assert problem.path == "route.routes[0].receiver"
    assert problem.hint == "did you mean 'logistics'?"
    assert routing.read_text().splitlines()[problem.line - 1 if problem.line else 0].strip() == (
        "receiver: logistic"
    )
