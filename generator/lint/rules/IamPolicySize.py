"""E9101: IAM policy documents over the IAM size quotas, counted without whitespace as IAM counts them."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.policies import identity_policies, trust_policies
from generator.output import compact_json
from pipeline.core import limits

_INLINE_LIMITS = {
    "AWS::IAM::Role": limits.INLINE_POLICIES_PER_ROLE_CHARS,
    "AWS::IAM::User": limits.INLINE_POLICIES_PER_USER_CHARS,
    "AWS::IAM::Group": limits.INLINE_POLICIES_PER_GROUP_CHARS,
}
_MANAGED = ("AWS::IAM::ManagedPolicy",)


def policy_size(document: Any) -> int:
    """Characters IAM counts for a policy: the JSON without whitespace (intrinsics counted as written)."""
    return len(compact_json(document))


class IamPolicySize(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "IAM policy over its size quota"
    description = (
        "Trust policies are limited to 2,048 characters, managed policies to 6,144, and the inline "
        "policies of one role together to 10,240 (users 2,048, groups 5,120), not counting whitespace."
    )
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
    tags = ["iam", "limits"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for doc in trust_policies(cfn.template):
            size = policy_size(doc.document)
            if size > limits.TRUST_POLICY_CHARS:
                matches.append(
                    RuleMatch(
                        list(doc.path),
                        f"trust policy of {doc.resource} is {size} characters, over the "
                        f"{limits.TRUST_POLICY_CHARS}-character quota",
                    )
                )
        inline: dict[str, tuple[str, int, list[str | int]]] = {}
        for doc in identity_policies(cfn.template):
            size = policy_size(doc.document)
            if doc.resource_type in _MANAGED and size > limits.MANAGED_POLICY_CHARS:
                matches.append(
                    RuleMatch(
                        list(doc.path),
                        f"managed policy {doc.resource} is {size} characters, over the "
                        f"{limits.MANAGED_POLICY_CHARS}-character quota",
                    )
                )
            elif doc.resource_type in _INLINE_LIMITS:
                kind, total, _ = inline.get(doc.resource, (doc.resource_type, 0, []))
                inline[doc.resource] = (
                    kind,
                    total + size,
                    ["Resources", doc.resource, "Properties", "Policies"],
                )
        for resource, (kind, total, path) in sorted(inline.items()):
            limit = _INLINE_LIMITS[kind]
            if total > limit:
                matches.append(
                    RuleMatch(
                        path,
                        f"inline policies of {resource} total {total} characters, over the "
                        f"{limit}-character quota for {kind}",
                    )
                )
        return matches
