"""The sync Lambda's role (templates/org/pipeline.yaml, SyncRole) grants exactly what the sync calls.

Every AWS call the Lambda makes is recorded while it runs its real entry points against the fidelity
server: the Plan action (the trusted plan: reads the org and the StackSets, stores the plan once), a
CodePipeline job (first rollout, continued across invocations), a job of a changed artifact that removes a
target and deletes an orphaned StackSet, a job whose update waits out someone
else's operation and meets a failing account, a self-managed
organization, a delegated administrator and the scheduled drift check (a role drifted). The test fails on any call the role does not grant, and on any grant no call used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest
import yaml
from botocore.stub import ANY, Stubber

from pipeline.job import Deps, handle
from pipeline.sync import apply_plan, plan_sync
from tests.support.lambda_job import BUCKET, KEY, Ctx, artifact, job, world_deps
from tests.support.paths import ROOT
from tests.support.sync import CREDS, MGMT, World, edit, write_variant

# Permissions the Lambda service itself uses on the function's behalf (logs, the pipeline key for its
# environment and log group, X-Ray for active tracing), never called by the sync's code.
RUNTIME_PREFIXES = ("logs:", "xray:")
RUNTIME_ACTIONS = frozenset({"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"})
# Calls no policy can deny, so none grants them: GetCallerIdentity "No permissions are required to perform
# this operation" (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def granted() -> set[str]:
    """The role's own grants, plus what key policies grant the role by name (the token key's MAC actions)."""
    template = yaml.safe_load((ROOT / "templates" / "org" / "pipeline.yaml").read_text())
    role = template["Resources"]["SyncRole"]["Properties"]
    actions: set[str] = set()
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions.update(
                a
                for a in _actions(statement)
                if not a.startswith(RUNTIME_PREFIXES) and a not in RUNTIME_ACTIONS
            )
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::KMS::Key":
            continue
        for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
            if statement["Effect"] == "Allow" and statement["Principal"] == {
                "AWS": [{"Fn::GetAtt": ["SyncRole", "Arn"]}]
            }:
                actions.update(_actions(statement))
    return actions


def test_only_the_sync_role_may_use_the_token_key() -> None:
    """Nobody but the sync's role can make or check a token's MAC: an explicit deny for every other
    principal, so no IAM policy in the account can grant it."""
    template = yaml.safe_load((ROOT / "templates" / "org" / "pipeline.yaml").read_text())
    key = template["Resources"]["TokenKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    role = {"Fn::GetAtt": ["SyncRole", "Arn"]}
    mac = ["kms:GenerateMac", "kms:VerifyMac"]
    by_sid = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    assert (by_sid["SyncSealsTokens"]["Principal"], by_sid["SyncSealsTokens"]["Action"]) == (
        {"AWS": [role]},
        mac,
    )
    deny = by_sid["NobodyElseSealsTokens"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", {"AWS": ["*"]}, mac)
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": role}}
    function = template["Resources"]["SyncFunction"]["Properties"]
    assert function["Environment"]["Variables"]["TOKEN_KEY_ID"] == {"Fn::GetAtt": ["TokenKey", "Arn"]}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bool], set[str]]]:
    """Patches botocore so every API call is recorded as an IAM action while recording is on."""
    calls: set[str] = set()
    state = {"on": False}
    original = botocore.client.BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if state["on"]:
            service = self.meta.service_model.signing_name
            action = f"{service}:{operation_name}"
            if action not in NEEDS_NO_PERMISSION:
                calls.add(action)
            # CreateStackSet/UpdateStackSet with an administration role make CloudFormation check
            # iam:PassRole on it (self-managed permissions, AWS CloudFormation User Guide).
            if operation_name in ("CreateStackSet", "UpdateStackSet") and api_params.get(
                "AdministrationRoleARN"
            ):
                calls.add("iam:PassRole")
            # As a delegated administrator, CloudFormation checks the caller's registration with
            # Organizations on its behalf (organizations:ListDelegatedAdministrators; see
            # generator/blueprints/org_pipeline.py, _delegated_admin_check).
            if api_params.get("CallAs") == "DELEGATED_ADMIN":
                calls.add("organizations:ListDelegatedAdministrators")
            # The run state may not exist yet (no stored walk, no Organizations event): S3 answers a
            # missing key 404 only to a caller with s3:ListBucket, else 403 (API_GetObject.html).
            if operation_name == "GetObject" and str(api_params.get("Key", "")).startswith("sync-state/"):
                calls.add("s3:ListBucket")
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)

    def switch(on: bool) -> set[str]:
        state["on"] = on
        return calls

    yield switch


def _deps(world: World, topic: str) -> tuple[Deps, Stubber]:
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    # The token key is made here, before recording starts: the stack creates it, not the sync.
    deps = world_deps(world, env={"NOTIFICATION_TOPIC_ARN": topic}, codepipeline=cp)
    return deps, Stubber(cp)


def _world(make_world: Any, manifest_dir: Path | None = None) -> tuple[World, str]:
    world = make_world(manifest_dir)
    world.client("s3").create_bucket(Bucket=BUCKET)
    topic = world.client("sns").create_topic(Name="org-roles-sync")["TopicArn"]
    return world, topic


def test_sync_role_grants_exactly_what_the_sync_calls(
    make_world: Any, tmp_path: Path, recorder: Callable[[bool], set[str]]
) -> None:
    world, topic = _world(make_world)
    first_artifact = artifact(world.manifest_dir)
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=first_artifact)
    deps, cp_stub = _deps(world, topic)

    # 0. The Plan action: the trusted plan of the artifact, stored once, its hash handed on.
    with cp_stub:
        cp_stub.add_response(
            "put_job_success_result", {}, {"jobId": "plan-1", "outputVariables": ANY, "executionDetails": ANY}
        )
        recorder(True)
        planned = handle(job(job_id="plan-1", mode="plan", execution="exec-1"), Ctx(), deps)
        recorder(False)
    walk = planned["variables"]["ORG_WALK"]

    # 1. A CodePipeline job: the first rollout from the Plan's walk, handed over once, then finished.
    with cp_stub:
        cp_stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "continuationToken": ANY})
        cp_stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "executionDetails": ANY})
        recorder(True)
        deps.step_seconds = 0
        first = handle(job(approve=first_artifact, org_walk=walk), Ctx(), deps)
        deps.step_seconds = 600
        assert handle(job(first["continuation"], approve=first_artifact, org_walk=walk), Ctx(), deps)["ok"]
        # An Organizations event, recorded for the stored walks.
        assert handle({"source": "aws.organizations", "detail": {"eventName": "MoveAccount"}}, Ctx(), deps)[
            "ok"
        ]
        recorder(False)

    # 2. A job of a changed artifact: a target removed, an orphan deleted.
    def change(data: dict[str, Any]) -> None:
        data["stacksets"] = [s for s in data["stacksets"] if s["name"] != "org-roles-ReadOnly"]
        edit(data, "org-roles-Developer")["targets"] = [
            t for t in edit(data, "org-roles-Developer")["targets"] if t["ou_path"] != "Root/Sandbox"
        ]
        edit(data, "org-roles-Developer")["description"] = "changed"
        data["org"]["deletion"].update(
            delete_orphaned_stacksets=True, max_instance_deletions=100, max_instance_deletion_percentage=100
        )

    changed = artifact(write_variant(tmp_path / "v2", change))
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=changed)
    with cp_stub:
        cp_stub.add_response("put_job_success_result", {}, {"jobId": "job-2", "executionDetails": ANY})
        recorder(True)
        # No Plan walk given and the event made the stored walk stale: this job walks itself, and ends.
        assert handle(job(approve=changed, job_id="job-2"), Ctx(), deps)["ok"]
        recorder(False)

    # 3. A CodePipeline job whose update meets a failing account: the job fails with the reasons.
    def again(data: dict[str, Any]) -> None:
        change(data)
        edit(data, "org-roles-Developer")["description"] = "changed again"

    third = artifact(write_variant(tmp_path / "v3", again))
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=third)
    failing = sorted(world.accounts_in("Root/Workloads/Dev"))[0]
    world.service.fail_accounts[failing] = "a service control policy denies iam:CreateRole"
    # Someone else's operation holds Developer: the job finds it (ListStackSetOperations) and waits it out.
    ticks, world.service.running_ticks = world.service.running_ticks, 12
    world.client("cloudformation").detect_stack_set_drift(
        StackSetName="org-roles-Developer", OperationId="someone-else"
    )
    world.service.running_ticks = ticks
    failed_job = job(approve=third, job_id="job-3")
    with cp_stub:
        cp_stub.add_response("put_job_failure_result", {}, {"jobId": "job-3", "failureDetails": ANY})
        recorder(True)
        assert not handle(failed_job, Ctx(), deps)["ok"]
        recorder(False)

    # 4. A self-managed organization (administration role passed to CloudFormation).
    def self_managed(data: dict[str, Any]) -> None:
        data["org"].update(
            permission_model="SELF_MANAGED",
            administration_role_arn=f"arn:aws:iam::{MGMT}:role/AWSCloudFormationStackSetAdministrationRole",
            execution_role_name="AWSCloudFormationStackSetExecutionRole",
        )

    world2 = make_world(write_variant(tmp_path / "self", self_managed))
    recorder(True)
    assert world2.sync("self-1").outcome == "success"
    recorder(False)

    # 5. A delegated administrator: the StackSets live in the management account.
    admin = "100000000002"

    def delegated(data: dict[str, Any]) -> None:
        data["org"]["call_as"] = "DELEGATED_ADMIN"
        data["management_account_stack"] = None

    world3 = make_world(
        write_variant(tmp_path / "delegated", delegated),
        layout=lambda layout: layout.delegated_admins.append(admin),
    )
    session = world3.session("delegated-1")
    session.clients.cloudformation.meta.events.register(
        "before-sign.cloudformation.*",
        lambda request, **_: request.headers.add_header("x-moto-account-id", admin),
    )
    recorder(True)
    assert apply_plan(session, plan_sync(session)).outcome == "success"
    recorder(False)

    # 6. The scheduled drift check: the approved artifact from the pipeline's history, a role drifted.
    _drift_check(make_world, recorder)
    called = recorder(False)

    grants = granted()
    assert sorted(called - grants) == [], (
        f"the sync calls APIs its role does not grant ({sorted(grants - called)} unused)"
    )
    assert sorted(grants - called) == [], "the role grants actions the sync never uses"


def _drift_check(make_world: Any, recorder: Callable[[bool], set[str]]) -> None:
    from moto.iam.models import iam_backends

    from tests.e2e.sync.test_drift_schedule import PIPELINE, PROD_ACCT, _history

    world, topic = _world(lambda _dir: make_world(materialize=True), None)
    body = artifact(world.manifest_dir)
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=body)
    assert world.sync().outcome == "success"
    iam_backends[PROD_ACCT]["global"].get_role("Developer").max_session_duration = 43200
    deps, cp_stub = _deps(world, topic)
    deps.env["PIPELINE_NAME"] = PIPELINE
    with cp_stub:
        cp_stub.add_response("list_action_executions", _history(body), {"pipelineName": PIPELINE})
        recorder(True)
        assert handle({"action": "drift"}, Ctx(), deps)["notified"]
        recorder(False)


def test_the_build_role_grants_no_plan_reads() -> None:
    """The plan is the Plan action's (the sync role, recorded above), never the build's: the build runs the
    commit's own code, so it may not read the organization or the StackSets."""
    template = yaml.safe_load((ROOT / "templates" / "org" / "pipeline.yaml").read_text())
    [policy] = template["Resources"]["BuildRole"]["Properties"]["Policies"]
    granted_to_build = {
        a for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow" for a in _actions(s)
    }
    assert sorted(a for a in granted_to_build if a.startswith(("organizations:", "cloudformation:"))) == []


def test_management_deployer_grants_exactly_what_the_role_handlers_call() -> None:
    """The CloudFormation service role of the management-account stack (templates/org/management-deployer.yaml):
    exactly the AWS::IAM::Role handler permissions the resource type schema declares, on exactly the
    management template's roles (the sample's roles have no managed policy or boundary to attach)."""
    from tests.test_generator.blueprints.test_management_deployer import role_handler_permissions

    template = yaml.safe_load((ROOT / "templates" / "org" / "management-deployer.yaml").read_text())
    role = template["Resources"]["DeployerRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert all(s["Effect"] == "Allow" for s in statements)
    granted = {a for s in statements for a in _actions(s)}
    assert granted == role_handler_permissions() - {"iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"}
    management = yaml.safe_load((ROOT / "templates" / "org" / "management-account.yaml").read_text())
    roles = sorted(
        f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{r['Properties']['Path']}{r['Properties']['RoleName']}"
        for r in management["Resources"].values()
        if r["Type"] == "AWS::IAM::Role"
    )
    for s in statements:
        assert sorted(r["Fn::Sub"] for r in s["Resource"]) == roles
