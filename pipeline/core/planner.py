"""Pure planner: desired StackSets against live ones -> the typed operations that reconcile them.

No boto3, no clock, no environment: the live state comes in as records, the plan goes out as data
(to_dict() for JSON, Markdown or text). Per changed StackSet the operations run in this order: remove
targets, update the StackSet (carrying the new hash tag: one rollout per content change), add targets,
per-OU parameter overrides. Targets are compared with the live StackSet directly, so a change of targets
alone costs no UpdateStackSet; only a change of overrides alone, or the repair of a failed rollout, ends
with a tag-only update limited to the accounts it concerns. A StackSet whose hash tag matches, vouched for
by an operation that succeeded, with matching targets and no failed, cancelled or inoperable instance, is
unchanged: a few reads, no write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from pipeline.core import limits
from pipeline.core.desired import (
    NO_OVERRIDES,
    DesiredStackSet,
    DesiredTarget,
    HashTag,
    chunks,
)
from pipeline.core.live import LiveInstance, LiveStack, LiveStackSet
from pipeline.core.manifest import HASH_TAG, DeletionPolicy, Kind, ManagementStackSpec, PermissionModel
from pipeline.core.ops import (
    CommitHash,
    Content,
    CreateInstances,
    CreateStackSet,
    DeleteInstances,
    DeleteStackSet,
    DeployStack,
    Op,
    Pairs,
    UpdateOverrides,
    UpdateStackSet,
    digest,
)
from pipeline.core.org import OrgTree, OuStatus


class Action(StrEnum):
    """What the plan does with one StackSet (or the management stack)."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    ORPHAN = "orphan"
    FAILED = "failed"


class Change(StrEnum):
    """What the plan does with one OU (or account) target of one StackSet."""

    ADD = "add"
    REMOVE = "remove"
    KEEP = "keep"
    SKIP = "skip"
    HOLD = "hold"
    OVERRIDE = "override"


CREATE, UPDATE, UNCHANGED, SKIPPED, ORPHAN, FAILED = Action

# How long an excluded account can hold a role AutoDeployment gave it. AutoDeployment ignores account filters
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html);
# the watcher starts the pipeline on MoveAccount, but the sync runs only once its manual approval is given,
# and an approval left unanswered fails after seven days
# (https://docs.aws.amazon.com/codepipeline/latest/userguide/approvals-approve-or-reject.html).
EXCLUSION_WINDOW = (
    "excluded accounts ({accounts}) under {paths}: AutoDeployment ignores account filters, so an excluded "
    "account that joins one of these OUs gets the role from AWS itself within minutes and keeps it until a "
    "sync deletes it (deleted, never retained). The watcher starts the pipeline on MoveAccount, but the sync "
    "runs only once the manual approval is given: the window lasts from the move until that run is approved "
    "and applied, up to the approval timeout (7 days) for one run, and longer if runs are rejected or expire"
)


@dataclass(frozen=True)
class TargetChange:
    """One OU (or account) of one StackSet, for the per-OU report."""

    path: str
    ou_id: str | None
    change: Change
    accounts: int = 0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ou_id": self.ou_id,
            "change": self.change,
            "accounts": self.accounts,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class StackSetPlan:
    name: str
    kind: str
    action: Action
    ops: tuple[Op, ...] = ()
    desired_tag: str | None = None
    live_tag: str | None = None
    targets: tuple[TargetChange, ...] = ()
    notes: tuple[str, ...] = ()
    # With canary waves: the wave (from 0) of each operation, in order; empty without waves.
    waves: tuple[int, ...] = ()

    @property
    def deletions(self) -> int:
        return sum(op.deletions for op in self.ops)

    def wave_of(self, index: int) -> int:
        return self.waves[index] if self.waves else 0

    def in_wave(self, wave: int) -> StackSetPlan:
        """This plan with only the operations of one wave."""
        keep = [i for i in range(len(self.ops)) if self.wave_of(i) == wave]
        return replace(self, ops=tuple(self.ops[i] for i in keep), waves=tuple(wave for _ in keep))

    def describe(self, index: int) -> str:
        text = self.ops[index].describe()
        return f"wave {self.waves[index] + 1}: {text}" if self.waves else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "action": self.action,
            "operations": [
                op.to_dict()
                | {"description": op.describe()}
                | ({"wave": self.waves[i] + 1} if self.waves else {})
                for i, op in enumerate(self.ops)
            ],
            "desired_hash": self.desired_tag,
            "live_hash": self.live_tag,
            "instance_deletions": self.deletions,
            "targets": [t.to_dict() for t in self.targets],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class SyncPlan:
    run_id: str
    manifest_sha256: str
    organization_id: str
    ous: tuple[OuStatus, ...]
    stacksets: tuple[StackSetPlan, ...]
    read_warnings: tuple[str, ...] = ()
    total_instances: int = 0
    # Canary waves: each wave's OU paths, the last one the rest of the organization; empty without waves.
    waves: tuple[str, ...] = ()

    @property
    def ops(self) -> list[Op]:
        return [op for s in self.stacksets for op in s.ops]

    @property
    def has_changes(self) -> bool:
        return bool(self.ops)

    @property
    def deletions(self) -> int:
        return sum(s.deletions for s in self.stacksets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "manifest_sha256": self.manifest_sha256,
            "organization_id": self.organization_id,
            "has_changes": self.has_changes,
            "instance_deletions": self.deletions,
            "total_instances": self.total_instances,
            "read_warnings": list(self.read_warnings),
            "ous": [o.to_dict() for o in self.ous],
            "stacksets": [s.to_dict() for s in self.stacksets],
            **({"waves": list(self.waves)} if self.waves else {}),
        }


