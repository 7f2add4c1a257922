"""End to end over HTTP (issue 12, items 7 to 9): one rollout per change, the operation that vouches for the
hash found by its id whatever order operations are listed in, and failed or inoperable instances (the sync's
own or AutoDeployment's) repaired or reported, never recorded as done.

The organization is tests/fixtures/sync's (see test_sync.py): Developer targets Root/Sandbox and
Root/Workloads (Prod has MaxSessionDuration 1800), ReadOnly the root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.sync import World, edit, write_variant

DEV = "org-roles-Developer"
SANDBOX = ["100000000000", "100000000001"]
PROD_ACCTS = ["100000000008", "100000000009"]


def update_stack_sets(world: World, since: int, name: str = DEV) -> int:
    """UpdateStackSet calls on a StackSet since the emulator's call number `since`: rollouts."""
    return sum(1 for action, n in world.service.calls[since:] if action == "UpdateStackSet" and n == name)


def writes_since(world: World, since: int) -> list[str]:
    return [a for a, _n in world.service.calls[since:] if not a.startswith(("Describe", "List"))]


def plan_of(report: Any, name: str = DEV) -> Any:
    return next(s for s in report.plan.stacksets if s.name == name)


def result_of(report: Any, name: str = DEV) -> str:
    return next(s.result for s in report.stacksets if s.name == name)


def assert_no_op(world: World, run_id: str) -> None:
    since = len(world.service.calls)
    assert world.sync(run_id).counts() == {"unchanged": 4}
    assert writes_since(world, since) == []


def test_a_content_change_costs_exactly_one_rollout(make_world: Any, tmp_path: Path) -> None:
    """The hash goes with the UpdateStackSet itself: no second, tag-only update redeploying every instance."""
    world = make_world()
    assert world.sync("first").outcome == "success"
    changed = write_variant(tmp_path / "v2")
    role = changed / "templates/org/roles/Developer.yaml"
    role.write_text(role.read_text().replace("Default: 3600", "Default: 7200"))
    world.use(write_variant(tmp_path / "v3", base=changed))
    since = len(world.service.calls)
    report = world.sync("second")
    assert report.outcome == "success"
    assert [op.kind for op in plan_of(report).ops] == ["update-stackset"]
    assert update_stack_sets(world, since) == 1
    assert {status for _ou, status, _o in world.instances(DEV).values()} == {"CURRENT"}
    assert_no_op(world, "third")


def test_a_target_change_costs_no_rollout(make_world: Any, tmp_path: Path) -> None:
    """Targets are compared with DescribeStackSet's OrganizationalUnitIds: adding one is CreateStackInstances
    alone, and the next run is a no-op."""
    world = make_world()
    assert world.sync("first").outcome == "success"

    def add_security(data: dict[str, Any]) -> None:
        edit(data, DEV)["targets"].append(
            {"ou_path": "Root/Security", "ou_id": None, "excluded_accounts": [], "source": "x"}
        )

    world.use(write_variant(tmp_path / "v2", add_security))
    since = len(world.service.calls)
    report = world.sync("second")
    assert report.outcome == "success"
    assert [op.kind for op in plan_of(report).ops] == ["create-instances"]
    assert update_stack_sets(world, since) == 0
    assert_no_op(world, "third")


def test_an_override_change_records_its_hash_on_one_instance(make_world: Any, tmp_path: Path) -> None:
    """A per-OU value alone: the overrides are applied (UpdateStackInstances; the accounts without a value
    are set back too, as the applied per-account values are known only by their digest), then the hash is
    recorded by a tag-only UpdateStackSet limited to one account they touched: AWS leaves every other
    instance as it is, so no second rollout."""
    world = make_world()
    assert world.sync("first").outcome == "success"

    def prod_two_hours(data: dict[str, Any]) -> None:
        for override in edit(data, DEV)["parameter_overrides"]:
            override["parameters"]["MaxSessionDuration"] = "7200"

    world.use(write_variant(tmp_path / "v2", prod_two_hours))
    since = len(world.service.calls)
    report = world.sync("second")
    assert report.outcome == "success"
    ops = plan_of(report).ops
    assert [op.kind for op in ops] == ["update-overrides", "update-overrides", "commit"]
    assert (ops[1].accounts, ops[2].accounts) == (tuple(PROD_ACCTS), (ops[0].accounts[0],))
    assert update_stack_sets(world, since) == 1
    commit_id = world.session("second").executor().operation_id(ops[2])
    assert world.service.record(DEV).operations[commit_id].targets == [(ops[0].accounts[0], "us-east-1")]
    got = world.instances(DEV)
    assert {a: got[a][2] for a in PROD_ACCTS} == {a: {"MaxSessionDuration": "7200"} for a in PROD_ACCTS}
    assert {status for _ou, status, _o in got.values()} == {"CURRENT"}
    assert_no_op(world, "third")


