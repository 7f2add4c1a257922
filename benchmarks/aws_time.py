"""The AWS time model's part of the sync benchmark: estimated wall time on real AWS of a no-op, one role
change and a new role across the organization, for this project and for a sequential one-StackSet-at-a-time
tool, from the walk measured on the emulator (pipeline/core/timing.py holds the model and its sources).

The Organizations rate is a parameter: Quotas for AWS Organizations
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html) publishes no request
rate for its read APIs, only that TooManyRequestsException answers "too many requests in too short a period"
(https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccountsForParent.html#API_ListAccountsForParent_Errors);
5 calls per second is the rate issue 16 calls realistic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.core.manifest import OperationPreferences
from pipeline.core.timing import (
    AWS_DEFAULTS,
    SOFT,
    STRICT,
    Rates,
    Work,
    choices,
    fastest_within_tolerance,
    wall_seconds,
)


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def scenarios(org_calls: int, accounts: int) -> dict[str, tuple[Work, Work]]:
    """Per scenario, (this project's work, a sequential tool's). (a) a no-op deploys nothing: in the
    pipeline this project plans it from the walk it stored, unless an Organizations event came since or the
    walk is a day old (pipeline.core.runstate.walk_is_fresh), so it makes no Organizations call; a tool
    without that walks every time; after an event both walk. (b) one role's StackSet redeploys every
    account, one rollout; (c) a new role's StackSet deploys to every account (CreateStackSet deploys
    nothing, CreateStackInstances is the one rollout) and the login account's StackSet gains the role's
    policy (one account)."""
    walk = Work(org_calls)
    change = Work(org_calls, ((accounts,),))
    new = Work(org_calls, ((accounts,), (1,)))
    return {
        "(a) no-op, walk stored": (Work(0), walk),
        "(a) no-op after an Organizations event": (walk, walk),
        f"(b) one role change, {accounts:,} accounts": (change, change),
        f"(c) a new role, {accounts:,} accounts": (new, new),
    }


def ratio(theirs: float, ours: float, digits: int) -> str:
    return f"{theirs / ours:.{digits}f}x" if ours else "-"


def report(
    org_calls: int, walks: int, accounts: int, rates: Rates, ours: Mapping[str, Any]
) -> dict[str, Any]:
    """Print the model's table and the choice of default preferences; return the figures."""
    print(
        f"AWS time model: {org_calls} Organizations calls per run ({walks} walk) at {rates.org_calls_per_s:g}/s, "
        f"{rates.stack_s:g} s per stack, {rates.regions} Region; rollouts are lower bounds (AWS may throttle)"
    )
    print(f"this project's preferences: {dict(ours)}")
    tools = {
        "this project": (ours, True),
        "sequential, same preferences": (ours, False),
        "sequential, AWS defaults": (AWS_DEFAULTS, False),
    }
    print(
        f"{'scenario':<38} "
        + " ".join(f"{name:>28}" for name in tools)
        + "  ratios (sequential / this project)"
    )
    figures: dict[str, Any] = {}
    for label, (ours_work, their_work) in scenarios(org_calls, accounts).items():
        seconds = {
            name: wall_seconds(ours_work if par else their_work, p, rates, parallel=par)
            for name, (p, par) in tools.items()
        }
        project, same, defaults = seconds.values()
        cells = " ".join(f"{duration(v):>28}" for v in seconds.values())
        print(
            f"{label:<38} {cells}  {ratio(same, project, 2)} same preferences, {ratio(defaults, project, 1)} AWS defaults"
        )
        figures[label] = {
            **seconds,
            "ratio_same_preferences": same / project if project else None,
            "ratio_aws_defaults": defaults / project if project else None,
        }
    print()
    tolerance = ours.get("FailureTolerancePercentage", 10)
    candidates = [
        {
            **ours,
            "ConcurrencyMode": mode,
            "MaxConcurrentPercentage": most,
            "FailureTolerancePercentage": tolerance,
        }
        for mode in (SOFT, STRICT)
        for most in (100, 50, 25, 10)
    ]
    found = choices(candidates, accounts, rates)
    print(
        f"choosing the defaults for (b) at a {tolerance}% failure tolerance: a change that fails everywhere"
    )
    print(f"{'mode':<26} {'max concurrent':>14} {'rollout':>8} {'failed accounts':>15}  within tolerance")
    for c in found:
        p = c.preferences
        within = "yes" if c.within_tolerance else "no"
        print(
            f"{p['ConcurrencyMode']:<26} {p['MaxConcurrentPercentage']:>13}% {duration(c.seconds):>8} "
            f"{c.worst_failed:>15,}  {within}"
        )
    best = fastest_within_tolerance(found)
    default = OperationPreferences().to_api()
    print(
        "fastest within the tolerance: "
        + (
            f"{best.preferences['ConcurrencyMode']} at {best.preferences['MaxConcurrentPercentage']}%"
            if best
            else "none"
        )
        + f"; the default is {default['ConcurrencyMode']} at {default['MaxConcurrentPercentage']}%"
    )
    figures["default_is_fastest_within_tolerance"] = best is not None and dict(best.preferences) == default
    return figures
