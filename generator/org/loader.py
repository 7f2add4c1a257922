"""Load org_roles/ into the Org model, gathering every problem in one pass before raising once.

Each problem names its file, key and (where YAML gives it) line. Structure is checked against the
shipped JSON Schemas; meaning (roles, inheritance, IAM actions and limits, OU tree) is checked here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator.errors import InputError
from generator.lint import escalation
from generator.lint.policies import action_grants
from generator.org import iam
from generator.org.model import (
    OU,
    RESERVED_PARAMETERS,
    ROOT,
    AccountTrust,
    Attachment,
    LoginTrust,
    Org,
    OrgSettings,
    PolicyStatement,
    Role,
    RoleParameter,
    Trust,
)
from generator.org.source import KeyPath, Source, check_schema, load_yaml
from generator.output import compact_json
from pipeline.common.errors import Problem, excerpt
from pipeline.core import limits
from pipeline.core.manifest import DeletionPolicy, OperationPreferences

ROLE_NAME = re.compile(r"^[\w+=,.@-]+$")
PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")
PSEUDO_PARAMETERS = {"AWS::AccountId", "AWS::Partition", "AWS::Region", "AWS::URLSuffix", "AWS::StackName"}
OU_FILE = "ou.yaml"


class _Collector:
    def __init__(self, org_dir: Path, display_root: str) -> None:
        self.org_dir = org_dir
        self.display_root = display_root
        self.problems: list[Problem] = []
        # org.yaml's login_account.session_tag_keys, for measuring the login policies as rendered.
        self.session_tag_keys: tuple[str, ...] = ()
        self.org_source: Source | None = None  # org.yaml, for problems found once the tree is loaded

    def display(self, path: Path) -> str:
        rel = path.relative_to(self.org_dir).as_posix()
        return f"{self.display_root}/{rel}" if rel != "." else self.display_root

    def load(self, path: Path, schema: str) -> Source | None:
        source, problems = load_yaml(path, self.display(path))
        self.problems += problems
        if source is None:
            return None
        schema_problems = check_schema(source, schema)
        self.problems += schema_problems
        return None if schema_problems else source


def load_org(org_dir: Path, display_root: str | None = None) -> Org:
    """The validated organization under `org_dir`, or InputError listing every problem found."""
    display_root = display_root or org_dir.name
    c = _Collector(org_dir, display_root)
    if not org_dir.is_dir():
        raise InputError([Problem(display_root, "", "no such folder")])
    settings = _load_settings(c)
    c.session_tag_keys = settings.session_tag_keys if settings else ()
    roles, broken = _load_roles(c)
    ous = _load_tree(c, roles, broken)
    if settings is not None and settings.rollout_waves:
        _check_waves(c, settings, ous)
    if c.problems:
        raise InputError(c.problems)
    assert settings is not None
    return Org(settings=settings, roles=roles, ous=ous)


def _load_settings(c: _Collector) -> OrgSettings | None:
    path = c.org_dir / "org.yaml"
    if not path.is_file():
        c.problems.append(Problem(c.display(path), "", "missing: every org_roles folder needs an org.yaml"))
        return None
    source = c.load(path, "org")
    if source is None:
        return None
    d = source.data
    ops = d.get("operation_preferences", {})
    deletion = d.get("deletion", {})
    self_managed = d.get("self_managed", {})
    model = d.get("permission_model", "service_managed")
    if self_managed and model != "self_managed":
        c.problems.append(
            source.problem(("self_managed",), "is only used with permission_model: self_managed")
        )
    if d.get("call_as") == "DELEGATED_ADMIN" and model == "self_managed":
        # CloudFormation's CallAs: "Valid only if the stack set's permissions model is SERVICE_MANAGED"
        # (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html).
        c.problems.append(
            source.problem(
                ("call_as",),
                "DELEGATED_ADMIN is valid only with permission_model: service_managed (CloudFormation's "
                "CallAs); use SELF",
            )
        )
    if d["management_account_id"] == d["login_account_id"]:
        c.problems.append(
            source.problem(
                ("login_account_id",),
                "must differ from management_account_id: people should not sign in to the management account",
            )
        )
    settings = OrgSettings(
        management_account_id=d["management_account_id"],
        login_account_id=d["login_account_id"],
        home_region=d["home_region"],
        organization_id=d["organization_id"],
        stackset_prefix=d.get("stackset_prefix", "org-roles"),
        project=d.get("project", "org-roles"),
        permission_model=model,
        call_as=d.get("call_as", "SELF"),
        administration_role_arn=self_managed.get("administration_role_arn")
        or (
            f"arn:aws:iam::{d['management_account_id']}:role/AWSCloudFormationStackSetAdministrationRole"
            if model == "self_managed"
            else None
        ),
        execution_role_name=self_managed.get("execution_role_name")
        or ("AWSCloudFormationStackSetExecutionRole" if model == "self_managed" else None),
        operation_preferences=OperationPreferences(**ops),
        deletion=DeletionPolicy(**deletion),
        sns_topic_arn=d.get("notifications", {}).get("sns_topic_arn"),
        create_login_groups=d.get("login_account", {}).get("create_groups", False),
        session_tag_keys=tuple(sorted(d.get("login_account", {}).get("session_tag_keys", []))),
        tags=dict(sorted(d.get("tags", {}).items())),
        file=source.file,
        rollout_waves=tuple(tuple(w) for w in d.get("rollout", {}).get("waves", [])),
    )
    c.org_source = source
    return settings


def _check_waves(c: _Collector, settings: OrgSettings, ous: Mapping[str, OU]) -> None:
    """rollout.waves names OUs of the tree, each in one wave only (the schema checks the shape)."""
    source = c.org_source
    if source is None or not ous:
        return
    seen: dict[str, int] = {}
    for n, wave in enumerate(settings.rollout_waves):
        for i, path in enumerate(wave):
            key: KeyPath = ("rollout", "waves", n, i)
            if path not in ous:
                c.problems.append(source.problem(key, f"unknown OU {excerpt(path)}{_suggest(path, ous)}"))
            elif path in seen:
                c.problems.append(
                    source.problem(
                        key, f"OU {path} is already in wave {seen[path] + 1}: an OU goes in one wave"
                    )
                )
            else:
                seen[path] = n


def _load_roles(c: _Collector) -> tuple[dict[str, Role], set[str]]:
    """The valid roles, and the names of role files that exist but have problems of their own
    (so attachments of them are not reported again as unknown roles)."""
    roles_dir = c.org_dir / "roles"
    if not roles_dir.is_dir():
        c.problems.append(
            Problem(c.display(roles_dir), "", "missing: the role catalog folder roles/ is required")
        )
        return {}, set()
    roles: dict[str, Role] = {}
    broken: set[str] = set()
    for path in sorted(roles_dir.iterdir()):
        if path.name.startswith("."):
            continue  # .gitkeep, editor and OS files
        if path.is_dir() or path.suffix != ".yaml":
            c.problems.append(
                Problem(c.display(path), "", "unexpected entry: roles/ holds only NAME.yaml files")
            )
            continue
        source = c.load(path, "role")
        role = _build_role(c, source, path.stem) if source is not None else None
        if role is None:
            broken.add(path.stem)
        else:
            roles[role.name] = role
    return roles, broken


def _build_role(c: _Collector, source: Source, name: str) -> Role | None:
    d = source.data
    before = len(c.problems)
    if len(name) > limits.ROLE_NAME_CHARS:
        c.problems.append(
            source.problem(
                (),
                f"role name {excerpt(name)} is {len(name)} characters, over IAM's {limits.ROLE_NAME_CHARS}",
            )
        )
    if not ROLE_NAME.match(name):
        c.problems.append(
            source.problem((), f"role name {excerpt(name)} may use only letters, digits and +=,.@_-")
        )
    path = d.get("path", "/")
    if len(path) > limits.ROLE_PATH_CHARS:
        c.problems.append(
            source.problem(("path",), f"is {len(path)} characters, over IAM's {limits.ROLE_PATH_CHARS}")
        )
    managed = tuple(d.get("managed_policies", []))
    if len(managed) > limits.MANAGED_POLICIES_PER_ROLE:
        c.problems.append(
            source.problem(
                ("managed_policies",),
                f"{len(managed)} managed policies, over IAM's {limits.MANAGED_POLICIES_PER_ROLE} per role",
            )
        )
    trust = _build_trust(c, source)
    parameters = _build_parameters(c, source)
    statements = _build_statements(c, source, {p.name for p in parameters}, bool(d.get("break_glass")))
    if not d.get("break_glass"):
        _check_escalation(c, source, statements)
    if len(c.problems) > before or trust is None:
        return None
    role = Role(
        name=name,
        file=source.file,
        description=d["description"],
        trust=trust,
        path=path,
        max_session_duration=d.get("max_session_duration", 3600),
        managed_policies=managed,
        statements=statements,
        permissions_boundary=d.get("permissions_boundary"),
        break_glass_reason=(d.get("break_glass") or {}).get("reason"),
        parameters=parameters,
    )
    _check_sizes(c, source, role)
    return role


def _build_trust(c: _Collector, source: Source) -> Trust | None:
    t = source.data["trust"]
    login = None
    if "login_account" in t:
        lt = t["login_account"] or {}
        mfa = lt.get("mfa", True)
        if not mfa and not lt.get("mfa_opt_out_reason"):
            c.problems.append(
                source.problem(
                    ("trust", "login_account", "mfa"),
                    "human-facing trust without MFA: keep mfa: true, or give mfa_opt_out_reason",
                )
            )
        if mfa and lt.get("mfa_opt_out_reason"):
            c.problems.append(
                source.problem(("trust", "login_account", "mfa_opt_out_reason"), "given but mfa is not false")
            )
        principals = tuple(lt.get("principals", []))
        _check_principals(c, source, ("trust", "login_account", "principals"), principals)
        login = LoginTrust(mfa, lt.get("mfa_opt_out_reason"), lt.get("max_mfa_age_seconds"), principals)
    accounts = []
    for i, a in enumerate(t.get("accounts", [])):
        key: KeyPath = ("trust", "accounts", i)
        principals = tuple(a.get("principals", []))
        _check_principals(c, source, (*key, "principals"), principals)
        if not (principals or a.get("external_id") or a.get("mfa")):
            c.problems.append(
                source.problem(
                    key,
                    f"trust without conditions: any principal in account {a['account_id']} could assume "
                    "the role; add principals, external_id or mfa",
                )
            )
        accounts.append(AccountTrust(a["account_id"], principals, a.get("external_id"), a.get("mfa", False)))
    return Trust(login=login, services=tuple(t.get("services", [])), accounts=tuple(accounts))


def _check_principals(c: _Collector, source: Source, key: KeyPath, principals: tuple[str, ...]) -> None:
    for i, p in enumerate(principals):
        if p == "*" or p.split("/", 1)[-1] == "*":
            c.problems.append(
                source.problem(
                    (*key, i), f"wildcard principal {excerpt(p)}: name the roles or users that may assume it"
                )
            )


def _build_parameters(c: _Collector, source: Source) -> tuple[RoleParameter, ...]:
    out = []
    for name, p in sorted(source.data.get("parameters", {}).items()):
        if name in RESERVED_PARAMETERS:
            c.problems.append(
                source.problem(
                    ("parameters", name), f"{excerpt(name)} is reserved (built in to every role template)"
                )
            )
            continue
        default = p.get("default")
        param = RoleParameter(
            name=name,
            type=p["type"],
            description=p.get("description", ""),
            default=None if default is None else str(default),
            allowed_values=tuple(str(v) for v in p.get("allowed_values", [])),
            allowed_pattern=p.get("allowed_pattern"),
        )
        if param.allowed_pattern is not None:
            try:
                re.compile(param.allowed_pattern)
            except re.error as exc:
                c.problems.append(
                    source.problem(("parameters", name, "allowed_pattern"), f"is not a valid pattern: {exc}")
                )
                continue
        if default is not None:
            reason = parameter_value_problem(param, default)
            if reason:
                c.problems.append(source.problem(("parameters", name, "default"), reason))
        out.append(param)
    return tuple(out)


def parameter_value_problem(param: RoleParameter, value: Any) -> str | None:
    """Why `value` does not fit the declared parameter, or None."""
    text = str(value)
    if param.type == "Number" and not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
        return f"{excerpt(str(text))} is not a number (parameter {param.name} is a Number)"
    if param.allowed_values and text not in param.allowed_values:
        return f"{excerpt(str(text))} is not one of the allowed values of {param.name}: {', '.join(param.allowed_values)}"
    if param.allowed_pattern and not re.fullmatch(param.allowed_pattern, text):
        return f"{excerpt(str(text))} does not match the allowed pattern of {param.name}: {param.allowed_pattern}"
    return None


def _build_statements(
    c: _Collector, source: Source, parameter_names: set[str], break_glass: bool
) -> tuple[PolicyStatement, ...]:
    out = []
    for i, raw in enumerate(source.data.get("statements", [])):
        key: KeyPath = ("statements", i)
        # IAM accepts one value or a list for Action and Resource; so does the role format.
        s = {**raw, **{k: [raw[k]] if isinstance(raw[k], str) else raw[k] for k in ("actions", "resources")}}
        effect = s.get("effect", "Allow")
        for j, action in enumerate(s["actions"]):
            problem = iam.check_action(action)
            if problem:
                c.problems.append(source.problem((*key, "actions", j), problem))
            if action == "*" and effect == "Allow" and not break_glass:
                c.problems.append(
                    source.problem(
                        (*key, "actions", j),
                        "Action '*' is allowed only in a role marked break_glass: {reason: ...}",
                    )
                )
        if (
            effect == "Allow"
            and "*" in s["resources"]
            and any(a != "*" and action_grants(a, "iam:PassRole") for a in s["actions"])
        ):
            c.problems.append(
                source.problem((*key, "resources"), "iam:PassRole on '*': name the roles that may be passed")
            )
        conditions = s.get("conditions", {})
        places: list[tuple[KeyPath, str]] = [
            ((*key, "resources", j), r) for j, r in enumerate(s["resources"])
        ]
        places += _strings((*key, "conditions"), conditions)
        for where, text in places:
            for ref in PLACEHOLDER.findall(text):
                if ref not in parameter_names and ref not in PSEUDO_PARAMETERS:
                    c.problems.append(
                        source.problem(
                            where,
                            f"'${{{ref}}}' is neither a parameter of this role nor an AWS pseudo parameter",
                        )
                    )
        for operator in conditions:
            if not iam.known_operator(operator):
                c.problems.append(
                    source.problem(
                        (*key, "conditions", operator), f"unknown condition operator {excerpt(operator)}"
                    )
                )
        out.append(
            PolicyStatement(
                actions=tuple(s["actions"]),
                resources=tuple(s["resources"]),
                effect=effect,
                sid=s.get("sid"),
                conditions=conditions,
            )
        )
    return tuple(out)


def _check_escalation(c: _Collector, source: Source, statements: tuple[PolicyStatement, ...]) -> None:
    """Known privilege-escalation action sets allowed on `Resource: "*"` (generator.lint.escalation, the
    same list as lint rule E9106), reported at the statement that allows the set's first action."""
    on_everything = [
        (i, a)
        for i, s in enumerate(statements)
        if s.effect == "Allow" and "*" in s.resources
        for a in s.actions
    ]
    for found in escalation.escalation_sets(a for _, a in on_everything):
        where = next(i for i, a in on_everything if escalation.grants(a, found.actions[0]))
        c.problems.append(
            source.problem(
                ("statements", where, "resources"),
                f"privilege escalation: {escalation.describe(found)}; scope it to named resources "
                f"(source: {found.source})",
            )
        )


