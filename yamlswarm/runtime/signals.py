"""Stop signals: the only exceptions that unwind a virtual user's loop.

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
