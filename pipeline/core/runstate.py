"""Pure: what one pipeline action's run carries from invocation to invocation (the operations still
running, a walk under way, the complete walk it plans from), and when a stored walk may stand in for a
fresh one. The store that keeps it is pipeline.aws.syncstate; the token carries only its sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.core.errors import SyncError
from pipeline.core.orgwalk import OrgWalk

# The Organizations events after which a stored walk is stale: every call that changes which accounts an OU
# target reaches, or which OU a path names. EventBridge matches CloudTrail events of API calls by their
# eventName, the API action's name (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-organizations.html).
# Some changes are made by the member account, whose own trail logs the call; the management account gets
# a membership event instead, "available only in the management account's event history":
# AccountJoinedOrganization when an invited account accepts
# (https://docs.aws.amazon.com/organizations/latest/APIReference/API_AcceptHandshake.html) and
# AccountDepartedOrganization when one leaves
# (https://docs.aws.amazon.com/organizations/latest/APIReference/API_LeaveOrganization.html).
# CreateAccountResult and CloseAccountResult are published when an account's creation or closure completes
# (https://docs.aws.amazon.com/organizations/latest/APIReference/API_CloseAccount.html). AcceptHandshake in
# the management account (all-features approval) changes no OU, but costs only a run.
# The pipeline's watcher rule matches exactly these (generator/blueprints/org_pipeline.py WATCHED_EVENTS).
ORG_EVENTS = (
    "MoveAccount",
    "CreateAccountResult",
    "AccountJoinedOrganization",
    "AcceptHandshake",
    "RemoveAccountFromOrganization",
    "AccountDepartedOrganization",
    "CloseAccount",
    "CloseAccountResult",
    "CreateOrganizationalUnit",
    "UpdateOrganizationalUnit",
    "DeleteOrganizationalUnit",
)

# A walk older than this is never reused, even with no Organizations event since: events reach the sync
# through CloudTrail and EventBridge on a best-effort basis, so a missed one is caught within a day.
WALK_TTL_SECONDS = 24 * 3600


@dataclass
class RunState:
    """pending: StackSet -> operation id (or a failed/busy marker) still to poll; walk: a walk under way
    and walk_started the wall-clock second it began; tree: the store reference ("<run>/<sha256>") of the
    complete walk this run plans from, "" before it has one."""

    pending: dict[str, str] = field(default_factory=dict)
    walk: OrgWalk | None = None
    walk_started: float = 0.0
    tree: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pending": dict(sorted(self.pending.items())),
            "walk": self.walk.to_dict() if self.walk is not None else None,
            "walk_started": self.walk_started,
            "tree": self.tree,
        }

    @classmethod
    def from_dict(cls, data: Any) -> RunState:
        try:
            return cls(
                pending={str(k): str(v) for k, v in data["pending"].items()},
                walk=OrgWalk.from_dict(data["walk"]) if data["walk"] is not None else None,
                walk_started=float(data["walk_started"]),
                tree=str(data["tree"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SyncError(f"the run's stored state is not one this sync wrote: {exc}") from None


def walk_is_fresh(
    started: float, now: float, changed_at: float | None, ttl: float = WALK_TTL_SECONDS
) -> bool:
    """May a complete walk that began at `started` stand for the organization `now`? Not once an
    Organizations event arrived at or after its start (`changed_at`: the latest one's arrival, None if
    none), nor once it is `ttl` seconds old, nor if it claims to start in the future (clocks)."""
    if changed_at is not None and changed_at >= started:
        return False
    return 0 <= now - started < ttl
