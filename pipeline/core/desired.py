"""Pure: what each StackSet should look like against this organization, and its hash tag.

The hash tag covers only what an UpdateStackSet writes (the template, parameters and settings) and the
per-account parameter overrides applied with it: it is sent with the update itself, so a content change
costs exactly one rollout. Targets (OUs, regions, accounts) are compared with the live StackSet directly
each run, so a target-only change needs no UpdateStackSet at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.core.manifest import (
    HASH_TAG,
    WINDOW_SESSION_PARAMETER,
    Kind,
    Manifest,
    Override,
    StackSetSpec,
    is_at_or_below,
    path_depth,
)
from pipeline.core.ops import Content, Pairs, digest
from pipeline.core.org import OrgTree, OuStatus

# Tag values: "v2.<state>.<overrides>.<before>.<operation>". <overrides> is the override digest the plan
# that wrote the tag applies, <before> the one applied before it (what a run finds applied if that plan
# never finished). The planner's tag stops at <before>; the executor appends the OperationId of the last
# StackSet operation of the same plan when it sends the tag (with the CreateStackSet or UpdateStackSet
# that carries it), so the next run checks exactly that operation (DescribeStackSetOperation: one read,
# whatever order ListStackSetOperations lists in). <operation> is empty when the plan ran no StackSet
# operation. A v1 tag (before one rollout per change) never matches: the next run re-records the hash with a
# tag-only update of one instance, keeping the override digest it recorded.
TAG_VERSION = "v2"
LEGACY_VERSION = "v1"
NO_OVERRIDES = "0" * 16
UNKNOWN = "unknown"


@dataclass(frozen=True)
class HashTag:
    state: str | None
    overrides: str | None
    before: str | None  # overrides applied before the plan that wrote the tag; None: unknown
    operation: str | None  # the OperationId whose success vouches for the tag; None: nothing to check

    @classmethod
    def parse(cls, value: str | None) -> HashTag:
        parts = (value or "").split(".")
        if len(parts) == 3 and parts[0] == LEGACY_VERSION and parts[2]:
            # "v1.<state or pending>.<overrides>", written last by a tag-only update: its state never
            # matches (the hash covered other things), its override digest is computed as now.
            applied = None if parts[2] == UNKNOWN else parts[2]
            return cls(None, applied, applied, None)
        if len(parts) not in (4, 5) or parts[0] != TAG_VERSION or not all(parts[1:4]):
            return cls(None, None, None, None)
        operation = parts[4] if len(parts) == 5 and parts[4] else None
        return cls(parts[1], parts[2], None if parts[3] == UNKNOWN else parts[3], operation)

    def matches(self, desired: DesiredStackSet) -> bool:
        """Whether the tag records the desired content and overrides (its operation checked apart)."""
        return self.state == desired.state_digest and self.overrides == desired.overrides_digest


def sealed(tag: str, operation: str | None) -> str:
    """The tag as sent: the planner's tag and the OperationId that will vouch for it."""
    return f"{tag}.{operation or ''}"


@dataclass(frozen=True)
class DesiredTarget:
    path: str
    ou_id: str
    excluded: tuple[str, ...]
    accounts: tuple[str, ...]  # active member accounts it reaches, excluded ones left out


@dataclass(frozen=True)
class SkippedTarget:
    path: str
    ou_id: str | None
    reason: str


@dataclass(frozen=True)
class OverrideGroup:
    """Accounts whose effective overrides (deepest OU wins, key by key) are the same."""

    parameters: Pairs
    accounts: tuple[str, ...]
    paths: tuple[str, ...]


@dataclass(frozen=True)
class DesiredStackSet:
    spec: StackSetSpec
    content: Content
    targets: tuple[DesiredTarget, ...]
    skipped: tuple[SkippedTarget, ...]
    accounts: tuple[str, ...]  # every account that should hold an instance
    inactive: tuple[str, ...]  # accounts whose existing instances are left alone
    login_parent: str | None  # service-managed login-account: the OU the account sits in
    login_path: str | None
    groups: tuple[OverrideGroup, ...]
    hold_removals: str | None  # why OU targets must not be removed this run, if they must not
    state_digest: str
    overrides_digest: str
    # Excluded accounts under their target OU: AutoDeployment, which ignores account filters, may give them
    # an instance at any time, so each sync looks for one (pipeline.core.planner.needs_exclusion_check).
    excluded_present: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        return f"{TAG_VERSION}.{self.state_digest}.{self.overrides_digest}"

    def tag_after(self, applied: str | None) -> str:
        """The planner's tag for a plan that starts with `applied` overrides in place (None: unknown)."""
        return f"{self.tag}.{applied or UNKNOWN}"

    @property
    def name(self) -> str:
        return self.spec.name


