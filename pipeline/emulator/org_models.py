"""Organizations as AWS answers, where moto (5.x) differs: accounts' `State`, and `python -m pipeline local
create-ou | rename-ou | delete-ou | create-account`.

Test and --local use only: `install()` patches moto's Organizations backend once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

_installed = False
GENERATION = "_emulator_generation"
# Backend methods that change nothing: every other one bumps the generation (pipeline.emulator.org_models).
READS = ("describe", "list", "get", "validate")


def generation(backend: Any) -> int:
    """How many changes moto's Organizations backend has seen: what the emulator's caches are keyed on."""
    return int(getattr(backend, GENERATION, 0))


def touch(backend: Any) -> None:
    """Record a change made to the backend's records directly (seeding), not through its methods."""
    setattr(backend, GENERATION, generation(backend) + 1)


def cached(backend: Any, name: str, build: Callable[[], Any]) -> Any:
    """build(), kept on the backend until its next change (a new backend starts without)."""
    key = f"_emulator_cache_{name}"
    held = getattr(backend, key, None)
    if held is None or held[0] != generation(backend):
        held = (generation(backend), build())
        setattr(backend, key, held)
    return held[1]


def _bumping(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            touch(self)

    return wrapper


def _index_accounts(backend_class: Any) -> None:
    """ListAccountsForParent from an index by parent: moto scans every account per call, which makes one
    walk of a 20,000-account organization take minutes. Same answer, same order (creation time), same
    pages (moto's own paginator)."""
    from moto.organizations.utils import PAGINATION_MODEL
    from moto.utilities.paginator import paginate

    def by_parent(backend: Any) -> dict[str, list[Any]]:
        index: dict[str, list[Any]] = {}
        for account in sorted(backend.accounts, key=lambda a: a.create_time):
            index.setdefault(account.parent_id, []).append(account)
        return index

    def list_accounts_for_parent(self: Any, parent_id: str) -> list[Any]:
        parent_id = self.validate_parent_id(parent_id)
        return list(cached(self, "accounts_by_parent", lambda: by_parent(self)).get(parent_id, []))

    backend_class.list_accounts_for_parent = paginate(pagination_model=PAGINATION_MODEL)(
        list_accounts_for_parent
    )


def install() -> None:
    """- DeleteOrganizationalUnit refuses an OU that still holds accounts or OUs ("You must first remove
      all accounts and child OUs from the OU that you want to delete", OrganizationalUnitNotEmptyException:
      https://docs.aws.amazon.com/organizations/latest/APIReference/API_DeleteOrganizationalUnit.html);
      moto deletes it and strands its accounts.
    - CreateOrganizationalUnit and UpdateOrganizationalUnit refuse a name a sibling has
      (DuplicateOrganizationalUnitException: "An OU with the same name already exists",
      https://docs.aws.amazon.com/organizations/latest/APIReference/API_UpdateOrganizationalUnit.html);
      moto creates duplicates, and refuses a rename to a name used anywhere in the organization.
    - Accounts carry `State` only, never the retired `Status` (moto returns both).
    - StackSets' principal is one a delegated administrator can be registered for, and listed by
      (`register-delegated-administrator --service-principal member.org.stacksets.cloudformation.amazonaws.com`,
      "Register a delegated administrator",
      https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html);
      moto refuses it as an unrecognized service principal."""
    global _installed  # noqa: PLW0603 - one-time patch of a third-party module
    if _installed:
        return
    from moto.organizations.exceptions import OrganizationsClientError as RESTError
    from moto.organizations.models import OrganizationsBackend

    original_create = OrganizationsBackend.create_organizational_unit

    def refuse_duplicate(backend: Any, parent: str, name: str, unit: Any = None) -> None:
        if any(
            getattr(u, "parent_id", None) == parent and u.name == name and u is not unit for u in backend.ou
        ):
            raise RESTError(
                "DuplicateOrganizationalUnitException", "An OU with the same name already exists."
            )

    def create_ou(self: Any, **kwargs: Any) -> dict[str, Any]:
        refuse_duplicate(self, kwargs["ParentId"], kwargs["Name"])
        return dict(original_create(self, **kwargs))

    def delete_ou(self: Any, **kwargs: Any) -> None:
        ou = self.get_organizational_unit_by_id(kwargs["OrganizationalUnitId"])
        if any(a.parent_id == ou.id for a in self.accounts) or any(
            getattr(u, "parent_id", None) == ou.id for u in self.ou
        ):
            raise RESTError(
                "OrganizationalUnitNotEmptyException",
                "The specified OU is not empty. Move all accounts to another root or to other OUs, "
                "remove all child OUs, and try the operation again.",
            )
        self.ou.remove(ou)

    def rename_ou(self: Any, **kwargs: Any) -> dict[str, Any]:
        ou = self.get_organizational_unit_by_id(kwargs["OrganizationalUnitId"])
        refuse_duplicate(self, ou.parent_id, kwargs["Name"], ou)
        ou.name = kwargs["Name"]
        return dict(ou.describe())

    from moto.organizations.models import FakeAccount, FakeDelegatedAdministrator

    from pipeline.emulator.model import STACKSETS_PRINCIPAL

    if STACKSETS_PRINCIPAL not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
        FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(STACKSETS_PRINCIPAL)

    original_describe = FakeAccount.describe

    def describe_account(self: Any) -> dict[str, Any]:
        # Organizations retired the account `Status` field on 2026-09-09: responses carry `State` only
        # (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_account_state.html).
        described = dict(original_describe(self))
        described.pop("Status", None)
        return described

    FakeAccount.describe = describe_account  # type: ignore[method-assign]
    OrganizationsBackend.create_organizational_unit = create_ou  # type: ignore[method-assign]
    OrganizationsBackend.delete_organizational_unit = delete_ou  # type: ignore[method-assign]
    OrganizationsBackend.update_organizational_unit = rename_ou  # type: ignore[method-assign]
    # Every method that may change the organization bumps its generation, so caches keyed on it (the
    # account index here, MotoOrgView's snapshot) never serve a stale organization.
    for name, method in list(vars(OrganizationsBackend).items()):
        if inspect.isfunction(method) and (name == "_reset" or not name.startswith((*READS, "_"))):
            setattr(OrganizationsBackend, name, _bumping(method))
    _index_accounts(OrganizationsBackend)
    _installed = True
