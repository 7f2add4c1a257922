"""Pure: the organization walk as a resumable state machine, so a walk longer than one Lambda invocation
stops when told and goes on in the next one (its state serialised in between) with the same result as one
uninterrupted walk.

The state is the queue of listings still to read (a kind, a parent and the page token to go on from) and
the OUs and accounts read so far. The reader that makes the calls is pipeline.aws.organizations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.core.errors import OrgReadError
from pipeline.core.org import Account, OrgTree, OrgUnit

OUS, ACCOUNTS = "ous", "accounts"
FORMAT = 1


class StaleToken(Exception):
    """The reader's page token was refused (it expired between invocations): the walk reads that listing
    again from its first page; what it already holds is kept, so nothing is read twice into the result."""


class OrgReader(Protocol):
    """The calls a walk makes, one per method call (each may be throttled and retried by the reader)."""

    def organization(self) -> tuple[str, str]:
        """(organization id, management account id)."""
        ...

    def root(self) -> str:
        """The id of the organization's one root."""
        ...

    def page(
        self, kind: str, parent: str, token: str | None
    ) -> tuple[list[tuple[str, str, str]], str | None]:
        """One page of child OUs (kind "ous") or accounts ("accounts") of `parent`: (id, name, state) per
        item (state "" for an OU), and the token of the next page or None. StaleToken if `token` is refused."""
        ...


@dataclass
class OrgWalk:
    """A walk from the root, breadth first: every OU and every account, a page per call."""

    organization_id: str = ""
    management_account_id: str = ""
    root_id: str = ""
    units: dict[str, OrgUnit] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    # Listings still to read: [kind, parent id, page token or None], the next one first.
    queue: list[tuple[str, str, str | None]] = field(default_factory=list)
    calls: int = 0

    @property
    def started(self) -> bool:
        return bool(self.root_id)

    @property
    def done(self) -> bool:
        return self.started and not self.queue

    def step(self, reader: OrgReader, out_of_time: Callable[[], bool]) -> bool:
        """Read until the walk is done or `out_of_time()` says stop (asked before every call but the first,
        so every step makes progress); True when the walk is complete."""
        first = True
        while not self.done and (first or not out_of_time()):
            first = False
            self._one_call(reader)
        return self.done

    def _one_call(self, reader: OrgReader) -> None:
        self.calls += 1
        if not self.organization_id:
            self.organization_id, self.management_account_id = reader.organization()
            return
        if not self.root_id:
            root = reader.root()
            self.units[root] = OrgUnit(root, "Root", None, "Root")
            self.queue = [(OUS, root, None), (ACCOUNTS, root, None)]
            self.root_id = root
            return
        kind, parent, token = self.queue[0]
        try:
            items, next_token = reader.page(kind, parent, token)
        except StaleToken:
            self.queue[0] = (kind, parent, None)
            return
        self.queue.pop(0)
        if next_token:
            # The same listing's next page comes next: a page token is never kept longer than needed.
            self.queue.insert(0, (kind, parent, next_token))
        for item_id, name, state in items:
            if kind == ACCOUNTS:
                self.accounts[item_id] = Account(item_id, name, parent, state)
            elif item_id not in self.units:
                self.units[item_id] = OrgUnit(item_id, name, parent, f"{self.units[parent].path}/{name}")
                self.queue += [(OUS, item_id, None), (ACCOUNTS, item_id, None)]

    def tree(self) -> OrgTree:
        """The organization read, once the walk is done."""
        if not self.done:
            raise OrgReadError("the organization walk is not complete: a partial tree is never used")
        return OrgTree(
            organization_id=self.organization_id,
            management_account_id=self.management_account_id,
            root_id=self.root_id,
            units=dict(self.units),
            accounts=dict(self.accounts),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and deterministic (same walk, same bytes once sorted)."""
        return {
            "format": FORMAT,
            "organization_id": self.organization_id,
            "management_account_id": self.management_account_id,
            "root_id": self.root_id,
            "units": sorted([u.id, u.name, u.parent_id, u.path] for u in self.units.values()),
            "accounts": sorted([a.id, a.name, a.parent_id, a.state] for a in self.accounts.values()),
            "queue": [list(q) for q in self.queue],
            "calls": self.calls,
        }

    @classmethod
    def from_dict(cls, data: Any) -> OrgWalk:
        """The walk to_dict wrote; OrgReadError for anything else (state is checked by hash before this)."""
        try:
            if data["format"] != FORMAT:
                raise ValueError(f"format {data['format']!r}")
            return cls(
                organization_id=str(data["organization_id"]),
                management_account_id=str(data["management_account_id"]),
                root_id=str(data["root_id"]),
                units={str(i): OrgUnit(str(i), str(n), p, str(path)) for i, n, p, path in data["units"]},
                accounts={str(i): Account(str(i), str(n), str(p), str(s)) for i, n, p, s in data["accounts"]},
                queue=[(str(k), str(p), t) for k, p, t in data["queue"]],
                calls=int(data["calls"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OrgReadError(f"the stored organization walk is not one this sync wrote: {exc}") from None


def walk_from_tree(tree: OrgTree) -> OrgWalk:
    """A complete walk holding `tree` (to store a tree read some other way)."""
    return OrgWalk(
        tree.organization_id,
        tree.management_account_id,
        tree.root_id,
        dict(tree.units),
        dict(tree.accounts),
    )