def _account_level(d: DesiredStackSet) -> bool:
    """Targets are accounts (self-managed, or the login-account StackSet): only the instance listing shows
    whether they match."""
    return d.spec.kind == Kind.LOGIN_ACCOUNT or d.content.permission_model != PermissionModel.SERVICE_MANAGED


def targets_match(d: DesiredStackSet, live: LiveStackSet) -> bool:
    """Service-managed OU targets compared directly: DescribeStackSet returns the StackSet's
    OrganizationalUnitIds and Regions (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSet.html),
    so no hash has to record them and a target-only change needs no UpdateStackSet."""
    if _account_level(d):
        return False
    wanted = {t.ou_id for t in d.targets}
    held = {s.ou_id for s in d.skipped if s.ou_id}
    live_ids, regions = set(live.ou_ids), set(live.regions)
    return (
        wanted <= live_ids
        and not live_ids - wanted - held
        and regions <= set(d.spec.regions)
        and (not wanted or set(d.spec.regions) <= regions)
    )


def _same_model(desired: DesiredStackSet, live: LiveStackSet | None) -> bool:
    return live is not None and live.permission_model == desired.content.permission_model


def _tag_matches(desired: DesiredStackSet, live: LiveStackSet) -> bool:
    return HashTag.parse(live.hash_tag).matches(desired)


def _needs_nothing_more(desired: DesiredStackSet, live: LiveStackSet) -> bool:
    """Everything but the instances' health says unchanged."""
    return (
        _tag_matches(desired, live)
        and not live.rollout_failed
        and not live.excluded_reached
        and targets_match(desired, live)
    )


def looks_unchanged(desired: DesiredStackSet, live: LiveStackSet) -> bool:
    """Whether the reads so far prove the StackSet unchanged without listing its instances."""
    return _needs_nothing_more(desired, live) and not live.unhealthy


def needs_exclusion_check(desired: DesiredStackSet, live: LiveStackSet | None) -> tuple[str, ...]:
    """Excluded accounts to look up (one ListStackInstances each) although the hash matches: AutoDeployment,
    which ignores account filters, may have given them an instance since the last sync."""
    if live is None or not _same_model(desired, live):
        return ()
    return desired.excluded_present if _tag_matches(desired, live) else ()


def needs_rollout_check(desired: DesiredStackSet, live: LiveStackSet | None) -> bool:
    """Whether a matching hash needs the operation named in its tag checked before it is trusted (one read:
    DescribeStackSetOperation of that id, whatever order ListStackSetOperations lists in)."""
    if live is None or not _same_model(desired, live) or not _tag_matches(desired, live):
        return False
    return HashTag.parse(live.hash_tag).operation is not None


def needs_health_check(desired: DesiredStackSet, live: LiveStackSet | None) -> bool:
    """Whether the instances' detailed statuses are the last thing to check (ListStackInstances filtered by
    DETAILED_STATUS: bounded, whatever the StackSet's size). AutoDeployment's runs need not show among the
    StackSet's operations, so its failed instances are found this way."""
    return live is not None and _same_model(desired, live) and _needs_nothing_more(desired, live)


def needs_instances(desired: DesiredStackSet, live: LiveStackSet | None) -> bool:
    """Whether the planner needs ListStackInstances for this StackSet (never when it looks unchanged)."""
    return live is not None and _same_model(desired, live) and not looks_unchanged(desired, live)


def content_changes(content: Content, live: LiveStackSet) -> tuple[str, ...]:
    changes = []
    if live.template_sha256 != content.template_sha256:
        changes.append("template")
    if dict(live.parameters) != dict(content.parameters):
        changes.append("parameters")
    if set(live.capabilities) != set(content.capabilities):
        changes.append("capabilities")
    if live.description != content.description:
        changes.append("description")
    live_tags = {k: v for k, v in live.tags.items() if k != HASH_TAG}
    if live_tags != dict(content.tags):
        changes.append("tags")
    if content.auto_deployment is not None:
        want_on, want_retain = content.auto_deployment
        got_on, got_retain = live.auto_deployment or (False, False)
        if want_on != got_on or (want_on and want_retain != got_retain):
            changes.append("auto-deployment")
    if content.administration_role_arn and live.administration_role_arn != content.administration_role_arn:
        changes.append("administration role")
    if content.execution_role_name and live.execution_role_name != content.execution_role_name:
        changes.append("execution role")
    return tuple(changes)