def test_no_instance_is_left_broken_whatever_the_listing_order(make_world: Any, tmp_path: Path) -> None:
    """ListStackSetOperations lists oldest first here (its order is unspecified). A target is added while
    one Sandbox account fails every deployment. A reader taking the first listed operation for the newest
    would see the first rollout's, which succeeded, and trust a run that left a failed instance; the sync
    checks the operation its hash names, by id, and the instances' own statuses, so once the account
    deploys again every instance is CURRENT and the next run is a no-op."""
    world = make_world()
    assert world.sync("first").outcome == "success"

    def add_security(data: dict[str, Any]) -> None:
        edit(data, DEV)["targets"].append(
            {"ou_path": "Root/Security", "ou_id": None, "excluded_accounts": [], "source": "x"}
        )

    world.use(write_variant(tmp_path / "v2", add_security))
    world.service.fail_accounts[SANDBOX[0]] = "a service control policy denies iam:UpdateRole"
    world.sync("second")
    world.service.fail_accounts.clear()
    world.sync("third")
    assert {status for _ou, status, _o in world.instances(DEV).values()} == {"CURRENT"}
    assert_no_op(world, "fourth")


def test_an_instance_autodeployment_failed_to_create_is_found_and_repaired(make_world: Any) -> None:
    """An account joins a target OU and AutoDeployment's deployment fails there; no operation of ours shows
    it. The next sync finds the FAILED instance (ListStackInstances filtered by detailed status), reports the
    StackSet failed while the repair fails, and repairs it once it can."""
    world = make_world()
    assert world.sync("first").outcome == "success"
    joiner = "100000000002"
    world.service.fail_accounts[joiner] = "a service control policy denies iam:CreateRole"
    world.move(joiner, "Root/Workloads/Dev")
    world.service.drain()  # AutoDeployment runs
    assert world.instances(DEV)[joiner][1] == "OUTDATED"
    report = world.sync("second")
    assert result_of(report) == "failed"
    assert [(op.kind, op.accounts) for op in plan_of(report).ops] == [("commit", (joiner,))]
    world.service.fail_accounts.clear()
    assert result_of(world.sync("third")) == "updated"
    assert world.instances(DEV)[joiner][1] == "CURRENT"
    assert_no_op(world, "fourth")


def test_an_inoperable_instance_is_reported_with_its_fix_until_fixed(make_world: Any, tmp_path: Path) -> None:
    """A DeleteStackInstances fails in one account: the instance is INOPERABLE, UpdateStackSet skips it.
    Every sync reports the StackSet failed with the exact fix until someone applies it."""

    def delete_stacks(data: dict[str, Any]) -> None:
        data["org"]["deletion"]["retain_stacks"] = False

    world = make_world(write_variant(tmp_path / "v1", delete_stacks))
    assert world.sync("first").outcome == "success"

    def no_sandbox(data: dict[str, Any]) -> None:
        delete_stacks(data)
        edit(data, DEV)["targets"] = [t for t in edit(data, DEV)["targets"] if t["ou_path"] != "Root/Sandbox"]

    world.use(write_variant(tmp_path / "v2", no_sandbox))
    world.service.fail_accounts[SANDBOX[0]] = "the stack's role is in use"
    assert result_of(world.sync("second")) == "failed"
    assert world.instances(DEV)[SANDBOX[0]][1] == "INOPERABLE"
    for run in ("third", "fourth"):
        report = world.sync(run)
        assert result_of(report) == "failed"
        assert plan_of(report).notes[-1] == (
            f"instance {SANDBOX[0]} us-east-1 is INOPERABLE (the stack's role is in use): UpdateStackSet skips "
            f"it; run aws cloudformation delete-stack-instances --stack-set-name {DEV} --deployment-targets "
            f"Accounts={SANDBOX[0]} --regions us-east-1 --retain-stacks, delete the stack it leaves in account "
            f"{SANDBOX[0]}, then sync again"
        )
    # The fix, as the note says (the stack itself is then deleted by hand in the account).
    cfn = world.client("cloudformation")
    cfn.delete_stack_instances(
        StackSetName=DEV,
        DeploymentTargets={"Accounts": [SANDBOX[0]]},
        Regions=["us-east-1"],
        RetainStacks=True,
        OperationId="the-fix",
    )
    world.service.drain()
    world.service.fail_accounts.clear()
    assert world.sync("fifth").outcome == "success"
    assert SANDBOX[0] not in world.instances(DEV)
    assert_no_op(world, "sixth")
