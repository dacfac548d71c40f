"""Request features as the server receives them: query, form, files, basic auth, headers, TLS."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.cli_helpers import run_json
from tests.servers import CountingServer


def test_query_form_files_auth_and_headers_arrive_as_written(tmp_path):
    (tmp_path / "report.txt").write_text("file body\n")
    with CountingServer() as server:
        run, result = run_json(
            tmp_path,
            """
            version: 1
            defaults:
              headers: {Accept: application/json, X-Default: d}
            load: {iterations: 1, users: 1}
            users:
              - flows:
                  - steps:
                      - get: /echo
                        name: query
                        query: {q: "a b", ids: [1, 2], n: "{{ 3 }}"}
                        headers: {x-default: overridden}
                      - post: /echo
                        name: form
                        form: {user: "ann", note: "x&y"}
                      - put: /echo
                        name: files
                        files:
                          upload: report.txt
                      - request:
                          method: patch
                          url: /echo
                          name: auth
                          auth: {basic: [ann, "s3cret"]}
                          body: raw text
                      - delete: /echo
                        name: delete
                      - options: /echo
                        name: options
        """,
            server.url,
        )
        requests = {r.method: r for r in server.requests}
    assert run.returncode == 0, run.stderr
    assert result["totals"]["failures"] == 0, result["errors"]
    get = requests["GET"]
    assert get.query == {"q": ["a b"], "ids": ["1", "2"], "n": ["3"]}
    assert get.header("X-Default") == "overridden" and get.header("Accept") == "application/json"
    form = requests["POST"]
    assert form.header("Content-Type") == "application/x-www-form-urlencoded"
    assert form.body == b"user=ann&note=x%26y"
    upload = requests["PUT"]
    assert upload.header("Content-Type").startswith("multipart/form-data; boundary=")
    assert b'name="upload"; filename="report.txt"' in upload.body and b"file body" in upload.body
    patch = requests["PATCH"]
    assert patch.header("Authorization") == "Basic " + base64.b64encode(b"ann:s3cret").decode()
    assert patch.body == b"raw text"
    assert {"DELETE", "OPTIONS"} <= set(requests)


def test_redirects_follow_or_not_and_per_request_timeout(tmp_path):
    with CountingServer() as server:
        run, result = run_json(
            tmp_path,
            """
            version: 1
            load: {iterations: 2, users: 1}
            users:
              - flows:
                  - steps:
                      - get: /redirect?to=/echo
                        name: followed
                        check: {status: 200, jmespath: [{expr: path, eq: /echo}]}
                      - get: /redirect?to=/echo
                        name: not followed
                        follow_redirects: false
                        check: {status: 302, header: {Location: /echo}}
                      - get: /slow/400
                        name: too slow
                        timeout: 100ms
        """,
            server.url,
        )
    assert run.returncode == 0, run.stderr
    errors = {(e["name"], e["error"]): e["count"] for e in result["errors"]}
    assert errors == {("too slow", "Timeout"): 2}


@pytest.fixture
def tls_server(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b'{"tls": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_tls_verification_on_by_default_and_can_be_turned_off(tmp_path, tls_server):
    text = """
        version: 1
        defaults: {verify_tls: VERIFY}
        load: {iterations: 3, users: 1}
        users:
          - flows:
              - steps:
                  - get: /
                    check: {jmespath: [{expr: tls, eq: true}]}
    """
    strict, result = run_json(tmp_path, text.replace("VERIFY", "true"), tls_server)
    assert strict.returncode == 0, strict.stderr
    assert [e["error"] for e in result["errors"]] == ["TLSCertificateInvalid"]
    relaxed, result = run_json(tmp_path, text.replace("VERIFY", "false"), tls_server)
    assert relaxed.returncode == 0, relaxed.stderr
    assert result["totals"]["requests"] == 3 and result["totals"]["failures"] == 0
