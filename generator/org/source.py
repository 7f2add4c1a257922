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

from pipeline.common.errors import Problem

KeyPath = tuple[str | int, ...]


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
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


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
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path, display: str) -> tuple[Source | None, list[Problem]]:
    """Parse `path`; on any read or syntax error, no Source and one Problem with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(display, "", f"cannot be read: {exc.__class__.__name__}")]
    lines: dict[KeyPath, int] = {}
    loader: _UniqueKeyLoader | None = None
    try:
        loader = _UniqueKeyLoader(text)
        node = loader.get_single_node()
        data = None if node is None else _construct(node, (), lines, loader)
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
        return (*path, extra[0]), f"unknown key '{extra[0]}'{hint}"
    if v == "required":
        return path, f"missing required key: {error.message.split(' ')[0]}"
    if v == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)
        return path, f"must be {names}, not {_type_name(error.instance)}"
    if v == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return path, f"'{error.instance}' is not one of: {options}"
    if v == "pattern":
        what = error.schema.get("description") or f"pattern {error.validator_value}"
        return path, f"'{error.instance}' does not match {what}"
    if v in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "maxProperties"):
        return path, error.message
    if v == "propertyNames":
        return path, f"invalid key name: {error.message}"
    return path, error.message


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
