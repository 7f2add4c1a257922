"""A role's effective IAM as comparable data: its template resolved with one OU's parameter values,
exploded into atomic grants so that statement order, action order, and one value versus a list of
one never show up as changes.

Pure: takes template dicts (as rendered, or as deployed and read back) and parameter values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")


@dataclass(frozen=True, order=True)
class Grant:
    """One (effect, action, resource, conditions) of a permission policy; conditions as sorted JSON."""

    effect: str
    action: str
    resource: str
    conditions: str = ""

    def __str__(self) -> str:
        cond = f" when {self.conditions}" if self.conditions else ""
        return f"{self.effect} {self.action} on {self.resource}{cond}"


@dataclass(frozen=True, order=True)
class TrustGrant:
    """One (principal kind, principal, action, conditions) of a trust policy."""

    kind: str
    principal: str
    action: str
    conditions: str = ""

    def __str__(self) -> str:
        cond = f" when {self.conditions}" if self.conditions else ""
        return f"{self.kind} {self.principal} may {self.action}{cond}"


@dataclass(frozen=True)
class RoleView:
    """What a role grants in the accounts of one OU."""

    name: str
    trust: frozenset[TrustGrant]
    permissions: frozenset[Grant]
    managed_policies: frozenset[str]
    permissions_boundary: str | None
    max_session_duration: int | None
    path: str
    parameters: Mapping[str, str]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolve(value: Any, parameters: Mapping[str, str]) -> Any:
    """Resolve Ref and Fn::Sub against parameter values; AWS pseudo parameters stay as ${AWS::...}."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and isinstance(arg, str):
            return parameters.get(arg, f"${{{arg}}}")
        if key == "Fn::Sub":
            text, local = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
            values = {**parameters, **{k: resolve(v, parameters) for k, v in local.items()}}
            return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), str(text))
    if isinstance(value, dict):
        return {k: resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters) for v in value]
    return value


def _conditions(condition: Any) -> str:
    """Conditions as canonical JSON: operators and keys sorted, single values as one-item lists."""
    if not condition:
        return ""
    canon = {
        op: {key: sorted(str(v) for v in _as_list(val)) for key, val in sorted(pairs.items())}
        for op, pairs in sorted(condition.items())
    }
    return json.dumps(canon, sort_keys=True, separators=(",", ":"))


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in _as_list(document.get("Statement", [])) if isinstance(s, dict)]


def permission_grants(documents: Iterable[Any]) -> frozenset[Grant]:
    grants = set()
    for document in documents:
        for s in _statements(document):
            cond = _conditions(s.get("Condition"))
            for action in _as_list(s.get("Action", [])):
                for resource in _as_list(s.get("Resource", [])):
                    grants.add(Grant(str(s.get("Effect", "Allow")), str(action), str(resource), cond))
    return frozenset(grants)


def trust_grants(document: Any) -> frozenset[TrustGrant]:
    grants = set()
    for s in _statements(document):
        if s.get("Effect", "Allow") != "Allow":
            continue
        cond = _conditions(s.get("Condition"))
        principal = s.get("Principal")
        pairs = (
            [("*", "*")]
            if principal == "*"
            else [(kind, str(p)) for kind, ps in sorted((principal or {}).items()) for p in _as_list(ps)]
        )
        for kind, p in pairs:
            for action in _as_list(s.get("Action", [])):
                grants.add(TrustGrant(kind, p, str(action), cond))
    return frozenset(grants)


def _resources(
    template: Mapping[str, Any], parameters: Mapping[str, str], resource_type: str
) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    """The template's parameter values (`parameters` over the defaults), and every resource of one type
    as (logical id, properties resolved with those values)."""
    values = {
        name: str(p["Default"])
        for name, p in (template.get("Parameters") or {}).items()
        if isinstance(p, dict) and "Default" in p
    }
    values.update(parameters)
    found = [
        (logical_id, resolve(resource.get("Properties") or {}, values))
        for logical_id, resource in sorted((template.get("Resources") or {}).items())
        if isinstance(resource, dict) and resource.get("Type") == resource_type
    ]
    return values, found


def role_views(template: Mapping[str, Any], parameters: Mapping[str, str]) -> list[RoleView]:
    """Every AWS::IAM::Role in a template, resolved with `parameters` (defaults fill the gaps)."""
    values, roles = _resources(template, parameters, "AWS::IAM::Role")
    views = []
    for logical_id, props in roles:
        session = props.get("MaxSessionDuration")
        views.append(
            RoleView(
                name=str(props.get("RoleName", logical_id)),
                trust=trust_grants(props.get("AssumeRolePolicyDocument")),
                permissions=permission_grants(p.get("PolicyDocument") for p in props.get("Policies", [])),
                managed_policies=frozenset(str(a) for a in props.get("ManagedPolicyArns", [])),
                permissions_boundary=props.get("PermissionsBoundary"),
                max_session_duration=int(session) if str(session).isdigit() else None,
                path=str(props.get("Path", "/")),
                parameters=dict(sorted(values.items())),
            )
        )
    return views


def policy_views(template: Mapping[str, Any], parameters: Mapping[str, str]) -> list[RoleView]:
    """Every AWS::IAM::ManagedPolicy in a template (the login account's assume-role policies: which roles
    people may assume), as a view named after the policy, its document as the permissions; so the differ
    compares, grades and flags them as it does roles."""
    values, policies = _resources(template, parameters, "AWS::IAM::ManagedPolicy")
    return [
        RoleView(
            name=f"policy {props.get('ManagedPolicyName', logical_id)}",
            trust=frozenset(),
            permissions=permission_grants([props.get("PolicyDocument")]),
            managed_policies=frozenset(),
            permissions_boundary=None,
            max_session_duration=None,
            path=str(props.get("Path", "/")),
            parameters=dict(sorted(values.items())),
        )
        for logical_id, props in policies
    ]
