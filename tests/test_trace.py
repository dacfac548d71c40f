"""Tests of yamlswarm.report.trace: what `--trace` prints for each exchange."""

from __future__ import annotations

import io
from types import SimpleNamespace

from yamlswarm.plan import Extract, RequestStep
from yamlswarm.report.trace import TracePrinter, mask_header
from yamlswarm.runtime.http.response import Headers, Response


class TtyBuffer(io.StringIO):
    def isatty(self) -> bool:
        return True


def _user(**variables) -> SimpleNamespace:
    return SimpleNamespace(id=3, iteration=2, vars=dict(variables))


def _response(**extra) -> Response:
    values = {
        "method": "POST",
        "url": "http://127.0.0.1:8080/login",
        "status": 200,
        "headers": Headers(
            [
                ("Content-Type", "application/json"),
                ("Set-Cookie", "session=s3cr3t; Path=/; HttpOnly"),
                ("X-Request-Id", "abc-123"),
            ]
        ),
        "body": b'{"token": "eyJhbGciOi", "user": {"id": 7}}',
        "elapsed": 0.01234,
    }
    return Response(**{**values, **extra})


def _step() -> RequestStep:
    return RequestStep(
        "POST",
        "/login",
        extract=(Extract("token", "jmespath", "token"), Extract("user_id", "jmespath", "user.id")),
    )


def test_prints_the_exchange_with_secrets_masked():
    out = io.StringIO()
    TracePrinter(out)(_user(token="eyJhbGciOi"), _step(), _response(), None)
    assert out.getvalue() == (
        "POST http://127.0.0.1:8080/login -> 200 OK  12.3 ms  [user 3, iteration 2]\n"
        "  < Content-Type: application/json\n"
        "  < Set-Cookie: session=****; Path=/; HttpOnly\n"
        "  < X-Request-Id: abc-123\n"
        '  body (42 bytes): {"token": "eyJhbGciOi", "user": {"id": 7}}\n'
        "  extracted:\n"
        "    token = 'eyJhbGciOi'\n"
        "    user_id = (not set)\n"
        "  check: ok\n\n"
    )


def test_mask_false_shows_secrets_and_failed_checks_are_shown():
    out = io.StringIO()
    response = _response(status=500, body=b"")
    TracePrinter(out, mask=False)(
        _user(), RequestStep("GET", "/"), response, "check failed: status 200"
    )
    text = out.getvalue()
    assert "-> 500 Internal Server Error" in text
    assert "Set-Cookie: session=s3cr3t; Path=/; HttpOnly" in text
    assert "body" not in text and "extracted" not in text
    assert text.endswith("  check: FAILED: check failed: status 200\n\n")


def test_no_response_prints_the_error():
    out = io.StringIO()
    response = Response("GET", "http://127.0.0.1:9/", error="ConnectionRefused", elapsed=0.0005)
    TracePrinter(out)(_user(), RequestStep("GET", "/"), response, "ConnectionRefused")
    first = out.getvalue().splitlines()[0]
    assert (
        first
        == "GET http://127.0.0.1:9/ -> error: ConnectionRefused  0.5 ms  [user 3, iteration 2]"
    )


def test_body_head_is_cut_at_500_bytes_and_binary_is_not_printed():
    out = io.StringIO()
    body = ("line one\n" + "x" * 600).encode()
    TracePrinter(out)(_user(), RequestStep("GET", "/"), _response(body=body, truncated=True), None)
    lines = out.getvalue().splitlines()
    body_at = next(i for i, line in enumerate(lines) if line.startswith("  body"))
    assert lines[body_at] == "  body (609+ bytes): line one"
    assert lines[body_at + 1] == "    " + "x" * 491 + " ... (109+ more bytes)"
    out = io.StringIO()
    TracePrinter(out)(_user(), RequestStep("GET", "/"), _response(body=b"\x89PNG\x00\x01"), None)
    assert "  body: <binary, 6 bytes>" in out.getvalue()


def test_colour_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    plain, tty = io.StringIO(), TtyBuffer()
    for out in (plain, tty):
        TracePrinter(out)(_user(), RequestStep("GET", "/"), _response(status=404), "HTTP 404")
    assert "\x1b[" not in plain.getvalue()
    assert "\x1b[31m404 Not Found\x1b[0m" in tty.getvalue()
    assert "\x1b[31mFAILED: HTTP 404\x1b[0m" in tty.getvalue()


def test_mask_header_rules():
    assert mask_header("Authorization", "Bearer abc.def") == "Bearer ****"
    assert mask_header("proxy-authorization", "Basic dXNlcjpwYXNz") == "Basic ****"
    assert mask_header("Authorization", "rawtoken") == "****"
    assert mask_header("Cookie", "a=1; session=xyz") == "a=****; session=****"
    assert mask_header("Set-Cookie", "id=42; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure") == (
        "id=****; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure"
    )
    assert mask_header("X-Api-Version", "v=2") == "v=2"


def test_sent_headers_are_shown_before_the_received_ones_and_masked():
    response = _response()
    response.sent_headers = [("Authorization", "Bearer eyJ.secret"), ("X-Signature", "ab12")]
    out = io.StringIO()
    TracePrinter(out)(_user(), _step(), response, None)
    lines = out.getvalue().splitlines()
    assert lines[1:3] == ["  > Authorization: Bearer ****", "  > X-Signature: ab12"]
    assert lines[3].startswith("  < Content-Type")
    assert "eyJ.secret" not in out.getvalue()


def test_no_colour_with_no_color_or_a_dumb_terminal(monkeypatch):
    for name, value in (("NO_COLOR", "1"), ("TERM", "dumb")):
        monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.setenv("TERM", "xterm")
        monkeypatch.setenv(name, value)
        tty = TtyBuffer()
        TracePrinter(tty)(_user(), RequestStep("GET", "/"), _response(status=404), "HTTP 404")
        assert "\x1b" not in tty.getvalue(), name
        assert "404 Not Found" in tty.getvalue()
    tty = TtyBuffer()
    TracePrinter(tty, colour=False)(_user(), RequestStep("GET", "/"), _response(), None)
    assert "\x1b" not in tty.getvalue()
