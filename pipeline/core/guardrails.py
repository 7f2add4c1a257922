"""Org-level guardrails, enforced by the trusted side: before its first write, the sync re-checks the manifest
and every template it would deploy against rules set in the pipeline stack (Lambda environment from stack
parameters), never in the repository under review. A commit that edits the generator or its validator still
cannot ship a role that trusts an account outside the allow-list, trusts everyone, grants `Action: "*"`
outside a break-glass role or allows longer sessions.

Pure: the templates arrive as text; every value a check depends on is resolved from the template's
parameters as the manifest sets them (StackSet values, every per-OU override, else the template default).
Whatever cannot be resolved to literal values, or is not one of the few resource types an org role template
needs, is refused: the rules fail closed.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.common.errors import excerpt as _short
from pipeline.core.errors import SyncError
from pipeline.core.manifest import ACCOUNT_RE, Manifest

# The environment variables the pipeline stack sets from its parameters (templates/org/pipeline.yaml).
ENV_LOGIN_ACCOUNT = "GUARDRAIL_LOGIN_ACCOUNT_ID"
ENV_TRUSTED_ACCOUNTS = "GUARDRAIL_TRUSTED_ACCOUNT_IDS"
ENV_BREAK_GLASS = "GUARDRAIL_BREAK_GLASS_ROLES"
ENV_MAX_SESSION = "GUARDRAIL_MAX_SESSION_SECONDS"

# IAM's own bounds for MaxSessionDuration (AWS::IAM::Role, CloudFormation User Guide:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-role.html); absent, 3600.
SESSION_DEFAULT, SESSION_MIN, SESSION_MAX = 3600, 3600, 43200
# What an org role template may contain. Anything else (a Lambda-backed custom resource, an IAM user, a
# Transform) would run or grant something no rule below looks at: extending this list is a change to the
# trusted, packaged code, not to the repository.
DEPLOYABLE_TYPES = frozenset(
    {"AWS::IAM::Role", "AWS::IAM::Group", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"}
)
POLICY_TYPES = frozenset({"AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"})
# AWS managed policies that grant every action ("Action": "*" on "*").
ADMIN_POLICY_RE = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/AdministratorAccess$")
AWS_MANAGED_RE = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/")
PRINCIPAL_ARN_RE = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::([0-9]{12}):")
# A value a template can only know at deploy time: never an allowed account.
TARGET_ACCOUNT = "<the target account>"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": TARGET_ACCOUNT,
    "AWS::Region": "<region>",
    "AWS::StackName": "<stack>",
    "AWS::StackId": "<stack id>",
    "AWS::URLSuffix": "amazonaws.com",
}
MAX_COMBINATIONS = 1024
# Long enough for an ARN: a problem must name the value it refuses.
QUOTE_CHARS = 200


def excerpt(value: object) -> str:
    return _short(value, QUOTE_CHARS)


class GuardrailError(SyncError):
    """The manifest or a template breaks an org guardrail; nothing was written."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("guardrails refused the artifact before any write: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Guardrails:
    login_account_id: str
    trusted_accounts: frozenset[str] = frozenset()
    break_glass_roles: frozenset[str] = frozenset()
    max_session_seconds: int = SESSION_MAX

    @property
    def allowed_accounts(self) -> frozenset[str]:
        return self.trusted_accounts | {self.login_account_id}


def _names(raw: str) -> frozenset[str]:
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


def from_settings(env: Mapping[str, str]) -> Guardrails:
    """The guardrails from the Lambda's environment, or GuardrailError naming the variable that is wrong."""
    login = env.get(ENV_LOGIN_ACCOUNT, "").strip()
    if not ACCOUNT_RE.match(login):
        raise GuardrailError(
            [
                f"{ENV_LOGIN_ACCOUNT} is {excerpt(login) if login else 'not set'}: the sync needs the login "
                "account id (the pipeline stack's LoginAccountId parameter) to check trust policies"
            ]
        )
    trusted = _names(env.get(ENV_TRUSTED_ACCOUNTS, ""))
    bad = sorted(a for a in trusted if not ACCOUNT_RE.match(a))
    if bad:
        raise GuardrailError([f"{ENV_TRUSTED_ACCOUNTS}: {excerpt(bad[0])} is not a 12-digit account id"])
    raw = env.get(ENV_MAX_SESSION, str(SESSION_MAX)).strip()
    if not raw.isdigit() or not SESSION_MIN <= int(raw) <= SESSION_MAX:
        raise GuardrailError([f"{ENV_MAX_SESSION}: {excerpt(raw)} is not a number of seconds in 3600-43200"])
    return Guardrails(login, trusted, _names(env.get(ENV_BREAK_GLASS, "")), int(raw))


