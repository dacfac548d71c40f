"""Locust side of the "one GET, 50 users, no wait" benchmark: FastHttpUser, one GET, no wait."""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task

PATH = os.environ.get("BENCH_PATH", "/data.json")


class OneGet(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get(PATH)
