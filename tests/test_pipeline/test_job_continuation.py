"""The sync at any size (issue 16 item 4): a walk cut into many invocations resumes where it stopped, one
walk per pipeline run, re-plans on the walk held, a no-op from a fresh stored walk with no Organizations
call, stored walks made stale by Organizations events or age, and the invocation budget.

CodePipeline's job API is a recorder here (what the sync answered, per job); the organization, the
StackSets, S3 and KMS are the emulator's."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pipeline.core import limits, tokens
from pipeline.core.runstate import WALK_TTL_SECONDS
from pipeline.job import CACHED, Deps, _out_of_time, handle
from tests.support.lambda_job import BINDING, BUCKET, KEY, Ctx, artifact, held, job, world_deps
from tests.support.sync import World

WALK_CALLS = (
    "DescribeOrganization",
    "ListRoots",
    "ListOrganizationalUnitsForParent",
    "ListAccountsForParent",
)
MOVE = {"source": "aws.organizations", "detail": {"eventName": "MoveAccount"}}


@dataclass
class Answers:
    """CodePipeline's job API: every answer the sync gave."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def put_job_success_result(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("success", kwargs))
        return {}

    def put_job_failure_result(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("failure", kwargs))
        return {}


@dataclass
class Pipe:
    world: World
    deps: Deps
    answers: Answers
    made: list[Any]
    clock: list[float]

    def walk_calls(self) -> int:
        """The organization walk's calls the sync has made so far."""
        return sum(c.counter.calls[op] for c in self.made for op in WALK_CALLS)

    def run(self, **params: str) -> tuple[dict[str, Any], int]:
        """A job and its continuations until it ends: (its last result, the invocations)."""
        token: str | None = None
        art = artifact(self.world.manifest_dir)
        approve = {} if params.get("mode") == "plan" else {"approve": art}
        for invocations in range(1, 1000):
            before = len(self.answers.calls)
            result = handle(job(token, **approve, **params), Ctx(), self.deps)  # type: ignore[arg-type]
            [(kind, answer)] = self.answers.calls[before:]  # exactly one answer per invocation
            if "continuation" not in result:
                assert "continuationToken" not in answer
                return result, invocations
            assert (kind, answer) == (
                "success",
                {"jobId": "job-1", "continuationToken": result["continuation"]},
            )
            token = result["continuation"]
        raise AssertionError("the job never ended")

    def plan(self, execution: str = "exec-1") -> tuple[dict[str, Any], int]:
        return self.run(mode="plan", execution=execution)

    def cut(self, ticks: int) -> None:
        """Every invocation runs out of time after `ticks` looks at the clock (a fake clock that advances
        one second per look): a handful of calls each."""
        seconds = itertools.count()
        self.deps.clock = lambda: float(next(seconds))
        self.deps.step_seconds = ticks


@pytest.fixture
def pipe(make_world: Any) -> Iterator[Pipe]:
    world = make_world()
    s3 = world.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=artifact(world.manifest_dir))
    answers = Answers()
    clock = [1_000_000.0]
    deps = world_deps(world, codepipeline=answers)
    deps.now = lambda: clock[0]
    made: list[Any] = []
    clients = deps.sync_clients

    def counting(region: str) -> Any:
        made.append(clients(region))
        return made[-1]

    deps.sync_clients = counting
    yield Pipe(world, deps, answers, made, clock)


@pytest.mark.slow  # many invocations, each reading the artifact and checking guardrails
def test_a_walk_cut_into_many_invocations_plans_as_one_uninterrupted_walk(pipe: Pipe) -> None:
    """With no time to spare each invocation makes one Organizations call and hands over: the Plan action
    still ends with the plan of one whole walk, having made exactly one walk's calls."""
    pipe.deps.step_seconds = 600
    whole, one = pipe.plan("exec-0")
    calls = pipe.walk_calls()
    assert one == 1 and calls > 10
    pipe.deps.state_store().mark_org_changed(pipe.clock[0])  # no stored walk may stand in
    pipe.clock[0] += 1
    pipe.cut(4)
    cut, invocations = pipe.plan("exec-1")
    assert pipe.walk_calls() - calls == calls  # one more walk, no call repeated
    assert invocations >= calls // 4
    assert (
        cut["variables"]["PLAN_SUMMARY"]
        == whole["variables"]["PLAN_SUMMARY"]
        == ("plan: 4 create; guardrails passed")
    )
    assert cut["variables"]["ORG_WALK"].startswith("job-1/")
    # The walk stored is the same organization.
    a, _ = pipe.deps.state_store().get_walk(whole["variables"]["ORG_WALK"])
    b, _ = pipe.deps.state_store().get_walk(cut["variables"]["ORG_WALK"])
    assert a.tree() == b.tree()