# --- resolving values ------------------------------------------------------------------------------------


class _Unresolved(Exception):
    """A value that is not a literal, a parameter, a pseudo parameter, Fn::Sub, Fn::Join or Fn::If of those."""


Params = Mapping[str, frozenset[str]]


def _values(node: Any, params: Params) -> frozenset[str]:
    """Every literal string `node` can take, over every parameter value the manifest deploys."""
    if isinstance(node, str):
        return frozenset({node})
    if isinstance(node, int | float) and not isinstance(node, bool):
        return frozenset({str(node)})
    if not isinstance(node, dict) or len(node) != 1:
        raise _Unresolved(excerpt(node))
    [(fn, arg)] = node.items()
    if fn == "Ref" and isinstance(arg, str):
        if arg in PSEUDO:
            return frozenset({PSEUDO[arg]})
        if arg in params:
            return params[arg]
    elif fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
        return _values(arg[1], params) | _values(arg[2], params)
    elif fn == "Fn::Sub":
        return _sub(arg, params)
    elif fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
        return _product([_values(p, params) for p in arg[1]], str(arg[0]))
    raise _Unresolved(excerpt(node))


def _product(parts: list[frozenset[str]], sep: str = "") -> frozenset[str]:
    count = 1
    for p in parts:
        count *= len(p)
    if count > MAX_COMBINATIONS:
        raise _Unresolved(f"more than {MAX_COMBINATIONS} combinations of parameter values")
    return frozenset(sep.join(c) for c in itertools.product(*parts))


def _sub(arg: Any, params: Params) -> frozenset[str]:
    text, local = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
    if not isinstance(text, str) or not isinstance(local, dict):
        raise _Unresolved(excerpt(arg))
    pieces = re.split(r"(\$\{[^}!]*\})", text)
    parts: list[frozenset[str]] = []
    for piece in pieces:
        if piece.startswith("${") and piece.endswith("}"):
            name = piece[2:-1]
            parts.append(_values(local[name], params) if name in local else _values({"Ref": name}, params))
        else:
            parts.append(frozenset({piece.replace("${!", "${")}))
    return _product(parts)


def _items(node: Any) -> list[Any]:
    """A policy field that may be one value or a list (or Fn::If between them), as a flat list of values."""
    if isinstance(node, list):
        return [v for item in node for v in _items(item)]
    if isinstance(node, dict) and list(node) == ["Fn::If"] and isinstance(node["Fn::If"], list):
        branches = node["Fn::If"][1:]
        return [v for b in branches if b != {"Ref": "AWS::NoValue"} for v in _items(b)]
    return [node]


def _strings(node: Any, params: Params) -> frozenset[str]:
    out: set[str] = set()
    for item in _items(node):
        out |= _values(item, params)
    return frozenset(out)


def _resolved(node: Any, params: Params, where: str, what: str) -> tuple[frozenset[str], list[str]]:
    try:
        return _strings(node, params), []
    except _Unresolved as exc:
        return frozenset(), [
            f"{where}: {what} {exc} cannot be resolved to literal values, so it cannot be checked"
        ]


# --- the rules -------------------------------------------------------------------------------------------


