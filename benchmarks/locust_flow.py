"""Locust side of case (b): the same flow as yamlswarm's — templated URL, a header, a JMESPath check and extraction."""

from __future__ import annotations

import itertools
import os

import jmespath
from locust import FastHttpUser, constant, task

PATH = os.environ.get("BENCH_PATH", "/data.json")
CHECK = jmespath.compile("id")  # compiled once, as yamlswarm compiles its expressions once
EXTRACT = jmespath.compile("name")
_IDS = itertools.count(1)


class Flow(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.user_id = next(_IDS)
        self.iteration = 0
        self.item_name = None

    @task
    def flow(self) -> None:
        self.iteration += 1
        url = f"{PATH}?user={self.user_id}&i={self.iteration}"
        headers = {"X-Bench-User": str(self.user_id)}
        with self.client.get(
            url, headers=headers, name=f"{PATH}?user&i", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return
            document = response.json()
            if CHECK.search(document) != 1:
                response.failure("check failed: id == 1")
                return
            self.item_name = EXTRACT.search(document)
