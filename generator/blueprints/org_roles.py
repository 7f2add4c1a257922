"""Blueprint: the org roles of org_roles/ as StackSet templates, login and management templates, manifest.

One StackSet template per role (templates/org/roles/<Role>.yaml); the login account's assume-role
policies (templates/org/login-account.yaml); roles that must also exist in the management account,
which service-managed StackSets never reach (templates/org/management-account.yaml); and the
manifest the sync consumes (templates/org/manifest.json).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template, iam

from generator.blueprints.base import (
    MANAGED_BY,
    Blueprint,
    JsonDocument,
    RenderContext,
    Rendered,
    apply_tags,
    new_template,
    standard_tags,
)
from generator.blueprints.parts import break_glass_alarm, management_deployer
from generator.org import iam as org_iam
from generator.org.loader import load_org
from generator.org.model import (
    LOGIN_ACCOUNT_PARAMETER,
    MAX_SESSION_PARAMETER,
    ORGANIZATION_PARAMETER,
    PROJECT_PARAMETER,
    Attachment,
    Org,
    OrgSettings,
    Role,
    Value,
)
from generator.output import dump_yaml, header_lines
from pipeline.core import manifest as contract

NAME = "org-roles"
ROLES_DIR = "org/roles"
LOGIN_TEMPLATE = "org/login-account.yaml"
MANAGEMENT_TEMPLATE = "org/management-account.yaml"
DEPLOYER_TEMPLATE = "org/management-deployer.yaml"
MANIFEST = "org/manifest.json"
CAPABILITY = "CAPABILITY_NAMED_IAM"
ROLE_TAG = "OrgStackSetsRole"

# Checkov checks a break-glass role fails by design (it is the one role allowed Action "*").
BREAK_GLASS_CHECKOV_SKIPS = {
    "CKV_AWS_109": "break-glass role: unrestricted permissions management is its purpose",
    "CKV_AWS_110": "break-glass role: privilege escalation is possible by design; guarded by MFA age and principal",
    "CKV_AWS_111": "break-glass role: unconstrained write access is its purpose",
    "CKV_AWS_107": "break-glass role: credentials exposure is possible by design; every use is an incident",
    "CKV_AWS_108": "break-glass role: data exfiltration is possible by design; every use is an incident",
    "CKV_AWS_355": "break-glass role: Resource '*' for every action is its purpose",
    "CKV_AWS_286": "break-glass role: privilege escalation is possible by design; guarded by MFA age and principal",
    "CKV_AWS_287": "break-glass role: credentials exposure is possible by design; every use is an incident",
    "CKV_AWS_288": "break-glass role: data exfiltration is possible by design; every use is an incident",
    "CKV_AWS_289": "break-glass role: unrestricted permissions management is its purpose",
    "CKV_AWS_290": "break-glass role: unconstrained write access is its purpose",
    "CKV_AWS_63": "break-glass role: Action '*' is its purpose, marked in Metadata BreakGlass",
    "CKV_AWS_62": "break-glass role: full administrator privileges are its purpose",
    "CKV_AWS_61": "break-glass role: full administrator privileges are its purpose",
}


def _yaml(template: Template) -> bytes:
    """Serialised here, not by render, because the manifest needs each template's sha256."""
    return dump_yaml(template.to_dict(), header_lines(NAME, BLUEPRINT.source))


def _role_parameters(t: Template, role: Role, prefix: str = "") -> dict[str, str]:
    """Add the role's CloudFormation parameters; returns role parameter name -> template parameter name."""
    names = {MAX_SESSION_PARAMETER: f"{prefix}{MAX_SESSION_PARAMETER}"}
    t.add_parameter(
        Parameter(
            names[MAX_SESSION_PARAMETER],
            Type="Number",
            Default=role.max_session_duration,
            MinValue=3600,
            MaxValue=43200,
            Description=f"Maximum session length of {role.name}, in seconds",
        )
    )
    for p in role.parameters:
        names[p.name] = f"{prefix}{p.name}"
        kwargs: dict[str, Any] = {"Type": p.type, "Description": p.description or p.name}
        if p.default is not None:
            kwargs["Default"] = p.default
        if p.allowed_values:
            kwargs["AllowedValues"] = list(p.allowed_values)
        if p.allowed_pattern:
            kwargs["AllowedPattern"] = p.allowed_pattern
        t.add_parameter(Parameter(names[p.name], **kwargs))
    return names


def _login_parameter(t: Template, settings: OrgSettings) -> None:
    if LOGIN_ACCOUNT_PARAMETER not in t.parameters:
        t.add_parameter(
            Parameter(
                LOGIN_ACCOUNT_PARAMETER,
                Type="String",
                Default=settings.login_account_id,
                AllowedPattern="^[0-9]{12}$",
                Description="The central login account people assume this role from",
            )
        )


