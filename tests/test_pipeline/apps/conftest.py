"""The app Lambdas' tests run against moto's mock, which answers on AWS's own endpoints: the sync's dead
endpoint (sync_env, autouse from tests/test_pipeline/conftest.py) would send their calls nowhere, so it is off
here; each module sets its own fake credentials."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def sync_env() -> None:
    """No sync environment for the apps (see the module docstring)."""
