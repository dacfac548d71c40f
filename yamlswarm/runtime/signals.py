"""Stop signals: the only exceptions that unwind a virtual user's loop.

A failed request, check, extraction or hook is recorded data, never one of these.
"""

from __future__ import annotations


class StopSignal(Exception):
    """Base of the control-flow signals of the user loop."""


class StopIterationSignal(StopSignal):
    """End the current flow iteration (a failure in a `stop_on_failure` flow)."""


class StopUser(StopSignal):
    """Stop this virtual user (e.g. its data feed is exhausted with `stop_user`)."""


class StopTest(StopSignal):
    """Stop the whole run (e.g. a data feed exhausted with `stop_test`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
