"""Property: no malformed org_roles/ input ever produces a traceback or writes anything."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.cli import main
from tests.support.paths import FIXTURES

MINIMAL = FIXTURES / "orgs" / "minimal"
TARGETS = ["org.yaml", "roles/Reader.yaml", "roles/New.yaml", "Root/ou.yaml", "Root/Apps/Prod/ou.yaml"]

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.floats(allow_nan=False)
structures = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
KEYS = [
    "description",
    "trust",
    "login_account",
    "mfa",
    "statements",
    "actions",
    "resources",
    "roles",
    "role",
    "parameters",
    "management_account_id",
    "login_account_id",
    "home_region",
    "ou_id",
    "MaxSessionDuration",
]

pytestmark = pytest.mark.slow  # 200 hypothesis examples: seconds


def _replace_somewhere(doc: Any, key: str, value: Any) -> Any:
    """Put `value` under `key` in the first mapping found (depth first), or wrap the doc."""
    if isinstance(doc, dict):
        for v in doc.values():
            if isinstance(v, dict | list):
                _replace_somewhere(v, key, value)
                return doc
        doc[key] = value
        return doc
    if isinstance(doc, list) and doc:
        _replace_somewhere(doc[0], key, value)
        return doc
    return {key: value}


@st.composite
def malformed(draw: st.DrawFn) -> tuple[str, str]:
    target = draw(st.sampled_from(TARGETS))
    kind = draw(st.sampled_from(["text", "structure", "mutated"]))
    if kind == "text":
        return target, draw(st.text(max_size=200))
    if kind == "structure":
        return target, yaml.safe_dump(draw(structures))
    source = MINIMAL / target if (MINIMAL / target).exists() else MINIMAL / "roles/Reader.yaml"
    doc = yaml.safe_load(source.read_text()) or {}
    doc = _replace_somewhere(doc, draw(st.sampled_from(KEYS)), draw(structures))
    return target, yaml.safe_dump(doc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed())
def test_malformed_input_never_tracebacks_or_writes(case: tuple[str, str]) -> None:
    target, text = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(MINIMAL, root / "org_roles")
        (root / "org_roles" / target).write_text(text, encoding="utf-8")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["--root", str(root), "render", "--only", "org-roles"])
        assert code in (0, 2)
        if code == 2:
            assert err.getvalue().startswith("error: ")
            assert "Traceback" not in err.getvalue()
            assert not (root / "templates").exists()
            assert sorted(p.name for p in root.iterdir()) == ["org_roles"]
