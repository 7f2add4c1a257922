"""The drift report (pure): which role StackSet instances drifted, per OU and account, and how.

Built from what StackSet drift detection returns (ListStackInstances' DriftStatus, then
ListStackInstanceResourceDrifts' PropertyDifferences for the drifted instances) and rendered as text, Markdown
or JSON, one line per drifted property, so "someone edited the role by hand in Prod" reads as one line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Difference:
    """One PropertyDifference (API_PropertyDifference): DifferenceType is ADD, REMOVE or NOT_EQUAL."""

    path: str
    kind: str
    expected: str
    actual: str


@dataclass(frozen=True)
class ResourceDrift:
    logical_id: str
    physical_id: str
    resource_type: str
    status: (
        str  # IN_SYNC | MODIFIED | DELETED | NOT_CHECKED | UNKNOWN (API_StackInstanceResourceDriftsSummary)
    )
    differences: tuple[Difference, ...] = ()


@dataclass(frozen=True)
class InstanceDrift:
    stackset: str
    role: str
    ou_path: str
    account: str
    region: str
    status: str  # DRIFTED | IN_SYNC | UNKNOWN | NOT_CHECKED (API_StackInstanceSummary, DriftStatus)
    resources: tuple[ResourceDrift, ...] = ()


@dataclass(frozen=True)
class StackSetDrift:
    stackset: str
    operation_id: str
    status: str  # the drift detection operation's final status
    reason: str = ""
    # The three views of a role: desired (the manifest's template, as in git), deployed (the StackSet's
    # template, which drift compares with) and live (the resources, in the instances' differences).
    desired_sha256: str = ""
    deployed_sha256: str = ""

    @property
    def pending(self) -> bool:
        """The deployed template is not the desired one: a sync is pending, and drift is measured against
        what is deployed, not against git."""
        return bool(
            self.desired_sha256 and self.deployed_sha256 and self.desired_sha256 != self.deployed_sha256
        )


@dataclass(frozen=True)
class DriftReport:
    stacksets: tuple[StackSetDrift, ...]
    instances: tuple[InstanceDrift, ...]
    # Stack drift detections (DetectStackDrift) of plain stacks: the management-account stack, whose roles
    # are in `instances` too, one per role, under MANAGEMENT_OU.
    stacks: tuple[StackSetDrift, ...] = ()

    @property
    def drifted(self) -> tuple[InstanceDrift, ...]:
        return tuple(i for i in self.instances if i.status == "DRIFTED")

    @property
    def has_drift(self) -> bool:
        return bool(self.drifted)

    @property
    def failed(self) -> tuple[StackSetDrift, ...]:
        return tuple(s for s in (*self.stacksets, *self.stacks) if s.status != "SUCCEEDED")

    @property
    def unfinished(self) -> tuple[StackSetDrift, ...]:
        """Detections that did not finish (failed, stopped, or still running): a StackSet that does not
        exist yet is skipped, not unfinished."""
        return tuple(s for s in self.failed if s.status != "SKIPPED")


# Where the management-account stack's roles appear in the report (service-managed StackSets never deploy
# to the management account, so it has its own stack).
MANAGEMENT_OU = "(management account)"


def sort_key(i: InstanceDrift) -> tuple[str, str, str, str]:
    return (i.ou_path, i.account, i.role, i.region)


def _describe(d: Difference) -> str:
    if d.kind == "ADD":
        return f"{d.path} added {d.actual}"
    if d.kind == "REMOVE":
        return f"{d.path} removed {d.expected}"
    return f"{d.path} expected {d.expected}, actual {d.actual}"


def lines(report: DriftReport) -> list[str]:
    """One line per drifted property (or per drifted resource without differences), by OU, account, role."""
    out = []
    for inst in sorted(report.drifted, key=sort_key):
        head = f"{inst.ou_path} {inst.account} {inst.role}"
        for res in inst.resources:
            if res.status == "IN_SYNC":
                continue
            if not res.differences:
                out.append(f"{head}: {res.logical_id} {res.status}")
            for d in res.differences:
                out.append(f"{head}: {res.status} {_describe(d)}")
    return out


def _summary(report: DriftReport) -> str:
    checked = len(report.instances)
    drifted = len(report.drifted)
    accounts = len({i.account for i in report.drifted})
    unknown = sum(1 for i in report.instances if i.status in ("UNKNOWN", "NOT_CHECKED"))
    stacks = f" and {len(report.stacks)} stack(s)" if report.stacks else ""
    return (
        f"{len(report.stacksets)} StackSet(s){stacks}, {checked} instance(s) checked: "
        f"{drifted} drifted in {accounts} account(s)" + (f", {unknown} unknown" if unknown else "")
    )


def _pending(s: StackSetDrift) -> str:
    return (
        f"{s.stackset}: the deployed template (sha256 {s.deployed_sha256[:12]}) is not the manifest's "
        f"({s.desired_sha256[:12]}): drift is against the deployed one; a sync is pending (`plan` shows it)"
    )


def render_text(report: DriftReport) -> str:
    out = [_summary(report)]
    out += [f"  {line}" for line in lines(report)]
    out += [f"  {_pending(s)}" for s in report.stacksets if s.pending]
    for s in report.failed:
        out.append(f"  drift detection of {s.stackset} ended {s.status}: {s.reason or 'no reason given'}")
    return "\n".join(out) + "\n"


def render_markdown(report: DriftReport) -> str:
    out = ["## Drift", "", _summary(report), ""]
    rows = lines(report)
    if rows:
        out += ["| OU | Account | Role | Drift |", "|---|---|---|---|"]
        for inst in sorted(report.drifted, key=sort_key):
            for line in lines(DriftReport((), (inst,))):
                detail = line.split(": ", 1)[1].replace("|", "\\|")
                out.append(f"| {inst.ou_path} | {inst.account} | {inst.role} | {detail} |")
        out.append("")
    out += [f"- {_pending(s)}" for s in report.stacksets if s.pending]
    for s in report.failed:
        out.append(f"- drift detection of `{s.stackset}` ended {s.status}: {s.reason or 'no reason given'}")
    return "\n".join(out).rstrip("\n") + "\n"


def render_json(report: DriftReport) -> str:
    data = {
        "drifted": report.has_drift,
        "stacksets": [asdict(s) for s in report.stacksets],
        "stacks": [asdict(s) for s in report.stacks],
        "instances": [asdict(i) for i in sorted(report.instances, key=sort_key)],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


RENDERERS: Mapping[str, Callable[[DriftReport], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}


SUBJECT_CHARS = 100  # SNS Subject: at most 100 characters (API_Publish)


def notice(report: DriftReport, context: str) -> tuple[str, str] | None:
    """The SNS (subject, message) of a scheduled check: only when a role drifted, a StackSet's deployed
    template is not the approved one (changed outside the pipeline, or a sync that did not finish), or a
    detection did not finish; None when everything checked is in sync (no news is sent)."""
    pending = [s for s in report.stacksets if s.pending]
    if not report.has_drift and not report.unfinished and not pending:
        return None
    drifted = report.drifted
    if drifted:
        accounts = len({i.account for i in drifted})
        subject = f"org-stacksets drift: {len(drifted)} role instance(s) drifted in {accounts} account(s)"
    elif pending:
        subject = f"org-stacksets drift: {len(pending)} StackSet(s) not at the approved template"
    else:
        subject = f"org-stacksets drift check did not finish ({len(report.unfinished)} detection(s))"
    return subject[:SUBJECT_CHARS], f"{context}\n{render_text(report)}"