def _add_role(t: Template, role: Role, settings: OrgSettings, logical_id: str, prefix: str = "") -> iam.Role:
    names = _role_parameters(t, role, prefix)
    if role.trust.login is not None:
        _login_parameter(t, settings)
    kwargs: dict[str, Any] = {
        "RoleName": role.name,
        "Path": role.path,
        "Description": role.description,
        "MaxSessionDuration": Ref(names[MAX_SESSION_PARAMETER]),
        "AssumeRolePolicyDocument": org_iam.trust_policy(role),
    }
    if role.managed_policies:
        kwargs["ManagedPolicyArns"] = list(role.managed_policies)
    permissions = org_iam.permission_policy(role, {k: v for k, v in names.items() if k != v})
    if permissions is not None:
        kwargs["Policies"] = [iam.Policy(PolicyName=f"{role.name}Permissions", PolicyDocument=permissions)]
    if role.permissions_boundary:
        kwargs["PermissionsBoundary"] = role.permissions_boundary
    metadata: dict[str, Any] = {"Source": role.file}
    if role.break_glass_reason:
        metadata["BreakGlass"] = {"Reason": role.break_glass_reason}
        metadata["checkov"] = {
            "skip": [{"id": k, "comment": v} for k, v in sorted(BREAK_GLASS_CHECKOV_SKIPS.items())]
        }
    return t.add_resource(iam.Role(logical_id, Metadata=metadata, **kwargs))


def role_template(org: Org, role: Role) -> Template:
    t, project = new_template(
        f"{role.name}: {role.description} (StackSet role template)", org.settings.project
    )
    resource = _add_role(t, role, org.settings, "Role")
    t.add_output(Output("RoleArn", Value=GetAtt(resource, "Arn"), Description=f"ARN of {role.name}"))
    if role.break_glass_reason:
        s = org.settings
        break_glass_alarm.add_forwarder(
            t,
            f":role{role.path}{role.name}",
            break_glass_alarm.central_bus_arn(s.management_account_id, s.home_region, s.project),
        )
    return apply_tags(t, standard_tags(project, {ROLE_TAG: role.name, **org.settings.tags}))


def login_roles(org: Org) -> list[Role]:
    return [r for _, r in sorted(org.roles.items()) if r.trust.login is not None]


def login_template(org: Org) -> Template:
    s = org.settings
    t, project = new_template(
        "Login account: per role, a managed policy (and group) allowing people to assume that role "
        "in the accounts of the OUs it is attached to",
        s.project,
    )
    t.add_parameter(
        Parameter(
            ORGANIZATION_PARAMETER,
            Type="String",
            Default=s.organization_id,
            AllowedPattern="^o-[a-z0-9]{10,32}$",
            Description="Only roles in accounts of this organization may be assumed",
        )
    )
    for role in login_roles(org):
        policy = t.add_resource(
            iam.ManagedPolicy(
                f"Assume{role.name}Policy",
                ManagedPolicyName=Sub(f"${{{PROJECT_PARAMETER}}}-assume-{role.name}"),
                Description=f"Assume {role.name} in the accounts of the OUs it is attached to",
                PolicyDocument=org_iam.login_policy(role, s.session_tag_keys),
                Metadata={"Source": role.file},
            )
        )
        t.add_output(Output(f"Assume{role.name}PolicyArn", Value=Ref(policy)))
        # A group's members are IAM users; a role whose trust names only roles (BreakGlass: the incident
        # commander's role) could never be assumed by them, so it gets no group.
        if s.create_login_groups and role.trust.login is not None and role.trust.login.admits_users:
            group = t.add_resource(
                iam.Group(
                    f"{role.name}Group",
                    GroupName=Sub(f"${{{PROJECT_PARAMETER}}}-{role.name}"),
                    ManagedPolicyArns=[Ref(policy)],
                )
            )
            t.add_output(Output(f"{role.name}GroupName", Value=Ref(group)))
    return apply_tags(t, standard_tags(project, dict(s.tags)))


def management_roles(org: Org) -> list[tuple[Role, dict[str, Value]]]:
    """Roles attached with include_management_account, with their values where they are attached."""
    out = []
    for ou, a in sorted(org.attachments(), key=lambda x: x[1].role):
        if a.include_management_account:
            out.append((org.roles[a.role], org.resolve_parameters(a, ou.path, ou.path)))
    return out


def management_template(org: Org) -> tuple[Template, dict[str, str]] | None:
    roles = management_roles(org)
    if not roles:
        return None
    t, project = new_template(
        "Management account: roles that must also exist there (service-managed StackSets never deploy "
        "to the management account)",
        org.settings.project,
    )
    values = {PROJECT_PARAMETER: org.settings.project}
    for role, resolved in roles:
        _add_role(t, role, org.settings, f"{role.name}Role", prefix=role.name)
        for name, value in resolved.items():
            if name == PROJECT_PARAMETER:
                continue
            values[name if name == LOGIN_ACCOUNT_PARAMETER else f"{role.name}{name}"] = value.value
        t.add_output(Output(f"{role.name}RoleArn", Value=GetAtt(f"{role.name}Role", "Arn")))
    return apply_tags(t, standard_tags(project, dict(org.settings.tags))), dict(sorted(values.items()))


