"""Everything under tests/e2e starts servers, subprocesses or virtual environments: all of it is slow
(`python -m pytest -m "not slow"` leaves it out; plain `python -m pytest` runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
