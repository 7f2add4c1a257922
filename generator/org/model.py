"""The pure organization model: settings, the role catalog, the OU tree, and inheritance down the tree.

Inheritance follows service-managed StackSet OU targets (and SCPs): a role attached to an OU reaches
every account in that OU and in all OUs below it. How values combine down the folders, per key:

- roles: an OU's effective roles are its ancestors' attachments plus its own (attaching a role an
  ancestor already attaches is a validation error, so there is never a choice to make).
- parameters: the role's default, replaced by the attachment's value, replaced by each deeper OU's
  `parameters: {Role: {...}}` value in turn; the deepest OU wins, per parameter.
- exclude_accounts: not inherited; an OU's list applies to the roles attached at that OU only,
  together with the attachment's own list.

Every resolved value keeps the file it came from so `explain` can show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.core.manifest import DeletionPolicy, OperationPreferences

ROOT = "Root"
MAX_SESSION_PARAMETER = "MaxSessionDuration"
LOGIN_ACCOUNT_PARAMETER = "LoginAccountId"
PROJECT_PARAMETER = "Project"
ORGANIZATION_PARAMETER = "OrganizationId"
RESERVED_PARAMETERS = (
    MAX_SESSION_PARAMETER,
    LOGIN_ACCOUNT_PARAMETER,
    PROJECT_PARAMETER,
    ORGANIZATION_PARAMETER,
)


@dataclass(frozen=True)
class OrgSettings:
    management_account_id: str
    login_account_id: str
    home_region: str
    # Required in org.yaml: every login-account policy carries aws:ResourceOrgID with it.
    organization_id: str
    stackset_prefix: str = "org-roles"
    project: str = "org-roles"
    permission_model: str = "service_managed"
    call_as: str = "SELF"
    administration_role_arn: str | None = None
    execution_role_name: str | None = None
    # The manifest's own records, so org.yaml and the manifest share one set of defaults.
    operation_preferences: OperationPreferences = field(default_factory=OperationPreferences)
    deletion: DeletionPolicy = field(default_factory=DeletionPolicy)
    sns_topic_arn: str | None = None
    create_login_groups: bool = False
    # The only session tag keys the login-account policies let people pass (sts:TagSession).
    session_tag_keys: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    file: str = "org_roles/org.yaml"
    # rollout.waves: OU paths per canary wave, in order (the rest of the organization goes last).
    rollout_waves: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class RoleParameter:
    name: str
    type: str
    description: str = ""
    default: str | None = None
    allowed_values: tuple[str, ...] = ()
    allowed_pattern: str | None = None


@dataclass(frozen=True)
class LoginTrust:
    """People (or roles) in the central login account; MFA required unless opted out with a reason."""

    mfa: bool = True
    mfa_opt_out_reason: str | None = None
    max_mfa_age_seconds: int | None = None
    principals: tuple[str, ...] = ()

    @property
    def admits_users(self) -> bool:
        """Whether an IAM user of the login account can pass the trust: no principal list, or one naming
        users (a group is never a principal: aws:PrincipalArn of a user is its user ARN)."""
        return not self.principals or any(p.startswith("user/") for p in self.principals)


@dataclass(frozen=True)
class AccountTrust:
    account_id: str
    principals: tuple[str, ...] = ()
    external_id: str | None = None
    mfa: bool = False


@dataclass(frozen=True)
class Trust:
    login: LoginTrust | None = None
    services: tuple[str, ...] = ()
    accounts: tuple[AccountTrust, ...] = ()


@dataclass(frozen=True)
class PolicyStatement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    effect: str = "Allow"
    sid: str | None = None
    conditions: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


@dataclass(frozen=True)
class Role:
    name: str
    file: str
    description: str
    trust: Trust
    path: str = "/"
    max_session_duration: int = 3600
    managed_policies: tuple[str, ...] = ()
    statements: tuple[PolicyStatement, ...] = ()
    permissions_boundary: str | None = None
    break_glass_reason: str | None = None
    parameters: tuple[RoleParameter, ...] = ()

    def parameter_defaults(self, settings: OrgSettings) -> dict[str, str]:
        """Every CloudFormation parameter of the role's template with its StackSet-level value."""
        values = {PROJECT_PARAMETER: settings.project, MAX_SESSION_PARAMETER: str(self.max_session_duration)}
        if self.trust.login is not None:
            values[LOGIN_ACCOUNT_PARAMETER] = settings.login_account_id
        for p in self.parameters:
            if p.default is not None:
                values[p.name] = p.default
        return values

    def parameter_names(self) -> set[str]:
        names = {MAX_SESSION_PARAMETER} | {p.name for p in self.parameters}
        return names


