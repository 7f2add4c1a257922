"""The plan's review: the IAM diff of every role StackSet (and of the login account's assume-role policies)
against what is deployed, per OU, and the accounts each OU's changes reach; rendered into `python -m pipeline plan`'s text, Markdown and JSON.

CLI only. The Lambda never imports this module, and this module imports generator.review and PyYAML inside
its functions, so the sync itself stays stdlib + boto3. Where the roles are comes from what the sync
already read: the org tree, DescribeStackSet (template body, parameters, OU targets) and the instances
listed for changed StackSets; nothing here calls AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pipeline.core.desired import (
    NO_OVERRIDES,
    DesiredStackSet,
    HashTag,
    effective_overrides,
    live_overrides,
    window_notes,
)
from pipeline.core.live import LiveStackSet, LiveState
from pipeline.core.manifest import Kind, Override
from pipeline.core.org import OrgTree
from pipeline.core.planner import CREATE, FAILED, ORPHAN, UNCHANGED, UPDATE, Change, StackSetPlan, SyncPlan
from pipeline.core.report import SyncReport, render_markdown, render_text
from pipeline.sync import SyncSession

if TYPE_CHECKING:
    from generator.review.diff import Report

DEPLOYED = "deployed"
SERVICE_MANAGED = "SERVICE_MANAGED"
MARKDOWN_LIMIT = 65_536  # GitHub's comment limit; generator.review.report truncates within it
OVERRIDES_NOTE = (
    "per-OU values: the deployed per-account overrides are not read (a DescribeStackInstance per account); "
    "the deployed side takes the manifest's per-OU values, or none, as the StackSet's recorded override hash says"
)
RETAIN_NOTE = (
    "roles removed from OUs keep their stacks (deletion.retain_stacks: true in org.yaml, an opt-in): the roles "
    "stay in those accounts, still assumable and no longer managed, and adding the role there again fails with "
    "EntityAlreadyExists until the retained stack is deleted"
)
REVOKE_NOTE = (
    "roles removed from OUs are deleted from their accounts (revocation: deletion.retain_stacks is false in "
    "org.yaml), within the deletion limits"
)

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Side:
    """One StackSet's template text and, per OU path, the parameter values its roles get there."""

    template: str
    ous: Mapping[str, Params]


@dataclass(frozen=True)
class Scope:
    """Where one StackSet's roles are deployed now and will be after the plan, and the accounts reached."""

    name: str
    deployed: Side | None
    desired: Side | None
    accounts: Mapping[str, frozenset[str]] = field(default_factory=dict)  # OU path -> accounts there
    kind: str = Kind.ROLE  # login-account: its managed policies are compared, not roles


# --- where the roles are (pure) ---------------------------------------------------------------------


def _subtrees(tree: OrgTree, roots: set[str]) -> set[str]:
    return {tree.units[u].path for r in roots if r in tree.units for u in tree.subtree(r)}


def _live_roots(live: LiveStackSet) -> set[str]:
    return set(live.ou_ids) | {i.ou_id for i in live.instances or () if i.ou_id}


def _paths(tree: OrgTree, accounts: Sequence[str]) -> set[str]:
    return {p for a in accounts if (p := tree.account_path(a)) is not None}


def _deployed_ous(live: LiveStackSet, tree: OrgTree, unchanged: set[str]) -> set[str]:
    """Service-managed: the OU targets and every OU below them. Self-managed: the OUs of the accounts
    holding an instance (listed only for a changed StackSet; an unchanged one reaches the desired OUs)."""
    if live.permission_model == SERVICE_MANAGED:
        return _subtrees(tree, _live_roots(live))
    if live.instances is None:
        return unchanged
    return _paths(tree, [i.account for i in live.instances])


def _desired_ous(
    d: DesiredStackSet, live: LiveStackSet | None, plan: StackSetPlan, tree: OrgTree
) -> set[str]:
    """Where the roles are after the plan: desired targets and the OUs below them, plus live targets the
    plan keeps (a removal held while a target cannot be found); self-managed: the target accounts' OUs."""
    if d.content.permission_model != SERVICE_MANAGED:
        return _paths(tree, d.accounts)
    removed = {t.ou_id for t in plan.targets if t.change == Change.REMOVE and t.ou_id}
    kept = _live_roots(live) - removed if live is not None else set()
    return _subtrees(tree, {t.ou_id for t in d.targets} | kept)


