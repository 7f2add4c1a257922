"""Diff two organizations per OU: roles added, removed or changed, with statement-level IAM changes.

Pure: takes Org models (or RoleViews) and returns a Report; formatting lives in report.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from generator.org.model import Org
from generator.review import grading as g
from generator.review.iamview import Grant, RoleView, TrustGrant, role_views

# Parameters that only carry org settings; their effect shows in the grants they resolve into.
QUIET_PARAMETERS = ("Project",)


@dataclass(frozen=True)
class RoleChange:
    role: str
    kind: str  # added | removed | changed
    grade: str  # broadened | narrowed | neutral
    flags: tuple[str, ...]
    trust_added: tuple[TrustGrant, ...] = ()
    trust_removed: tuple[TrustGrant, ...] = ()
    permissions_added: tuple[Grant, ...] = ()
    permissions_removed: tuple[Grant, ...] = ()
    managed_added: tuple[str, ...] = ()
    managed_removed: tuple[str, ...] = ()
    boundary: tuple[str | None, str | None] | None = None
    session: tuple[int | None, int | None] | None = None
    path: tuple[str, str] | None = None
    parameters: tuple[tuple[str, str | None, str | None], ...] = ()

    @property
    def detail_key(self) -> tuple[object, ...]:
        """Equal for the same change wherever it appears, so details print once per role change."""
        return (
            self.role,
            self.kind,
            self.trust_added,
            self.trust_removed,
            self.permissions_added,
            self.permissions_removed,
            self.managed_added,
            self.managed_removed,
            self.boundary,
            self.session,
            self.path,
            self.parameters,
        )


@dataclass(frozen=True)
class OuChange:
    ou: str
    roles: tuple[RoleChange, ...] = ()
    renamed_from: str | None = None


@dataclass(frozen=True)
class Summary:
    ous: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    broadened: int = 0
    narrowed: int = 0
    neutral: int = 0
    flags: Mapping[str, int] = field(default_factory=dict)
    renamed: int = 0


@dataclass(frozen=True)
class Report:
    base: str
    head: str
    ous: tuple[OuChange, ...]

    @property
    def summary(self) -> Summary:
        roles = [r for o in self.ous for r in o.roles]
        flags = {f: sum(f in r.flags for r in roles) for f in g.FLAGS}
        return Summary(
            ous=len(self.ous),
            added=sum(r.kind == "added" for r in roles),
            removed=sum(r.kind == "removed" for r in roles),
            changed=sum(r.kind == "changed" for r in roles),
            broadened=sum(r.grade == g.BROADENED for r in roles),
            narrowed=sum(r.grade == g.NARROWED for r in roles),
            neutral=sum(r.grade == g.NEUTRAL for r in roles),
            flags=flags,
            renamed=sum(o.renamed_from is not None for o in self.ous),
        )

    @property
    def empty(self) -> bool:
        return not self.ous

    def security_only(self) -> Report:
        """Only the role changes that broaden access (and the OUs that have one)."""
        kept = []
        for o in self.ous:
            roles = tuple(r for r in o.roles if r.grade == g.BROADENED)
            if roles:
                kept.append(OuChange(o.ou, roles, o.renamed_from))
        return Report(self.base, self.head, tuple(kept))


def compare(role: str, base: RoleView | None, head: RoleView | None) -> RoleChange | None:
    """The change from `base` to `head` (None for absent), or None when they grant the same."""
    if base is None and head is None:
        return None
    if base is None or head is None:
        return _added_or_removed(role, base, head)
    return _changed(role, base, head)


def _added_or_removed(role: str, base: RoleView | None, head: RoleView | None) -> RoleChange:
    """A role that exists on one side only: everything it grants is added (broadened) or removed (narrowed)."""
    view = head or base
    assert view is not None
    kind = "added" if base is None else "removed"
    trust = tuple(sorted(view.trust))
    perms = tuple(sorted(view.permissions))
    managed = tuple(sorted(view.managed_policies))
    added = kind == "added"
    flags: set[str] = set()
    if added:
        flags |= {g.FLAG_TRUST_WIDENED} if trust else set()
        flags |= {g.FLAG_WILDCARD} if any(g.is_wildcard(p) for p in perms) else set()
        if any(g.escalates(p) for p in perms) or any(g.escalating_policy(m) for m in managed):
            flags.add(g.FLAG_ESCALATION)
    else:
        flags.add(g.FLAG_REMOVED)
    return RoleChange(
        role=role,
        kind=kind,
        grade=g.BROADENED if added else g.NARROWED,
        flags=tuple(f for f in g.FLAGS if f in flags),
        trust_added=trust if added else (),
        trust_removed=() if added else trust,
        permissions_added=perms if added else (),
        permissions_removed=() if added else perms,
        managed_added=managed if added else (),
        managed_removed=() if added else managed,
    )


@dataclass(frozen=True)
class _Delta:
    """What differs between two views of one role; each pair is (base, head), None when equal."""

    trust_added: frozenset[TrustGrant]
    trust_removed: frozenset[TrustGrant]
    perms_added: frozenset[Grant]
    perms_removed: frozenset[Grant]
    managed_added: frozenset[str]
    managed_removed: frozenset[str]
    boundary: tuple[str | None, str | None] | None
    session: tuple[int | None, int | None] | None
    path: tuple[str, str] | None
    parameters: tuple[tuple[str, str | None, str | None], ...]

    @property
    def empty(self) -> bool:
        return not (
            self.trust_added
            or self.trust_removed
            or self.perms_added
            or self.perms_removed
            or self.managed_added
            or self.managed_removed
            or self.boundary
            or self.session
            or self.path
            or self.parameters
        )


def _delta(base: RoleView, head: RoleView) -> _Delta:
    names = sorted((set(base.parameters) | set(head.parameters)) - set(QUIET_PARAMETERS))
    return _Delta(
        trust_added=head.trust - base.trust,
        trust_removed=base.trust - head.trust,
        perms_added=head.permissions - base.permissions,
        perms_removed=base.permissions - head.permissions,
        managed_added=head.managed_policies - base.managed_policies,
        managed_removed=base.managed_policies - head.managed_policies,
        boundary=(
            (base.permissions_boundary, head.permissions_boundary)
            if base.permissions_boundary != head.permissions_boundary
            else None
        ),
        session=(
            (base.max_session_duration, head.max_session_duration)
            if base.max_session_duration != head.max_session_duration
            else None
        ),
        path=(base.path, head.path) if base.path != head.path else None,
        parameters=tuple(
            (n, base.parameters.get(n), head.parameters.get(n))
            for n in names
            if base.parameters.get(n) != head.parameters.get(n)
        ),
    )


def _grade(d: _Delta) -> str:
    """Broadened when anything grants more, else narrowed when anything grants less, else neutral."""
    boundary, session = d.boundary, d.session
    broadening = bool(
        d.trust_added
        or any(p.effect == "Allow" for p in d.perms_added)
        or any(p.effect == "Deny" for p in d.perms_removed)
        or d.managed_added
        or (boundary is not None and boundary[1] != boundary[0] and boundary[0] is not None)
        or (session is not None and (session[1] or 0) > (session[0] or 0))
    )
    narrowing = bool(
        d.trust_removed
        or any(p.effect == "Allow" for p in d.perms_removed)
        or any(p.effect == "Deny" for p in d.perms_added)
        or d.managed_removed
        or (boundary is not None and boundary[0] is None)
        or (session is not None and (session[1] or 0) < (session[0] or 0))
    )
    return g.BROADENED if broadening else g.NARROWED if narrowing else g.NEUTRAL


def _changed(role: str, base: RoleView, head: RoleView) -> RoleChange | None:
    """A role on both sides: what it grants more or less, graded and flagged; None when nothing differs."""
    d = _delta(base, head)
    if d.empty:
        return None
    flags = g.trust_flags(frozenset(d.trust_added), frozenset(d.trust_removed))
    if any(g.is_wildcard(p) for p in d.perms_added):
        flags.add(g.FLAG_WILDCARD)
    if any(g.escalates(p) for p in d.perms_added) or any(g.escalating_policy(m) for m in d.managed_added):
        flags.add(g.FLAG_ESCALATION)
    return RoleChange(
        role=role,
        kind="changed",
        grade=_grade(d),
        flags=tuple(f for f in g.FLAGS if f in flags),
        trust_added=tuple(sorted(d.trust_added)),
        trust_removed=tuple(sorted(d.trust_removed)),
        permissions_added=tuple(sorted(d.perms_added)),
        permissions_removed=tuple(sorted(d.perms_removed)),
        managed_added=tuple(sorted(d.managed_added)),
        managed_removed=tuple(sorted(d.managed_removed)),
        boundary=d.boundary,
        session=d.session,
        path=d.path,
        parameters=d.parameters,
    )


OuViews = dict[str, dict[str, RoleView]]  # OU path -> role -> view


def org_views(org: Org | None) -> OuViews:
    """For every OU, the effective roles resolved with that OU's parameter values."""
    # Imported here: the blueprints package loads every blueprint (troposphere, awacs; 0.3 s), which
    # `python -m pipeline plan` reviewing deployed templates never renders.
    from generator.blueprints.org_roles import role_template

    if org is None:
        return {}
    templates = {name: role_template(org, role).to_dict() for name, role in org.roles.items()}
    views: OuViews = {}
    for path in sorted(org.ous):
        views[path] = {}
        for r in org.effective_roles(path):
            params = {k: v.value for k, v in r.parameters.items()}
            # The role itself (a break-glass template also holds the forwarder role of its alarm).
            views[path][r.role] = next(v for v in role_views(templates[r.role], params) if v.name == r.role)
    return views


