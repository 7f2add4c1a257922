"""Serialisation: libyaml's emitter (used when PyYAML has it) writes the same bytes as the pure-Python one,
so rendered templates do not depend on how PyYAML was built."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import output
from generator.blueprints import BLUEPRINTS
from generator.blueprints.base import RenderContext
from generator.output import PURE_DUMPER, dump_yaml
from generator.render import render_all


def test_the_fast_dumper_is_libyaml_here() -> None:
    assert yaml.__with_libyaml__
    assert issubclass(output._TemplateDumper, yaml.CSafeDumper)


def test_every_rendered_file_is_the_same_with_either_emitter(
    root: Path, rendered: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "_TemplateDumper", PURE_DUMPER)
    pure = render_all(RenderContext(root=root), BLUEPRINTS)
    assert sum(p.endswith(".yaml") for p in pure) >= 16
    assert pure == rendered


@pytest.mark.parametrize(
    "value",
    [
        "line one\nline two\n",
        "no final newline\nsecond",
        "  leading spaces\n",
        "ünïcødé and emoji 🚀",
        "x" * 5000,
        "a: b # not a comment",
        "'quoted' \"double\"",
        "yes",
        "0123",
        "",
        "trailing space ",
        "tab\there",
        "next line \x85 here",
        "line separator \u2028 and \u2029",
        "byte order mark \ufeff",
        "control \x07 \x1b",
        "CR \r LF",
        "astral \U0001d518\U0001d52b",
        '#!/bin/bash\nset -euo pipefail\necho "${VAR:-x}"\n',
    ],
)
def test_awkward_strings_are_the_same_with_either_emitter(value: str) -> None:
    data = {"Resources": {"R": {"Properties": {"Value": value, "List": [value, {"K": value}]}}}}
    assert dump_yaml(data, ["h"]) == dump_yaml(data, ["h"], PURE_DUMPER)
    assert yaml.safe_load(dump_yaml(data, ["h"])) == data


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.text()
        | st.lists(st.text(), max_size=3)
        | st.dictionaries(st.text(max_size=4), st.text(), max_size=2),
        max_size=4,
    )
)
def test_any_text_is_the_same_with_either_emitter(data: dict[str, object]) -> None:
    assert dump_yaml(data, ["h"]) == dump_yaml(data, ["h"], PURE_DUMPER)
