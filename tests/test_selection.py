"""-T/--tags, -E/--exclude-tags and --user-type: which flows and user types run."""

from __future__ import annotations

import pytest

from tests.cli_helpers import run_json, write_scenario, yamlswarm
from tests.servers import CountingServer
from yamlswarm import plan as p
from yamlswarm.errors import UsageError
from yamlswarm.selection import Selection, select

TAGGED = """
version: 1
name: tagged
load: {iterations: 40, users: 2}
users:
  - name: shopper
    tags: [web]
    flows:
      - name: browse
        tags: [smoke]
        steps: [{get: /browse}]
      - name: checkout
        tags: [checkout, slow]
        steps: [{get: /checkout}]
  - name: admin
    flows:
      - name: report
        tags: [smoke]
        steps: [{get: /report}]
      - name: untagged
        steps: [{get: /untagged}]
"""

PATHS = ("/browse", "/checkout", "/report", "/untagged")


def _ran(tmp_path, *args):
    with CountingServer() as server:
        run, result = run_json(tmp_path, TAGGED, server.url, "--seed", "1", *args)
        assert run.returncode == 0, run.stderr
        counts = {path: server.count(path) for path in PATHS}
    assert result is not None
    return {path for path, n in counts.items() if n}, result, run


@pytest.mark.parametrize(
    ("args", "paths"),
    [
        (("-T", "smoke"), {"/browse", "/report"}),
        (("-T", "checkout,smoke"), {"/browse", "/checkout", "/report"}),
        (("-T", "checkout", "-T", "smoke"), {"/browse", "/checkout", "/report"}),
        (("-T", "web"), {"/browse", "/checkout"}),  # a user type's tags are its flows'
        (("-E", "slow"), {"/browse", "/report", "/untagged"}),
        (("-E", "web"), {"/report", "/untagged"}),
        (("-T", "smoke", "-E", "web"), {"/report"}),
        (("--user-type", "admin"), {"/report", "/untagged"}),
        (
            ("--user-type", "admin", "--user-type", "shopper", "-E", "smoke"),
            {"/checkout", "/untagged"},
        ),
    ],
)
def test_only_the_selected_flows_send_requests(tmp_path, args, paths):
    sent, result, _ = _ran(tmp_path, *args)
    assert sent == paths
    assert result["totals"]["requests"] == 40


def test_the_selection_is_in_the_banner_and_the_result(tmp_path):
    sent, result, run = _ran(tmp_path, "-T", "smoke", "-E", "web", "--user-type", "admin")
    assert sent == {"/report"}
    assert result["selection"] == {
        "tags": ["smoke"],
        "exclude_tags": ["web"],
        "user_types": ["admin"],
    }
    assert "selection: tags smoke; not web; user types admin" in run.stdout


def test_no_selection_no_key(tmp_path):
    sent, result, _ = _ran(tmp_path)
    assert sent == set(PATHS) and "selection" not in result


def test_from_the_environment(tmp_path):
    with CountingServer() as server:
        env = {"YAMLSWARM_TAGS": "checkout", "YAMLSWARM_USER_TYPE": "shopper"}
        run, _ = run_json(tmp_path, TAGGED, server.url, env=env)
        assert run.returncode == 0, run.stderr
        assert server.count("/checkout") == 40 and server.count("/browse") == 0


def test_workers_run_the_selection_too(tmp_path):
    sent, result, run = _ran(tmp_path, "--processes", "2", "-T", "smoke", "-E", "web")
    assert sent == {"/report"}
    assert result["selection"]["tags"] == ["smoke"]
    assert "selection: tags smoke; not web" in run.stdout  # the master's banner too


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-T", "smok"), "--tags: the scenario has no tag 'smok' (did you mean 'smoke'?)"),
        (
            ("-E", "nope"),
            "--exclude-tags: the scenario has no tag 'nope'; its tags: checkout, slow, smoke, web",
        ),
        (
            ("--user-type", "admn"),
            "--user-type: the scenario has no user type 'admn' (did you mean 'admin'?)",
        ),
        (("-T", "checkout", "--user-type", "admin"), "leaves no flow to run"),
        (("-E", "smoke,web", "--user-type", "shopper"), "leaves no flow to run"),
        (("-T", ","), "names nothing"),
    ],
)
def test_usage_errors(tmp_path, args, message):
    scenario = write_scenario(tmp_path, TAGGED)
    run = yamlswarm("run", scenario, "-H", "http://127.0.0.1:1", *args)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_bad_tags_in_the_scenario_are_located(tmp_path):
    scenario = write_scenario(
        tmp_path, TAGGED.replace("tags: [web]", "tags: web").replace("[smoke]", "[a b]", 1)
    )
    run = yamlswarm("validate", scenario)
    assert run.returncode == 2
    assert "scenario.yaml:6:" in run.stderr and "users[0].tags" in run.stderr
    assert "users[0].flows[0].tags[0]" in run.stderr


def _plan(*users: p.UserType) -> p.Plan:
    return p.Plan("x", "x.yaml", "http://h", p.IterationsLoad(1, 1), users=users)


def _flow(name: str, *tags: str) -> p.Flow:
    return p.Flow(name, 1.0, (), tags=tags)


def test_select_without_a_selection_is_the_same_plan():
    plan = _plan(p.UserType("u", (_flow("a", "x"),)))
    assert select(plan, Selection()) is plan


def test_select_drops_user_types_left_without_flows():
    plan = _plan(
        p.UserType("u", (_flow("a", "x"), _flow("b"))),
        p.UserType("v", (_flow("c"),), tags=("y",)),
    )
    picked = select(plan, Selection.of(["x", "y"], ["y"], []))
    assert [(u.name, [f.name for f in u.flows]) for u in picked.users] == [("u", ["a"])]
    with pytest.raises(UsageError, match="leaves no flow"):
        select(plan, Selection(tags=("x",), exclude_tags=("x",)))


def test_a_scenario_without_tags_says_so():
    plan = _plan(p.UserType("u", (_flow("a"),)))
    with pytest.raises(UsageError, match="no tag 'x'; it has no tags"):
        select(plan, Selection(tags=("x",)))


def test_the_selection_goes_over_the_wire():
    import msgpack

    from yamlswarm.distributed.split import settings_from_wire, settings_to_wire
    from yamlswarm.settings import RunSettings

    settings = RunSettings(tags=("a", "b"), exclude_tags=("c",), user_types=("u",))
    back = settings_from_wire(msgpack.unpackb(msgpack.packb(settings_to_wire(settings))))
    assert back.selection == settings.selection and back.tags == ("a", "b")


def test_selection_of_drops_repeats_and_describes_itself():
    selection = Selection.of(["a", "b", "a"], ["c"], ["u", "u"])
    assert selection == Selection(("a", "b"), ("c",), ("u",))
    assert selection.describe() == "tags a, b; not c; user types u"
    assert not Selection() and Selection().describe() == ""


def test_the_result_keeps_the_selection():
    from yamlswarm.result import RunResult

    result = RunResult("0.1.0", "x", "2026-01-01T00:00:00Z", 1.0, {"kind": "iterations"})
    assert "selection" not in result.to_dict()
    result.selection = Selection(("a",), (), ("u",)).to_dict()
    back = RunResult.from_dict(result.to_dict())
    assert back.selection == {"tags": ["a"], "exclude_tags": [], "user_types": ["u"]}
