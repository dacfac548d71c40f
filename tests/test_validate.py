"""Schema validation messages (located, precise, all at once) and the `validate` command."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from yamlswarm.errors import Problem, ScenarioError
from yamlswarm.scenario.loader import loads
from yamlswarm.scenario.validate import check_document, schema_problems, validate_files

VALID = """\
version: 1
host: http://127.0.0.1:8080
load: {users: 2, duration: 10s}
users:
  - name: shopper
    wait: {between: [1s, 2s]}
    flows:
      - steps:
          - get: /api/v1/products
            check: {status: 200}
            extract:
              product_id: {jmespath: "products[0].id"}
          - get: "/api/v1/products/{{ product_id }}"
"""


def _problems(text: str) -> list[Problem]:
    return schema_problems(loads(textwrap.dedent(text), "s.yaml"))


def _messages(text: str) -> list[str]:
    return [f"{p.line}:{p.column}: {p.dotted_path}: {p.message}" for p in _problems(text)]


def _step(body: str) -> str:
    """A scenario whose only step is `body` (a YAML mapping written at column 0)."""
    lines = textwrap.indent(textwrap.dedent(body).strip(), " " * 12).lstrip()
    return f"version: 1\nusers:\n  - flows:\n      - steps:\n          - {lines}\n"


def test_valid_scenario_has_no_problems() -> None:
    assert _problems(VALID) == []


def test_unknown_key_points_at_the_key_with_a_suggestion() -> None:
    text = VALID.replace("wait: {between:", "wait: {betwen:")
    assert _messages(text) == [
        "6:12: users[0].wait.betwen: 'betwen' is not a known key (did you mean 'between'?)"
    ]


def test_unknown_key_without_a_close_match_lists_the_known_keys() -> None:
    text = VALID.replace("load: {", "load: {zzz: 1, ")
    assert _messages(text) == [
        (
            "3:8: load.zzz: 'zzz' is not a known key (known keys: users, spawn_rate, duration,"
            " stages, arrival, max_users, iterations)"
        )
    ]


def test_unknown_key_in_a_request_step_suggests_among_its_own_keys() -> None:
    [problem] = _problems(_step("get: /x\nqeury: {a: 1}"))
    assert problem.message == "'qeury' is not a known key (did you mean 'query'?)"
    [problem] = _problems(_step("get: /x\nzzz: 1"))
    assert "known keys: get, name, headers" in problem.message
    assert "post" not in problem.message  # other methods are not keys of a GET step


def test_missing_required_key_is_located_at_the_mapping() -> None:
    [problem] = _problems("version: 1\nusers:\n  - name: a\n    weight: 1\n")
    assert (problem.line, problem.column, problem.path) == (3, 5, ("users", 0))
    assert problem.message == "missing required key 'flows'"


def test_missing_top_level_keys() -> None:
    assert [p.message for p in _problems("name: x\n")] == [
        "missing required key 'users'",
        "missing required key 'version'",
    ]


def test_wrong_types_say_what_was_expected_and_what_came() -> None:
    messages = _messages("""\
        version: 1
        load: {users: ten, duration: [1s]}
        users:
          - flows: 3
        """)
    assert messages == [
        "2:15: load.users: expected an integer (got 'ten')",
        (
            "2:30: load.duration: expected a duration such as 500ms, 30s, 5m, 1h, 1m30s"
            " or a number of seconds (got a list)"
        ),
        "4:12: users[0].flows: expected a list (got 3)",
    ]


def test_bad_status_values() -> None:
    for status in ("2xy", "[200, 2xy]", "600", "true"):
        [problem] = _problems(_step(f"get: /x\ncheck: {{status: {status}}}"))
        assert problem.message.endswith(
            "is not a valid status: use a code (200), a list of codes, or a class like '2xx'"
        )


def test_durations_and_rates() -> None:
    messages = [
        p.message
        for p in _problems(
            "version: 1\nload: {duration: 5mins, spawn_rate: fast}\nusers: [{flows: [{steps: [{think: -1}]}]}]\n"
        )
    ]
    assert messages == [
        "'5mins' is not a duration such as 500ms, 30s, 5m, 1h, 1m30s or a number of seconds",
        "'fast' is not a rate such as 10/s, 600/m, 1/h or a number per second",
        "-1 is negative; expected a duration such as 500ms, 30s, 5m, 1h, 1m30s or a number of seconds",
    ]


def test_step_without_a_kind_key_suggests_the_closest_kind() -> None:
    [problem] = _problems(_step("gett: /x"))
    assert problem.message == (
        "a step needs exactly one of get, post, put, patch, delete, head, options, request,"
        " think, loop, if, group, set, call, log, set_header, unset_header, choose, use, stop,"
        " parallel, websocket, metric (found: gett; did you mean 'get'?)"
    )


def test_step_with_two_kind_keys_gives_one_message_not_branch_noise() -> None:
    [problem] = _problems(_step("get: /x\npost: /y\nthen: []"))
    assert problem.message.endswith("(found: get, post)")


def test_step_that_is_not_a_mapping() -> None:
    [problem] = _problems(_step('"get /x"'))
    assert problem.message == "expected a step (a mapping such as {get: /path}) (got 'get /x')"


def test_exactly_one_of_in_wait_extract_loop_and_jmespath_checks() -> None:
    text = """\
        version: 1
        users:
          - wait: {constant: 1s, pacing: 2s}
            flows:
              - steps:
                  - get: /x
                    check: {jmespath: [{expr: a}]}
                    extract: {v: {jmespath: a, regex: b}}
                  - loop: {steps: [{log: hi}]}
        """
    assert [p.message for p in _problems(text)] == [
        "a wait needs exactly one of between, constant, pacing, throughput (found: constant, pacing)",
        (
            "a JMESPath check needs exactly one of eq, ne, gt, ge, lt, le, in, contains, matches,"
            " exists (found: none)"
        ),
        (
            "an extractor needs exactly one of jmespath, regex, header, cookie, status"
            " (found: jmespath, regex)"
        ),
        "a loop needs exactly one of count, over, while (found: none)",
    ]


def test_no_one_of_noise_ever_reaches_the_user() -> None:
    text = _step("think: {between: [1s]}\n") + "thresholds: [{expr: 1}, 5]\n"
    for problem in _problems(text) + _problems(_step("request: {method: get}")):
        assert "valid under" not in problem.message
        assert "is not of type" not in problem.message


def test_conflicting_keys_are_reported_once_at_the_later_key() -> None:
    problems = _problems(_step("post: /x\njson: {a: 1}\nbody: raw"))
    assert [(p.line, p.path[-1], p.message) for p in problems] == [
        (
            7,
            "body",
            (
                "'body' cannot be combined with 'json'"
                " (a request has one body: json, body, form or files)"
            ),
        )
    ]
    text = "version: 1\nusers:\n  - weight: 2\n    count: 1\n    flows: [{steps: [{log: x}]}]\n"
    assert [p.message for p in _problems(text)] == ["'count' cannot be combined with 'weight'"]


def test_enum_const_names_and_dependencies() -> None:
    text = """\
        version: 2
        data:
          bad-name: {csv: a.csv, order: uniq}
        users:
          - flows:
              - steps:
                  - request: {method: fetch, url: /x}
                    extract: {v: {header: h, group: 1}}
        """
    assert [p.message for p in _problems(text)] == [
        "unsupported version 2: this yamlswarm reads version 1",
        "'bad-name' is not a valid name: use letters, digits and _ (not starting with a digit)",
        "'uniq' is not one of sequential, random, unique (did you mean 'unique'?)",
        "'fetch' is not an HTTP method: use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
        "'extract' belongs inside 'request': the long form keeps every setting there",
    ]
    step = _step("get: /x\nextract: {v: {header: h, group: 1}}")
    assert [p.message for p in _problems(step)] == ["'group' only applies together with 'regex'"]


def test_keys_that_yaml_reads_as_booleans_are_reported() -> None:
    [problem] = _problems(_step("get: /x\nquery: {on: sale}"))
    assert problem.message == "a key must be text, but this one reads as true: quote it"
    assert (problem.line, problem.column) == (6, 21)


def test_empty_document() -> None:
    [problem] = _problems("# nothing\n")
    assert "the file is empty" in problem.message


def test_all_errors_are_collected_and_sorted() -> None:
    text = VALID.replace("users: 2", "users: 0").replace("status: 200", "status: 2xy")
    text = text.replace("between", "betwen").replace("product_id:", "product-id:")
    problems = _problems(text)
    assert len(problems) == 4
    assert problems == sorted(problems, key=Problem.sort_key)


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    body = "log: deep"
    for _ in range(60):
        body = "loop: {count: 1, steps: [{" + body + "}]}"
    for problem in _problems(_step(body)):
        assert problem.line >= 1


def test_check_document_raises_scenario_error() -> None:
    check_document(loads(VALID, "ok.yaml"))
    with pytest.raises(ScenarioError) as info:
        check_document(loads("version: 1\n", "bad.yaml"))
    assert [p.message for p in info.value.problems] == ["missing required key 'users'"]


def test_validate_files_reports_every_file_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("version: 1\nusers: []\nhots: x\n")
    (tmp_path / "a.yaml").write_text("version: 1\nusers:\n  - {}\n")
    problems = validate_files([tmp_path / "b.yaml", tmp_path / "a.yaml", tmp_path / "gone.yaml"])
    assert [(Path(p.file).name, p.message) for p in problems] == [
        ("a.yaml", "missing required key 'flows'"),
        ("b.yaml", "expected a list of at least 1 item(s) (got an empty list)"),
        ("b.yaml", "'hots' is not a known key (did you mean 'host'?)"),
        ("gone.yaml", "file not found"),
    ]


# ---------------------------------------------------------------- the CLI


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yamlswarm", "validate", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ok.yaml").write_text(VALID)
    (tmp_path / "bad1.yaml").write_text(VALID.replace("between", "betwen"))
    (tmp_path / "bad2.yaml").write_text(
        VALID.replace("status: 200", "status: 2xy").replace("users: 2", "users: two")
    )
    return tmp_path


def test_cli_valid_file_exits_0(files: Path) -> None:
    result = _cli("ok.yaml", cwd=files)
    assert (result.returncode, result.stdout.strip()) == (0, "1 file valid"), result.stderr


def test_cli_invalid_file_exits_2_without_traceback(files: Path) -> None:
    result = _cli("bad1.yaml", cwd=files)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "bad1.yaml:6:12: users[0].wait.betwen: 'betwen' is not a known key (did you mean 'between'?)",
        "        wait: {betwen: [1s, 2s]}",
        "               ^",
        "1 error in 1 file",
    ]


def test_cli_reports_every_error_of_several_files(files: Path) -> None:
    result = _cli("bad2.yaml", "ok.yaml", "bad1.yaml", cwd=files)
    assert result.returncode == 2
    heads = [line for line in result.stderr.splitlines() if line.startswith("bad")]
    assert [h.split(":")[0] for h in heads] == ["bad1.yaml", "bad2.yaml", "bad2.yaml"]
    assert result.stderr.rstrip().endswith("3 errors in 2 files")


def test_cli_json_format(files: Path) -> None:
    result = _cli("--format", "json", "bad1.yaml", "ok.yaml", cwd=files)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["files"] == 2
    assert report["errors"] == [
        {
            "file": "bad1.yaml",
            "line": 6,
            "column": 12,
            "path": "users[0].wait.betwen",
            "message": "'betwen' is not a known key (did you mean 'between'?)",
        }
    ]
    ok = _cli("--format", "json", "ok.yaml", cwd=files)
    assert ok.returncode == 0 and json.loads(ok.stdout) == {"valid": True, "files": 1, "errors": []}


def test_cli_missing_file_and_yaml_error(files: Path) -> None:
    (files / "broken.yaml").write_text("version: 1\nusers: [\n")
    result = _cli("nope.yaml", "broken.yaml", cwd=files)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nope.yaml: file not found" in result.stderr
    assert "broken.yaml:3:1: YAML syntax error" in result.stderr
