"""Reads the live organization into a core OrgTree: a thin adapter over an Organizations client passed in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pipeline.aws.retry import Backoff, call_with_backoff, describe_error, error_code, paginate
from pipeline.core import limits
from pipeline.core.errors import OrgReadError
from pipeline.core.org import OrgTree
from pipeline.core.orgwalk import OUS, OrgWalk, StaleToken


def _pages(client: Any, operation: str, key: str, backoff: Backoff, **kwargs: Any) -> Iterator[Any]:
    return paginate(client, operation, key, backoff, kwargs, page_size=limits.ORG_PAGE_SIZE)


def _state(account: dict[str, Any]) -> str:
    """`State`, which replaced `Status` on 2026-09-09; `Status` only where `State` is absent, and an account
    with neither is not deployable
    (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_account_state.html)."""
    return str(account.get("State") or account.get("Status") or "UNKNOWN")


class OrgApiReader:
    """pipeline.core.orgwalk.OrgReader over an Organizations client: one call per method, throttling
    retried with backoff (a page from its own token, never from the first page)."""

    def __init__(self, client: Any, backoff: Backoff | None = None) -> None:
        self.client = client
        self.backoff = backoff or Backoff()

    def organization(self) -> tuple[str, str]:
        org = call_with_backoff(self.client.describe_organization, self.backoff)["Organization"]
        return str(org["Id"]), str(org.get("MasterAccountId", ""))

    def root(self) -> str:
        roots = list(_pages(self.client, "list_roots", "Roots", self.backoff))
        if len(roots) != 1:
            raise OrgReadError(f"expected one organization root, found {len(roots)}")
        return str(roots[0]["Id"])

    def page(
        self, kind: str, parent: str, token: str | None
    ) -> tuple[list[tuple[str, str, str]], str | None]:
        call, key = (
            (self.client.list_organizational_units_for_parent, "OrganizationalUnits")
            if kind == OUS
            else (self.client.list_accounts_for_parent, "Accounts")
        )
        resume = {"NextToken": token} if token else {}
        try:
            response = call_with_backoff(
                call, self.backoff, ParentId=parent, MaxResults=limits.ORG_PAGE_SIZE, **resume
            )
        except Exception as exc:
            # How long a NextToken stays valid is not documented; a walk resumed in a later invocation
            # may hand in an expired one, which Organizations refuses as invalid input: read that listing
            # again from its first page (the walk keeps what it has).
            if token and error_code(exc) == "InvalidInputException":
                raise StaleToken(token) from exc
            raise
        items = [
            (str(i["Id"]), str(i.get("Name", "")), "" if kind == OUS else _state(i)) for i in response[key]
        ]
        return items, response.get("NextToken") or None


def step_walk(walk: OrgWalk, reader: OrgApiReader, out_of_time: Callable[[], bool]) -> bool:
    """walk.step, with any error but throttling (retried) turned into OrgReadError: a partial tree is never
    used, because a missing branch would look like OUs to remove."""
    try:
        return walk.step(reader, out_of_time)
    except OrgReadError:
        raise
    except Exception as exc:
        raise OrgReadError(f"reading the organization failed: {describe_error(exc)}") from exc


def read_org(client: Any, backoff: Backoff | None = None) -> OrgTree:
    """Walk the whole organization from the root in one go: the child OUs and the accounts of every OU,
    a page per call (Organizations throttles hard; throttled pages are retried)."""
    walk = OrgWalk()
    step_walk(walk, OrgApiReader(client, backoff), lambda: False)
    return walk.tree()