@pytest.mark.slow  # many invocations, each reading the artifact and checking guardrails
def test_one_walk_per_pipeline_run_through_many_sync_continuations(pipe: Pipe) -> None:
    """The Plan action walks; the Sync action, continuing while operations run and re-planning after
    each, plans from that walk and makes no Organizations call; the token stays compact throughout."""
    planned, _ = pipe.plan()
    walk = planned["variables"]["ORG_WALK"]
    calls = pipe.walk_calls()
    pipe.cut(3)
    result, invocations = pipe.run(org_walk=walk)
    assert result["ok"] and result["report"]["outcome"] == "success"
    assert invocations > 2
    assert pipe.walk_calls() == calls  # no walk in the Sync action
    assert all(len(a["continuationToken"]) < 200 for _k, a in pipe.answers.calls if "continuationToken" in a)


def test_the_sync_holds_pending_operations_in_the_stored_state(pipe: Pipe) -> None:
    planned, _ = pipe.plan()
    pipe.deps.step_seconds = 0
    first = handle(
        job(approve=artifact(pipe.world.manifest_dir), org_walk=planned["variables"]["ORG_WALK"]),
        Ctx(),
        pipe.deps,
    )
    state = held(pipe.deps, first["continuation"])
    assert state.pending
    assert state.tree == planned["variables"]["ORG_WALK"] and state.walk is None
    assert len(first["continuation"]) < 200
    assert tokens.unseal(first["continuation"], BINDING, pipe.deps.signer).run == "job-1"


def test_a_no_op_plans_from_the_stored_walk_without_any_organizations_call(pipe: Pipe) -> None:
    planned, _ = pipe.plan("exec-1")
    pipe.run(org_walk=planned["variables"]["ORG_WALK"])  # converge
    calls = pipe.walk_calls()
    again, _ = pipe.plan("exec-2")
    assert again["variables"]["ORG_WALK"] == CACHED
    assert again["variables"]["PLAN_SUMMARY"].startswith("plan: 4 unchanged")
    result, _ = pipe.run(org_walk=CACHED)
    assert result["report"]["outcome"] == "success"
    assert pipe.walk_calls() == calls  # neither action walked


def test_a_stored_walk_never_leads_to_a_write(pipe: Pipe) -> None:
    """The stored walk is fresh, but the plan from it has changes: the Plan action walks afresh."""
    pipe.plan("exec-1")
    calls = pipe.walk_calls()
    again, _ = pipe.plan("exec-2")  # nothing was synced: the plan creates, so it may not trust the cache
    assert pipe.walk_calls() == 2 * calls
    assert again["variables"]["ORG_WALK"] != CACHED


@pytest.mark.parametrize(
    ("event", "age", "walks"),
    [
        (False, 0, False),  # fresh: the no-op needs no walk
        (True, 0, True),  # an Organizations event came after the walk began
        (False, WALK_TTL_SECONDS, True),  # too old, whatever events say
    ],
)
def test_a_stored_walk_is_stale_after_an_organizations_event_or_its_time_to_live(
    pipe: Pipe, event: bool, age: float, walks: bool
) -> None:
    planned, _ = pipe.plan("exec-1")
    pipe.run(org_walk=planned["variables"]["ORG_WALK"])
    calls = pipe.walk_calls()
    pipe.clock[0] += 1
    if event:
        assert handle(MOVE, Ctx(), pipe.deps) == {"ok": True, "recorded": "MoveAccount"}
    pipe.clock[0] += age
    again, _ = pipe.plan("exec-2")
    assert (pipe.walk_calls() > calls) is walks
    assert (again["variables"]["ORG_WALK"] == CACHED) is not walks


@pytest.mark.slow  # many invocations, each reading the artifact and checking guardrails
def test_the_sync_walks_again_when_the_plans_walk_went_stale(pipe: Pipe) -> None:
    """An Organizations event between the Plan and the Sync action: the Sync action does not trust the
    Plan's walk and walks itself (resumably too)."""
    planned, _ = pipe.plan()
    calls = pipe.walk_calls()
    pipe.clock[0] += 1
    handle(MOVE, Ctx(), pipe.deps)
    pipe.cut(5)
    result, _ = pipe.run(org_walk=planned["variables"]["ORG_WALK"])
    assert result["report"]["outcome"] == "success"
    assert pipe.walk_calls() == 2 * calls


@pytest.mark.parametrize(
    ("remaining_ms", "step", "budget"), [(300_000, 600, 120), (300_000, 60, 60), (50_000, 600, 20)]
)
def test_an_invocation_stops_within_its_budget(remaining_ms: int, step: float, budget: float) -> None:
    """At most INVOCATION_BUDGET of the time left at the start, and at most step_seconds."""
    now = [0.0]

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return remaining_ms - int(now[0] * 1000)

    deps = Deps(env={}, codepipeline=None, sns=None, sync_clients=None, s3=None, step_seconds=step)  # type: ignore[arg-type]
    deps.clock = lambda: now[0]
    out_of_time = _out_of_time(Context(), deps)
    now[0] = budget - 0.01
    assert not out_of_time()
    now[0] = budget + 0.01
    assert out_of_time()
    assert budget <= limits.SYNC_LAMBDA_TIMEOUT_SECONDS / 2
