"""E9106: a known privilege-escalation action set allowed on `Resource: *` (generator.lint.escalation)."""

from __future__ import annotations

from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint import escalation
from generator.lint.policies import as_list, identity_policies, statements
from generator.lint.rules.WildcardAction import break_glass_reason


class EscalationOnEverything(CloudFormationLintRule):
    id = "E9106"
    shortdesc = "Privilege-escalation action set on Resource '*'"
    description = (
        "Some actions, allowed on every resource, let the holder give itself more access or run code as "
        "another role (iam:CreatePolicyVersion, iam:Attach*Policy, lambda:UpdateFunctionCode, "
        "lambda:UpdateFunctionConfiguration, ecs:RunTask, ssm:SendCommand, ...). The sets of all the "
        "identity policies of one resource are checked together; a break-glass resource is exempt."
    )
    source_url = escalation.RHINO
    tags = ["iam", "security"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        resources = cfn.template.get("Resources") or {}
        # resource name -> (path of the first statement allowing each action pattern on '*')
        on_everything: dict[str, list[tuple[list[Any], str]]] = {}
        for doc in identity_policies(cfn.template):
            if break_glass_reason(resources.get(doc.resource)):
                continue
            for path, statement in statements(doc):
                if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource")):
                    continue
                for action in as_list(statement.get("Action")):
                    if isinstance(action, str):
                        on_everything.setdefault(doc.resource, []).append(([*path, "Resource"], action))
        for name, granted in sorted(on_everything.items()):
            for found in escalation.escalation_sets(a for _, a in granted):
                where = next(p for p, a in granted if escalation.grants(a, found.actions[0]))
                matches.append(RuleMatch(where, f"{name} allows {escalation.describe(found)}"))
        return matches
