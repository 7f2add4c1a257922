"""Reads the live organization into a core OrgTree: a thin adapter over an Organizations client passed in."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline.aws.retry import Backoff, call_with_backoff, describe_error, paginate
from pipeline.core import limits
from pipeline.core.errors import OrgReadError
from pipeline.core.org import Account, OrgTree, OrgUnit


def _pages(client: Any, operation: str, key: str, backoff: Backoff, **kwargs: Any) -> Iterator[Any]:
    return paginate(client, operation, key, backoff, kwargs, page_size=limits.ORG_PAGE_SIZE)


def _state(account: dict[str, Any]) -> str:
    """`State`, which replaced `Status` on 2026-09-09; `Status` only where `State` is absent, and an account
    with neither is not deployable
    (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_account_state.html)."""
    return str(account.get("State") or account.get("Status") or "UNKNOWN")


def read_org(client: Any, backoff: Backoff | None = None, workers: int = 4) -> OrgTree:
    """Walk the organization from the root, level by level: the child OUs and the accounts of every OU,
    `workers` parents at a time (Organizations throttles hard; throttled pages are retried).

    Any error other than throttling fails the whole read: a partial tree is never returned, because a
    missing branch would look like OUs to remove.
    """
    backoff = backoff or Backoff()

    def children(parent: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ous = list(
            _pages(
                client,
                "list_organizational_units_for_parent",
                "OrganizationalUnits",
                backoff,
                ParentId=parent,
            )
        )
        accts = list(_pages(client, "list_accounts_for_parent", "Accounts", backoff, ParentId=parent))
        return ous, accts

    try:
        org = call_with_backoff(client.describe_organization, backoff)["Organization"]
        roots = list(_pages(client, "list_roots", "Roots", backoff))
        if len(roots) != 1:
            raise OrgReadError(f"expected one organization root, found {len(roots)}")
        root = roots[0]
        units = {root["Id"]: OrgUnit(root["Id"], "Root", None, "Root")}
        accounts: dict[str, Account] = {}
        level = [root["Id"]]
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="org-walk") as pool:
            while level:
                found = list(pool.map(children, level))
                next_level = []
                for parent, (ous, accts) in zip(level, found, strict=True):
                    for ou in ous:
                        path = f"{units[parent].path}/{ou['Name']}"
                        units[ou["Id"]] = OrgUnit(ou["Id"], ou["Name"], parent, path)
                        next_level.append(ou["Id"])
                    for a in accts:
                        accounts[a["Id"]] = Account(a["Id"], a.get("Name", ""), parent, _state(a))
                level = next_level
    except OrgReadError:
        raise
    except Exception as exc:
        raise OrgReadError(f"reading the organization failed: {describe_error(exc)}") from exc
    return OrgTree(
        organization_id=org["Id"],
        management_account_id=org.get("MasterAccountId", ""),
        root_id=root["Id"],
        units=units,
        accounts=accounts,
    )