def _reach(tree: OrgTree, d: DesiredStackSet | None, live: LiveStackSet | None) -> dict[str, frozenset[str]]:
    """Active accounts per OU path that hold (or will hold) the StackSet's roles."""
    accounts = set(d.accounts if d else ())
    accounts |= {i.account for i in (live.instances or ())} if live is not None else set()
    out: dict[str, set[str]] = {}
    for a in accounts:
        acct = tree.accounts.get(a)
        path = tree.path_of(acct.parent_id) if acct is not None and acct.active else None
        if path is not None:
            out.setdefault(path, set()).add(a)
    return {p: frozenset(a) for p, a in out.items()}


def _values(base: Mapping[str, str], path: str, overrides: tuple[Override, ...]) -> Params:
    return tuple(sorted({**base, **effective_overrides(path, overrides)}.items()))


def _deployed(
    d: DesiredStackSet,
    live: LiveStackSet,
    overrides: tuple[Override, ...],
    tree: OrgTree,
    desired_ous: set[str],
    notes: list[str],
) -> Side:
    """The deployed side, per OU with the per-OU values the StackSet's recorded override hash vouches for."""
    applied = HashTag.parse(live.hash_tag).overrides
    known = () if applied == NO_OVERRIDES else overrides  # NO_OVERRIDES: the StackSet's own values everywhere
    if overrides and applied not in (NO_OVERRIDES, d.overrides_digest):
        # Accounts moved or joined, or values changed: which values an account has is unknown without
        # reading it. Comparing with the StackSet's own values would flag every OU with per-OU values after
        # any account move; take the manifest's as applied and say so.
        where = ", ".join(sorted({o.ou_path for o in overrides}))
        notes.append(
            f"{d.name}: the per-OU values recorded as applied are not the manifest's (accounts moved or "
            f"joined, or the values changed); this plan re-applies them at {where}, and the IAM diff takes "
            "them as applied there (`python -m generator diff` shows changes to them)"
        )
    ous = _deployed_ous(live, tree, desired_ous)
    return Side(live.template_body, {o: _values(live.parameters, o, known) for o in ous})


def _login_scope(
    templates: Mapping[str, str], d: DesiredStackSet, live: LiveStackSet | None, tree: OrgTree
) -> Scope:
    """The login account's assume-role policies, at the OU of each account it targets (the login account):
    deployed where its instances are (listed for a changed StackSet), else where the account is now."""
    ous = _paths(tree, d.accounts)
    head = Side(templates[d.spec.template], {o: _values(d.spec.parameters, o, ()) for o in ous})
    base = None
    if live is not None:
        where = ous if live.instances is None else _paths(tree, [i.account for i in live.instances])
        base = Side(live.template_body, {o: _values(live.parameters, o, ()) for o in where})
    return Scope(d.name, base, head, _reach(tree, d, live), Kind.LOGIN_ACCOUNT)


def scopes(templates: Mapping[str, str], state: LiveState, plan: SyncPlan) -> tuple[list[Scope], list[str]]:
    """Every role StackSet on both sides, with its notes; `templates` maps template paths to their text."""
    tree, statuses, stacksets = state.tree, state.statuses, state.stacksets
    plans = {p.name: p for p in plan.stacksets}
    out: list[Scope] = []
    notes: list[str] = []
    overridden = False  # a deployed StackSet has per-OU values
    for name, d in sorted(state.desired.items()):
        p, live = plans[name], stacksets.get(name)
        if p.action == FAILED:
            notes.append(f"{name}: left out, the plan cannot change it ({'; '.join(p.notes)})")
            continue
        if d.spec.kind == Kind.LOGIN_ACCOUNT:
            out.append(_login_scope(templates, d, live, tree))
            continue
        overrides = live_overrides(d.spec, statuses)
        ous = _desired_ous(d, live, p, tree)
        head = Side(templates[d.spec.template], {o: _values(d.spec.parameters, o, overrides) for o in ous})
        base = None
        if live is not None:
            overridden = overridden or bool(overrides)
            base = _deployed(d, live, overrides, tree, ous, notes)
            if p.action == UNCHANGED and (
                live.template_sha256 != d.spec.template_sha256 or dict(live.parameters) != d.spec.parameters
            ):
                notes.append(
                    f"{name}: the deployed template or parameters differ from the manifest's, but its content "
                    "hash is current (changed outside the sync?): this plan does not change it"
                )
        out.append(Scope(name, base, head, _reach(tree, d, live)))
        if p.action in (CREATE, UPDATE):
            notes.extend(f"{name}: {n}" for n in window_notes(d.spec))
    for name, live in sorted(state.orphans.items()):
        p = plans[name]
        if p.action != ORPHAN or not p.ops:
            notes.append(f"{name}: not in the manifest and left in place: its roles do not change")
            continue
        ous = _deployed_ous(live, tree, set())
        base = Side(live.template_body, {o: tuple(sorted(live.parameters.items())) for o in ous})
        out.append(Scope(name, base, None, _reach(tree, None, live)))
    if overridden:
        notes.append(OVERRIDES_NOTE)
    return out, notes


