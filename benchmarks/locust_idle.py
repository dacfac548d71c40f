"""Locust side of case (c): many mostly idle users — one GET, then a constant 5 s wait."""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task

PATH = os.environ.get("BENCH_PATH", "/data.json")


class Idle(FastHttpUser):
    wait_time = constant(5)

    @task
    def get(self) -> None:
        self.client.get(PATH)
