"""Stop signals: the only exceptions that unwind a virtual user's loop (and `InternalBug`).

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


class InternalBug(BaseException):
    """A bug of yamlswarm met inside user code (a hook's `user.request`): a BaseException, so
    that the hook's own `except Exception` does not take it for its failure. The runner
    stops the run on it (exit 3), as on any exception that escapes a virtual user."""

    def __init__(self, original: Exception) -> None:
        super().__init__(f"{type(original).__name__}: {original}")
        self.original = original