class _Builder:
    """Collects one StackSet's operations and per-OU changes."""

    def __init__(self, desired: DesiredStackSet, policy: DeletionPolicy) -> None:
        self.d = desired
        self.policy = policy
        self.ops: list[Op] = []
        self.targets: list[TargetChange] = []
        self.notes: list[str] = []
        self.service = desired.content.permission_model == PermissionModel.SERVICE_MANAGED
        self.regions = desired.spec.regions
        self.values = {a: g.parameters for g in desired.groups for a in g.accounts}
        self.created_with: dict[str, Pairs] = {}  # account -> the per-OU values its new instance starts with

    def values_of(self, accounts: tuple[str, ...]) -> Pairs | None:
        """The one set of per-OU values all these accounts get, or None when they differ."""
        found = {self.values.get(a, ()) for a in accounts}
        return found.pop() if len(found) == 1 else None

    def _start_values(self, reached: tuple[str, ...]) -> Pairs:
        """ParameterOverrides for a CreateStackInstances call that reaches these accounts.

        CreateStackInstances takes ParameterOverrides for every instance it creates
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackInstances.html),
        so where every account reached shares one set of per-OU values the instances start with them and
        never run with the StackSet-level values first. Where they differ, the instances start with the
        StackSet-level values (the narrowest, see generator window_values) and the overrides follow.
        """
        values = self.values_of(reached) or ()
        self.created_with.update(dict.fromkeys(reached, values))
        return values

    def create(
        self, ou_ids: tuple[str, ...], paths: tuple[str, ...], accounts: tuple[str, ...], flt: str
    ) -> None:
        if self.service:
            names = dict(zip(ou_ids, paths, strict=False))
            for part in chunks(ou_ids, limits.OUS_PER_INSTANCES_CALL):
                part_paths = tuple(names[i] for i in part if i in names)
                if flt == "INTERSECTION":
                    reached = accounts
                else:
                    reached = tuple(a for t in self.d.targets if t.ou_id in part for a in t.accounts)
                self.ops.append(
                    CreateInstances(
                        stackset=self.d.name,
                        regions=self.regions,
                        ou_ids=part,
                        accounts=accounts,
                        account_filter=flt,
                        paths=part_paths,
                        parameters=self._start_values(reached),
                    )
                )
        else:
            for part in chunks(accounts, limits.ACCOUNTS_PER_INSTANCES_CALL):
                self.ops.append(
                    CreateInstances(
                        stackset=self.d.name,
                        regions=self.regions,
                        accounts=part,
                        paths=paths,
                        parameters=self._start_values(part),
                    )
                )

    def delete(
        self,
        ou_ids: tuple[str, ...],
        paths: tuple[str, ...],
        accounts: tuple[str, ...],
        flt: str,
        count: int,
        *,
        revoke: bool = False,
    ) -> None:
        """DeleteStackInstances; revoke=True deletes the stacks whatever deletion.retain_stacks says."""
        retain = self.policy.retain_stacks and not revoke
        if self.service:
            self.ops.append(
                DeleteInstances(
                    stackset=self.d.name,
                    regions=self.regions,
                    ou_ids=ou_ids,
                    accounts=accounts,
                    account_filter=flt,
                    retain_stacks=retain,
                    count=count,
                    paths=paths,
                )
            )
        else:
            for part in chunks(accounts, limits.ACCOUNTS_PER_INSTANCES_CALL):
                self.ops.append(
                    DeleteInstances(
                        stackset=self.d.name,
                        regions=self.regions,
                        accounts=part,
                        retain_stacks=retain,
                        count=len(part),
                    )
                )

    def overrides(self, applied: str | None, created: set[str], with_instances: set[str]) -> None:
        """Re-apply overrides when what was applied differs from what is wanted.

        Overrides do not follow accounts that join an OU later
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html:
        "Accounts added to the target OUs and their child OUs in the future won't use the overridden
        values"), so new accounts with overrides get them here, and accounts that left an overridden OU are
        set back to the StackSet's values.
        """
        # applied: the override digest in place (None: unknown).
        changed = applied != self.d.overrides_digest
        for group in self.d.groups:
            accounts = tuple(a for a in group.accounts if a in with_instances)
            if not changed:
                # What was applied is what is wanted: only new instances still need their overrides.
                accounts = tuple(a for a in accounts if a in created)
            # New instances that started with these values (ParameterOverrides on the create) have them.
            accounts = tuple(a for a in accounts if self.created_with.get(a) != group.parameters)
            if not group.parameters and (applied == NO_OVERRIDES or not changed):
                # Setting back to the StackSet's values: needless when nothing was ever overridden, and
                # new instances start with the StackSet's values.
                continue
            for part in chunks(accounts, limits.ACCOUNTS_PER_INSTANCES_CALL):
                self.ops.append(
                    UpdateOverrides(
                        stackset=self.d.name,
                        regions=self.regions,
                        accounts=part,
                        parameters=group.parameters,
                        paths=group.paths,
                    )
                )


