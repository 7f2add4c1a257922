"""The access graph of an organization, from org_roles/ alone: who may assume which role, under which
conditions, in which OUs; and the access a change gains and loses.

Pure: takes the org model and returns data. One path is (principal, role, conditions) with the OUs the
role reaches; its atoms (one per OU) are what a diff compares, so a condition dropped shows as the old
path lost and the new one gained.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from generator.errors import GeneratorError
from generator.org.model import Org, Role

# Principal kinds, in the order a reader meets them.
LOGIN_GROUP = "login group"
LOGIN_PRINCIPAL = "login principal"
LOGIN_ACCOUNT = "login account"
EXTERNAL_PRINCIPAL = "external principal"
EXTERNAL_ACCOUNT = "external account"
SERVICE = "service"


@dataclass(frozen=True, order=True)
class AccessPath:
    """One way in: `principal` may assume `role` when every condition holds, in the accounts of `ous`
    (OU paths, each with the accounts it excludes, and 'management account ID' when the role is there too)."""

    role: str
    kind: str
    principal: str
    via: str
    conditions: tuple[str, ...]
    ous: tuple[tuple[str, tuple[str, ...]], ...]

    def atoms(self) -> set[Atom]:
        return {
            Atom(self.role, self.kind, self.principal, self.via, self.conditions, o, x) for o, x in self.ous
        }


@dataclass(frozen=True, order=True)
class Atom:
    """One path in one OU: the unit a diff compares."""

    role: str
    kind: str
    principal: str
    via: str
    conditions: tuple[str, ...]
    ou: str
    exclude_accounts: tuple[str, ...]


@dataclass(frozen=True)
class AccessDiff:
    base: str
    head: str
    gained: tuple[AccessPath, ...]
    lost: tuple[AccessPath, ...]

    @property
    def empty(self) -> bool:
        return not self.gained and not self.lost


def _closest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _mfa(mfa: bool, max_age: int | None) -> list[str]:
    if not mfa:
        return []
    return [f"MFA within {max_age} s" if max_age else "MFA"]


def _login_paths(org: Org, role: Role) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(kind, principal, via, conditions) of the login account. Both sides must allow: the role's trust
    (MFA, principal, source identity) and the login account's managed policy (MFA again, and
    aws:ResourceOrgID so that only roles in accounts of this organization can be assumed; see
    generator/org/iam.py login_policy for the AWS pages)."""
    login = role.trust.login
    if login is None:
        return []
    s = org.settings
    policy = f"{s.project}-assume-{role.name}"
    conditions = _mfa(login.mfa, login.max_mfa_age_seconds)
    if role.break_glass_reason:
        conditions.append("source identity set")
    conditions.append(f"role in organization {s.organization_id}")
    if s.session_tag_keys:
        conditions.append(f"session tag keys only {', '.join(s.session_tag_keys)}")
    cond = tuple(conditions)
    arn = f"arn:aws:iam::{s.login_account_id}:"
    if login.principals:
        # The trust names the principals (aws:PrincipalArn); each needs the policy attached as well.
        return [(LOGIN_PRINCIPAL, arn + p, f"policy {policy}", cond) for p in login.principals]
    if s.create_login_groups and login.admits_users:
        return [(LOGIN_GROUP, f"{arn}group/{s.project}-{role.name}", f"policy {policy}", cond)]
    return [(LOGIN_ACCOUNT, f"{arn}root", f"policy {policy} (attach it to users or roles)", cond)]


def _trust_paths(org: Org, role: Role) -> list[tuple[str, str, str, tuple[str, ...]]]:
    paths = _login_paths(org, role)
    for account in role.trust.accounts:
        conditions = _mfa(account.mfa, None)
        if account.external_id:
            conditions.append(f"external id {account.external_id}")
        arn = f"arn:aws:iam::{account.account_id}:"
        if account.principals:
            paths += [
                (EXTERNAL_PRINCIPAL, arn + p, "trust policy", tuple(conditions)) for p in account.principals
            ]
        else:
            # An account principal trusts the account: any of its identities whose own (identity-based)
            # policy allows sts:AssumeRole on the role, as that account's administrators decide (AWS JSON
            # policy elements: Principal, "AWS account principals",
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
            paths.append((EXTERNAL_ACCOUNT, f"{arn}root", "trust policy", tuple(conditions)))
    paths += [(SERVICE, service, "trust policy", ()) for service in role.trust.services]
    return paths


def _locations(org: Org, role: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    ous = [(path, tuple(r.exclude_accounts)) for path, r in org.reach(role)]
    if any(a.role == role and a.include_management_account for _, a in org.attachments()):
        # Service-managed StackSets never reach it; the management-account stack puts the role there.
        ous.append((f"management account {org.settings.management_account_id}", ()))
    return tuple(ous)


def access_paths(org: Org | None) -> list[AccessPath]:
    """Every path into every role the organization attaches somewhere, sorted."""
    if org is None:
        return []
    out = []
    for name, role in sorted(org.roles.items()):
        ous = _locations(org, name)
        if not ous:
            continue
        out += [AccessPath(name, k, p, v, c, ous) for k, p, v, c in _trust_paths(org, role)]
    return sorted(out)


def check_filters(orgs: Iterable[Org | None], role: str | None, ou: str | None) -> None:
    """A role or OU that none of the organizations has (head, and base with --base: a removed role is
    still a good filter) is a usage error, not an empty answer."""
    known = [o for o in orgs if o is not None]
    if not known:
        return
    roles = sorted({r for o in known for r in o.roles})
    ous = sorted({p for o in known for p in o.ous})
    if role is not None and role not in roles:
        raise GeneratorError(f"no role '{role}' in the catalog{_closest(role, roles)}")
    if ou is not None and ou.strip("/") not in ous:
        raise GeneratorError(f"no OU '{ou}' in the organization{_closest(ou.strip('/'), ous)}")


def select(
    paths: Iterable[AccessPath], role: str | None = None, ou: str | None = None, principal: str | None = None
) -> list[AccessPath]:
    """The paths into `role`, reaching OU `ou` (only that OU kept), whose principal contains `principal`
    (case-insensitive: an account id, an ARN part, a service name)."""
    out = []
    for p in paths:
        if role is not None and p.role != role:
            continue
        if principal is not None and principal.lower() not in p.principal.lower():
            continue
        ous = p.ous
        if ou is not None:
            ous = tuple(o for o in p.ous if o[0] == ou.strip("/"))
            if not ous:
                continue
        out.append(AccessPath(p.role, p.kind, p.principal, p.via, p.conditions, ous))
    return out


def _regroup(atoms: Iterable[Atom]) -> tuple[AccessPath, ...]:
    groups: dict[tuple[str, str, str, str, tuple[str, ...]], list[tuple[str, tuple[str, ...]]]] = {}
    for a in sorted(atoms):
        groups.setdefault((a.role, a.kind, a.principal, a.via, a.conditions), []).append(
            (a.ou, a.exclude_accounts)
        )
    return tuple(AccessPath(*key, tuple(ous)) for key, ous in sorted(groups.items()))


def diff_access(
    base: Iterable[AccessPath], head: Iterable[AccessPath], base_label: str, head_label: str
) -> AccessDiff:
    """Access gained (in head, not in base) and lost, per OU; a changed condition is one lost, one gained."""
    old = {a for p in base for a in p.atoms()}
    new = {a for p in head for a in p.atoms()}
    return AccessDiff(base_label, head_label, _regroup(new - old), _regroup(old - new))
