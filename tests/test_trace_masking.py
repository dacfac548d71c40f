"""`--trace` masks every credential-looking header and query parameter, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import write_scenario, yamlswarm
from tests.servers import CountingServer
from yamlswarm.report.trace import MASK, is_secret_header, mask_header, mask_url


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "Set-Cookie",
        "X-Api-Key",
        "Api-Key",
        "X-Auth-Token",
        "X-CSRF-Token",
        "X-Amz-Security-Token",
        "X-Client-Secret",
        "X-Password",
        "X-User-Passwd",
        "WWW-Authenticate",
        "X-Session-Id",
        "X-Apikey",
        "X-Goog-Credentials",
    ],
)
def test_credential_looking_headers_are_secret(name: str) -> None:
    assert is_secret_header(name)
    assert "s3cr3t" not in mask_header(name, "s3cr3t")


@pytest.mark.parametrize(
    "name", ["Content-Type", "Accept", "X-Request-Id", "User-Agent", "X-Signature", "Keep-Alive"]
)
def test_other_headers_are_shown(name: str) -> None:
    assert not is_secret_header(name)
    assert mask_header(name, "value") == "value"


def test_what_masking_keeps() -> None:
    assert mask_header("Authorization", "Bearer eyJ.x") == f"Bearer {MASK}"
    assert mask_header("Cookie", "a=1; b=2") == f"a={MASK}; b={MASK}"
    assert mask_header("Set-Cookie", "sid=abc; Path=/") == f"sid={MASK}; Path=/"
    assert mask_header("X-Api-Key", "abc") == MASK
    assert mask_header("Location", "/next?token=abc&page=2") == f"/next?token={MASK}&page=2"


@pytest.mark.parametrize(
    "url, shown",
    [
        ("http://h/a?page=2&q=shoes", "http://h/a?page=2&q=shoes"),
        ("http://h/a?token=abc&page=2", f"http://h/a?token={MASK}&page=2"),
        (
            "http://h/a?api_key=1&apiKey=2&key=3",
            f"http://h/a?api_key={MASK}&apiKey={MASK}&key={MASK}",
        ),
        ("http://h/a?password=x&secret=y", f"http://h/a?password={MASK}&secret={MASK}"),
        (
            "http://h/a?access_token=x&refresh-token=y",
            f"http://h/a?access_token={MASK}&refresh-token={MASK}",
        ),
        (
            "http://h/s3?X-Amz-Signature=ab&X-Amz-Credential=cd&X-Amz-Date=1",
            f"http://h/s3?X-Amz-Signature={MASK}&X-Amz-Credential={MASK}&X-Amz-Date=1",
        ),
        ("http://h/a?sig=1&code=2&auth=3", f"http://h/a?sig={MASK}&code={MASK}&auth={MASK}"),
        ("http://user:pw@h/a", f"http://user:{MASK}@h/a"),
        ("http://user@h/a?flag", "http://user@h/a?flag"),
        ("/relative?token=abc#frag", f"/relative?token={MASK}#frag"),
    ],
)
def test_secret_query_parameters_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_a_traced_run_never_prints_the_secrets(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path,
        """
        version: 1
        load: {iterations: 1, users: 1}
        users:
          - flows:
              - steps:
                  - get: /traced
                    query: {token: qs-secret-1, page: "2"}
                    headers:
                      X-Api-Key: key-secret-2
                      X-Auth-Token: tok-secret-3
                      Authorization: "Bearer bearer-secret-4"
                      X-Request-Id: visible-5
        """,
    )
    with CountingServer() as server:
        run = yamlswarm("run", scenario, "-H", server.url, "--trace")
    assert run.returncode == 0, run.stdout + run.stderr
    for secret in ("qs-secret-1", "key-secret-2", "tok-secret-3", "bearer-secret-4"):
        assert secret not in run.stdout, secret
    assert f"token={MASK}&page=2" in run.stdout
    assert f"X-Api-Key: {MASK}" in run.stdout and f"X-Auth-Token: {MASK}" in run.stdout
    assert f"Authorization: Bearer {MASK}" in run.stdout
    assert "X-Request-Id: visible-5" in run.stdout
