"""E9103: `Action: *` in an identity policy of a resource not explicitly marked break-glass."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.policies import as_list, identity_policies, statements

BREAK_GLASS_KEY = "BreakGlass"


def break_glass_reason(resource: Any) -> str | None:
    """The reason in Metadata.BreakGlass.Reason, when the resource carries a non-empty one."""
    if not isinstance(resource, dict):
        return None
    marker = (resource.get("Metadata") or {}).get(BREAK_GLASS_KEY)
    reason = marker.get("Reason") if isinstance(marker, dict) else None
    return reason if isinstance(reason, str) and reason.strip() else None


class WildcardAction(CloudFormationLintRule):
    id = "E9103"
    shortdesc = "Action '*' outside a break-glass resource"
    description = (
        "An Allow statement with Action '*' grants every API of every service. Only a resource "
        "whose Metadata carries BreakGlass: {Reason: ...} may do so."
    )
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"
    tags = ["iam", "security"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        resources = cfn.template.get("Resources") or {}
        for doc in identity_policies(cfn.template):
            if break_glass_reason(resources.get(doc.resource)):
                continue
            for path, statement in statements(doc):
                if statement.get("Effect") != "Allow":
                    continue
                for i, action in enumerate(as_list(statement.get("Action"))):
                    if action in ("*", "*:*"):
                        listed = isinstance(statement.get("Action"), list)
                        where = [*path, "Action", i] if listed else [*path, "Action"]
                        matches.append(
                            RuleMatch(
                                where,
                                f"{doc.resource} allows Action '*' without Metadata {BREAK_GLASS_KEY}.Reason",
                            )
                        )
        return matches
