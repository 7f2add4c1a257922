"""IAM for org roles: the action catalogue awacs ships, and the awacs policy documents of a role.

The same builders feed rendering and the size checks, so sizes are measured on what is rendered.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import keyword
import pkgutil
from collections.abc import Mapping
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import awacs
from awacs import aws, sts
from troposphere import Ref, Sub, encode_to_dict

from generator.org.model import LOGIN_ACCOUNT_PARAMETER, ORGANIZATION_PARAMETER, Role

POLICY_VERSION = "2012-10-17"


@cache
def action_catalogue() -> dict[str, dict[str, str]]:
    """{service prefix (lower case): {action (lower case): canonical "prefix:Action"}} from awacs."""
    catalogue: dict[str, dict[str, str]] = {}
    for info in pkgutil.iter_modules(awacs.__path__):
        if info.name in ("aws", "helpers"):
            continue
        module = importlib.import_module(f"awacs.{info.name}")
        prefix = getattr(module, "prefix", None)
        if not isinstance(prefix, str):
            continue
        actions = catalogue.setdefault(prefix.lower(), {})
        for value in vars(module).values():
            if isinstance(value, aws.Action) and value.action:
                actions[value.action.lower()] = f"{prefix}:{value.action}"
    return catalogue


@cache
def _module_actions(prefix: str) -> frozenset[str]:
    """The lower-case actions of the one awacs module named after `prefix` (lower case), if it has one.

    Importing all of awacs for action_catalogue() takes about half a second; most actions are found in
    the module of their own name. A subset of the catalogue's actions for `prefix`, so an action found
    here is found there too."""
    name = prefix.replace("-", "_")
    name = f"aws{name}" if keyword.iskeyword(name) else name  # lambda is awacs.awslambda
    if not name.isidentifier() or importlib.util.find_spec(f"awacs.{name}") is None:
        return frozenset()
    module = importlib.import_module(f"awacs.{name}")
    if str(getattr(module, "prefix", "")).lower() != prefix:
        return frozenset()
    return frozenset(
        value.action.lower()
        for value in vars(module).values()
        if isinstance(value, aws.Action) and value.action
    )


def check_action(action: str) -> str | None:
    """None when `action` names a real IAM action (or a wildcard that matches one); else why not."""
    if action == "*":
        return None
    if action.count(":") != 1:
        return f"'{action}' is not an IAM action (expected service:Action)"
    prefix, name = action.split(":")
    lowered = name.lower()
    known = _module_actions(prefix.lower())
    if lowered in known or (("*" in name or "?" in name) and any(fnmatchcase(a, lowered) for a in known)):
        return None  # the catalogue would say so too; anything else is answered from the whole catalogue
    catalogue = action_catalogue()
    actions = catalogue.get(prefix.lower())
    if actions is None:
        close = difflib.get_close_matches(prefix.lower(), catalogue, n=5)
        # Prefer a near prefix that really has this action (ec3:RunInstances -> ec2, not ecs).
        close = [p for p in close if name.lower() in catalogue[p]] or close
        hint = f"; did you mean '{close[0]}:{name}'?" if close else ""
        return f"unknown IAM service prefix '{prefix}' in '{action}'{hint}"
    if "*" in name or "?" in name:
        if any(fnmatchcase(a, lowered) for a in actions):
            return None
        return f"'{action}' matches no {prefix} action"
    if lowered in actions:
        return None
    close = difflib.get_close_matches(lowered, actions, n=1, cutoff=0.6)
    hint = f"; did you mean '{actions[close[0]]}'?" if close else ""
    return f"unknown IAM action '{action}'{hint}"


def _sub_if_needed(value: str, rename: Mapping[str, str]) -> Any:
    """Strings with ${...} placeholders (role parameters, AWS pseudo parameters) become Fn::Sub.

    `rename` maps a role parameter to the template parameter that carries it (the management-account
    template holds several roles, so their parameters are prefixed with the role name).
    """
    if "${" not in value:
        return value
    for old, new in rename.items():
        value = value.replace(f"${{{old}}}", f"${{{new}}}")
    return Sub(value)


def _sub_values(value: Any, rename: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _sub_if_needed(value, rename)
    if isinstance(value, list):
        return [_sub_values(v, rename) for v in value]
    return value


def _condition(merged: Mapping[str, Mapping[str, Any]]) -> aws.Condition:
    elements = []
    for operator in sorted(merged):
        cls = getattr(aws, operator.replace(":", ""), None)
        if cls is None:
            raise ValueError(f"unknown condition operator '{operator}'")
        elements.append(cls(dict(sorted(merged[operator].items()))))
    return aws.Condition(elements)


def _merge(*conditions: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        for operator, pairs in condition.items():
            out.setdefault(operator, {}).update(pairs)
    return out


def login_principal_arn(principal: str) -> Any:
    return Sub(f"arn:${{AWS::Partition}}:iam::${{{LOGIN_ACCOUNT_PARAMETER}}}:{principal}")


def mfa_condition(mfa: bool, max_age: int | None) -> dict[str, dict[str, Any]]:
    if not mfa:
        return {}
    condition: dict[str, dict[str, Any]] = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    if max_age:
        condition["NumericLessThan"] = {"aws:MultiFactorAuthAge": str(max_age)}
    return condition


def trust_policy(role: Role) -> aws.PolicyDocument:
    """Who may assume the role: the login account (MFA by default), named accounts, AWS services."""
    statements = []
    trust = role.trust
    if trust.login is not None:
        login = trust.login
        principals_condition: dict[str, dict[str, Any]] = {}
        if login.principals:
            principals_condition = {
                "ArnLike": {"aws:PrincipalArn": [login_principal_arn(p) for p in login.principals]}
            }
        if role.break_glass_reason:
            # Every break-glass session says who is behind it: sts:SourceIdentity must be set, and it then
            # stays on the session and on every role chained from it, in CloudTrail and in the alarm
            # (Monitor and control actions taken with assumed roles,
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html;
            # Null "false": the key must be present, IAM JSON policy elements: Condition operators,
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null).
            principals_condition = _merge(principals_condition, {"Null": {"sts:SourceIdentity": "false"}})
        statements.append(
            aws.Statement(
                Sid="LoginAccount",
                Effect=aws.Allow,
                Principal=aws.Principal("AWS", [login_principal_arn("root")]),
                Action=[sts.AssumeRole, sts.TagSession, sts.SetSourceIdentity],
                Condition=_condition(
                    _merge(mfa_condition(login.mfa, login.max_mfa_age_seconds), principals_condition)
                ),
            )
        )
    for i, account in enumerate(trust.accounts):
        conditions: list[dict[str, dict[str, Any]]] = [mfa_condition(account.mfa, None)]
        if account.principals:
            arns = [f"arn:${{AWS::Partition}}:iam::{account.account_id}:{p}" for p in account.principals]
            conditions.append({"ArnLike": {"aws:PrincipalArn": [Sub(a) for a in arns]}})
        if account.external_id:
            conditions.append({"StringEquals": {"sts:ExternalId": account.external_id}})
        statements.append(
            aws.Statement(
                Sid=f"Account{i + 1}",
                Effect=aws.Allow,
                Principal=aws.Principal(
                    "AWS", [Sub(f"arn:${{AWS::Partition}}:iam::{account.account_id}:root")]
                ),
                Action=[sts.AssumeRole, sts.TagSession],
                Condition=_condition(_merge(*conditions)),
            )
        )
    if trust.services:
        statements.append(
            aws.Statement(
                Sid="Services",
                Effect=aws.Allow,
                Principal=aws.Principal("Service", list(trust.services)),
                Action=[sts.AssumeRole],
            )
        )
    return aws.PolicyDocument(Version=POLICY_VERSION, Statement=statements)


def permission_policy(role: Role, rename: Mapping[str, str] | None = None) -> aws.PolicyDocument | None:
    """The role's inline statements as one policy, or None when it has none."""
    if not role.statements:
        return None
    statements = []
    for i, s in enumerate(role.statements):
        kwargs: dict[str, Any] = {
            "Sid": s.sid or f"Statement{i + 1}",
            "Effect": aws.Allow if s.effect == "Allow" else aws.Deny,
            "Action": [aws.Action(*a.split(":", 1)) if a != "*" else aws.Action("*") for a in s.actions],
            "Resource": [_sub_if_needed(r, rename or {}) for r in s.resources],
        }
        if s.conditions:
            subbed = {
                op: {key: _sub_values(value, rename or {}) for key, value in pairs.items()}
                for op, pairs in s.conditions.items()
            }
            kwargs["Condition"] = _condition(subbed)
        statements.append(aws.Statement(**kwargs))
    return aws.PolicyDocument(Version=POLICY_VERSION, Statement=statements)


