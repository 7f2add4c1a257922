"""End to end over HTTP (issue 17 item 2): canary waves. org.yaml's rollout.waves (the manifest's
org.rollout_waves) [[Root/Workloads/Dev], [Root/Sandbox]]: a change reaches Dev's accounts, then Sandbox's,
then the rest of the organization, each wave only once the previous one succeeded with no failed instance;
a failed wave stops the rollout and leaves later waves on the template they had; a rerun resumes there.

The organization is tests/fixtures/sync's (see test_sync.py): Developer targets Root/Sandbox and
Root/Workloads (333333333333 excluded), ReadOnly the root.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pipeline.sync import apply_plan, plan_sync
from tests.support.sync import World, edit, write_variant

DEV = "org-roles-Developer"
WAVES = [["Root/Workloads/Dev"], ["Root/Sandbox"]]
DEV_OU = {"100000000006", "100000000007"}
SANDBOX = {"100000000000", "100000000001"}
REST_OF_DEVELOPER = {"100000000004", "100000000005", "100000000008", "100000000009"}
REASON = "Role Developer: MalformedPolicyDocument (injected)"


def with_waves(data: dict[str, Any]) -> None:
    data["org"]["rollout_waves"] = WAVES


def operations(world: World, name: str, since: int = 0) -> list[tuple[str, set[str]]]:
    """(action, accounts reached) of a StackSet's operations started after sequence number `since`."""
    ops = sorted(world.service.record(name).operations.values(), key=lambda o: o.seq)
    return [(o.action, {a for a, _r in o.targets}) for o in ops if o.seq > since]


def last_seq(world: World) -> int:
    return max((o.seq for r in world.service.stacksets.values() for o in r.operations.values()), default=0)


def stack_sha(world: World, name: str, account: str) -> str:
    stack = next(
        s
        for s in world.service.stacks.values()
        if s.account == account and s.stackset == name and not s.retained
    )
    return stack.template_sha


def change_template(tmp: Path, base: Path) -> Path:
    changed = write_variant(tmp / "edit", base=base)
    role = changed / "templates/org/roles/Developer.yaml"
    role.write_text(role.read_text().replace("Default: 3600", "Default: 7200"))
    return write_variant(tmp / "final", base=changed)


def test_a_parameter_change_reaches_the_first_wave_only_first(make_world: Any, tmp_path: Path) -> None:
    world = make_world(write_variant(tmp_path / "v1", with_waves))
    assert world.sync("first").outcome == "success"

    def longer(data: dict[str, Any]) -> None:
        with_waves(data)
        edit(data, DEV)["parameters"]["MaxSessionDuration"] = "7200"

    world.use(write_variant(tmp_path / "v2", longer))
    since = last_seq(world)
    report = world.sync("second")
    assert report.outcome == "success"
    assert report.waves is not None
    assert report.waves.statuses == ("succeeded", "succeeded", "succeeded")
    updates = [accounts for action, accounts in operations(world, DEV, since) if action == "UPDATE"]
    # Wave 1 gets the new parameter (UpdateStackSet limited to its accounts), then Sandbox, then the rest.
    assert updates == [DEV_OU, SANDBOX, REST_OF_DEVELOPER]
    assert {status for _ou, status, _o in world.instances(DEV).values()} == {"CURRENT"}
    assert world.sync("third").counts() == {"unchanged": 4}


