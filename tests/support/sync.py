"""Helpers for the org sync tests: manifest variants of tests/fixtures/sync, and World, one seeded
organization behind moto's server (with the StackSet fidelity layer) on 127.0.0.1."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session

from pipeline.aws.clients import make_clients
from pipeline.aws.retry import Backoff, PollPolicy
from pipeline.cli.files import load_manifest, load_templates
from pipeline.core.manifest import Manifest
from pipeline.core.outcomes import Event
from pipeline.core.report import SyncReport
from pipeline.emulator import seed as seeding
from pipeline.emulator.server import FidelityServer
from pipeline.emulator.stacksets import StackSetService
from pipeline.sync import SyncSession, apply_plan, plan_sync
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "sync"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
NO_WAIT = PollPolicy(initial=0, maximum=0, factor=1, max_polls=200, sleep=lambda _s: None)
MGMT, LOGIN, EXCLUDED = "111111111111", "222222222222", "333333333333"


@functools.cache
def _models() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def session(region: str = "us-east-1") -> boto3.session.Session:
    """A new boto3 session with the test credentials, reading botocore's service models, endpoints and
    partitions through one loader for the whole test run. Each new session otherwise parses those JSON files
    again: 0.1 s per session, 8 of the 25 s of test_faults.py's crash-after-every-call test, which makes a
    session per rerun. The loader caches what it read and botocore never changes it, so the clients are
    the ones a fresh session makes."""
    core = botocore.session.get_session()
    loader = _models()
    core.register_component("data_loader", loader)
    made = boto3.session.Session(botocore_session=core, region_name=region, **CREDS)
    loader.search_paths[:] = dict.fromkeys(loader.search_paths)  # each Session adds boto3's data folder again
    return made


def write_variant(
    tmp: Path, change: Callable[[dict[str, Any]], None] | None = None, base: Path = FIXTURE
) -> Path:
    """A copy of a manifest and its templates under tmp, changed by `change`, template shas recomputed."""
    tmp.mkdir(parents=True, exist_ok=True)
    if (tmp / "templates").exists():
        shutil.rmtree(tmp / "templates")
    shutil.copytree(base / "templates", tmp / "templates")
    data = json.loads((base / "manifest.json").read_text())
    if change is not None:
        change(data)
    items = [
        *data["stacksets"],
        *([data["management_account_stack"]] if data["management_account_stack"] else []),
    ]
    for item in items:
        item["template_sha256"] = hashlib.sha256(
            (tmp / "templates" / item["template"]).read_bytes()
        ).hexdigest()
    (tmp / "manifest.json").write_text(json.dumps(data, indent=2, sort_keys=True))
    return tmp


@dataclass
class World:
    """One organization and one server; sessions and helpers to drive and inspect them."""

    manifest_dir: Path
    layout: seeding.OrgLayout
    service: StackSetService
    server: FidelityServer
    events: list[Event] = field(default_factory=list)

    @property
    def manifest(self) -> Manifest:
        return load_manifest(self.manifest_dir / "manifest.json")

    def use(self, manifest_dir: Path) -> None:
        self.manifest_dir = manifest_dir

    def session(self, run_id: str = "run-1", *, max_attempts: int = 1, **extra: Any) -> SyncSession:
        m = self.manifest
        clients = make_clients(
            "us-east-1", endpoint_url=self.server.url, session=session(), max_attempts=max_attempts
        )
        return SyncSession(
            m,
            load_templates(m, self.manifest_dir / "templates"),
            clients,
            run_id=run_id,
            poll=NO_WAIT,
            backoff=Backoff(sleep=lambda _s: None),
            on_event=self.events.append,
            **extra,
        )

    def sync(self, run_id: str = "run-1", **extra: Any) -> SyncReport:
        s = self.session(run_id, **extra)
        return apply_plan(s, plan_sync(s))

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=self.server.url, **CREDS)

    def move(self, account: str, path: str) -> None:
        org = self.client("organizations")
        parent = org.list_parents(ChildId=account)["Parents"][0]["Id"]
        org.move_account(
            AccountId=account, SourceParentId=parent, DestinationParentId=self.layout.ou_id(path)
        )

    def accounts_in(self, *paths: str) -> set[str]:
        """Active member accounts at or below the paths, from the layout (the expected side of a test)."""
        return {
            a.id
            for a in self.layout.accounts
            if a.status == "ACTIVE"
            and a.id != MGMT
            and any(a.path == p or a.path.startswith(p + "/") for p in paths)
        }

    def instances(self, stackset: str) -> dict[str, tuple[str | None, str, dict[str, str]]]:
        """account -> (OU target, status, overrides) of a StackSet, as the emulator holds it."""
        record = self.service.record(stackset)
        return {i.account: (i.ou_id, i.status, dict(i.overrides)) for i in record.instances.values()}

    def end_state(self) -> dict[str, Any]:
        """Everything a run leaves behind, for comparing runs (after letting running operations finish)."""
        self.service.drain()
        out: dict[str, Any] = {}
        for r in self.service.stacksets.values():
            if r.status != "ACTIVE":
                continue
            out[r.name] = {
                "template": hashlib.sha256(r.template.encode()).hexdigest(),
                "parameters": r.parameters,
                "tags": r.tags,
                "ou_ids": sorted(r.ou_ids),
                "auto": r.auto_deployment,
                "instances": {
                    k: (i.ou_id, i.status, i.detailed, i.overrides) for k, i in sorted(r.instances.items())
                },
            }
        out["stacks"] = sorted(
            (s.account, s.stackset, s.retained, tuple(sorted(s.parameters.items())))
            for s in self.service.stacks.values()
        )
        return out

    def operations(self) -> list[tuple[str, str, str]]:
        """(StackSet, action, what) of every operation the emulator ran, sorted: for duplicate checks."""
        out = []
        for r in self.service.stacksets.values():
            for op in r.operations.values():
                what = json.dumps([op.deployment_targets, sorted(op.targets)], sort_keys=True)
                out.append((r.name, op.action, what))
        return sorted(out)

    def writes(self) -> list[str]:
        return [a for a, _n in self.service.calls if not a.startswith(("Describe", "List"))]


def edit(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["stacksets"] if s["name"] == name)


def clone(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)
