"""Render the access graph and the access diff as text, Markdown, JSON and Graphviz DOT."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from generator.org.access import AccessDiff, AccessPath

SCHEMA_VERSION = 1


def ou_list(ous: Sequence[tuple[str, tuple[str, ...]]]) -> str:
    """OUs with the ones below a listed OU folded into it: 'Root/Workloads (+4 below)'."""
    names = [o for o, _ in ous]
    parts = []
    for ou, excluded in ous:
        if any(ou.startswith(other + "/") for other in names):
            continue
        below = sum(1 for other in names if other.startswith(ou + "/"))
        text = ou + (f" except {', '.join(excluded)}" if excluded else "")
        parts.append(text + (f" (+{below} below)" if below else ""))
    return ", ".join(parts)


def _who(p: AccessPath) -> str:
    when = f", when {', '.join(p.conditions)}" if p.conditions else ""
    return f"{p.kind} {p.principal}, {p.via}{when}"


def _line(p: AccessPath) -> str:
    return f"{p.role} <- {_who(p)}; in {ou_list(p.ous)}"


def _by_role(paths: Sequence[AccessPath]) -> dict[tuple[str, str], list[AccessPath]]:
    groups: dict[tuple[str, str], list[AccessPath]] = {}
    for p in paths:
        groups.setdefault((p.role, ou_list(p.ous)), []).append(p)
    return groups


def graph_summary(paths: Sequence[AccessPath]) -> str:
    return f"{len(paths)} access path(s) into {len({p.role for p in paths})} role(s)"


def format_graph_text(paths: Sequence[AccessPath]) -> str:
    lines = [graph_summary(paths)]
    for (role, where), group in _by_role(paths).items():
        lines.append(f"{role}: in {where}")
        lines += [f"  <- {_who(p)}" for p in group]
    return "\n".join(lines) + "\n"


def format_graph_markdown(paths: Sequence[AccessPath]) -> str:
    lines = [
        "### Access to org roles",
        "",
        f"**{graph_summary(paths)}**",
        "",
        "| Role | Principal | Kind | Via | Conditions | OUs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for p in paths:
        lines.append(
            f"| {p.role} | `{p.principal}` | {p.kind} | {p.via} | {', '.join(p.conditions)} | {ou_list(p.ous)} |"
        )
    return "\n".join(lines) + "\n"


def path_dict(p: AccessPath) -> dict[str, Any]:
    return {
        "role": p.role,
        "kind": p.kind,
        "principal": p.principal,
        "via": p.via,
        "conditions": list(p.conditions),
        "ous": [{"ou": o, "exclude_accounts": list(x)} for o, x in p.ous],
    }


def format_graph_json(paths: Sequence[AccessPath]) -> str:
    data = {"schema_version": SCHEMA_VERSION, "paths": [path_dict(p) for p in paths]}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _dot(paths: Sequence[AccessPath], style: str = "") -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Nodes and edges: principals (boxes) -> roles (ellipses, edges labelled with the conditions) -> OUs
    (folders); `style` is added to every edge."""

    def q(text: str) -> str:  # a JSON string is a valid DOT string: quotes and \n escaped the same way
        return json.dumps(text, ensure_ascii=False)

    nodes: dict[str, str] = {}
    edges: dict[tuple[str, str], str] = {}
    for p in paths:
        role = f"role:{p.role}"
        nodes[p.principal] = f"  {q(p.principal)} [label={q(p.kind + chr(10) + p.principal)}];"
        nodes[role] = f"  {q(role)} [shape=ellipse, label={q(p.role)}];"
        label = q("\n".join([p.via, *p.conditions]))
        edges[(p.principal, role)] = f"  {q(p.principal)} -> {q(role)} [label={label}{style}];"
        for part in ou_list(p.ous).split(", "):
            nodes[f"ou:{part}"] = f"  {q('ou:' + part)} [shape=folder, label={q(part)}];"
            edges[(role, f"ou:{part}")] = f'  {q(role)} -> {q("ou:" + part)} [label=""{style}];'
    return nodes, edges


def _digraph(name: str, nodes: dict[str, str], edges: list[str]) -> str:
    head = [f"digraph {name} {{", "  rankdir=LR;", "  node [shape=box];"]
    return "\n".join(head + [nodes[k] for k in sorted(nodes)] + edges) + "\n}\n"


def format_graph_dot(paths: Sequence[AccessPath]) -> str:
    nodes, edges = _dot(paths)
    return _digraph("access", nodes, [edges[k] for k in sorted(edges)])


def diff_summary(diff: AccessDiff) -> str:
    if diff.empty:
        return "No access gained or lost."
    return f"{len(diff.gained)} access path(s) gained, {len(diff.lost)} lost"


def _diff_lines(diff: AccessDiff) -> list[str]:
    return [f"+ {_line(p)}" for p in diff.gained] + [f"- {_line(p)}" for p in diff.lost]


def format_diff_text(diff: AccessDiff) -> str:
    return "\n".join([f"Access: {diff.base} -> {diff.head}", diff_summary(diff), *_diff_lines(diff)]) + "\n"


def format_diff_markdown(diff: AccessDiff) -> str:
    head = [f"### Access gained and lost: `{diff.base}` → `{diff.head}`", "", f"**{diff_summary(diff)}**", ""]
    if diff.empty:
        return "\n".join(head)
    return "\n".join([*head, "```diff", *_diff_lines(diff), "```", ""])


def format_diff_json(diff: AccessDiff) -> str:
    data = {
        "schema_version": SCHEMA_VERSION,
        "base": diff.base,
        "head": diff.head,
        "gained": [path_dict(p) for p in diff.gained],
        "lost": [path_dict(p) for p in diff.lost],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def format_diff_dot(diff: AccessDiff) -> str:
    """The gained paths in green, the lost ones in red and dashed."""
    gained_nodes, gained = _dot(diff.gained, ", color=darkgreen")
    lost_nodes, lost = _dot(diff.lost, ", color=red, style=dashed")
    edges = [gained[k] for k in sorted(gained)] + [lost[k] for k in sorted(lost)]
    return _digraph("access_diff", {**lost_nodes, **gained_nodes}, edges)
