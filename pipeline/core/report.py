"""Pure: the result of a plan or a sync per StackSet and per OU, and its text, Markdown and JSON renderings."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pipeline.core.org import OrgTree
from pipeline.core.outcomes import FAILED, PENDING, Failure, LaneResult, OpOutcome
from pipeline.core.planner import CREATE, ORPHAN, UNCHANGED, UPDATE, Action, Change, StackSetPlan, SyncPlan
from pipeline.core.retained import retained_stack_fix

RESULTS = (
    "created",
    "updated",
    "unchanged",
    "deleted",
    "skipped",
    "orphan",
    "failed",
    "in progress",
    "held",
    "planned",
)
HELD = "held"


@dataclass(frozen=True)
class WaveRun:
    """How a sync's canary waves went: per wave its OUs and status (succeeded, failed, in progress, not
    started, nothing to do), and the StackSets held back with operations in waves not started."""

    labels: tuple[str, ...]
    statuses: tuple[str, ...]
    held: tuple[str, ...] = ()

    @property
    def stopped(self) -> int | None:
        """The wave that failed or is still running, if any."""
        return next((n for n, s in enumerate(self.statuses) if s.startswith(("failed", "in progress"))), None)

    def lines(self) -> list[str]:
        return [
            f"  wave {n + 1} ({label}): {s}"
            for n, (label, s) in enumerate(zip(self.labels, self.statuses, strict=True))
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "waves": [
                {"wave": n + 1, "ous": label, "status": s}
                for n, (label, s) in enumerate(zip(self.labels, self.statuses, strict=True))
            ],
            "stopped_at": None if self.stopped is None else self.stopped + 1,
            "held": list(self.held),
        }


class Outcome(StrEnum):
    """How a plan or a sync ended as a whole."""

    PLANNED = "planned"
    SUCCESS = "success"
    FAILED = "failed"
    IN_PROGRESS = "in progress"


@dataclass(frozen=True)
class StackSetResult:
    name: str
    kind: str
    action: str
    result: str
    operations: tuple[str, ...] = ()
    outcomes: tuple[OpOutcome, ...] = ()
    message: str = ""
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[Failure, ...]:
        return tuple(f for o in self.outcomes for f in o.failures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "action": self.action,
            "result": self.result,
            "operations": list(self.operations),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "message": self.message,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class OuResult:
    path: str
    ou_id: str | None
    state: str
    accounts: int
    message: str
    stacksets: tuple[tuple[str, str, str], ...]  # (StackSet, change, result)
    failed_accounts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ou_id": self.ou_id,
            "state": self.state,
            "accounts": self.accounts,
            "message": self.message,
            "stacksets": [{"name": n, "change": c, "result": r} for n, c, r in self.stacksets],
            "failed_accounts": list(self.failed_accounts),
        }


@dataclass(frozen=True)
class SyncReport:
    run_id: str
    mode: str  # plan | sync
    outcome: Outcome
    stacksets: tuple[StackSetResult, ...]
    ous: tuple[OuResult, ...]
    calls: Mapping[str, Any] = field(default_factory=dict)
    read_warnings: tuple[str, ...] = ()
    pending: Mapping[str, str] = field(default_factory=dict)
    plan: SyncPlan | None = None
    waves: WaveRun | None = None

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(RESULTS, 0)
        for s in self.stacksets:
            out[s.result] = out.get(s.result, 0) + 1
        return {k: v for k, v in out.items() if v}

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.SUCCESS, Outcome.PLANNED)

    def headline(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in self.counts().items()) or "nothing to do"
        if self.mode == "plan":
            return f"plan: {counts}"
        return f"sync {self.outcome}: {counts} (run {self.run_id})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "outcome": self.outcome,
            "counts": self.counts(),
            "stacksets": [s.to_dict() for s in self.stacksets],
            "ous": [o.to_dict() for o in self.ous],
            "calls": dict(self.calls),
            "read_warnings": list(self.read_warnings),
            "pending": dict(self.pending),
            "plan": self.plan.to_dict() if self.plan else None,
            **({"rollout": self.waves.to_dict()} if self.waves else {}),
        }


def _result(plan: StackSetPlan, lane: LaneResult | None, applied: bool) -> str:
    if plan.action == Action.FAILED:
        return "failed"
    if plan.action == UNCHANGED:
        return "unchanged"
    if plan.action == ORPHAN and not plan.ops:
        return "orphan"
    if not applied:
        return "update" if plan.action == ORPHAN else plan.action
    if lane is None:
        return "skipped"
    if lane.status == PENDING:
        return "in progress"
    if lane.status == FAILED:
        return "failed"
    return {CREATE: "created", UPDATE: "updated", ORPHAN: "deleted"}.get(plan.action, "updated")


def build_report(
    plan: SyncPlan,
    lanes: Sequence[LaneResult] | None,
    tree: OrgTree,
    calls: Mapping[str, Any],
    waves: WaveRun | None = None,
) -> SyncReport:
    applied = lanes is not None
    by_name = {lane.name: lane for lane in lanes or ()}
    results = []
    for p in plan.stacksets:
        lane = by_name.get(p.name)
        result = _result(p, lane, applied)
        message = lane.message if lane else ""
        if waves is not None and p.name in waves.held and result != Action.FAILED:
            stopped = (waves.stopped or 0) + 1
            result, message = (
                HELD,
                f"held: wave {stopped} {waves.statuses[stopped - 1]}; later waves not started",
            )
        if result == Action.FAILED and not message:
            message = "; ".join(p.notes)
        results.append(
            StackSetResult(
                p.name,
                p.kind,
                p.action,
                result,
                tuple(p.describe(i) for i in range(len(p.ops))),
                lane.outcomes if lane else (),
                message,
                p.notes,
            )
        )
    result_of = {r.name: r for r in results}
    ous = []
    for status in plan.ous:
        entries = []
        for p in plan.stacksets:
            for t in p.targets:
                if t.path == status.path:
                    entries.append((p.name, t.change, result_of[p.name].result))
        here = status.live_path or status.path
        failed = sorted(
            {f.account for r in results for f in r.failures if tree.account_path(f.account) == here}
        )
        ous.append(
            OuResult(
                status.path,
                status.ou_id,
                status.state,
                len(status.accounts),
                status.message,
                tuple(entries),
                tuple(failed),
            )
        )
    if not applied:
        outcome = Outcome.PLANNED
    elif any(r.result == Action.FAILED for r in results):
        outcome = Outcome.FAILED
    elif any(r.result == "in progress" for r in results):
        outcome = Outcome.IN_PROGRESS
    else:
        outcome = Outcome.SUCCESS
    pending = {lane.name: lane.pending_operation for lane in lanes or () if lane.pending_operation}
    return SyncReport(
        run_id=plan.run_id,
        mode="sync" if applied else "plan",
        outcome=outcome,
        stacksets=tuple(results),
        ous=tuple(ous),
        calls=dict(calls),
        read_warnings=plan.read_warnings,
        pending=pending,
        plan=plan,
        waves=waves,
    )


# --- renderings -------------------------------------------------------------------------------------


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def render_text(report: SyncReport, all_ous: bool = False, sections: Sequence[str] = ()) -> str:
    """The report for a terminal; `sections` (already rendered) go before the API call counts."""
    lines = [report.headline(), ""]
    rows = [["STACKSET", "ACTION", "RESULT", "DETAIL"]]
    for s in report.stacksets:
        detail = s.message or (f"{len(s.operations)} operation(s)" if s.operations else "")
        rows.append([s.name, s.action, s.result, detail])
    lines += _table(rows)
    shown = ("create", "update", "failed", HELD)
    if any(s.operations and s.result in shown for s in report.stacksets):
        lines.append("")
        for s in report.stacksets:
            if s.operations and s.result in shown:
                lines.append(f"{s.name}:")
                lines += [f"  - {d}" for d in s.operations]
    lines += _wave_lines(report)
    rows = _ou_rows(report, all_ous)
    lines += ["", *_table(rows)] if len(rows) > 1 else []
    quiet = len(report.ous) - (len(rows) - 1)
    if quiet:
        lines.append(f"  ({quiet} OU(s) with nothing to report; --all-ous lists them)")
    lines += [f"  {o.path}: {o.message}" for o in report.ous if o.message]
    for s in report.stacksets:
        for f in s.failures:
            lines.append(f"failed: {s.name} {f.account} {f.region}: {f.reason}")
            fix = retained_stack_fix(s.name, f)
            if fix:
                lines.append(f"  fix: {fix}")
    notes = [(s.name, n) for s in report.stacksets for n in s.notes if s.result != "failed"]
    if notes:
        lines.append("")
        lines += [f"note: {name}: {n}" for name, n in notes]
    if report.read_warnings:
        lines += ["", *[f"warning: {w}" for w in report.read_warnings]]
    for section in sections:
        lines += ["", section.rstrip("\n")]
    if report.calls:
        lines += [
            "",
            f"API calls: {report.calls.get('reads', 0)} reads, {report.calls.get('writes', 0)} writes",
        ]
    return "\n".join(lines) + "\n"


def _wave_lines(report: SyncReport) -> list[str]:
    """The canary waves: how each went (a sync), or what each holds (a plan with changes)."""
    if report.waves is not None:
        return ["", "waves:", *report.waves.lines()]
    if report.plan is not None and report.plan.waves and report.plan.has_changes:
        return ["", "waves:", *[f"  wave {n + 1}: {label}" for n, label in enumerate(report.plan.waves)]]
    return []


def _interesting(o: OuResult) -> bool:
    """An OU worth a row: a problem, a failure, a target that changes, or per-OU values being applied."""
    if o.state != "ok" or o.failed_accounts:
        return True
    return any(
        c in (Change.ADD, Change.REMOVE, Change.HOLD, Change.SKIP)
        or (c == Change.OVERRIDE and r != UNCHANGED)
        for _n, c, r in o.stacksets
    )


def _ou_rows(report: SyncReport, all_ous: bool = True) -> list[list[str]]:
    # Shorten names by the prefix they share up to a hyphen ("org-roles-").
    names = [s.name.split("-") for s in report.stacksets]
    shared = 0
    while len(names) > 1 and all(len(n) > shared + 1 and n[shared] == names[0][shared] for n in names):
        shared += 1
    prefix = "".join(part + "-" for part in names[0][:shared]) if names else ""
    rows = [["OU", "STATE", "ACCOUNTS", "STACKSETS"]]
    for o in report.ous:
        if all_ous or _interesting(o):
            entries = ", ".join(f"{n.removeprefix(prefix)} {c}" for n, c, _r in o.stacksets) or "-"
            rows.append([o.path, o.state, str(o.accounts), entries])
    return rows


def render_markdown(
    report: SyncReport, lead: Sequence[str] = (), sections: Sequence[str] = (), all_ous: bool = True
) -> str:
    """The report for pull requests and approvals; `lead` replaces the headline, `sections` follow."""
    lines = [
        *(lead or [f"### {report.headline()}"]),
        "",
        "| StackSet | Action | Result | Detail |",
        "| --- | --- | --- | --- |",
    ]
    for s in report.stacksets:
        lines.append(f"| {s.name} | {s.action} | {s.result} | {s.message or '; '.join(s.operations)} |")
    rows = _ou_rows(report, all_ous)[1:]
    if rows:
        lines += ["", "| OU | State | Accounts | StackSets |", "| --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    if len(rows) < len(report.ous):
        lines += [
            "",
            f"_{len(report.ous) - len(rows)} OU(s) with nothing to report; `--all-ous` lists them._",
        ]
    if report.read_warnings:
        lines += ["", *[f"> warning: {w}" for w in report.read_warnings]]
    for section in sections:
        lines += ["", section.rstrip("\n")]
    return "\n".join(lines) + "\n"


def render_json(report: SyncReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n"


RENDERERS: dict[str, Callable[[SyncReport], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}
