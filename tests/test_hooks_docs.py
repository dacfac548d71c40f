"""docs/hooks.md works when followed literally: each worked example (a hook module and the
scenario using it) runs against the demo API with the exit code the doc says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli_helpers import REPO, run_json
from yamlswarm.hookmodules import LIFECYCLE_HOOKS

DOC = REPO / "docs" / "hooks.md"
_EXAMPLE = re.compile(
    r"<!-- example: (?P<options>[^>]*)-->\n```python\n(?P<hooks>.*?)```\n+```yaml\n(?P<scenario>.*?)```",
    flags=re.S,
)


def _examples() -> list[tuple[str, dict[str, str], str, str]]:
    text = DOC.read_text(encoding="utf-8")
    found = []
    for match in _EXAMPLE.finditer(text):
        options = dict(item.split("=", 1) for item in match["options"].split())
        heading = re.findall(r"^#+ (.*)$", text[: match.start()], flags=re.M)[-1]
        found.append((heading, options, match["hooks"], match["scenario"]))
    return found


def test_the_doc_has_a_runnable_example_for_each_hook_and_object() -> None:
    hooks_text = "".join(h for _, _, h, _ in _examples())
    # every hook yamlswarm recognises (a new one needs its example), and the objects' parts
    for name in (
        *LIFECYCLE_HOOKS,
        "template_functions",
        "StopUser",
        "StopTest",
        "user.measure",
        "user.record",
        "user.metrics",
    ):
        assert name in hooks_text, name


@pytest.mark.parametrize(
    ("heading", "options", "hooks", "scenario"), _examples(), ids=lambda v: str(v)[:40]
)
def test_each_worked_example_runs_as_the_doc_says(
    tmp_path: Path, demo_api, heading: str, options: dict, hooks: str, scenario: str
) -> None:
    (tmp_path / "hooks.py").write_text(hooks, encoding="utf-8")
    run, result = run_json(tmp_path, scenario, demo_api.url)
    assert run.returncode == int(options["exit"]), f"{heading}\n{run.stdout}\n{run.stderr}"
    assert result is not None and result["totals"]["requests"] + len(result["requests"]) > 0
    assert "Traceback" not in run.stderr, run.stderr
    assert "raised" not in run.stderr, run.stderr  # no hook failed


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes."""
    headings = re.findall(r"^#+ (.*)$", path.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_links_to_and_within_the_hook_doc_resolve() -> None:
    docs = REPO / "docs"
    sources = [DOC, docs / "scenario-format.md", docs / "distributed.md", REPO / "README.md"]
    checked = 0
    for source in sources:
        for target, anchor in re.findall(r"\]\(([\w./-]*?)(?:#([\w-]+))?\)", source.read_text()):
            path = (source.parent / target).resolve() if target else source
            if "hooks.md" not in (target or source.name) and source != DOC:
                continue
            assert path.is_file(), (source.name, target)
            if anchor and path.suffix == ".md":
                assert anchor in _anchors(path), (source.name, target, anchor)
            checked += 1
    assert checked > 20
    assert "SPEC section 5" not in (docs / "scenario-format.md").read_text()