# Detailed statuses of instances that wait on an operation still running: not broken, just not done yet.
IN_FLIGHT = frozenset({"PENDING", "RUNNING"})


def _exclusion_note(b: _Builder, d: DesiredStackSet) -> None:
    """Service-managed role StackSets with excluded accounts: say how long AutoDeployment's window lasts."""
    excluded = sorted({a for t in d.targets for a in t.excluded})
    if b.service and d.spec.kind == Kind.ROLE and excluded:
        paths = ", ".join(sorted(t.path for t in d.targets if t.excluded))
        b.notes.append(EXCLUSION_WINDOW.format(accounts=", ".join(excluded), paths=paths))


def _plan_new(d: DesiredStackSet, policy: DeletionPolicy) -> StackSetPlan:
    b = _Builder(d, policy)
    _exclusion_note(b, d)
    # The final tag goes with the creation: it is vouched for by the plan's last operation (the executor
    # appends that operation's id), so no later tag-only update is needed.
    b.ops.append(CreateStackSet(stackset=d.name, content=d.content, tag=d.tag_after(NO_OVERRIDES)))
    if d.spec.kind == Kind.LOGIN_ACCOUNT:
        if d.accounts:
            b.create(
                (d.login_parent,) if b.service and d.login_parent else (),
                (d.login_path,) if d.login_path else (),
                d.accounts,
                "INTERSECTION",
            )
            b.targets.extend(TargetChange(a, d.login_parent, Change.ADD, 1) for a in d.accounts)
    else:
        for excluded, group in _creation_groups(b, d.targets):
            b.create(
                tuple(t.ou_id for t in group),
                tuple(t.path for t in group),
                excluded if b.service else tuple(sorted({a for t in group for a in t.accounts})),
                "DIFFERENCE" if excluded and b.service else "NONE",
            )
        b.targets.extend(TargetChange(t.path, t.ou_id, Change.ADD, len(t.accounts)) for t in d.targets)
    b.overrides(NO_OVERRIDES, set(d.accounts), set(d.accounts))
    b.targets.extend(TargetChange(s.path, s.ou_id, Change.SKIP, 0, s.reason) for s in d.skipped)
    return StackSetPlan(
        d.name, d.spec.kind, CREATE, tuple(b.ops), d.tag, None, tuple(b.targets), tuple(b.notes)
    )


def _plan_existing(
    d: DesiredStackSet, live: LiveStackSet, tree: OrgTree, policy: DeletionPolicy
) -> StackSetPlan:
    assert live.instances is not None, "the planner needs the instances of a changed StackSet"
    b = _Builder(d, policy)
    instances = live.instances
    regions = set(d.spec.regions)
    have: dict[str, set[str]] = {}  # account -> regions with an instance
    for inst in instances:
        have.setdefault(inst.account, set()).add(inst.region)
    keep_accounts = set(d.accounts) | set(d.inactive)
    changes = content_changes(d.content, live)
    tag = HashTag.parse(live.hash_tag)
    # The overrides in place: the tag's own once its operation succeeded (or still runs), else those in
    # place before the plan that wrote it, which may have stopped before its overrides.
    applied = tag.before if live.rollout_failed else tag.overrides

    if d.spec.kind == Kind.LOGIN_ACCOUNT or not b.service:
        _plan_accounts(b, d, instances, keep_accounts, have)
    else:
        _plan_ou_targets(b, d, live, tree, keep_accounts)

    # Regions no longer wanted: remove every instance there.
    for region in sorted({i.region for i in instances} - regions):
        gone = [i for i in instances if i.region == region]
        ou_ids = tuple(sorted({i.ou_id for i in gone if i.ou_id}))
        b.ops.insert(
            0,
            DeleteInstances(
                stackset=d.name,
                regions=(region,),
                ou_ids=ou_ids if b.service else (),
                accounts=() if b.service else tuple(sorted({i.account for i in gone})),
                account_filter="NONE",
                retain_stacks=policy.retain_stacks,
                count=len(gone),
            ),
        )
        b.notes.append(f"region {region} is no longer wanted")

    if changes:
        # Content goes before additions, so new instances get the new template directly, and before
        # overrides, which may only name parameters the StackSet already has.
        first_add = next((i for i, op in enumerate(b.ops) if not isinstance(op, DeleteInstances)), len(b.ops))
        # One rollout per content change: the update carries the final tag itself.
        b.ops.insert(
            first_add,
            UpdateStackSet(stackset=d.name, content=d.content, tag=d.tag_after(applied), changes=changes),
        )

    created = {a for op in b.ops if isinstance(op, CreateInstances) for a in _accounts_of(op, d)}
    with_instances = {a for a, r in have.items() if r & regions} | created
    b.overrides(applied, created, with_instances)
    inoperable = _inoperable(d, instances)
    if not changes:
        _commit(b, d, live, instances, created, applied)
    b.notes.extend(inoperable)
    b.targets.extend(TargetChange(s.path, s.ou_id, Change.SKIP, 0, s.reason) for s in d.skipped)
    # An inoperable instance is never recorded as done: the StackSet reports failed until it is fixed.
    action = FAILED if inoperable else UPDATE
    return StackSetPlan(
        d.name, d.spec.kind, action, tuple(b.ops), d.tag, live.hash_tag, tuple(b.targets), tuple(b.notes)
    )


