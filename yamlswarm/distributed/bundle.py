"""Scenario bundles: the scenario, its hook files, data CSVs and uploads in one hashed zip.

Files keep their layout relative to each other: every file is stored under
its path relative to the deepest directory that holds them all, so the
scenario's relative references (`csv: data/a.csv`, `hooks: ../lib/h.py`)
resolve the same way once the bundle is unpacked anywhere. The Python files
beside a hook file are shipped with it (it may import them); dotted hook module
names are not shipped: they must be installed on the workers. The
zip is deterministic (fixed timestamps, sorted names), so the same files
always give the same hash.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from yamlswarm import plan as p
from yamlswarm.errors import UsageError
from yamlswarm.hookmodules import is_path_spec
from yamlswarm.kinds import walk

MAX_BUNDLE_BYTES = 50 * 1024 * 1024
_EPOCH = (1980, 1, 1, 0, 0, 0)

__all__ = ["MAX_BUNDLE_BYTES", "Bundle", "BundleError", "bundle_files", "make_bundle", "unpack"]


class BundleError(UsageError):
    """A bundle that cannot be built (too large, a file missing) or is corrupt."""


@dataclass(frozen=True)
class Bundle:
    data: bytes  # the zip
    sha256: str
    scenario: str  # the scenario file's name inside the zip (POSIX path)
    files: tuple[str, ...]  # every name inside the zip


def bundle_files(plan: p.Plan) -> list[Path]:
    """Every local file a run of `plan` needs: scenario, hook files, data CSVs, uploads.

    A hook file's directory goes on `sys.path` when it is imported, so the Python
    files beside it (`from signing import signature`) are shipped too.
    """
    paths = [Path(plan.file)]
    for hook in (Path(spec) for spec in plan.hooks if is_path_spec(spec)):
        paths.append(hook)
        paths += sorted(hook.parent.glob("*.py"))
    paths += [Path(feed.path) for feed in plan.data]
    paths += sorted(set(_upload_paths(plan)))
    seen: dict[Path, None] = {}
    for path in paths:
        seen.setdefault(path.resolve(), None)
    return list(seen)


def _upload_paths(plan: p.Plan) -> Iterator[Path]:
    for kind in plan.users:
        for steps in (kind.on_start, kind.on_stop, *(f.steps for f in kind.flows)):
            yield from _uploads_in(steps)


def _uploads_in(steps: Iterable[p.Step]) -> Iterator[Path]:
    for step in walk(steps):  # nested steps too
        body = step.body if isinstance(step, p.RequestStep) else None
        if body is not None and body.kind == "files":
            for entry in body.value.values():
                if isinstance(entry.get("path"), str):
                    yield Path(entry["path"])


def make_bundle(plan: p.Plan, *, limit: int = MAX_BUNDLE_BYTES) -> Bundle:
    """Pack the files of `plan`; BundleError if one is missing or the zip is over `limit` bytes."""
    files = bundle_files(plan)
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    names = {f: PurePosixPath(*f.relative_to(root).parts).as_posix() for f in files}
    total = 0
    for file in files:
        try:
            total += file.stat().st_size
        except OSError as exc:
            raise BundleError(f"cannot bundle {file}: {exc.strerror}") from None
    if total > limit:
        raise BundleError(_too_large(total, limit))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(files, key=names.__getitem__):
            info = zipfile.ZipInfo(names[file], _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, file.read_bytes())
    data = buffer.getvalue()
    if len(data) > limit:
        raise BundleError(_too_large(len(data), limit))
    return Bundle(
        data, hashlib.sha256(data).hexdigest(), names[files[0]], tuple(sorted(names.values()))
    )


def _too_large(size: int, limit: int) -> str:
    return (
        f"the scenario bundle (scenario, hook files and data files) is {_size(size)}, "
        f"over the {_size(limit)} limit for shipping it to workers; "
        f"make the data files smaller"
    )


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1e3:.1f} kB"


def unpack(data: bytes, expected_hash: str, directory: str | Path | None = None) -> Path:
    """Check the hash, unzip into `directory` (default: a fresh temp dir); returns the directory."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_hash:
        raise BundleError(
            f"the bundle received is corrupt (hash {actual[:12]}, expected {expected_hash[:12]})"
        )
    target = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="yamlswarm-bundle-"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                _extract_one(archive, info, target)
    except zipfile.BadZipFile as exc:
        raise BundleError(f"the bundle received is not a valid zip: {exc}") from None
    return target


def _extract_one(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    name = PurePosixPath(info.filename)
    if name.is_absolute() or ".." in name.parts:
        raise BundleError(f"the bundle holds an unsafe path: {info.filename!r}")
    path = target.joinpath(*name.parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(archive.read(info))