# --- the IAM diff (imports generator.review and PyYAML) -----------------------------------------------


def parse_template(body: str) -> dict[str, Any]:
    """A CloudFormation template, JSON or YAML, as a dict. YAML short forms become the long forms
    CloudFormation reads them as (!Ref X -> {"Ref": X}, !Sub -> {"Fn::Sub": ...}, !GetAtt a.b -> a list):
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html"""
    import yaml

    try:
        data = json.loads(body)
    except ValueError:

        class Loader(yaml.SafeLoader):
            pass

        def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
            value: Any
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
            if suffix == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
            return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}

        Loader.add_multi_constructor("!", tag)
        try:
            data = yaml.load(body, Loader=Loader)
        except yaml.YAMLError as exc:
            raise ValueError(f"neither JSON nor YAML: {exc}") from exc
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class PlanReview:
    """The IAM diff per OU, the accounts each (OU, role) change reaches, and notes for the reader."""

    diff: Report
    reach: Mapping[tuple[str, str], frozenset[str]]
    notes: tuple[str, ...] = ()

    @cached_property
    def accounts(self) -> dict[str, tuple[str, ...]]:
        """OU path -> the accounts its role changes reach, for the OUs in the diff."""
        return {
            o.ou: tuple(sorted(set().union(*(self.reach.get((o.ou, r.role), frozenset()) for r in o.roles))))
            for o in self.diff.ous
        }

    def security_only(self) -> PlanReview:
        return replace(self, diff=self.diff.security_only())

    def to_dict(self, show_accounts: bool = False) -> dict[str, Any]:
        from generator.review.report import to_dict

        accounts = self.accounts
        return {
            "iam_diff": to_dict(self.diff),
            "accounts_affected": {
                "total": len({a for ids in accounts.values() for a in ids}),
                "ous": [
                    {
                        "ou": o.ou,
                        "roles": [r.role for r in o.roles],
                        "accounts": len(accounts[o.ou]),
                        "account_ids": list(accounts[o.ou]) if show_accounts else None,
                    }
                    for o in self.diff.ous
                ],
            },
            "iam_notes": list(self.notes),
        }


def review(
    scopes_: Sequence[Scope], tree: OrgTree, notes: Sequence[str], retain_stacks: bool, head_label: str
) -> PlanReview:
    """Compare every scope's deployed roles with its desired ones, OU by OU, with the offline differ."""
    from generator.review.diff import OuViews, diff_views
    from generator.review.iamview import policy_views, role_views

    every = {u.path for u in tree.units.values()}
    base: OuViews = {p: {} for p in every}
    head: OuViews = {p: {} for p in every}
    reach: dict[tuple[str, str], frozenset[str]] = {}
    notes = list(notes)
    for scope in scopes_:
        sides = [(s, views) for s, views in ((scope.deployed, base), (scope.desired, head)) if s is not None]
        try:
            parsed = [(parse_template(s.template), s, views) for s, views in sides]
        except ValueError as exc:  # say so, and diff the rest
            notes.append(f"{scope.name}: left out, its template cannot be read ({exc})")
            continue
        for template, side, views in parsed:
            cache: dict[Params, list[Any]] = {}
            views_of = policy_views if scope.kind == Kind.LOGIN_ACCOUNT else role_views
            for path, params in side.ous.items():
                if params not in cache:
                    cache[params] = views_of(template, dict(params))
                for view in cache[params]:
                    here = views.setdefault(path, {})
                    key = view.name if view.name not in here else f"{view.name} ({scope.name})"
                    here[key] = view
                    reach[(path, key)] = scope.accounts.get(path, frozenset())
    diff = diff_views(base, head, DEPLOYED, head_label)
    if any(r.kind == "removed" for o in diff.ous for r in o.roles):
        notes.append(RETAIN_NOTE if retain_stacks else REVOKE_NOTE)
    return PlanReview(diff, reach, tuple(notes))