def _is_inoperable(i: LiveInstance) -> bool:
    return "INOPERABLE" in (i.status, i.detailed_status)


def _inoperable(d: DesiredStackSet, instances: tuple[LiveInstance, ...]) -> list[str]:
    """INOPERABLE instances, each reported with its reason and the fix. A DeleteStackInstances failed and
    left the stack unstable; UpdateStackSet skips it, and AWS's own fix is a DeleteStackInstances with
    RetainStacks true, then deleting the stack by hand
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceSummary.html, Status).
    The sync cannot delete a stack in a member account itself, and re-creating the instance over a retained
    stack would fail on the role's name (EntityAlreadyExists), so it reports."""
    service = d.content.permission_model == PermissionModel.SERVICE_MANAGED
    where = "--deployment-targets Accounts={a}" if service else "--accounts {a}"
    return [
        f"instance {i.account} {i.region} is INOPERABLE ({i.reason or 'a DeleteStackInstances failed'}): "
        f"UpdateStackSet skips it; run aws cloudformation delete-stack-instances --stack-set-name {d.name} "
        f"{where.format(a=i.account)} --regions {i.region} --retain-stacks, delete the stack it leaves in "
        f"account {i.account}, then sync again"
        for i in instances
        if _is_inoperable(i)
    ]


def _commit(
    b: _Builder,
    d: DesiredStackSet,
    live: LiveStackSet,
    instances: tuple[LiveInstance, ...],
    created: set[str],
    applied: str | None,
) -> None:
    """Without a content change, the tag is rewritten only when it must be: overrides changed, it records
    something else, its operation failed, or instances are broken. An operation that never ran belongs to a
    plan that stopped early: this plan redoes the rest, and a rerun of the same run issues the same last
    operation, which then vouches for the tag; only when nothing is left to do is the tag rewritten (the
    plan that stopped was another run's). Then a tag-only update limited to the
    broken instances (it redeploys them: the repair), else to one account this plan already touches: AWS
    leaves every other instance as it is when neither template nor parameters change
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackSet.html, Accounts and
    DeploymentTargets)."""
    regions = set(d.spec.regions)
    broken = sorted(
        {
            i.account
            for i in instances
            if i.status != "CURRENT"
            and i.account in d.accounts
            and i.region in regions
            and i.detailed_status not in IN_FLIGHT
            and not _is_inoperable(i)
        }
    )
    unfinished = live.rollout_missing and bool(b.ops)
    if _tag_matches(d, live) and not broken and (not live.rollout_failed or unfinished):
        return
    if broken:
        b.notes.append(f"{len(broken)} instance(s) failed or not CURRENT: the commit redeploys them")
        accounts = tuple(broken)
    else:
        touched = [a for op in b.ops if isinstance(op, UpdateOverrides) for a in op.accounts]
        current = sorted(i.account for i in instances if i.account in d.accounts and not _is_inoperable(i))
        accounts = tuple((touched or sorted(created) or current)[:1])
    b.ops.append(
        CommitHash(
            stackset=d.name, content=d.content, tag=d.tag_after(applied), accounts=accounts, regions=b.regions
        )
    )


def _creation_groups(
    b: _Builder, targets: tuple[DesiredTarget, ...]
) -> list[tuple[tuple[str, ...], list[DesiredTarget]]]:
    """New OU targets, one CreateStackInstances per set of exclusions and per-OU values: a target whose
    accounts share one set of values is created with them (mixed targets go together, without)."""
    groups: dict[tuple[tuple[str, ...], Pairs | None], list[DesiredTarget]] = {}
    for t in targets:
        groups.setdefault((t.excluded, b.values_of(t.accounts)), []).append(t)
    order = sorted(groups, key=lambda k: (k[0], k[1] is None, k[1] or ()))
    return [(key[0], groups[key]) for key in order]


def _accounts_of(op: CreateInstances, d: DesiredStackSet) -> set[str]:
    if op.account_filter == "INTERSECTION" or not op.ou_ids:
        return set(op.accounts)
    reached = {a for t in d.targets if t.ou_id in op.ou_ids for a in t.accounts}
    return reached - set(op.accounts) if op.account_filter == "DIFFERENCE" else reached


