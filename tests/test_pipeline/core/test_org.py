"""Pure OU resolution (pipeline/core/org.py): an OU path, maybe pinned by id, against an OrgTree."""

from __future__ import annotations

import pytest

from pipeline.core.org import EMPTY, MISSING, OK, RENAMED, Account, OrgTree, OrgUnit, resolve_ou

TREE = OrgTree(
    "o-abcdefghij",
    "111111111111",
    "r-ab12",
    {
        "r-ab12": OrgUnit("r-ab12", "Root", None, "Root"),
        "ou-ab12-aaaaaaaa": OrgUnit("ou-ab12-aaaaaaaa", "Workloads", "r-ab12", "Root/Workloads"),
        "ou-ab12-cccccccc": OrgUnit(
            "ou-ab12-cccccccc", "Production", "ou-ab12-aaaaaaaa", "Root/Workloads/Production"
        ),
        "ou-ab12-bbbbbbbb": OrgUnit("ou-ab12-bbbbbbbb", "Sandbox", "r-ab12", "Root/Sandbox"),
    },
    {
        "111111111111": Account("111111111111", "m", "r-ab12"),
        "100000000001": Account("100000000001", "a", "ou-ab12-cccccccc"),
        "100000000002": Account("100000000002", "b", "ou-ab12-bbbbbbbb", "SUSPENDED"),
        "100000000003": Account("100000000003", "c", "ou-ab12-bbbbbbbb", "PENDING_CLOSURE"),
    },
)


@pytest.mark.parametrize(
    ("path", "pin", "state", "ou_id", "message"),
    [
        ("Root", None, OK, "r-ab12", "2 account(s) not ACTIVE skipped (1 PENDING_CLOSURE, 1 SUSPENDED)"),
        ("Root/Workloads", None, OK, "ou-ab12-aaaaaaaa", ""),
        (
            "Root/Workloads/Prod",
            "ou-ab12-cccccccc",
            RENAMED,
            "ou-ab12-cccccccc",
            "pinned id ou-ab12-cccccccc is now at Root/Workloads/Production (renamed or moved)",
        ),
        ("Root/Workloads/Prod", None, MISSING, None, "no OU at this path in the organization yet"),
        (
            "Root/Gone",
            "ou-ab12-dddddddd",
            MISSING,
            None,
            "pinned id ou-ab12-dddddddd does not exist in the organization",
        ),
        (
            "Root/Sandbox",
            None,
            EMPTY,
            "ou-ab12-bbbbbbbb",
            "no active member accounts in this OU or below; 2 account(s) not ACTIVE skipped "
            "(1 PENDING_CLOSURE, 1 SUSPENDED)",
        ),
    ],
)
def test_resolution(path: str, pin: str | None, state: str, ou_id: str | None, message: str) -> None:
    status = resolve_ou(path, pin, TREE)
    assert (status.state, status.ou_id, status.message) == (state, ou_id, message)


@pytest.mark.parametrize(
    ("state", "deployable"),
    [
        ("ACTIVE", True),
        ("PENDING_ACTIVATION", False),
        ("SUSPENDED", False),
        ("PENDING_CLOSURE", False),
        ("CLOSED", False),
        ("UNKNOWN", False),  # a state AWS adds later, or none read: never deployable
    ],
)
def test_only_active_accounts_are_deployable_and_the_rest_are_reported_by_state(
    state: str, deployable: bool
) -> None:
    tree = OrgTree(
        "o-abcdefghij",
        "111111111111",
        "r-ab12",
        {"r-ab12": OrgUnit("r-ab12", "Root", None, "Root")},
        {"100000000001": Account("100000000001", "a", "r-ab12", state)},
    )
    status = resolve_ou("Root", None, tree)
    assert status.accounts == (("100000000001",) if deployable else ())
    assert dict(status.inactive) == ({} if deployable else {"100000000001": state})


def test_management_account_is_never_a_member() -> None:
    assert TREE.member_accounts_under("r-ab12") == (["100000000001"], ["100000000002", "100000000003"])
