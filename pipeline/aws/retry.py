"""Explicit retry of throttled AWS calls with capped exponential backoff and full jitter.

botocore's own retry modes (standard or adaptive, set in pipeline.aws.clients) come first; this layer catches
what outlives them, because Organizations and StackSets throttle hard during a tree walk or a rollout
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html#throttling-limits).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# Error codes AWS uses for throttling across the services the sync calls.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None (matched by code, never by message)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def describe_error(exc: BaseException) -> str:
    """One line for an error: "Code: Message" for AWS errors, else the exception's type and text."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        return f"{err.get('Code', type(exc).__name__)}: {err.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


@dataclass
class Backoff:
    """How long to keep retrying throttled calls; sleep is injected so tests never wait."""

    attempts: int = 10
    base: float = 0.5
    cap: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        # Full jitter: https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
        return self.rng.uniform(0, min(self.cap, self.base * 2**attempt))


def call_with_backoff(call: Callable[..., Any], backoff: Backoff, /, **kwargs: Any) -> Any:
    """call(**kwargs), retried on throttling; any other error, or the last throttle, propagates."""
    for attempt in range(backoff.attempts):
        try:
            return call(**kwargs)
        except Exception as exc:
            if not is_throttling(exc) or attempt == backoff.attempts - 1:
                raise
            backoff.sleep(backoff.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def paginate(
    client: Any,
    operation: str,
    key: str,
    backoff: Backoff,
    params: Mapping[str, Any],
    page_size: int | None = None,
) -> Iterator[Any]:
    """Every item under `key` of a list operation, through boto3's own paginator for it. A page that stays
    throttled after botocore's retries is retried here with backoff from that page (the paginator restarts
    at the token it last handed out), never from the first page, so a long listing is not read twice."""
    paginator = client.get_paginator(operation)
    config = {"PageSize": page_size} if page_size else {}
    token: str | None = None
    for attempt in range(backoff.attempts):
        resume = {"NextToken": token} if token else {}
        try:
            for page in paginator.paginate(**params, **resume, PaginationConfig=config):
                yield from page.get(key, [])
                token = page.get("NextToken")
            return
        except Exception as exc:
            if not is_throttling(exc) or attempt == backoff.attempts - 1:
                raise
            backoff.sleep(backoff.delay(attempt))


@dataclass(frozen=True)
class PollPolicy:
    """How often to poll a running operation; the defaults suit real AWS, tests and --local use zero."""

    initial: float = 2.0
    maximum: float = 15.0
    factor: float = 1.5
    max_polls: int = 2000
    sleep: Callable[[float], None] = time.sleep

    def delays(self) -> Iterator[float]:
        delay = self.initial
        for _ in range(self.max_polls):
            yield delay
            delay = min(self.maximum, delay * self.factor)
