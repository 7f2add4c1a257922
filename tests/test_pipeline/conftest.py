"""Fixtures for the pipeline's tests (sync_env: fake credentials and a dead endpoint; make_world), and
the rule that a test starting moto's server through make_world is slow."""

from __future__ import annotations

import pytest

from tests.support.fixtures import make_world, sync_env

__all__ = ["make_world", "sync_env"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "make_world" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
