"""Faults injected through botocore events: throttling on 30% of calls, and crashes at every k-th call of
a run followed by a rerun. Every faulty history must end where a clean run ends, with no duplicate
operation and nothing deleted."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from pipeline.emulator.throttle import SimClock, follow_threads
from pipeline.sync import SyncSession, apply_plan, plan_sync
from tests.support.sync import World, edit, write_variant


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so no handler in the sync can swallow it."""


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_kwargs: Any) -> Any:
        yield self.data


def throttle_response(service: str, url: str) -> AWSResponse:
    """What AWS sends when it throttles: Organizations (JSON) and CloudFormation (query XML) shapes."""
    if service == "organizations":
        body = json.dumps(
            {
                "__type": "TooManyRequestsException",
                "Message": "AWS Organizations can't complete your request because another request is already in progress.",
            }
        )
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "x-amzn-ErrorType": "TooManyRequestsException",
        }
    else:
        body = (
            '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
            "<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>"
        )
        headers = {"Content-Type": "text/xml"}
    return AWSResponse(url, 400, headers, _Body(body.encode()))


def clients_of(session: SyncSession) -> list[Any]:
    return [session.clients.organizations, session.clients.cloudformation]


def with_throttling(
    session: SyncSession, rate: float, rng: random.Random, counts: dict[str, int]
) -> SyncSession:
    def maybe(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        counts["sent"] += 1
        if rng.random() < rate:
            counts["throttled"] += 1
            return throttle_response(event_name.split(".")[1], request.url)
        return None

    for client in clients_of(session):
        client.meta.events.register("before-send.*.*", maybe)
    return session


def with_crash_at(session: SyncSession, point: int) -> dict[str, int]:
    """Crash when the run's call number `point` has completed (its response is lost)."""
    state = {"calls": 0, "crashed": 0}

    def after(**_: Any) -> None:
        state["calls"] += 1
        if state["calls"] >= point:
            state["crashed"] = 1
            raise Crash(f"crash after call {state['calls']}")

    def dead(**_: Any) -> None:
        if state["crashed"]:
            raise Crash("the process is gone")

    for client in clients_of(session):
        client.meta.events.register("after-call.*.*", after)
        client.meta.events.register("before-send.*.*", dead)
    return state


def role_change(tmp: Path) -> Path:
    def change(data: dict[str, Any]) -> None:
        dev = edit(data, "org-roles-Developer")
        dev["parameters"]["MaxSessionDuration"] = "7200"
        dev["targets"].append(
            {"ou_path": "Root/Security", "ou_id": None, "excluded_accounts": [], "source": "x"}
        )

    return write_variant(tmp, change)


def clean_history(make_world: Callable[..., World], tmp_path: Path) -> tuple[dict[str, Any], list[Any]]:
    world = make_world()
    assert world.sync("run-a").outcome == "success"
    world.use(role_change(tmp_path / "clean-v2"))
    assert world.sync("run-b").outcome == "success"
    return world.end_state(), world.operations()


def test_throttling_on_30_percent_of_calls(make_world: Callable[..., World], tmp_path: Path) -> None:
    expected_state, expected_ops = clean_history(make_world, tmp_path)
    world = make_world()
    rng = random.Random(30)
    counts = {"sent": 0, "throttled": 0}
    # botocore's retry backoff sleeps on the simulated clock: the same retries, without waiting (4.6 s).
    with follow_threads(SimClock()):
        for run_id, variant in (("run-a", None), ("run-b", role_change(tmp_path / "v2"))):
            if variant is not None:
                world.use(variant)
            session = with_throttling(world.session(run_id), 0.3, rng, counts)
            assert apply_plan(session, plan_sync(session)).outcome == "success"
    assert 0.2 < counts["throttled"] / counts["sent"] < 0.4
    assert world.end_state() == expected_state
    assert world.operations() == expected_ops


def _run_until_done(world: World, run_id: str, k: int) -> int:
    """Crash the run after its k-th call, rerun (same run id, as a retried invocation), crash after the
    2k-th, ... until a run completes. Returns the number of crashes."""
    crashes = 0
    for attempt in range(1, 500):
        session = world.session(run_id)
        state = with_crash_at(session, attempt * k)
        try:
            report = apply_plan(session, plan_sync(session))
        except Crash:
            crashes += 1
            continue
        if state["crashed"]:
            crashes += 1  # a lane died, the others finished: the run did not complete
            continue
        assert report.outcome == "success", [
            (s.name, s.message) for s in report.stacksets if s.result == "failed"
        ]
        return crashes
    raise AssertionError("never completed")


@pytest.mark.parametrize("k", [1, 3, 7])
def test_crash_every_kth_call_then_rerun(make_world: Callable[..., World], tmp_path: Path, k: int) -> None:
    expected_state, expected_ops = clean_history(make_world, tmp_path)
    world = make_world()
    crashes = _run_until_done(world, "run-a", k)
    world.use(role_change(tmp_path / "v2"))
    crashes += _run_until_done(world, "run-b", k)
    assert crashes >= 5
    assert world.end_state() == expected_state
    # No duplicate operation: exactly the operations of the clean history, each once.
    assert world.operations() == expected_ops
    # Nothing deleted: no delete operation ran and no stack was retained or removed.
    assert [op for op in world.operations() if op[1] == "DELETE"] == []
    assert not any(s.retained for s in world.service.stacks.values())
