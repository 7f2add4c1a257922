"""Render a diff Report as text (terminals), Markdown (pull requests, approvals) or JSON (machines).

The JSON shape is versioned and described by generator/schemas/diff.schema.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from generator.review import grading as g
from generator.review.diff import Report, RoleChange
from generator.review.iamview import Grant, TrustGrant

SCHEMA_VERSION = 1
# GitHub refuses comments over 65,536 characters; keep a margin for the truncation note.
MARKDOWN_LIMIT = 65_536
_MARGIN = 400


def summary_line(report: Report) -> str:
    if report.empty:
        return "No changes."
    s = report.summary
    total = s.added + s.removed + s.changed
    flags = ", ".join(f"{n} {f}" for f, n in s.flags.items() if n)
    parts = [
        f"{total} role change(s) across {s.ous} OU(s): {s.added} added, {s.removed} removed, {s.changed} changed",
        f"{s.broadened} broadened, {s.narrowed} narrowed, {s.neutral} neutral",
    ]
    if s.renamed:
        parts.append(f"{s.renamed} OU(s) renamed")
    if flags:
        parts.append(f"flags: {flags}")
    return "; ".join(parts)


def _grouped(sign: str, grants: Iterable[Grant | TrustGrant]) -> list[str]:
    """Atomic grants grouped back into readable lines: one line per (who/what, conditions), actions joined."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for x in grants:
        if isinstance(x, TrustGrant):
            key = ("trust: ", f"{x.kind} {x.principal} may ", "", x.conditions)
        else:
            key = ("", f"{x.effect} ", f" on {x.resource}", x.conditions)
        groups.setdefault(key, []).append(x.action)
    lines = []
    for (prefix, who, what, cond), actions in sorted(groups.items()):
        when = f" when {cond}" if cond else ""
        lines.append(f"{sign} {prefix}{who}{', '.join(sorted(actions))}{what}{when}")
    return lines


def _grant_lines(change: RoleChange) -> list[str]:
    lines = _grouped("+", change.trust_added) + _grouped("-", change.trust_removed)
    lines += _grouped("+", change.permissions_added) + _grouped("-", change.permissions_removed)
    lines += [f"+ managed policy {m}" for m in change.managed_added]
    lines += [f"- managed policy {m}" for m in change.managed_removed]
    if change.boundary:
        lines.append(f"~ permissions boundary: {change.boundary[0]} -> {change.boundary[1]}")
    if change.session:
        lines.append(f"~ max session: {change.session[0]} -> {change.session[1]} seconds")
    if change.path:
        lines.append(f"~ path: {change.path[0]} -> {change.path[1]}")
    lines += [f"~ parameter {n}: {old} -> {new}" for n, old, new in change.parameters]
    return lines


def _details(report: Report) -> list[tuple[RoleChange, list[str]]]:
    """Each distinct role change once, with the OUs it appears in."""
    groups: dict[tuple[object, ...], tuple[RoleChange, list[str]]] = {}
    for o in report.ous:
        for r in o.roles:
            groups.setdefault(r.detail_key, (r, []))[1].append(o.ou)
    return sorted(groups.values(), key=lambda x: (x[0].role, x[1]))


def _label(r: RoleChange) -> str:
    flags = f"; {', '.join(r.flags)}" if r.flags else ""
    return f"{r.kind}, {r.grade}{flags}"


_COLOURS = {g.BROADENED: "\033[31m", g.NARROWED: "\033[32m", g.NEUTRAL: "\033[33m"}
_RESET = "\033[0m"


def format_text(report: Report, color: bool = False, accounts: Mapping[str, int] | None = None) -> str:
    """`accounts`: how many accounts each OU's changes reach, when known (the live plan knows)."""

    def paint(text: str, grade: str) -> str:
        return f"{_COLOURS[grade]}{text}{_RESET}" if color else text

    lines = [f"Org roles: {report.base} -> {report.head}", summary_line(report)]
    for o in report.ous:
        renamed = f"  (renamed from {o.renamed_from}; same roles)" if o.renamed_from else ""
        count = f" ({accounts.get(o.ou, 0)} account(s))" if accounts is not None else ""
        lines.append(f"{o.ou}{count}{renamed}")
        for r in o.roles:
            lines.append(f"  {r.role}: {paint(_label(r), r.grade)}")
    for change, ous in _details(report):
        lines += ["", f"{change.role}: {paint(_label(change), change.grade)} in {', '.join(ous)}"]
        lines += [f"  {line}" for line in _grant_lines(change)]
    return "\n".join(lines) + "\n"


def _ou_list(ous: list[str], shown: int = 25) -> str:
    """The OUs of a detail section; a long list is cut (the table, or the JSON, has them all)."""
    names = ", ".join(f"`{o}`" for o in ous[:shown])
    return names + (f" and {len(ous) - shown} more" if len(ous) > shown else "")