def _plan_accounts(
    b: _Builder,
    d: DesiredStackSet,
    instances: tuple[LiveInstance, ...],
    keep: set[str],
    have: dict[str, set[str]],
) -> None:
    """Account-level targets: self-managed StackSets, and the login-account StackSet in either model."""
    stray = [i for i in instances if i.account not in keep]
    if stray and d.hold_removals:
        # A target OU is missing from this read (renamed, or the read is incomplete): its accounts look
        # like they left, so nothing is removed until every target resolves again.
        held = sorted({i.account for i in stray})
        b.notes.append(f"removal of {len(held)} account(s) held: {d.hold_removals}")
        b.targets.extend(
            TargetChange(a, None, Change.HOLD, 1, f"removal held: {d.hold_removals}") for a in held
        )
        stray = []
    # Excluded accounts never keep the role, even when deletion.retain_stacks opts in to retaining.
    excluded = {a for t in d.targets for a in t.excluded}
    for revoke in (True, False):
        part = [i for i in stray if (i.account in excluded) == revoke]
        if b.service:
            for ou_id in sorted({i.ou_id or "" for i in part}):
                accts = tuple(sorted({i.account for i in part if (i.ou_id or "") == ou_id}))
                count = sum(1 for i in part if (i.ou_id or "") == ou_id)
                b.delete((ou_id,), (), accts, "INTERSECTION", count, revoke=revoke)
        elif part:
            b.delete((), (), tuple(sorted({i.account for i in part})), "NONE", len(part), revoke=revoke)
    for acct in sorted({i.account for i in stray}):
        b.targets.append(TargetChange(acct, None, Change.REMOVE, 1, "no longer a target"))
    missing = tuple(a for a in d.accounts if not set(d.spec.regions) <= have.get(a, set()))
    if missing:
        if b.service:
            # Service-managed creates name an OU; INTERSECTION narrows it to the one account.
            parent = (d.login_parent,) if d.login_parent else ()
            b.create(parent, (d.login_path,) if d.login_path else (), missing, "INTERSECTION")
        else:
            b.create((), tuple(t.path for t in d.targets), missing, "NONE")
    if d.spec.kind == Kind.LOGIN_ACCOUNT:
        b.targets.extend(
            TargetChange(a, d.login_parent, Change.ADD if a in missing else Change.KEEP, 1)
            for a in d.accounts
        )
    for t in d.targets:
        new = sum(1 for a in t.accounts if a in missing)
        change = Change.ADD if t.accounts and new == len(t.accounts) else Change.KEEP
        reason = f"{new} account(s) added" if new and change == Change.KEEP else ""
        b.targets.append(TargetChange(t.path, t.ou_id, change, len(t.accounts), reason))


def _remove_targets(
    b: _Builder, d: DesiredStackSet, live_ids: set[str], instances: tuple[LiveInstance, ...], tree: OrgTree
) -> set[str]:
    """OU targets the manifest no longer names; returns their ids. Never for a target that is only missing
    or empty this run, and never while any desired target failed to resolve (a renamed OU must not look
    like a removal)."""
    wanted = {t.ou_id for t in d.targets}
    held = {s.ou_id for s in d.skipped if s.ou_id}
    removed: list[tuple[str, str, int]] = []
    for ou_id in sorted(live_ids - wanted - held):
        path = tree.path_of(ou_id)
        count = sum(1 for i in instances if i.ou_id == ou_id)
        if path is None:
            b.notes.append(f"target {ou_id} no longer exists in the organization; left as is")
        elif d.hold_removals:
            b.targets.append(
                TargetChange(path, ou_id, Change.HOLD, count, f"removal held: {d.hold_removals}")
            )
        else:
            removed.append((ou_id, path, count))
    if not removed:
        return set()
    # At most 50 OU ids per DeleteStackInstances call (limits.OUS_PER_INSTANCES_CALL): one removal per batch.
    for start in range(0, len(removed), limits.OUS_PER_INSTANCES_CALL):
        _remove_batch(b, d, removed[start : start + limits.OUS_PER_INSTANCES_CALL], instances)
    b.targets.extend(TargetChange(p, i, Change.REMOVE, c) for i, p, c in removed)
    return {r[0] for r in removed}


def _remove_batch(
    b: _Builder, d: DesiredStackSet, removed: list[tuple[str, str, int]], instances: tuple[LiveInstance, ...]
) -> None:
    """The deletions of up to 50 removed OU targets (id, path, instances)."""
    ids, paths = tuple(r[0] for r in removed), tuple(r[1] for r in removed)
    total = sum(r[2] for r in removed)
    gone = [i for i in instances if i.ou_id in ids]
    # Accounts that lose their instance here but stay targets (through another OU) get a new instance in
    # this plan. A retained stack would keep its named resources: the new instance's IAM role fails with
    # EntityAlreadyExists (role names are unique per account), and the old role stays assumable. So their
    # stacks are deleted; accounts that truly leave keep theirs, as deletion.retain_stacks says.
    readded = tuple(sorted({i.account for i in gone} & set(d.accounts)))
    if readded and b.policy.retain_stacks:
        moved = sum(1 for i in gone if i.account in readded)
        b.notes.append(
            f"{len(readded)} account(s) leave {', '.join(paths)} but stay targets: their stacks are deleted, "
            "not retained, so their new instances can create the same named resources"
        )
        if moved == total:
            b.ops.append(
                DeleteInstances(
                    stackset=d.name,
                    regions=b.regions,
                    ou_ids=ids,
                    accounts=(),
                    account_filter="NONE",
                    retain_stacks=False,
                    count=total,
                    paths=paths,
                )
            )
        else:
            b.ops.append(
                DeleteInstances(
                    stackset=d.name,
                    regions=b.regions,
                    ou_ids=ids,
                    accounts=readded,
                    account_filter="INTERSECTION",
                    retain_stacks=False,
                    count=moved,
                    paths=paths,
                )
            )
            b.delete(ids, paths, (), "NONE", total - moved)
    else:
        b.delete(ids, paths, (), "NONE", total)


