"""An application-level HTTP test server on loopback: it records every request exactly as it
arrived (raw request target, header lines in order with duplicates, body) and answers:

- `/redirect/{status}?to=URL[&n=K]`: a redirect of that status to URL (after K more hops of the
  same redirect when `n` is given);
- `/set-cookie?c=RAW[&c=RAW...]`: one `Set-Cookie: RAW` line per `c`;
- anything else: 200 with a JSON echo `{"method", "target", "headers": [[name, value]...],
  "body"}` of what arrived.

`AppServer` listens on 127.0.0.1 (or `::1` with `ipv6=True`), port 0; `requests` holds every
`Seen` request, `count(path)` counts by path.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: AppServer


class _V6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, list(self.headers.items()), body)
        self.server.owner._record(seen)
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path.startswith("/redirect/"):
            self._redirect(int(parts.path.rsplit("/", 1)[1]), query)
        elif parts.path == "/set-cookie":
            self._send(200, b"{}", [("Set-Cookie", raw) for raw in query.get("c", [])])
        else:
            echo = {
                "method": seen.method,
                "target": seen.target,
                "headers": seen.headers,
                "body": body.decode("utf-8", "replace"),
            }
            self._send(200, json.dumps(echo).encode(), [("Content-Type", "application/json")])

    def _redirect(self, status: int, query: dict[str, list[str]]) -> None:
        to = query.get("to", ["/echo"])[0]
        left = int(query.get("n", ["0"])[0])
        if left > 0:
            to = f"/redirect/{status}?" + urlencode({"to": to, "n": left - 1})
        self._send(status, b"", [("Location", to)])

    def _send(self, code: int, payload: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class AppServer:
    """The server in a background thread; a context manager."""

    def __init__(self, ipv6: bool = False) -> None:
        self.host = "::1" if ipv6 else "127.0.0.1"
        cls = _V6Server if ipv6 else _Server
        self._httpd = cls((self.host, 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
