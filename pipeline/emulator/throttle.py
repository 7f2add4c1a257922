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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from pipeline.core.timing import Rates, rollout_seconds

THROTTLED = "TooManyRequestsException"
STAMP = (
    "X-Simulated-Time"  # a request's simulated time, set by the caller's botocore hook (Simulation.attach)
)
THROTTLE_MESSAGE = (
    "AWS Organizations can't complete your request because you have sent too many requests in too short a "
    "period of time. Try again later."
)


class SimClock:
    """Simulated seconds, per thread: each thread has its own time, which its sleeps and requests advance,
    so the waits of threads running side by side overlap as they would for real instead of adding up. A
    thread starts at the time it was handed work at (`follow_threads`), or at the latest time any thread
    has reached; whoever waits for a thread's result continues from the later of the two times (`join`)."""

    def __init__(self, start: float = 0.0) -> None:
        self._frontier = start
        self._local = threading.local()
        self._lock = threading.Lock()

    def now(self) -> float:
        """This thread's time."""
        mine = getattr(self._local, "now", None)
        if mine is None:
            with self._lock:
                return self._frontier
        return float(mine)

    def latest(self) -> float:
        """The latest time any thread has reached."""
        with self._lock:
            return self._frontier

    def set(self, when: float) -> None:
        """This thread is now at `when` (a request stamped with its caller's time, a worker given work)."""
        self._local.now = when
        with self._lock:
            self._frontier = max(self._frontier, when)

    def advance(self, seconds: float) -> float:
        """Move this thread's time on by `seconds` (negative is ignored); its new time."""
        self.set(self.now() + max(0.0, seconds))
        return self.now()

    def sleep(self, seconds: float) -> None:
        """time.sleep's replacement: the time passes, nobody waits."""
        self.advance(seconds)

    def join(self, when: float) -> None:
        """This thread waited for work that ended at `when`."""
        self.set(max(self.now(), when))


@contextmanager
def follow_threads(clock: SimClock) -> Iterator[None]:
    """While active, in this process: time.sleep advances the caller's simulated time, work handed to a
    thread pool starts at the submitter's time, and Future.result() carries the worker's time back."""
    from concurrent.futures import Future
    from concurrent.futures import thread as pool

    original_init, original_run, original_result = pool._WorkItem.__init__, pool._WorkItem.run, Future.result

    def init(item: Any, *args: Any, **kwargs: Any) -> None:
        original_init(item, *args, **kwargs)
        item.sim_submitted = clock.now()

    def run(item: Any) -> None:
        clock.join(getattr(item, "sim_submitted", 0.0))
        try:
            original_run(item)
        finally:
            item.future.sim_done = clock.now()

    def result(future: Any, timeout: float | None = None) -> Any:
        try:
            return original_result(future, timeout)
        finally:
            if hasattr(future, "sim_done"):
                clock.join(future.sim_done)

    with (
        mock.patch("time.sleep", clock.sleep),
        mock.patch.object(pool._WorkItem, "__init__", init),
        mock.patch.object(pool._WorkItem, "run", run),
        mock.patch.object(Future, "result", result),
    ):
        yield


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
            # Threads each have their own time: a request stamped earlier than the last refill refills nothing.
            self._tokens = min(self.capacity, self._tokens + max(0.0, now - self._last) * self.rate)
            self._last = max(self._last, now)
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

    def attach(self, events: Any) -> None:
        """Stamp every request of a botocore session's (or client's) events with its caller's simulated time,
        after its latency: the server then judges it at that time (STAMP) instead of charging it."""

        def stamp(request: Any, event_name: str = "", **_kwargs: Any) -> None:
            organizations = event_name.startswith("before-send.organizations.")
            self.clock.advance(self.org_latency if organizations else self.api_latency)
            request.headers[STAMP] = repr(self.clock.now())

        events.register("before-send", stamp)

    def receive(self, stamped: str | None) -> bool:
        """A request arrives at the server: it happens at its stamp (True), or, unstamped, at the latest time
        and its latency is charged here (False)."""
        if stamped:
            self.clock.set(float(stamped))
            return True
        self.clock.set(self.clock.latest())
        return False

    def organizations(self, operation: str, *, charged: bool = False) -> bool:
        """One Organizations request: its latency passes (unless the caller `charged` it already); True when
        it may be answered, False when it is throttled (TooManyRequestsException)."""
        if not charged:
            self.clock.advance(self.org_latency)
        allowed = self._bucket is None or self._bucket.take()
        with self._lock:
            (self.org_calls if allowed else self.org_throttled)[operation] += 1
        return allowed

    def request(self, *, charged: bool = False) -> None:
        """Any other AWS request: its latency passes (unless the caller `charged` it already)."""
        if not charged:
            self.clock.advance(self.api_latency)

    def operation_seconds(self, preferences: Mapping[str, Any], targets: list[tuple[str, str]]) -> float:
        """How long a StackSet operation over `targets` ((account, region) pairs) runs."""
        accounts = len({a for a, _r in targets})
        regions = max(1, len({r for _a, r in targets}))
        rates = Rates(stack_s=self.stack_seconds, regions=regions)
        return rollout_seconds(preferences, accounts, rates)
