"""Checkov as a second, independent judge of the rendered templates, in its own virtual environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def test_checkov_reports_zero_failed_checks(checkov: list[str], root: Path) -> None:
    proc = subprocess.run(
        [
            *checkov,
            "--directory",
            str(root / "templates"),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    reports = json.loads(proc.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{c['file_path']}: {c['check_id']} {c['check_name']} ({c['resource']})"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert failed == []
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 0, "checkov checked nothing"


def test_every_checkov_skip_carries_a_reason(rendered: dict[str, bytes]) -> None:
    for path, data in rendered.items():
        if not path.endswith(".yaml"):
            continue
        for name, resource in yaml.safe_load(data).get("Resources", {}).items():
            for skip in (resource.get("Metadata", {}).get("checkov", {}) or {}).get("skip", []):
                assert skip.get("id", "").startswith("CKV"), f"{path} {name}"
                assert len(skip.get("comment", "").strip()) >= 20, f"{path} {name} {skip}"
