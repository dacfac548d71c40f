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


def _crafted(entries: list[tuple[str, bytes, dict]]) -> bytes:
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": the point of one case
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data, attributes in entries:
                info = zipfile.ZipInfo(name)
                for key, value in attributes.items():
                    setattr(info, key, value)
                archive.writestr(info, data)
    return buffer.getvalue()


def _patch(data: bytes, field: str, value: int) -> bytes:
    """The zip with a 2-byte field of every entry's local and central header set to `value`."""
    offsets = {"flags": (6, 8), "method": (8, 10)}[field]
    raw = bytearray(data)
    for signature, offset in zip((b"PK\x03\x04", b"PK\x01\x02"), offsets, strict=True):
        start = raw.find(signature)
        while start != -1:
            raw[start + offset : start + offset + 2] = value.to_bytes(2, "little")
            start = raw.find(signature, start + 4)
    return bytes(raw)


SYMLINK = {"external_attr": 0o120777 << 16}
CRAFTED = {
    "absolute": (_crafted([("/etc/evil", b"x", {})]), "an unsafe path: '/etc/evil'"),
    "dot-dot": (_crafted([("a/../../evil", b"x", {})]), "an unsafe path: 'a/../../evil'"),
    "dot": (_crafted([("a/./b", b"x", {})]), "an unsafe path: 'a/./b'"),
    "empty-part": (_crafted([("a//b", b"x", {})]), "an unsafe path: 'a//b'"),
    "backslash": (_crafted([("..\\evil", b"x", {})]), "an unsafe path"),
    "drive": (_crafted([("C:evil", b"x", {})]), "an unsafe path: 'C:evil'"),
    "control": (_crafted([("a\x1b[2J", b"x", {})]), "an unsafe path: 'a\\x1b[2J'"),
    "symlink": (_crafted([("link", b"/etc/passwd", SYMLINK)]), "a symbolic link: 'link'"),
    "fifo": (
        _crafted([("pipe", b"", {"external_attr": 0o010644 << 16})]),
        "an entry that is not a file: 'pipe'",
    ),
    "directory": (_crafted([("dir/", b"", {})]), "an entry that is not a file: 'dir/'"),
    "duplicate": (
        _crafted([("a.txt", b"1", {}), ("a.txt", b"2", {})]),
        "two entries for one file: 'a.txt' and 'a.txt'",
    ),
    "case": (
        _crafted([("Data.csv", b"1", {}), ("data.csv", b"2", {})]),
        "two entries for one file: 'Data.csv' and 'data.csv'",
    ),
    "unicode-forms": (
        _crafted([("caf\u00e9", b"1", {}), ("cafe\u0301", b"2", {})]),
        "two entries for one file",
    ),
    "file-and-directory": (
        _crafted([("data", b"1", {}), ("data/a.csv", b"2", {})]),
        "'data' both as a file and as a directory",
    ),
    "unknown-compression": (
        _patch(_crafted([("s.yaml", b"x", {})]), "method", 99),
        "'s.yaml' compressed with method 99, which yamlswarm bundles do not use",
    ),
    "bzip2": (
        _crafted([("s.yaml", b"x", {"compress_type": zipfile.ZIP_BZIP2})]),
        "compressed with method 12",
    ),
    "encrypted": (
        _patch(_crafted([("s.yaml", b"x", {})]), "flags", 0x1),
        "an encrypted entry: 's.yaml'",
    ),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_unpack_refuses_a_crafted_bundle_and_leaves_nothing(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import tempfile

    data, text = CRAFTED[case]
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with pytest.raises(BundleError) as info:
        unpack(data, hashlib.sha256(data).hexdigest())
    assert text in str(info.value)
    assert list(temp.iterdir()) == []  # the worker's own directory was removed
    assert not (tmp_path / "evil").exists()


def test_unpack_refuses_too_many_files_and_too_many_bytes(tmp_path: Path) -> None:
    import hashlib

    from yamlswarm.distributed.bundle import MAX_BUNDLE_FILES, check_entries

    many = [zipfile.ZipInfo(f"f{n}") for n in range(MAX_BUNDLE_FILES + 1)]
    with pytest.raises(BundleError, match="more than 10000"):
        check_entries(many)
    huge = zipfile.ZipInfo("big")
    huge.file_size = 10**12  # what the entry claims: never inflated to find out
    with pytest.raises(BundleError, match=r"over the 52\.4 MB limit"):
        check_entries([huge])
    data = _crafted([("a", b"1", {})])
    assert (
        unpack(data, hashlib.sha256(data).hexdigest(), tmp_path / "ok") / "a"
    ).read_bytes() == b"1"


def test_member_is_a_file_of_the_bundle_only(tmp_path: Path) -> None:
    from yamlswarm.distributed.bundle import member

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "s.yaml").write_text("x")
    assert member(tmp_path, "d/s.yaml") == tmp_path / "d" / "s.yaml"
    for name in ("/etc/passwd", "../x", "d", "d/missing.yaml", "d\\s.yaml"):
        with pytest.raises(BundleError, match="the bundle holds no file"):
            member(tmp_path, name)


def test_make_bundle_refuses_what_a_worker_would_refuse(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "version: 1\nhost: http://127.0.0.1:1\n"
        "data:\n  a: {csv: Data.csv}\n  b: {csv: data.csv}\n"
        "load: {iterations: 1, users: 1}\nusers:\n  - flows:\n      - steps:\n          - get: /\n"
    )
    (tmp_path / "Data.csv").write_text("n\n1\n")
    (tmp_path / "data.csv").write_text("n\n2\n")
    with pytest.raises(BundleError, match="two entries for one file"):
        make_bundle(load_plan(scenario, RunSettings()))
