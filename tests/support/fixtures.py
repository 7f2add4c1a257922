"""Fixtures for the org sync tests: fake credentials, and make_world, which seeds an organization and
serves it from moto's server with the StackSet fidelity layer on 127.0.0.1 (one server per test module,
reset for each world).
Imported by the conftest.py of tests/test_pipeline and tests/e2e/sync."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.core.base_backend import BackendDict

from pipeline.cli.files import load_manifest
from pipeline.emulator import seed as seeding
from pipeline.emulator.server import (
    FidelityServer,
    MotoMaterializer,
    MotoOrgView,
    StackSetMiddleware,
    start,
)
from pipeline.emulator.stacksets import StackSetService
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


@pytest.fixture(scope="module")
def fidelity_servers() -> Iterator[list[FidelityServer]]:
    """The module's fidelity servers, shared by its tests: a test's first world answers from the first,
    its second (a test may hold two organizations at once) from the second, and so on. Starting and
    stopping one costs about half a second (werkzeug polls for shutdown twice a second), and a world
    brings its own state: moto's backends are reset and the StackSet emulator is a new one."""
    servers: list[FidelityServer] = []
    yield servers
    for server in servers:
        server.stop()


def _serve(server: FidelityServer, service: StackSetService) -> None:
    """`server` answers StackSet calls from `service` from now on (its WSGI app is the StackSetMiddleware
    that start() put in front of moto)."""
    server.service = service
    middleware = server._server.app if server._server is not None else None
    assert isinstance(middleware, StackSetMiddleware), "the fidelity server's app changed shape"
    middleware.service = service


@pytest.fixture
def make_world(tmp_path: Path, fidelity_servers: list[FidelityServer]) -> Iterator[Callable[..., World]]:
    used = 0

    def make(
        manifest_dir: Path | None = None,
        *,
        layout: Callable[[seeding.OrgLayout], None] | None = None,
        materialize: bool = False,
        running_ticks: int = 3,
        per_ou: int = 2,
    ) -> World:
        nonlocal used
        BackendDict.reset()
        manifest_dir = manifest_dir or write_variant(tmp_path / "manifest")
        m = load_manifest(manifest_dir / "manifest.json")
        org = seeding.layout_from_manifest(m, per_ou=per_ou)
        if layout is not None:
            layout(org)
        seeding.seed(org)
        service = StackSetService(
            MotoOrgView(MGMT),
            running_ticks=running_ticks,
            materializer=MotoMaterializer() if materialize else None,
            keeper=MotoMaterializer(),  # retained stacks are moto stacks in their accounts, as start() makes them
        )
        if used == len(fidelity_servers):
            fidelity_servers.append(start(MGMT))
        server = fidelity_servers[used]
        used += 1
        _serve(server, service)
        return World(manifest_dir, org, service, server)

    yield make
    BackendDict.reset()
