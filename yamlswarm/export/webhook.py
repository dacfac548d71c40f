"""`--out webhook=URL`: one POST when the run has ended, with its summary.

The body is Slack's incoming-webhook format (`{"text": ...}` with mrkdwn) when
the URL is a Slack one (`hooks.slack.com`), JSON otherwise:

    {"event": "yamlswarm.run.finished", "scenario", "run_id", "host", "started_at",
     "duration_s", "passed", "exit_code", "interrupted", "aborted",
     "totals": {"requests", "failures", "error_rate", "rps", "p95_ms", "p99_ms"},
     "failed_thresholds": [{"expr", "value"}], "thresholds": [{"expr", "passed", "value"}],
     "html_report": path or null, "json_result": path or null}

Sent after the output files are written, with three attempts; a receiver that
fails all of them is reported and does not change the exit code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from yamlswarm.export.http import ExportError, post

__all__ = ["Webhook", "is_slack", "json_body", "slack_body"]

ATTEMPTS = 3
PAUSE_S = 1.0


def is_slack(url: str) -> bool:
    return (urlsplit(url).hostname or "").lower() == "hooks.slack.com"


def _path(outputs: Mapping[str, Path], kind: str) -> str | None:
    target = outputs.get(kind)
    return str(Path(target).resolve()) if target is not None else None


def json_body(result: Any, run_id: str, outputs: Mapping[str, Path]) -> dict[str, Any]:
    """The JSON summary of a finished run."""
    totals = result.totals
    return {
        "event": "yamlswarm.run.finished",
        "scenario": result.scenario,
        "run_id": run_id,
        "host": result.host,
        "started_at": result.started_at,
        "duration_s": result.duration_s,
        "passed": result.passed and not result.interrupted,
        "exit_code": result.exit_code,
        "interrupted": result.interrupted,
        "aborted": result.aborted,
        "totals": {
            "requests": totals.requests,
            "failures": totals.failures,
            "error_rate": round(totals.error_rate, 6),
            "rps": totals.rps,
            "p95_ms": totals.latency_ms.p95,
            "p99_ms": totals.latency_ms.p99,
        },
        "failed_thresholds": [
            {"expr": t.expr, "value": t.value} for t in result.thresholds if not t.passed
        ],
        "thresholds": [t.to_dict() for t in result.thresholds],
        "html_report": _path(outputs, "html"),
        "json_result": _path(outputs, "json"),
    }


def slack_body(summary: dict[str, Any]) -> dict[str, Any]:
    """The same summary as a Slack message."""
    totals = summary["totals"]
    verdict = "passed" if summary["passed"] else "FAILED"
    if summary["interrupted"]:
        verdict = "interrupted"
    lines = [
        f"*yamlswarm: {summary['scenario']} {verdict}* (exit code {summary['exit_code']})",
        f"{totals['requests']} requests, {totals['failures']} failures "
        f"({totals['error_rate']:.2%}), {totals['rps']:g} req/s, "
        f"p95 {totals['p95_ms']:g} ms, p99 {totals['p99_ms']:g} ms, "
        f"{summary['duration_s']:g} s against {summary['host'] or 'the scenario host'}",
    ]
    lines += [f"• threshold failed: `{t['expr']}`" for t in summary["failed_thresholds"]]
    if summary["html_report"]:
        lines.append(f"report: {summary['html_report']}")
    lines.append(f"run_id {summary['run_id']}")
    return {"text": "\n".join(lines)}


class Webhook:
    """Posts the summary of the run at its end (not once a second)."""

    def __init__(
        self,
        url: str,
        run_id: str,
        outputs: Mapping[str, Path],
        err: TextIO,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.run_id = run_id
        self.outputs = outputs
        self.err = err
        self.sleep = sleep

    def send(self, result: Any) -> bool:
        summary = json_body(result, self.run_id, self.outputs)
        body = slack_body(summary) if is_slack(self.url) else summary
        data = json.dumps(body).encode("utf-8")
        problem = ""
        for attempt in range(ATTEMPTS):
            try:
                post(self.url, data, {"Content-Type": "application/json"})
                return True
            except ExportError as exc:
                problem = str(exc)
            if attempt + 1 < ATTEMPTS:
                self.sleep(PAUSE_S * (attempt + 1))
        print(
            f"yamlswarm: export webhook: failed after {ATTEMPTS} attempts: {problem}",
            file=self.err,
            flush=True,
        )
        return False