def content_for(spec: StackSetSpec, manifest: Manifest) -> Content:
    org = manifest.org
    tags = {**org.tags, **spec.tags}
    tags.pop(HASH_TAG, None)
    auto: tuple[bool, bool] | None = None
    if org.service_managed:
        # Roles follow accounts into and out of their OUs; the login-account StackSet targets one account, so
        # AutoDeployment (which would add every new account of that OU) stays off for it.
        # RetainStacksOnAccountRemoval is false even when deletion.retain_stacks opts in: AutoDeployment
        # handles a move between two target OUs as a delete and a queued create ("Enable or disable automatic
        # deployments for StackSets in AWS Organizations",
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html),
        # and a retained stack would keep the named role, so that create would fail with EntityAlreadyExists
        # and leave the account with an unmanaged role. An account that leaves its OUs loses the role.
        auto = (True, False) if spec.kind == Kind.ROLE else (False, False)
    return Content(
        template=spec.template,
        template_sha256=spec.template_sha256,
        description=spec.description,
        parameters=tuple(sorted(spec.parameters.items())),
        capabilities=spec.capabilities,
        tags=tuple(sorted(tags.items())),
        permission_model=org.permission_model,
        auto_deployment=auto,
        administration_role_arn=None if org.service_managed else org.administration_role_arn,
        execution_role_name=None if org.service_managed else org.execution_role_name,
    )


def effective_overrides(path: str, overrides: tuple[Override, ...]) -> dict[str, str]:
    """The override values at an OU path: every override at or above it, the deepest OU winning per key."""
    values: dict[str, str] = {}
    for o in sorted(overrides, key=lambda o: path_depth(o.ou_path)):
        if is_at_or_below(path, o.ou_path):
            values.update(o.parameters)
    return values


def window_notes(spec: StackSetSpec) -> tuple[str, ...]:
    """Which values an account gets between joining a target OU and the next sync, for the plan.

    AutoDeployment creates its instance with the StackSet-level values, never the overrides ("Accounts
    added to the target OUs and their child OUs in the future won't use the overridden values",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html).
    MaxSessionDuration has an order (shorter grants less) and must be the shortest of every OU; the other
    parameters have none, so the plan names the value that applies in the window and where OUs differ.
    """
    differing: dict[str, list[str]] = {}
    broader: list[str] = []
    level_session = spec.parameters.get(WINDOW_SESSION_PARAMETER, "")
    for o in spec.parameter_overrides:
        for key, value in o.parameters.items():
            if value != spec.parameters.get(key):
                differing.setdefault(key, []).append(o.ou_path)
            numbers = value.isdigit() and level_session.isdigit()
            if key == WINDOW_SESSION_PARAMETER and numbers and int(value) < int(level_session):
                broader.append(f"{o.ou_path} ({value})")
    if not differing:
        return ()
    values = ", ".join(f"{k}={spec.parameters.get(k, '')}" for k in sorted(differing))
    where = "; ".join(f"{k} at {', '.join(sorted(paths))}" for k, paths in sorted(differing.items()))
    notes = [
        f"between syncs, accounts that join a target OU get the StackSet-level values {values} "
        f"(AutoDeployment ignores per-OU values) until the next sync sets the per-OU ones ({where})"
    ]
    if broader:
        notes.append(
            f"window broader than the OU: StackSet-level {WINDOW_SESSION_PARAMETER} {level_session} is longer "
            f"than at {', '.join(broader)}; render the manifest with the generator, which takes the shortest"
        )
    return tuple(notes)


