"""Safe YAML loading that remembers where every key and value came from.

Hostile input is bounded before it can grow: files must be regular files of at most
`MAX_FILE_BYTES`; the composer counts values as it reads them, aliases counting as
the values they stand for, so a "billion laughs" document stops at `MAX_VALUES`
(or `MAX_CHARACTERS`) without being expanded; nesting stops at `MAX_DEPTH`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from yamlswarm.errors import Problem, ScenarioError

try:  # the C parser is several times faster; validate runs in pre-commit
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader

JsonPath = tuple[Any, ...]
MAX_DEPTH = 200  # nested mappings and lists
MAX_VALUES = 200_000  # keys and values of one document, aliases expanded
MAX_CHARACTERS = 20_000_000  # characters of its keys and values, aliases expanded
MAX_FILE_BYTES = 10 * 1024 * 1024  # a scenario file
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"


@dataclass
class SourceMap:
    """1-based (line, column) of every value and every mapping key, by JSON path."""

    values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: JsonPath, *, key: bool = False) -> tuple[int, int]:
        """Position of `path` (its key when `key`), else of its nearest known ancestor."""
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))


@dataclass
class Document:
    """One loaded YAML file: its data, text and source map."""

    file: str
    text: str
    data: Any
    source_map: SourceMap

    @property
    def base_dir(self) -> Path:
        return Path(self.file).resolve().parent

    def problem(self, path: JsonPath, message: str, *, key: bool = False) -> Problem:
        """A located problem at `path`, with the source line for the caret."""
        line, column = self.source_map.locate(path, key=key)
        return Problem(
            file=self.file,
            path=tuple(path),
            message=message,
            line=line,
            column=column,
            source_line=_line(self.text, line),
        )


def _line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _pos(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


class _TooLarge(Exception):
    """A document past one of the bounds; `mark` is where it was found."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.mark = mark


