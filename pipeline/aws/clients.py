"""The one place boto3 clients are built: one botocore Config (retries, user agent), and a call counter.

Nothing here runs at import time; callers build Clients once and pass them down.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

USER_AGENT = "org-stacksets-sync/1"
READ_PREFIXES = ("Describe", "List", "Get")


@dataclass
class CallCounter:
    """Counts API calls by operation (once per logical call, before botocore's own retries)."""

    calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hook(self, model: Any = None, **_kwargs: Any) -> None:
        name = getattr(model, "name", "unknown")
        with self._lock:
            self.calls[name] += 1

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call.*.*", self.hook)
        return client

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if op.startswith(READ_PREFIXES))

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if not op.startswith(READ_PREFIXES))

    def to_dict(self) -> dict[str, Any]:
        return {"reads": self.reads, "writes": self.writes, "by_operation": dict(sorted(self.calls.items()))}


@dataclass
class Clients:
    """The clients the sync uses, all from one session and one Config."""

    session: Any
    region: str
    config: Config
    endpoint_url: str | None = None
    counter: CallCounter = field(default_factory=CallCounter)
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        with self._lock:
            if key not in self._cache:
                made = self.session.client(
                    service, region_name=key[1], config=self.config, endpoint_url=self.endpoint_url
                )
                self._cache[key] = self.counter.attach(made)
            return self._cache[key]

    @property
    def organizations(self) -> Any:
        # Organizations has one endpoint, in us-east-1 (aws partition).
        return self.client("organizations", "us-east-1")

    @property
    def cloudformation(self) -> Any:
        return self.client("cloudformation")

    @property
    def sts(self) -> Any:
        return self.client("sts")

    def stack_client(self, region: str) -> Any:
        return self.client("cloudformation", region)


def make_clients(
    region: str,
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
    session: Any = None,
    retry_mode: str = "adaptive",
    max_attempts: int = 10,
    credentials: dict[str, str] | None = None,
) -> Clients:
    """Clients for the sync. retry_mode standard or adaptive: botocore retries throttling with backoff
    (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html); pipeline.aws.retry catches
    what is left."""
    if session is None:
        session = boto3.session.Session(profile_name=profile, region_name=region, **(credentials or {}))
    config = Config(
        retries={"mode": retry_mode, "max_attempts": max_attempts},
        user_agent_extra=USER_AGENT,
        max_pool_connections=32,
    )
    return Clients(session=session, region=region, config=config, endpoint_url=endpoint_url)
