"""Each project lint rule against its good and bad fixture: exact matches, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.lint.gate import lint_templates
from tests.support import paths

FIXTURES = paths.FIXTURES / "lint"

EXPECTED: dict[str, list[tuple[int, str]]] = {
    "E9101": [
        (7, "trust policy of BigTrust is 2464 characters, over the 2048-character quota"),
        (
            77,
            "inline policies of BigInline total 14588 characters, over the 10240-character quota for AWS::IAM::Role",
        ),
        (495, "managed policy BigManaged is 7294 characters, over the 6144-character quota"),
    ],
    "E9102": [
        (1, "template is 80490 bytes, over the 51200-byte TemplateBody limit; split it or upload it to S3")
    ],
    "E9103": [
        (20, "Admin allows Action '*' without Metadata BreakGlass.Reason"),
        (40, "EmptyReason allows Action '*' without Metadata BreakGlass.Reason"),
    ],
    "E9104": [
        (12, "Deployer allows iam:PassRole on Resource '*'"),
        (16, "Deployer allows iam:PassRole on Resource '*'"),
    ],
    "E9106": [
        (23, "Developer allows ecs:RunTask on '*' (run any command as any task definition's role)"),
        (
            23,
            "Developer allows lambda:UpdateFunctionConfiguration on '*' (add a layer that runs as any "
            "function's role)",
        ),
        (
            32,
            "Splitter allows iam:UpdateAssumeRolePolicy + sts:AssumeRole on '*' (trust itself in any role, "
            "then assume it)",
        ),
    ],
    "E9105": [
        (11, "Anyone trusts Principal '*'"),
        (20, "AnyAws trusts Principal '*'"),
        (36, "OtherAccount trusts an AWS principal without any Condition"),
        (46, "Oidc trusts a Federated principal without any Condition"),
    ],
}


@pytest.fixture(scope="module")
def findings(root: Path) -> dict[str, list[tuple[str, int, str]]]:
    by_file: dict[str, list[tuple[str, int, str]]] = {}
    for f in lint_templates(sorted(FIXTURES.glob("*.yaml")), root=root):
        by_file.setdefault(Path(f.file).name, []).append((f.rule, f.line, f.message))
    return by_file


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_bad_fixture_trips_exactly_its_rule(
    rule: str, findings: dict[str, list[tuple[str, int, str]]]
) -> None:
    got = findings.get(f"{rule}_bad.yaml", [])
    assert got == [(rule, line, message) for line, message in EXPECTED[rule]]


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_good_fixture_is_clean(rule: str, findings: dict[str, list[tuple[str, int, str]]]) -> None:
    assert findings.get(f"{rule}_good.yaml", []) == []


def test_every_rule_file_has_fixtures_and_metadata() -> None:
    from cfnlint.helpers import load_plugins

    from generator.lint.gate import RULES_DIR

    rules = load_plugins(str(RULES_DIR))
    assert sorted(r.id for r in rules) == sorted(EXPECTED)
    for rule in rules:
        assert rule.shortdesc and rule.description and rule.source_url.startswith("https://"), rule.id
        assert rule.tags, rule.id
        assert (FIXTURES / f"{rule.id}_good.yaml").is_file()
        assert (FIXTURES / f"{rule.id}_bad.yaml").is_file()


def test_every_escalation_action_is_a_real_iam_action_with_a_cited_source() -> None:
    from generator.lint.escalation import ESCALATION_SETS
    from generator.org.iam import check_action

    for found in ESCALATION_SETS:
        assert found.source.startswith("https://"), found
        for action in found.actions:
            assert check_action(action) is None, action
