"""Simulated time and Organizations' rate limit (pipeline.emulator.throttle), the server that applies them,
and the account index and snapshot cache that let the emulator hold 20,000 accounts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core.base_backend import BackendDict

from pipeline.emulator import seed as seeding
from pipeline.emulator.server import FidelityServer, MotoOrgView
from pipeline.emulator.stacksets import StackSetService
from pipeline.emulator.throttle import RateLimit, SimClock, Simulation, follow_threads
from tests.support.sync import CREDS, FIXTURE, LOGIN, MGMT

TEMPLATE = (FIXTURE / "templates" / "org" / "roles" / "Developer.yaml").read_text()


def test_the_clock_moves_only_when_told() -> None:
    clock = SimClock(10.0)
    assert clock.now() == 10.0
    clock.sleep(2.5)
    assert clock.advance(0.5) == 13.0
    clock.advance(-4)  # time never runs back
    assert clock.now() == 13.0


def test_threads_wait_side_by_side_and_the_waiter_continues_from_the_latest() -> None:
    """Four workers sleeping 2 s each take 2 simulated seconds, not 8; work starts at the submitter's time."""
    clock = SimClock()
    clock.set(10.0)
    together = threading.Barrier(4)  # four workers really at once, as four slow requests would make them

    def work(_n: int) -> float:
        together.wait()
        started = clock.now()
        time.sleep(2.0)
        return started

    with follow_threads(clock), ThreadPoolExecutor(max_workers=4) as pool:
        starts = list(pool.map(work, range(4)))
        assert starts == [10.0] * 4
        assert clock.now() == 12.0
        later = pool.submit(lambda: clock.sleep(1.5))
        clock.sleep(0.5)  # the submitter works meanwhile
        later.result()
        assert clock.now() == 13.5
    time.sleep(0)  # the real time.sleep again


def test_the_limit_answers_the_rate_in_any_one_second_window() -> None:
    clock = SimClock()
    limit = RateLimit(5, clock)
    assert [limit.take() for _ in range(6)] == [True] * 5 + [False]
    clock.advance(0.5)
    assert limit.take() is False  # the window (-0.5, 0.5] holds five already
    clock.advance(0.5)  # t = 1.0: the five at 0 have left the window
    assert sum(limit.take() for _ in range(20)) == 5
    clock.advance(60)  # a quiet minute allows one second's worth, no more
    assert sum(limit.take() for _ in range(20)) == 5


def test_a_thread_behind_the_others_is_judged_at_its_own_time() -> None:
    """Threads have their own times: a request stamped earlier than others is judged against its window."""
    clock = SimClock()
    limit = RateLimit(2, clock)
    clock.set(10.0)
    assert [limit.take(), limit.take()] == [True, True]  # a thread ahead, at 10
    clock.set(5.0)
    assert [limit.take(), limit.take(), limit.take()] == [True, True, False]  # one behind, at 5
    clock.set(9.5)
    assert limit.take() is False  # its window (9.5, 10.5] holds the two at 10


def test_the_simulation_counts_answered_and_throttled_requests_and_their_latency() -> None:
    sim = Simulation(org_rate=2, org_latency=0.1, api_latency=0.01)
    assert [sim.organizations("ListRoots") for _ in range(3)] == [True, True, False]
    sim.request()
    assert sim.clock.now() == pytest.approx(0.31)
    assert (dict(sim.org_calls), dict(sim.org_throttled)) == ({"ListRoots": 2}, {"ListRoots": 1})
    assert all(Simulation().organizations("ListRoots") for _ in range(100))  # no rate: never throttled


@pytest.mark.parametrize(
    ("prefs", "regions", "seconds"),
    [
        # Strict mode: at most FailureToleranceCount + 1 at a time: 10 accounts in 5 waves of 2.
        ({"MaxConcurrentCount": 5, "FailureToleranceCount": 1}, 1, 150.0),
        ({"MaxConcurrentCount": 5, "FailureToleranceCount": 9}, 1, 60.0),
        ({"MaxConcurrentCount": 5, "FailureToleranceCount": 9, "RegionConcurrencyType": "PARALLEL"}, 2, 60.0),
        ({"MaxConcurrentCount": 5, "FailureToleranceCount": 9}, 2, 120.0),  # Regions in turn by default
        ({}, 1, 300.0),  # AWS's defaults: one account at a time
    ],
)
def test_an_operation_lasts_as_its_preferences_make_it(
    prefs: dict[str, Any], regions: int, seconds: float
) -> None:
    targets = [(f"{n:012d}", r) for n in range(10) for r in ["us-east-1", "eu-west-1"][:regions]]
    assert Simulation(stack_seconds=30).operation_seconds(prefs, targets) == seconds