def test_a_failed_wave_stops_the_rollout_and_a_rerun_resumes_there(make_world: Any, tmp_path: Path) -> None:
    v1 = write_variant(tmp_path / "v1", with_waves)
    world = make_world(v1)
    assert world.sync("first").outcome == "success"
    old = {a: stack_sha(world, DEV, a) for a in DEV_OU | SANDBOX | REST_OF_DEVELOPER}
    world.use(change_template(tmp_path, v1))
    world.service.fail_accounts["100000000000"] = REASON
    since = last_seq(world)

    report = world.sync("second")
    assert report.outcome == "failed"
    assert report.waves is not None
    assert report.waves.statuses == ("succeeded", "failed in 100000000000", "not started")
    dev = next(s for s in report.stacksets if s.name == DEV)
    assert [(f.account, f.reason) for f in dev.failures] == [("100000000000", REASON)]
    # Wave 1 has the new template; the rest of the organization was never touched: its stacks keep the old
    # template and its instances are OUTDATED (the StackSet itself holds the new template).
    assert [a for _action, a in operations(world, DEV, since)] == [DEV_OU, SANDBOX]
    world.service.drain()
    assert {a: stack_sha(world, DEV, a) for a in REST_OF_DEVELOPER} == {a: old[a] for a in REST_OF_DEVELOPER}
    statuses = world.instances(DEV)
    assert {statuses[a][1] for a in REST_OF_DEVELOPER} == {"OUTDATED"}
    new_sha = hashlib.sha256(world.service.record(DEV).template.encode()).hexdigest()
    assert {stack_sha(world, DEV, a) for a in DEV_OU} == {new_sha}

    # The hash went with wave 1's update but names the plan's last operation, which never ran: not trusted.
    world.service.fail_accounts.clear()
    rerun = world.session("third")
    plan = plan_sync(rerun)
    dev_plan = next(p for p in plan.stacksets if p.name == DEV)
    assert dev_plan.action == "update"
    assert min(dev_plan.waves) == 1  # resumes at the wave that failed (Sandbox), not at wave 1
    since = last_seq(world)
    again = apply_plan(rerun, plan)
    assert again.outcome == "success"
    assert [a for _action, a in operations(world, DEV, since)] == [{"100000000000"}, REST_OF_DEVELOPER]
    world.service.drain()
    assert len({stack_sha(world, DEV, a) for a in DEV_OU | SANDBOX | REST_OF_DEVELOPER}) == 1
    assert world.sync("fourth").counts() == {"unchanged": 4}


def test_new_stacksets_and_revocations_follow_the_waves(make_world: Any, tmp_path: Path) -> None:
    world = make_world(write_variant(tmp_path / "v1", with_waves))
    report = world.sync("first")
    assert report.outcome == "success"
    creates = [accounts for action, accounts in operations(world, DEV) if action == "CREATE"]
    assert creates == [DEV_OU, SANDBOX, REST_OF_DEVELOPER]
    assert set(world.instances(DEV)) == DEV_OU | SANDBOX | REST_OF_DEVELOPER

    def drop_workloads(data: dict[str, Any]) -> None:
        with_waves(data)
        dev = edit(data, DEV)
        dev["targets"] = [t for t in dev["targets"] if t["ou_path"] != "Root/Workloads"]
        dev["parameter_overrides"] = []

    world.use(write_variant(tmp_path / "v2", drop_workloads))
    since = last_seq(world)
    assert world.sync("second").outcome == "success"
    deletes = [accounts for action, accounts in operations(world, DEV, since) if action == "DELETE"]
    assert deletes == [DEV_OU, REST_OF_DEVELOPER]  # Dev first, Sandbox untouched, then the rest
    assert set(world.instances(DEV)) == SANDBOX
    assert world.service.record(DEV).ou_ids == [world.layout.ou_id("Root/Sandbox")]
    assert world.sync("third").counts() == {"unchanged": 4}


def test_a_failed_wave_holds_every_stackset_with_later_waves(make_world: Any, tmp_path: Path) -> None:
    """Waves [[Root/Security], [Root/Sandbox]]: ReadOnly (the root) and Developer (no account in Security)
    both change; ReadOnly's failure in wave 1 holds Developer, which has not started."""

    def security_first(data: dict[str, Any]) -> None:
        data["org"]["rollout_waves"] = [["Root/Security"], ["Root/Sandbox"]]

    world = make_world(write_variant(tmp_path / "v1", security_first))
    assert world.sync("first").outcome == "success"

    def both(data: dict[str, Any]) -> None:
        security_first(data)
        for name in (DEV, "org-roles-ReadOnly"):
            edit(data, name)["parameters"]["MaxSessionDuration"] = "7200"

    world.use(write_variant(tmp_path / "v2", both))
    world.service.fail_accounts["100000000002"] = REASON
    since = last_seq(world)
    report = world.sync("second")
    assert report.outcome == "failed"
    assert {s.name: s.result for s in report.stacksets if s.action == "update"} == {
        DEV: "held",
        "org-roles-ReadOnly": "failed",
    }
    assert operations(world, DEV, since) == []
    read_only = [a for _action, a in operations(world, "org-roles-ReadOnly", since)]
    assert read_only == [{"100000000002", "100000000003", "222222222222"}]