@dataclass(frozen=True)
class Attachment:
    role: str
    file: str
    key: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    exclude_accounts: tuple[str, ...] = ()
    include_management_account: bool = False


@dataclass(frozen=True)
class OU:
    path: str
    file: str
    ou_id: str | None = None
    exclude_accounts: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def depth(self) -> int:
        """Levels below the root: Root is 0, Root/Workloads is 1."""
        return self.path.count("/")


@dataclass(frozen=True)
class Value:
    value: str
    origin: str


@dataclass(frozen=True)
class EffectiveRole:
    role: str
    attached_at: str
    source: str
    parameters: Mapping[str, Value]
    exclude_accounts: tuple[str, ...]
    include_management_account: bool


@dataclass(frozen=True)
class Org:
    settings: OrgSettings
    roles: Mapping[str, Role]
    ous: Mapping[str, OU]

    def ancestors(self, path: str) -> list[str]:
        """The OU paths from the root down to `path`, inclusive."""
        parts = path.split("/")
        return ["/".join(parts[: i + 1]) for i in range(len(parts))]

    def children(self, path: str) -> list[str]:
        return sorted(p for p in self.ous if p.rsplit("/", 1)[0] == path and p != path)

    def descendants(self, path: str) -> list[str]:
        return sorted(p for p in self.ous if p == path or p.startswith(path + "/"))

    def attachments(self) -> list[tuple[OU, Attachment]]:
        return [(ou, a) for ou in self.ous.values() for a in ou.attachments]

    def resolve_parameters(self, attachment: Attachment, attached_at: str, at: str) -> dict[str, Value]:
        """Parameter values for `attachment` as seen at OU `at` (at or below `attached_at`)."""
        role = self.roles[attachment.role]
        from_org = (PROJECT_PARAMETER, LOGIN_ACCOUNT_PARAMETER)
        values = {
            k: Value(v, self.settings.file if k in from_org else role.file)
            for k, v in role.parameter_defaults(self.settings).items()
        }
        values.update({k: Value(str(v), attachment.file) for k, v in attachment.parameters.items()})
        for path in self.ancestors(at)[len(self.ancestors(attached_at)) :]:
            ou = self.ous[path]
            for k, v in ou.overrides.get(attachment.role, {}).items():
                values[k] = Value(str(v), ou.file)
        return values

    def effective_roles(self, path: str) -> list[EffectiveRole]:
        """Every role that reaches accounts in OU `path`, with where it comes from and its values."""
        found = []
        for ancestor in self.ancestors(path):
            ou = self.ous.get(ancestor)
            if ou is None:
                continue
            for a in ou.attachments:
                if a.role not in self.roles:
                    continue
                found.append(
                    EffectiveRole(
                        role=a.role,
                        attached_at=ancestor,
                        source=a.file,
                        parameters=self.resolve_parameters(a, ancestor, path),
                        exclude_accounts=tuple(sorted(set(a.exclude_accounts) | set(ou.exclude_accounts))),
                        include_management_account=a.include_management_account,
                    )
                )
        return sorted(found, key=lambda r: r.role)

    def reach(self, role: str) -> list[tuple[str, EffectiveRole]]:
        """Every OU a role reaches, with the effective role there."""
        out = []
        for path in sorted(self.ous):
            for r in self.effective_roles(path):
                if r.role == role:
                    out.append((path, r))
        return out
