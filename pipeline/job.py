"""The sync Lambda: CodePipeline jobs (the Plan and the Sync actions), EventBridge Organizations events and
direct plans, each translated into one sync step (plan, guard, start or poll operations) and a result.

It is the pipeline's trust boundary (trusted_artifact): the Plan action hashes the artifact, checks the org
guardrails and plans; the Sync action runs only the artifact whose hash the approval carried, after the same
guardrails. Nothing else syncs: a direct sync is refused.

Inside CodePipeline a step returns a continuation token while operations run and polls them on the next
invocation, so no invocation waits long; a crash is recovered by the next invocation from the live state
(operation ids derive from the job id, so nothing starts twice).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.aws import notify
from pipeline.aws.approved import last_synced
from pipeline.aws.clients import Clients, make_clients
from pipeline.aws.drift import detect_all
from pipeline.aws.organizations import OrgApiReader, read_org, step_walk
from pipeline.aws.retry import Backoff, PollPolicy, describe_error
from pipeline.aws.syncstate import StateStore
from pipeline.aws.tokens import KmsSigner
from pipeline.common.errors import EXCERPT_CHARS, excerpt
from pipeline.core import drift, guardrails, limits, tokens
from pipeline.core.errors import SyncError
from pipeline.core.guard import check as deletion_guard
from pipeline.core.manifest import MANIFEST_BYTES, Manifest, check_templates, loads_manifest
from pipeline.core.org import OrgTree
from pipeline.core.orgwalk import OrgWalk
from pipeline.core.outcomes import LaneResult
from pipeline.core.planner import SyncPlan
from pipeline.core.report import Outcome, SyncReport, render_markdown
from pipeline.core.runstate import ORG_EVENTS, RunState, walk_is_fresh
from pipeline.sync import (
    SyncSession,
    apply_plan,
    carry_failures,
    plan_report,
    plan_sync,
    poll_pending,
)

LOG = logging.getLogger(__name__)

DEFAULT_MANIFEST = "templates/org/manifest.json"
DEFAULT_TEMPLATES = "templates"


@dataclass
class Deps:
    """What the Lambda talks to; built from the environment in AWS, injected in tests."""

    env: Mapping[str, str]
    codepipeline: Any
    sns: Any
    sync_clients: Callable[[str], Clients]  # home region -> the sync's clients
    s3: Callable[[Mapping[str, str] | None], Any]  # artifact credentials (or None) -> S3 client
    # At most this long per invocation, and never more than limits.INVOCATION_BUDGET of the time left.
    step_seconds: float = limits.INVOCATION_BUDGET * limits.SYNC_LAMBDA_TIMEOUT_SECONDS
    poll_seconds: float = 5.0
    poll: PollPolicy = field(default_factory=PollPolicy)
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    started: float = field(default=0.0)
    now: Callable[[], float] = time.time  # wall clock: the age of a stored organization walk
    # Seals and checks continuation tokens; in AWS the HMAC KMS key named by TOKEN_KEY_ID.
    signer: tokens.Signer | None = None

    @classmethod
    def from_environment(cls) -> Deps:
        env = dict(os.environ)
        clients = make_clients(component="sync-lambda")

        def s3(creds: Mapping[str, str] | None) -> Any:
            if not creds:
                return clients.client("s3")
            keys = {
                "aws_access_key_id": creds["accessKeyId"],
                "aws_secret_access_key": creds["secretAccessKey"],
            }
            if creds.get("sessionToken"):
                keys["aws_session_token"] = creds["sessionToken"]
            return make_clients(component="sync-lambda", credentials=keys).client("s3")

        return cls(
            env=env,
            codepipeline=clients.client("codepipeline"),
            sns=clients.client("sns"),
            sync_clients=lambda region: make_clients(region, component="sync-lambda"),
            s3=s3,
            step_seconds=float(env.get("SYNC_STEP_SECONDS", str(cls.step_seconds))),
            signer=KmsSigner(clients.client("kms"), env["TOKEN_KEY_ID"]) if env.get("TOKEN_KEY_ID") else None,
        )

    def state_store(self) -> StateStore:
        bucket = self.env.get("PLAN_BUCKET", "")
        if not bucket:
            raise SyncError("PLAN_BUCKET is not set (redeploy templates/org/pipeline.yaml, which sets it)")
        return StateStore(self.s3(None), bucket)

    def token_signer(self) -> tokens.Signer:
        if self.signer is None:
            raise SyncError(
                "TOKEN_KEY_ID is not set: the sync cannot seal or check continuation tokens "
                "(redeploy templates/org/pipeline.yaml, which sets it)"
            )
        return self.signer


class EventError(SyncError):
    """An event the Lambda does not handle: refused with one line, nothing called."""


def handle(event: Any, context: Any, deps: Deps | None = None) -> dict[str, Any]:
    """Every event gets a classified outcome: a CodePipeline job succeeds, continues or fails with one line;
    an Organizations event converges or is ignored; a direct call plans or syncs; anything else is refused."""
    try:
        kind = classify(event)  # before any client is built: a refused event costs nothing
    except EventError as exc:
        LOG.error("refused: %s", exc)
        return {"ok": False, "error": str(exc)}
    deps = deps or Deps.from_environment()
    deps.started = deps.clock()
    if kind == "codepipeline":
        return _codepipeline(event["CodePipeline.job"], context, deps)
    if kind == "organizations":
        return _organizations_event(event, context, deps)
    if kind == "drift":
        return _drift_check(context, deps)
    return _direct(event, context, deps)


def classify(event: Any) -> str:
    """Which kind of event this is ("codepipeline", "organizations", "drift", "direct"), or EventError saying
    why none."""
    if not isinstance(event, dict):
        raise EventError(f"unknown event: expected a JSON object, got {_kind(event)}")
    if "CodePipeline.job" in event:
        job = event["CodePipeline.job"]
        if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not job["id"]:
            raise EventError("CodePipeline event: 'CodePipeline.job' must be an object with a job 'id'")
        return "codepipeline"
    if "source" in event:
        if event["source"] != "aws.organizations":
            raise EventError(f"unknown event: source {excerpt(event['source'])} is not aws.organizations")
        if not isinstance(event.get("detail", {}), dict):
            raise EventError(f"Organizations event: 'detail' must be an object, got {_kind(event['detail'])}")
        return "organizations"
    if "action" in event:
        if event["action"] == "sync":
            # No side door: only the pipeline syncs, and only the artifact whose plan it approved.
            raise EventError(
                "direct invocation: sync is refused; only the pipeline's Sync action syncs, and only the "
                "artifact whose sha256 its approval carried (a direct plan changes nothing)"
            )
        if event["action"] == "drift":
            # The drift schedule's constant input (DriftCheckRule): nothing else in the event is read.
            return "drift"
        if event["action"] != "plan":
            raise EventError(
                f"direct invocation: 'action' must be plan or drift, not {excerpt(event['action'])}"
            )
        return "direct"
    raise EventError(
        'unknown event: expected a CodePipeline job, an Organizations event, {"action": "plan"} or '
        '{"action": "drift"}'
    )


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


# --- loading the manifest ------------------------------------------------------------------------------


def load_artifact(data: bytes, manifest_path: str, templates_dir: str) -> tuple[Manifest, dict[str, str]]:
    """The manifest and its templates out of a pipeline artifact (a zip of the repository's build output)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SyncError(f"the input artifact is not a zip file: {exc}") from None
    names = set(archive.namelist())
    if manifest_path not in names:
        raise SyncError(f"the input artifact has no {manifest_path}")
    manifest = loads_manifest(_member(archive, manifest_path, MANIFEST_BYTES), manifest_path)
    bodies = {}
    wanted = [s.template for s in manifest.stacksets]
    if manifest.management_account_stack is not None:
        wanted.append(manifest.management_account_stack.template)
    for rel in wanted:
        name = f"{templates_dir.rstrip('/')}/{rel}"
        if name in names:
            bodies[rel] = _member(archive, name, MANIFEST_BYTES)
    return manifest, check_templates(manifest, bodies)


def _member(archive: zipfile.ZipFile, name: str, most: int) -> bytes:
    """One file of the artifact, never inflated beyond `most` bytes (a zip bomb stops there)."""
    try:
        with archive.open(name) as member:
            data = member.read(most + 1)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError) as exc:
        raise SyncError(f"the input artifact's {name} cannot be unpacked: {exc}") from None
    if len(data) > most:
        raise SyncError(f"the input artifact's {name} is larger than {most // 2**20} MiB, the limit")
    return data


