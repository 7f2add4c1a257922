"""The sync end to end: read the org and the StackSets, plan, guard, execute, report.

The glue between the pure core (desired, planner, guard, report) and the thin adapters (orgtree reader,
live reader, executor). The CLI and the Lambda handler call plan_sync and apply_plan, nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from pipeline.aws import stacksets as live_reader
from pipeline.aws.clients import Clients
from pipeline.aws.executor import Executor
from pipeline.aws.organizations import read_org
from pipeline.aws.retry import Backoff, PollPolicy
from pipeline.aws.stack import caller_account
from pipeline.core.desired import HashTag, desire
from pipeline.core.errors import GuardError, WrongOrganizationError
from pipeline.core.guard import check
from pipeline.core.live import LiveStackSet, LiveState
from pipeline.core.manifest import HASH_TAG, ManagementStackSpec, Manifest
from pipeline.core.org import OrgTree, assess_read, resolve
from pipeline.core.outcomes import BUSY_PREFIX, FAILED, FAILED_PREFIX, PENDING, SUCCEEDED, Event, LaneResult
from pipeline.core.planner import (
    Action,
    StackSetPlan,
    SyncPlan,
    count_instances,
    needs_exclusion_check,
    needs_health_check,
    needs_instances,
    needs_rollout_check,
    plan_management,
    plan_orphan,
    plan_stackset,
)
from pipeline.core.report import SyncReport, WaveRun, build_report
from pipeline.core.waves import Waves, account_waves, cut


@dataclass
class SyncSession:
    """One run: the manifest and templates, the clients, the run id, and how to wait and retry."""

    manifest: Manifest
    templates: Mapping[str, str]
    clients: Clients
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    backoff: Backoff = field(default_factory=Backoff)
    poll: PollPolicy = field(default_factory=PollPolicy)
    max_workers: int = 8
    on_event: Callable[[Event], None] = lambda _e: None
    out_of_time: Callable[[], bool] = lambda: False
    state: LiveState | None = None
    # The organization this run plans from when it holds one (a walk made earlier in the run, or a fresh
    # stored one); None: each plan walks the organization.
    tree: OrgTree | None = None

    @property
    def call_as(self) -> str:
        return self.manifest.org.call_as

    def executor(self) -> Executor:
        return Executor(
            cfn=self.clients.cloudformation,
            manifest=self.manifest,
            templates=self.templates,
            run_id=self.run_id,
            backoff=self.backoff,
            poll=self.poll,
            out_of_time=self.out_of_time,
            on_event=self.on_event,
            stack_client=self.clients.stack_client,
            max_workers=self.max_workers,
        )


def check_organization(manifest: Manifest, tree: OrgTree) -> None:
    """Refuse to touch an organization other than the manifest's."""
    org = manifest.org
    if org.organization_id and tree.organization_id != org.organization_id:
        raise WrongOrganizationError(
            f"the credentials reach organization {tree.organization_id}, but org.yaml pins {org.organization_id}"
        )
    if tree.management_account_id and tree.management_account_id != org.management_account_id:
        raise WrongOrganizationError(
            f"the organization's management account is {tree.management_account_id}, but org.yaml says "
            f"{org.management_account_id}"
        )


