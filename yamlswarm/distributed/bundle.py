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
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from yamlswarm import plan as p
from yamlswarm.distributed.limits import MAX_BUNDLE_BYTES
from yamlswarm.errors import UsageError
from yamlswarm.hookmodules import is_path_spec
from yamlswarm.kinds import walk

MAX_BUNDLE_FILES = 10_000
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SAFE_NAME = re.compile(r"^(?![A-Za-z]:)[^\x00-\x1f\x7f\\]+$")  # no control, backslash, drive

__all__ = [
    "MAX_BUNDLE_BYTES",
    "Bundle",
    "BundleError",
    "bundle_files",
    "check_entries",
    "make_bundle",
    "member",
    "unpack",
]


class BundleError(UsageError):
    """A bundle that cannot be built (too large, a file missing) or is corrupt."""


@dataclass(frozen=True)
class Bundle:
    data: bytes  # the zip
    sha256: str
    scenario: str  # the scenario file's name inside the zip (POSIX path)
    files: tuple[str, ...]  # every name inside the zip


def bundle_files(plan: p.Plan) -> list[Path]:
    """Every local file a run of `plan` needs: scenario, hook files, data CSVs, uploads, TLS files.

    A hook file's directory goes on `sys.path` when it is imported, so the Python
    files beside it (`from signing import signature`) are shipped too.
    """
    paths = [Path(plan.file)]
    for hook in (Path(spec) for spec in plan.hooks if is_path_spec(spec)):
        paths.append(hook)
        paths += sorted(hook.parent.glob("*.py"))
    paths += [Path(feed.path) for feed in plan.data]
    tls = plan.defaults.tls  # defaults.tls: the CA bundle, the client certificate and key
    paths += [Path(f) for f in (tls.ca_bundle, tls.client_cert, tls.client_key) if f]
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
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        check_entries(archive.infolist())  # what a worker would refuse is refused here
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
    """Check the hash and every entry, unzip into `directory` (default: a fresh temp dir).

    Returns the directory. BundleError, with nothing left behind in a temp dir of
    its own, when an entry is not a plain file with a safe relative name.
    """
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_hash:
        raise BundleError(
            f"the bundle received is corrupt (hash {actual[:12]}, expected {expected_hash[:12]})"
        )
    own = directory is None
    target = Path(tempfile.mkdtemp(prefix="yamlswarm-bundle-")) if own else Path(str(directory))
    try:
        _unpack_into(data, target)
    except BaseException:
        if own:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def _unpack_into(data: bytes, target: Path) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            check_entries(infos)
            target.mkdir(parents=True, exist_ok=True)
            for info in infos:
                _extract_one(archive, info, target)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise BundleError(f"the bundle received is not a valid zip: {exc}") from None
    except OSError as exc:
        raise BundleError(
            f"cannot unpack the bundle into {target}: {exc.strerror or exc}"
        ) from None


def check_entries(infos: Sequence[zipfile.ZipInfo]) -> None:
    """BundleError unless every entry is a plain, stored or deflated file with a safe name.

    No absolute path, `..`, `.` or empty part, backslash or control character; no
    symlink, directory or other special entry; no two names that are the same
    file on some file system (case and Unicode normalisation folded), and no file
    whose name is also a directory of another.
    """
    if len(infos) > MAX_BUNDLE_FILES:
        raise BundleError(f"the bundle holds {len(infos)} files, more than {MAX_BUNDLE_FILES}")
    if sum(info.file_size for info in infos) > MAX_BUNDLE_BYTES:
        raise BundleError(_too_large(sum(info.file_size for info in infos), MAX_BUNDLE_BYTES))
    files: dict[str, str] = {}
    for info in infos:
        _check_entry(info)
        key = _fold(info.filename)
        if key in files:
            raise BundleError(
                f"the bundle holds two entries for one file: {files[key]!r} and {info.filename!r}"
            )
        files[key] = info.filename
    for key in files:
        parents = PurePosixPath(key).parents
        clash = next((files[str(p)] for p in parents if str(p) in files), None)
        if clash is not None:
            raise BundleError(f"the bundle holds {clash!r} both as a file and as a directory")


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    shown = repr(name)
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if info.is_dir() or file_type not in (0, stat.S_IFREG):
        kind = "a symbolic link" if file_type == stat.S_IFLNK else "an entry that is not a file"
        raise BundleError(f"the bundle holds {kind}: {shown}")
    if len(name) > 1000 or not _SAFE_NAME.match(name) or not _is_relative(name):
        raise BundleError(f"the bundle holds an unsafe path: {shown}")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise BundleError(
            f"the bundle holds {shown} compressed with method {info.compress_type}, "
            f"which yamlswarm bundles do not use"
        )
    if info.flag_bits & 0x1:
        raise BundleError(f"the bundle holds an encrypted entry: {shown}")


def _is_relative(name: str) -> bool:
    parts = name.split("/")
    return not name.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def _fold(name: str) -> str:
    """The name two file systems would both take for the same file."""
    return unicodedata.normalize("NFC", name).casefold()


def member(directory: Path, name: str) -> Path:
    """The path of the file `name` of a bundle unpacked into `directory`; BundleError if none."""
    path = directory.joinpath(*name.split("/"))
    if not (_SAFE_NAME.match(name) and _is_relative(name) and path.is_file()):
        raise BundleError(f"the bundle holds no file {name!r}")
    return path


def _extract_one(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    path = target.joinpath(*info.filename.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(info) as source, open(path, "xb") as sink:  # never over an existing file
        shutil.copyfileobj(source, sink)