def diff_views(base: OuViews, head: OuViews, base_label: str, head_label: str) -> Report:
    removed_ous = sorted(set(base) - set(head))
    added_ous = sorted(set(head) - set(base))
    renames: dict[str, str] = {}  # new path -> old path, for OUs whose folder was renamed or moved with
    for new in added_ous:  # parents sort first, so a renamed parent is known before its children
        if "/" not in new:
            continue  # the root is never renamed
        parent, name = new.rsplit("/", 1)
        if parent in renames:  # a child of a renamed OU keeps its name under the new parent
            candidates = [f"{renames[parent]}/{name}"]
        else:
            candidates = [o for o in removed_ous if o.rsplit("/", 1)[0] == parent]
        for old in candidates:
            if old in removed_ous and old not in renames.values() and base[old] == head[new]:
                renames[new] = old
                break
    changes = []
    for path in sorted(set(base) | set(head)):
        if path in renames.values():
            continue
        old_roles = base.get(renames.get(path, path), {})
        new_roles = head.get(path, {})
        roles = tuple(
            change
            for name in sorted(set(old_roles) | set(new_roles))
            if (change := compare(name, old_roles.get(name), new_roles.get(name))) is not None
        )
        if roles or path in renames:
            changes.append(OuChange(path, roles, renames.get(path)))
    return Report(base_label, head_label, tuple(changes))


def diff_orgs(base: Org | None, head: Org | None, base_label: str, head_label: str) -> Report:
    return diff_views(org_views(base), org_views(head), base_label, head_label)
