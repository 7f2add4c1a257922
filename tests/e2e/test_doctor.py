"""`python -m pipeline doctor` against the emulator (moto and the StackSet fidelity layer on 127.0.0.1):
the command line with --local, and each check the emulator can stage, passing and failing with its fix.
Calls moto lacks (iam:SimulatePrincipalPolicy, Service Quotas) are pinned with Stubber in
tests/test_pipeline/aws/test_doctor.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from pipeline.aws.clients import make_clients
from pipeline.aws.doctor import gather
from pipeline.aws.retry import Backoff
from pipeline.cli import main
from pipeline.cli.doctor import shared_actions
from pipeline.core import checks as c
from tests.support.fixtures import make_world, sync_env
from tests.support.paths import ROOT
from tests.support.sync import CREDS, MGMT, World, write_variant

__all__ = ["make_world", "sync_env"]
ADMIN = "100000000002"


def doctor(world: World, account: str | None = None) -> dict[str, c.Check]:
    """The doctor's checks for the world, as `account` when given (the emulator's account header)."""
    m = world.manifest
    clients = make_clients("us-east-1", endpoint_url=world.server.url, credentials=CREDS, max_attempts=1)
    if account is not None:
        for service in ("sts", "cloudformation"):
            clients.client(service).meta.events.register(
                "before-sign.*.*",
                lambda request, **_: request.headers.add_header("x-moto-account-id", account),
            )

    def statements(acct: str) -> list[c.Statement]:
        return c.sync_statements(m, acct, "us-east-1", shared_actions())

    facts = gather(clients, m, statements, emulated=True, backoff=Backoff(attempts=1, sleep=lambda _s: None))
    return {x.id: x for x in c.run_checks(m, facts, statements(facts.caller_account))}


def test_doctor_local_passes_on_a_new_local_organization(tmp_path: Path, capsys: Any) -> None:
    state = tmp_path / "state.json"
    assert (
        main(["--root", str(ROOT), "doctor", "--local", "--local-state", str(state), "--format", "json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [x["id"] for x in out["checks"]] == [
        "caller",
        "trusted-access",
        "organization",
        "ou-paths",
        "account-states",
        "watcher-region",
        "trail",
        "permissions",
        "limits",
    ]
    assert out["summary"]["FAIL"] == 0
    assert {x["id"]: x["status"] for x in out["checks"]}["trusted-access"] == "PASS"


def test_doctor_exits_1_on_a_failing_check_and_prints_the_fix(tmp_path: Path, capsys: Any) -> None:
    variant = write_variant(tmp_path / "m", lambda d: d["org"].update(organization_id="o-zzzzzzzzzz"))
    argv = [
        "doctor",
        "--local",
        "--local-state",
        str(tmp_path / "s.json"),
        "--manifest",
        str(variant / "manifest.json"),
    ]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL  organization: the credentials reach organization o-loc4lorg01, org.yaml pins o-zzzzzzzzzz"
        in out
    )
    assert (
        "      fix: use credentials of organization o-zzzzzzzzzz, or correct organization_id in org_roles/org.yaml"
        in out
    )


def test_the_emulated_organization_passes_every_check_it_can_stage(make_world: Callable[..., World]) -> None:
    got = doctor(make_world())
    assert {k: v.status for k, v in got.items()} == {
        "caller": c.PASS,
        "trusted-access": c.PASS,
        "organization": c.WARN,  # the fixture pins no organization id
        "ou-paths": c.PASS,
        "account-states": c.PASS,
        "watcher-region": c.PASS,
        "trail": c.WARN,  # no trail until one is created (below)
        "permissions": c.WARN,  # moto cannot simulate
        "limits": c.PASS,
    }


def test_trusted_access_disabled_fails(make_world: Callable[..., World]) -> None:
    world = make_world()
    world.client("organizations").disable_aws_service_access(ServicePrincipal=c.STACKSETS_PRINCIPAL)
    got = doctor(world)["trusted-access"]
    assert got.status == c.FAIL and "activate-organizations-access" in got.fix


def test_a_registered_delegated_administrator_passes(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    variant = write_variant(tmp_path / "d", lambda d: d["org"].update(call_as="DELEGATED_ADMIN"))
    world = make_world(variant, layout=lambda layout: layout.delegated_admins.append(ADMIN))
    got = doctor(world, ADMIN)["caller"]
    assert got.status == c.PASS, got


def test_an_unregistered_delegated_administrator_fails_with_the_command(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    world = make_world(write_variant(tmp_path / "d", lambda d: d["org"].update(call_as="DELEGATED_ADMIN")))
    got = doctor(world, ADMIN)["caller"]
    assert got.status == c.FAIL
    assert (
        f"register-delegated-administrator --account-id {ADMIN} --service-principal {c.STACKSETS_PRINCIPAL}"
        in got.fix
    )


def test_a_renamed_ou_fails_naming_it(make_world: Callable[..., World]) -> None:
    world = make_world()
    org = world.client("organizations")
    org.update_organizational_unit(OrganizationalUnitId=world.layout.ous["Root/Sandbox"], Name="Play")
    got = doctor(world)["ou-paths"]
    assert got.status == c.FAIL
    assert got.fix.startswith("Root/Sandbox: no OU at this path in the organization yet (create it")


def test_an_account_pending_closure_in_a_target_ou_fails(make_world: Callable[..., World]) -> None:
    def closing(layout: Any) -> None:
        acct = next(a for a in layout.accounts if a.path == "Root/Workloads/Dev")
        layout.accounts[layout.accounts.index(acct)] = type(acct)(
            acct.id, acct.name, acct.path, "PENDING_CLOSURE"
        )

    got = doctor(make_world(layout=closing))["account-states"]
    assert got.status == c.FAIL
    assert "(PENDING_CLOSURE, in Root/Workloads/Dev)" in got.detail


def test_an_organization_trail_that_logs_passes(make_world: Callable[..., World]) -> None:
    world = make_world()
    world.client("s3").create_bucket(Bucket="org-trail-logs")
    trail = world.client("cloudtrail")
    trail.create_trail(
        Name="org-trail", S3BucketName="org-trail-logs", IsMultiRegionTrail=True, IsOrganizationTrail=True
    )
    assert doctor(world)["trail"].status == c.WARN  # created, not yet logging
    trail.start_logging(Name="org-trail")
    got = doctor(world)["trail"]
    assert (got.status, got.detail) == (c.PASS, "organization trail org-trail is logging")


@pytest.mark.parametrize("forward", [False, True], ids=["no-rule", "rule"])
def test_another_home_region_needs_the_forwarding_rule(
    make_world: Callable[..., World], tmp_path: Path, forward: bool
) -> None:
    def europe(data: dict[str, Any]) -> None:
        data["org"]["home_region"] = "eu-west-1"
        for spec in data["stacksets"]:
            spec["regions"] = ["eu-west-1"]

    world = make_world(write_variant(tmp_path / "eu", europe))
    if forward:
        events = world.client("events")  # us-east-1
        events.put_rule(Name="forward-org-events", EventPattern=json.dumps({"source": ["aws.organizations"]}))
        bus = f"arn:aws:events:eu-west-1:{MGMT}:event-bus/default"
        events.put_targets(Rule="forward-org-events", Targets=[{"Id": "home", "Arn": bus}])
    got = doctor(world)["watcher-region"]
    assert got.status == (c.PASS if forward else c.WARN)
    if not forward:
        assert f"arn:aws:events:eu-west-1:{MGMT}:event-bus/default" in got.fix


def test_against_aws_the_calls_moto_lacks_are_made_and_judged(make_world: Callable[..., World]) -> None:
    """Without --local: the organization from the emulator, and from Stubber what moto lacks
    (DescribeOrganizationsAccess, SimulatePrincipalPolicy, ListServiceQuotas): a denied action fails
    the permissions check naming the statement, and Service Quotas' values are the ones judged."""
    world = make_world()
    m = world.manifest
    clients = make_clients("us-east-1", endpoint_url=world.server.url, credentials=CREDS, max_attempts=1)
    statements = c.sync_statements(m, MGMT, "us-east-1", shared_actions())
    role = f"arn:aws:iam::{MGMT}:role/org-sync"
    cfn, iam, quotas = (clients.client(s) for s in ("cloudformation", "iam", "service-quotas"))
    with Stubber(cfn) as cfn_stub, Stubber(iam) as iam_stub, Stubber(quotas) as quota_stub:
        cfn_stub.add_response("describe_organizations_access", {"Status": "ENABLED"}, {})
        for st in statements:
            for arn in st.simulate:
                results = [
                    {
                        "EvalActionName": a,
                        "EvalResourceName": arn,
                        "EvalDecision": "implicitDeny" if a == "cloudformation:DeleteStackSet" else "allowed",
                    }
                    for a in st.actions
                ]
                iam_stub.add_response(
                    "simulate_principal_policy",
                    {"EvaluationResults": results},
                    {"PolicySourceArn": role, "ActionNames": list(st.actions), "ResourceArns": [arn]},
                )
        quota_stub.add_response(
            "list_service_quotas",
            {"Quotas": [{"QuotaName": c.STACKSETS_QUOTA_NAME, "Value": 2.0}]},
            {"ServiceCode": "cloudformation"},
        )
        cfn_stub.add_response("list_stack_sets", {"Summaries": []}, {"Status": "ACTIVE"})
        facts = gather(
            clients,
            m,
            lambda _a: statements,
            role_arn=role,
            backoff=Backoff(attempts=1, sleep=lambda _s: None),
        )
        for stub in (cfn_stub, iam_stub, quota_stub):
            stub.assert_no_pending_responses()
    got = {x.id: x for x in c.run_checks(m, facts, statements)}
    assert (
        got["trusted-access"].detail
        == "trusted access for StackSets is ENABLED (DescribeOrganizationsAccess)"
    )
    perms = got["permissions"]
    assert perms.status == c.FAIL
    assert (
        '"Sid": "ManageOurStackSets", "Effect": "Allow", "Action": ["cloudformation:DeleteStackSet"]'
        in perms.fix
    )
    limits = got["limits"]
    assert (
        limits.status == c.FAIL
        and "of 2 allowed" in limits.detail
        and "(quotas: Service Quotas)" in limits.detail
    )


def test_the_readme_shows_what_doctor_local_prints(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    """The README's "Before the first sync" block, run as printed on a new local organization."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Before the first sync", 1)[1].split("\n### ", 1)[0]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    command, *shown = block.splitlines()
    assert command == "$ .venv/bin/python -m pipeline doctor --local"
    monkeypatch.chdir(ROOT)
    argv = [*command.split()[4:], "--local-state", str(tmp_path / "state.json")]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == shown
