"""Simulated time for the emulator: a clock that AWS calls and StackSet operations advance instead of waiting,
and Organizations' request rate as a token bucket, so a benchmark can run a sync of thousands of OUs at the
real rate (5 calls per second) in seconds of real time.

- The clock moves only when told: each emulated request advances it by its latency (`org_latency` for
  Organizations, `api_latency` for the rest), and whoever would sleep (botocore's retry backoff, the sync's
  poll interval) calls `SimClock.sleep`, which advances it instead. Threads share the one clock, so waits of
  concurrent threads add up rather than overlap: simulated time is never shorter than real time would be.
- Organizations answers TooManyRequestsException ("You have sent too many requests in too short a period of
  time. [...] Try again later", an error of every Organizations API, e.g.
  https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccountsForParent.html, Errors; the
  rate is the quota of Quotas for AWS Organizations, throttling:
  https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html#throttling-limits)
  when a request finds the bucket empty; the bucket holds `org_rate` tokens (one second's worth) and refills
  at `org_rate` per simulated second. A refused request spends no token.
- A StackSet operation runs for the time its OperationPreferences give it (pipeline.core.timing: waves of
  `stack_seconds` per Region), measured on this clock from when it started.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.timing import Rates, rollout_seconds

THROTTLED = "TooManyRequestsException"
THROTTLE_MESSAGE = (
    "AWS Organizations can't complete your request because you have sent too many requests in too short a "
    "period of time. Try again later."
)


class SimClock:
    """Seconds since the start of a simulation, advanced explicitly; thread-safe."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time on by `seconds` (negative is ignored); the new time."""
        with self._lock:
            self._now += max(0.0, seconds)
            return self._now

    def sleep(self, seconds: float) -> None:
        """time.sleep's replacement: the time passes, nobody waits."""
        self.advance(seconds)


class TokenBucket:
    """`rate` requests per second with bursts of up to `capacity`, on a SimClock."""

    def __init__(self, rate: float, clock: SimClock, capacity: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self.clock = clock
        self._tokens = self.capacity
        self._last = clock.now()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One token if there is one (True), else False and nothing spent."""
        with self._lock:
            now = self.clock.now()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


@dataclass
class Simulation:
    """The emulator's simulated world: its clock, Organizations' rate limit (None: unlimited), the latency
    of a request, and how long a stack takes to deploy. It counts the Organizations requests by operation,
    those answered and those throttled."""

    clock: SimClock = field(default_factory=SimClock)
    org_rate: float | None = None
    org_latency: float = 0.0
    api_latency: float = 0.0
    stack_seconds: float = 30.0
    org_calls: Counter[str] = field(default_factory=Counter)
    org_throttled: Counter[str] = field(default_factory=Counter)
    _bucket: TokenBucket | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.org_rate is not None:
            self._bucket = TokenBucket(self.org_rate, self.clock)

    def organizations(self, operation: str) -> bool:
        """One Organizations request: its latency passes; True when it may be answered, False when it is
        throttled (TooManyRequestsException)."""
        self.clock.advance(self.org_latency)
        allowed = self._bucket is None or self._bucket.take()
        with self._lock:
            (self.org_calls if allowed else self.org_throttled)[operation] += 1
        return allowed

    def request(self) -> None:
        """Any other AWS request: its latency passes."""
        self.clock.advance(self.api_latency)

    def operation_seconds(self, preferences: Mapping[str, Any], targets: list[tuple[str, str]]) -> float:
        """How long a StackSet operation over `targets` ((account, region) pairs) runs."""
        accounts = len({a for a, _r in targets})
        regions = max(1, len({r for _a, r in targets}))
        rates = Rates(stack_s=self.stack_seconds, regions=regions)
        return rollout_seconds(preferences, accounts, rates)
