"""The scheduled drift check end to end (issue 17): the schedule's {"action": "drift"} reaches the sync
Lambda, which finds the approved artifact (CodePipeline's history: botocore Stubber, moto has no
ListActionExecutions), runs StackSet drift detection through the fidelity layer against the roles moto's IAM
holds, and publishes to the notification topic (moto SNS) only when a role drifted or detection did not
finish."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from pipeline.aws.approved import SYNC_ACTION, SYNC_STAGE
from pipeline.job import handle
from tests.support.lambda_job import BUCKET, KEY, Ctx, artifact, sha256, world_deps
from tests.support.sync import CREDS, MGMT

PIPELINE = "org-roles-pipeline"
PROD_ACCT = "100000000008"  # Root/Workloads/Prod


def _history(body: bytes) -> dict[str, Any]:
    """ListActionExecutions after one approved run: its Sync action succeeded on `body`."""
    return {
        "actionExecutionDetails": [
            {
                "pipelineExecutionId": "exec-1",
                "stageName": SYNC_STAGE,
                "actionName": SYNC_ACTION,
                "status": "Succeeded",
                "startTime": datetime(2026, 12, 1, tzinfo=UTC),
                "input": {
                    "resolvedConfiguration": {
                        "UserParameters": json.dumps({"approved_sha256": sha256(body)})
                    },
                    "inputArtifacts": [{"name": "Build", "s3location": {"bucket": BUCKET, "key": KEY}}],
                },
            }
        ]
    }


def _sent(topic: str) -> list[tuple[str | None, str]]:
    from moto.sns.models import sns_backends

    return [(s, m) for _id, m, s, _a, _g in sns_backends[MGMT]["us-east-1"].topics[topic].sent_notifications]


class _Late(Ctx):
    """A Lambda invocation whose time runs out (under the drift check's margin) once the history is read."""

    def __init__(self) -> None:
        self.asked = 0

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return 300_000 if self.asked == 1 else 10_000


def _check(world: Any, body: bytes, topic: str, ctx: Ctx) -> dict[str, Any]:
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    deps = world_deps(
        world, env={"NOTIFICATION_TOPIC_ARN": topic, "PIPELINE_NAME": PIPELINE}, codepipeline=cp
    )
    with Stubber(cp) as stub:
        stub.add_response("list_action_executions", _history(body), {"pipelineName": PIPELINE})
        return handle({"action": "drift"}, ctx, deps)


def test_schedule_checks_the_approved_artifact_and_notifies_only_on_drift(make_world: Any) -> None:
    world = make_world(materialize=True)
    assert world.sync().outcome == "success"
    body = artifact(world.manifest_dir)
    world.client("s3").create_bucket(Bucket=BUCKET)
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=body)
    topic = world.client("sns").create_topic(Name="org-roles-notify")["TopicArn"]

    # Nothing drifted: no message.
    assert _check(world, body, topic, Ctx()) == {"ok": True, "drifted": False, "notified": False}
    assert _sent(topic) == []

    # Someone edits the Developer role by hand in Prod: one message naming OU, account, role and change.
    from moto.iam.models import iam_backends

    iam_backends[PROD_ACCT]["global"].get_role("Developer").max_session_duration = 43200
    assert _check(world, body, topic, type("Ctx2", (Ctx,), {"aws_request_id": "req-2"})()) == {
        "ok": True,
        "drifted": True,
        "notified": True,
    }
    [(subject, message)] = _sent(topic)
    assert subject == "org-stacksets drift: 1 role instance(s) drifted in 1 account(s)"
    assert message.splitlines() == [
        f"Drift check of the approved artifact (sha256 {sha256(body)}, synced by pipeline execution exec-1) "
        "against the live roles: per OU, account and role, what differs from the deployed template.",
        "2 StackSet(s) and 1 stack(s), 21 instance(s) checked: 1 drifted in 1 account(s)",
        "  Root/Workloads/Prod 100000000008 Developer: MODIFIED /MaxSessionDuration expected 1800, actual 43200",
    ]
    # Drift detection writes nothing: every instance is still CURRENT.
    assert {s for _ou, s, _o in world.instances("org-roles-Developer").values()} == {"CURRENT"}


