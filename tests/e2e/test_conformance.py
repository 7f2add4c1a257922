"""`python -m pipeline conformance` against the emulator: every row passes on a sandbox OU that lets each
behaviour show (the emulator's own conformance), and the kit leaves nothing behind after success, after a
failing step, after an interruption, and (by a rerun) after a run that was killed."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.aws.clients import make_clients
from pipeline.aws.conformance import KIT, TAG, Kit, KitError, Row, run_kit
from pipeline.aws.organizations import read_org
from pipeline.cli import main
from pipeline.emulator.seed import OrgLayout, SeedAccount
from tests.support.fixtures import make_world, sync_env
from tests.support.paths import ROOT
from tests.support.sync import CREDS, MGMT, World

__all__ = ["make_world", "sync_env"]
PREFIX = "org-roles"


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


def left_behind(world: World) -> list[str]:
    """Kit StackSets still ACTIVE, and any stack instance of a kit StackSet, in the emulator."""
    out = []
    for record in world.service.stacksets.values():
        if record.name.startswith(f"{PREFIX}-{KIT}-") and (record.status == "ACTIVE" or record.instances):
            out.append(f"{record.name} ({record.status}, {len(record.instances)} instance(s))")
    return out


def test_every_row_passes_on_the_emulator_and_nothing_is_left(make_world: Callable[..., World]) -> None:
    world = make_world(layout=sandbox)
    rows = run_kit(kit_for(world, move=("100000000091", world.layout.ous["Root/Parking"])))
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


_TEMPLATE = '{"Resources": {"N": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}'


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
    text = re.sub(r"\bou-[0-9a-z]{4}-[0-9a-z]{8}\b", "OU", text)
    return (text.replace(account, "ACCOUNT") if account else text).splitlines()


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
    assert message in capsys.readouterr().err