def read_state(s: SyncSession) -> LiveState:
    """One org walk (none when the session holds the tree), one ListStackSets, one DescribeStackSet per StackSet; per StackSet whose hash matches,
    the operation named in its tag (did that rollout succeed?), per excluded account that sits under its
    target one ListStackInstances (did AutoDeployment reach it?) and, when all else matches, one filtered
    ListStackInstances per broken detailed status; the instances of a StackSet that differs or is broken,
    or whose targets are accounts."""
    m = s.manifest
    tree = s.tree or read_org(s.clients.organizations, s.backoff)
    check_organization(m, tree)
    statuses = resolve(m, tree)
    warnings = tuple(assess_read(m, tree, statuses))
    desired = {spec.name: desire(spec, m, tree, statuses) for spec in m.stacksets}
    cfn = s.clients.cloudformation
    names = live_reader.list_stackset_names(cfn, s.call_as, s.backoff)
    stacksets: dict[str, LiveStackSet] = {}
    orphans: dict[str, LiveStackSet] = {}
    for name in names:
        if name in desired:
            got = live_reader.describe_stackset(cfn, name, s.call_as, s.backoff)
            if got is None:
                continue
            operation = HashTag.parse(got.hash_tag).operation
            if operation and needs_rollout_check(desired[name], got):
                state = live_reader.operation_state(cfn, name, operation, s.call_as, s.backoff)
                # RUNNING: the plan that wrote the tag is still under way; the next run checks it again.
                failed, missing = state in ("FAILED", live_reader.MISSING), state == live_reader.MISSING
                got = replace(got, rollout_failed=failed, rollout_missing=missing)
            if excluded := needs_exclusion_check(desired[name], got):
                reached = live_reader.accounts_with_instances(cfn, name, excluded, s.call_as, s.backoff)
                got = replace(got, excluded_reached=reached)
            if needs_health_check(desired[name], got):
                got = replace(got, unhealthy=live_reader.unhealthy_statuses(cfn, name, s.call_as, s.backoff))
            if needs_instances(desired[name], got):
                got = replace(got, instances=live_reader.list_instances(cfn, name, s.call_as, s.backoff))
            stacksets[name] = got
        elif name.startswith(m.org.stackset_prefix + "-"):
            got = live_reader.describe_stackset(cfn, name, s.call_as, s.backoff)
            # Ours only if it carries the sync's hash tag: a StackSet someone else made is never touched.
            if got is not None and HASH_TAG in got.tags:
                instances = live_reader.list_instances(cfn, name, s.call_as, s.backoff)
                orphans[name] = replace(got, instances=instances)
    mgmt, caller = None, None
    if m.management_account_stack is not None:
        spec = m.management_account_stack
        caller = caller_account(s.clients.sts, s.backoff)
        if caller == m.org.management_account_id:
            mgmt = live_reader.describe_stack(s.clients.stack_client(spec.region), spec.name, s.backoff)
    return LiveState(tree, statuses, warnings, desired, stacksets, orphans, mgmt, caller)


def refuse_management(spec: ManagementStackSpec, caller: str, management_account: str) -> StackSetPlan:
    """The management-account stack deploys with the sync's own credentials: from any other account (a
    delegated administrator, or a self-managed administrator account) it would land in the wrong account.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html"""
    return StackSetPlan(
        spec.name,
        "management-stack",
        Action.FAILED,
        notes=(
            f"not deployed: the sync runs as account {caller}, not the management account "
            f"{management_account}, so the management-account stack would land in the wrong account; "
            "deploy it with the management account's credentials (python -m pipeline sync there)",
        ),
    )


def make_plan(manifest: Manifest, state: LiveState, run_id: str) -> SyncPlan:
    """Pure: the plan for this live state."""
    policy = manifest.org.deletion
    plans: list[StackSetPlan] = [
        plan_stackset(d, state.stacksets.get(name), state.tree, policy) for name, d in state.desired.items()
    ]
    plans.extend(plan_orphan(o, state.tree, policy) for o in state.orphans.values())
    spec = manifest.management_account_stack
    if spec is not None and state.caller_account not in (None, manifest.org.management_account_id):
        plans.append(refuse_management(spec, state.caller_account or "", manifest.org.management_account_id))
    elif spec is not None:
        plans.append(plan_management(spec, state.management_stack))
    total = count_instances(state.desired, {**state.stacksets, **state.orphans})
    labels: tuple[str, ...] = ()
    if manifest.org.rollout_waves:
        waves = account_waves(state.tree, manifest.org.rollout_waves)
        plans = [_in_waves(p, waves, state) for p in plans]
        labels = waves.labels()
    return SyncPlan(
        run_id=run_id,
        manifest_sha256=manifest.sha256,
        organization_id=state.tree.organization_id,
        ous=tuple(state.statuses[p] for p in sorted(state.statuses)),
        stacksets=tuple(plans),
        read_warnings=state.read_warnings,
        total_instances=total,
        waves=labels,
    )


def _in_waves(plan: StackSetPlan, waves: Waves, state: LiveState) -> StackSetPlan:
    live = state.stacksets.get(plan.name) or state.orphans.get(plan.name)
    ops, order = cut(plan.ops, waves, state.desired.get(plan.name), live.instances if live else None)
    return replace(plan, ops=ops, waves=order)


def plan_sync(s: SyncSession) -> SyncPlan:
    s.state = read_state(s)
    return make_plan(s.manifest, s.state, s.run_id)


def apply_plan(
    s: SyncSession, plan: SyncPlan, failed: Mapping[str, LaneResult] | None = None, wave: int = 0
) -> SyncReport:
    """Guard, then execute. GuardError is raised before the first write.

    `failed`: StackSets whose operation, started by an earlier invocation, failed: reported as failed and
    not run on, as a lane stops at its first failure within one invocation. `wave`: with canary waves, the
    wave that earlier invocation was in (a failure there stops the rollout at it)."""
    failed = failed or {}
    verdict = check(plan, s.manifest.org.deletion)
    if not verdict.ok:
        raise GuardError(verdict.reasons)
    assert s.state is not None
    if plan.waves:
        lanes, run = run_waves(s, plan, failed, wave)
        return build_report(plan, lanes, s.state.tree, s.clients.counter.to_dict(), run)
    ran = s.executor().run([p for p in plan.stacksets if p.name not in failed])
    ran += [failed[p.name] for p in plan.stacksets if p.name in failed]
    return build_report(plan, ran, s.state.tree, s.clients.counter.to_dict())