def _strings(key: KeyPath, value: Any) -> list[tuple[KeyPath, str]]:
    """Every string inside a nested value, with its key path."""
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _strings((*key, str(k)), v)]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _strings((*key, i), v)]
    return []


def _check_sizes(c: _Collector, source: Source, role: Role) -> None:
    trust = len(compact_json(iam.policy_dict(iam.trust_policy(role))))
    if trust > limits.TRUST_POLICY_CHARS:
        c.problems.append(
            source.problem(
                ("trust",),
                f"rendered trust policy is {trust} characters, over IAM's {limits.TRUST_POLICY_CHARS}",
            )
        )
    permissions = iam.permission_policy(role)
    inline = len(compact_json(iam.policy_dict(permissions))) if permissions else 0
    if inline > limits.INLINE_POLICIES_PER_ROLE_CHARS:
        c.problems.append(
            source.problem(
                ("statements",),
                f"rendered inline policy is {inline} characters, over IAM's {limits.INLINE_POLICIES_PER_ROLE_CHARS} per role",
            )
        )
    login = len(compact_json(iam.policy_dict(iam.login_policy(role, c.session_tag_keys))))
    if login > limits.MANAGED_POLICY_CHARS:
        c.problems.append(
            source.problem(
                (), f"login-account managed policy is {login} characters, over {limits.MANAGED_POLICY_CHARS}"
            )
        )