def _plan_ou_targets(
    b: _Builder,
    d: DesiredStackSet,
    live: LiveStackSet,
    tree: OrgTree,
    keep: set[str],
) -> None:
    """Service-managed role StackSets: OU targets, plus account-level fixes inside kept targets."""
    instances = live.instances or ()
    live_ids = set(live.ou_ids) | {i.ou_id for i in instances if i.ou_id}
    removed = _remove_targets(b, d, live_ids, instances, tree)
    # Instances left once the removals ran: an account of a kept target whose instance went with a
    # removed target needs a new one.
    left: dict[str, set[str]] = {}
    for inst in instances:
        if inst.ou_id not in removed:
            left.setdefault(inst.account, set()).add(inst.region)
    # Inside kept targets: accounts that should not hold an instance (excluded, or moved away while
    # AutoDeployment kept them) go; accounts not ACTIVE are left alone. AutoDeployment ignores account
    # filters, so an excluded account that joins a target OU gets an instance from AWS itself ("Automatic
    # deployments do not consider account level targeting filters", Enable or disable automatic deployments
    # for StackSets in AWS Organizations,
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html):
    # its stack is deleted, never retained, whatever deletion.retain_stacks says.
    for t in d.targets:
        if t.ou_id not in live_ids:
            continue
        stray = [i for i in instances if i.ou_id == t.ou_id and i.account not in keep]
        for revoke in (True, False):
            part = [i for i in stray if (i.account in t.excluded) == revoke]
            if part:
                accts = tuple(sorted({i.account for i in part}))
                b.delete((t.ou_id,), (t.path,), accts, "INTERSECTION", len(part), revoke=revoke)
                if revoke and not any(n.startswith("excluded accounts (") for n in b.notes):
                    _exclusion_note(b, d)
    additions = [t for t in d.targets if t.ou_id not in live_ids]
    for excluded, group in _creation_groups(b, tuple(additions)):
        b.create(
            tuple(t.ou_id for t in group),
            tuple(t.path for t in group),
            excluded,
            "DIFFERENCE" if excluded else "NONE",
        )
    for t in d.targets:
        if t.ou_id in live_ids:
            missing = tuple(a for a in t.accounts if not set(d.spec.regions) <= left.get(a, set()))
            if missing:
                b.create((t.ou_id,), (t.path,), missing, "INTERSECTION")
            b.targets.append(
                TargetChange(
                    t.path,
                    t.ou_id,
                    Change.KEEP,
                    len(t.accounts),
                    f"{len(missing)} account(s) added" if missing else "",
                )
            )
        else:
            b.targets.append(TargetChange(t.path, t.ou_id, Change.ADD, len(t.accounts)))


def _override_rows(d: DesiredStackSet) -> tuple[TargetChange, ...]:
    """Where per-OU values apply, for the per-OU report."""
    paths = sorted({p for g in d.groups if g.parameters for p in g.paths})
    return tuple(TargetChange(p, None, Change.OVERRIDE, 0, "per-OU parameter values") for p in paths)


def plan_stackset(
    desired: DesiredStackSet, live: LiveStackSet | None, tree: OrgTree, policy: DeletionPolicy
) -> StackSetPlan:
    plan = _plan_stackset(desired, live, tree, policy)
    return replace(plan, targets=plan.targets + _override_rows(desired))


def _plan_stackset(
    desired: DesiredStackSet, live: LiveStackSet | None, tree: OrgTree, policy: DeletionPolicy
) -> StackSetPlan:
    d = desired
    unchanged_targets = tuple(
        TargetChange(t.path, t.ou_id, Change.KEEP, len(t.accounts)) for t in d.targets
    ) + tuple(TargetChange(s.path, s.ou_id, Change.SKIP, 0, s.reason) for s in d.skipped)
    if live is None:
        return _plan_new(d, policy)
    if live.permission_model != d.content.permission_model:
        return StackSetPlan(
            d.name,
            d.spec.kind,
            FAILED,
            (),
            d.tag,
            live.hash_tag,
            unchanged_targets,
            (
                f"live permission model is {live.permission_model}, the manifest wants "
                f"{d.content.permission_model}: a StackSet cannot switch; delete it (retaining stacks) first",
            ),
        )
    if live.instances is None and looks_unchanged(d, live):
        # Instances listed anyway are planned from: they are the surer read.
        return StackSetPlan(d.name, d.spec.kind, UNCHANGED, (), d.tag, live.hash_tag, unchanged_targets)
    plan = _plan_existing(d, live, tree, policy)
    if not plan.ops and plan.action == UPDATE:
        # Read in full (account-level targets, or an excluded account under its target) and in place.
        return replace(plan, action=UNCHANGED)
    if live.rollout_missing:
        note = "the plan that wrote the hash stopped before its last operation: finishing it"
        return replace(plan, notes=(note, *plan.notes))
    if live.rollout_failed:
        note = "the operation that wrote the hash failed or left failed instances: repairing"
        return replace(plan, notes=(note, *plan.notes))
    if live.excluded_reached:
        note = f"excluded account(s) {', '.join(live.excluded_reached)} got an instance from AutoDeployment"
        return replace(plan, notes=(note, *plan.notes))
    if live.unhealthy:
        note = f"instances found {', '.join(live.unhealthy)} (AutoDeployment's or an earlier run's)"
        return replace(plan, notes=(note, *plan.notes))
    return plan


