"""Stack drift for the emulator (moto has none): DetectStackDrift, DescribeStackDriftDetectionStatus and
DescribeStackResourceDrifts on plain stacks, such as the management-account stack, comparing the roles
moto's IAM holds now with what they were when the stack was last deployed (pipeline.emulator.drift).

AWS: DetectStackDrift returns a StackDriftDetectionId; the detection "can take up to several minutes", so it
is followed with DescribeStackDriftDetectionStatus (DetectionStatus DETECTION_IN_PROGRESS | DETECTION_COMPLETE
| DETECTION_FAILED; StackDriftStatus DRIFTED | IN_SYNC | UNKNOWN | NOT_CHECKED), then
DescribeStackResourceDrifts gives per resource StackResourceDriftStatus and PropertyDifferences, filtered by
StackResourceDriftStatusFilters (API_DetectStackDrift, API_DescribeStackDriftDetectionStatus,
API_DescribeStackResourceDrifts). Here a detection is in progress at its first status read and complete at
the next, so a caller that does not poll is caught. A stack the emulator never saw deployed has no expected
state: its detection fails (DETECTION_FAILED), never a made-up IN_SYNC.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pipeline.emulator.drift import RoleStates, resource_drifts
from pipeline.emulator.model import EPOCH, ApiError
from pipeline.emulator.model import page as _page

# (account, region, stack) -> the stack's roles, as pipeline.emulator.drift.stack_roles reads them.
RoleReader = Callable[[str, str, str], RoleStates]


@dataclass
class Detection:
    stack_id: str
    account: str
    region: str
    stack: str
    reads: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    status: str = "DETECTION_IN_PROGRESS"
    drift: str = "UNKNOWN"
    reason: str = ""


def _stack_id(account: str, region: str, name: str) -> str | None:
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[account][region]
    found = next((s for s in backend.stacks.values() if s.name == name and "DELETE" not in s.status), None)
    return None if found is None else str(found.stack_id)


class StackDriftService:
    """The three stack drift actions; `deployed` records a stack's roles as expected after each deploy."""

    def __init__(self, roles: RoleReader) -> None:
        self.roles = roles
        self.expected: dict[str, RoleStates] = {}  # "account/region/stack name"
        self.detections: dict[str, Detection] = {}
        self._lock = threading.RLock()

    def deployed(self, account: str, region: str, stack: str) -> None:
        """A stack was created or updated through CloudFormation: what its roles are now is what they are
        expected to be."""
        name = stack.split(":stack/", 1)[1].split("/", 1)[0] if ":stack/" in stack else stack
        with self._lock:
            self.expected[f"{account}/{region}/{name}"] = self.roles(account, region, name)

    def detect(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        name = str(p["StackName"])
        stack_id = _stack_id(account, region, name)
        if stack_id is None:
            raise ApiError("ValidationError", f"Stack with id {name} does not exist")
        detection_id = str(uuid.uuid4())
        with self._lock:
            self.detections[detection_id] = Detection(stack_id, account, region, name)
        return {"StackDriftDetectionId": detection_id}

    def _finish(self, d: Detection) -> None:
        expected = self.expected.get(f"{d.account}/{d.region}/{d.stack}")
        if expected is None:
            d.status, d.reason = "DETECTION_FAILED", "the emulator never saw this stack deployed"
            return
        d.rows = resource_drifts(expected, self.roles(d.account, d.region, d.stack))
        d.status = "DETECTION_COMPLETE"
        d.drift = "IN_SYNC" if all(r["StackResourceDriftStatus"] == "IN_SYNC" for r in d.rows) else "DRIFTED"

    def status(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            d = self.detections.get(str(p["StackDriftDetectionId"]))
            if d is None:
                raise ApiError("ValidationError", "Drift detection id not found")
            d.reads += 1
            if d.reads > 1 and d.status == "DETECTION_IN_PROGRESS":
                self._finish(d)
            out: dict[str, Any] = {
                "StackId": d.stack_id,
                "StackDriftDetectionId": str(p["StackDriftDetectionId"]),
                "DetectionStatus": d.status,
                "Timestamp": EPOCH + timedelta(seconds=d.reads),
            }
            if d.status != "DETECTION_IN_PROGRESS":
                out["StackDriftStatus"] = d.drift if d.status == "DETECTION_COMPLETE" else "UNKNOWN"
                out["DriftedStackResourceCount"] = sum(
                    1 for r in d.rows if r["StackResourceDriftStatus"] != "IN_SYNC"
                )
            if d.reason:
                out["DetectionStatusReason"] = d.reason
            return out

    def resource_drifts(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        """The resources of the stack's latest complete detection, narrowed by StackResourceDriftStatusFilters."""
        name = str(p["StackName"])
        with self._lock:
            done = [
                (key, d)
                for key, d in self.detections.items()
                if (d.account, d.region, d.stack) == (account, region, name)
                and d.status == "DETECTION_COMPLETE"
            ]
            if _stack_id(account, region, name) is None:
                raise ApiError("ValidationError", f"Stack with id {name} does not exist")
            rows = done[-1][1].rows if done else []
            stack_id = done[-1][1].stack_id if done else ""
        wanted = set(p.get("StackResourceDriftStatusFilters") or [])
        out = [
            {**row, "StackId": stack_id, "Timestamp": EPOCH}
            for row in rows
            if not wanted or row["StackResourceDriftStatus"] in wanted
        ]
        return _page(out, p, "StackResourceDrifts")