def _read_s3(client: Any, bucket: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


SETTINGS = ("approved_sha256", "execution", "manifest", "mode", "org_walk", "templates")
MODES = ("plan", "sync")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
EXECUTION_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
PLAN_SUMMARY_CHARS = 300


def _settings(raw: Any) -> dict[str, str]:
    """The action's UserParameters: a JSON object with optional string keys manifest and templates, mode
    (plan or sync, the default), approved_sha256 and org_walk (sync), and execution (plan)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise SyncError(f"UserParameters is not JSON: {reason}") from None
    if not isinstance(value, dict):
        raise SyncError(f"UserParameters must be a JSON object, got {_kind(value)}")
    for key in sorted(value):
        if key not in SETTINGS:
            raise SyncError(
                f"UserParameters: unknown parameter {excerpt(key)} (expected one of: {', '.join(SETTINGS)})"
            )
        if not isinstance(value[key], str) or not value[key]:
            raise SyncError(f"UserParameters: {key} must be a non-empty string, got {excerpt(value[key])}")
    if value.get("mode", "sync") not in MODES:
        raise SyncError(f"UserParameters: mode must be plan or sync, not {excerpt(value['mode'])}")
    if not ORG_WALK_RE.match(value.get("org_walk", CACHED)):
        raise SyncError(
            f"UserParameters: org_walk must be the Plan action's ORG_WALK, not {excerpt(value['org_walk'])}"
        )
    return dict(value)


def _input_artifact(data: Any) -> tuple[str, str, str]:
    """(name, bucket, key) of the job's first input artifact, or SyncError naming what is missing."""
    artifacts = data.get("inputArtifacts") if isinstance(data, dict) else None
    if not isinstance(artifacts, list) or not artifacts or not isinstance(artifacts[0], dict):
        raise SyncError("the job has no input artifact (data.inputArtifacts is empty)")
    first = artifacts[0]
    location = first.get("location")
    s3 = location.get("s3Location") if isinstance(location, dict) else None
    name = str(first.get("name") or "inputArtifacts[0]")
    if not isinstance(s3, dict) or not all(
        isinstance(s3.get(k), str) and s3[k] for k in ("bucketName", "objectKey")
    ):
        raise SyncError(f"the input artifact {excerpt(name)} has no S3 location (location.s3Location)")
    return name, s3["bucketName"], s3["objectKey"]


def _read_artifact(client: Any, name: str, bucket: str, key: str) -> bytes:
    try:
        return _read_s3(client, bucket, key)
    except Exception as exc:
        raise SyncError(
            f"the input artifact {name} (s3://{bucket}/{key}) cannot be read: {describe_error(exc)}"
        ) from None


# --- one step ------------------------------------------------------------------------------------------

# ORG_WALK when the Plan action made no walk (its no-op came from the stored walk): the Sync action may
# then plan from a stored walk too, but only to find nothing to do.
CACHED = "cached"
ORG_WALK_RE = re.compile(rf"^({CACHED}|[A-Za-z0-9-]{{1,64}}/[0-9a-f]{{64}})$")


def _out_of_time(context: Any, deps: Deps) -> Callable[[], bool]:
    """True once this invocation has used its budget: step_seconds, and at most INVOCATION_BUDGET of the
    time it had left when it began (Lambda context object, get_remaining_time_in_millis:
    https://docs.aws.amazon.com/lambda/latest/dg/python-context.html)."""
    budget = deps.step_seconds
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining:
        at_start = remaining() / 1000 + (deps.clock() - deps.started)
        budget = min(budget, limits.INVOCATION_BUDGET * at_start)

    def check() -> bool:
        return deps.clock() - deps.started > budget

    return check


@dataclass
class _Run:
    """One action's run in this invocation: what it holds from earlier invocations, where it keeps it,
    and how it reads the organization."""

    run_id: str
    held: RunState
    store: StateStore | None  # None: a direct plan, which keeps nothing and walks in one go
    org_walk: str = CACHED  # the Plan action's ORG_WALK (Sync action), or CACHED
    # The canary wave the rollout is at (the token's wave): a failure among the carried operations stops
    # the rollout there; after a step, the wave it stopped at (pipeline.core.report.WaveRun.stopped).
    wave: int = 0

    def stored_tree(self, ref: str, deps: Deps) -> OrgTree | None:
        """The tree of the stored walk `ref` when it may still stand for the organization, else None."""
        assert self.store is not None
        try:
            walk, started = self.store.get_walk(ref)
        except SyncError:
            return None  # unreadable or not ours: walk instead
        return walk.tree() if walk_is_fresh(started, deps.now(), self.store.org_changed_at()) else None

    def held_tree(self) -> OrgTree:
        """The tree the run took on (its own walk, or the Plan's found fresh): kept to the run's end. An
        Organizations event meanwhile starts another pipeline run, which converges; re-walking here
        instead could never end while events keep coming."""
        assert self.store is not None
        return self.store.get_walk(self.held.tree)[0].tree()


def _cached_noop(session: SyncSession, run: _Run, deps: Deps) -> SyncPlan | None:
    """The plan from the latest stored walk when that walk is fresh and the plan has nothing to do: a no-op
    with no Organizations call. None otherwise, and then the run walks: a stored walk never leads to a
    write (a change it misses is caught by the next Organizations event or its age)."""
    assert run.store is not None
    ref = run.store.latest_walk()
    tree = run.stored_tree(ref, deps) if ref else None
    if tree is None:
        return None
    session.tree = tree
    plan = plan_sync(session)
    if plan.has_changes:
        session.tree, session.state = None, None
        return None
    return plan


def _walk(session: SyncSession, run: _Run, deps: Deps) -> OrgTree | None:
    """Go on with the run's walk until it is done (its tree, stored for the rest of the run and for later
    no-ops) or the invocation is out of time (None: the next invocation goes on from here)."""
    held = run.held
    if held.walk is None:
        held.walk, held.walk_started = OrgWalk(), deps.now()
    reader = OrgApiReader(session.clients.organizations, deps.backoff)
    if not step_walk(held.walk, reader, session.out_of_time):
        return None
    tree = held.walk.tree()
    if run.store is not None:
        held.tree = run.store.put_walk(run.run_id, held.walk, held.walk_started)
        run.store.set_latest_walk(held.tree)
    held.walk = None
    return tree


def _plan(session: SyncSession, run: _Run, deps: Deps) -> SyncPlan | None:
    """This invocation's plan, from (first that applies) the walk the run already holds, the Plan action's
    walk while fresh, a fresh stored walk that finds nothing to do, or a walk of its own; None while that
    walk goes on. At most one walk per run, and the re-plans after each operation reuse it."""
    held, store = run.held, run.store
    if store is None:
        return plan_sync(session)
    if held.tree:
        session.tree = run.held_tree()
    elif held.walk is None and run.org_walk != CACHED:
        session.tree = run.stored_tree(run.org_walk, deps)
        held.tree = run.org_walk if session.tree is not None else ""
    if session.tree is None and held.walk is None and (plan := _cached_noop(session, run, deps)):
        return plan
    if session.tree is None:
        session.tree = _walk(session, run, deps)
        if session.tree is None or session.out_of_time():
            return None  # the walk, or the plan after it, is the next invocation's
    return plan_sync(session)


def _step(
    manifest: Manifest,
    templates: Mapping[str, str],
    run: _Run,
    context: Any,
    deps: Deps,
    *,
    apply: bool = True,
) -> tuple[SyncReport | None, RunState | None]:
    """Poll carried-over operations; when they are done, plan afresh and start what is next. The report
    when the run ends here, and what it holds for the next invocation when it goes on (else None)."""
    session = SyncSession(
        manifest,
        templates,
        deps.sync_clients(manifest.org.home_region),
        run_id=run.run_id,
        out_of_time=_out_of_time(context, deps),
        poll=deps.poll,
        backoff=deps.backoff,
    )
    held = run.held
    failed: dict[str, LaneResult] = {}
    pending = dict(held.pending)
    while pending:
        pending, ended = poll_pending(session, pending)
        failed |= ended
        if pending and session.out_of_time():
            held.pending = {**pending, **carry_failures(None, failed)}
            return None, held
        if pending:
            deps.sleep(deps.poll_seconds)
    held.pending = carry_failures(None, failed)
    plan = _plan(session, run, deps)
    if plan is None:
        return None, held
    if not apply:
        return plan_report(session, plan), None
    report = apply_plan(session, plan, failed, run.wave)
    run.wave = wave_at(report, run.wave)
    if not report.pending:
        return report, None
    # Still running elsewhere: failures so far go on in the held state, so the final report has them.
    held.pending = {**carry_failures(report, failed), **report.pending}
    return report, held


def _unseal(token: Any, binding: str, deps: Deps) -> tokens.Token | None:
    """The event's continuation token, or None without one; TokenError if it is not one this sync sealed
    for `binding`."""
    if token is None or token == "":
        return None
    return tokens.unseal(token, binding, deps.token_signer())


def wave_at(report: SyncReport, carried: int) -> int:
    """The canary wave a continuation resumes at: where this step's rollout stopped, else the carried one."""
    if report.waves is None or report.waves.stopped is None:
        return carried
    return report.waves.stopped


def _held(store: StateStore, token: tokens.Token | None) -> RunState:
    """What the run holds from its earlier invocations: the state object the token names."""
    if token is None or not token.state:
        return RunState()
    return RunState.from_dict(store.get(token.run, token.state))


def _hand_over(run: _Run, binding: str, deps: Deps) -> str:
    """Store the run's state and seal the token that names it."""
    assert run.store is not None
    digest = run.store.put(run.run_id, run.held.to_dict())
    return tokens.seal(tokens.Token(run.run_id, digest, run.wave), binding, deps.token_signer())


def _topic(manifest: Manifest | None, deps: Deps) -> str | None:
    """org.yaml's topic, else the pipeline stack's (NOTIFICATION_TOPIC_ARN), else none."""
    configured = manifest.org.sns_topic_arn if manifest else None
    return configured or deps.env.get("NOTIFICATION_TOPIC_ARN") or deps.env.get("SNS_TOPIC_ARN") or None


# --- CodePipeline ----------------------------------------------------------------------------------------


def _codepipeline(job: Mapping[str, Any], context: Any, deps: Deps) -> dict[str, Any]:
    job_id = job["id"]
    data = job.get("data")
    manifest: Manifest | None = None
    try:
        deps.token_signer()  # before anything is read or written: a step may need to hand over
        if not isinstance(data, dict):
            raise SyncError("the CodePipeline job has no data")
        config = data.get("actionConfiguration")
        config = config.get("configuration") if isinstance(config, dict) else None
        settings = _settings(config.get("UserParameters") if isinstance(config, dict) else None)
        name, bucket, key = _input_artifact(data)
        # CodePipeline hands each continuation to a new job (PutJobSuccessResult: "Future jobs use this token"),
        # so the token is bound to what those jobs share and no other job has: the run's input artifact,
        # a fresh S3 object per pipeline execution; the first job's id is the run id inside the MAC.
        binding = f"codepipeline:{bucket}/{key}"
        token = _unseal(data.get("continuationToken"), binding, deps)
        artifact = _read_artifact(deps.s3(data.get("artifactCredentials")), name, bucket, key)
        manifest, templates = trusted_artifact(artifact, settings, deps)
        store = deps.state_store()
        run = _Run(
            token.run if token else job_id,
            _held(store, token),
            store,
            settings.get("org_walk", CACHED),
            token.wave if token else 0,
        )
        if settings.get("mode") == "plan":
            return _plan_job(job_id, run, binding, manifest, templates, artifact, settings, context, deps)
        report, still = _step(manifest, templates, run, context, deps)
        handed = _hand_over(run, binding, deps) if still is not None else ""
    except Exception as exc:
        return _fail_job(job_id, exc, manifest, deps)
    if handed:
        deps.codepipeline.put_job_success_result(jobId=job_id, continuationToken=handed)
        return {"ok": True, "continuation": handed}
    assert report is not None
    return _finish_job(job_id, report, manifest, deps)


def _fail_job(job_id: str, exc: BaseException, manifest: Manifest | None, deps: Deps) -> dict[str, Any]:
    error = _one_line(exc)
    LOG.error("CodePipeline job %s failed: %s", job_id, error)
    deps.codepipeline.put_job_failure_result(
        jobId=job_id, failureDetails={"type": "JobFailed", "message": error[:5000]}
    )
    notify.publish(deps.sns, _topic(manifest, deps), None, error, f"CodePipeline job {job_id}")
    return {"ok": False, "error": error}


# --- the trust boundary ------------------------------------------------------------------------------------


def trusted_artifact(
    artifact: bytes, settings: Mapping[str, str], deps: Deps
) -> tuple[Manifest, dict[str, str]]:
    """The one gate between the artifact a build produced and any write: in sync mode the artifact must be,
    byte for byte, the one whose plan was approved (its sha256, computed by the Plan action and carried by
    CodePipeline into this action's UserParameters); then the manifest and every template must pass the org
    guardrails the pipeline stack sets (never the repository's)."""
    digest = hashlib.sha256(artifact).hexdigest()
    if settings.get("mode", "sync") == "sync":
        approved = settings.get("approved_sha256", "")
        if not SHA256_RE.match(approved):
            raise SyncError(
                "UserParameters has no approved_sha256 (64 hex digits): the Sync action must carry the "
                "Plan action's ARTIFACT_SHA256 (redeploy templates/org/pipeline.yaml, which sets it)"
            )
        if digest != approved:
            raise SyncError(
                f"the input artifact's sha256 is {digest}, not the approved {approved}: it changed after its "
                "plan was made, so nothing is synced"
            )
    rules = guardrails.from_settings(deps.env)
    manifest, templates = load_artifact(
        artifact, settings.get("manifest", DEFAULT_MANIFEST), settings.get("templates", DEFAULT_TEMPLATES)
    )
    guardrails.enforce(manifest, templates, rules)
    return manifest, templates


def plan_key(execution: str, job_id: str) -> str:
    """Where a plan is kept: one folder per pipeline execution, one file per Plan job, never overwritten."""
    return f"plans/{execution}/{job_id}/plan.md"


def _plan_job(
    job_id: str,
    run: _Run,
    binding: str,
    manifest: Manifest,
    templates: Mapping[str, str],
    artifact: bytes,
    settings: Mapping[str, str],
    context: Any,
    deps: Deps,
) -> dict[str, Any]:
    """The Plan action: the plan of this exact artifact against the live organization, computed by this
    trusted code, stored once under the execution's prefix, and handed to the approval and the Sync action
    as output variables (PutJobSuccessResult outputVariables: "Key-value pairs produced as output by a job
    worker that can be made available to a downstream action configuration"; only without a continuation
    token: https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PutJobSuccessResult.html), so
    a walk that outlasts one invocation continues first and hands them over at the end. ORG_WALK names
    the walk the Sync action plans from (CACHED when this plan came from a stored walk)."""
    execution = settings.get("execution", "")
    if not EXECUTION_RE.match(execution):
        raise SyncError(
            "UserParameters: the Plan action needs execution (#{codepipeline.PipelineExecutionId})"
        )
    bucket = deps.env.get("PLAN_BUCKET", "")
    if not bucket:
        raise SyncError("PLAN_BUCKET is not set (redeploy templates/org/pipeline.yaml, which sets it)")
    digest = hashlib.sha256(artifact).hexdigest()
    report, still = _step(manifest, templates, run, context, deps, apply=False)
    if still is not None:
        handed = _hand_over(run, binding, deps)
        deps.codepipeline.put_job_success_result(jobId=job_id, continuationToken=handed)
        return {"ok": True, "continuation": handed}
    assert report is not None and report.plan is not None
    verdict = deletion_guard(report.plan, manifest.org.deletion)
    lead = [
        f"### {report.headline()}",
        "",
        f"Artifact sha256 `{digest}`: the Sync action refuses any other artifact.",
        "Guardrails (the pipeline stack's, checked by the sync's packaged code): passed.",
        *(
            ["", *[f"> the deletion guard would stop the sync: {r}" for r in verdict.reasons]]
            if verdict.reasons
            else []
        ),
    ]
    key = plan_key(execution, run.run_id)
    _store_plan(deps.s3(None), bucket, key, render_markdown(report, lead=lead).encode())
    summary = f"{report.headline()}; guardrails passed" + (
        "; the deletion guard would stop it" if not verdict.ok else ""
    )
    # The approval's CustomData quotes the hash and the summary: 300 characters keep it well under the
    # 1,000-character limit of an action configuration field (Variables reference, CodePipeline User Guide:
    # https://docs.aws.amazon.com/codepipeline/latest/userguide/reference-variables.html).
    variables = {
        "ARTIFACT_SHA256": digest,
        "PLAN_SUMMARY": summary[:PLAN_SUMMARY_CHARS],
        "PLAN_URL": f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key}",
        "ORG_WALK": run.held.tree or CACHED,
    }
    deps.codepipeline.put_job_success_result(
        jobId=job_id,
        outputVariables=variables,
        executionDetails={"summary": summary[: limits.EXECUTION_SUMMARY_CHARS], "percentComplete": 100},
    )
    return {"ok": True, "plan": key, "variables": variables}


