"""The org sync's fixtures (fake credentials, make_world) for its end-to-end tests."""

from __future__ import annotations

from tests.support.fixtures import make_world, sync_env

__all__ = ["make_world", "sync_env"]
