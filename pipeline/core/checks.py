"""Pure: the checks of `python -m pipeline doctor`, each a verdict (PASS, WARN, FAIL) with the exact fix,
computed from facts an adapter read (pipeline.aws.doctor) and the manifest. No AWS calls here.

Every check cites the AWS page its rule comes from. A fact the adapter could not read arrives as an error
string, and its check says what could not be read and which permission would let it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pipeline.core.manifest import CallAs, Manifest, PermissionModel
from pipeline.core.org import EMPTY, MISSING, RENAMED, AccountState, OrgTree, resolve

# Trusted access and delegated administration for StackSets use this service principal:
# "Register a delegated administrator" and "Activate trusted access for StackSets with AWS Organizations",
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html and
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-activate-trusted-access.html
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
DOC_DELEGATED = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html"
)
DOC_TRUSTED = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-activate-trusted-access.html"
DOC_SELF_MANAGED = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-prereqs-self-managed.html"
)
DOC_ACCOUNT_STATE = (
    "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_account_state.html"
)
DOC_INSTANCE_STATUS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceComprehensiveStatus.html"
DOC_DESCRIBE_ORG = (
    "https://docs.aws.amazon.com/organizations/latest/APIReference/API_DescribeOrganization.html"
)
# Organizations is global: its CloudTrail events reach EventBridge in us-east-1 only ("Amazon EventBridge
# and AWS Organizations", https://docs.aws.amazon.com/organizations/latest/userguide/orgs_integrate_services.html),
# CloudTrail delivers "AWS API Call via CloudTrail" events to the default bus ("AWS service events delivered
# via AWS CloudTrail", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html).
# Whether that needs a trail the page leaves open: a missing trail is a WARN (safe under both readings), and
# an organization trail makes delivery certain.
DOC_EVENTS = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_integrate_services.html"
DOC_TRAIL = "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/creating-trail-organization.html"
DOC_SIMULATE = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html"
# "Understand CloudFormation quotas": 1,000 StackSets per administrator account and 100,000 stack instances
# per StackSet by default, both adjustable in Service Quotas
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
DOC_QUOTAS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
DEFAULT_STACKSETS_QUOTA = 1000
DEFAULT_INSTANCES_QUOTA = 100_000
STACKSETS_QUOTA_NAME = "Stack sets per administrator account"
INSTANCES_QUOTA_NAME = "Stack instances per stack set"
QUOTA_WARN_SHARE = 0.8  # warn from 80 % of a quota: an increase takes days
WATCHER_REGION = "us-east-1"
DEFAULT_ADMIN_ROLE = "AWSCloudFormationStackSetAdministrationRole"
DEFAULT_EXECUTION_ROLE = "AWSCloudFormationStackSetExecutionRole"
# moto (the --local emulator) implements neither iam:SimulatePrincipalPolicy nor Service Quotas' lists.
EMULATOR_LACKS = "the local emulator (moto) does not implement iam:SimulatePrincipalPolicy"


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


PASS, WARN, FAIL = Status


@dataclass(frozen=True)
class Check:
    """One verdict: what was checked, what was found, and (unless it passed) exactly what to do."""

    id: str
    status: Status
    detail: str
    fix: str = ""
    doc: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "status": self.status, "detail": self.detail, "fix": self.fix, "doc": self.doc}


@dataclass(frozen=True)
class Trail:
    name: str
    organization: bool
    multi_region: bool
    home_region: str
    logging: bool


@dataclass(frozen=True)
class Decision:
    """One iam:SimulatePrincipalPolicy result: allowed, explicitDeny or implicitDeny (and by what)."""

    action: str
    resource: str
    decision: str
    denied_by: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision == "allowed"


@dataclass(frozen=True)
class Quotas:
    stacksets: int = DEFAULT_STACKSETS_QUOTA
    instances: int = DEFAULT_INSTANCES_QUOTA
    source: str = "documented defaults"


@dataclass(frozen=True)
class Facts:
    """What the adapter read. A fact it could not read is None, with its one-line reason in `errors`."""

    caller_account: str
    caller_arn: str
    region: str
    management_account: str | None = None
    organization_id: str | None = None
    delegated_admins: tuple[str, ...] | None = None
    service_access: tuple[str, ...] | None = None
    organizations_access: str | None = None  # CloudFormation's own view: ENABLED, DISABLED, ...
    admin_role: bool | None = None
    tree: OrgTree | None = None
    trails: tuple[Trail, ...] | None = None
    forwarding_rule: bool | None = None
    principal: str | None = None  # the IAM ARN simulated
    decisions: tuple[Decision, ...] | None = None
    quotas: Quotas = Quotas()
    live_stacksets: tuple[str, ...] | None = None
    errors: Mapping[str, str] = field(default_factory=dict)


def _unread(facts: Facts, key: str, check: str, action: str, doc: str, status: Status = FAIL) -> Check:
    why = facts.errors.get(key, "not read")
    return Check(check, status, f"could not read it: {why}", f"allow {action} for {facts.caller_arn}", doc)


# --- the caller ----------------------------------------------------------------------------------------------


def check_caller(m: Manifest, f: Facts) -> Check:
    """SELF: the caller is the management account. DELEGATED_ADMIN: the caller is registered as a delegated
    administrator for StackSets (and StackSets live in the management account: CallAs, API_CreateStackSet)."""
    name = "caller"
    mgmt = f.management_account
    if mgmt is None:
        return _unread(f, "organization", name, "organizations:DescribeOrganization", DOC_DESCRIBE_ORG)
    if m.org.call_as == CallAs.SELF:
        if f.caller_account == mgmt:
            return Check(name, PASS, f"{f.caller_arn} is in the management account {mgmt} (call_as: SELF)")
        return Check(
            name,
            FAIL,
            f"{f.caller_arn} is in account {f.caller_account}, not the management account {mgmt}, "
            "and org.yaml has call_as: SELF",
            f"run with credentials of the management account {mgmt} (--profile), or register "
            f"{f.caller_account} as delegated administrator (from {mgmt}: `aws organizations "
            f"register-delegated-administrator --account-id {f.caller_account} --service-principal "
            f"{STACKSETS_PRINCIPAL}`) and set call_as: DELEGATED_ADMIN in org_roles/org.yaml",
            DOC_DELEGATED,
        )
    if f.delegated_admins is None:
        return _unread(
            f, "delegated_admins", name, "organizations:ListDelegatedAdministrators", DOC_DELEGATED
        )
    if f.caller_account in f.delegated_admins:
        return Check(
            name,
            PASS,
            f"{f.caller_account} is a delegated administrator for StackSets (call_as: DELEGATED_ADMIN)",
        )
    register = (
        f"from the management account {mgmt}: `aws organizations register-delegated-administrator "
        f"--account-id {f.caller_account} --service-principal {STACKSETS_PRINCIPAL}`"
    )
    if f.caller_account == mgmt:
        register = "set call_as: SELF in org_roles/org.yaml (the management account acts as itself)"
    return Check(
        name,
        FAIL,
        f"{f.caller_account} is not a registered delegated administrator for {STACKSETS_PRINCIPAL} "
        "(org.yaml has call_as: DELEGATED_ADMIN)",
        register,
        DOC_DELEGATED,
    )


# --- trusted access or the self-managed roles ----------------------------------------------------------------


def check_access(m: Manifest, f: Facts) -> Check:
    name = "trusted-access"
    if m.org.permission_model == PermissionModel.SELF_MANAGED:
        return _self_managed_roles(m, f)
    fix = (
        "in the management account, run `aws cloudformation activate-organizations-access` (or CloudFormation "
        "console, StackSets, Activate trusted access)"
    )
    # CloudFormation's own answer comes first where it can be read (DescribeOrganizationsAccess:
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeOrganizationsAccess.html);
    # Organizations' list of enabled service principals otherwise.
    if f.organizations_access is not None:
        if f.organizations_access == "ENABLED":
            return Check(name, PASS, "trusted access for StackSets is ENABLED (DescribeOrganizationsAccess)")
        return Check(
            name,
            FAIL,
            f"trusted access for StackSets is {f.organizations_access}: service-managed StackSets cannot be created",
            fix,
            DOC_TRUSTED,
        )
    if f.service_access is None:
        return _unread(
            f, "service_access", name, "organizations:ListAWSServiceAccessForOrganization", DOC_TRUSTED
        )
    if STACKSETS_PRINCIPAL in f.service_access:
        return Check(name, PASS, f"trusted access for StackSets is enabled ({STACKSETS_PRINCIPAL})")
    return Check(
        name,
        FAIL,
        "trusted access for StackSets is not enabled: service-managed StackSets cannot be created",
        fix,
        DOC_TRUSTED,
    )


def admin_role_name(m: Manifest) -> str:
    return (m.org.administration_role_arn or "").rsplit("/", 1)[-1] or DEFAULT_ADMIN_ROLE


def _self_managed_roles(m: Manifest, f: Facts) -> Check:
    name = "self-managed-roles"
    admin = admin_role_name(m)
    execution = m.org.execution_role_name or DEFAULT_EXECUTION_ROLE
    if f.admin_role is None:
        return _unread(f, "admin_role", name, "iam:GetRole", DOC_SELF_MANAGED)
    if not f.admin_role:
        return Check(
            name,
            FAIL,
            f"the administration role {admin} does not exist in {f.caller_account}",
            f"deploy AWSCloudFormationStackSetAdministrationRole.yml (role {admin}) in {f.caller_account}, and "
            f"AWSCloudFormationStackSetExecutionRole.yml (role {execution}) in every target account",
            DOC_SELF_MANAGED,
        )
    return Check(
        name,
        WARN,
        f"the administration role {admin} exists; the execution role {execution} lives in each target "
        "account and cannot be read from here",
        f"make sure every target account has {execution} trusting {f.caller_account} "
        "(AWSCloudFormationStackSetExecutionRole.yml); a missing one fails only that account's instance",
        DOC_SELF_MANAGED,
    )


# --- the organization ---------------------------------------------------------------------------------------


def check_organization(m: Manifest, f: Facts) -> Check:
    name = "organization"
    if f.organization_id is None:
        return _unread(f, "organization", name, "organizations:DescribeOrganization", DOC_DESCRIBE_ORG)
    if f.management_account and f.management_account != m.org.management_account_id:
        return Check(
            name,
            FAIL,
            f"the organization's management account is {f.management_account}, org.yaml says "
            f"{m.org.management_account_id}",
            f"set management_account_id: '{f.management_account}' in org_roles/org.yaml, or use credentials "
            "of the intended organization",
            DOC_DESCRIBE_ORG,
        )
    pinned = m.org.organization_id
    if pinned is None:
        return Check(
            name,
            WARN,
            f"the credentials reach organization {f.organization_id}; org.yaml pins none",
            f"add organization_id: {f.organization_id} to org_roles/org.yaml, so a sync never writes to "
            "another organization",
            DOC_DESCRIBE_ORG,
        )
    if pinned != f.organization_id:
        return Check(
            name,
            FAIL,
            f"the credentials reach organization {f.organization_id}, org.yaml pins {pinned}",
            f"use credentials of organization {pinned}, or correct organization_id in org_roles/org.yaml",
            DOC_DESCRIBE_ORG,
        )
    return Check(name, PASS, f"organization {pinned} as org.yaml pins")


def _target_paths(m: Manifest) -> set[str]:
    return {t.ou_path for spec in m.stacksets for t in spec.targets}


def check_ous(m: Manifest, f: Facts) -> list[Check]:
    """Every manifest OU resolves (pinned ids where they should be); no target OU holds an account that is
    not ACTIVE (Organizations' account State; a StackSet instance there fails)."""
    if f.tree is None:
        return [
            _unread(f, "tree", "ou-paths", "organizations:ListOrganizationalUnitsForParent", DOC_DESCRIBE_ORG)
        ]
    statuses = resolve(m, f.tree)
    broken, empty = [], []
    for path, st in statuses.items():
        if st.state == MISSING:
            where = f"pinned id {path}" if st.message.startswith("pinned") else path
            broken.append(f"{path}: {st.message} (create it, or fix the folder or its ou_id for {where})")
        elif st.state == RENAMED:
            broken.append(
                f"{path}: {st.message} (rename the folder org_roles/{path} to {st.live_path}, or drop its ou_id)"
            )
        elif st.state == EMPTY:
            empty.append(path)
    checks = []
    if broken:
        checks.append(
            Check(
                "ou-paths",
                FAIL,
                f"{len(broken)} of {len(statuses)} manifest OU(s) do not resolve",
                "; ".join(broken),
                DOC_DESCRIBE_ORG,
            )
        )
    elif empty:
        checks.append(
            Check(
                "ou-paths",
                WARN,
                f"all {len(statuses)} manifest OUs resolve; without active member accounts: "
                + ", ".join(empty),
                "nothing to do unless accounts are missing there; the sync skips them until they have accounts",
            )
        )
    else:
        checks.append(Check("ou-paths", PASS, f"all {len(statuses)} manifest OUs resolve"))
    checks.append(_account_states(m, f.tree, statuses))
    return checks


def _account_states(m: Manifest, tree: OrgTree, statuses: Mapping[str, Any]) -> Check:
    """SUSPENDED accounts are skipped by StackSets (SKIPPED_SUSPENDED_ACCOUNT, API_StackInstanceComprehensiveStatus:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceComprehensiveStatus.html):
    a WARN. For the other states (PENDING_ACTIVATION, PENDING_CLOSURE, CLOSED, any new one) the docs are
    silent: the harsher reading, that the instance fails and counts against the failure tolerance, is a FAIL."""
    blocked: dict[str, str] = {}
    for path in sorted(_target_paths(m)):
        st = statuses.get(path)
        if st is not None and st.exists:
            blocked.update(st.inactive)
    if not blocked:
        return Check("account-states", PASS, "every account in a target OU is ACTIVE")
    failing = {a: s for a, s in blocked.items() if s != AccountState.SUSPENDED}
    listing = ", ".join(f"{a} ({s}, in {tree.account_path(a)})" for a, s in sorted(blocked.items()))
    found = f"{len(blocked)} account(s) in target OUs are not ACTIVE: {listing}"
    if not failing:
        return Check(
            "account-states",
            WARN,
            found,
            "nothing blocks: StackSets skips suspended accounts (SKIPPED_SUSPENDED_ACCOUNT); move them out of "
            "targeted OUs to keep reports quiet",
            DOC_INSTANCE_STATUS,
        )
    return Check(
        "account-states",
        FAIL,
        found,
        f"move {', '.join(sorted(failing))} to an OU no StackSet targets, or wait until they are ACTIVE or gone: "
        "a stack instance there may fail and count against the operation's failure tolerance",
        DOC_ACCOUNT_STATE,
    )


# --- the account-move watcher -------------------------------------------------------------------------------


def check_watcher(m: Manifest, f: Facts) -> list[Check]:
    """The EventBridge watcher needs the Organizations events, delivered in us-east-1 only, and a trail
    logging them. Service-managed AutoDeployment covers moves without it: there, a gap is a WARN."""
    severity = FAIL if m.org.permission_model == PermissionModel.SELF_MANAGED else WARN
    home = m.org.home_region
    if home == WATCHER_REGION:
        region = Check("watcher-region", PASS, f"the pipeline stack (and its watcher) is in {WATCHER_REGION}")
    elif f.forwarding_rule is None:
        region = _unread(f, "forwarding_rule", "watcher-region", "events:ListRules", DOC_EVENTS, severity)
    elif f.forwarding_rule:
        region = Check(
            "watcher-region",
            PASS,
            f"an EventBridge rule in {WATCHER_REGION} forwards Organizations events to {home}",
        )
    else:
        region = Check(
            "watcher-region",
            severity,
            f"home region {home}: Organizations events arrive in {WATCHER_REGION} only, and no rule there "
            f"forwards them to {home}",
            f"in {WATCHER_REGION}, create an EventBridge rule with pattern "
            '{"source": ["aws.organizations"]} targeting the event bus '
            f"arn:aws:events:{home}:{f.caller_account}:event-bus/default, or deploy the pipeline stack in "
            f"{WATCHER_REGION}",
            DOC_EVENTS,
        )
    return [region, _trail(f)]


def _trail(f: Facts) -> Check:
    if f.trails is None:
        return _unread(
            f, "trails", "trail", "cloudtrail:DescribeTrails and cloudtrail:GetTrailStatus", DOC_TRAIL, WARN
        )
    covering = [t for t in f.trails if t.logging and (t.multi_region or t.home_region == WATCHER_REGION)]
    org_trails = [t.name for t in covering if t.organization]
    if org_trails:
        return Check("trail", PASS, f"organization trail {org_trails[0]} is logging")
    if covering:
        return Check(
            "trail", PASS, f"trail {covering[0].name} logs {WATCHER_REGION} in the management account"
        )
    return Check(
        "trail",
        WARN,
        f"no logging trail covers {WATCHER_REGION}: the watcher may never see MoveAccount or "
        "CreateOrganizationalUnit",
        "from the management account: `aws cloudtrail create-trail --name org-trail --s3-bucket-name BUCKET "
        "--is-multi-region-trail --is-organization-trail` then `aws cloudtrail start-logging --name org-trail`",
        DOC_TRAIL,
    )


# --- permissions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One statement of the sync role's policy, and the concrete resource simulated for it."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # the policy's Resource patterns
    simulate: tuple[str, ...]  # concrete ARNs to simulate (the first StackSet, the stack, or *)

    def to_json(self, actions: Sequence[str]) -> str:
        return json.dumps(
            {"Sid": self.sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(self.resources)},
            sort_keys=False,
        )


@dataclass(frozen=True)
class SyncActions:
    """The sync role's action lists (generator.blueprints.org_pipeline, the one list the policy renders)."""

    organizations: tuple[str, ...]
    stacksets: tuple[str, ...]
    stacks: tuple[str, ...]


def sync_statements(m: Manifest, account: str, region: str, actions: SyncActions) -> list[Statement]:
    """The statements the sync role's policy holds (Sids as templates/org/pipeline.yaml renders them), with
    this manifest's prefix, account and region in the ARNs. A delegated administrator's StackSets live in the
    management account ("StackSets with service-managed permissions are created in the management account,
    including StackSets that are created by delegated administrators", CallAs in
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html), so their
    ARNs name it."""
    prefix = m.org.stackset_prefix
    owner = m.org.management_account_id if m.org.call_as == CallAs.DELEGATED_ADMIN else account
    arn = f"arn:aws:cloudformation:{region}:{owner}"
    names = sorted(s.name for s in m.stacksets) or [f"{prefix}-example"]
    out = [
        Statement("ReadOrganization", actions.organizations, ("*",), ("*",)),
        Statement(
            "ManageOurStackSets",
            actions.stacksets,
            (
                f"arn:aws:cloudformation:*:{owner}:stackset/{prefix}-*:*",
                f"arn:aws:cloudformation:*:{owner}:stackset-target/{prefix}-*:*",
                "arn:aws:cloudformation:*:*:type/resource/AWS-IAM-*",
            ),
            tuple(f"{arn}:stackset/{n}:*" for n in names),
        ),
        Statement("ListStackSets", ("cloudformation:ListStackSets",), ("*",), ("*",)),
        # The drift check follows a stack drift detection by its id, which names no resource.
        Statement("StackDriftStatus", ("cloudformation:DescribeStackDriftDetectionStatus",), ("*",), ("*",)),
        # CloudFormation checks a delegated administrator's registration with the caller's permissions
        # (stacksets-orgs-delegated-admin.html); the role holds it in both modes.
        Statement(
            "CheckDelegatedAdministrator", ("organizations:ListDelegatedAdministrators",), ("*",), ("*",)
        ),
    ]
    if m.org.permission_model == PermissionModel.SELF_MANAGED:
        role = f"arn:aws:iam::{account}:role/{admin_role_name(m)}"
        out.append(Statement("PassStackSetAdministrationRole", ("iam:PassRole",), (role,), (role,)))
    stack = m.management_account_stack
    if stack is not None:
        out.append(
            Statement(
                "ManagementAccountStack",
                actions.stacks,
                (f"arn:aws:cloudformation:*:{account}:stack/{prefix}-*/*",),
                (f"arn:aws:cloudformation:{stack.region}:{account}:stack/{stack.name}/*",),
            )
        )
    return out


def check_permissions(statements: Sequence[Statement], f: Facts) -> Check:
    name = "permissions"
    if f.decisions is None:
        why = f.errors.get("decisions", "not read")
        fix = f"allow iam:SimulatePrincipalPolicy on {f.principal or f.caller_arn}, or pass --role-arn"
        if why == EMULATOR_LACKS:
            fix = "run doctor against AWS (without --local): there it simulates every call the sync makes"
        return Check(name, WARN, f"not checked: {why}", fix, DOC_SIMULATE)
    denied = [d for d in f.decisions if not d.allowed]
    subject = f.principal or f.caller_arn
    total = len(f.decisions)
    if not denied:
        return Check(name, PASS, f"{subject} may call all {total} action/resource pairs the sync uses")
    fixes = []
    for st in statements:
        missing = sorted({d.action for d in denied if d.action in st.actions and not d.denied_by})
        if missing:
            fixes.append(f"add to the policy of {subject}: {st.to_json(missing)}")
    for d in sorted({d for d in denied if d.denied_by}, key=lambda d: (d.action, d.resource)):
        fixes.append(
            f"{d.action} on {d.resource} is denied explicitly by {', '.join(d.denied_by)}: narrow that Deny"
        )
    pairs = ", ".join(sorted({f"{d.action} on {d.resource}" for d in denied}))
    return Check(name, FAIL, f"{len(denied)} of {total} denied: {pairs}", "; ".join(fixes), DOC_SIMULATE)


# --- limits -------------------------------------------------------------------------------------------------


def check_limits(m: Manifest, f: Facts) -> Check:
    """StackSets in the administrator account after the sync, and instances per StackSet, against quotas."""
    name = "limits"
    if f.live_stacksets is None:
        return _unread(f, "live_stacksets", name, "cloudformation:ListStackSets", DOC_QUOTAS)
    q = f.quotas
    after = len(set(f.live_stacksets) | {s.name for s in m.stacksets})
    instances = _instances(m, f.tree)
    biggest = max(instances.items(), key=lambda kv: (kv[1], kv[0]), default=("-", 0))
    found = (
        f"{after} StackSet(s) after the sync of {q.stacksets} allowed; at most {biggest[1]} instance(s) "
        f"per StackSet ({biggest[0]}) of {q.instances} (quotas: {q.source})"
    )
    increase = (
        "request an increase in Service Quotas (CloudFormation: "
        f"'{STACKSETS_QUOTA_NAME}', '{INSTANCES_QUOTA_NAME}'), or delete unused StackSets"
    )
    if after > q.stacksets or biggest[1] > q.instances:
        return Check(name, FAIL, found, increase, DOC_QUOTAS)
    if after >= q.stacksets * QUOTA_WARN_SHARE or biggest[1] >= q.instances * QUOTA_WARN_SHARE:
        return Check(name, WARN, found + ": over 80 %", increase, DOC_QUOTAS)
    return Check(name, PASS, found)


def _instances(m: Manifest, tree: OrgTree | None) -> dict[str, int]:
    """Instances each StackSet will hold: active member accounts under its OU targets (or its account
    targets), times its regions."""
    out: dict[str, int] = {}
    for spec in m.stacksets:
        accounts: set[str] = set(spec.account_targets)
        if tree is not None:
            for t in spec.targets:
                unit = tree.units.get(t.ou_id or "") or tree.by_path(t.ou_path)
                if unit is not None:
                    active, _ = tree.member_accounts_under(unit.id)
                    accounts |= set(active) - set(t.excluded_accounts)
        out[spec.name] = len(accounts) * max(1, len(spec.regions))
    return out


# --- all of them --------------------------------------------------------------------------------------------


def run_checks(m: Manifest, f: Facts, statements: Sequence[Statement]) -> list[Check]:
    return [
        check_caller(m, f),
        check_access(m, f),
        check_organization(m, f),
        *check_ous(m, f),
        *check_watcher(m, f),
        check_permissions(statements, f),
        check_limits(m, f),
    ]


def worst(checks: Sequence[Check]) -> Status:
    states = {c.status for c in checks}
    return FAIL if FAIL in states else WARN if WARN in states else PASS