def _store_plan(client: Any, bucket: str, key: str, body: bytes) -> None:
    """Write the plan once: If-None-Match "*" makes S3 refuse to replace an existing object (How to prevent
    object overwrites with conditional writes, S3 User Guide:
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html), and the bucket policy
    lets no principal but the sync's role write under plans/."""
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/markdown", IfNoneMatch="*")
    except Exception as exc:
        raise SyncError(
            f"the plan could not be stored at s3://{bucket}/{key}: {describe_error(exc)}"
        ) from None


def _finish_job(job_id: str, report: SyncReport, manifest: Manifest, deps: Deps) -> dict[str, Any]:
    if report.outcome == Outcome.SUCCESS:
        deps.codepipeline.put_job_success_result(
            jobId=job_id,
            executionDetails={
                "summary": report.headline()[: limits.EXECUTION_SUMMARY_CHARS],
                "percentComplete": 100,
            },
        )
    else:
        deps.codepipeline.put_job_failure_result(
            jobId=job_id, failureDetails={"type": "JobFailed", "message": notify.message(report)[:5000]}
        )
    notify.publish(deps.sns, _topic(manifest, deps), report, context=f"CodePipeline job {job_id}")
    return {"ok": report.outcome == Outcome.SUCCESS, "report": report.to_dict()}