def format_markdown(
    report: Report, limit: int = MARKDOWN_LIMIT, accounts: Mapping[str, int] | None = None
) -> str:
    """`accounts` adds an Accounts column: how many accounts each OU's changes reach."""
    head = [f"### Org roles: `{report.base}` → `{report.head}`", "", f"**{summary_line(report)}**", ""]
    if report.empty:
        return "\n".join(head)
    extra = ("Accounts | ", "--- | ") if accounts is not None else ("", "")
    table = [
        f"| OU | {extra[0]}Role | Change | Grade | Flags |",
        f"| --- | {extra[1]}--- | --- | --- | --- |",
    ]
    for o in report.ous:
        count = f"{accounts.get(o.ou, 0)} | " if accounts is not None else ""
        if o.renamed_from:
            table.append(f"| `{o.ou}` | {count}| renamed from `{o.renamed_from}` | | |")
        for r in o.roles:
            grade = f"**{r.grade}**" if r.grade == g.BROADENED else r.grade
            table.append(f"| `{o.ou}` | {count}{r.role} | {r.kind} | {grade} | {', '.join(r.flags)} |")
    blocks = []
    for change, ous in _details(report):
        body = "\n".join(_grant_lines(change))
        blocks.append(
            f"<details><summary><b>{change.role}</b>: {_label(change)} ({len(ous)} OU(s))</summary>\n\n"
            f"OUs: {_ou_list(ous)}\n\n```diff\n{body}\n```\n</details>\n"
        )
    out = "\n".join(head) + "\n"
    budget = limit - _MARGIN
    # Over the limit, the details (what changed) keep up to half the room and the table (where) is cut:
    # one role change at the root of a large organization is hundreds of rows but one detail section.
    details = sum(len(b) for b in blocks)
    rows = table[2:]
    if len(out) + sum(len(r) + 1 for r in table) + 1 + details > budget:
        room = budget - len(out) - min(details, budget // 2)
        size = sum(len(r) + 1 for r in table[:2]) + 200  # the header rows and a truncation note
        rows = []
        for row in table[2:]:
            size += len(row) + 1
            if size > room:
                break
            rows.append(row)
    out += "\n".join(table[:2] + rows) + "\n\n"
    if len(rows) < len(table) - 2:
        out += (
            f"_Truncated: {len(table) - 2 - len(rows)} more row(s) of the table exceed GitHub's comment limit; "
            "see the JSON report._\n\n"
        )
    kept = 0
    for block in blocks:
        if len(out) + len(block) > budget:
            break
        out += block
        kept += 1
    if kept < len(blocks):
        out += f"\n_Truncated: {len(blocks) - kept} more detail section(s) exceed GitHub's comment limit; see the JSON report._\n"
    return out


def _grants(grants: Any) -> list[dict[str, str]]:
    return [
        {"effect": p.effect, "action": p.action, "resource": p.resource, "conditions": p.conditions}
        for p in grants
    ]


def _trust(grants: Any) -> list[dict[str, str]]:
    return [
        {"kind": t.kind, "principal": t.principal, "action": t.action, "conditions": t.conditions}
        for t in grants
    ]


def _pair(value: tuple[Any, Any] | None) -> dict[str, Any] | None:
    return None if value is None else {"from": value[0], "to": value[1]}


def to_dict(report: Report) -> dict[str, Any]:
    s = report.summary
    return {
        "schema_version": SCHEMA_VERSION,
        "base": report.base,
        "head": report.head,
        "summary": {
            "ous": s.ous,
            "added": s.added,
            "removed": s.removed,
            "changed": s.changed,
            "broadened": s.broadened,
            "narrowed": s.narrowed,
            "neutral": s.neutral,
            "renamed": s.renamed,
            "flags": dict(s.flags),
            "text": summary_line(report),
        },
        "ous": [
            {
                "ou": o.ou,
                "renamed_from": o.renamed_from,
                "roles": [
                    {
                        "role": r.role,
                        "kind": r.kind,
                        "grade": r.grade,
                        "flags": list(r.flags),
                        "trust": {"added": _trust(r.trust_added), "removed": _trust(r.trust_removed)},
                        "permissions": {
                            "added": _grants(r.permissions_added),
                            "removed": _grants(r.permissions_removed),
                        },
                        "managed_policies": {
                            "added": list(r.managed_added),
                            "removed": list(r.managed_removed),
                        },
                        "permissions_boundary": _pair(r.boundary),
                        "max_session_duration": _pair(r.session),
                        "path": _pair(r.path),
                        "parameters": [{"name": n, "from": a, "to": b} for n, a, b in r.parameters],
                    }
                    for r in o.roles
                ],
            }
            for o in report.ous
        ],
    }


def format_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, sort_keys=True) + "\n"
