"""The Lambda with canary waves: the continuation token carries the wave the rollout is at (absent: 0), the
next invocation resumes there, and a failure in a wave's operation, seen by a later invocation, fails the job
at that wave without starting the next."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.stub import ANY, Stubber

from pipeline.core import tokens
from pipeline.job import handle
from tests.support.lambda_job import BINDING, BUCKET, KEY, Ctx, artifact, job, world_deps
from tests.support.sync import CREDS, World, write_variant

WAVES = [["Root/Workloads/Dev"], ["Root/Sandbox"]]


def _lambda(make_world: Any, tmp_path: Path) -> tuple[World, Any, Stubber, bytes]:
    def with_waves(data: dict[str, Any]) -> None:
        data["org"]["rollout_waves"] = WAVES

    world = make_world(write_variant(tmp_path / "waves", with_waves))
    data = artifact(world.manifest_dir)
    s3 = world.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=data)
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    deps = world_deps(world, codepipeline=cp, sns=world.client("sns"))
    return world, deps, Stubber(cp), data


def _wave(token: str, deps: Any) -> int:
    return tokens.unseal(token, BINDING, deps.signer).wave


def test_the_token_carries_the_wave_and_the_next_invocation_resumes_there(
    make_world: Any, tmp_path: Path
) -> None:
    world, deps, stub, data = _lambda(make_world, tmp_path)
    deps.step_seconds = 0  # every invocation starts what it can and hands over at once
    waves_seen = []
    with stub:
        token = None
        for _ in range(40):
            stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "continuationToken": ANY})
            got = handle(job(token, approve=data), Ctx(), deps)
            token = got["continuation"]
            waves_seen.append(_wave(token, deps))
            world.service.drain()  # the wave's operations end while no invocation runs
            if waves_seen[-1] == 2:
                break
        deps.step_seconds = 600
        stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "executionDetails": ANY})
        last = handle(job(token, approve=data), Ctx(), deps)
    assert waves_seen[0] == 0 and waves_seen[-1] == 2
    assert waves_seen == sorted(waves_seen)  # never back to an earlier wave
    assert last["ok"] and last["report"]["outcome"] == "success"
    assert [w["status"] for w in last["report"]["rollout"]["waves"]][-1] == "succeeded"


def test_a_wave_that_failed_between_invocations_fails_the_job_there(make_world: Any, tmp_path: Path) -> None:
    world, deps, stub, data = _lambda(make_world, tmp_path)
    world.service.fail_accounts["100000000006"] = "a service control policy denies iam:CreateRole"  # Dev
    deps.step_seconds = 0
    with stub:
        stub.add_response("put_job_success_result", {}, {"jobId": "job-1", "continuationToken": ANY})
        first = handle(job(approve=data), Ctx(), deps)
        assert _wave(first["continuation"], deps) == 0
        world.service.drain()
        deps.step_seconds = 600
        stub.add_response("put_job_failure_result", {}, {"jobId": "job-1", "failureDetails": ANY})
        second = handle(job(first["continuation"], approve=data), Ctx(), deps)
    assert not second["ok"]
    rollout = second["report"]["rollout"]
    assert rollout["stopped_at"] == 1
    assert [w["status"] for w in rollout["waves"]][1:] == ["not started", "not started"]
    # Nothing reached Sandbox or the rest: wave 2 never started.
    assert {
        a for r in world.service.stacksets.values() for i in r.instances.values() for a in [i.account]
    } <= {
        "100000000006",
        "100000000007",
    }
