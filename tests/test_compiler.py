"""The compiler on whole scenarios: users, flows, load models, sources, templates, feeds, problems."""

from __future__ import annotations

import pytest

from tests.compile_helpers import FLOW, compile_text, problems, steps_of
from tests.compile_helpers import write_file as _hook
from yamlswarm import plan as p
from yamlswarm.errors import HookImportError, ScenarioError
from yamlswarm.templates import Template


def test_users_flows_defaults_and_waits(tmp_path):
    plan = compile_text(
        tmp_path,
        """
load: {users: 10}
users:
  - flows: [{steps: [{get: /a}]}, {name: buy, weight: 3, stop_on_failure: true, steps: [{get: /b}]}]
    wait: {between: [1s, 3s]}
  - name: admin
    count: 2
    wait: {pacing: 2s}
    on_start: [{get: /login}]
    on_stop: [{post: /logout}]
    flows: [{steps: [{get: /c}]}]
  - weight: 2.5
    wait: {throughput: 30/m}
    flows: [{steps: [{get: /d}]}]
  - wait: {constant: 500ms}
    flows: [{steps: [{get: /e}]}]
""",
    )
    first, admin, third, _ = plan.users
    assert (first.name, first.weight, first.count) == ("user1", 1.0, None)
    assert [(f.name, f.weight, f.stop_on_failure) for f in first.flows] == [
        ("flow1", 1.0, False),
        ("buy", 3.0, True),
    ]
    assert (admin.name, admin.weight, admin.count) == ("admin", None, 2)
    assert admin.on_start[0].url == "/login" and admin.on_stop[0].method == "POST"
    assert (third.name, third.weight) == ("user3", 2.5)
    assert [(u.wait.kind, u.wait.low, u.wait.high) for u in plan.users] == [
        ("between", 1.0, 3.0),
        ("pacing", 2.0, 0.0),
        ("throughput", 0.5, 0.0),
        ("constant", 0.5, 0.0),
    ]


def test_top_level_fields(tmp_path):
    plan = compile_text(
        tmp_path,
        """
host: http://127.0.0.1:8080
faker: {locale: de_DE}
defaults: {timeout: 5s, follow_redirects: false}
thresholds:
  - "p95 < 500ms"
  - {expr: "browse: error_rate < 1%", abort: true, after: 30s}
users:
  - flows:
      - name: browse  # a threshold's row must exist
        steps:
          - get: /
""",
    )
    assert plan.name == "scenario" and plan.file == str(tmp_path / "scenario.yaml")
    assert plan.host == "http://127.0.0.1:8080" and plan.faker_locale == "de_DE"
    assert plan.defaults == p.Defaults(timeout=5.0, follow_redirects=False, verify_tls=True)
    assert plan.users[0].flows[0].steps[0].follow_redirects is False
    first, second = plan.thresholds
    assert (first.metric, first.op, first.value, first.row, first.abort) == (
        "p95",
        "<",
        500,
        None,
        False,
    )
    assert (second.row, second.metric, second.value, second.abort, second.after) == (
        "browse",
        "error_rate",
        0.01,
        True,
        30.0,
    )
    assert second.expr == "browse: error_rate < 1%"


# ---------------------------------------------------------------- load models


@pytest.mark.parametrize(
    ("load", "expected", "cap"),
    [
        ("", p.ClosedLoad(1, 1.0, None), None),
        ("load: {users: 50, spawn_rate: 10, duration: 2m}", p.ClosedLoad(50, 10.0, 120.0), None),
        ("load: {users: 20, duration: 1m, iterations: 500}", p.ClosedLoad(20, 20.0, 60.0), 500),
        ("load: {iterations: 100, users: 4}", p.IterationsLoad(100, 4), None),
        ("load: {iterations: 100}", p.IterationsLoad(100, 1), None),
        (
            "load: {stages: [{duration: 30s, users: 10}, {duration: 1m, users: 50, spawn_rate: 5}]}",
            p.StagesLoad((p.Stage(30.0, 10), p.Stage(60.0, 50, 5.0))),
            None,
        ),
        (
            "load: {arrival: [{duration: 1m, rate: 10/s, ramp_to: 600/m}], max_users: 40}",
            p.ArrivalLoad((p.Phase(60.0, 10.0, 10.0),), 40),
            None,
        ),
        (
            "load: {arrival: [{duration: 10, rate: 5}], iterations: 9}",
            p.ArrivalLoad((p.Phase(10.0, 5.0),), 100),
            9,
        ),
    ],
)
def test_load_models(tmp_path, load, expected, cap):
    plan = compile_text(tmp_path, load + "\n" + FLOW + "          - get: /\n")
    got = plan.load
    assert type(got) is type(expected)
    assert {k: getattr(got, k) for k in got.__slots__ if k != "source"} == {
        k: getattr(expected, k) for k in expected.__slots__ if k != "source"
    }
    assert plan.iterations_cap == cap


