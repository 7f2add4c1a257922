"""Every event shape the sync Lambda can receive gets a classified outcome in one line: unknown or malformed
events are refused untouched; a CodePipeline job with a bad artifact, parameter or continuation token fails
with a line naming it, before any StackSet write."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipeline import handler as entry
from pipeline.core import tokens
from pipeline.core.runstate import ORG_EVENTS
from pipeline.job import Deps, handle
from tests.support.lambda_job import BINDING, BUCKET, KEY, Ctx, artifact, job, world_deps
from tests.support.sync import CREDS, World

REFUSED: dict[str, tuple[Any, str]] = {
    "empty object": (
        {},
        'unknown event: expected a CodePipeline job, an Organizations event, {"action": "plan"} or '
        '{"action": "drift"}',
    ),
    "list": ([], "unknown event: expected a JSON object, got a list"),
    "string": ("sync", "unknown event: expected a JSON object, got a string"),
    "null": (None, "unknown event: expected a JSON object, got null"),
    "number": (7, "unknown event: expected a JSON object, got a number"),
    "other source": (
        {"source": "aws.ec2", "detail": {}},
        "unknown event: source 'aws.ec2' is not aws.organizations",
    ),
    "long source cut to an excerpt": (
        {"source": "s" * 5000},
        f"unknown event: source '{'s' * 40}'... is not aws.organizations",
    ),
    "Organizations detail a string": (
        {"source": "aws.organizations", "detail": "MoveAccount"},
        "Organizations event: 'detail' must be an object, got a string",
    ),
    "job a string": (
        {"CodePipeline.job": "job-1"},
        "CodePipeline event: 'CodePipeline.job' must be an object with a job 'id'",
    ),
    "job without id": (
        {"CodePipeline.job": {"data": {}}},
        "CodePipeline event: 'CodePipeline.job' must be an object with a job 'id'",
    ),
    "unknown action": (
        {"action": "destroy"},
        "direct invocation: 'action' must be plan or drift, not 'destroy'",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unknown_or_malformed_events_are_refused_in_one_line(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    event, error = REFUSED[case]
    # No client at all: a refused event must not call anything.
    deps = Deps(env={}, codepipeline=None, sns=None, sync_clients=None, s3=None)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        assert handle(event, Ctx(), deps) == {"ok": False, "error": error}
    assert [r.getMessage() for r in caplog.records] == [f"refused: {error}"]
    assert [r.exc_info for r in caplog.records] == [None]


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_lambda_refuses_before_building_any_client(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real entry point, with no region and no credentials: refusing needs no AWS client."""
    from pipeline import handler

    def no_clients() -> Deps:
        raise AssertionError("a refused event built the Lambda's clients")

    monkeypatch.setattr(Deps, "from_environment", staticmethod(no_clients))
    event, error = REFUSED[case]
    assert handler.handler(event, Ctx()) == {"ok": False, "error": error}


def test_an_ignored_organizations_event_is_named_as_an_excerpt() -> None:
    deps = Deps(env={}, codepipeline=None, sns=None, sync_clients=None, s3=None)  # type: ignore[arg-type]
    event = {"source": "aws.organizations", "detail": {"eventName": "T" * 500}}
    assert handle(event, Ctx(), deps) == {"ok": True, "ignored": "T" * 40 + "..."}


@pytest.fixture
def jobs(make_world: Any) -> Iterator[tuple[World, Deps, Stubber]]:
    world = make_world()
    s3 = world.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=artifact(world.manifest_dir))
    s3.put_object(Bucket=BUCKET, Key="not-a-zip", Body=b"plain text")
    s3.put_object(
        Bucket=BUCKET,
        Key="no-manifest",
        Body=artifact(world.manifest_dir, without="templates/org/manifest.json"),
    )
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    deps = world_deps(world, codepipeline=cp)
    with Stubber(cp) as stub:
        yield world, deps, stub
        stub.assert_no_pending_responses()


def _data(**changes: Any) -> Callable[[dict[str, Any], Deps], None]:
    def change(data: dict[str, Any], _deps: Deps) -> None:
        data.update(changes)

    return change


