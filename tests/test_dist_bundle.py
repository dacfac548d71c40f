"""Scenario bundles: every needed file, a stable hash, relative layout kept, size limit, safety."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from yamlswarm.distributed.bundle import BundleError, make_bundle, unpack
from yamlswarm.errors import UsageError
from yamlswarm.run import load_plan
from yamlswarm.settings import RunSettings

SCENARIO = """\
version: 1
host: http://127.0.0.1:1
hooks: ../lib/shop_hooks.py
data:
  accounts: {csv: data/accounts.csv, order: unique}
load: {iterations: 2, users: 1}
users:
  - flows:
      - steps:
          - post: /upload
            files: {doc: files/upload.txt}
          - if: "{{ true }}"
            then:
              - group:
                  name: g
                  steps:
                    - post: /again
                      files: {doc: {path: files/other.txt, filename: o.txt}}
          - call: mark
"""


def _project(root: Path) -> Path:
    scenario_dir = root / "proj" / "scenarios"
    (scenario_dir / "data").mkdir(parents=True)
    (scenario_dir / "files").mkdir()
    (root / "proj" / "lib").mkdir()
    (root / "proj" / "lib" / "shop_hooks.py").write_text("def mark(user):\n    pass\n")
    (scenario_dir / "data" / "accounts.csv").write_text("name,pw\na,1\nb,2\n")
    (scenario_dir / "files" / "upload.txt").write_text("hello")
    (scenario_dir / "files" / "other.txt").write_text("other")
    (scenario_dir / "unrelated.bin").write_bytes(b"x" * 1000)
    path = scenario_dir / "shop.yaml"
    path.write_text(SCENARIO)
    return path


def test_bundle_holds_every_needed_file_with_relative_layout(tmp_path: Path) -> None:
    plan = load_plan(_project(tmp_path), RunSettings())
    bundle = make_bundle(plan)
    assert bundle.scenario == "scenarios/shop.yaml"
    assert bundle.files == (
        "lib/shop_hooks.py",
        "scenarios/data/accounts.csv",
        "scenarios/files/other.txt",
        "scenarios/files/upload.txt",
        "scenarios/shop.yaml",
    )
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        assert sorted(archive.namelist()) == list(bundle.files)


def test_unpacked_bundle_compiles_to_the_same_plan(tmp_path: Path) -> None:
    plan = load_plan(_project(tmp_path), RunSettings())
    bundle = make_bundle(plan)
    target = unpack(bundle.data, bundle.sha256, tmp_path / "elsewhere")
    again = load_plan(target / bundle.scenario, RunSettings())
    assert again.data[0].rows == plan.data[0].rows
    assert again.hooks[0] == str((target / "lib" / "shop_hooks.py").resolve())
    upload = again.users[0].flows[0].steps[0].body.value["doc"]["path"]
    assert upload == str(target / "scenarios" / "files" / "upload.txt")
    assert make_bundle(again).sha256 == bundle.sha256  # same files, same hash


def test_hash_is_stable_and_changes_with_content(tmp_path: Path) -> None:
    path = _project(tmp_path)
    first = make_bundle(load_plan(path, RunSettings()))
    second = make_bundle(load_plan(path, RunSettings()))
    assert first.sha256 == second.sha256 and first.data == second.data
    (path.parent / "data" / "accounts.csv").write_text("name,pw\na,1\nc,3\n")
    assert make_bundle(load_plan(path, RunSettings())).sha256 != first.sha256


def test_too_large_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    plan = load_plan(_project(tmp_path), RunSettings())
    with pytest.raises(BundleError, match=r"is \d+\.\d kB, over the 0.1 kB limit") as info:
        make_bundle(plan, limit=100)
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2
    assert "bundle" in info.value.render()


def test_unpack_checks_the_hash(tmp_path: Path) -> None:
    bundle = make_bundle(load_plan(_project(tmp_path), RunSettings()))
    with pytest.raises(BundleError, match="corrupt"):
        unpack(bundle.data, "0" * 64, tmp_path / "x")
    with pytest.raises(BundleError, match="not a valid zip"):
        import hashlib

        unpack(b"junk", hashlib.sha256(b"junk").hexdigest(), tmp_path / "y")


def test_unpack_refuses_paths_outside_the_directory(tmp_path: Path) -> None:
    import hashlib

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.py", "print('x')")
    data = buffer.getvalue()
    with pytest.raises(BundleError, match="unsafe path"):
        unpack(data, hashlib.sha256(data).hexdigest(), tmp_path / "z")
    assert not (tmp_path / "evil.py").exists()


def test_the_example_shop_with_its_sibling_hook_module_compiles_from_a_bundle(
    tmp_path: Path,
) -> None:
    # scenarios/hooks/shop.py imports its neighbour signing.py: both must travel
    plan = load_plan(Path("scenarios/shop.yaml"), RunSettings(host="http://127.0.0.1:9"))
    bundle = make_bundle(plan)
    assert {"hooks/shop.py", "hooks/signing.py", "data/accounts.csv"} <= set(bundle.files)
    unpacked = unpack(bundle.data, bundle.sha256, tmp_path / "worker")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from yamlswarm.run import load_plan\n"
        "from yamlswarm.settings import RunSettings\n"
        "plan = load_plan(Path(sys.argv[1]), RunSettings(host='http://127.0.0.1:9'))\n"
        "print(len(plan.hooks))\n"
    )
    import subprocess
    import sys

    # a fresh process, so the hook modules already imported here do not mask a missing file
    done = subprocess.run(
        [sys.executable, "-c", script, str(unpacked / bundle.scenario)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