@pytest.mark.parametrize(
    ("load", "path", "message"),
    [
        (
            "{stages: [{duration: 1s, users: 1}], users: 10}",
            "load.users",
            "exactly one load model: 'stages' cannot be combined with 'users'",
        ),
        (
            "{arrival: [{duration: 1s, rate: 1}], spawn_rate: 3}",
            "load.spawn_rate",
            "exactly one load model: 'arrival' cannot be combined with 'spawn_rate'",
        ),
        (
            "{users: 3, duration: 1m, max_users: 5}",
            "load.max_users",
            "exactly one load model: 'max_users' only applies to 'arrival'",
        ),
    ],
)
def test_two_load_models(tmp_path, load, path, message):
    assert problems(tmp_path, f"load: {load}\n" + FLOW + "          - get: /\n") == [
        (path, message)
    ]


def test_fixed_counts_must_fit_in_users(tmp_path):
    body = """
load: {users: 10, duration: 1m}
users:
  - {count: 8, flows: [{steps: [{get: /}]}]}
  - {count: 4, flows: [{steps: [{get: /}]}]}
"""
    assert problems(tmp_path, body) == [
        ("load.users", "fixed user counts add up to 12 but load.users is 10")
    ]
    fits = body.replace("count: 4", "weight: 1")
    assert compile_text(tmp_path, fits).users[0].count == 8


# ---------------------------------------------------------------- sources


def test_every_node_knows_its_source(tmp_path):
    plan = compile_text(
        tmp_path,
        """
users:
  - flows:
      - steps:
          - think: 1
          - get: /x
            check: {status: 200}
            extract: {a: {header: X}}
""",
    )
    think, get = plan.users[0].flows[0].steps
    assert think.source == p.Source(
        str(tmp_path / "scenario.yaml"), 6, 13, "users[0].flows[0].steps[0]"
    )
    assert (get.source.line, get.source.column) == (7, 13)
    assert get.checks.status.source.path == "users[0].flows[0].steps[1].check.status"
    assert (get.extract[0].source.line, get.extract[0].source.path) == (
        9,
        "users[0].flows[0].steps[1].extract.a",
    )
    assert plan.users[0].source.path == "users[0]" and plan.users[0].flows[0].source.line == 5


# ---------------------------------------------------------------- templates and folding


VARS = """
variables:
  api: /api/v1
  products: "{{ api }}/products"
  region: "{{ env.REGION }}"
host: "http://127.0.0.1:{{ env.PORT }}"
"""


def test_variables_fold_into_constants(tmp_path):
    steps = """
        - get: "{{ products }}"
          headers: {X-Region: "{{ region }}-{{ env.ZONE }}", X-Token: "{{ token }}"}
          json: {fixed: "{{ api }}", mixed: "{{ token }}", n: "{{ 2 + 3 }}"}
          extract: {token: {jmespath: t}}
        - get: "{{ api }}/products/{{ token }}"
    """
    env = {"REGION": "eu", "ZONE": "a", "PORT": "9000"}
    plan_steps = steps_of(tmp_path, steps, head=VARS, env=env)
    plan = compile_text(tmp_path, VARS + FLOW + "          - get: /\n", env=env)
    assert plan.variables == {"api": "/api/v1", "products": "/api/v1/products", "region": "eu"}
    assert plan.host == "http://127.0.0.1:9000"
    first, second = plan_steps
    assert first.url == "/api/v1/products" and first.name == "/api/v1/products"
    assert first.headers[0] == ("X-Region", "eu-a")
    assert isinstance(first.headers[1][1], Template)
    body = first.body.value
    assert isinstance(body, Template)
    assert body.render({"token": "T"}) == {"fixed": "/api/v1", "mixed": "T", "n": 5}
    assert isinstance(second.url, Template)
    assert second.name == "{{ api }}/products/{{ token }}"  # the URL as written


def test_validate_mode_keeps_templates(tmp_path):
    (step,) = steps_of(
        tmp_path, '- get: "{{ api }}/x"\n', head="variables: {api: /v1}\n", render_variables=False
    )
    assert isinstance(step.url, Template) and step.name == "{{ api }}/x"


