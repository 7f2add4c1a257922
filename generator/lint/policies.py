"""Find IAM policy documents in a decoded CloudFormation template, for the project's own lint rules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

# Where identity policies live, by resource type: (property path to a document, or to a list of
# {PolicyDocument} items), following the AWS::IAM::* resource reference.
IDENTITY_POLICY_PATHS: dict[str, tuple[tuple[str, bool], ...]] = {
    "AWS::IAM::Role": (("Policies", True),),
    "AWS::IAM::User": (("Policies", True),),
    "AWS::IAM::Group": (("Policies", True),),
    "AWS::IAM::ManagedPolicy": (("PolicyDocument", False),),
    "AWS::IAM::Policy": (("PolicyDocument", False),),
    "AWS::IAM::RolePolicy": (("PolicyDocument", False),),
    "AWS::IAM::UserPolicy": (("PolicyDocument", False),),
    "AWS::IAM::GroupPolicy": (("PolicyDocument", False),),
}


@dataclass(frozen=True)
class PolicyDoc:
    resource: str
    resource_type: str
    path: tuple[str | int, ...]
    document: dict[str, Any]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_policies(template: dict[str, Any]) -> Iterator[PolicyDoc]:
    """Every identity-based policy document, with its cfn-lint path."""
    for name, resource in sorted((template.get("Resources") or {}).items()):
        if not isinstance(resource, dict):
            continue
        rtype = resource.get("Type")
        props = resource.get("Properties") or {}
        for prop, is_list in IDENTITY_POLICY_PATHS.get(str(rtype), ()):
            value = props.get(prop)
            if is_list and isinstance(value, list):
                for i, item in enumerate(value):
                    doc = item.get("PolicyDocument") if isinstance(item, dict) else None
                    if isinstance(doc, dict):
                        path = ("Resources", name, "Properties", prop, i, "PolicyDocument")
                        yield PolicyDoc(name, str(rtype), path, doc)
            elif not is_list and isinstance(value, dict):
                yield PolicyDoc(name, str(rtype), ("Resources", name, "Properties", prop), value)


def trust_policies(template: dict[str, Any]) -> Iterator[PolicyDoc]:
    for name, resource in sorted((template.get("Resources") or {}).items()):
        if isinstance(resource, dict) and resource.get("Type") == "AWS::IAM::Role":
            doc = (resource.get("Properties") or {}).get("AssumeRolePolicyDocument")
            if isinstance(doc, dict):
                path = ("Resources", name, "Properties", "AssumeRolePolicyDocument")
                yield PolicyDoc(name, "AWS::IAM::Role", path, doc)


def statements(doc: PolicyDoc) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    raw = doc.document.get("Statement")
    if isinstance(raw, dict):
        yield (*doc.path, "Statement"), raw
    elif isinstance(raw, list):
        for i, statement in enumerate(raw):
            if isinstance(statement, dict):
                yield (*doc.path, "Statement", i), statement


def action_grants(pattern: Any, action: str) -> bool:
    """True when an Action entry (a string, maybe with wildcards) covers `action`, case-insensitively."""
    return isinstance(pattern, str) and fnmatchcase(action.lower(), pattern.lower())
