"""Simulated time for the emulator: a clock that AWS calls and StackSet operations advance instead of waiting,
and Organizations' request rate as a limit on that clock, so a benchmark can run a sync of thousands of OUs
at the real rate (5 calls per second) in minutes of real time.

- The clock moves only when told, per thread: each request advances its caller's time by its latency
  (`org_latency` for Organizations, `api_latency` for the rest) and carries that time to the server
  (`Simulation.attach`), and whoever would sleep (botocore's retry backoff, the sync's poll interval) calls
  `SimClock.sleep`, which advances the sleeper's time instead; thread pools carry time to their workers and
  back (`follow_threads`), so threads working side by side wait side by side.
- Organizations answers TooManyRequestsException ("You have sent too many requests in too short a period of
  time. [...] Try again later", an error of every Organizations API, e.g.
  https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccountsForParent.html, Errors; the
  rate is the quota of Quotas for AWS Organizations, throttling:
  https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html#throttling-limits)
  to a request that would make some one-second window hold more than `org_rate` requests. A refused request
  counts for nothing.
- A StackSet operation runs for the time its OperationPreferences give it (pipeline.core.timing: waves of
  `stack_seconds` per Region), measured on this clock from when it started.
"""

from __future__ import annotations

import bisect
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


class RateLimit:
    """At most `rate` requests in any one-second window of simulated time (bursts of up to one second's
    worth). Requests may arrive out of order, each at its own thread's time: each is judged against the
    requests answered around that time, so a thread that lags behind is neither starved nor favoured."""

    def __init__(self, rate: float, clock: SimClock) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.capacity = max(1, int(rate))
        self.clock = clock
        self._answered: list[float] = []  # times of the requests let through, sorted
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Let this request through at the clock's time (True), unless some one-second window that holds
        it would then hold more than `rate` requests (False, nothing recorded)."""
        with self._lock:
            now = self.clock.now()
            # The windows (end - 1, end] holding `now` end at `now` or at a later answered request.
            ends = [now, *self._answered[bisect.bisect_left(self._answered, now) :][: self.capacity + 1]]
            for end in ends:
                if end >= now + 1.0:
                    break
                held = bisect.bisect_right(self._answered, end) - bisect.bisect_right(
                    self._answered, end - 1.0
                )
                if held + 1 > self.capacity:
                    return False
            bisect.insort(self._answered, now)
            return True


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
    _limit: RateLimit | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.org_rate is not None:
            self._limit = RateLimit(self.org_rate, self.clock)

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
        allowed = self._limit is None or self._limit.take()
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
