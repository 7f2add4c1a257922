"""The lint gate's output formats (the rendered templates through the gate: test_parallel.py)."""

from __future__ import annotations

import json

import pytest

from generator.lint.gate import Finding, format_json, format_sarif, format_text

SAMPLE = [
    Finding(
        "templates/a.yaml",
        3,
        5,
        "E9104",
        "error",
        "X allows iam:PassRole on Resource '*'",
        "PassRole",
        "https://x",
    ),
    Finding("templates/b.yaml", 1, 1, "I3011", "informational", "no DeletionPolicy"),
]


def test_text_format() -> None:
    assert format_text(SAMPLE, 2) == (
        "templates/a.yaml:3:5: E9104 [error] X allows iam:PassRole on Resource '*'\n"
        "templates/b.yaml:1:1: I3011 [informational] no DeletionPolicy\n"
        "2 finding(s) in 2 templates\n"
    )


def test_json_format() -> None:
    data = json.loads(format_json(SAMPLE, 2))
    assert data["templates_checked"] == 2
    assert [(f["rule"], f["file"], f["line"]) for f in data["findings"]] == [
        ("E9104", "templates/a.yaml", 3),
        ("I3011", "templates/b.yaml", 1),
    ]


def test_sarif_format() -> None:
    sarif = json.loads(format_sarif(SAMPLE, 2))
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["E9104", "I3011"]
    assert [(r["ruleId"], r["level"]) for r in run["results"]] == [("E9104", "error"), ("I3011", "note")]
    loc = run["results"][0]["locations"][0]["physicalLocation"]
    assert loc == {
        "artifactLocation": {"uri": "templates/a.yaml"},
        "region": {"startLine": 3, "startColumn": 5},
    }


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_no_findings_still_prints_a_summary(fmt: str) -> None:
    from generator.lint.gate import FORMATTERS

    out = FORMATTERS[fmt]([], 4)
    assert out.endswith("\n") and (
        "0 finding(s) in 4 templates" in out or '"templates' in out or "templatesChecked" in out
    )