def _load_tree(c: _Collector, roles: Mapping[str, Role], broken: set[str]) -> dict[str, OU]:
    root_dir = c.org_dir / ROOT
    if not root_dir.is_dir():
        c.problems.append(
            Problem(c.display(root_dir), "", "missing: the OU tree starts at a folder named Root")
        )
        return {}
    sources: dict[str, tuple[Source, Path]] = {}
    before = len(c.problems)
    _walk(c, root_dir, ROOT, sources)
    # With an ou.yaml unreadable, inheritance below it is unknown: do not report its consequences.
    complete = len(c.problems) == before
    builder = _TreeBuilder(c, roles, broken, complete)
    ous = {path: builder.ou(sources[path][0], path) for path in sorted(sources)}  # parents first
    return ous


def _walk(c: _Collector, folder: Path, ou_path: str, sources: dict[str, tuple[Source, Path]]) -> None:
    depth = ou_path.count("/")
    if depth > limits.OU_DEPTH:
        c.problems.append(
            Problem(
                c.display(folder),
                "",
                f"OU depth {depth} is over the {limits.OU_DEPTH} levels AWS Organizations allows below the root",
            )
        )
        return
    name = folder.name
    if len(name) > limits.OU_NAME_CHARS:
        c.problems.append(
            Problem(c.display(folder), "", f"OU name is over {limits.OU_NAME_CHARS} characters")
        )
    ou_file = folder / OU_FILE
    if not ou_file.is_file():
        c.problems.append(
            Problem(c.display(folder), "", f"missing {OU_FILE}: every OU folder needs one (it may be empty)")
        )
    else:
        source = c.load(ou_file, "ou")
        if source is not None:
            sources[ou_path] = (source, folder)
    seen: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            if entry.name.startswith("."):
                continue
            key = entry.name.casefold()
            if key in seen:
                c.problems.append(
                    Problem(
                        c.display(entry),
                        "",
                        f"duplicate OU name under {ou_path}: {excerpt(entry.name)} and {excerpt(seen[key].name)} "
                        "(OU names are unique per parent, ignoring case)",
                    )
                )
                continue
            seen[key] = entry
            _walk(c, entry, f"{ou_path}/{entry.name}", sources)
        elif entry.name != OU_FILE and not entry.name.startswith("."):
            c.problems.append(
                Problem(
                    c.display(entry), "", f"unexpected file: an OU folder holds only {OU_FILE} and OU folders"
                )
            )


