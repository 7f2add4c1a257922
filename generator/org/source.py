"""Read one YAML file into plain data plus the line of every key, and check it against a JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pipeline.common.errors import EXCERPT_CHARS, Problem, excerpt
from pipeline.core import limits

KeyPath = tuple[str | int, ...]

# Caps on what one org_roles file may hold, checked while parsing, before anything is built, so a hostile
# file (an alias-expansion bomb, a huge value, a deep nest) is refused at once. The real files are far
# below: a few KiB, a few hundred values, a handful of levels.
MAX_FILE_BYTES = 1024 * 1024
MAX_VALUES = 50_000  # values after expanding every alias: a "billion laughs" file is refused on this
MAX_DEPTH = 64
# No text the product writes is longer than IAM's largest policy text, so no value may be either.
MAX_VALUE_CHARS = limits.INLINE_POLICIES_PER_ROLE_CHARS
# Plain YAML only: any other tag (!!python/..., !Ref, !!binary, ...) is refused, never constructed.
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("null", "bool", "int", "float", "str", "seq", "map", "timestamp", "merge")
)


@dataclass
class Source:
    """One loaded file: its display name, data, and the line (1-based) of every key path."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def problem(self, path: KeyPath, message: str) -> Problem:
        return Problem(self.file, dotted(path), message, self.line(path))


def dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        # A key is quoted as an excerpt too: a hostile file's keys may be as long as its values.
        name = part if len(part) <= EXCERPT_CHARS else part[:EXCERPT_CHARS] + "..."
        out += f".{name}" if out else name
    return out


class _Refused(yaml.MarkedYAMLError):
    """A file the loader refuses to build: too big, too deep, or with a tag that is not plain YAML."""


def _tag_name(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one, and refuses hostile
    documents while composing them, before any value is constructed (see MAX_VALUES and friends)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.sizes: dict[int, int] = {}  # id(node) -> values it expands to, once composed

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        mark = event.start_mark if isinstance(event.start_mark, yaml.Mark) else None
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self.sizes:
                raise _Refused(None, None, f"alias *{event.anchor} refers to itself", mark)
        if self.depth >= MAX_DEPTH:
            raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if node is not None and id(node) not in self.sizes:
            self.sizes[id(node)] = self._check(node)
        return node

    def _check(self, node: yaml.Node) -> int:
        if node.tag not in _PLAIN_TAGS:
            raise _Refused(
                None,
                None,
                f"tag {excerpt(_tag_name(node.tag))} is not allowed: "
                "only plain YAML (mappings, lists, strings, numbers, true/false)",
                node.start_mark,
            )
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) > MAX_VALUE_CHARS:
                raise _Refused(
                    None,
                    None,
                    f"a value of {len(node.value):,} characters; the limit is {MAX_VALUE_CHARS:,}",
                    node.start_mark,
                )
            return 1
        children = (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        )
        size = 1 + sum(self.sizes[id(child)] for child in children)
        if size > MAX_VALUES:
            raise _Refused(
                None,
                None,
                f"its aliases expand to more than {MAX_VALUES:,} values, the limit per file",
                node.start_mark,
            )
        return size


def _construct(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], loader: yaml.SafeLoader) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {excerpt(key)}", key_node.start_mark
                )
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _read(path: Path, display: str) -> tuple[str | None, list[Problem]]:
    """The file's text, read no further than the size cap."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            return None, [
                Problem(
                    display, "", f"is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB, the limit per file"
                )
            ]
        return raw.decode("utf-8"), []
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(display, "", f"cannot be read: {exc.__class__.__name__}")]


def load_yaml(path: Path, display: str) -> tuple[Source | None, list[Problem]]:
    """Parse `path`; on any read or syntax error, or a refused file, no Source and one Problem with the line."""
    text, problems = _read(path, display)
    if text is None:
        return None, problems
    lines: dict[KeyPath, int] = {}
    loader: _UniqueKeyLoader | None = None
    try:
        loader = _UniqueKeyLoader(text)
        node = loader.get_single_node()
        data = None if node is None else _construct(node, (), lines, loader)
    except _Refused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        return None, [Problem(display, "", f"refused: {exc.problem}", line)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = (exc.problem or exc.context or "invalid YAML").strip()
        return None, [Problem(display, "", f"invalid YAML: {reason}", line)]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        return None, [
            Problem(display, "", f"invalid YAML: character #x{exc.character:04x} is not allowed", line)
        ]
    except yaml.YAMLError as exc:
        return None, [Problem(display, "", f"invalid YAML: {exc.__class__.__name__}")]
    except RecursionError:
        return None, [Problem(display, "", "invalid YAML: nested too deeply")]
    finally:
        if loader is not None:
            loader.dispose()
    return Source(display, data, lines), []


@cache
def schema(name: str) -> dict[str, Any]:
    """A shipped JSON Schema (org, role, ou) from generator/schemas/."""
    text = resources.files("generator").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "empty"
    return {dict: "a mapping", list: "a list", str: "a string", int: "a whole number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _message(error: Any) -> tuple[KeyPath, str]:
    path: KeyPath = tuple(error.absolute_path)
    v = error.validator
    if v == "additionalProperties":
        allowed = sorted(k for k in error.schema.get("properties", {}) if k != "$schema")
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        return (*path, extra[0]), f"unknown key {excerpt(extra[0])}{hint}"
    if v == "required":
        return path, f"missing required key: {error.message.split(' ')[0]}"
    if v == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)
        return path, f"must be {names}, not {_type_name(error.instance)}"
    if v == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return path, f"{excerpt(error.instance)} is not one of: {options}"
    if v == "pattern":
        what = error.schema.get("description") or f"pattern {error.validator_value}"
        return path, f"{excerpt(error.instance)} does not match {what}"
    if v == "maxLength":
        count, most = len(error.instance), error.validator_value
        return path, f"{excerpt(error.instance)} is {count:,} characters, over the limit of {most:,}"
    if v == "minLength":
        least = error.validator_value
        return (
            path,
            "must not be empty"
            if least == 1
            else f"{excerpt(error.instance)} is shorter than {least} characters",
        )
    if v == "propertyNames":
        return path, f"invalid key name: {_cut(error)}"
    return path, _cut(error)


def _cut(error: Any) -> str:
    """jsonschema's message with the offending value (which it quotes whole) cut to an excerpt."""
    whole = repr(error.instance)
    return (
        str(error.message).replace(whole, excerpt(error.instance)) if len(whole) > 40 else str(error.message)
    )


@cache
def _validator(schema_name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema(schema_name))


def check_schema(source: Source, schema_name: str) -> list[Problem]:
    """Every schema violation of `source`, each with its key path and line."""
    problems = []
    validator = _validator(schema_name)
    for error in sorted(validator.iter_errors(source.data), key=lambda e: list(map(str, e.absolute_path))):
        path, message = _message(error)
        problems.append(source.problem(path, message))
    return problems
