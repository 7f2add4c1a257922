"""Records of the StackSet emulator (pipeline.emulator.stacksets): the organization it sees, StackSets,
instances, stacks and operations, and their JSON persistence for --local."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Protocol

import yaml

STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class ApiError(Exception):
    """An AWS error response: code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class OrgSnapshot:
    management_account: str
    parents: Mapping[str, str | None]  # OU or root id -> parent id (None for the root)
    accounts: Mapping[str, tuple[str, str]]  # account -> (parent id, status)
    delegated_admins: frozenset[str] = frozenset()

    @cached_property
    def _children(self) -> dict[str | None, list[str]]:
        children: dict[str | None, list[str]] = {}
        for child, parent in self.parents.items():
            children.setdefault(parent, []).append(child)
        return children

    def subtree(self, unit: str) -> set[str]:
        found, stack = set(), [unit]
        while stack:
            current = stack.pop()
            found.add(current)
            stack.extend(self._children.get(current, []))
        return found

    def accounts_under(self, unit: str) -> list[str]:
        units = self.subtree(unit)
        return sorted(a for a, (parent, _s) in self.accounts.items() if parent in units)

    def members_under(self, unit: str) -> list[str]:
        return [a for a in self.accounts_under(unit) if a != self.management_account]


class OrgView(Protocol):
    def snapshot(self) -> OrgSnapshot | None: ...


class Materializer(Protocol):
    """Creates the real resources of a stack instance (for tests: in moto's per-account backends)."""

    def apply(
        self, account: str, region: str, stack: str, template: str, parameters: Mapping[str, str]
    ) -> str | None: ...

    def delete(self, account: str, region: str, stack: str) -> None: ...

    def roles(self, account: str, region: str, stack: str) -> dict[str, Any]:
        """The stack's IAM roles as they are now (pipeline.emulator.drift.RoleStates), for drift."""
        ...


@dataclass
class Instance:
    account: str
    region: str
    ou_id: str | None
    stack_name: str
    overrides: dict[str, str] = field(default_factory=dict)
    status: str = "OUTDATED"
    detailed: str = "PENDING"
    reason: str = ""
    last_op: str = ""
    drift: str = "NOT_CHECKED"  # DriftStatus after the last drift detection (API_StackInstanceSummary)


@dataclass
class Stack:
    """A stack an instance created; kept (retained) when its instance goes with RetainStacks."""

    account: str
    region: str
    name: str
    stackset: str
    template_sha: str
    parameters: dict[str, str]
    retained: bool = False
    # The roles as the template made them when the stack deployed (pipeline.emulator.drift.RoleStates).
    expected: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] | None = None  # the roles as they were when --local saved its state


@dataclass
class Operation:
    id: str
    action: str
    seq: int
    ticks_left: int
    targets: list[tuple[str, str]]
    preferences: dict[str, Any] = field(default_factory=dict)
    retain_stacks: bool | None = None
    deployment_targets: dict[str, Any] | None = None
    full_delete_ous: list[str] = field(default_factory=list)
    status: str = "RUNNING"
    end_seq: int | None = None
    ends_at: float | None = None  # simulated time it ends at (pipeline.emulator.throttle), else by ticks
    results: dict[str, list[str]] = field(default_factory=dict)  # "account/region" -> [status, reason, ou]
    failed: int = 0
    reason: str = ""
    drifts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # DETECT_DRIFT: rows per instance


@dataclass
class StackSetRecord:
    name: str
    id: str
    admin_account: str
    region: str
    description: str
    template: str
    parameters: dict[str, str]
    capabilities: list[str]
    tags: dict[str, str]
    permission_model: str
    auto_deployment: dict[str, bool] | None
    admin_role: str | None
    exec_role: str | None
    client_token: str | None = None
    status: str = "ACTIVE"
    ou_ids: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    instances: dict[str, Instance] = field(default_factory=dict)  # "account/region"
    operations: dict[str, Operation] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:cloudformation:{self.region}:{self.admin_account}:stackset/{self.id}"

    def running(self) -> Operation | None:
        return next((o for o in self.operations.values() if o.status in ("RUNNING", "QUEUED")), None)


def key(account: str, region: str) -> str:
    return f"{account}/{region}"


def template_parameters(body: str) -> set[str]:
    """Parameter names a template declares (JSON or YAML, CloudFormation short tags tolerated)."""

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = yaml.load(body, Loader=_Loader)
    params = doc.get("Parameters") if isinstance(doc, dict) else None
    return set(params) if isinstance(params, dict) else set()


def sha(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def page(rows: list[dict[str, Any]], p: dict[str, Any], key: str) -> dict[str, Any]:
    start = int(p.get("NextToken") or 0)
    size = int(p.get("MaxResults") or 100)
    out: dict[str, Any] = {key: rows[start : start + size]}
    if start + size < len(rows):
        out["NextToken"] = str(start + size)
    return out


def snapshot_json(snap: OrgSnapshot | None) -> dict[str, Any] | None:
    if snap is None:
        return None
    return {
        "management_account": snap.management_account,
        "parents": dict(snap.parents),
        "accounts": {k: list(v) for k, v in snap.accounts.items()},
        "delegated_admins": sorted(snap.delegated_admins),
    }


def snapshot_from_json(data: Mapping[str, Any] | None) -> OrgSnapshot | None:
    if not data:
        return None
    return OrgSnapshot(
        data["management_account"],
        dict(data["parents"]),
        {k: (v[0], v[1]) for k, v in data["accounts"].items()},
        frozenset(data.get("delegated_admins", [])),
    )