def _one_line(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, SyncError) else f"AWS or runtime error: {describe_error(exc)}"


# --- EventBridge and direct invocation --------------------------------------------------------------------


def _organizations_event(event: Mapping[str, Any], context: Any, deps: Deps) -> dict[str, Any]:
    """An OU or account changed: every stored walk that began before now is stale from here on (the
    pipeline's watcher rule sends the event here and starts the pipeline), and, where PIPELINE_NAME is
    set, converge through that pipeline (the approved artifact, with its checks). There is no other way:
    a sync from an artifact outside the pipeline would skip the approval."""
    name = event.get("detail", {}).get("eventName", event.get("detail-type", ""))
    if not isinstance(name, str) or name not in ORG_EVENTS:
        shown = str(name) if len(str(name)) <= EXCERPT_CHARS else str(name)[:EXCERPT_CHARS] + "..."
        return {"ok": True, "ignored": shown}
    # The watcher's function starts runs only (PIPELINE_NAME, no PLAN_BUCKET): the sync, invoked by the same
    # rule, records the change.
    starter_only = bool(deps.env.get("PIPELINE_NAME")) and not deps.env.get("PLAN_BUCKET")
    try:
        if not starter_only:
            deps.state_store().mark_org_changed(deps.now())
    except SyncError as exc:
        # An error makes Lambda retry the asynchronous invocation; a walk stays reusable meanwhile for at
        # most its time to live (pipeline.core.runstate.WALK_TTL_SECONDS).
        raise SyncError(f"the Organizations event {name} could not be recorded: {exc}") from None
    pipeline = deps.env.get("PIPELINE_NAME")
    if not pipeline:
        return {"ok": True, "recorded": name}
    waiting = waiting_execution(deps.codepipeline, pipeline)
    if waiting is not None:
        return {"ok": True, "debounced": waiting, "event": name}
    execution = deps.codepipeline.start_pipeline_execution(name=pipeline)
    return {"ok": True, "pipeline_execution": execution.get("pipelineExecutionId"), "event": name}