def role_arn_pattern(role: Role) -> Any:
    """The role's ARN in any account: the role exists only where its OUs put it."""
    return Sub(f"arn:${{AWS::Partition}}:iam::*:role{role.path}{role.name}")


def login_policy(role: Role, session_tag_keys: tuple[str, ...] = ()) -> aws.PolicyDocument:
    """In the login account: may assume this role in any account of the organization, and tag the session
    with the declared keys only.

    aws:ResourceOrgID is the organization of the account that owns the resource, here the role being
    assumed (AWS global condition context keys,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceorgid),
    so a role of the same name in an account outside the organization cannot be assumed. sts:TagSession
    carries the requested tag keys in aws:TagKeys; ForAllValues:StringEquals allows only the listed keys
    (Passing session tags in AWS STS: "Controlling access to session tags",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required).
    No declared keys: no sts:TagSession at all.
    """
    login = role.trust.login
    condition = _merge(
        mfa_condition(login.mfa if login else True, login.max_mfa_age_seconds if login else None),
        {"StringEquals": {"aws:ResourceOrgID": Ref(ORGANIZATION_PARAMETER)}},
    )
    statements = [
        aws.Statement(
            Sid="AssumeRole",
            Effect=aws.Allow,
            Action=[sts.AssumeRole, sts.SetSourceIdentity],
            Resource=[role_arn_pattern(role)],
            Condition=_condition(condition),
        )
    ]
    if session_tag_keys:
        tagged = _merge(condition, {"ForAllValues:StringEquals": {"aws:TagKeys": list(session_tag_keys)}})
        statements.append(
            aws.Statement(
                Sid="TagSessionWithDeclaredKeys",
                Effect=aws.Allow,
                Action=[sts.TagSession],
                Resource=[role_arn_pattern(role)],
                Condition=_condition(tagged),
            )
        )
    return aws.PolicyDocument(Version=POLICY_VERSION, Statement=statements)


def known_operator(operator: str) -> bool:
    return isinstance(getattr(aws, operator.replace(":", ""), None), type)


def policy_dict(document: aws.PolicyDocument) -> dict[str, Any]:
    """A policy document as plain JSON data (intrinsic functions included as written)."""
    data: dict[str, Any] = encode_to_dict(document)
    return data