def _suggest(name: str, options: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"; did you mean {excerpt(close[0])}?" if close else ""


class _TreeBuilder:
    """Builds OUs parents first, remembering where each role is attached and which ids are pinned."""

    def __init__(self, c: _Collector, roles: Mapping[str, Role], broken: set[str], complete: bool) -> None:
        self.c = c
        self.roles = roles
        self.broken = broken
        self.complete = complete
        self.attached_by: dict[str, list[tuple[str, str]]] = {}  # role -> [(ou path, file)]
        self.pinned: dict[str, str] = {}  # ou id -> file

    def ou(self, source: Source, path: str) -> OU:
        d = source.data or {}
        ou_id = d.get("ou_id")
        if ou_id:
            self._check_pin(source, path, ou_id)
        here: set[str] = set()
        attachments = [
            a
            for i, raw in enumerate(d.get("roles", []))
            if (a := self._attachment(source, path, i, raw, here)) is not None
        ]
        overrides = {
            name: values
            for name, raw in sorted((d.get("parameters") or {}).items())
            if (values := self._override(source, path, name, raw)) is not None
        }
        return OU(
            path=path,
            file=source.file,
            ou_id=ou_id,
            exclude_accounts=tuple(sorted(d.get("exclude_accounts", []))),
            attachments=tuple(attachments),
            overrides=overrides,
        )

    def _check_pin(self, source: Source, path: str, ou_id: str) -> None:
        wanted = "r-" if path == ROOT else "ou-"
        if not ou_id.startswith(wanted):
            self.c.problems.append(
                source.problem(("ou_id",), f"{excerpt(ou_id)} should start with {excerpt(wanted)} for {path}")
            )
        if ou_id in self.pinned:
            self.c.problems.append(
                source.problem(("ou_id",), f"{excerpt(ou_id)} is also pinned by {self.pinned[ou_id]}")
            )
        self.pinned.setdefault(ou_id, source.file)

    def _attachment(
        self, source: Source, path: str, i: int, raw: Mapping[str, Any], here: set[str]
    ) -> Attachment | None:
        key: KeyPath = ("roles", i, "role")
        name = raw["role"]
        role = self.roles.get(name)
        if role is None:
            if name in self.broken:  # its own file's problems are reported already
                self.attached_by.setdefault(name, []).append((path, source.file))
            else:
                self.c.problems.append(
                    source.problem(key, f"unknown role {excerpt(name)}{_suggest(name, self.roles)}")
                )
            return None
        if name in here:
            self.c.problems.append(source.problem(key, f"{excerpt(name)} is attached twice in this file"))
            return None
        here.add(name)
        above = set(_ancestors(path)[:-1])
        ancestor = next((at for at in self.attached_by.get(name, []) if at[0] in above), None)
        if ancestor is not None:
            self.c.problems.append(
                source.problem(
                    key,
                    f"{excerpt(name)} is already attached at {ancestor[0]} ({ancestor[1]}), which reaches this OU",
                )
            )
            return None
        params = {k: str(v) for k, v in sorted((raw.get("parameters") or {}).items())}
        _check_values(self.c, source, ("roles", i, "parameters"), role, params)
        self.attached_by.setdefault(name, []).append((path, source.file))
        return Attachment(
            role=name,
            file=source.file,
            key=f"roles[{i}]",
            parameters=params,
            exclude_accounts=tuple(sorted(raw.get("exclude_accounts", []))),
            include_management_account=raw.get("include_management_account", False),
        )

    def _override(
        self, source: Source, path: str, name: str, raw: Mapping[str, Any]
    ) -> dict[str, str] | None:
        key: KeyPath = ("parameters", name)
        role = self.roles.get(name)
        if role is None:
            if name not in self.broken:
                self.c.problems.append(
                    source.problem(key, f"unknown role {excerpt(name)}{_suggest(name, self.roles)}")
                )
            return None
        if not any(at[0] in _ancestors(path) for at in self.attached_by.get(name, [])):
            if self.complete:  # with an unreadable ou.yaml above, the attachment may be in it
                self.c.problems.append(
                    source.problem(
                        key, f"{excerpt(name)} is not attached at {path} or above, so it has no values here"
                    )
                )
            return None
        params = {k: str(v) for k, v in sorted(raw.items())}
        _check_values(self.c, source, key, role, params)
        return params


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _check_values(c: _Collector, source: Source, key: KeyPath, role: Role, values: Mapping[str, str]) -> None:
    declared = {p.name: p for p in role.parameters}
    for name, value in values.items():
        if name == "MaxSessionDuration":
            if not value.isdigit() or not 3600 <= int(value) <= 43200:
                c.problems.append(
                    source.problem(
                        (*key, name),
                        f"{excerpt(str(value))} is not a session length in seconds from 3600 to 43200",
                    )
                )
            continue
        param = declared.get(name)
        if param is None:
            options = ", ".join(sorted(role.parameter_names()))
            c.problems.append(
                source.problem(
                    (*key, name), f"role {role.name} has no parameter {excerpt(name)} (it has: {options})"
                )
            )
            continue
        reason = parameter_value_problem(param, value)
        if reason:
            c.problems.append(source.problem((*key, name), reason))
