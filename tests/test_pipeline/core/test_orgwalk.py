"""The resumable organization walk (pipeline/core/orgwalk.py): cut after any number of calls, serialised
through JSON and resumed, it reads exactly what one uninterrupted walk reads."""

from __future__ import annotations

import json

import pytest

from pipeline.core.errors import OrgReadError
from pipeline.core.orgwalk import OUS, OrgWalk, StaleToken

# parent -> child OUs (id, name); parent -> accounts (id, name, state). Pages of 2 items.
OUS_OF = {
    "r-1": [("ou-a", "Workloads"), ("ou-b", "Sandbox"), ("ou-c", "Security")],
    "ou-a": [("ou-a1", "Prod"), ("ou-a2", "Dev")],
    "ou-a1": [("ou-a1x", "Deep")],
}
ACCOUNTS_OF = {
    "r-1": [("111111111111", "mgmt", "ACTIVE")],
    "ou-a1": [(f"10000000000{i}", f"p{i}", "ACTIVE") for i in range(5)],
    "ou-b": [("200000000000", "s", "SUSPENDED")],
    "ou-a1x": [("300000000000", "d", "ACTIVE"), ("300000000001", "e", "CLOSED")],
}
PAGE = 2


class FakeReader:
    """Organizations in memory: page tokens are offsets; `expire` refuses every token once."""

    def __init__(self, expire: bool = False) -> None:
        self.calls = 0
        self.expire = expire
        self.expired: set[str] = set()

    def organization(self) -> tuple[str, str]:
        self.calls += 1
        return "o-abc", "111111111111"

    def root(self) -> str:
        self.calls += 1
        return "r-1"

    def page(
        self, kind: str, parent: str, token: str | None
    ) -> tuple[list[tuple[str, str, str]], str | None]:
        self.calls += 1
        if token and self.expire and f"{kind}{parent}{token}" not in self.expired:
            self.expired.add(f"{kind}{parent}{token}")
            raise StaleToken(token)
        rows = [(i, n, "") for i, n in OUS_OF.get(parent, [])] if kind == OUS else ACCOUNTS_OF.get(parent, [])
        start = int(token or 0)
        more = start + PAGE < len(rows)
        return list(rows[start : start + PAGE]), str(start + PAGE) if more else None


def _whole() -> OrgWalk:
    walk = OrgWalk()
    assert walk.step(FakeReader(), lambda: False)
    return walk


def _cut_every(n: int, reader: FakeReader) -> tuple[OrgWalk, int]:
    """Walk in steps of at most n calls each, through JSON between steps; (walk, steps)."""
    state = OrgWalk().to_dict()
    steps = 0
    while True:
        walk = OrgWalk.from_dict(json.loads(json.dumps(state)))
        budget = iter(range(n - 1))
        steps += 1
        if walk.step(reader, lambda budget=budget: next(budget, None) is None):  # type: ignore[misc]
            return walk, steps
        state = walk.to_dict()


def test_one_walk_reads_the_tree() -> None:
    tree = _whole().tree()
    assert sorted(u.path for u in tree.units.values()) == [
        "Root",
        "Root/Sandbox",
        "Root/Security",
        "Root/Workloads",
        "Root/Workloads/Dev",
        "Root/Workloads/Prod",
        "Root/Workloads/Prod/Deep",
    ]
    assert tree.member_accounts_under("ou-a") == (
        ["100000000000", "100000000001", "100000000002", "100000000003", "100000000004", "300000000000"],
        ["300000000001"],
    )
    assert (tree.organization_id, tree.management_account_id, tree.root_id) == (
        "o-abc",
        "111111111111",
        "r-1",
    )


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 1000])
def test_a_walk_cut_after_any_number_of_calls_resumes_to_the_same_tree(n: int) -> None:
    reader = FakeReader()
    walk, steps = _cut_every(n, reader)
    whole = _whole()
    assert walk.tree() == whole.tree()
    assert walk.to_dict() == whole.to_dict()
    # Nothing read twice: the cut walk makes exactly the calls of the whole one.
    assert reader.calls == walk.calls == whole.calls
    assert steps == -(-whole.calls // n)


def test_an_expired_page_token_rereads_that_listing_without_duplicates() -> None:
    reader = FakeReader(expire=True)
    walk, _steps = _cut_every(3, reader)
    assert walk.to_dict() | {"calls": 0} == _whole().to_dict() | {"calls": 0}
    assert reader.calls > _whole().calls


def test_every_step_makes_progress_even_when_out_of_time_at_once() -> None:
    walk = OrgWalk()
    assert not walk.step(FakeReader(), lambda: True)
    assert walk.calls == 1 and not walk.done


def test_a_partial_walk_yields_no_tree() -> None:
    walk = OrgWalk()
    walk.step(FakeReader(), lambda: True)
    with pytest.raises(OrgReadError, match="not complete"):
        walk.tree()


@pytest.mark.parametrize(
    "data", [{}, {"format": 2}, {"format": 1, "units": "x"}, [], {**OrgWalk().to_dict(), "queue": [[1]]}]
)
def test_a_stored_walk_of_another_shape_is_refused(data: object) -> None:
    with pytest.raises(OrgReadError, match="not one this sync wrote"):
        OrgWalk.from_dict(data)
