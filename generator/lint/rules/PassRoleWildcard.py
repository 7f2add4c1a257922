"""E9104: iam:PassRole allowed on `Resource: *`."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.policies import action_grants, as_list, identity_policies, statements


class PassRoleWildcard(CloudFormationLintRule):
    id = "E9104"
    shortdesc = "iam:PassRole on Resource '*'"
    description = (
        "Passing any role lets the holder hand any role, including administrator roles, to a "
        "service it controls. Scope iam:PassRole to the role ARNs and add iam:PassedToService."
    )
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html"
    tags = ["iam", "security"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for doc in identity_policies(cfn.template):
            for path, statement in statements(doc):
                if statement.get("Effect") != "Allow":
                    continue
                actions = as_list(statement.get("Action"))
                if "*" in actions or "*:*" in actions:
                    continue  # E9103 reports Action '*'
                if not any(action_grants(a, "iam:PassRole") for a in actions):
                    continue
                if "*" in as_list(statement.get("Resource")):
                    matches.append(
                        RuleMatch(
                            [*path, "Resource"],
                            f"{doc.resource} allows iam:PassRole on Resource '*'",
                        )
                    )
        return matches
