"""The one place the product builds boto3 clients: one botocore Config (retries, user agent) for every
command line and Lambda, and a call counter.

Nothing here runs at import time; callers build Clients once and pass them down. The one exception is the
cost guard, shipped inline (Code.ZipFile) and so unable to import this module: it makes a single call.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

USER_AGENT = "org-stacksets/1"
# One retry configuration for every client: botocore's standard mode retries throttling and transient
# errors with exponential backoff (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html;
# adaptive mode is documented there as experimental); pipeline.aws.retry catches what outlives it.
# AWS_MAX_ATTEMPTS, botocore's own setting, overrides the attempts; the emulator and tests pass fewer.
RETRY_MODE = "standard"
MAX_ATTEMPTS = 10
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
    region: str | None
    config: Config
    endpoint_url: str | None = None
    counter: CallCounter = field(default_factory=CallCounter)
    _cache: dict[tuple[str, str | None], Any] = field(default_factory=dict, repr=False)
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


def client_config(component: str, max_attempts: int | None = None) -> Config:
    """The one botocore Config: retries as above, and a user agent naming the product and the component."""
    attempts = max_attempts or int(os.environ.get("AWS_MAX_ATTEMPTS") or MAX_ATTEMPTS)
    return Config(
        retries={"mode": RETRY_MODE, "max_attempts": attempts},
        user_agent_extra=f"{USER_AGENT} ({component})",
        max_pool_connections=32,
    )


def make_clients(
    region: str | None = None,
    *,
    component: str = "sync",
    profile: str | None = None,
    endpoint_url: str | None = None,
    session: Any = None,
    credentials: Mapping[str, str] | None = None,
    max_attempts: int | None = None,
) -> Clients:
    """Clients from one session: a profile (or the usual credential chain), or explicit credentials
    (boto3 Session keywords such as aws_access_key_id); region None means the session's own region."""
    if session is None:
        session = boto3.session.Session(profile_name=profile, region_name=region, **(credentials or {}))
    return Clients(
        session=session,
        region=region,
        config=client_config(component, max_attempts),
        endpoint_url=endpoint_url,
    )
