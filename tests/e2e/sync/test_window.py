"""The window between an account joining a target OU and the next sync, on the sample organization
(org_roles/, rendered into templates/): AutoDeployment gives the new account the StackSet-level values
only, so those must never grant more than the OU allows. Over HTTP against the emulator."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pipeline.core.ops import CreateInstances, UpdateOverrides
from tests.e2e.sync.test_sync import iam_roles
from tests.support.paths import ROOT

DEV = "org-roles-Developer"


def sample_org(tmp_path: Path) -> Path:
    """The committed render of org_roles/ as a manifest directory (tests/test_generator checks it is fresh)."""
    out = tmp_path / "sample"
    shutil.copytree(ROOT / "templates", out / "templates")
    shutil.copy(ROOT / "templates" / "org" / "manifest.json", out / "manifest.json")
    return out


def test_a_prod_account_created_after_the_sync_never_gets_the_8_hour_session(
    make_world: Any, tmp_path: Path
) -> None:
    world = make_world(sample_org(tmp_path), materialize=True)
    first = world.sync("first")
    assert first.outcome == "success"
    plan = next(p for p in first.plan.stacksets if p.name == DEV)
    creates = [(op.paths, op.parameters) for op in plan.ops if isinstance(op, CreateInstances)]
    # Sandbox's accounts share one set of values: its instances start with them (ParameterOverrides on
    # CreateStackInstances) and get no UpdateStackInstances; Workloads' differ by child OU: StackSet-level
    # values (the narrowest) first, then the overrides.
    assert creates == [
        (("Root/Sandbox",), (("AppBucketPrefix", "sandbox"), ("MaxSessionDuration", "43200"))),
        (("Root/Workloads",), ()),
    ]
    sandbox = world.accounts_in("Root/Sandbox")
    assert not [op for op in plan.ops if isinstance(op, UpdateOverrides) and set(op.accounts) & sandbox]
    assert {iam_roles(world, a)["Developer"] for a in sandbox} == {43200}
    prod = world.accounts_in("Root/Workloads/Prod") - world.accounts_in("Root/Workloads/Prod/Payments")
    staging = world.accounts_in("Root/Workloads/Staging")
    assert {iam_roles(world, a)["Developer"] for a in prod} == {3600}
    assert {iam_roles(world, a)["Developer"] for a in staging} == {28800}

    org = world.client("organizations")
    created = org.create_account(Email="prod-new@example.com", AccountName="prod-new")["CreateAccountStatus"]
    account = created["AccountId"]
    world.move(account, "Root/Workloads/Prod")
    # Any request lets the emulator's AutoDeployment follow the move; no sync has run since.
    world.client("cloudformation").list_stack_sets()
    assert account in world.instances(DEV)
    # The role's default is 8 hours (roles/Developer.yaml); Prod allows one hour; the window gets one hour.
    assert iam_roles(world, account)["Developer"] == 3600

    report = world.sync("second")
    assert report.outcome == "success"
    assert iam_roles(world, account)["Developer"] == 3600
    assert {iam_roles(world, a)["Developer"] for a in staging} == {28800}
