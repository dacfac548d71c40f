"""Safe YAML loading that remembers where every key and value came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from yamlswarm.errors import Problem, ScenarioError

try:  # the C parser is several times faster; validate runs in pre-commit
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader

JsonPath = tuple[Any, ...]
_MAX_DEPTH = 200


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
        if len(path) > _MAX_DEPTH:
            self.problem(node.start_mark, path, f"nesting deeper than {_MAX_DEPTH} levels")
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
        try:
            self.loader.flatten_mapping(node)  # YAML merge keys (<<)
        except yaml.YAMLError as exc:
            self.problem(node.start_mark, path, _yaml_message(exc))
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node.start_mark, path, "a mapping key must be a plain value")
                continue
            key = self.loader.construct_object(key_node)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                key = str(key)
            child = (*path, key)
            if key in result:
                first = self.map.keys.get(child, (0, 0))
                self.problem(
                    key_node.start_mark,
                    child,
                    f"duplicate key {key!r} (first defined on line {first[0]})",
                )
                continue
            self.map.keys[child] = _pos(key_node.start_mark)
            result[key] = self.build(value_node, child)
        return result


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
            node = loader.get_single_node()
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


def load_file(path: str | Path) -> Document:
    """Read and parse a scenario file; a missing or unreadable file is a located problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([Problem(name, (), "file not found")]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem(name, (), "is a directory, not a scenario file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(name, (), f"cannot read file: {exc}")]) from None
    return loads(text, name)
