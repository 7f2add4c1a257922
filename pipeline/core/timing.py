"""A model of real AWS time for a sync: how long StackSet operations take under their operation preferences,
and how long the organization walk takes at the Organizations request rate. Pure: figures in, seconds out.

The semantics follow StackSetOperationPreferences
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html):
- MaxConcurrentCount / MaxConcurrentPercentage: the accounts deployed at one time, per Region; a percentage
  rounds down, but never to zero (then 1). Left out, 1.
- FailureToleranceCount / FailureTolerancePercentage: the accounts, per Region, that may fail before the
  operation stops in that Region; a percentage rounds down. Left out, 0.
- ConcurrencyMode STRICT_FAILURE_TOLERANCE (AWS's default): the concurrency starts at the lower of the
  maximum and FailureToleranceCount + 1, so failed accounts never exceed FailureToleranceCount + 1.
  SOFT_FAILURE_TOLERANCE: the concurrency is the maximum, regardless of failures.
- RegionConcurrencyType SEQUENTIAL deploys one Region after another, PARALLEL all at once; the page names
  no default, so the model takes the slower, SEQUENTIAL, when it is left out (one Region makes them equal).
The docs add that service throttling may lower the actual concurrency of large deployments: the model's
figures are lower bounds for the rollouts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STRICT = "STRICT_FAILURE_TOLERANCE"
SOFT = "SOFT_FAILURE_TOLERANCE"
# What AWS does when a tool sends no OperationPreferences (the page above): one account at a time, no
# failure tolerated, strict mode (and, the page naming no default, one Region after another).
AWS_DEFAULTS: Mapping[str, Any] = {
    "RegionConcurrencyType": "SEQUENTIAL",
    "MaxConcurrentCount": 1,
    "FailureToleranceCount": 0,
    "ConcurrencyMode": STRICT,
}


@dataclass(frozen=True)
class Rates:
    """The figures of the real world the model takes as parameters."""

    org_calls_per_s: float = 5.0  # Organizations requests per second the walk sustains
    stack_s: float = 30.0  # one stack instance's deployment, create or update
    regions: int = 1  # IAM is global: the roles' StackSets deploy to the home Region only


@dataclass(frozen=True)
class Work:
    """What one run does: its Organizations calls (the walk), and per StackSet it changes, the accounts each
    of its rollouts deploys to, in order (one StackSet runs one operation at a time)."""

    org_calls: int
    lanes: tuple[tuple[int, ...], ...] = ()


def failure_tolerance(prefs: Mapping[str, Any], accounts: int) -> int:
    if "FailureToleranceCount" in prefs:
        return int(prefs["FailureToleranceCount"])
    return accounts * int(prefs.get("FailureTolerancePercentage", 0)) // 100


def max_concurrent(prefs: Mapping[str, Any], accounts: int) -> int:
    if "MaxConcurrentCount" in prefs:
        return int(prefs["MaxConcurrentCount"])
    if "MaxConcurrentPercentage" in prefs:
        return max(1, accounts * int(prefs["MaxConcurrentPercentage"]) // 100)
    return 1


def concurrency(prefs: Mapping[str, Any], accounts: int) -> int:
    """Accounts deployed at one time in a Region while nothing fails."""
    most = max_concurrent(prefs, accounts)
    if prefs.get("ConcurrencyMode", STRICT) == STRICT:
        most = min(most, failure_tolerance(prefs, accounts) + 1)
    return max(1, min(most, accounts))


def waves(prefs: Mapping[str, Any], accounts: int) -> int:
    """Rounds of deployments one Region takes: ceil(accounts / concurrency)."""
    if accounts <= 0:
        return 0
    return -(-accounts // concurrency(prefs, accounts))


def rollout_seconds(prefs: Mapping[str, Any], accounts: int, rates: Rates) -> float:
    per_region = waves(prefs, accounts) * rates.stack_s
    sequential = prefs.get("RegionConcurrencyType", "SEQUENTIAL") == "SEQUENTIAL"
    return per_region * (rates.regions if sequential else 1)


def worst_failed(prefs: Mapping[str, Any], accounts: int) -> int:
    """Accounts a change that fails everywhere breaks in a Region before the operation stops there: in
    strict mode FailureToleranceCount + 1 (the docs' guarantee); in soft mode whole waves run until the
    failures exceed the tolerance."""
    tolerance = failure_tolerance(prefs, accounts)
    if prefs.get("ConcurrencyMode", STRICT) == STRICT:
        return min(accounts, tolerance + 1)
    wave = concurrency(prefs, accounts)
    return min(accounts, wave * (tolerance // wave + 1))


def wall_seconds(work: Work, prefs: Mapping[str, Any], rates: Rates, *, parallel: bool) -> float:
    """The walk at the Organizations rate, then the rollouts: each StackSet's one after another, the
    StackSets side by side (`parallel`, this project) or one StackSet at a time (a sequential tool)."""
    lanes = [sum(rollout_seconds(prefs, n, rates) for n in lane) for lane in work.lanes]
    rollouts = max(lanes, default=0.0) if parallel else sum(lanes)
    return work.org_calls / rates.org_calls_per_s + rollouts


@dataclass(frozen=True)
class Choice:
    preferences: Mapping[str, Any]
    seconds: float
    worst_failed: int
    within_tolerance: bool


def choices(candidates: Iterable[Mapping[str, Any]], accounts: int, rates: Rates) -> list[Choice]:
    """Each candidate's rollout time over `accounts` and whether a change that fails everywhere stays
    within its failure tolerance (at most FailureToleranceCount + 1 failed accounts, the strict bound)."""
    out = []
    for prefs in candidates:
        worst = worst_failed(prefs, accounts)
        within = worst <= failure_tolerance(prefs, accounts) + 1
        out.append(Choice(prefs, rollout_seconds(prefs, accounts, rates), worst, within))
    return out


def fastest_within_tolerance(found: Iterable[Choice]) -> Choice | None:
    """The quickest choice within its tolerance; among equals the first (the candidates' order)."""
    within = [c for c in found if c.within_tolerance]
    return min(within, key=lambda c: c.seconds) if within else None