# The org pipeline's stage whose action reads the organization (generator/blueprints/org_pipeline.py).
PLAN_STAGE = "Plan"
RECENT_EXECUTIONS = 20


def waiting_execution(codepipeline: Any, pipeline: str) -> str | None:
    """The id of an execution that is running and has not yet entered the Plan stage, else None.

    A burst of Organizations events (one per account moved) must not queue a full pipeline run each: the
    pipeline runs in QUEUED mode ("Executions are processed one by one in the order that they are queued",
    How pipeline executions work, https://docs.aws.amazon.com/codepipeline/latest/userguide/concepts-how-it-works.html;
    SUPERSEDED could let a newer run overtake one waiting at the approval, so it is not used), and an
    execution that has not reached Plan will read the organization after this event anyway. Only positive
    evidence skips a start: an InProgress execution (ListPipelineExecutions, PipelineExecutionSummary status,
    https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineExecutionSummary.html) that
    GetPipelineState shows in progress in a stage before Plan or among the executions waiting to enter Plan (StageState latestExecution, inboundExecution(s),
    https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_StageState.html). Anything else,
    including an execution already in Plan (its walk may have passed the change), starts a run."""
    listed = codepipeline.list_pipeline_executions(pipelineName=pipeline, maxResults=RECENT_EXECUTIONS)
    running = {
        e["pipelineExecutionId"]
        for e in listed.get("pipelineExecutionSummaries", [])
        if e.get("status") == "InProgress"
    }
    if not running:
        return None
    stages = codepipeline.get_pipeline_state(name=pipeline).get("stageStates", [])
    names = [stage.get("stageName") for stage in stages]
    if PLAN_STAGE not in names:
        return None
    before: list[str] = []
    for stage in stages[: names.index(PLAN_STAGE)]:
        latest = stage.get("latestExecution") or {}
        if latest.get("status") == "InProgress":  # a stage it has finished keeps it as latest too
            before.append(latest.get("pipelineExecutionId", ""))
    plan = stages[names.index(PLAN_STAGE)]
    inbound = [plan.get("inboundExecution") or {}, *plan.get("inboundExecutions", [])]
    before += [e.get("pipelineExecutionId", "") for e in inbound]
    return next((e for e in before if e in running), None)