def _statements(document: Any) -> list[dict[str, Any]]:
    """The statements of a policy document: an object, or the JSON text CloudFormation also takes for a
    Json property; _Unresolved for anything else, so a document the rules cannot read is refused."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            raise _Unresolved("(a policy document that is not JSON)") from None
    if not isinstance(document, dict) or "Statement" not in document:  # also a Ref or Fn:: in its place
        raise _Unresolved(excerpt(document))
    found = _items(document["Statement"])
    if not all(isinstance(s, dict) for s in found):
        raise _Unresolved("(a statement that is not an object)")
    return found


def _principal_problems(value: str, key: str, where: str, rules: Guardrails) -> list[str]:
    if "*" in value or "?" in value:
        return [f"{where}: trusts the wildcard principal {excerpt(value)}"]
    if key == "Service":
        return []
    match = PRINCIPAL_ARN_RE.match(value) or (re.match(r"^()([0-9]{12})$", value) if key == "AWS" else None)
    if match is None and key == "Federated":
        return [f"{where}: trusts the federated principal {excerpt(value)}, which is not an IAM provider ARN"]
    if match is None:
        return [f"{where}: trusts {excerpt(value)}, which is not an account id or an IAM ARN"]
    account = match.group(2)
    if account not in rules.allowed_accounts:
        return [
            f"{where}: trusts account {account}, which is neither the login account ({rules.login_account_id}) "
            "nor in the trusted accounts (the pipeline stack's TrustedAccountIds)"
        ]
    return []


def _trust_problems(document: Any, params: Params, where: str, rules: Guardrails) -> list[str]:
    problems: list[str] = []
    try:
        statements = _statements(document)
    except _Unresolved as exc:
        return [f"{where}.AssumeRolePolicyDocument {exc} cannot be checked"]
    if not statements:
        problems.append(f"{where}.AssumeRolePolicyDocument: no statements to check")
    for i, s in enumerate(statements):
        at = f"{where}.AssumeRolePolicyDocument.Statement[{i}]"
        if s.get("Effect") == "Deny":
            continue
        if "NotPrincipal" in s:
            problems.append(f"{at}: NotPrincipal in an Allow trusts everyone else")
        principal = s.get("Principal")
        if principal == "*" or not isinstance(principal, dict):
            problems.append(f"{at}: trusts the wildcard principal {excerpt(principal)}")
            continue
        for key in sorted(principal):
            if key not in ("AWS", "Service", "Federated"):
                problems.append(f"{at}: trusts a {excerpt(key)} principal")
                continue
            values, unresolved = _resolved(principal[key], params, at, f"Principal.{key}")
            problems += unresolved
            for value in sorted(values):
                problems += _principal_problems(value, key, at, rules)
    return problems


def _wildcard_action(action: str) -> bool:
    service = action.split(":", 1)[0] if ":" in action else "*"
    return "*" in service or "?" in service


def _grant_problems(document: Any, params: Params, where: str) -> list[str]:
    """Allow statements granting every action: Action "*" (or "*:...") or NotAction."""
    problems: list[str] = []
    try:
        statements = _statements(document)
    except _Unresolved as exc:
        return [f"{where}: policy document {exc} cannot be checked"]
    for i, s in enumerate(statements):
        at = f"{where}.Statement[{i}]"
        if s.get("Effect") == "Deny":
            continue
        if "NotAction" in s:
            problems.append(f"{at}: NotAction in an Allow grants every other action")
        actions, unresolved = _resolved(s.get("Action", []), params, at, "Action")
        problems += unresolved
        wild = sorted(a for a in actions if _wildcard_action(a))
        if wild:
            problems.append(f"{at}: grants Action {excerpt(wild[0])}")
    return problems


def _session_problems(value: Any, params: Params, where: str, rules: Guardrails) -> list[str]:
    values, problems = _resolved(
        SESSION_DEFAULT if value is None else value, params, where, "MaxSessionDuration"
    )
    for v in sorted(values):
        if not v.isdigit() or int(v) > rules.max_session_seconds:
            problems.append(
                f"{where}: MaxSessionDuration {excerpt(v)} is over the {rules.max_session_seconds} seconds "
                "the pipeline stack allows (MaxSessionDurationSeconds)"
            )
    return problems


@dataclass(frozen=True)
class _Template:
    path: str
    resources: Mapping[str, Any]
    params: Params


def _own_grants(t: _Template, logical_id: str, props: Mapping[str, Any]) -> list[str]:
    """What a role or group is granted inline and by policy ARN (policies of the template are checked as
    resources, with everything they attach to)."""
    where = f"{t.path}: Resources.{logical_id}"
    problems: list[str] = []
    for n, policy in enumerate(_items(props.get("Policies", []))):
        document = policy.get("PolicyDocument") if isinstance(policy, dict) else None
        problems += _grant_problems(document, t.params, f"{where}.Policies[{n}]")
    for arn in _items(props.get("ManagedPolicyArns", [])):
        if _ref(arn) in t.resources:
            continue
        values, unresolved = _resolved(arn, t.params, where, "ManagedPolicyArns")
        problems += unresolved
        for value in sorted(values):
            if ADMIN_POLICY_RE.match(value):
                problems.append(f"{where}: attaches {value}, which grants every action")
            elif not AWS_MANAGED_RE.match(value):
                problems.append(f"{where}: attaches {excerpt(value)}, a policy the sync cannot read to check")
    return problems


def _type(resource: Any) -> str:
    return str(resource.get("Type")) if isinstance(resource, dict) else ""


def _props(resource: Any) -> Any:
    return (resource.get("Properties") or {}) if isinstance(resource, dict) else {}


def _ref(node: Any) -> str:
    return str(node["Ref"]) if isinstance(node, dict) and list(node) == ["Ref"] else ""


def _break_glass(t: _Template, role_id: str, rules: Guardrails) -> bool:
    """A role the pipeline stack names in BreakGlassRoleNames (by RoleName), whatever the repository marks."""
    props = _props(t.resources.get(role_id))
    if _type(t.resources.get(role_id)) != "AWS::IAM::Role" or "RoleName" not in props:
        return False
    try:
        names = _strings(props["RoleName"], t.params)
    except _Unresolved:
        return False
    return bool(names) and names <= rules.break_glass_roles


def _policy_problems(t: _Template, logical_id: str, props: Mapping[str, Any], rules: Guardrails) -> list[str]:
    """A policy resource may attach only to this template's roles and groups (users exist outside it and
    could be anyone); what it grants may include every action only when all it attaches to is break-glass."""
    where = f"{t.path}: Resources.{logical_id}"
    problems = [f"{where}: attaches to Users, which the org sync never deploys"] if props.get("Users") else []
    attached: set[str] = set()
    for key, kind in (("Roles", "AWS::IAM::Role"), ("Groups", "AWS::IAM::Group")):
        for item in _items(props.get(key, [])):
            if _type(t.resources.get(_ref(item))) != kind:
                problems.append(f"{where}.{key}: {excerpt(item)} is not a {kind} of this template")
            attached.add(_ref(item))
    attached |= {
        other
        for other, resource in t.resources.items()
        if {"Ref": logical_id} in _items(_props(resource).get("ManagedPolicyArns", []))
    }
    grants = _grant_problems(props.get("PolicyDocument"), t.params, f"{where}.PolicyDocument")
    if grants and not (attached and all(_break_glass(t, a, rules) for a in attached)):
        problems += [
            f"{p} (only the break-glass roles {sorted(rules.break_glass_roles)} may)" for p in grants
        ]
    return problems


def _role_problems(t: _Template, logical_id: str, props: Mapping[str, Any], rules: Guardrails) -> list[str]:
    where = f"{t.path}: Resources.{logical_id}"
    problems = _trust_problems(props.get("AssumeRolePolicyDocument"), t.params, where, rules)
    problems += _session_problems(props.get("MaxSessionDuration"), t.params, where, rules)
    grants = _own_grants(t, logical_id, props)
    if not _break_glass(t, logical_id, rules):
        problems += [
            f"{p} (only the break-glass roles {sorted(rules.break_glass_roles)} may)" for p in grants
        ]
    return problems


def check_template(path: str, doc: Any, params: Params, rules: Guardrails) -> list[str]:
    """Every guardrail problem of one parsed template, deployed with `params` (name -> every value)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        return [f"{path}: not a CloudFormation template with Resources"]
    problems = (
        [f"{path}: Transform {excerpt(doc['Transform'])} would rewrite the template after this check"]
        if "Transform" in doc
        else []
    )
    t = _Template(path, doc["Resources"], params)
    for logical_id, resource in sorted(t.resources.items()):
        kind = _type(resource)
        props = _props(resource)
        if kind not in DEPLOYABLE_TYPES:
            problems.append(
                f"{path}: Resources.{logical_id}: type {excerpt(kind)} is not one the org sync deploys"
            )
        elif not isinstance(props, dict):
            problems.append(f"{path}: Resources.{logical_id}.Properties is not an object")
        elif kind == "AWS::IAM::Role":
            problems += _role_problems(t, logical_id, props, rules)
        elif kind == "AWS::IAM::Group":
            # A group in the login account: no break-glass exemption (people join groups).
            problems += _own_grants(t, logical_id, props)
        else:
            problems += _policy_problems(t, logical_id, props, rules)
    return problems