def review_session(s: SyncSession, plan: SyncPlan, head_label: str) -> PlanReview:
    """The review of a plan made in this session, from what the session read."""
    assert s.state is not None, "plan first"
    found, notes = scopes(s.templates, s.state, plan)
    return review(found, s.state.tree, notes, s.manifest.org.deletion.retain_stacks, head_label)


# --- rendering ----------------------------------------------------------------------------------------


def plan_headline(report: SyncReport, r: PlanReview) -> str:
    """One line for the approval message: the operations, then the IAM changes and the accounts reached."""
    if r.diff.empty:
        return f"{report.headline()}; IAM: no changes"
    s = r.diff.summary
    flags = ", ".join(f"{n} {f}" for f, n in s.flags.items() if n)
    total = len({a for ids in r.accounts.values() for a in ids})
    return (
        f"{report.headline()}; IAM: {s.added + s.removed + s.changed} role change(s) in {s.ous} OU(s), "
        f"{s.broadened} broadened{f' ({flags})' if flags else ''}; {total} account(s) affected"
    )


def broadening_line(r: PlanReview) -> str:
    """The roles whose changes broaden access, where, and for how many accounts."""
    accounts = r.accounts
    roles: dict[str, tuple[set[str], set[str], set[str]]] = {}
    for o in r.diff.ous:
        for c in o.roles:
            if c.grade == "broadened":
                ous, flags, accts = roles.setdefault(c.role, (set(), set(), set()))
                ous.add(o.ou)
                flags.update(c.flags)
                accts.update(accounts[o.ou])
    if not roles:
        return "No IAM changes." if r.diff.empty else "No IAM change broadens access."
    parts = []
    for role, (ous, flags, accts) in sorted(roles.items()):
        flagged = f" ({', '.join(sorted(flags))})" if flags else ""
        parts.append(f"{role}{flagged} at {len(ous)} OU(s), {len(accts)} account(s)")
    return "**Broadens access:** " + "; ".join(parts) + "."


def _account_lines(r: PlanReview, bullet: str, limit: int) -> list[str]:
    """`OU: id, id, ...` per OU, cut (with a pointer to the JSON) once `limit` characters are used."""
    lines: list[str] = []
    used = 0
    accounts = r.accounts
    for ou, ids in accounts.items():
        line = f"{bullet}{ou}: {', '.join(ids) or '-'}"
        used += len(line) + 1
        if used > limit:
            lines.append(
                f"{bullet}... {len(accounts) - len(lines)} more OU(s): see --format json --show-accounts"
            )
            break
        lines.append(line)
    return lines


def render_plan(
    report: SyncReport,
    r: PlanReview,
    fmt: str,
    *,
    all_ous: bool = False,
    show_accounts: bool = False,
    color: bool = False,
) -> str:
    """The plan with its IAM review, as text, markdown or json."""
    from generator.review.report import format_markdown, format_text

    if fmt == "json":
        return json.dumps(report.to_dict() | r.to_dict(show_accounts), indent=2, sort_keys=True) + "\n"
    counts = {ou: len(ids) for ou, ids in r.accounts.items()}
    if fmt == "markdown":
        lead = [f"### {plan_headline(report, r)}", "", broadening_line(r)]
        tail = [f"> note: {n}" for n in r.notes]
        if show_accounts and counts:
            ids = _account_lines(r, "- ", MARKDOWN_LIMIT // 4)
            tail += ["", "<details><summary>Accounts affected per OU</summary>", "", *ids, "", "</details>"]
        sections = ["\n".join(tail).strip("\n")] if tail else []
        used = len(render_markdown(report, lead, sections, all_ous))
        iam = format_markdown(r.diff, max(MARKDOWN_LIMIT - used, 2_000), counts)
        return render_markdown(report, lead, [iam, *sections], all_ous)
    lines = [format_text(r.diff, color=color, accounts=counts).rstrip("\n")]
    if show_accounts and counts:
        lines += ["", "accounts affected per OU:", *_account_lines(r, "  ", 10**9)]
    if r.notes:
        lines += ["", *[f"note: {n}" for n in r.notes]]
    return render_text(report, all_ous, ["\n".join(lines)])