def test_a_variable_a_user_may_reassign_is_not_folded(tmp_path):
    steps = steps_of(
        tmp_path,
        """
        - get: "{{ page }}"
        - set: {page: /next}
    """,
        head="variables: {page: /first}\n",
    )
    assert isinstance(steps[0].url, Template)


def test_env_falls_back_to_the_real_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("YS_H2_BASE", "/from-os")
    monkeypatch.setenv("YS_H2_OVER", "os")
    (step,) = steps_of(
        tmp_path, '- get: "{{ env.YS_H2_BASE }}/{{ env.YS_H2_OVER }}"\n', env={"YS_H2_OVER": "cli"}
    )
    assert step.url == "/from-os/cli"


def test_render_failures_and_missing_env_are_located(tmp_path, monkeypatch):
    monkeypatch.delenv("YS_H2_MISSING", raising=False)
    body = (
        """
variables:
  n: 0
  ratio: "{{ 1 / n }}"
  k: "{{ env.YS_H2_MISSING }}"
"""
        + FLOW
        + "          - get: /\n"
    )
    assert problems(tmp_path, body) == [
        ("variables.ratio", "cannot render template: division by zero"),
        (
            "variables.k",
            "environment variable 'YS_H2_MISSING' is not set (pass -e YS_H2_MISSING=VALUE)",
        ),
    ]
    assert compile_text(tmp_path, body, render_variables=False).variables["n"] == 0


def test_names_in_scope_are_accepted(tmp_path):
    _hook(tmp_path, "name\nx\n", "a.csv")
    steps = steps_of(
        tmp_path,
        """
        - log: "{{ user.id }} {{ user.name }} {{ iteration }} {{ faker.email() }}"
        - log: "{{ range(3) | list }} {{ dict(a=1) }} {{ later }} {{ item }} {{ data.acc.name }}"
        - loop: {count: 2, steps: [{set: {later: "{{ item }}"}}]}
    """,
        head="data: {acc: {csv: a.csv}}\n",
    )
    assert len(steps) == 3


# ---------------------------------------------------------------- data feeds


def test_csv_feeds(tmp_path):
    _hook(tmp_path, "username,password\nalice,secret\n\nbob,secret\n", "data/accounts.csv")
    _hook(tmp_path, "1,a\n2,b\n", "data/ids.csv")
    plan = compile_text(
        tmp_path,
        """
data:
  accounts: {csv: data/accounts.csv, order: unique, on_exhausted: stop_user}
  ids: {csv: data/ids.csv, fields: [id, code], per: iteration}
"""
        + FLOW
        + '          - get: "/{{ data.ids.code }}/{{ data.accounts.username }}"\n',
    )
    accounts, ids = plan.data
    assert accounts.columns == ("username", "password")
    assert accounts.rows == (("alice", "secret"), ("bob", "secret"))
    assert accounts.path == str(tmp_path / "data" / "accounts.csv")
    assert (accounts.order, accounts.per, accounts.on_exhausted) == ("unique", "user", "stop_user")
    assert ids.columns == ("id", "code") and ids.rows == (("1", "a"), ("2", "b"))
    assert (ids.order, ids.per, ids.on_exhausted) == ("sequential", "iteration", "recycle")


def test_csv_problems(tmp_path):
    _hook(tmp_path, "", "data/x.csv")
    _hook(tmp_path, "a,b\n1,2\n3\n", "data/short.csv")
    got = problems(
        tmp_path,
        """
data:
  missing: {csv: data/missing.csv}
  empty: {csv: data/x.csv}
  short: {csv: data/short.csv}
"""
        + FLOW
        + "          - get: /\n",
    )
    assert got == [
        ("data.missing.csv", "CSV file not found: data/missing.csv"),
        ("data.empty.csv", "CSV file data/x.csv is empty: it needs a header row or 'fields'"),
        ("data.short.csv", "CSV file data/short.csv line 3 has 1 columns, expected 2 (a, b)"),
    ]


# ---------------------------------------------------------------- semantic problems


