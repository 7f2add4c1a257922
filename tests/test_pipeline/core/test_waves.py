"""pipeline.core.waves: which wave an OU and an account are in, and a StackSet's operations cut into waves."""

from __future__ import annotations

import pytest

from pipeline.core.live import LiveInstance
from pipeline.core.ops import (
    CommitHash,
    Content,
    CreateInstances,
    CreateStackSet,
    DeleteInstances,
    DeleteStackSet,
    Op,
    UpdateOverrides,
    UpdateStackSet,
    WaveUpdate,
)
from pipeline.core.org import Account, OrgTree, OrgUnit
from pipeline.core.waves import REST, Waves, account_waves, cut, wave_of_path

WAVES = (("Root/Workloads/Dev",), ("Root/Sandbox", "Root/Workloads/Prod/Payments"))
# Root/Workloads (ou-w) holds Dev (ou-d), Prod (ou-p) and Prod/Payments (ou-pp); Root/Sandbox is ou-s.
OF = {"d1": 0, "d2": 0, "s1": 1, "pp1": 1, "w1": 2, "p1": 2}
W = Waves(WAVES, OF)
C = Content(
    template="org/roles/Developer.yaml",
    template_sha256="ab",
    description="d",
    parameters=(("MaxSessionDuration", "3600"),),
    capabilities=("CAPABILITY_NAMED_IAM",),
    tags=(),
    permission_model="SERVICE_MANAGED",
)
R = ("us-east-1",)


def inst(account: str, ou: str | None = "ou-w", status: str = "CURRENT") -> LiveInstance:
    return LiveInstance(account, "us-east-1", ou, status)


HELD = tuple(inst(a) for a in ("d1", "d2", "s1", "w1", "p1", "pp1"))


@pytest.mark.parametrize(
    ("path", "wave"),
    [
        ("Root/Workloads/Dev", 0),
        ("Root/Workloads/Dev/Team", 0),  # below a listed OU: its wave
        ("Root/Sandbox", 1),
        ("Root/Workloads/Prod/Payments", 1),  # the deepest listed OU wins
        ("Root/Workloads/Prod", 2),  # above a listed OU: the rest
        ("Root", 2),
        ("Root/Workloads/Development", 2),  # a name sharing a prefix is not below
    ],
)
def test_wave_of_path(path: str, wave: int) -> None:
    assert wave_of_path(path, WAVES) == wave


def test_account_waves_follow_the_accounts_ou() -> None:
    units = {
        "ou-w": OrgUnit("ou-w", "Workloads", "r-1", "Root/Workloads"),
        "ou-d": OrgUnit("ou-d", "Dev", "ou-w", "Root/Workloads/Dev"),
    }
    accounts = {a: Account(a, a, parent) for a, parent in (("d1", "ou-d"), ("w1", "ou-w"), ("m", "r-1"))}
    waves = account_waves(OrgTree("o-abcdefghij", "m", "r-1", units, accounts), WAVES)
    assert dict(waves.of_account) == {"d1": 0, "w1": 2, "m": 2}
    assert waves.labels() == ("Root/Workloads/Dev", "Root/Sandbox, Root/Workloads/Prod/Payments", REST)


def waved(ops: tuple[Op, ...], waves: tuple[int, ...]) -> list[tuple[int, Op]]:
    return list(zip(waves, ops, strict=True))


def test_a_content_update_goes_to_the_first_wave_and_later_waves_reuse_the_template() -> None:
    update = UpdateStackSet(stackset="S", content=C, tag="t", changes=("template",))
    ops, waves = cut((update,), W, None, HELD)
    assert waved(ops, waves) == [
        (0, UpdateStackSet(stackset="S", content=C, tag="t", changes=("template",), accounts=("d1", "d2"), regions=R)),
        (1, WaveUpdate(stackset="S", content=C, tag="t", accounts=("pp1", "s1"), regions=R)),
        (2, WaveUpdate(stackset="S", content=C, tag="t", accounts=("p1", "w1"), regions=R)),
    ]  # fmt: skip
    assert ops[0].describe() == "update StackSet (template) on 2 account(s)"
    assert ops[1].describe() == "update StackSet (previous template) on 2 account(s)"


def test_self_managed_waves_name_accounts() -> None:
    held = tuple(inst(a, None) for a in ("d1", "s1", "w1"))
    ops, waves = cut((UpdateStackSet(stackset="S", content=C, tag="t"),), W, None, held)
    assert [(w, op.kind, op.accounts) for w, op in waved(ops, waves)] == [  # type: ignore[attr-defined]
        (0, "update-stackset", ("d1",)),
        (1, "wave-update", ("s1",)),
        (2, "wave-update", ("w1",)),
    ]