def deployer_template(org: Org) -> Template | None:
    """The bootstrap template an administrator deploys once in the management account: the CloudFormation
    service role the sync passes to deploy the management-account stack, limited to exactly its roles."""
    roles = [role for role, _ in management_roles(org)]
    if not roles:
        return None
    t, project = new_template(
        "Management account (deployed by an administrator, not by the sync): the CloudFormation service "
        "role of the management-account stack, which may manage exactly that stack's roles",
        org.settings.project,
    )
    management_deployer.add_deployer_role(
        t,
        org.settings.stackset_prefix,
        [Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{r.path}{r.name}") for r in roles],
        sorted({arn for r in roles for arn in r.managed_policies}),
        sorted({r.permissions_boundary for r in roles if r.permissions_boundary}),
    )
    return apply_tags(t, standard_tags(project, dict(org.settings.tags)))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ou_id(org: Org, path: str) -> str | None:
    return org.ous[path].ou_id


def _resolved(org: Org, attachment: Attachment, attached_at: str, at: str) -> dict[str, str]:
    return {k: v.value for k, v in org.resolve_parameters(attachment, attached_at, at).items()}


def window_values(org: Org, role: Role) -> dict[str, str]:
    """The StackSet-level values: what an account gets from AutoDeployment between joining a target OU
    and the next sync, because AutoDeployment ignores parameter overrides ("Accounts added to the target
    OUs and their child OUs in the future won't use the overridden values",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html).

    So that window never grants more than an OU allows, MaxSessionDuration (shorter is narrower) is the
    shortest value of every OU the role reaches; every other parameter has no order the generator knows,
    so it keeps the role's default, and the plan names the OUs where the window's value differs.
    """
    values = role.parameter_defaults(org.settings)
    sessions = [
        int(_resolved(org, a, ou.path, path)[MAX_SESSION_PARAMETER])
        for ou, a in org.attachments()
        if a.role == role.name
        for path in org.descendants(ou.path)
    ]
    if sessions:
        values[MAX_SESSION_PARAMETER] = str(min(sessions))
    return values


def _overrides(org: Org, role: Role, defaults: Mapping[str, str]) -> tuple[contract.Override, ...]:
    """Per-OU parameter values: at each OU where the resolved values change, every value that differs
    from the StackSet-level one there or that a shallower entry of the same attachment sets (so applying
    entries shallow to deep, key by key, or only the deepest one for an account, gives the same result)."""
    out = []
    for ou, attachment in org.attachments():
        if attachment.role != role.name:
            continue
        previous: dict[str, str] = dict(defaults)
        set_above: set[str] = set()
        for path in org.descendants(ou.path):
            parent = path.rsplit("/", 1)[0]
            if path != ou.path:
                previous = _resolved(org, attachment, ou.path, parent)
                set_above = {
                    k
                    for above in org.ancestors(parent)[len(org.ancestors(ou.path)) - 1 :]
                    for k, v in _resolved(org, attachment, ou.path, above).items()
                    if defaults.get(k) != v
                }
            resolved = _resolved(org, attachment, ou.path, path)
            if resolved == previous:
                continue
            out.append(
                contract.Override(
                    ou_path=path,
                    ou_id=_ou_id(org, path),
                    parameters={
                        k: v for k, v in sorted(resolved.items()) if defaults.get(k) != v or k in set_above
                    },
                    source=org.ous[path].file if path != ou.path else attachment.file,
                )
            )
    return tuple(sorted(out, key=lambda o: o.ou_path))


def _stackset_tags(settings: OrgSettings, role: str | None) -> dict[str, str]:
    tags = {**settings.tags, "ManagedBy": MANAGED_BY, "Project": settings.project}
    if role:
        tags[ROLE_TAG] = role
    return dict(sorted(tags.items()))


def _org_settings(s: OrgSettings) -> contract.OrgSettings:
    return contract.OrgSettings(
        management_account_id=s.management_account_id,
        login_account_id=s.login_account_id,
        home_region=s.home_region,
        organization_id=s.organization_id,
        stackset_prefix=s.stackset_prefix,
        permission_model=contract.PermissionModel(s.permission_model.upper()),
        call_as=contract.CallAs(s.call_as),
        administration_role_arn=s.administration_role_arn,
        execution_role_name=s.execution_role_name,
        operation_preferences=s.operation_preferences.to_api(),
        deletion=s.deletion,
        sns_topic_arn=s.sns_topic_arn,
        tags=_stackset_tags(s, None),
        rollout_waves=s.rollout_waves,
    )


def _role_stackset(org: Org, name: str, role: Role, path: str, data: bytes) -> contract.StackSetSpec:
    """The manifest entry of one role's StackSet: its template, defaults, OU targets and per-OU overrides."""
    s = org.settings
    defaults = window_values(org, role)
    targets = [
        contract.Target(
            ou_path=ou.path,
            ou_id=ou.ou_id,
            excluded_accounts=tuple(sorted(set(a.exclude_accounts) | set(ou.exclude_accounts))),
            source=a.file,
        )
        for ou, a in org.attachments()
        if a.role == name
    ]
    return contract.StackSetSpec(
        name=f"{s.stackset_prefix}-{name}",
        description=f"{name} role: {role.description}",
        kind=contract.Kind.ROLE,
        role=name,
        template=path,
        template_sha256=_sha(data),
        parameters=dict(sorted(defaults.items())),
        capabilities=(CAPABILITY,),
        regions=(s.home_region,),
        targets=tuple(sorted(targets, key=lambda t: t.ou_path)),
        parameter_overrides=_overrides(org, role, defaults),
        tags=_stackset_tags(s, name),
    )


def _login_stackset(s: OrgSettings, data: bytes) -> contract.StackSetSpec:
    """The manifest entry of the login account's StackSet, deployed to that one account."""
    params = {PROJECT_PARAMETER: s.project, ORGANIZATION_PARAMETER: s.organization_id}
    return contract.StackSetSpec(
        name=f"{s.stackset_prefix}-login-account",
        description="Login account: policies to assume the org roles",
        kind=contract.Kind.LOGIN_ACCOUNT,
        role=None,
        template=LOGIN_TEMPLATE,
        template_sha256=_sha(data),
        parameters=dict(sorted(params.items())),
        capabilities=(CAPABILITY,),
        regions=(s.home_region,),
        account_targets=(s.login_account_id,),
        tags=_stackset_tags(s, None),
    )


def _management_stack(org: Org, values: dict[str, str], data: bytes) -> contract.ManagementStackSpec:
    """The manifest entry of the management account's own stack (a stack, not a StackSet)."""
    s = org.settings
    return contract.ManagementStackSpec(
        name=f"{s.stackset_prefix}-management-account",
        template=MANAGEMENT_TEMPLATE,
        template_sha256=_sha(data),
        parameters=values,
        capabilities=(CAPABILITY,),
        region=s.home_region,
        roles=tuple(role.name for role, _ in management_roles(org)),
        service_role_arn=management_deployer.deployer_role_arn(s.management_account_id, s.stackset_prefix),
        tags=_stackset_tags(s, None),
    )


def build_org(org: Org) -> dict[str, Rendered | bytes]:
    s = org.settings
    files: dict[str, Rendered | bytes] = {}
    stacksets: list[contract.StackSetSpec] = []
    for name, role in sorted(org.roles.items()):
        path = f"{ROLES_DIR}/{name}.yaml"
        data = _yaml(role_template(org, role))
        files[path] = data
        stacksets.append(_role_stackset(org, name, role, path, data))
    if login_roles(org):
        data = _yaml(login_template(org))
        files[LOGIN_TEMPLATE] = data
        stacksets.append(_login_stackset(s, data))
    management_stack = None
    management = management_template(org)
    if management is not None:
        template, values = management
        data = _yaml(template)
        files[MANAGEMENT_TEMPLATE] = data
        management_stack = _management_stack(org, values, data)
        deployer = deployer_template(org)
        assert deployer is not None  # the same roles as the management template
        files[DEPLOYER_TEMPLATE] = _yaml(deployer)
    manifest = contract.Manifest(
        org=_org_settings(s),
        ous=tuple(contract.OuEntry(path=path, ou_id=ou.ou_id) for path, ou in sorted(org.ous.items())),
        stacksets=tuple(sorted(stacksets, key=lambda x: x.name)),
        management_account_stack=management_stack,
    )
    files[MANIFEST] = JsonDocument(contract.to_document(manifest))
    return files


def build(ctx: RenderContext) -> Mapping[str, Rendered | bytes]:
    org_path = ctx.org_path
    display = (
        org_path.relative_to(ctx.root).as_posix() if org_path.is_relative_to(ctx.root) else str(org_path)
    )
    return build_org(load_org(org_path, display))


BLUEPRINT = Blueprint(
    name=NAME,
    description="Org roles from org_roles/: StackSet role templates, login and management account templates, manifest",
    outputs=(f"{ROLES_DIR}/<Role>.yaml", LOGIN_TEMPLATE, MANAGEMENT_TEMPLATE, DEPLOYER_TEMPLATE, MANIFEST),
    build=build,
    module=__name__,
)
