"""Stop signals: the only exceptions that unwind a virtual user's loop (and `InternalBug`).

A failed request, check, extraction or hook is recorded data, never one of these.
`StopUser` and `StopTest` are public: hook authors raise them as
`yamlswarm.api.StopUser` / `yamlswarm.api.StopTest` (the same classes).
"""

from __future__ import annotations

__all__ = ["StopIterationSignal", "StopSignal", "StopTest", "StopUser"]


class StopSignal(Exception):
    """Base of the control-flow signals of the user loop."""


class StopIterationSignal(StopSignal):
    """End the current flow iteration (a failure in a `stop_on_failure` flow)."""


class StopUser(StopSignal):
    """Stop this virtual user gracefully: its `on_stop` steps and `on_user_stop` hooks run.

    `reason` (optional) is counted in the results ("users stopped: N (reason)").
    """

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(*(() if reason is None else (reason,)))
        self.reason = reason


class StopTest(StopSignal):
    """Stop the whole run gracefully: every user stops, the results are written.

    `reason` (optional) is shown with the results ("test stopped (reason)").
    """

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(*(() if reason is None else (reason,)))
        self.reason = reason


class InternalBug(BaseException):
    """A bug of yamlswarm met inside user code (a hook's `user.request`): a BaseException, so
    that the hook's own `except Exception` does not take it for its failure. The runner
    stops the run on it (exit 3), as on any exception that escapes a virtual user."""

    def __init__(self, original: Exception) -> None:
        super().__init__(f"{type(original).__name__}: {original}")
        self.original = original