def _direct(event: Mapping[str, Any], context: Any, deps: Deps) -> dict[str, Any]:
    """{"action": "plan", "artifact_uri": "s3://bucket/key.zip", "run_id"?}: what a sync of that artifact
    would do. Read-only: a direct sync is refused (classify), so this is no way around the approval."""
    uri = event.get("artifact_uri") or ""
    run_id = str(event.get("run_id") or getattr(context, "aws_request_id", "direct"))
    try:
        if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
            raise SyncError("direct invocation needs artifact_uri: s3://bucket/key of the build artifact")
        bucket, _, key = uri[5:].partition("/")
        manifest, templates = load_artifact(
            _read_artifact(deps.s3(None), "artifact_uri", bucket, key), DEFAULT_MANIFEST, DEFAULT_TEMPLATES
        )
        report, _still = _step(
            manifest, templates, _Run(run_id, RunState(), None), context, deps, apply=False
        )
    except Exception as exc:
        error = _one_line(exc)
        LOG.error("direct plan %s failed: %s", run_id, error)
        return {"ok": False, "error": error}
    assert report is not None
    return {"ok": report.ok, "report": report.to_dict()}


# --- the scheduled drift check ------------------------------------------------------------------------------

# The drift check stops waiting this long before the Lambda's timeout, to report what it has.
DRIFT_MARGIN_MS = 30_000