def plan_orphan(live: LiveStackSet, tree: OrgTree, policy: DeletionPolicy) -> StackSetPlan:
    """A StackSet with our prefix and hash tag that the manifest no longer lists."""
    instances = live.instances or ()
    if not policy.delete_orphaned_stacksets:
        return StackSetPlan(
            live.name,
            "orphan",
            ORPHAN,
            notes=(
                f"not in the manifest; {len(instances)} instance(s) left in place "
                "(set deletion.delete_orphaned_stacksets in org.yaml to delete it)",
            ),
            live_tag=live.hash_tag,
        )
    ops: list[Op] = []
    regions = tuple(sorted({i.region for i in instances} or set(live.regions)))
    if instances:
        if live.permission_model == PermissionModel.SERVICE_MANAGED:
            # At most 50 OU ids per DeleteStackInstances call (limits.OUS_PER_INSTANCES_CALL).
            all_ids = tuple(sorted({i.ou_id for i in instances if i.ou_id}))
            for ou_ids in chunks(all_ids, limits.OUS_PER_INSTANCES_CALL):
                ops.append(
                    DeleteInstances(
                        stackset=live.name,
                        regions=regions,
                        ou_ids=ou_ids,
                        accounts=(),
                        account_filter="NONE",
                        retain_stacks=policy.retain_stacks,
                        count=sum(1 for i in instances if i.ou_id in ou_ids),
                        paths=tuple(tree.path_of(i) or i for i in ou_ids),
                    )
                )
        else:
            accts = tuple(sorted({i.account for i in instances}))
            ops.append(
                DeleteInstances(
                    stackset=live.name,
                    regions=regions,
                    ou_ids=(),
                    accounts=accts,
                    account_filter="NONE",
                    retain_stacks=policy.retain_stacks,
                    count=len(instances),
                )
            )
    ops.append(DeleteStackSet(stackset=live.name))
    return StackSetPlan(
        live.name,
        "orphan",
        ORPHAN,
        tuple(ops),
        None,
        live.hash_tag,
        notes=("not in the manifest: deleting it",),
    )


def management_tag(spec: ManagementStackSpec) -> str:
    return "v1." + digest(
        [spec.template_sha256, sorted(spec.parameters.items()), spec.capabilities, sorted(spec.tags.items())]
    )


def plan_management(spec: ManagementStackSpec, live: LiveStack | None) -> StackSetPlan:
    tag = management_tag(spec)
    tags = tuple(sorted({**spec.tags, HASH_TAG: tag}.items()))
    create = DeployStack(
        stackset=spec.name,
        region=spec.region,
        template=spec.template,
        parameters=tuple(sorted(spec.parameters.items())),
        capabilities=spec.capabilities,
        tags=tags,
        change_set_type="CREATE",
        role_arn=spec.service_role_arn,
    )
    if live is None or live.status == "REVIEW_IN_PROGRESS":
        return StackSetPlan(spec.name, "management-stack", CREATE, (create,), tag, None)
    live_tag = live.tags.get(HASH_TAG)
    if live.status == "ROLLBACK_COMPLETE":
        return StackSetPlan(
            spec.name,
            "management-stack",
            FAILED,
            (),
            tag,
            live_tag,
            notes=(
                "the stack's creation failed and rolled back (ROLLBACK_COMPLETE): delete it, then sync again",
            ),
        )
    if live_tag == tag and live.status.endswith("_COMPLETE"):
        return StackSetPlan(spec.name, "management-stack", UNCHANGED, (), tag, live_tag)
    op = replace(create, change_set_type="UPDATE")
    return StackSetPlan(spec.name, "management-stack", UPDATE, (op,), tag, live_tag)


def count_instances(desired: Mapping[str, DesiredStackSet], live: Mapping[str, LiveStackSet]) -> int:
    """Our stack instances, for the deletion guard's percentage: counted where read, else as desired."""
    total = 0
    for name, d in desired.items():
        got = live.get(name)
        if got is not None and got.instances is not None:
            total += len(got.instances)
        elif got is not None:
            total += len(d.accounts) * len(d.spec.regions)
    for name, got in live.items():
        if name not in desired and got.instances is not None:
            total += len(got.instances)
    return total