def test_a_detection_that_does_not_finish_in_time_is_reported(make_world: Any) -> None:
    world = make_world(materialize=True, running_ticks=50)
    assert world.sync().outcome == "success"
    body = artifact(world.manifest_dir)
    world.client("s3").create_bucket(Bucket=BUCKET)
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=body)
    topic = world.client("sns").create_topic(Name="org-roles-notify")["TopicArn"]
    assert _check(world, body, topic, _Late()) == {"ok": False, "drifted": False, "notified": True}
    [(subject, message)] = _sent(topic)
    assert subject == "org-stacksets drift check did not finish (3 detection(s))"
    assert "ended RUNNING: the check's time ran out before drift detection finished" in message


ORG_READS = ("DescribeOrganization", "ListRoots", "ListOrganizationalUnitsForParent", "ListAccountsForParent")


def _org_reads(world: Any, body: bytes, topic: str, request: str) -> tuple[dict[str, Any], int, str]:
    """One drift check: its result, the Organizations reads it made, and the message's first line."""
    from pipeline.aws.clients import make_clients

    made: list[Any] = []

    def sync_clients(region: str) -> Any:
        made.append(make_clients(region, endpoint_url=world.server.url, credentials=CREDS, max_attempts=1))
        return made[-1]

    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    deps = world_deps(
        world,
        env={"NOTIFICATION_TOPIC_ARN": topic, "PIPELINE_NAME": PIPELINE},
        codepipeline=cp,
        sync_clients=sync_clients,
    )
    with Stubber(cp) as stub:
        stub.add_response("list_action_executions", _history(body), {"pipelineName": PIPELINE})
        result = handle({"action": "drift"}, type("Ctx3", (Ctx,), {"aws_request_id": request})(), deps)
    reads = sum(c.counter.calls[op] for c in made for op in ORG_READS)
    return result, reads, _sent(topic)[-1][1].splitlines()[0]


def test_the_check_places_accounts_with_the_pipelines_stored_walk_without_walking(make_world: Any) -> None:
    from moto.iam.models import iam_backends

    from pipeline.aws.organizations import OrgApiReader, step_walk
    from pipeline.aws.retry import Backoff
    from pipeline.aws.syncstate import StateStore
    from pipeline.core.orgwalk import OrgWalk

    world = make_world(materialize=True)
    assert world.sync().outcome == "success"
    body = artifact(world.manifest_dir)
    s3 = world.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    topic = world.client("sns").create_topic(Name="org-roles-notify")["TopicArn"]
    iam_backends[PROD_ACCT]["global"].get_role("Developer").max_session_duration = 43200

    # No walk stored yet (no pipeline run): the check walks the organization itself.
    result, reads, first = _org_reads(world, body, topic, "req-a")
    assert result["drifted"] and reads > 0 and "walk of" not in first

    # The pipeline stored its walk (2026-12-01 00:00 UTC): the check reads the organization no more.
    walk = OrgWalk()
    assert step_walk(
        walk, OrgApiReader(world.client("organizations"), Backoff(sleep=lambda _s: None)), lambda: False
    )
    store = StateStore(s3, BUCKET)
    store.set_latest_walk(store.put_walk("exec-1", walk, 1_796_083_200.0))
    result, reads, first = _org_reads(world, body, topic, "req-b")
    assert result == {"ok": True, "drifted": True, "notified": True} and reads == 0
    assert first.endswith(
        "Accounts are shown under the OUs the pipeline's organization walk of 2026-12-01 00:00 UTC found."
    )
    assert _sent(topic)[-1][1].splitlines()[2] == (
        "  Root/Workloads/Prod 100000000008 Developer: MODIFIED /MaxSessionDuration expected 1800, actual 43200"
    )
