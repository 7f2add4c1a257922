"""Seed moto's Organizations backend with a known organization (fixed ids), and read it back.

Seeding writes moto's records directly rather than calling CreateAccount: moto would give random ids and
build an IAM backend per account, far too slow for the 5,000-account benchmark.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pipeline.core.manifest import Manifest
from pipeline.emulator.model import STACKSETS_PRINCIPAL
from pipeline.emulator.org_models import touch


@dataclass(frozen=True)
class SeedAccount:
    id: str
    name: str
    path: str
    status: str = "ACTIVE"


@dataclass
class OrgLayout:
    """An organization to seed: OU paths with their ids (parents first) and accounts placed by path."""

    management_account: str
    org_id: str = "o-loc4lorg01"
    root_id: str = "r-loca"
    ous: dict[str, str] = field(default_factory=dict)  # path -> id, "Root" excluded
    accounts: list[SeedAccount] = field(default_factory=list)
    delegated_admins: list[str] = field(default_factory=list)

    def ou_id(self, path: str) -> str:
        return self.root_id if path == "Root" else self.ous[path]

    def add_ou(self, path: str, ou_id: str | None = None) -> str:
        suffix = hashlib.sha256(path.encode()).hexdigest()[:8]
        self.ous[path] = ou_id or f"ou-{self.root_id[2:]}-{suffix}"
        return self.ous[path]

    def to_json(self) -> dict[str, Any]:
        return {
            "management_account": self.management_account,
            "org_id": self.org_id,
            "root_id": self.root_id,
            "ous": dict(self.ous),
            "accounts": [a.__dict__ for a in self.accounts],
            "delegated_admins": list(self.delegated_admins),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrgLayout:
        return cls(
            data["management_account"],
            data["org_id"],
            data["root_id"],
            dict(data["ous"]),
            [SeedAccount(**a) for a in data["accounts"]],
            list(data.get("delegated_admins", [])),
        )


def layout_from_manifest(manifest: Manifest, per_ou: int = 2) -> OrgLayout:
    """An organization shaped like the manifest's OU tree, with `per_ou` accounts in every OU below the
    root, the login account in a Security OU (or the first OU), excluded accounts where they are excluded,
    and the accounts of an OU named Suspended suspended."""
    org = manifest.org
    pinned = [e.ou_id for e in manifest.ous if e.ou_id and e.ou_id.startswith("ou-")]
    root = f"r-{pinned[0].split('-')[1]}" if pinned else "r-loca"
    layout = OrgLayout(org.management_account_id, root_id=root)
    if org.organization_id:  # the organization org.yaml names (org.yaml requires one)
        layout.org_id = org.organization_id
    for entry in manifest.ous:
        if entry.path != "Root":
            layout.add_ou(entry.path, entry.ou_id)
    layout.accounts.append(SeedAccount(org.management_account_id, "management", "Root"))
    paths = list(layout.ous)
    login_home = next((p for p in paths if p.endswith("/Security")), paths[0] if paths else "Root")
    layout.accounts.append(SeedAccount(org.login_account_id, "login", login_home))
    taken = {org.management_account_id, org.login_account_id}
    for spec in manifest.stacksets:
        for t in spec.targets:
            for acct in t.excluded_accounts:
                if acct not in taken:
                    layout.accounts.append(SeedAccount(acct, f"excluded-{acct[-4:]}", t.ou_path))
                    taken.add(acct)
    number = 100000000000
    for path in paths:
        leaf = path.rsplit("/", 1)[1].lower()
        for n in range(1, per_ou + 1):
            while f"{number:012d}" in taken:
                number += 1
            status = "SUSPENDED" if leaf == "suspended" else "ACTIVE"
            layout.accounts.append(SeedAccount(f"{number:012d}", f"{leaf}-{n}", path, status))
            taken.add(f"{number:012d}")
    return layout


def seed(layout: OrgLayout) -> None:
    """Replace moto's organization for the management account with the layout."""
    from moto.core.utils import utcnow
    from moto.organizations.models import (
        FakeAccount,
        FakeDelegatedAdministrator,
        FakeOrganizationalUnit,
        organizations_backends,
    )

    backend = organizations_backends[layout.management_account]["aws"]
    backend._reset()
    for a in layout.accounts:
        organizations_backends.master_accounts.pop(a.id, None)
    # moto's own CreateOrganization makes the root, the management account and the default policies;
    # their random ids are then replaced with the layout's.
    backend.create_organization(region="us-east-1", FeatureSet="ALL")
    org = backend.org
    assert org is not None
    org.id, org.root_id = layout.org_id, layout.root_id
    # An organization ready for service-managed StackSets: trusted access is on, as `doctor` checks
    # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-activate-trusted-access.html).
    backend.enable_aws_service_access(ServicePrincipal=STACKSETS_PRINCIPAL)
    backend.ou[0].id = layout.root_id
    backend.accounts[0].parent_id = layout.root_id
    for path in sorted(layout.ous, key=lambda p: (p.count("/"), p)):
        parent_path, name = path.rsplit("/", 1)
        unit = FakeOrganizationalUnit(org, Name=name, ParentId=layout.ou_id(parent_path))
        unit.id = layout.ous[path]
        backend.ou.append(unit)
    start = utcnow()
    for i, a in enumerate(layout.accounts):
        if a.id == layout.management_account:
            backend.accounts[0].name = a.name
            backend.accounts[0].parent_id = layout.ou_id(a.path)
            continue
        # FakeAccount's constructor creates an IAM backend per account; set its fields directly instead.
        acct: Any = FakeAccount.__new__(FakeAccount)
        acct.__dict__.update(
            type="ACCOUNT",
            region="us-east-1",
            organization_id=org.id,
            master_account_id=layout.management_account,
            create_account_status_id=f"car-{a.id[-8:]}",
            id=a.id,
            name=a.name,
            email=f"{a.name}@example.com",
            create_time=start + timedelta(seconds=i),
            status=a.status,
            state=a.status,
            joined_method="CREATED",
            parent_id=layout.ou_id(a.path),
            attached_policies=[],
            tags={},
        )
        backend.accounts.append(acct)
        organizations_backends.master_accounts[a.id] = (layout.management_account, "aws")
    for admin_id in layout.delegated_admins:
        admin = FakeDelegatedAdministrator(backend.get_account_by_id(admin_id))
        admin.services[STACKSETS_PRINCIPAL] = {"ServicePrincipal": STACKSETS_PRINCIPAL}
        backend.admins.append(admin)
    touch(backend)  # records written directly: caches keyed on the backend's generation start again


def dump(management_account: str) -> OrgLayout:
    """moto's organization for the management account, back as a layout (for --local's state file)."""
    from moto.organizations.models import organizations_backends

    backend = organizations_backends[management_account]["aws"]
    assert backend.org is not None
    parents = {ou.id: (ou.parent_id, ou.name) for ou in backend.ou}
    root = backend.org.root_id

    def path_of(unit: str | None) -> str:
        if unit is None or unit == root:
            return "Root"
        parent, name = parents[unit]
        return f"{path_of(parent)}/{name}"

    layout = OrgLayout(management_account, backend.org.id, root)
    for ou in backend.ou:
        if ou.id != root:
            layout.ous[path_of(ou.id)] = ou.id
    layout.accounts = [SeedAccount(a.id, a.name, path_of(a.parent_id), a.state) for a in backend.accounts]
    layout.delegated_admins = [a.account.id for a in backend.admins if STACKSETS_PRINCIPAL in a.services]
    return layout
