"""The sync's operations as typed, serialisable data: what the planner returns and the executor runs.

Each operation has a stable key (its kind and arguments, hashed), from which the executor derives a
deterministic StackSet OperationId per run, so a retried invocation never starts the same operation twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

Pairs = tuple[tuple[str, str], ...]


def digest(data: Any, length: int = 16) -> str:
    """A short sha256 of canonical JSON (sorted keys, no whitespace)."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(raw.encode()).hexdigest()[:length]


@dataclass(frozen=True, kw_only=True)
class Content:
    """Everything UpdateStackSet sets on the StackSet itself (not per instance)."""

    template: str
    template_sha256: str
    description: str
    parameters: Pairs
    capabilities: tuple[str, ...]
    tags: Pairs
    permission_model: str
    auto_deployment: tuple[bool, bool] | None = None  # (Enabled, RetainStacksOnAccountRemoval)
    administration_role_arn: str | None = None
    execution_role_name: str | None = None

    def digest(self) -> str:
        return digest(asdict(self))


@dataclass(frozen=True, kw_only=True)
class Op:
    """Base of every operation. stackset is the StackSet (or stack) it acts on."""

    kind: ClassVar[str] = "op"
    # True for operations that run as StackSet operations (an OperationId, one at a time per StackSet).
    stackset_operation: ClassVar[bool] = True
    # Fields left out of to_dict (and so of the key) while empty: added for canary waves, they keep the
    # keys, ids and JSON of plans without waves as they were.
    optional: ClassVar[frozenset[str]] = frozenset()
    stackset: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{digest(self.to_dict())}"

    @property
    def deletions(self) -> int:
        return 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in self.optional and value == f.default:
                continue
            if isinstance(value, Content):
                value = {"template": value.template, "template_sha256": value.template_sha256}
            elif isinstance(value, tuple) and value and isinstance(value[0], tuple):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def describe(self) -> str:
        return self.kind


@dataclass(frozen=True, kw_only=True)
class CreateStackSet(Op):
    kind: ClassVar[str] = "create-stackset"
    stackset_operation: ClassVar[bool] = False
    content: Content
    tag: str

    def describe(self) -> str:
        return f"create StackSet from {self.content.template}"


@dataclass(frozen=True, kw_only=True)
class UpdateStackSet(Op):
    """Template, parameters, tags, description or settings changed: rolls out to every instance, carrying
    the new hash tag (one rollout per change)."""

    kind: ClassVar[str] = "update-stackset"
    optional: ClassVar[frozenset[str]] = frozenset({"accounts", "regions"})
    content: Content
    tag: str
    changes: tuple[str, ...] = ()
    # A canary wave's accounts (pipeline.core.waves); empty: every instance.
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def describe(self) -> str:
        where = f"{len(self.accounts)} account(s)" if self.accounts else "every instance"
        return f"update StackSet ({', '.join(self.changes) or 'settings'}) on {where}"


def _where(ou_ids: tuple[str, ...], paths: tuple[str, ...], accounts: tuple[str, ...], flt: str) -> str:
    names = ", ".join(paths or ou_ids)
    if accounts and names:
        word = {"INTERSECTION": "only", "DIFFERENCE": "except"}.get(flt, "and")
        return f"{names} ({word} {len(accounts)} account(s))"
    if accounts:
        return f"{len(accounts)} account(s)"
    return names


@dataclass(frozen=True, kw_only=True)
class CreateInstances(Op):
    kind: ClassVar[str] = "create-instances"
    regions: tuple[str, ...]
    ou_ids: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    account_filter: str = "NONE"
    paths: tuple[str, ...] = ()
    parameters: Pairs = ()  # ParameterOverrides the new instances start with

    def describe(self) -> str:
        where = _where(self.ou_ids, self.paths, self.accounts, self.account_filter)
        values = ", ".join(f"{k}={v}" for k, v in self.parameters)
        return f"add {where} with parameter overrides {values}" if values else f"add {where}"


@dataclass(frozen=True, kw_only=True)
class DeleteInstances(Op):
    kind: ClassVar[str] = "delete-instances"
    regions: tuple[str, ...]
    ou_ids: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    account_filter: str = "NONE"
    retain_stacks: bool = True
    count: int = 0
    paths: tuple[str, ...] = ()

    @property
    def deletions(self) -> int:
        return self.count

    def describe(self) -> str:
        keep = "retaining the stacks" if self.retain_stacks else "deleting the stacks"
        where = _where(self.ou_ids, self.paths, self.accounts, self.account_filter)
        return f"remove {where}: {self.count} instance(s), {keep}"


@dataclass(frozen=True, kw_only=True)
class UpdateOverrides(Op):
    """Per-OU parameter values for the given accounts (empty parameters: back to the StackSet's values)."""

    kind: ClassVar[str] = "update-overrides"
    regions: tuple[str, ...]
    accounts: tuple[str, ...]
    parameters: Pairs
    paths: tuple[str, ...] = ()

    def describe(self) -> str:
        values = ", ".join(f"{k}={v}" for k, v in self.parameters) or "StackSet values"
        where = ", ".join(self.paths) or f"{len(self.accounts)} account(s)"
        return f"parameter overrides {values} for {len(self.accounts)} account(s) in {where}"


@dataclass(frozen=True, kw_only=True)
class CommitHash(Op):
    """A tag-only UpdateStackSet, only where no content update carries the tag: after a change of overrides
    alone, or to repair a failed rollout. Limited to `accounts` (every instance when empty): with neither
    template nor parameters changed AWS updates only those instances and leaves the others as they are
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackSet.html, Accounts).

    UpdateStackSet keeps its changes, the tag included, even when its operation fails, so the tag names the
    operation that vouches for it and the next run trusts it only when that operation succeeded.
    """

    kind: ClassVar[str] = "commit"
    content: Content
    tag: str
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def describe(self) -> str:
        where = f"{len(self.accounts)} account(s)" if self.accounts else "every instance"
        return f"record the hash (tag-only update of {where})"


@dataclass(frozen=True, kw_only=True)
class WaveUpdate(CommitHash):
    """A canary wave after the first: the StackSet already holds the new template and parameters (the
    first wave's UpdateStackSet set them), so a tag-only update (UsePreviousTemplate, UsePreviousValue)
    limited to this wave's instances deploys them there and leaves later waves as they are."""

    kind: ClassVar[str] = "wave-update"

    def describe(self) -> str:
        return f"update StackSet (previous template) on {len(self.accounts)} account(s)"


@dataclass(frozen=True, kw_only=True)
class DeleteStackSet(Op):
    kind: ClassVar[str] = "delete-stackset"
    stackset_operation: ClassVar[bool] = False

    @property
    def deletions(self) -> int:
        return 1

    def describe(self) -> str:
        return "delete the (empty) StackSet"


@dataclass(frozen=True, kw_only=True)
class DeployStack(Op):
    """The management-account template: a plain stack through a change set."""

    kind: ClassVar[str] = "deploy-stack"
    stackset_operation: ClassVar[bool] = False
    region: str
    template: str
    parameters: Pairs
    capabilities: tuple[str, ...]
    tags: Pairs
    change_set_type: str  # CREATE or UPDATE
    # The CloudFormation service role the change set runs with; the sync's own role has no IAM rights.
    role_arn: str = ""

    def describe(self) -> str:
        verb = "create" if self.change_set_type == "CREATE" else "update"
        return f"{verb} stack {self.stackset} in {self.region} through a change set"