_MISTAKES = """
hooks: hooks/shop.py
data: {accounts: {csv: data/accounts.csv}}
load: {users: 5, duration: 5mins}
users:
  - flows:
      - steps:
          - get: "/x/{{ tokn }}"
            check:
              jmespath: [{expr: "products[0.id", eq: 1}]
              body_matches: "a("
            extract:
              token: {jmespath: x}
              id: {regex: "id=\\\\d+", group: 1}
          - post: /y
            json:
              u: "{{ data.acounts.username }}"
              p: "{{ data.accounts.usr }}"
              q: "{{ x }"
              r: "{{ zzz }}"
          - call: record_ordr
          - think: {between: [3s, 1s]}
thresholds: ["p95 <", "rps < 5ms"]
"""
_MISTAKES_FOUND = [
    (
        "load.duration",
        "'5mins' is not a duration such as 500ms, 30s, 5m, 1h, 1m30s or a number of seconds",
    ),
    (
        "users[0].flows[0].steps[0].get",
        "undefined name 'tokn' in template (did you mean 'token'?)",
    ),
    (
        "users[0].flows[0].steps[0].check.jmespath[0].expr",
        (
            "invalid JMESPath expression 'products[0.id': Expecting: rbracket, got: dot: "
            'Parse error at column 10, token "." (DOT)'
        ),
    ),
    (
        "users[0].flows[0].steps[0].check.body_matches",
        "invalid regular expression 'a(': missing ) at position 2",
    ),
    (
        "users[0].flows[0].steps[0].extract.id.group",
        "regex 'id=\\\\d+' has no group 1 (it has 0)",
    ),
    ("users[0].flows[0].steps[1].json.u", "unknown data feed 'acounts' (declared: accounts)"),
    (
        "users[0].flows[0].steps[1].json.p",
        "data feed 'accounts' has no column 'usr' (columns: username, password)",
    ),
    ("users[0].flows[0].steps[1].json.q", "template '{{ x }' does not compile: unexpected '}'"),
    ("users[0].flows[0].steps[1].json.r", "undefined name 'zzz' in template"),
    (
        "users[0].flows[0].steps[2].call",
        "hook function 'record_ordr' not found in hooks/shop.py (did you mean 'record_order'?)",
    ),
    ("users[0].flows[0].steps[3].think.between", "'between' needs low <= high, got 3s > 1s"),
    (
        "thresholds[0]",
        "cannot parse threshold 'p95 <': expected [ROW:] METRIC OP VALUE, e.g. 'p95 < 500ms'",
    ),
    ("thresholds[1]", "'ms' does not apply to rps"),
]


def test_every_semantic_problem_is_collected_at_once(tmp_path):
    _hook(tmp_path, "username,password\na,b\n", "data/accounts.csv")
    _hook(tmp_path, "def record_order(user):\n    pass\n", "hooks/shop.py")
    assert problems(tmp_path, _MISTAKES) == _MISTAKES_FOUND


def test_problem_lines_point_at_the_value(tmp_path):
    with pytest.raises(ScenarioError) as info:
        compile_text(tmp_path, FLOW + '          - get: "{{ tokn }}"\n')
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (5, 18)
    assert problem.source_line.strip() == '- get: "{{ tokn }}"'


def test_call_without_hooks_and_template_functions(tmp_path):
    assert problems(tmp_path, FLOW + "          - call: fn\n") == [
        (
            "users[0].flows[0].steps[0].call",
            "hook function 'fn' not found: the scenario declares no 'hooks'",
        )
    ]
    _hook(tmp_path, "def template_functions():\n    return {'sign': str.upper}\n", "tf.py")
    (step,) = steps_of(tmp_path, "- get: \"/{{ sign('x') }}\"\n", head="hooks: tf.py\n")
    assert isinstance(step.url, Template)


def test_hook_import_failure_modes(tmp_path):
    _hook(tmp_path, "x = 1 / 0\n", "hooks/broken.py")
    body = (
        "hooks: hooks/broken.py\n"
        + FLOW
        + '          - call: anything\n          - log: "{{ fn() }}"\n'
    )
    assert problems(tmp_path, body) == [
        (
            "hooks",
            "hook module 'hooks/broken.py' failed to import: ZeroDivisionError: division by zero",
        )
    ]
    with pytest.raises(HookImportError) as info:
        compile_text(tmp_path, body, hooks="raise")
    assert str(info.value) == "hook module 'hooks/broken.py' failed to import"
    assert "x = 1 / 0" in info.value.details
    plan = compile_text(tmp_path, body, hooks="skip")
    assert plan.hooks == (str(tmp_path / "hooks" / "broken.py"),)


def test_skip_mode_does_not_import(tmp_path):
    marker = tmp_path / "ran"
    _hook(tmp_path, f"open({str(marker)!r}, 'w').close()\n", "h.py")
    compile_text(
        tmp_path, "hooks: [h.py, some.dotted.name]\n" + FLOW + "          - call: x\n", hooks="skip"
    )
    assert not marker.exists()


def test_undefined_names_in_variables_see_only_earlier_ones(tmp_path):
    body = 'variables: {a: "{{ b }}", b: "1"}\n' + FLOW + "          - get: /\n"
    assert problems(tmp_path, body, render_variables=False) == [
        ("variables.a", "undefined name 'b' in template")
    ]
