"""The AWS time model: exact figures from the StackSetOperationPreferences semantics."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.core.timing import (
    AWS_DEFAULTS,
    SOFT,
    STRICT,
    Rates,
    Work,
    choices,
    concurrency,
    fastest_within_tolerance,
    rollout_seconds,
    wall_seconds,
    worst_failed,
)


def prefs(mode: str, most: int, tolerance: int = 10, regions: str = "PARALLEL") -> dict[str, Any]:
    return {
        "RegionConcurrencyType": regions,
        "MaxConcurrentPercentage": most,
        "FailureTolerancePercentage": tolerance,
        "ConcurrencyMode": mode,
    }


@pytest.mark.parametrize(
    ("preferences", "accounts", "expected"),
    [
        (prefs(SOFT, 100), 5000, 5000),
        (prefs(STRICT, 100), 5000, 501),  # FailureToleranceCount + 1: 10% of 5,000 is 500
        (prefs(STRICT, 5), 5000, 250),  # the maximum is lower than the tolerance + 1
        (prefs(SOFT, 10), 5000, 500),
        (prefs(SOFT, 10), 9, 1),  # 10% of 9 rounds down to 0, and then to 1
        (prefs(STRICT, 100), 9, 1),  # 10% of 9 tolerates 0 failures: one account at a time
        (prefs(STRICT, 100), 25, 3),  # tolerance 2 (rounded down), + 1
        (AWS_DEFAULTS, 5000, 1),
        ({"MaxConcurrentCount": 40, "FailureToleranceCount": 9, "ConcurrencyMode": STRICT}, 5000, 10),
        ({"MaxConcurrentCount": 40, "FailureToleranceCount": 9, "ConcurrencyMode": SOFT}, 5000, 40),
        ({"MaxConcurrentCount": 40, "ConcurrencyMode": SOFT}, 12, 12),  # never more than the accounts
    ],
)
def test_concurrency(preferences: dict[str, Any], accounts: int, expected: int) -> None:
    assert concurrency(preferences, accounts) == expected


@pytest.mark.parametrize(
    ("preferences", "accounts", "regions", "expected"),
    [
        (prefs(SOFT, 100), 5000, 1, 30.0),
        (prefs(STRICT, 100), 5000, 1, 300.0),  # ceil(5000 / 501) = 10 waves
        (prefs(STRICT, 100), 5000, 3, 300.0),  # Regions in parallel
        (prefs(STRICT, 100, regions="SEQUENTIAL"), 5000, 3, 900.0),
        (AWS_DEFAULTS, 5000, 1, 150_000.0),
        (prefs(SOFT, 100), 0, 1, 0.0),
        (prefs(STRICT, 100), 1, 1, 30.0),
    ],
)
def test_rollout_seconds(preferences: dict[str, Any], accounts: int, regions: int, expected: float) -> None:
    assert rollout_seconds(preferences, accounts, Rates(stack_s=30, regions=regions)) == expected


@pytest.mark.parametrize(
    ("preferences", "accounts", "expected"),
    [
        (prefs(STRICT, 100), 5000, 501),
        (prefs(SOFT, 100), 5000, 5000),  # every account at once: the tolerance stops nothing
        (prefs(SOFT, 10), 5000, 1000),  # two waves of 500 before the failures exceed 500
        (prefs(SOFT, 1), 5000, 550),  # waves of 50 until the failures exceed 500
        (AWS_DEFAULTS, 5000, 1),
        (prefs(STRICT, 100), 9, 1),
    ],
)
def test_worst_failed(preferences: dict[str, Any], accounts: int, expected: int) -> None:
    assert worst_failed(preferences, accounts) == expected


@pytest.mark.parametrize(
    ("work", "parallel", "expected"),
    [
        (Work(org_calls=1000), True, 200.0),  # a no-op: the walk at 5 calls/s
        (Work(1000, ((5000,),)), True, 500.0),
        (Work(1000, ((5000,), (1,))), True, 500.0),  # the login account's StackSet alongside
        (Work(1000, ((5000,), (1,))), False, 530.0),  # ... or after it
        (Work(1000, ((5000, 1),)), True, 530.0),  # two rollouts of one StackSet never overlap
    ],
)
def test_wall_seconds(work: Work, parallel: bool, expected: float) -> None:
    assert wall_seconds(work, prefs(STRICT, 100), Rates(), parallel=parallel) == expected


def test_the_fastest_choice_within_the_tolerance_is_strict_at_full_concurrency() -> None:
    candidates = [prefs(mode, most) for mode in (SOFT, STRICT) for most in (100, 50, 25, 10)]
    found = choices(candidates, 5000, Rates())
    assert [(c.seconds, c.worst_failed, c.within_tolerance) for c in found] == [
        (30.0, 5000, False),
        (60.0, 2500, False),
        (120.0, 1250, False),
        (300.0, 1000, False),
        (300.0, 501, True),
        (300.0, 501, True),
        (300.0, 501, True),
        (300.0, 501, True),
    ]
    best = fastest_within_tolerance(found)
    assert best is not None and best.preferences == prefs(STRICT, 100)
    assert fastest_within_tolerance(found[:4]) is None
