"""Drift detection for the StackSet emulator: the IAM roles a stack instance created, as moto's IAM holds
them in that account now, against what the template gave them when the instance deployed.

AWS compares each resource's actual configuration with "its expected template configuration" and reports a
resource as MODIFIED (property differences) or DELETED (API_StackInstanceResourceDriftsSummary,
StackResourceDriftStatus); each difference carries PropertyPath, ExpectedValue, ActualValue and DifferenceType
ADD | REMOVE | NOT_EQUAL (API_PropertyDifference). The expected values here are the role's properties right
after moto created the stack from the template (so intrinsics are resolved as CloudFormation resolves them);
only the properties CloudFormation's AWS::IAM::Role drift covers that people edit by hand are compared:
trust policy, inline policies, max session duration, path. Not ManagedPolicyArns: moto's CloudFormation
ignores that property (its roles never get the template's managed policies) and moto's IAM holds no AWS
managed policies to attach, so the emulator cannot see that drift; real AWS reports it.
Pages: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_PropertyDifference.html,
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceResourceDriftsSummary.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

ROLE = "AWS::IAM::Role"
# A role's live properties: logical id -> (physical name, properties or None when the role is gone).
RoleStates = dict[str, tuple[str, dict[str, Any] | None]]


def _doc(text: Any) -> Any:
    if isinstance(text, dict):
        return text
    raw = str(text)
    try:
        return json.loads(raw)
    except ValueError:
        return json.loads(unquote(raw))  # IAM returns policy documents URL-encoded


def role_properties(role: Any) -> dict[str, Any]:
    """The compared properties of a moto IAM Role, in the template's property names."""
    return {
        "AssumeRolePolicyDocument": _doc(role.assume_role_policy_document),
        "Policies": [
            {"PolicyDocument": _doc(doc), "PolicyName": name} for name, doc in sorted(role.policies.items())
        ],
        "MaxSessionDuration": int(role.max_session_duration or 3600),
        "Path": role.path,
    }


def stack_roles(account: str, region: str, stack: str) -> RoleStates:
    """The roles of a moto stack in an account: their live properties, None for a role deleted by hand."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.iam.models import iam_backends

    backend = cloudformation_backends[account][region]
    found = next((s for s in backend.stacks.values() if s.name == stack), None)
    if found is None:
        return {}
    iam = iam_backends[account]["global"]
    live = {r.name: r for r in iam.get_roles()}
    out: RoleStates = {}
    for logical, spec in found.resource_map._resource_json_map.items():
        if spec.get("Type") != ROLE:
            continue
        model: Any = found.resource_map[logical]
        name = model.name
        role = live.get(name)
        out[logical] = (name, role_properties(role) if role is not None else None)
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def differences(expected: Any, actual: Any, path: str = "") -> Iterator[dict[str, str]]:
    """PropertyDifferences between two JSON values: dict keys and list positions make the PropertyPath."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        for k in sorted(set(expected) | set(actual)):
            sub = f"{path}/{k}"
            if k not in actual:
                yield _diff(sub, "REMOVE", expected[k], None)
            elif k not in expected:
                yield _diff(sub, "ADD", None, actual[k])
            else:
                yield from differences(expected[k], actual[k], sub)
        return
    if isinstance(expected, list) and isinstance(actual, list):
        for i in range(max(len(expected), len(actual))):
            sub = f"{path}/{i}"
            if i >= len(actual):
                yield _diff(sub, "REMOVE", expected[i], None)
            elif i >= len(expected):
                yield _diff(sub, "ADD", None, actual[i])
            else:
                yield from differences(expected[i], actual[i], sub)
        return
    if expected != actual:
        yield _diff(path, "NOT_EQUAL", expected, actual)


def _diff(path: str, kind: str, expected: Any, actual: Any) -> dict[str, str]:
    out = {"PropertyPath": path, "DifferenceType": kind}
    if expected is not None:
        out["ExpectedValue"] = _text(expected)
    if actual is not None:
        out["ActualValue"] = _text(actual)
    return out


def resource_drifts(expected: RoleStates, actual: RoleStates) -> list[dict[str, Any]]:
    """StackInstanceResourceDriftsSummary rows (without StackId and Timestamp) for the roles of one stack."""
    rows = []
    for logical in sorted(expected):
        name, want = expected[logical]
        _name, have = actual.get(logical, (name, None))
        row: dict[str, Any] = {"LogicalResourceId": logical, "PhysicalResourceId": name, "ResourceType": ROLE}
        if have is None:
            row["StackResourceDriftStatus"] = "DELETED"
        else:
            diffs = list(differences(want, have))
            row["StackResourceDriftStatus"] = "MODIFIED" if diffs else "IN_SYNC"
            if diffs:
                row["PropertyDifferences"] = diffs
        rows.append(row)
    return rows


def restore_roles(account: str, states: Mapping[str, Any]) -> None:
    """Give a freshly re-created stack's roles the live properties saved earlier (--local restarts moto from
    its state file), so an out-of-band edit stays an edit; a role saved as gone is deleted again."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["global"]
    for name, props in states.values():
        try:
            role = iam.get_role(name)
        except Exception:  # moto's NotFoundException: the re-created stack has no such role
            continue
        if props is None:
            role.policies.clear()
            role.managed_policies.clear()
            iam.delete_role(name)
            continue
        role.assume_role_policy_document = json.dumps(props["AssumeRolePolicyDocument"])
        role.policies.clear()
        for policy in props["Policies"]:
            role.policies[policy["PolicyName"]] = json.dumps(policy["PolicyDocument"])
        role.max_session_duration = props["MaxSessionDuration"]
        role.path = props["Path"]