def _wave_status(lanes: list[LaneResult]) -> str:
    """succeeded, in progress, or failed with the failing accounts."""
    if not any(lane.status == FAILED for lane in lanes):
        return "in progress" if any(lane.status == PENDING for lane in lanes) else "succeeded"
    accounts = sorted({f.account for lane in lanes for o in lane.outcomes for f in o.failures})
    return f"failed in {', '.join(accounts)}" if accounts else "failed"


def run_waves(
    s: SyncSession, plan: SyncPlan, failed: Mapping[str, LaneResult], resumed: int
) -> tuple[list[LaneResult], WaveRun]:
    """One canary wave at a time across every StackSet; the next starts only when every operation of this
    one succeeded with no failed instance (the executor counts an operation that succeeded within its
    failure tolerance but left failed instances as failed). A failure or an operation still running stops
    the rollout there: later waves are not started, so their instances keep the template they have."""
    ex = s.executor()
    vouches = {p.name: ex.vouching_id(p) for p in plan.stacksets}
    ran: dict[str, list[LaneResult]] = {name: [lane] for name, lane in failed.items()}
    statuses: list[str] = []
    stopped = resumed if failed else None
    for wave, label in enumerate(plan.waves):
        part = [w for w in (p.in_wave(wave) for p in plan.stacksets if p.name not in failed) if w.ops]
        if stopped is not None:
            planned = any(wave in p.waves for p in plan.stacksets)
            statuses.append(
                ("succeeded" if wave < stopped else "not started") if planned else "nothing to do"
            )
            if wave == stopped:
                statuses[-1] = "failed"
            continue
        if not part:
            statuses.append("nothing to do")
            continue
        s.on_event(
            Event("rollout", f"wave {wave + 1} of {len(plan.waves)} ({label}): {len(part)} StackSet(s)")
        )
        for lane in ex.run(part, vouches=vouches):
            ran.setdefault(lane.name, []).append(lane)
            if lane.status != SUCCEEDED:
                stopped = wave
        statuses.append(_wave_status([ran[p.name][-1] for p in part]))
    later = {p.name for p in plan.stacksets for w in p.waves if stopped is not None and w > stopped}
    held = tuple(sorted(later - {n for n, got in ran.items() if got[-1].status == FAILED}))
    lanes = [
        LaneResult(name, got[-1].status, tuple(o for g in got for o in g.outcomes), got[-1].pending_operation)
        for name, got in ran.items()
    ]
    return lanes, WaveRun(plan.waves, tuple(statuses), held)


def sync(s: SyncSession) -> SyncReport:
    return apply_plan(s, plan_sync(s))


def plan_report(s: SyncSession, plan: SyncPlan) -> SyncReport:
    assert s.state is not None
    return build_report(plan, None, s.state.tree, s.clients.counter.to_dict())


def poll_pending(s: SyncSession, pending: Mapping[str, str]) -> tuple[dict[str, str], dict[str, LaneResult]]:
    """Operations from a previous invocation (one DescribeStackSetOperation each): those still running,
    and the StackSets whose operation failed (or left failed instances), with the failures."""
    ex = s.executor()
    still: dict[str, str] = {}
    failed: dict[str, LaneResult] = {}
    for name, op_id in pending.items():
        if op_id.startswith(("stack:", BUSY_PREFIX)):
            # A plain stack (the next plan's deploy waits for it to settle), or a StackSet that was busy
            # before ours started (the next plan retries it).
            continue
        ended = ex.poll_pending(name, op_id.removeprefix(FAILED_PREFIX))
        if ended is None:
            still[name] = op_id
        elif ended.status == FAILED:
            failed[name] = LaneResult(name, FAILED, (ended,))
    return still, failed


def carry_failures(report: SyncReport | None, failed: Mapping[str, LaneResult]) -> dict[str, str]:
    """Pending entries that carry this invocation's failed operations to the next one."""
    out: dict[str, str] = {}
    outcomes = {r.name: r.outcomes for r in (report.stacksets if report else ()) if r.result == Action.FAILED}
    outcomes |= {name: lane.outcomes for name, lane in failed.items()}
    for name, ended in outcomes.items():
        op_id = next((o.operation_id for o in ended if o.status == FAILED and o.operation_id), None)
        if op_id:
            out[name] = FAILED_PREFIX + op_id
    return out
