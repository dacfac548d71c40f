"""The transport seam: prepared and rendered requests, the real Session against the fake.

A constant request step sends one `Request` prepared at build time (its head encoded
once); a templated one renders a new `Request` each time. The equivalence test pins
both paths of the real `Session` together on a real loopback server.
"""

from __future__ import annotations

import pytest

from tests.fakes import FakeRun, plan_from_yaml, respond
from tests.servers import CountingServer, closed_port
from yamlswarm.runtime.http.message import parse_origin
from yamlswarm.runtime.http.session import Session, session_factory
from yamlswarm.runtime.http.transport import Request


def test_prepared_and_rendered_requests_arrive_the_same():
    with CountingServer() as server:
        base = parse_origin(server.url)
        headers = [("Content-Type", "application/json"), ("X-Test", "yes")]
        prepared = Request.prepared(
            "POST",
            "/echo?a=1",
            headers,
            b'{"n":5}',
            base,
            timeout=5.0,
            keep=1 << 20,
            verify_tls=True,
        )
        assert prepared.head is not None and prepared.url == f"{server.url}/echo?a=1"
        rendered = Request("POST", "/echo?a=1", headers, b'{"n":5}', timeout=5.0)
        session = Session(base)
        first, second = session.send(prepared), session.send(rendered)
        assert first.status == second.status == 200
        assert first.json() == second.json()
        seen = list(server.requests)[-2:]
        assert seen[0] == seen[1]
        assert seen[0].header("X-Test") == "yes" and seen[0].body == b'{"n":5}'


def test_a_transport_failure_is_an_error_name_never_an_exception():
    session = session_factory(parse_origin(f"http://127.0.0.1:{closed_port()}"))()
    response = session.send(Request("GET", "/", timeout=2.0))
    assert response.status == 0 and response.error == "ConnectionRefused"
    session.close()
    assert Session(None).send(Request("GET", "/no-host")).error == "InvalidURL"


def test_a_prepared_request_needs_a_host_for_a_relative_url():
    with pytest.raises(ValueError):
        Request.prepared("GET", "/x", [], b"", None, timeout=1.0, keep=0, verify_tls=True)


def test_constant_steps_send_a_prepared_request_templated_ones_a_rendered_one(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {iterations: 2, users: 1}
        defaults: {headers: {Accept: application/json}}
        users:
          - name: u
            flows:
              - name: f
                steps:
                  - post: /orders
                    json: {qty: 1}
                  - get: "/users/{{ user.id }}/{{ iteration }}"
        """,
    )
    run = FakeRun(plan)
    run.run()
    constant, templated = run.sent[0], run.sent[1]
    assert constant.head is not None and constant.head.startswith(b"POST /orders HTTP/1.1\r\n")
    assert (constant.method, constant.url, constant.body) == (
        "POST",
        "http://fake.test/orders",
        b'{"qty":1}',
    )
    assert ("Content-Type", "application/json") in constant.headers
    assert run.sent[2] is constant  # built once, sent every iteration
    assert templated.head is None and templated.url == "/users/1/1"
    assert run.sent[3].url == "/users/1/2"
    assert dict(templated.headers)["Accept"] == "application/json"


def test_redirects_are_the_transports_to_follow(tmp_path):
    """A step asks its transport to follow redirects (the real session does, one policy for
    steps and user.request: tests/test_conformance_http.py); a fake returns the 303 as is."""
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {iterations: 1, users: 1}
        users:
          - name: u
            flows: [{name: f, steps: [{post: /form, body: x}]}]
        """,
    )
    run = FakeRun(plan)

    def handler(request):
        return respond(request, 303, b"", [("Location", "/done")])

    run._handler = handler
    run.run()
    assert [(r.method, r.url, r.follow_redirects) for r in run.sent] == [
        ("POST", "http://fake.test/form", True),
    ]


def test_trace_sees_the_url_and_the_headers_sent(tmp_path):
    plan = plan_from_yaml(
        tmp_path,
        """
        load: {iterations: 1, users: 1}
        users:
          - name: u
            flows: [{name: f, steps: [{get: /a, headers: {X-A: "1"}}, {get: "/b/{{ user.id }}"}]}]
        """,
    )
    traced = []
    run = FakeRun(plan, trace=lambda user, step, response, error: traced.append(response))
    run.run()
    assert [r.url for r in traced] == ["http://fake.test/a", "/b/1"]
    assert ("X-A", "1") in traced[0].sent_headers
    assert any(name == "User-Agent" for name, _ in traced[0].sent_headers)  # from the head
    assert traced[1].sent_headers == []