def _drift_deadline(context: Any) -> Callable[[], bool]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return lambda: bool(remaining and remaining() < DRIFT_MARGIN_MS)


def approved_for_drift(deps: Deps, out_of_time: Callable[[], bool]) -> tuple[Manifest, str, str]:
    """(manifest, sha256, pipeline execution) of the artifact the pipeline last synced: the newest succeeded
    Sync action of PIPELINE_NAME, its input artifact in the pipeline's own artifact bucket, checked by
    trusted_artifact against the approved_sha256 that action ran with. A pushed artifact that was never
    approved never ran a Sync action, so it is never what drift is checked against."""
    pipeline = deps.env.get("PIPELINE_NAME", "")
    bucket = deps.env.get("PLAN_BUCKET", "")
    if not pipeline or not bucket:
        raise SyncError(
            "PIPELINE_NAME and PLAN_BUCKET must be set for the drift check (redeploy "
            "templates/org/pipeline.yaml, which sets them)"
        )
    synced = last_synced(deps.codepipeline, pipeline, deps.backoff, out_of_time)
    if synced.bucket != bucket:
        raise SyncError(
            f"the last synced artifact is in bucket {excerpt(synced.bucket)}, not the pipeline's artifact "
            f"bucket {bucket}: it is not used"
        )
    settings = dict(_settings(synced.user_parameters))
    settings.pop("mode", None)  # a Sync action: trusted_artifact checks the sha256 it was approved with
    artifact = _read_artifact(deps.s3(None), "(last synced)", synced.bucket, synced.key)
    manifest, _templates = trusted_artifact(artifact, settings, deps)
    return manifest, hashlib.sha256(artifact).hexdigest(), synced.pipeline_execution


