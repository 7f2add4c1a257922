"""`python -m pipeline conformance` against the emulator: every row passes on a sandbox OU that lets each
behaviour show (the emulator's own conformance), and the kit leaves nothing behind after success, after a
failing step, after an interruption, and (by a rerun) after a run that was killed."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.aws.clients import make_clients
from pipeline.aws.conformance import (
    KIT,
    RETAIN,
    RETAIN_SKIP,
    TAG,
    Kit,
    KitError,
    Row,
    member_clients,
    run_kit,
)
from pipeline.aws.organizations import read_org
from pipeline.cli import main
from pipeline.emulator.seed import OrgLayout, SeedAccount
from tests.support.fixtures import make_world, sync_env
from tests.support.paths import ROOT
from tests.support.sync import CREDS, MGMT, World

__all__ = ["make_world", "sync_env"]
PREFIX = "org-roles"
ROLE = "OrganizationAccountAccessRole"


def sandbox(layout: OrgLayout) -> None:
    """Root/Sandbox with a child OU holding accounts, and the management account inside Root/Sandbox."""
    layout.add_ou("Root/Sandbox/Team")
    layout.accounts.append(SeedAccount("100000000091", "team-1", "Root/Sandbox/Team"))
    layout.accounts.append(SeedAccount("100000000092", "team-2", "Root/Sandbox/Team"))
    layout.add_ou("Root/Parking")  # the second sandbox OU, for --move-account
    mgmt = next(a for a in layout.accounts if a.id == MGMT)
    layout.accounts[layout.accounts.index(mgmt)] = SeedAccount(MGMT, mgmt.name, "Root/Sandbox")


def kit_for(world: World, **kw: Any) -> Kit:
    clients = make_clients("us-east-1", endpoint_url=world.server.url, credentials=CREDS, max_attempts=1)
    tree = read_org(clients.organizations)
    ou = world.layout.ous["Root/Sandbox"]
    return Kit(clients.cloudformation, "us-east-1", tree, ou, PREFIX, org=clients.organizations, **kw)


def member_cfn(world: World) -> Callable[[str], Any]:
    """CloudFormation in a member account, through sts:AssumeRole of ROLE there (moto's STS, on 127.0.0.1)."""

    def client(creds: dict[str, str]) -> Any:
        return boto3.client("cloudformation", region_name="us-east-1", endpoint_url=world.server.url, **creds)

    return member_clients(world.client("sts"), ROLE, client)


def left_behind(world: World) -> list[str]:
    """Kit StackSets still ACTIVE, any stack instance of a kit StackSet, any retained stack of one the
    emulator holds, and any stack of one in any account of moto's CloudFormation."""
    from moto.cloudformation.models import cloudformation_backends

    out = []
    for record in world.service.stacksets.values():
        if record.name.startswith(f"{PREFIX}-{KIT}-") and (record.status == "ACTIVE" or record.instances):
            out.append(f"{record.name} ({record.status}, {len(record.instances)} instance(s))")
    stack_prefix = f"StackSet-{PREFIX}-{KIT}-"
    out += [
        f"retained {k}"
        for k, s in world.service.stacks.items()
        if s.retained and s.name.startswith(stack_prefix)
    ]
    for account, regions in cloudformation_backends.items():
        for backend in regions.values():
            out += [
                f"stack {account}/{s.name} ({s.status})"
                for s in backend.stacks.values()
                if s.name.startswith(stack_prefix) and s.status != "DELETE_COMPLETE"
            ]
    return out


def test_every_row_passes_on_the_emulator_and_nothing_is_left(make_world: Callable[..., World]) -> None:
    world = make_world(layout=sandbox)
    kit = kit_for(
        world, move=("100000000091", world.layout.ous["Root/Parking"]), member_cfn=member_cfn(world)
    )
    rows = run_kit(kit)
    assert [(r.behaviour, r.status) for r in rows] == [
        ("An OU target reaches child-OU accounts", "PASS"),
        ("The management account is never targeted", "PASS"),
        ("ParameterOverrides persist for an OU target", "PASS"),
        ("AutoDeployment on an account move", "PASS"),
        ("A moved-in account gets the StackSet-level values", "PASS"),
        ("A second operation while one runs is refused", "PASS"),
        ("ListStackSetOperations lists every operation (order reported)", "PASS"),
        ("DIFFERENCE filter on DeleteStackInstances", "PASS"),
        ("INTERSECTION filter on CreateStackInstances", "PASS"),
        (RETAIN, "PASS"),
        ("More than 50 OU ids in one call are refused", "PASS"),
    ]
    reads_only = (
        "The management account is never targeted",
        "ListStackSetOperations lists every operation (order reported)",
    )
    assert all(r.request_ids for r in rows if r.behaviour not in reads_only)
    assert left_behind(world) == []
    assert parent_path(world, "100000000091") == "Root/Sandbox/Team"  # moved back


def parent_path(world: World, account: str) -> str:
    parent = world.client("organizations").list_parents(ChildId=account)["Parents"][0]["Id"]
    return next(p for p, i in world.layout.ous.items() if i == parent)


def test_without_move_account_the_move_rows_are_skipped(make_world: Callable[..., World]) -> None:
    world = make_world(layout=sandbox)
    rows = {r.behaviour: r for r in run_kit(kit_for(world))}
    moved = rows["AutoDeployment on an account move"]
    assert (moved.status, moved.observed) == ("SKIP", "not run (pass --move-account ID --to-ou OU)")
    assert (rows[RETAIN].status, rows[RETAIN].observed) == ("SKIP", RETAIN_SKIP)


def test_a_retained_stack_is_a_stack_of_its_account_only(make_world: Callable[..., World]) -> None:
    """The emulator's retained stack: after DeleteStackInstances with RetainStacks, the member account's own
    CloudFormation (assumed-role credentials) describes it, the management account's does not, and deleting
    it there makes the emulator forget it."""
    world = make_world(layout=sandbox)
    kit = kit_for(world, member_cfn=member_cfn(world))
    kit.create()
    kit.run_op("create_stack_instances", DeploymentTargets=kit.targets(), Regions=["us-east-1"])
    account = "100000000091"
    stack = (
        next(
            s["StackId"]
            for s in kit.cfn.list_stack_instances(StackSetName=kit.name)["Summaries"]
            if s["Account"] == account
        )
        .split(":stack/")[1]
        .split("/")[0]
    )
    kit.run_op(
        "delete_stack_instances",
        DeploymentTargets=kit.targets([account], "INTERSECTION"),
        Regions=["us-east-1"],
        RetainStacks=True,
    )
    assert account not in kit.instances()
    there = kit.member_cfn(account)  # type: ignore[misc]
    assert there.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    with pytest.raises(Exception, match="does not exist"):
        world.client("cloudformation").describe_stacks(StackName=stack)
    assert [s.retained for s in world.service.stacks.values() if s.name == stack] == [True]
    there.delete_stack(StackName=stack)
    assert [s for s in world.service.stacks.values() if s.name == stack] == []
    kit.run_op(
        "delete_stack_instances", DeploymentTargets=kit.targets(), Regions=["us-east-1"], RetainStacks=False
    )
    kit.call("delete_stack_set", StackSetName=kit.name)
    assert left_behind(world) == []


def test_an_interruption_while_a_stack_is_retained_deletes_it_in_its_account(
    make_world: Callable[..., World],
) -> None:
    world = make_world(layout=sandbox)
    reach = member_cfn(world)
    seen = {"n": 0}

    class Interrupting:
        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            if name == "describe_stacks" and seen["n"] == 0:
                seen["n"] += 1
                raise KeyboardInterrupt  # Ctrl-C right after the instance went and its stack stayed
            return getattr(self.client, name)

    with pytest.raises(KeyboardInterrupt):
        run_kit(kit_for(world, member_cfn=lambda account: Interrupting(reach(account))))
    assert seen["n"] == 1
    assert left_behind(world) == []


def test_a_failure_while_a_stack_is_retained_still_deletes_it(make_world: Callable[..., World]) -> None:
    world = make_world(layout=sandbox)
    reach = member_cfn(world)
    calls: list[str] = []

    class Failing:
        def __init__(self, client: Any) -> None:
            self.client = client

        def delete_stack(self, **kw: Any) -> Any:
            calls.append(kw["StackName"])
            if len(calls) == 1:
                raise KitError("the member account refused")
            return self.client.delete_stack(**kw)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

    with pytest.raises(KitError):
        run_kit(kit_for(world, member_cfn=lambda account: Failing(reach(account))))
    assert len(calls) == 2 and calls[0] == calls[1]  # the clean-up tried again, and succeeded
    assert left_behind(world) == []


def test_an_interruption_while_the_account_is_away_moves_it_back(make_world: Callable[..., World]) -> None:
    world = make_world(layout=sandbox)
    kit = kit_for(world, move=("100000000091", world.layout.ous["Root/Parking"]))
    polls = {"n": 0}

    def instances() -> dict[str, str | None]:
        if parent_path(world, "100000000091") == "Root/Parking":
            polls["n"] += 1
            raise KeyboardInterrupt  # Ctrl-C while waiting for AutoDeployment to remove the instance
        return Kit.instances(kit)

    kit.instances = instances  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run_kit(kit)
    assert polls["n"] == 1
    assert parent_path(world, "100000000091") == "Root/Sandbox/Team"
    assert left_behind(world) == []


def test_an_interruption_midway_still_removes_everything(make_world: Callable[..., World]) -> None:
    world = make_world(layout=sandbox)
    seen: list[Row] = []

    def interrupt(row: Row) -> None:
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_kit(kit_for(world), interrupt)
    assert len(seen) == 3
    assert left_behind(world) == []


def test_an_interruption_while_an_operation_runs_waits_it_out_and_removes_everything(
    make_world: Callable[..., World],
) -> None:
    world = make_world(layout=sandbox)
    polls = {"n": 0}

    def sleep(_s: float) -> None:
        polls["n"] += 1
        if polls["n"] == 4:  # Ctrl-C during the wait of some operation
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_kit(kit_for(world, sleep=sleep))
    assert left_behind(world) == []


def test_a_failing_step_still_removes_everything(make_world: Callable[..., World], monkeypatch: Any) -> None:
    world = make_world(layout=sandbox)

    def broken(kit: Kit) -> Row:
        raise KitError("a step failed")

    monkeypatch.setattr("pipeline.aws.conformance.ROWS", (broken,))
    with pytest.raises(KitError):
        run_kit(kit_for(world))
    assert left_behind(world) == []


def test_keep_leaves_the_stackset_and_a_rerun_removes_it(
    make_world: Callable[..., World], capsys: Any, monkeypatch: Any
) -> None:
    """A run killed before its clean-up (--keep stands in for it) leaves its StackSet; the next run removes
    it first, by prefix and tag, and leaves alone a StackSet with the prefix but without the tag."""
    world = make_world(layout=sandbox)
    kept = kit_for(world)
    run_kit(kept, keep=True)
    assert left_behind(world) == [f"{kept.name} (ACTIVE, 2 instance(s))"]  # what the filter rows left
    foreign = f"{PREFIX}-{KIT}-notours"
    world.client("cloudformation").create_stack_set(
        StackSetName=foreign,
        TemplateBody=_TEMPLATE,
        PermissionModel="SERVICE_MANAGED",
        Tags=[{"Key": "x", "Value": "y"}],
    )
    monkeypatch.setattr("time.sleep", lambda _s: None)  # the command paces its polls for real AWS
    manifest = str(world.manifest_dir / "manifest.json")
    argv = [
        "conformance",
        "--endpoint-url",
        world.server.url,
        "--manifest",
        manifest,
        "--ou",
        "Root/Sandbox",
        "--yes",
    ]
    assert main(argv) == 0
    assert f"removed {kept.name}, left by an earlier run" in capsys.readouterr().err
    assert left_behind(world) == [f"{foreign} (ACTIVE, 0 instance(s))"]
    tags = world.client("cloudformation").describe_stack_set(StackSetName=foreign)["StackSet"]["Tags"]
    assert TAG not in {t["Key"] for t in tags}


def test_a_rerun_with_the_member_role_deletes_a_stack_a_killed_run_retained(
    make_world: Callable[..., World], capsys: Any, monkeypatch: Any
) -> None:
    """A run whose clean-up could not delete its retained stack (the member account refused every
    DeleteStack: a killed run leaves the same) leaves only that stack; the next run with --member-role finds
    it by name in the OU's member accounts and deletes it there, and leaves alone a stack of another
    StackSet."""
    world = make_world(layout=sandbox)
    reach = member_cfn(world)

    class Refusing:
        def __init__(self, client: Any) -> None:
            self.client = client

        def delete_stack(self, **kw: Any) -> Any:
            raise KitError("the member account refused")

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

    killed = kit_for(world, member_cfn=lambda account: Refusing(reach(account)))
    with pytest.raises(KitError):
        run_kit(killed)
    [held] = [s for s in left_behind(world) if s.startswith("stack ")]
    account = held.split()[1].split("/")[0]
    other = reach(account)
    queue = '{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}'  # a type moto models: no warning
    other.create_stack(StackName="StackSet-someone-else-1", TemplateBody=queue)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    argv = [
        "conformance",
        "--endpoint-url",
        world.server.url,
        "--manifest",
        str(world.manifest_dir / "manifest.json"),
        "--ou",
        "Root/Sandbox",
        "--yes",
        "--member-role",
        ROLE,
    ]
    assert main(argv) == 0
    assert f"in {account}, retained by an earlier run" in capsys.readouterr().err
    assert left_behind(world) == []
    assert (
        other.describe_stacks(StackName="StackSet-someone-else-1")["Stacks"][0]["StackStatus"]
        == "CREATE_COMPLETE"
    )


_TEMPLATE = '{"Resources": {"N": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}'


def test_a_retained_stack_stays_in_its_account_across_local_commands(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """--local restarts moto from its state file for every command: a stack retained in one command is
    still in its account in the next, and deleting it there makes the emulator forget it."""
    from pipeline.cli.files import load_manifest
    from pipeline.emulator.local import LocalEnvironment

    monkeypatch.chdir(ROOT)
    manifest = load_manifest(ROOT / "templates/org/manifest.json")
    state = tmp_path / "state.json"
    with LocalEnvironment(manifest, state) as env:
        clients = env.clients()
        tree = read_org(clients.organizations)
        sandbox_ou = tree.by_path("Root/Sandbox")
        assert sandbox_ou is not None
        kit = Kit(clients.cloudformation, "us-east-1", tree, sandbox_ou.id, PREFIX)
        kit.create()
        kit.run_op("create_stack_instances", DeploymentTargets=kit.targets(), Regions=["us-east-1"])
        account = kit.members()[0]
        kit.run_op(
            "delete_stack_instances",
            DeploymentTargets=kit.targets([account], "INTERSECTION"),
            Regions=["us-east-1"],
            RetainStacks=True,
        )
        [stack] = [s.name for s in env.service.stacks.values() if s.retained]
    with LocalEnvironment(manifest, state) as env:
        clients = env.clients()

        def client(creds: dict[str, str]) -> Any:
            return make_clients("us-east-1", endpoint_url=env.url, credentials=creds).cloudformation

        there = member_clients(clients.sts, ROLE, client)(account)
        assert there.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        there.delete_stack(StackName=stack)
        assert [s for s in env.service.stacks.values() if s.retained] == []


def test_the_command_runs_on_the_local_organization(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(ROOT)
    state = str(tmp_path / "state.json")
    assert main(["local", "create-ou", "Root/Sandbox/Team", "--local-state", state]) == 0
    assert main(["local", "create-account", "team-1", "Root/Sandbox/Team", "--local-state", state]) == 0
    capsys.readouterr()
    argv = [
        "conformance",
        "--local",
        "--local-state",
        state,
        "--ou",
        "Root/Sandbox",
        "--yes",
        "--format",
        "markdown",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| An OU target reaches child-OU accounts |" in out and "| FAIL |" not in out
    assert out.rstrip().splitlines()[-1].startswith(f"removed {PREFIX}-{KIT}-")


def test_the_command_refuses_the_root_and_unknown_ous(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(ROOT)
    state = str(tmp_path / "state.json")
    assert main(["conformance", "--local", "--local-state", state, "--ou", "Root", "--yes"]) == 2
    assert "the root is not a sandbox OU" in capsys.readouterr().err
    assert main(["conformance", "--local", "--local-state", state, "--ou", "Root/Nowhere", "--yes"]) == 2
    assert "--ou Root/Nowhere: no such OU" in capsys.readouterr().err


def test_without_yes_and_without_a_terminal_nothing_is_created(
    tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.chdir(ROOT)
    state = tmp_path / "state.json"
    assert main(["conformance", "--local", "--local-state", str(state), "--ou", "Root/Sandbox"]) == 2
    err = capsys.readouterr().err
    assert "pass --yes to run without a terminal" in err
    assert f"{PREFIX}-{KIT}-" not in state.read_text().split('"stacksets"', 1)[1]


def _normal(text: str, account: str) -> list[str]:
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "REQUEST", text)
    text = re.sub(rf"{PREFIX}-{KIT}-[0-9a-f]{{8}}", "STACKSET", text)
    text = re.sub(r"`[A-Za-z0-9]{52}`", "`REQUEST`", text)  # moto's request ids (the member account's calls)
    text = re.sub(r"\bou-[0-9a-z]{4}-[0-9a-z]{8}\b", "OU", text)
    # The new account's id is drawn, so which account a row names first (the lowest id) is drawn too: every
    # account id reads ACCOUNT, and the rows still show how many accounts and in which roles.
    text = text.replace(account, "ACCOUNT") if account else text
    return re.sub(r"\b\d{12}\b", "ACCOUNT", text).splitlines()


def test_the_readme_shows_what_conformance_local_prints(
    tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    """The README's conformance block, run as printed (each command with its own --local-state), its
    output equal up to the ids AWS (or the emulator) draws: request ids, the StackSet's random suffix, the
    new OU's and account's ids."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Before the first sync", 1)[1].split("\n### ", 1)[0]
    block = section.split("```console\n")[2].split("```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    monkeypatch.chdir(ROOT)
    state = ["--local-state", str(tmp_path / "state.json")]
    shown_account = re.search(r"created account (\d{12})", block)
    assert shown_account is not None
    ran_account = ""
    for command, shown in steps:
        assert command.startswith(".venv/bin/python -m pipeline ")
        assert main([*command.split()[3:], *state]) == 0, command
        out = capsys.readouterr().out
        created = re.search(r"created account (\d{12})", out)
        ran_account = created.group(1) if created else ran_account
        assert _normal(out, ran_account) == _normal("\n".join(shown) + "\n", shown_account.group(1)), command


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--move-account", "100000000006"], "--move-account and --to-ou go together"),
        (
            ["--move-account", "100000000013", "--to-ou", "Root/Security"],
            "not an active member account under",
        ),
        (["--move-account", "100000000006", "--to-ou", "Root/Sandbox"], "inside --ou Root/Sandbox"),
        (
            ["--member-role", "arn:aws:iam::100000000006:role/OrganizationAccountAccessRole"],
            "not an IAM role name (a name, not an ARN)",
        ),
        (["--member-role", ""], "--member-role '': not an IAM role name"),
    ],
)
def test_bad_move_options_are_one_line_and_create_nothing(
    extra: list[str], message: str, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.chdir(ROOT)
    argv = [
        "conformance",
        "--local",
        "--local-state",
        str(tmp_path / "s.json"),
        "--ou",
        "Root/Sandbox",
        "--yes",
    ]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert f"{PREFIX}-{KIT}-" not in (tmp_path / "s.json").read_text().split('"stacksets"', 1)[1]
