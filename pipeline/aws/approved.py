"""The artifact the pipeline last synced (thin adapter): the newest succeeded execution of the Sync action,
read from CodePipeline's action execution history, with the input artifact and the approved sha256 it ran.

ListActionExecutions returns ActionExecutionDetail rows with stageName, actionName, status (InProgress |
Abandoned | Succeeded | Failed), startTime, and input.resolvedConfiguration (the action's configuration with
variables resolved) and input.inputArtifacts[].s3location (bucket, key); history is kept for 12 months
(https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListActionExecutions.html,
API_ActionExecutionDetail, API_ActionExecutionInput). The order of the rows is not documented, so every page
is read and the newest is chosen by startTime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.aws.retry import Backoff, paginate
from pipeline.core.errors import SyncError

# The stage and action of templates/org/pipeline.yaml that syncs (generator/blueprints/org_pipeline.py).
SYNC_STAGE, SYNC_ACTION = "Sync", "SyncStackSets"


@dataclass(frozen=True)
class SyncedArtifact:
    """Where the last synced artifact is, and what its action's configuration said."""

    pipeline_execution: str
    bucket: str
    key: str
    user_parameters: str


def last_synced(
    codepipeline: Any, pipeline: str, backoff: Backoff, out_of_time: Callable[[], bool] = lambda: False
) -> SyncedArtifact:
    """The newest Succeeded execution of the Sync action, or SyncError when there is none (nothing was ever
    approved and synced, so there is nothing to check drift against)."""
    newest: dict[str, Any] | None = None
    rows = paginate(
        codepipeline, "list_action_executions", "actionExecutionDetails", backoff, {"pipelineName": pipeline}
    )
    for row in rows:
        if out_of_time():
            raise SyncError(f"the action history of {pipeline} took longer to read than the Lambda has left")
        if (row.get("stageName"), row.get("actionName"), row.get("status")) != (
            SYNC_STAGE,
            SYNC_ACTION,
            "Succeeded",
        ):
            continue
        if newest is None or row["startTime"] > newest["startTime"]:
            newest = row
    if newest is None:
        raise SyncError(
            f"pipeline {pipeline} has no succeeded {SYNC_STAGE} action yet: there is no approved artifact to "
            "check drift against"
        )
    inputs = newest.get("input") or {}
    artifacts = inputs.get("inputArtifacts") or []
    location = (artifacts[0].get("s3location") or {}) if artifacts else {}
    if not location.get("bucket") or not location.get("key"):
        raise SyncError(
            f"the {SYNC_STAGE} action of execution {newest.get('pipelineExecutionId')} has no input artifact "
            "location in its history"
        )
    return SyncedArtifact(
        pipeline_execution=str(newest.get("pipelineExecutionId", "")),
        bucket=location["bucket"],
        key=location["key"],
        user_parameters=str((inputs.get("resolvedConfiguration") or {}).get("UserParameters", "")),
    )
