"""Hooks for scenarios/redis_cache.yaml: a session cache in Redis, each command timed into a row.

Each virtual user has its own Redis client (the `redis` package: `pip install
'yamlswarm[redis]'`) and times its commands with `user.measure`, into rows of kind REDIS
named after the command: `SET session`, `GET session`, `INCR views`. A GET that returns
the wrong value is failed with `m.fail(...)`; a command that raises (connection refused,
timeout) is failed by `measure` itself, with the exception's name and message. `m.size`
counts the bytes the GET returned in the row's content size.

redis-py is plain blocking sockets: under `yamlswarm run`, which monkey-patches gevent
first, each command yields to the other users while it waits for the server.
"""

from __future__ import annotations

try:
    import redis
except ImportError:  # validate needs no extra; a run without it fails each connect clearly
    redis = None  # type: ignore[assignment]


def connect(user) -> None:
    """on_start: a client for this user (`redis_url` variable), checked with PING."""
    if redis is None:
        raise RuntimeError("this example needs the redis client: pip install 'yamlswarm[redis]'")
    client = user.vars["redis"] = redis.Redis.from_url(
        str(user.vars["redis_url"]), socket_timeout=5, socket_connect_timeout=5
    )
    with user.measure("PING", kind="REDIS"):
        client.ping()


def cache_session(user) -> None:
    """A flow step: write this user's session, read it back, count a page view."""
    client = user.vars["redis"]
    prefix = user.vars.get("key_prefix", "yamlswarm")
    key = f"{prefix}:session:{user.id}"
    value = f"user={user.id};iteration={user.iteration}".encode()
    with user.measure("SET session", kind="REDIS"):
        client.set(key, value, ex=300)
    with user.measure("GET session", kind="REDIS") as m:
        got = client.get(key)
        m.size = len(got or b"")
        if got != value:
            m.fail("GET returned another value")
    with user.measure("INCR views", kind="REDIS"):
        client.incr(f"{prefix}:views")


def disconnect(user) -> None:
    """on_stop: give the user's connections back."""
    client = user.vars.get("redis")
    if client is not None:
        client.close()