# --- the manifest ----------------------------------------------------------------------------------------


def template_params(doc: Any, given: Iterable[Mapping[str, str]]) -> Params:
    """Every value each template parameter takes over the parameter sets deployed (the StackSet's values
    and each per-OU override on top), the template default where a set gives none."""
    declared = doc.get("Parameters", {}) if isinstance(doc, dict) else {}
    out: dict[str, frozenset[str]] = {}
    for name, spec in declared.items() if isinstance(declared, dict) else ():
        default = spec.get("Default") if isinstance(spec, dict) else None
        values = {s.get(name) for s in given} or {None}
        if None in values and default is None:
            continue  # never resolvable: any use of it is refused
        out[name] = frozenset(str(default) if v is None else str(v) for v in values)
    return out


def _deployments(manifest: Manifest) -> Iterator[tuple[str, list[Mapping[str, str]]]]:
    for spec in manifest.stacksets:
        yield (
            spec.template,
            [spec.parameters, *({**spec.parameters, **o.parameters} for o in spec.parameter_overrides)],
        )
    if manifest.management_account_stack is not None:
        m = manifest.management_account_stack
        yield m.template, [m.parameters]


def load_template(text: str) -> Any:
    """A template parsed as CloudFormation reads YAML, refusing what could parse two ways (a duplicate key)
    or needs a CloudFormation-only tag (the renderer writes the long form, Fn::Sub, never !Sub)."""
    import yaml  # shipped in the Lambda zip (generator/package.py); loaded only when a template is checked

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(k) for k, _v in node.value]
        duplicated = sorted({str(k) for k in keys if keys.count(k) > 1})
        if duplicated:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {duplicated[0]}", node.start_mark
            )
        return loader.construct_mapping(node)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    # Anchors, aliases (and so merge keys) and explicit tags are refused: CloudFormation's reading of them
    # need not match PyYAML's, and the renderer writes none.
    for event in yaml.parse(text, Loader=StrictLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ValueError("YAML anchors and aliases are not accepted")
        tag = getattr(event, "tag", None)
        implicit = getattr(event, "implicit", True)
        if tag and not (implicit[0] if isinstance(implicit, tuple) else implicit):
            raise ValueError(f"the YAML tag {tag} is not accepted")
    return yaml.load(text, Loader=StrictLoader)


def check(manifest: Manifest, templates: Mapping[str, str], rules: Guardrails) -> list[str]:
    """Every guardrail problem of the manifest and the templates it deploys, in a stable order."""
    problems: list[str] = []
    if manifest.org.login_account_id != rules.login_account_id:
        problems.append(
            f"{manifest.source}: org.login_account_id {manifest.org.login_account_id} is not the login account "
            f"the pipeline stack names ({rules.login_account_id})"
        )
    for path, given in _deployments(manifest):
        try:
            doc = load_template(templates[path])
        except Exception as exc:  # any parse failure: refused, with the parser's first line
            problems.append(
                f"{path}: cannot be read as a template: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            )
            continue
        problems += check_template(path, doc, template_params(doc, given), rules)
    return problems


def enforce(manifest: Manifest, templates: Mapping[str, str], rules: Guardrails) -> None:
    """GuardrailError with every problem, or nothing: called once, before the sync's first write."""
    problems = check(manifest, templates, rules)
    if problems:
        raise GuardrailError(problems)
