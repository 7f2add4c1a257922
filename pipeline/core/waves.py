"""Pure: canary waves (org.yaml `rollout: waves:`). Which wave each account is in, and a StackSet's plan cut
into waves: every operation limited to the accounts of one wave, the waves in order.

An account is in the wave that lists its OU or the nearest OU above it (the deepest listed path wins);
every other account is in the last wave, the rest of the organization. The sync runs one wave across all
StackSets at a time and starts the next only when every operation of the wave succeeded with no failed
instance (pipeline.sync.apply_plan).

How each operation is cut, per the StackSet API:
- UpdateStackSet with a new template or parameters goes to the first wave only, limited to its accounts
  (DeploymentTargets Accounts, service-managed, or Accounts, self-managed, with Regions): CloudFormation
  then updates only those instances and marks the others OUTDATED, which keep their template
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackSet.html, Accounts).
  Each later wave gets a WaveUpdate: a tag-only UpdateStackSet with UsePreviousTemplate, limited to its
  accounts, which deploys the StackSet's template there. Updates name accounts only, never OUs with a
  filter: "For update operations, you can specify either Accounts or OrganizationalUnitIds"
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html), the
  harsher of its two readings.
- CreateStackInstances and DeleteStackInstances name the same OU targets, narrowed to the wave's accounts
  with AccountFilterType INTERSECTION; the last part keeps the operation's own filter (DIFFERENCE also
  leaving out the accounts of earlier waves), so an OU target is added or removed as a whole
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html).
- UpdateStackInstances (per-OU values) and tag-only updates take account lists: cut by account.
- CreateStackSet goes first, DeleteStackSet last, the management-account stack in the last wave.
The tag every update carries is trusted only once the plan's last operation (in its last wave) succeeded
(pipeline.aws.executor.Executor.vouching_id), so a rollout stopped at a wave is finished by the next run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from pipeline.core import limits
from pipeline.core.desired import DesiredStackSet, chunks
from pipeline.core.live import LiveInstance
from pipeline.core.manifest import is_at_or_below
from pipeline.core.ops import (
    CommitHash,
    CreateInstances,
    CreateStackSet,
    DeleteInstances,
    DeleteStackSet,
    Op,
    UpdateOverrides,
    UpdateStackSet,
    WaveUpdate,
)
from pipeline.core.org import OrgTree

REST = "the rest of the organization"


def wave_of_path(path: str, waves: tuple[tuple[str, ...], ...]) -> int:
    """The wave of an OU path: that of the deepest listed OU at or above it, else the last wave."""
    best, depth = len(waves), -1
    for n, wave in enumerate(waves):
        for listed in wave:
            if is_at_or_below(path, listed) and listed.count("/") > depth:
                best, depth = n, listed.count("/")
    return best


@dataclass(frozen=True)
class Waves:
    """The waves of one organization read: their OU paths and every account's wave."""

    paths: tuple[tuple[str, ...], ...]
    of_account: Mapping[str, int]

    @property
    def count(self) -> int:
        return len(self.paths) + 1

    def of(self, account: str) -> int:
        return self.of_account.get(account, len(self.paths))

    def label(self, wave: int) -> str:
        return ", ".join(self.paths[wave]) if wave < len(self.paths) else REST

    def labels(self) -> tuple[str, ...]:
        return tuple(self.label(n) for n in range(self.count))

    def group(self, accounts: Iterable[str]) -> dict[int, tuple[str, ...]]:
        """Accounts by wave, waves in order, accounts sorted."""
        out: dict[int, set[str]] = {}
        for a in accounts:
            out.setdefault(self.of(a), set()).add(a)
        return {w: tuple(sorted(out[w])) for w in sorted(out)}


def account_waves(tree: OrgTree, waves: tuple[tuple[str, ...], ...]) -> Waves:
    of = {a: wave_of_path(tree.account_path(a) or "Root", waves) for a in tree.accounts}
    return Waves(waves, of)


