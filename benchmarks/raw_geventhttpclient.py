"""Reference load loop: raw geventhttpclient, N greenlets each on its own keep-alive connection."""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import json
import time

import gevent
from geventhttpclient import HTTPClient


def _worker(url: str, path: str, end: float, counts: list[int]) -> None:
    client = HTTPClient.from_url(url, concurrency=1)
    done = failed = 0
    while time.monotonic() < end:
        try:
            response = client.get(path)
            response.read()
            done += 1
            failed += response.status_code >= 400
        except Exception:
            failed += 1
    client.close()
    counts[0] += done
    counts[1] += failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("-u", "--users", type=int, default=50)
    parser.add_argument("-t", "--duration", type=float, default=20.0)
    args = parser.parse_args()
    counts = [0, 0]
    start = time.monotonic()
    end = start + args.duration
    gevent.joinall(
        [gevent.spawn(_worker, args.url, args.path, end, counts) for _ in range(args.users)]
    )
    elapsed = time.monotonic() - start
    print(json.dumps({"requests": counts[0], "failures": counts[1], "rps": counts[0] / elapsed}))


if __name__ == "__main__":
    main()
