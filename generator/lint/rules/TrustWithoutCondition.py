"""E9105: a trust policy open to everyone, or to another account or identity provider without a Condition."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.policies import as_list, statements, trust_policies

_ARTICLE = {"AWS": "an", "Federated": "a"}


class TrustWithoutCondition(CloudFormationLintRule):
    id = "E9105"
    shortdesc = "Trust policy with a wildcard principal or an unconditioned AWS or federated principal"
    description = (
        "A role's trust policy must name its principals: Principal '*' is refused outright, and an "
        "AWS account, role or user, or a federated identity provider, needs a Condition (MFA, "
        "external id, OIDC subject, organization) so that the whole other side cannot assume it."
    )
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"
    tags = ["iam", "security", "trust"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for doc in trust_policies(cfn.template):
            for path, statement in statements(doc):
                if statement.get("Effect") != "Allow":
                    continue
                principal = statement.get("Principal")
                if principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))):
                    matches.append(RuleMatch([*path, "Principal"], f"{doc.resource} trusts Principal '*'"))
                    continue
                if not isinstance(principal, dict):
                    continue
                for kind in ("AWS", "Federated"):
                    if kind in principal and not statement.get("Condition"):
                        matches.append(
                            RuleMatch(
                                [*path, "Principal", kind],
                                f"{doc.resource} trusts {_ARTICLE[kind]} {kind} principal without any Condition",
                            )
                        )
        return matches
