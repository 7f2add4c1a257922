"""Pure records of what running a plan gave: per operation, per StackSet lane, failures, progress events."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipeline.core.ops import Op


class Status(StrEnum):
    """Where an operation, or a StackSet's lane of operations, stands (CloudFormation's own words)."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"


SUCCEEDED, FAILED, PENDING = Status


# A pending entry naming no operation: the StackSet was busy, ours not started; the next invocation
# re-plans and retries instead of polling.
BUSY_PREFIX = "busy:"


# A pending entry naming an operation that already failed: the next invocation reports it, never drops it.
FAILED_PREFIX = "failed:"


@dataclass(frozen=True)
class Failure:
    account: str
    region: str
    reason: str
    ou_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "region": self.region, "reason": self.reason, "ou_id": self.ou_id}


@dataclass(frozen=True)
class OpOutcome:
    op: Op
    operation_id: str | None
    status: Status
    message: str = ""
    failures: tuple[Failure, ...] = ()
    adopted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.op.kind,
            "description": self.op.describe(),
            "operation_id": self.operation_id,
            "status": self.status,
            "message": self.message,
            "adopted": self.adopted,
            "failures": [f.to_dict() for f in self.failures],
        }


@dataclass(frozen=True)
class LaneResult:
    name: str
    status: Status
    outcomes: tuple[OpOutcome, ...] = ()
    pending_operation: str | None = None

    @property
    def message(self) -> str:
        return next((o.message for o in self.outcomes if o.status != SUCCEEDED), "")


@dataclass(frozen=True)
class Event:
    """A step of a lane for the log; `ended`: one of the plan's operations ended (progress counts these)."""

    stackset: str
    message: str
    ended: bool = False