class _Composer:
    """YAML events -> a node tree, like PyYAML's Composer, but bounded as it reads.

    Every node counts 1 (and its characters) and an alias counts the size of the
    value it refers to, so the totals are the size of the document with its aliases
    expanded, known before anything is expanded. An alias to a value that contains
    it is refused.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.anchors: dict[str, yaml.Node] = {}
        self.sizes: dict[str, tuple[int, int]] = {}  # anchor -> expanded (values, characters)
        self.values = 0
        self.characters = 0

    def document(self) -> yaml.Node | None:
        """The single document of the stream (None when empty)."""
        loader = self.loader
        loader.get_event()  # stream start
        node = None
        if not loader.check_event(StreamEndEvent):
            loader.get_event()  # document start
            node = self._node(0)
            loader.get_event()  # document end
        if not loader.check_event(StreamEndEvent):
            event = loader.get_event()
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                node.start_mark if node is not None else None,
                "but found another document",
                event.start_mark,
            )
        loader.get_event()
        return node

    def _count(self, values: int, characters: int, mark: Any, alias: str | None = None) -> None:
        self.values += values
        self.characters += characters
        if self.values > MAX_VALUES:
            too_many = f"{MAX_VALUES:,} keys and values"
        elif self.characters > MAX_CHARACTERS:
            too_many = f"{MAX_CHARACTERS:,} characters"
        else:
            return
        if alias:
            message = f"alias *{alias} makes the document too large: more than {too_many} "
            raise _TooLarge(message + "once aliases are expanded", mark)
        raise _TooLarge(f"the document is too large: more than {too_many}", mark)

    def _node(self, depth: int) -> yaml.Node:
        loader = self.loader
        if loader.check_event(AliasEvent):
            event = loader.get_event()
            anchor = event.anchor
            if anchor not in self.anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {anchor!r}", event.start_mark
                )
            if anchor not in self.sizes:
                raise _TooLarge(
                    f"alias *{anchor} refers to a value that contains it", event.start_mark
                )
            self._count(*self.sizes[anchor], event.start_mark, anchor)
            return self.anchors[anchor]
        event = loader.peek_event()
        if depth > MAX_DEPTH:
            raise _TooLarge(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
        anchor = event.anchor
        if anchor is not None and anchor in self.anchors:
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {anchor!r}; first occurrence",
                self.anchors[anchor].start_mark,
                "second occurrence",
                event.start_mark,
            )
        before = (self.values, self.characters)
        self._count(1, len(event.value) if isinstance(event, ScalarEvent) else 0, event.start_mark)
        node: yaml.Node
        if loader.check_event(ScalarEvent):
            loader.get_event()
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(
                tag, event.value, event.start_mark, event.end_mark, style=event.style
            )
            if anchor is not None:
                self.anchors[anchor] = node
        elif loader.check_event(SequenceStartEvent):
            node = self._collection(yaml.SequenceNode, SequenceEndEvent, anchor, depth)
        elif loader.check_event(MappingStartEvent):
            node = self._collection(yaml.MappingNode, MappingEndEvent, anchor, depth)
        else:  # pragma: no cover - the parser only emits the events above here
            raise yaml.composer.ComposerError(None, None, "unexpected event", event.start_mark)
        if anchor is not None:
            self.sizes[anchor] = (self.values - before[0], self.characters - before[1])
        return node

    def _collection(self, kind: type, end: type, anchor: str | None, depth: int) -> yaml.Node:
        loader = self.loader
        start = loader.get_event()
        tag = start.tag
        if tag is None or tag == "!":
            tag = loader.resolve(kind, None, start.implicit)
        node = kind(tag, [], start.start_mark, None, flow_style=start.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node  # before its children: an alias inside is caught above
        items = node.value
        mapping = kind is yaml.MappingNode
        while not loader.check_event(end):
            item = self._node(depth + 1)
            items.append((item, self._node(depth + 1)) if mapping else item)
        node.end_mark = loader.get_event().end_mark
        return node


class _Builder:
    """Turns a composed node tree into plain Python data plus a SourceMap."""

    def __init__(self, loader: Any, file: str, text: str) -> None:
        self.loader = loader
        self.file = file
        self.text = text
        self.map = SourceMap()
        self.problems: list[Problem] = []

    def problem(self, mark: Any, path: JsonPath, message: str) -> None:
        line, column = _pos(mark)
        self.problems.append(
            Problem(self.file, tuple(path), message, line, column, _line(self.text, line))
        )

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.map.values.setdefault(path, _pos(node.start_mark))
        if len(path) > MAX_DEPTH:  # an alias to a deep value, used deep down
            self.problem(node.start_mark, path, f"nesting deeper than {MAX_DEPTH} levels")
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(node.start_mark, path, _yaml_message(exc))
            return None

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[Any, Any]:
        own: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if key_node.tag == _VALUE_TAG:  # a `=` key is text, as in PyYAML
                key_node.tag = "tag:yaml.org,2002:str"
            key = self._key(key_node, path)
            if key is _NO_KEY:
                continue
            if key in own:
                self._duplicate(path, key, own[key][0], key_node)
                continue
            own[key] = (key_node, value_node)
        # YAML merge keys (<<): merged keys come first, the mapping's own keys override them
        merged = {k: pair for k, pair in self._merged(node, path).items() if k not in own}
        result: dict[Any, Any] = {}
        for key, (key_node, value_node) in (*merged.items(), *own.items()):
            child = (*path, key)
            self.map.keys[child] = _pos(key_node.start_mark)
            result[key] = self.build(value_node, child)
        return result

    def _key(self, key_node: yaml.Node, path: JsonPath) -> Any:
        if not isinstance(key_node, yaml.ScalarNode):
            self.problem(key_node.start_mark, path, "a mapping key must be a plain value")
            return _NO_KEY
        try:
            key = self.loader.construct_object(key_node)
        except yaml.YAMLError as exc:
            self.problem(key_node.start_mark, path, _yaml_message(exc))
            return _NO_KEY
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            key = str(key)
        return key

    def _duplicate(self, path: JsonPath, key: Any, first: yaml.Node, again: yaml.Node) -> None:
        line = _pos(first.start_mark)[0]
        if first.value == again.value:
            message = f"duplicate key {again.value!r} (first defined on line {line})"
        else:  # `on` and `1` read as true and 1, which Python takes for the same key
            now, before = (_reading(self._key(node, path)) for node in (again, first))
            read = f"both as {now}" if now == before else f"them as {now} and {before}"
            message = (
                f"key {again.value!r} clashes with {first.value!r} on line {line}: YAML reads "
                f"{read}, the same key; quote the keys to keep them apart"
            )
        self.problem(again.start_mark, (*path, again.value), message)

    def _merged(self, node: yaml.MappingNode, path: JsonPath) -> dict[Any, tuple[Any, Any]]:
        """The pairs `<<` merges into `node`: earlier sources win, as in PyYAML."""
        out: dict[Any, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self.problem(
                        source.start_mark,
                        path,
                        "a merge key (<<) takes a mapping or a list of them",
                    )
                    continue
                pairs = {**self._merged(source, path)}
                for k_node, v_node in source.value:
                    if k_node.tag != _MERGE_TAG and isinstance(k_node, yaml.ScalarNode):
                        pairs[self._key(k_node, path)] = (k_node, v_node)
                for key, pair in pairs.items():
                    out.setdefault(key, pair)
        return out


_NO_KEY = object()


def _reading(value: Any) -> str:
    """How YAML read a key: true, 1, 1.5, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _yaml_message(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    parts = [p for p in (context, problem) if p]
    return "YAML syntax error: " + ("; ".join(parts) if parts else str(exc))


def loads(text: str, file: str = "<string>") -> Document:
    """Parse YAML text; raises ScenarioError with located problems on any syntax error."""
    loader = _BaseLoader(text)
    try:
        try:
            node = _Composer(loader).document()
        except _TooLarge as exc:
            line, column = _pos(exc.mark)
            raise ScenarioError(
                [Problem(file, (), str(exc), line, column, _line(text, line))]
            ) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = _pos(mark) if mark else (0, 0)
            raise ScenarioError(
                [Problem(file, (), _yaml_message(exc), line, column, _line(text, line))]
            ) from None
        except yaml.YAMLError as exc:
            raise ScenarioError([Problem(file, (), _yaml_message(exc))]) from None
        if node is None:
            return Document(file, text, None, SourceMap({(): (1, 1)}))
        builder = _Builder(loader, file, text)
        data = builder.build(node, ())
    finally:
        loader.dispose()
    if builder.problems:
        raise ScenarioError(builder.problems)
    return Document(file, text, data, builder.map)


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    A FIFO, a device (`/dev/zero`) or a socket is refused before a byte is read (the
    open does not block on a FIFO); so is a file past `limit`. Raises ValueError with
    the reason for those, OSError (FileNotFoundError, IsADirectoryError, ...) otherwise.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(f"{path} is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"is {_file_kind(info.st_mode)}, not a regular file")
        # the size may be wrong (a file still growing, /proc): the read is bounded anyway
        data = b"" if info.st_size > limit else handle.read(limit + 1)
    if info.st_size > limit or len(data) > limit:
        raise ValueError(f"is larger than the {limit // (1024 * 1024)} MiB limit")
    return data


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def load_file(path: str | Path) -> Document:
    """Read and parse a scenario file; a missing or unreadable file is a located problem."""
    name = str(path)
    try:
        text = read_regular_file(path, MAX_FILE_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError([Problem(name, (), "file not found")]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem(name, (), "is a directory, not a scenario file")]) from None
    except ValueError as exc:  # not a regular file, too large, not UTF-8
        raise ScenarioError([Problem(name, (), _read_problem(exc))]) from None
    except OSError as exc:
        raise ScenarioError([Problem(name, (), f"cannot read file: {exc}")]) from None
    return loads(text, name)


def _read_problem(exc: ValueError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"cannot read file: {exc}"
    return f"{exc}: a scenario must be a plain YAML file"