def test_one_wave_leaves_the_plan_as_it_is() -> None:
    ops = (UpdateStackSet(stackset="S", content=C, tag="t"), CommitHash(stackset="S", content=C, tag="t"))
    held = (inst("w1"), inst("p1"))
    assert waved(*cut(ops, W, None, held)) == [(2, ops[0]), (2, ops[1])]


def test_new_targets_are_created_wave_by_wave_and_the_stackset_first() -> None:
    from pipeline.core.desired import DesiredTarget

    class D:  # the planner's DesiredStackSet, as far as cut reads it
        targets = (DesiredTarget("Root/Workloads", "ou-w", ("x9",), ("d1", "d2", "pp1", "w1")),)

    create = CreateInstances(
        stackset="S", regions=R, ou_ids=("ou-w",), accounts=("x9",), account_filter="DIFFERENCE",
        paths=("Root/Workloads",),
    )  # fmt: skip
    ops, waves = cut((CreateStackSet(stackset="S", content=C, tag="t"), create), W, D(), ())  # type: ignore[arg-type]
    assert waved(ops, waves) == [
        (0, CreateStackSet(stackset="S", content=C, tag="t")),
        (0, CreateInstances(stackset="S", regions=R, ou_ids=("ou-w",), accounts=("d1", "d2"),
                            account_filter="INTERSECTION", paths=("Root/Workloads",))),
        (1, CreateInstances(stackset="S", regions=R, ou_ids=("ou-w",), accounts=("pp1",),
                            account_filter="INTERSECTION", paths=("Root/Workloads",))),
        # The last part keeps the target whole: DIFFERENCE leaves out the exclusion and the earlier waves.
        (2, CreateInstances(stackset="S", regions=R, ou_ids=("ou-w",), accounts=("d1", "d2", "pp1", "x9"),
                            account_filter="DIFFERENCE", paths=("Root/Workloads",))),
    ]  # fmt: skip


def test_a_removed_target_is_deleted_wave_by_wave_then_the_stackset() -> None:
    held = (inst("d1"), inst("w1"), inst("s1", "ou-s"))
    delete = DeleteInstances(
        stackset="S", regions=R, ou_ids=("ou-w",), retain_stacks=False, count=2, paths=("Root/Workloads",)
    )
    ops, waves = cut((delete, DeleteStackSet(stackset="S")), W, None, held)
    assert waved(ops, waves) == [
        (0, DeleteInstances(stackset="S", regions=R, ou_ids=("ou-w",), accounts=("d1",),
                            account_filter="INTERSECTION", retain_stacks=False, count=1, paths=("Root/Workloads",))),
        (2, DeleteInstances(stackset="S", regions=R, ou_ids=("ou-w",), retain_stacks=False, count=1,
                            paths=("Root/Workloads",))),
        (2, DeleteStackSet(stackset="S")),
    ]  # fmt: skip


def test_per_account_operations_are_cut_by_account() -> None:
    overrides = UpdateOverrides(
        stackset="S", regions=R, accounts=("w1", "d1", "s1"), parameters=(("P", "1"),)
    )
    commit = CommitHash(stackset="S", content=C, tag="t", accounts=("s1", "p1"), regions=R)
    ops, waves = cut((overrides, commit), W, None, HELD)
    assert [(w, op.kind, op.accounts) for w, op in waved(ops, waves)] == [  # type: ignore[attr-defined]
        (0, "update-overrides", ("d1",)),
        (1, "update-overrides", ("s1",)),
        (1, "commit", ("s1",)),
        (2, "update-overrides", ("w1",)),
        (2, "commit", ("p1",)),
    ]


def test_a_first_wave_that_only_gains_instances_gets_the_new_template_there() -> None:
    """Existing instances only in the last wave, a new account in wave 1: the content update goes to wave 1,
    after the creation and limited to it, so no later wave sees the new template first."""
    add = CreateInstances(
        stackset="S", regions=R, ou_ids=("ou-w",), accounts=("d1",), account_filter="INTERSECTION"
    )
    update = UpdateStackSet(stackset="S", content=C, tag="t", changes=("template",))
    ops, waves = cut((update, add), W, None, (inst("w1"),))
    assert [(w, op.kind, getattr(op, "accounts", ())) for w, op in waved(ops, waves)] == [
        (0, "create-instances", ("d1",)),
        (0, "update-stackset", ("d1",)),
        (2, "wave-update", ("w1",)),
    ]


def test_scoped_operations_keep_the_keys_of_plans_without_waves() -> None:
    plain = UpdateStackSet(stackset="S", content=C, tag="t", changes=("template",))
    assert "accounts" not in plain.to_dict()  # plans without waves keep their keys and operation ids
    assert plain.describe() == "update StackSet (template) on every instance"
    assert "accounts" in plain.__class__(stackset="S", content=C, tag="t", accounts=("a",)).to_dict()