@dataclass(frozen=True)
class _Context:
    waves: Waves
    instances: tuple[LiveInstance, ...]
    reach: Mapping[str, tuple[str, ...]]  # OU target id -> the accounts it reaches (desired)

    def ous_of(self, accounts: tuple[str, ...], among: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The OU targets through which these accounts hold (or will hold) their instances."""
        found = {i.ou_id for i in self.instances if i.account in accounts and i.ou_id}
        found |= {ou for ou, reached in self.reach.items() if set(reached) & set(accounts)}
        return tuple(sorted(found & set(among) if among else found))


# A part of the cut plan: (wave, position among the StackSet's operations, operation).
Part = tuple[int, float, Op]


def _scope(
    ctx: _Context, op: UpdateStackSet | CommitHash, accounts: tuple[str, ...]
) -> UpdateStackSet | CommitHash:
    """The update limited to one wave's accounts (and every region the StackSet has instances in)."""
    return replace(op, accounts=accounts, regions=tuple(sorted({i.region for i in ctx.instances})))


def _cut_update(
    ctx: _Context, at: float, op: UpdateStackSet | CommitHash, gains: Mapping[int, tuple[str, ...]]
) -> list[Part]:
    """A (content or tag-only) update over every instance, cut by wave; `gains`: the accounts that get a
    new instance, by wave (those of the earliest such wave must get the new template in that wave)."""
    held = tuple(sorted({i.account for i in ctx.instances}))
    groups = ctx.waves.group(held)
    start = min([*groups, *gains], default=0)
    if len(groups) <= 1 and (not groups or start == min(groups)):
        return [(start, at, op)]
    parts: list[Part] = []
    content = isinstance(op, UpdateStackSet)
    if start not in groups and content:
        # The first wave only gains instances: they are created with the StackSet's old template, then
        # this update (after them in the wave) gives them the new one before any later wave starts.
        parts.append((start, at + 1000, _scope(ctx, op, gains[start])))
        content = False
    for wave, accounts in groups.items():
        if content:
            parts.append((wave, at, _scope(ctx, op, accounts)))
            content = False
        else:
            parts.append(
                (
                    wave,
                    at,
                    _scope(ctx, WaveUpdate(stackset=op.stackset, content=op.content, tag=op.tag), accounts),
                )
            )
    return parts


def _create_reach(ctx: _Context, op: CreateInstances) -> tuple[str, ...]:
    if op.account_filter == "INTERSECTION" or not op.ou_ids:
        return op.accounts
    reached = {a for ou in op.ou_ids for a in ctx.reach.get(ou, ())}
    if op.account_filter == "DIFFERENCE":
        reached -= set(op.accounts)
    return tuple(sorted(reached))


def _paths(op: CreateInstances | DeleteInstances, ou_ids: tuple[str, ...]) -> tuple[str, ...]:
    if len(op.paths) != len(op.ou_ids):
        return op.paths
    names = dict(zip(op.ou_ids, op.paths, strict=True))
    return tuple(names[o] for o in ou_ids)


def _cut_create(ctx: _Context, at: float, op: CreateInstances) -> list[Part]:
    groups = ctx.waves.group(_create_reach(ctx, op))
    if len(groups) <= 1:
        return [(next(iter(groups), 0), at, op)]
    parts: list[Part] = []
    earlier: set[str] = set()
    for n, (wave, accounts) in enumerate(groups.items()):
        if not op.ou_ids:
            parts += [
                (wave, at, replace(op, accounts=c))
                for c in chunks(accounts, limits.ACCOUNTS_PER_INSTANCES_CALL)
            ]
        elif n == len(groups) - 1 and op.account_filter != "INTERSECTION":
            parts.append(
                (
                    wave,
                    at,
                    replace(
                        op, accounts=tuple(sorted(earlier | set(op.accounts))), account_filter="DIFFERENCE"
                    ),
                )
            )
        else:
            ous = ctx.ous_of(accounts, op.ou_ids) or op.ou_ids
            for c in chunks(accounts, limits.ACCOUNTS_PER_INSTANCES_CALL):
                narrowed = replace(
                    op, ou_ids=ous, paths=_paths(op, ous), accounts=c, account_filter="INTERSECTION"
                )
                parts.append((wave, at, narrowed))
        earlier |= set(accounts)
    return parts


def _delete_reach(ctx: _Context, op: DeleteInstances) -> list[LiveInstance]:
    out = []
    for i in ctx.instances:
        if i.region not in op.regions or (op.ou_ids and i.ou_id not in op.ou_ids):
            continue
        named = i.account in op.accounts
        if op.account_filter == "DIFFERENCE" and named:
            continue
        if (op.account_filter == "INTERSECTION" or not op.ou_ids) and not named:
            continue
        out.append(i)
    return out


def _cut_delete(ctx: _Context, at: float, op: DeleteInstances) -> list[Part]:
    gone = _delete_reach(ctx, op)
    groups = ctx.waves.group(i.account for i in gone)
    if len(groups) <= 1:
        return [(next(iter(groups), ctx.waves.count - 1), at, op)]
    parts: list[Part] = []
    for n, (wave, accounts) in enumerate(groups.items()):
        count = sum(1 for i in gone if i.account in accounts)
        if n == len(groups) - 1 and op.ou_ids and op.account_filter != "INTERSECTION":
            # Earlier waves' instances are gone by now: the operation as planned removes the rest (and
            # the OU target with them).
            parts.append((wave, at, replace(op, count=count)))
        elif op.ou_ids:
            ous = tuple(sorted({i.ou_id for i in gone if i.account in accounts and i.ou_id}))
            narrowed = replace(
                op,
                ou_ids=ous,
                paths=_paths(op, ous),
                accounts=accounts,
                account_filter="INTERSECTION",
                count=count,
            )
            parts.append((wave, at, narrowed))
        else:
            parts.append((wave, at, replace(op, accounts=accounts, count=count)))
    return parts


def _cut_accounts(ctx: _Context, at: float, op: UpdateOverrides | CommitHash) -> list[Part]:
    return [(w, at, replace(op, accounts=accounts)) for w, accounts in ctx.waves.group(op.accounts).items()]


def _end_wave(op: Op, used: list[int], count: int) -> int:
    """CreateStackSet before its first instance, DeleteStackSet after its last; the management-account
    stack (its account sits at the root, in no listed OU) with the rest of the organization."""
    if isinstance(op, CreateStackSet):
        return min(used, default=0)
    if isinstance(op, DeleteStackSet):
        return max(used, default=count - 1)
    return count - 1


def cut(
    ops: tuple[Op, ...],
    waves: Waves,
    desired: DesiredStackSet | None,
    instances: tuple[LiveInstance, ...] | None,
) -> tuple[tuple[Op, ...], tuple[int, ...]]:
    """One StackSet's operations cut into waves: the operations in wave order and the wave of each."""
    reach = {t.ou_id: t.accounts for t in desired.targets} if desired is not None else {}
    ctx = _Context(waves, instances or (), reach)
    parts: list[Part] = []
    updates: list[tuple[float, UpdateStackSet | CommitHash]] = []  # cut once the creations are known
    ends: list[tuple[float, Op]] = []
    for index, op in enumerate(ops):
        at = float(index)
        if isinstance(op, CreateInstances):
            parts += _cut_create(ctx, at, op)
        elif isinstance(op, DeleteInstances):
            parts += _cut_delete(ctx, at, op)
        elif isinstance(op, UpdateOverrides) or (isinstance(op, CommitHash) and op.accounts):
            parts += _cut_accounts(ctx, at, op)
        elif isinstance(op, UpdateStackSet | CommitHash):
            updates.append((at, op))
        else:
            ends.append((at, op))
    gains: dict[int, set[str]] = {}
    for w, _at, op in parts:
        if isinstance(op, CreateInstances):
            gains.setdefault(w, set()).update(_create_reach(ctx, op))
    for at, op in updates:
        parts += _cut_update(ctx, at, op, {w: tuple(sorted(a)) for w, a in gains.items()})
    used = [w for w, _at, _op in parts]
    parts += [(_end_wave(op, used, waves.count), at, op) for at, op in ends]
    parts.sort(key=lambda p: (p[0], p[1]))
    return tuple(p[2] for p in parts), tuple(p[0] for p in parts)
