"""Pure: the live organization as a typed snapshot of the OU tree, and the resolution of manifest OU paths.

The reader that builds an OrgTree from Organizations is pipeline.aws.organizations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pipeline.core.manifest import Manifest


@dataclass(frozen=True)
class OrgUnit:
    id: str
    name: str
    parent_id: str | None
    path: str


class AccountState(StrEnum):
    """An account's place in its life cycle, Organizations' `State` (it replaced `Status` on 2026-09-09:
    https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_account_state.html).
    Only ACTIVE accounts are deployable; any other state, or one AWS adds later, is not."""

    PENDING_ACTIVATION = "PENDING_ACTIVATION"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    PENDING_CLOSURE = "PENDING_CLOSURE"
    CLOSED = "CLOSED"


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    parent_id: str
    state: str = AccountState.ACTIVE

    @property
    def active(self) -> bool:
        return self.state == AccountState.ACTIVE


@dataclass(frozen=True)
class OrgTree:
    """One consistent read of the organization: every OU by id (the root included) and every account."""

    organization_id: str
    management_account_id: str
    root_id: str
    units: Mapping[str, OrgUnit]
    accounts: Mapping[str, Account]
    _children: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)
    _by_path: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    _accounts_in: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for unit in self.units.values():
            self._by_path[unit.path] = unit.id
            if unit.parent_id is not None:
                self._children.setdefault(unit.parent_id, []).append(unit.id)
        for kids in self._children.values():
            kids.sort(key=lambda i: self.units[i].path)
        for acct in self.accounts.values():
            self._accounts_in.setdefault(acct.parent_id, []).append(acct.id)
        for accts in self._accounts_in.values():
            accts.sort()

    def by_path(self, path: str) -> OrgUnit | None:
        unit_id = self._by_path.get(path)
        return self.units[unit_id] if unit_id else None

    def path_of(self, unit_id: str) -> str | None:
        unit = self.units.get(unit_id)
        return unit.path if unit else None

    def subtree(self, unit_id: str) -> Iterator[str]:
        """The OU and every OU below it, parents first."""
        stack = [unit_id]
        while stack:
            current = stack.pop(0)
            yield current
            stack[0:0] = self._children.get(current, [])

    def accounts_under(self, unit_id: str) -> list[Account]:
        """Every account in the OU and the OUs below it (what a service-managed OU target reaches)."""
        return [self.accounts[a] for u in self.subtree(unit_id) for a in self._accounts_in.get(u, [])]

    def member_accounts_under(self, unit_id: str) -> tuple[list[str], list[str]]:
        """(ACTIVE, not ACTIVE) member accounts below an OU; the management account is never a member target."""
        active: list[str] = []
        inactive: list[str] = []
        for acct in self.accounts_under(unit_id):
            if acct.id == self.management_account_id:
                continue
            (active if acct.active else inactive).append(acct.id)
        return sorted(active), sorted(inactive)

    def account_path(self, account_id: str) -> str | None:
        acct = self.accounts.get(account_id)
        return self.path_of(acct.parent_id) if acct else None


class OuState(StrEnum):
    """What a manifest OU is in the live tree."""

    OK = "ok"
    RENAMED = "renamed"
    MISSING = "missing"
    EMPTY = "empty"


OK, RENAMED, MISSING, EMPTY = OuState


@dataclass(frozen=True)
class OuStatus:
    """What the manifest's OU is in the live tree. usable: the sync may add targets for it."""

    path: str
    state: OuState
    ou_id: str | None = None
    live_path: str | None = None
    accounts: tuple[str, ...] = ()
    inactive: Mapping[str, str] = field(default_factory=dict)  # account -> its State, never ACTIVE
    message: str = ""

    @property
    def usable(self) -> bool:
        return self.state in (OK, RENAMED)

    @property
    def exists(self) -> bool:
        return self.ou_id is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "state": self.state,
            "ou_id": self.ou_id,
            "live_path": self.live_path,
            "accounts": len(self.accounts),
            "inactive_accounts": dict(self.inactive),
            "message": self.message,
        }


def resolve_ou(path: str, pinned: str | None, tree: OrgTree) -> OuStatus:
    if pinned is not None:
        unit = tree.units.get(pinned)
        if unit is None:
            return OuStatus(path, MISSING, message=f"pinned id {pinned} does not exist in the organization")
    else:
        unit = tree.by_path(path)
        if unit is None:
            return OuStatus(path, MISSING, message="no OU at this path in the organization yet")
    active, inactive = tree.member_accounts_under(unit.id)
    if unit.path != path:
        state, message = RENAMED, f"pinned id {unit.id} is now at {unit.path} (renamed or moved)"
    elif not active:
        state, message = EMPTY, "no active member accounts in this OU or below"
    else:
        state, message = OK, ""
    states = {a: tree.accounts[a].state for a in inactive}
    if states:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(Counter(states.values()).items()))
        message = (
            message + "; " if message else ""
        ) + f"{len(states)} account(s) not ACTIVE skipped ({counts})"
    return OuStatus(path, state, unit.id, unit.path, tuple(active), states, message)


def resolve(manifest: Manifest, tree: OrgTree) -> dict[str, OuStatus]:
    """Every manifest OU, plus any OU a target or override pins or names, resolved against the tree."""
    pins: dict[str, str | None] = {e.path: e.ou_id for e in manifest.ous}
    for spec in manifest.stacksets:
        named: list[tuple[str, str | None]] = [(t.ou_path, t.ou_id) for t in spec.targets]
        named += [(o.ou_path, o.ou_id) for o in spec.parameter_overrides]
        for path, ou_id in named:
            if ou_id is not None:
                pins[path] = ou_id
            pins.setdefault(path, None)
    return {path: resolve_ou(path, pin, tree) for path, pin in sorted(pins.items())}


def assess_read(manifest: Manifest, tree: OrgTree, statuses: Mapping[str, OuStatus]) -> list[str]:
    """Reasons the read looks wrong (then no deletion may happen); empty when it looks sound."""
    reasons = []
    members = [a for a in tree.accounts if a != tree.management_account_id]
    if not members:
        reasons.append("the organization read returned no member accounts")
    expected = [p for p in statuses if p != "Root"]
    found = [p for p in expected if statuses[p].exists]
    if expected and len(found) * 2 < len(expected):
        reasons.append(
            f"only {len(found)} of the manifest's {len(expected)} OUs exist in the organization read"
        )
    if len(tree.units) == 1 and expected:
        reasons.append("the organization read returned no OUs below the root")
    return reasons