def live_overrides(spec: StackSetSpec, statuses: Mapping[str, OuStatus]) -> tuple[Override, ...]:
    """The StackSet's overrides at their OUs' live paths, so a pinned, renamed OU keeps its overrides."""
    out = []
    for o in spec.parameter_overrides:
        status = statuses.get(o.ou_path)
        if status is not None and status.live_path is not None:
            out.append(Override(status.live_path, o.parameters, o.ou_id, o.source))
    return tuple(out)


def _groups(
    accounts: tuple[str, ...], tree: OrgTree, spec: StackSetSpec, statuses: Mapping[str, OuStatus]
) -> tuple[OverrideGroup, ...]:
    """Group accounts by effective overrides, each account at its live path."""
    overrides = live_overrides(spec, statuses)
    by_values: dict[Pairs, list[str]] = {}
    where: dict[Pairs, set[str]] = {}
    for acct in accounts:
        path = tree.account_path(acct) or ""
        values = tuple(sorted(effective_overrides(path, overrides).items()))
        by_values.setdefault(values, []).append(acct)
        where.setdefault(values, set()).add(path)
    return tuple(
        OverrideGroup(values, tuple(sorted(accts)), tuple(sorted(where[values])))
        for values, accts in sorted(by_values.items())
    )


def desire(
    spec: StackSetSpec, manifest: Manifest, tree: OrgTree, statuses: Mapping[str, OuStatus]
) -> DesiredStackSet:
    org = manifest.org
    content = content_for(spec, manifest)
    targets: list[DesiredTarget] = []
    skipped: list[SkippedTarget] = []
    inactive: set[str] = set()
    hold: list[str] = []
    for t in spec.targets:
        status = statuses[t.ou_path]
        inactive.update(status.inactive)
        if not status.usable:
            skipped.append(SkippedTarget(t.ou_path, status.ou_id, status.message or status.state))
            if not status.exists:
                hold.append(f"target {t.ou_path} is not in the organization")
            continue
        assert status.ou_id is not None
        accounts = tuple(a for a in status.accounts if a not in t.excluded_accounts)
        targets.append(DesiredTarget(t.ou_path, status.ou_id, t.excluded_accounts, accounts))
    login_parent = None
    if spec.kind == Kind.LOGIN_ACCOUNT:
        wanted = []
        for acct in spec.account_targets:
            live = tree.accounts.get(acct)
            if live is None:
                skipped.append(SkippedTarget(acct, None, f"account {acct} is not in the organization"))
            elif org.service_managed and acct == tree.management_account_id:
                skipped.append(
                    SkippedTarget(
                        acct, None, "service-managed StackSets never deploy to the management account"
                    )
                )
            elif not live.active:
                inactive.add(acct)
                skipped.append(SkippedTarget(acct, None, f"account {acct} is {live.state}, not ACTIVE"))
            else:
                wanted.append(acct)
                login_parent = live.parent_id
        accounts = tuple(sorted(wanted))
    else:
        accounts = tuple(sorted({a for t in targets for a in t.accounts}))
    groups = _groups(accounts, tree, spec, statuses) if spec.parameter_overrides else ()
    with_values = [(g.parameters, g.accounts) for g in groups if g.parameters]
    overrides_digest = digest(with_values) if with_values else NO_OVERRIDES
    excluded_present = tuple(
        sorted(a for t in targets for a in t.excluded if tree.account_path(a) and _under(tree, a, t.ou_id))
    )
    # Only what UpdateStackSet writes: targets, regions and accounts are compared with the live StackSet.
    state: dict[str, object] = {"content": content.digest()}
    return DesiredStackSet(
        spec=spec,
        content=content,
        targets=tuple(targets),
        skipped=tuple(skipped),
        accounts=accounts,
        inactive=tuple(sorted(inactive)),
        login_parent=login_parent,
        login_path=tree.path_of(login_parent) if login_parent else None,
        groups=groups,
        hold_removals="; ".join(hold) or None,
        state_digest=digest(state),
        overrides_digest=overrides_digest,
        excluded_present=excluded_present if org.service_managed else (),
    )


def _under(tree: OrgTree, account: str, unit_id: str) -> bool:
    acct = tree.accounts.get(account)
    return acct is not None and acct.parent_id in set(tree.subtree(unit_id))


def chunks(items: tuple[str, ...], size: int) -> list[tuple[str, ...]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or []