def _layout() -> seeding.OrgLayout:
    layout = seeding.OrgLayout(MGMT)
    for path in ("Root/A", "Root/B"):
        layout.add_ou(path)
    layout.accounts.append(seeding.SeedAccount(MGMT, "management", "Root"))
    for n in range(45):  # three pages of 20 under A
        layout.accounts.append(seeding.SeedAccount(f"{100000000000 + n:012d}", f"a{n}", "Root/A"))
    layout.accounts.append(seeding.SeedAccount("200000000000", "b", "Root/B"))
    return layout


@pytest.fixture
def throttled() -> Iterator[tuple[Simulation, FidelityServer, seeding.OrgLayout]]:
    BackendDict.reset()
    layout = _layout()
    seeding.seed(layout)
    sim = Simulation(org_rate=1, org_latency=0.05, api_latency=0.01, stack_seconds=30)
    server = FidelityServer(StackSetService(MotoOrgView(MGMT)), MGMT, simulation=sim)
    server.start()
    yield sim, server, layout
    server.stop()
    BackendDict.reset()


def _client(server: FidelityServer, service: str) -> Any:
    """A client without retries whose requests carry the caller's simulated time (as the benchmark's do)."""
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    client = boto3.client(service, region_name="us-east-1", endpoint_url=server.url, config=config, **CREDS)
    assert server.simulation is not None
    server.simulation.attach(client.meta.events)
    return client


def test_organizations_over_its_rate_answers_too_many_requests(throttled: Any) -> None:
    sim, server, _layout = throttled
    org = _client(server, "organizations")
    org.list_roots()
    with pytest.raises(ClientError) as caught:
        org.list_roots()
    assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    sim.clock.advance(1.0)
    assert org.list_roots()["Roots"][0]["Id"] == "r-loca"
    assert (sim.org_calls["ListRoots"], sim.org_throttled["ListRoots"]) == (2, 1)
    assert sim.clock.now() == pytest.approx(1.15)  # three requests of 0.05 s, and a second of waiting


def test_stackset_operations_end_on_the_simulated_clock(throttled: Any) -> None:
    sim, server, layout = throttled
    cfn = _client(server, "cloudformation")
    cfn.create_stack_set(
        StackSetName="org-roles-Timed",
        TemplateBody=TEMPLATE,
        Parameters=[{"ParameterKey": "LoginAccountId", "ParameterValue": LOGIN}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
    )
    op = cfn.create_stack_instances(
        StackSetName="org-roles-Timed",
        DeploymentTargets={"OrganizationalUnitIds": [layout.ous["Root/A"]]},
        Regions=["us-east-1"],
        OperationPreferences={"MaxConcurrentCount": 10, "FailureToleranceCount": 9},
    )["OperationId"]
    started = sim.clock.now()

    def status() -> str:
        described = cfn.describe_stack_set_operation(StackSetName="org-roles-Timed", OperationId=op)
        return str(described["StackSetOperation"]["Status"])

    # 45 accounts, 10 at a time: 5 waves of 30 s.
    assert status() == "RUNNING"
    sim.clock.advance(started + 149.9 - sim.clock.now())
    assert status() == "RUNNING"
    sim.clock.advance(0.2)
    assert status() == "SUCCEEDED"


def test_accounts_are_listed_per_parent_from_an_index_that_follows_moves(throttled: Any) -> None:
    sim, server, layout = throttled
    sim._limit = None  # this test is about the answers, not the rate
    org = _client(server, "organizations")
    a, b = layout.ous["Root/A"], layout.ous["Root/B"]

    def listed(parent: str) -> list[str]:
        pages = org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent)
        return [acct["Id"] for page in pages for acct in page["Accounts"]]

    under_a = [s.id for s in layout.accounts if s.path == "Root/A"]
    assert listed(a) == under_a  # creation order, across three pages
    view = MotoOrgView(MGMT)
    before = view.snapshot()
    assert before is view.snapshot()  # built once while nothing changes
    org.move_account(AccountId=under_a[0], SourceParentId=a, DestinationParentId=b)
    assert (listed(a), listed(b)) == (under_a[1:], [under_a[0], "200000000000"])  # by creation time
    after = view.snapshot()
    assert after is not None and after.accounts[under_a[0]][0] == b
    with pytest.raises(ClientError) as caught:
        org.list_accounts_for_parent(ParentId="ou-loca-missing0")
    assert caught.value.response["Error"]["Code"] == "ParentNotFoundException"
