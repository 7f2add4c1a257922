"""End to end over HTTP: a role that leaves an account is gone from it after the sync (revocation is the
default), excluded accounts hold no role, and moves between two OUs that attach the same role keep it
(issue 12, items 2 to 4). The organization is tests/fixtures/sync's (see test_sync.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.core.report import render_text
from tests.e2e.sync.test_sync import DEV, RO, SANDBOX, iam_roles, kinds
from tests.support.sync import EXCLUDED, edit, write_variant


def roles_of(world: Any, *accounts: str) -> dict[str, set[str]]:
    return {a: set(iam_roles(world, a)) for a in accounts}


def no_sandbox(data: dict[str, Any]) -> None:
    spec = edit(data, DEV)
    spec["targets"] = [t for t in spec["targets"] if t["ou_path"] != "Root/Sandbox"]


def retaining(data: dict[str, Any]) -> None:
    data["org"]["deletion"]["retain_stacks"] = True


def test_removing_an_attachment_deletes_the_role_and_adding_it_back_works(
    make_world: Any, tmp_path: Path
) -> None:
    world = make_world(materialize=True)
    original = world.manifest_dir
    assert world.sync("first").outcome == "success"
    assert roles_of(world, *SANDBOX) == {a: {"Developer", "ReadOnly"} for a in SANDBOX}
    world.use(write_variant(tmp_path / "v2", no_sandbox))
    report = world.sync("second")
    assert report.outcome == "success"
    delete = next(op for op in report.plan.stacksets[0].ops if op.kind == "delete-instances")
    assert (delete.paths, delete.retain_stacks) == (("Root/Sandbox",), False)
    assert roles_of(world, *SANDBOX) == {a: {"ReadOnly"} for a in SANDBOX}
    assert [s for s in world.service.stacks.values() if s.retained] == []
    world.use(original)
    report = world.sync("third")
    assert (report.outcome, kinds(report, DEV)) == ("success", ["create-instances"])
    assert roles_of(world, *SANDBOX) == {a: {"Developer", "ReadOnly"} for a in SANDBOX}
    assert world.sync("fourth").counts() == {"unchanged": 4}


def test_an_account_moved_out_of_every_attaching_ou_loses_the_role_and_gets_it_back(make_world: Any) -> None:
    world = make_world(materialize=True)
    assert world.sync("first").outcome == "success"
    world.move(SANDBOX[0], "Root/Security")  # Developer is attached to Sandbox and Workloads, not Security
    assert world.sync("second").outcome == "success"
    assert roles_of(world, SANDBOX[0]) == {SANDBOX[0]: {"ReadOnly"}}
    assert [s for s in world.service.stacks.values() if s.retained] == []
    world.move(SANDBOX[0], "Root/Sandbox")
    assert world.sync("third").outcome == "success"
    assert roles_of(world, SANDBOX[0]) == {SANDBOX[0]: {"Developer", "ReadOnly"}}
    assert world.sync("fourth").counts() == {"unchanged": 4}


def test_a_removed_stackset_takes_its_roles_with_it(make_world: Any, tmp_path: Path) -> None:
    world = make_world(materialize=True)
    assert world.sync("first").outcome == "success"

    def drop_readonly(data: dict[str, Any]) -> None:
        data["stacksets"] = [s for s in data["stacksets"] if s["name"] != RO]
        data["org"]["deletion"].update(
            delete_orphaned_stacksets=True, max_instance_deletions=100, max_instance_deletion_percentage=100
        )

    world.use(write_variant(tmp_path / "v2", drop_readonly))
    assert next(s for s in world.sync("second").stacksets if s.name == RO).result == "deleted"
    every = [a.id for a in world.layout.accounts if a.status == "ACTIVE" and a.id != "111111111111"]
    assert all("ReadOnly" not in iam_roles(world, a) for a in every)
    assert [s for s in world.service.stacks.values() if s.stackset == RO] == []


def test_an_excluded_account_that_joins_its_ou_has_no_role_after_the_sync(
    make_world: Any, tmp_path: Path
) -> None:
    """AutoDeployment ignores account filters: EXCLUDED (left out of Developer in Root/Workloads) gets the
    role from AWS when it joins Root/Workloads again. The sync deletes it, never retaining it, even though
    this org opts in to retaining stacks, and its plan says how long that window lasts."""
    world = make_world(write_variant(tmp_path / "retain", retaining), materialize=True)
    world.move(EXCLUDED, "Root/Security")
    assert world.sync("first").outcome == "success"
    world.move(EXCLUDED, "Root/Workloads")
    world.service.drain()  # time passes: AutoDeployment runs
    assert "Developer" in iam_roles(world, EXCLUDED)  # AutoDeployment's window, before the sync
    report = world.sync("second")
    assert report.outcome == "success"
    dev = next(s for s in report.plan.stacksets if s.name == DEV)
    delete = next(op for op in dev.ops if op.kind == "delete-instances")
    assert (delete.accounts, delete.account_filter, delete.retain_stacks) == (
        (EXCLUDED,),
        "INTERSECTION",
        False,
    )
    assert any("the window lasts from the move until that run is approved" in n for n in dev.notes)
    assert iam_roles(world, EXCLUDED) == {"ReadOnly": 3600}
    assert [s for s in world.service.stacks.values() if s.retained] == []
    assert world.sync("third").counts() == {"unchanged": 4}


@pytest.mark.parametrize("retain", [False, True], ids=["revoking", "retaining"])
def test_a_move_between_two_ous_that_attach_the_role_keeps_it(
    make_world: Any, tmp_path: Path, retain: bool
) -> None:
    """AutoDeployment handles the move as a delete and a create (the emulator's harsher reading). With
    RetainStacksOnAccountRemoval false (always, even when the org retains stacks) the create finds no
    retained stack holding the role: the account has its role after the sync, and no run loops on
    EntityAlreadyExists."""
    world = make_world(write_variant(tmp_path / "m", retaining if retain else None), materialize=True)
    assert world.sync("first").outcome == "success"
    assert world.service.record(DEV).auto_deployment == {
        "Enabled": True,
        "RetainStacksOnAccountRemoval": False,
    }
    world.move(SANDBOX[0], "Root/Workloads/Dev")  # both Root/Sandbox and Root/Workloads attach Developer
    world.service.drain()  # time passes: AutoDeployment runs
    assert world.instances(DEV)[SANDBOX[0]] == (world.layout.ou_id("Root/Workloads"), "CURRENT", {})
    assert world.sync("second").outcome == "success"
    assert roles_of(world, SANDBOX[0]) == {SANDBOX[0]: {"Developer", "ReadOnly"}}
    world.move(SANDBOX[0], "Root/Sandbox")  # and back
    assert world.sync("third").outcome == "success"
    assert roles_of(world, SANDBOX[0]) == {SANDBOX[0]: {"Developer", "ReadOnly"}}
    assert world.sync("fourth").counts() == {"unchanged": 4}
    assert not any(s.retained for s in world.service.stacks.values())


def test_re_adding_a_role_over_a_retained_stack_reports_the_exact_fix(
    make_world: Any, tmp_path: Path
) -> None:
    """With the opt-in, the removal keeps the stacks; adding the role back fails with EntityAlreadyExists
    (the retained stack owns the role). The report names the stack to delete; once it is gone the next sync
    repairs the instance."""
    world = make_world(write_variant(tmp_path / "retain", retaining))
    original = world.manifest_dir
    assert world.sync("first").outcome == "success"
    world.use(write_variant(tmp_path / "v2", lambda d: (retaining(d), no_sandbox(d))))
    assert world.sync("second").outcome == "success"
    assert sorted(s.account for s in world.service.stacks.values() if s.retained) == SANDBOX
    world.use(original)
    report = world.sync("third")
    dev = next(s for s in report.stacksets if s.name == DEV)
    assert (dev.result, [f.account for f in dev.failures]) == ("failed", SANDBOX)
    text = render_text(report)
    fix = (
        f"  fix: the role already exists in account {SANDBOX[0]}, most likely in a stack of {DEV} kept when "
        "the role was removed there earlier (deletion.retain_stacks: true). In account "
        f"{SANDBOX[0]} list it with `aws cloudformation list-stacks --region us-east-1"
    )
    assert fix in text
    assert f"'StackSet-{DEV}-')].StackName\"`, delete it with `aws cloudformation delete-stack" in text
    # The operator deletes the retained stacks, as the fix says; the next sync repairs the instances.
    for key in [k for k, s in world.service.stacks.items() if s.retained]:
        del world.service.stacks[key]
    assert world.sync("fourth").outcome == "success"
    assert {world.instances(DEV)[a][1] for a in SANDBOX} == {"CURRENT"}


def test_an_excluded_account_that_leaves_and_rejoins_between_two_syncs_has_no_role(make_world: Any) -> None:
    """The recorded hash says the excluded account sits under its target, as it did at the last sync; in
    between, it left and came back, and AutoDeployment gave it the role again: the sync still finds it."""
    world = make_world(materialize=True)
    assert world.sync("first").outcome == "success"  # EXCLUDED sits in Root/Workloads from the start
    assert "Developer" not in iam_roles(world, EXCLUDED)
    world.move(EXCLUDED, "Root/Security")
    world.service.drain()
    world.move(EXCLUDED, "Root/Workloads")
    world.service.drain()  # AutoDeployment ran on both moves
    assert "Developer" in iam_roles(world, EXCLUDED)
    report = world.sync("second")
    assert report.outcome == "success"
    assert kinds(report, DEV) == ["delete-instances"]
    assert iam_roles(world, EXCLUDED) == {"ReadOnly": 3600}
    assert world.sync("third").counts() == {"unchanged": 4}
