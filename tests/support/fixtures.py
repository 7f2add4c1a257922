"""Fixtures for the org sync tests: fake credentials, and make_world, which seeds an organization and
starts moto's server with the StackSet fidelity layer on 127.0.0.1 (stopped and reset afterwards).
Imported by the conftest.py of tests/test_pipeline and tests/e2e/sync."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.core.base_backend import BackendDict

from pipeline.cli.files import load_manifest
from pipeline.emulator import seed as seeding
from pipeline.emulator.server import FidelityServer, start
from tests.support.sync import MGMT, World, write_variant


@pytest.fixture(autouse=True)
def sync_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, no profile, and a dead loopback endpoint for any client built without one:
    nothing here can reach real AWS."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    servers: list[FidelityServer] = []

    def make(
        manifest_dir: Path | None = None,
        *,
        layout: Callable[[seeding.OrgLayout], None] | None = None,
        materialize: bool = False,
        running_ticks: int = 3,
        per_ou: int = 2,
    ) -> World:
        BackendDict.reset()
        manifest_dir = manifest_dir or write_variant(tmp_path / "manifest")
        m = load_manifest(manifest_dir / "manifest.json")
        org = seeding.layout_from_manifest(m, per_ou=per_ou)
        if layout is not None:
            layout(org)
        seeding.seed(org)
        server = start(MGMT, running_ticks=running_ticks, materialize=materialize)
        servers.append(server)
        return World(manifest_dir, org, server.service, server)

    yield make
    for server in servers:
        server.stop()
    BackendDict.reset()
