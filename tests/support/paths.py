"""Where the repository, the test fixtures and the golden files are, for every test package."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = ROOT / "tests" / "golden"


def cache_home() -> Path:
    """Where the test suite keeps what outlives a clone: $XDG_CACHE_HOME (else ~/.cache)/org-stacksets."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "org-stacksets"
