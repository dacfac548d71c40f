"""The docs work when followed literally: their example scenarios pass against the demo API."""

from __future__ import annotations

import re

from tests.cli_helpers import REPO, run_json


def _yaml_blocks(doc: str) -> list[str]:
    text = (REPO / doc).read_text(encoding="utf-8")
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_ci_example_passes_its_own_thresholds(tmp_path, demo_api):
    scenario = next(b for b in _yaml_blocks("docs/ci.md") if b.startswith("version: 1"))
    run, result = run_json(
        tmp_path, scenario, demo_api.url, "-t", "3s", "--exit-code-on-error", "4"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert result is not None
    assert {t["expr"]: t["passed"] for t in result["thresholds"]} == {
        "p95 < 300ms": True,
        "error_rate < 1%": True,
        "checkout: p99 < 800ms": True,
    }
    assert result["totals"]["requests"] > 0 and result["totals"]["failures"] == 0


def test_install_lines_say_how_without_a_package_index():
    for doc in ("README.md", *(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))):
        text = (REPO / doc).read_text(encoding="utf-8")
        assert not re.search(r"pip install yamlswarm\b(?![-\w.\[/])", text), doc