def _location(key: str) -> Callable[[dict[str, Any], Deps], None]:
    """Another input artifact, approved as it is (so the job gets as far as reading it)."""

    def change(data: dict[str, Any], deps: Deps) -> None:
        data["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] = key
        try:
            body = deps.s3(None).get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except Exception:
            return
        approved = json.dumps({"approved_sha256": hashlib.sha256(body).hexdigest()})
        data["actionConfiguration"]["configuration"]["UserParameters"] = approved

    return change


def _parameters(text: str) -> Callable[[dict[str, Any], Deps], None]:
    def change(data: dict[str, Any], _deps: Deps) -> None:
        data["actionConfiguration"]["configuration"]["UserParameters"] = text

    return change


def _token(make: Callable[[Deps], str]) -> Callable[[dict[str, Any], Deps], None]:
    def change(data: dict[str, Any], deps: Deps) -> None:
        data["continuationToken"] = make(deps)

    return change


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _altered(deps: Deps) -> str:
    sealed = tokens.seal(tokens.Token("job-1", "1" * 64), BINDING, deps.signer)  # type: ignore[arg-type]
    return sealed.replace("1" * 64, "2" * 64)


BODY = json.dumps({"run": "job-1", "state": "", "v": 3}, separators=(",", ":"), sort_keys=True)
MALFORMED = "the continuation token is malformed: it is not one this sync issued"
FORGED = "the continuation token failed its integrity check: it was altered, forged or issued for another job"

FAILED_JOBS: dict[str, tuple[Callable[[dict[str, Any], Deps], None], str]] = {
    "no data": (
        lambda data, _d: data.clear(),
        "the job has no input artifact (data.inputArtifacts is empty)",
    ),
    "no input artifact": (
        _data(inputArtifacts=[]),
        "the job has no input artifact (data.inputArtifacts is empty)",
    ),
    "artifact without S3 location": (
        _data(inputArtifacts=[{"name": "Build", "location": {"type": "S3"}}]),
        "the input artifact 'Build' has no S3 location (location.s3Location)",
    ),
    "artifact not in S3": (
        _location("gone"),
        "the input artifact Build (s3://artifacts/gone) cannot be read: NoSuchKey: The specified key does not exist.",
    ),
    "artifact not a zip": (
        _location("not-a-zip"),
        "the input artifact is not a zip file: File is not a zip file",
    ),
    "manifest missing in the artifact": (
        _location("no-manifest"),
        "the input artifact has no templates/org/manifest.json",
    ),
    "UserParameters not JSON": (
        _parameters("{manifest"),
        "UserParameters is not JSON: Expecting property name enclosed in double quotes",
    ),
    "UserParameters a list": (_parameters("[1]"), "UserParameters must be a JSON object, got a list"),
    "unknown parameter": (
        _parameters('{"manifets": "m.json"}'),
        "UserParameters: unknown parameter 'manifets' (expected one of: approved_sha256, execution, manifest, "
        "mode, org_walk, templates)",
    ),
    "parameter not a string": (
        _parameters('{"manifest": ["m.json"]}'),
        "UserParameters: manifest must be a non-empty string, got ['m.json']",
    ),
    "garbage token": (_token(lambda _d: "garbage"), MALFORMED),
    "token over 2,048 characters": (_token(lambda _d: "x" * 3000), MALFORMED),
    "token without a MAC": (_token(lambda _d: BODY), MALFORMED),
    "forged token": (_token(lambda _d: _b64(b"\0" * 32) + "." + BODY), FORGED),
    "altered token": (_token(_altered), FORGED),
    "token naming state that is not there": (
        _token(lambda d: tokens.seal(tokens.Token("job-1", "3" * 64), BINDING, d.signer)),  # type: ignore[arg-type]
        f"the run's state s3://artifacts/sync-state/job-1/{'3' * 64}.json.gz is missing",
    ),
    "org_walk not a walk reference": (
        _parameters('{"org_walk": "../plans/x"}'),
        "UserParameters: org_walk must be the Plan action's ORG_WALK, not '../plans/x'",
    ),
    "token from another job": (
        _token(
            lambda d: tokens.seal(tokens.Token("job-9"), "codepipeline:artifacts/other-run.zip", d.signer)
        ),  # type: ignore[arg-type]
        FORGED,
    ),
}


@pytest.mark.parametrize("case", sorted(FAILED_JOBS))
def test_a_bad_job_fails_in_one_line_before_any_write(case: str, jobs: Any) -> None:
    world, deps, stub = jobs
    change, error = FAILED_JOBS[case]
    event = job(approve=artifact(world.manifest_dir))
    change(event["CodePipeline.job"]["data"], deps)
    stub.add_response(
        "put_job_failure_result",
        {},
        {"jobId": "job-1", "failureDetails": {"type": "JobFailed", "message": error}},
    )
    assert handle(event, Ctx(), deps) == {"ok": False, "error": error}
    assert world.writes() == []
    assert world.service.calls == []


@pytest.mark.parametrize("with_token", [True, False])
def test_without_the_token_key_a_job_fails_before_any_call(jobs: Any, with_token: bool) -> None:
    world, deps, stub = jobs
    token = tokens.seal(tokens.Token("job-1"), BINDING, deps.signer) if with_token else None
    deps.signer = None
    error = (
        "TOKEN_KEY_ID is not set: the sync cannot seal or check continuation tokens "
        "(redeploy templates/org/pipeline.yaml, which sets it)"
    )
    stub.add_response(
        "put_job_failure_result",
        {},
        {"jobId": "job-1", "failureDetails": {"type": "JobFailed", "message": error}},
    )
    assert handle(job(token), Ctx(), deps) == {"ok": False, "error": error}
    assert world.service.calls == []


def test_a_direct_sync_is_refused_before_any_call(jobs: Any) -> None:
    """No side door: a direct invocation cannot sync an artifact, approved or not, with or without a token."""
    world, deps, _stub = jobs
    uri = f"s3://{BUCKET}/{KEY}"
    error = (
        "direct invocation: sync is refused; only the pipeline's Sync action syncs, and only the artifact "
        "whose sha256 its approval carried (a direct plan changes nothing)"
    )
    for event in (
        {"action": "sync", "artifact_uri": uri},
        {"action": "sync", "artifact_uri": uri, "run_id": "direct-1", "continuation": "x"},
    ):
        assert handle(event, Ctx(), deps) == {"ok": False, "error": error}
    assert world.service.calls == []


def test_an_organizations_event_never_syncs_an_artifact_directly(jobs: Any) -> None:
    """ARTIFACT_URI is no longer a way to sync: without PIPELINE_NAME the event is only recorded (the
    stored walks are stale from then on)."""
    world, deps, _stub = jobs
    deps.env = {**deps.env, "ARTIFACT_URI": f"s3://{BUCKET}/{KEY}"}
    event = {"source": "aws.organizations", "detail": {"eventName": "MoveAccount"}}
    assert handle(event, Ctx(), deps) == {"ok": True, "recorded": "MoveAccount"}
    assert world.service.calls == []


@pytest.mark.parametrize("name", ORG_EVENTS)
def test_every_watched_organizations_event_makes_the_stored_walks_stale(jobs: Any, name: str) -> None:
    _world, deps, _stub = jobs
    deps.now = lambda: 1234.0
    event = {"source": "aws.organizations", "detail": {"eventName": name}}
    assert handle(event, Ctx(), deps) == {"ok": True, "recorded": name}
    assert deps.state_store().org_changed_at() == 1234.0


def test_the_handler_turns_an_unexpected_error_into_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Any, context: Any) -> dict[str, Any]:
        raise KeyError("surprise\nsecond line")

    monkeypatch.setattr(entry.lambda_core, "handle", broken)
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    error = "the sync failed unexpectedly: KeyError: 'surprise\\nsecond line'"
    with Stubber(cp) as stub, caplog.at_level(logging.ERROR):
        stub.add_response(
            "put_job_failure_result",
            {},
            {"jobId": "job-1", "failureDetails": {"type": "JobFailed", "message": error}},
        )
        assert entry.handler(job(), None, codepipeline=cp) == {"ok": False, "error": error}
    assert [r.getMessage() for r in caplog.records] == [error]
