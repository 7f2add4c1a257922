"""The doctor's checks (pipeline/core/checks.py), pure: for every check a passing case and a failing one
whose fix names exactly what to do; and the permission statements against the rendered sync role policy."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest
import yaml

from pipeline.cli.doctor import shared_actions
from pipeline.cli.files import load_manifest
from pipeline.core import checks as c
from pipeline.core.manifest import CallAs, Manifest, PermissionModel
from pipeline.core.org import Account, OrgTree, OrgUnit
from tests.support.paths import ROOT

MGMT = "111111111111"
OTHER = "333333333333"
MANIFEST = load_manifest(ROOT / "templates" / "org" / "manifest.json")


def tree_for(m: Manifest, states: dict[str, str] | None = None, drop: str | None = None) -> OrgTree:
    """An organization with every manifest OU (but `drop`) and one ACTIVE account in each, ids from paths."""
    root = "r-ab12"
    units = {root: OrgUnit(root, "Root", None, "Root")}
    ids = {"Root": root}
    for entry in sorted(m.ous, key=lambda e: e.path.count("/")):
        if entry.path in ("Root", drop):
            continue
        parent, name = entry.path.rsplit("/", 1)
        if parent not in ids:
            continue
        uid = f"ou-ab12-{hashlib.sha256(entry.path.encode()).hexdigest()[:8]}"
        ids[entry.path] = uid
        units[uid] = OrgUnit(uid, name, ids[parent], entry.path)
    accounts = {MGMT: Account(MGMT, "management", root)}
    for n, uid in enumerate(sorted(u for u in units if u != root)):
        acct = f"1000000000{n:02d}"
        accounts[acct] = Account(acct, f"a{n}", uid, (states or {}).get(acct, "ACTIVE"))
    return OrgTree("o-abcdefghij", MGMT, root, units, accounts)


def facts(**kw: Any) -> c.Facts:
    base: dict[str, Any] = {
        "caller_account": MGMT,
        "caller_arn": f"arn:aws:sts::{MGMT}:assumed-role/Admin/me",
        "region": "us-east-1",
        "management_account": MGMT,
        "organization_id": "o-abcdefghij",
        "delegated_admins": (),
        "service_access": (c.STACKSETS_PRINCIPAL,),
        "admin_role": True,
        "tree": tree_for(MANIFEST),
        "trails": (c.Trail("org-trail", True, True, "us-east-1", True),),
        "forwarding_rule": None,
        "principal": f"arn:aws:iam::{MGMT}:role/Admin",
        "decisions": (c.Decision("cloudformation:CreateStackSet", "*", "allowed"),),
        "live_stacksets": (),
    }
    base.update(kw)
    return c.Facts(**base)


def org(m: Manifest = MANIFEST, **kw: Any) -> Manifest:
    return replace(m, org=replace(m.org, **kw))


# --- caller -------------------------------------------------------------------------------------------------


def test_the_management_account_as_itself_passes() -> None:
    assert c.check_caller(MANIFEST, facts()).status == c.PASS


def test_another_account_with_call_as_self_fails_and_names_the_registration() -> None:
    got = c.check_caller(MANIFEST, facts(caller_account=OTHER))
    assert got.status == c.FAIL
    assert (
        f"register-delegated-administrator --account-id {OTHER} --service-principal "
        "member.org.stacksets.cloudformation.amazonaws.com" in got.fix
    )
    assert "call_as: DELEGATED_ADMIN" in got.fix


def test_a_registered_delegated_administrator_passes() -> None:
    m = org(call_as=CallAs.DELEGATED_ADMIN)
    assert c.check_caller(m, facts(caller_account=OTHER, delegated_admins=(OTHER,))).status == c.PASS


def test_an_unregistered_delegated_administrator_fails_with_the_command_to_register() -> None:
    m = org(call_as=CallAs.DELEGATED_ADMIN)
    got = c.check_caller(m, facts(caller_account=OTHER, delegated_admins=("444444444444",)))
    assert got.status == c.FAIL
    assert got.fix == (
        f"from the management account {MGMT}: `aws organizations register-delegated-administrator "
        f"--account-id {OTHER} --service-principal member.org.stacksets.cloudformation.amazonaws.com`"
    )


def test_the_management_account_with_call_as_delegated_admin_is_told_to_use_self() -> None:
    got = c.check_caller(org(call_as=CallAs.DELEGATED_ADMIN), facts(delegated_admins=()))
    assert got.status == c.FAIL and "set call_as: SELF" in got.fix


def test_unreadable_delegated_administrators_fail_naming_the_permission() -> None:
    f = facts(
        caller_account=OTHER,
        delegated_admins=None,
        errors={"delegated_admins": "AccessDeniedException: not authorized"},
    )
    got = c.check_caller(org(call_as=CallAs.DELEGATED_ADMIN), f)
    assert got.status == c.FAIL
    assert got.detail == "could not read it: AccessDeniedException: not authorized"
    assert got.fix.startswith("allow organizations:ListDelegatedAdministrators for ")


# --- trusted access / self-managed roles ----------------------------------------------------------------------


def test_trusted_access_enabled_passes() -> None:
    assert c.check_access(MANIFEST, facts()).status == c.PASS


def test_trusted_access_disabled_fails_with_the_activation_command() -> None:
    got = c.check_access(MANIFEST, facts(service_access=("sso.amazonaws.com",)))
    assert got.status == c.FAIL
    assert "`aws cloudformation activate-organizations-access`" in got.fix


def test_cloudformations_own_enabled_answer_passes() -> None:
    got = c.check_access(MANIFEST, facts(organizations_access="ENABLED", service_access=None))
    assert (got.status, got.detail) == (
        c.PASS,
        "trusted access for StackSets is ENABLED (DescribeOrganizationsAccess)",
    )


@pytest.mark.parametrize("status", ["DISABLED", "DISABLED_PERMANENTLY"])
def test_cloudformations_own_disabled_answer_fails_even_if_organizations_lists_the_principal(
    status: str,
) -> None:
    got = c.check_access(MANIFEST, facts(organizations_access=status))
    assert got.status == c.FAIL
    assert got.detail.startswith(f"trusted access for StackSets is {status}")
    assert "`aws cloudformation activate-organizations-access`" in got.fix


def test_self_managed_with_the_administration_role_warns_about_the_execution_roles() -> None:
    got = c.check_access(org(permission_model=PermissionModel.SELF_MANAGED), facts(admin_role=True))
    assert (got.id, got.status) == ("self-managed-roles", c.WARN)
    assert "AWSCloudFormationStackSetExecutionRole" in got.fix


def test_self_managed_without_the_administration_role_fails_naming_the_template() -> None:
    m = org(
        permission_model=PermissionModel.SELF_MANAGED,
        administration_role_arn=f"arn:aws:iam::{MGMT}:role/Admin",
    )
    got = c.check_access(m, facts(admin_role=False))
    assert got.status == c.FAIL
    assert got.fix.startswith(
        f"deploy AWSCloudFormationStackSetAdministrationRole.yml (role Admin) in {MGMT}"
    )


# --- organization ---------------------------------------------------------------------------------------------


def test_a_pinned_organization_that_matches_passes() -> None:
    assert c.check_organization(org(organization_id="o-abcdefghij"), facts()).status == c.PASS


def test_an_unpinned_organization_warns_with_the_line_to_add() -> None:
    got = c.check_organization(MANIFEST, facts())
    assert got.status == c.WARN and got.fix.startswith(
        "add organization_id: o-abcdefghij to org_roles/org.yaml"
    )


def test_another_organization_fails() -> None:
    got = c.check_organization(org(organization_id="o-zzzzzzzzzz"), facts())
    assert got.status == c.FAIL
    assert got.fix == (
        "use credentials of organization o-zzzzzzzzzz, or correct organization_id in org_roles/org.yaml"
    )


def test_another_management_account_fails() -> None:
    got = c.check_organization(MANIFEST, facts(management_account=OTHER))
    assert got.status == c.FAIL and got.fix.startswith(f"set management_account_id: '{OTHER}'")


# --- OUs and account states -----------------------------------------------------------------------------------


def _by_id(found: list[c.Check]) -> dict[str, c.Check]:
    return {x.id: x for x in found}


def test_every_ou_resolving_with_active_accounts_passes() -> None:
    got = _by_id(c.check_ous(MANIFEST, facts()))
    assert (got["ou-paths"].status, got["account-states"].status) == (c.PASS, c.PASS)


def test_a_missing_ou_fails_naming_it() -> None:
    got = _by_id(c.check_ous(MANIFEST, facts(tree=tree_for(MANIFEST, drop="Root/Sandbox"))))["ou-paths"]
    assert got.status == c.FAIL
    assert "Root/Sandbox: no OU at this path in the organization yet (create it" in got.fix


def test_a_renamed_pinned_ou_fails_naming_the_folder_to_rename() -> None:
    tree = tree_for(MANIFEST)
    sandbox = tree.by_path("Root/Sandbox")
    assert sandbox is not None
    units = dict(tree.units)
    units[sandbox.id] = replace(sandbox, name="Play", path="Root/Play")
    moved = OrgTree(tree.organization_id, MGMT, tree.root_id, units, tree.accounts)
    m = replace(
        MANIFEST,
        ous=tuple(replace(e, ou_id=sandbox.id) if e.path == "Root/Sandbox" else e for e in MANIFEST.ous),
    )
    got = _by_id(c.check_ous(m, facts(tree=moved)))["ou-paths"]
    assert got.status == c.FAIL
    assert "rename the folder org_roles/Root/Sandbox to Root/Play, or drop its ou_id" in got.fix


def test_a_suspended_account_in_a_target_ou_only_warns() -> None:
    acct = next(a for a in tree_for(MANIFEST).accounts if a != MGMT)
    got = _by_id(c.check_ous(MANIFEST, facts(tree=tree_for(MANIFEST, {acct: "SUSPENDED"}))))["account-states"]
    assert got.status == c.WARN and "SKIPPED_SUSPENDED_ACCOUNT" in got.fix


@pytest.mark.parametrize("state", ["PENDING_CLOSURE", "CLOSED", "PENDING_ACTIVATION", "SOMETHING_NEW"])
def test_an_account_in_another_state_in_a_target_ou_fails_naming_it(state: str) -> None:
    acct = next(a for a in tree_for(MANIFEST).accounts if a != MGMT)
    got = _by_id(c.check_ous(MANIFEST, facts(tree=tree_for(MANIFEST, {acct: state}))))["account-states"]
    assert got.status == c.FAIL
    assert f"{acct} ({state}, in " in got.detail
    assert got.fix.startswith(f"move {acct} to an OU no StackSet targets")


# --- watcher --------------------------------------------------------------------------------------------------


def test_us_east_1_with_an_organization_trail_passes() -> None:
    assert [x.status for x in c.check_watcher(MANIFEST, facts())] == [c.PASS, c.PASS]


def test_another_home_region_without_a_forwarding_rule_warns_with_the_rule_to_create() -> None:
    region, _ = c.check_watcher(org(home_region="eu-west-1"), facts(forwarding_rule=False))
    assert region.status == c.WARN
    assert '{"source": ["aws.organizations"]}' in region.fix
    assert f"arn:aws:events:eu-west-1:{MGMT}:event-bus/default" in region.fix


def test_self_managed_without_a_forwarding_rule_fails() -> None:
    m = org(home_region="eu-west-1", permission_model=PermissionModel.SELF_MANAGED)
    assert c.check_watcher(m, facts(forwarding_rule=False))[0].status == c.FAIL


def test_another_home_region_with_a_forwarding_rule_passes() -> None:
    assert c.check_watcher(org(home_region="eu-west-1"), facts(forwarding_rule=True))[0].status == c.PASS


@pytest.mark.parametrize(
    "trails",
    [(), (c.Trail("t", True, True, "us-east-1", False),), (c.Trail("t", False, False, "eu-west-1", True),)],
    ids=["none", "not-logging", "other-region-only"],
)
def test_no_logging_trail_covering_us_east_1_warns_with_the_trail_to_create(
    trails: tuple[c.Trail, ...],
) -> None:
    _, trail = c.check_watcher(MANIFEST, facts(trails=trails))
    assert trail.status == c.WARN
    assert (
        "`aws cloudtrail create-trail --name org-trail" in trail.fix
        and "--is-organization-trail" in trail.fix
    )


# --- permissions ----------------------------------------------------------------------------------------------

STATEMENTS = c.sync_statements(MANIFEST, MGMT, "us-east-1", shared_actions())


def test_every_action_allowed_passes() -> None:
    decisions = tuple(c.Decision(a, "*", "allowed") for st in STATEMENTS for a in st.actions)
    got = c.check_permissions(STATEMENTS, facts(decisions=decisions))
    assert got.status == c.PASS


def test_an_implicitly_denied_action_fails_naming_the_statement_to_add() -> None:
    arn = f"arn:aws:cloudformation:us-east-1:{MGMT}:stackset/org-roles-Developer:*"
    decisions = (
        c.Decision("cloudformation:CreateStackSet", arn, "allowed"),
        c.Decision("cloudformation:DeleteStackInstances", arn, "implicitDeny"),
    )
    got = c.check_permissions(STATEMENTS, facts(decisions=decisions))
    assert got.status == c.FAIL
    statement = {
        "Sid": "ManageOurStackSets",
        "Effect": "Allow",
        "Action": ["cloudformation:DeleteStackInstances"],
        "Resource": [
            f"arn:aws:cloudformation:*:{MGMT}:stackset/org-roles-*:*",
            f"arn:aws:cloudformation:*:{MGMT}:stackset-target/org-roles-*:*",
            "arn:aws:cloudformation:*:*:type/resource/AWS-IAM-*",
        ],
    }
    assert got.fix == f"add to the policy of arn:aws:iam::{MGMT}:role/Admin: {json.dumps(statement)}"


def test_an_explicitly_denied_action_fails_naming_the_denying_policy() -> None:
    decisions = (c.Decision("organizations:ListRoots", "*", "explicitDeny", ("DenyOrgReads",)),)
    got = c.check_permissions(STATEMENTS, facts(decisions=decisions))
    assert got.status == c.FAIL
    assert got.fix == "organizations:ListRoots on * is denied explicitly by DenyOrgReads: narrow that Deny"


def test_permissions_not_simulated_warn() -> None:
    got = c.check_permissions(STATEMENTS, facts(decisions=None, errors={"decisions": c.EMULATOR_LACKS}))
    assert got.status == c.WARN and "without --local" in got.fix


def _rendered_sync_statements() -> dict[str, dict[str, Any]]:
    template = yaml.safe_load((ROOT / "templates" / "org" / "pipeline.yaml").read_text())
    policies = template["Resources"]["SyncRole"]["Properties"]["Policies"]
    return {s["Sid"]: s for p in policies for s in p["PolicyDocument"]["Statement"]}


def _resolve(resource: Any, m: Manifest, account: str) -> str:
    text = resource["Fn::Sub"] if isinstance(resource, dict) else resource
    if isinstance(text, list):  # [text, {"StackSetAccount": If(DelegatedAdmin, management, this account)}]
        text = text[0].replace("${StackSetAccount}", account)
    for name, value in {
        "${AWS::Partition}": "aws",
        "${AWS::AccountId}": account,
        "${StackSetPrefix}": m.org.stackset_prefix,
        "${StackSetAdministrationRoleName}": c.DEFAULT_ADMIN_ROLE,
    }.items():
        text = text.replace(name, value)
    return str(text)


@pytest.mark.parametrize("model", list(PermissionModel))
def test_the_doctors_statements_are_the_rendered_sync_role_policy(model: PermissionModel) -> None:
    """Same Sids, same actions, same resources as templates/org/pipeline.yaml: the doctor simulates what
    the deployed role is granted, from the one list both come from."""
    m = org(permission_model=model)
    rendered = _rendered_sync_statements()
    for st in c.sync_statements(m, MGMT, "us-east-1", shared_actions()):
        got = rendered[st.sid]
        assert sorted(got["Action"]) == sorted(st.actions), st.sid
        assert [_resolve(r, m, MGMT) for r in got["Resource"]] == list(st.resources), st.sid


def test_a_delegated_administrators_stacksets_are_simulated_in_the_management_account() -> None:
    m = org(call_as=CallAs.DELEGATED_ADMIN)
    st = next(
        s for s in c.sync_statements(m, OTHER, "eu-west-1", shared_actions()) if s.sid == "ManageOurStackSets"
    )
    assert (
        st.simulate[0]
        == f"arn:aws:cloudformation:eu-west-1:{MGMT}:stackset/{sorted(x.name for x in m.stacksets)[0]}:*"
    )
    assert st.resources[0] == f"arn:aws:cloudformation:*:{MGMT}:stackset/org-roles-*:*"


def test_every_organizations_and_cloudformation_action_of_the_sync_role_is_simulated() -> None:
    m = org(permission_model=PermissionModel.SELF_MANAGED)
    simulated = {a for st in c.sync_statements(m, MGMT, "us-east-1", shared_actions()) for a in st.actions}
    granted = {
        a
        for s in _rendered_sync_statements().values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        if a.startswith(("organizations:", "cloudformation:", "iam:PassRole"))
    }
    assert granted - simulated == set()


# --- limits ---------------------------------------------------------------------------------------------------


def test_within_quotas_passes() -> None:
    assert c.check_limits(MANIFEST, facts()).status == c.PASS


def test_over_the_stackset_quota_fails_naming_the_quota_to_raise() -> None:
    got = c.check_limits(MANIFEST, facts(quotas=c.Quotas(stacksets=5, source="Service Quotas")))
    assert got.status == c.FAIL
    assert "'Stack sets per administrator account'" in got.fix
    assert got.detail.startswith(f"{len(MANIFEST.stacksets)} StackSet(s) after the sync of 5 allowed")


def test_near_the_instance_quota_warns() -> None:
    got = c.check_limits(MANIFEST, facts(quotas=c.Quotas(instances=12)))
    assert got.status == c.WARN and "'Stack instances per stack set'" in got.fix


def test_live_stacksets_count_towards_the_quota() -> None:
    live = tuple(f"other-{n}" for n in range(c.DEFAULT_STACKSETS_QUOTA))
    assert c.check_limits(MANIFEST, facts(live_stacksets=live)).status == c.FAIL


# --- all ------------------------------------------------------------------------------------------------------


def test_run_checks_covers_every_check_once() -> None:
    got = [x.id for x in c.run_checks(MANIFEST, facts(), STATEMENTS)]
    assert got == [
        "caller",
        "trusted-access",
        "organization",
        "ou-paths",
        "account-states",
        "watcher-region",
        "trail",
        "permissions",
        "limits",
    ]
    assert c.worst(c.run_checks(MANIFEST, facts(), STATEMENTS)) == c.WARN  # the organization id is not pinned
