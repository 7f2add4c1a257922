"""Organizations events do not queue a pipeline run each: a run that is in progress and has not yet entered
the Plan stage will read the new organization anyway, so the event is debounced; in every other case (no
run, a run in Plan or beyond, a pipeline without a Plan stage) the event starts a run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipeline.job import PLAN_STAGE, Deps, handle
from tests.support.lambda_job import Ctx
from tests.support.sync import CREDS

PIPELINE = "org-roles-pipeline"
RUNNING, OLDER = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
EVENT = {
    "source": "aws.organizations",
    "detail-type": "AWS API Call via CloudTrail",
    "detail": {"eventName": "MoveAccount"},
}


@pytest.fixture
def cp() -> Iterator[tuple[Deps, Stubber]]:
    client = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    deps = Deps(
        env={"PIPELINE_NAME": PIPELINE},
        codepipeline=client,
        sns=None,
        sync_clients=lambda _region: pytest.fail("an Organizations event builds no sync client"),
        s3=lambda _creds: pytest.fail("an Organizations event reads no artifact"),
    )
    with Stubber(client) as stub:
        yield deps, stub
        stub.assert_no_pending_responses()


def _executions(stub: Stubber, *summaries: tuple[str, str]) -> None:
    stub.add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": [{"pipelineExecutionId": i, "status": s} for i, s in summaries]},
        {"pipelineName": PIPELINE, "maxResults": 20},
    )


def _stage(name: str, execution: str = "", status: str = "", **more: Any) -> dict[str, Any]:
    stage: dict[str, Any] = {"stageName": name, **more}
    if execution:
        stage["latestExecution"] = {"pipelineExecutionId": execution, "status": status}
    return stage


def _state(stub: Stubber, *stages: dict[str, Any]) -> None:
    stub.add_response("get_pipeline_state", {"stageStates": list(stages)}, {"name": PIPELINE})


def _starts(stub: Stubber) -> dict[str, Any]:
    stub.add_response("start_pipeline_execution", {"pipelineExecutionId": "new-run"}, {"name": PIPELINE})
    return {"ok": True, "pipeline_execution": "new-run", "event": "MoveAccount"}


def test_a_run_still_building_absorbs_the_event(cp: tuple[Deps, Stubber]) -> None:
    deps, stub = cp
    _executions(stub, (RUNNING, "InProgress"), (OLDER, "Succeeded"))
    _state(
        stub,
        _stage("Source", RUNNING, "Succeeded"),
        _stage("Build", RUNNING, "InProgress"),
        _stage(PLAN_STAGE, OLDER, "Succeeded"),
        _stage("Approval", OLDER, "Succeeded"),
        _stage("Sync", OLDER, "Succeeded"),
    )
    assert handle(EVENT, Ctx(), deps) == {"ok": True, "debounced": RUNNING, "event": "MoveAccount"}


def test_a_run_waiting_to_enter_plan_absorbs_the_event(cp: tuple[Deps, Stubber]) -> None:
    """QUEUED mode: a run that finished Build waits as Plan's inbound execution while another plans."""
    deps, stub = cp
    _executions(stub, (RUNNING, "InProgress"), (OLDER, "InProgress"))
    _state(
        stub,
        _stage("Build", RUNNING, "Succeeded"),
        _stage(
            PLAN_STAGE,
            OLDER,
            "InProgress",
            inboundExecutions=[{"pipelineExecutionId": RUNNING, "status": "InProgress"}],
        ),
    )
    assert handle(EVENT, Ctx(), deps)["debounced"] == RUNNING


@pytest.mark.parametrize(
    "stages",
    [
        # Planning now: its walk may already have passed the account that moved.
        [_stage("Build", RUNNING, "Succeeded"), _stage(PLAN_STAGE, RUNNING, "InProgress")],
        # Past Plan (at the approval): Build still names it as its latest execution, finished.
        [
            _stage("Build", RUNNING, "Succeeded"),
            _stage(PLAN_STAGE, RUNNING, "Succeeded"),
            _stage("Approval", RUNNING, "InProgress"),
        ],
        # No stage called Plan: nothing proves the run will read the change.
        [_stage("Build", RUNNING, "InProgress"), _stage("Deploy")],
    ],
    ids=["planning", "awaiting-approval", "no-plan-stage"],
)
def test_a_run_that_has_planned_or_may_have_does_not_absorb_the_event(
    cp: tuple[Deps, Stubber], stages: list[dict[str, Any]]
) -> None:
    deps, stub = cp
    _executions(stub, (RUNNING, "InProgress"))
    _state(stub, *stages)
    expected = _starts(stub)
    assert handle(EVENT, Ctx(), deps) == expected


def test_without_a_running_execution_the_event_starts_one_without_reading_the_state(
    cp: tuple[Deps, Stubber],
) -> None:
    deps, stub = cp
    _executions(stub, (OLDER, "Succeeded"), (RUNNING, "Failed"))
    expected = _starts(stub)
    assert handle(EVENT, Ctx(), deps) == expected


def test_a_burst_of_events_starts_one_run(cp: tuple[Deps, Stubber]) -> None:
    """Three accounts moved at once: the first event starts a run, the next two find it building."""
    deps, stub = cp
    _executions(stub, (OLDER, "Succeeded"))
    expected = _starts(stub)
    for _ in range(2):
        _executions(stub, ("new-run", "InProgress"), (OLDER, "Succeeded"))
        _state(stub, _stage("Source", "new-run", "InProgress"), _stage(PLAN_STAGE, OLDER, "Succeeded"))
    results = [handle(EVENT, Ctx(), deps) for _ in range(3)]
    assert results == [expected, *[{"ok": True, "debounced": "new-run", "event": "MoveAccount"}] * 2]