def _drift_org(organizations: Any, deps: Deps) -> tuple[OrgTree, str]:
    """Where each account is, for the report's OU column, and a sentence saying from when: the latest stored
    walk (the pipeline's last walk: no Organizations call, so the check fits one invocation at any size),
    else a walk now. Only the OU column depends on it: detection runs on the instances each StackSet lists,
    so an account moved since that walk is still checked, shown under the OU it was in then."""
    store = deps.state_store() if deps.env.get("PLAN_BUCKET") else None
    try:
        ref = store.latest_walk() if store is not None else None
        if store is not None and ref:
            walk, started = store.get_walk(ref)
            at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
            return (
                walk.tree(),
                f" Accounts are shown under the OUs the pipeline's organization walk of {at} found.",
            )
    except SyncError as exc:
        LOG.warning("drift check: the stored organization walk cannot be used (%s); walking now", exc)
    return read_org(organizations, deps.backoff), ""


def _drift_check(context: Any, deps: Deps) -> dict[str, Any]:
    """The scheduled drift check: StackSet drift detection on every role StackSet of the approved artifact
    and stack drift on its management-account stack; an SNS message only when there is news
    (pipeline.core.drift.notice) or the check itself failed."""
    manifest: Manifest | None = None
    run_id = str(getattr(context, "aws_request_id", "") or "scheduled")
    out_of_time = _drift_deadline(context)
    try:
        manifest, digest, execution = approved_for_drift(deps, out_of_time)
        clients = deps.sync_clients(manifest.org.home_region)
        org, placed = _drift_org(clients.organizations, deps)
        report = detect_all(
            clients.cloudformation,
            manifest,
            org,
            run_id=f"drift-{run_id}",
            poll=deps.poll,
            backoff=deps.backoff,
            out_of_time=out_of_time,
        )
    except Exception as exc:
        error = _one_line(exc)
        LOG.error("drift check failed: %s", error)
        notify.send(
            deps.sns, _topic(manifest, deps), "org-stacksets drift check FAILED", f"drift check: {error}"
        )
        return {"ok": False, "error": error}
    context_line = (
        f"Drift check of the approved artifact (sha256 {digest}, synced by pipeline execution {execution}) "
        "against the live roles: per OU, account and role, what differs from the deployed template." + placed
    )
    news = drift.notice(report, context_line)
    if news is not None:
        notify.send(deps.sns, _topic(manifest, deps), *news)
    return {"ok": not report.unfinished, "drifted": report.has_drift, "notified": news is not None}
