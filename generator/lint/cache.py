"""The lint cache: a template's findings, keyed by everything that decides them, so an unchanged template is
not linted again.

The key is a sha256 over the template's bytes, the cfn-lint version, the source of the project's rules, the
gate's settings (included and ignored checks, regions) and any cfn-lint configuration file cfn-lint itself
would read (~/.cfnlintrc and ./.cfnlintrc, in their three spellings). Change any of them and every entry
misses. Entries are small JSON files in an ignored folder (`.cache/lint` under the repository root),
written atomically; an unreadable entry is a miss, never an error. Findings are stored without the file
name, which is the reader's path on a hit (entries whose findings name another file are not stored).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from importlib.metadata import version
from pathlib import Path

# (line, column, rule id, message, rule short description, rule source URL)
RawFinding = tuple[int, int, str, str, str, str]

CACHE_FOLDER = Path(".cache") / "lint"  # under the repository root; .gitignore lists .cache/
FORMAT = "org-stacksets lint cache 1"
MAX_ENTRIES = 2000  # beyond this the oldest entries (by last use) are removed
CFNLINTRC_NAMES = (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml")


def salt(rules_dir: Path, settings: str) -> bytes:
    """What every key shares: the cfn-lint version, the project rules' source, the gate's settings and the
    cfn-lint configuration files in force."""
    digest = hashlib.sha256()
    for part in (FORMAT, version("cfn-lint"), settings):
        digest.update(part.encode() + b"\0")
    for rule in sorted(rules_dir.glob("*.py")):
        digest.update(rule.name.encode() + b"\0" + rule.read_bytes() + b"\0")
    for folder in (Path.home(), Path.cwd()):
        for name in CFNLINTRC_NAMES:
            candidate = folder / name
            if candidate.is_file():
                digest.update(str(candidate).encode() + b"\0" + candidate.read_bytes() + b"\0")
    return digest.digest()


class LintCache:
    """Findings per template key in `folder`, sharing `salt` (see salt())."""

    def __init__(self, folder: Path, salt: bytes) -> None:
        self.folder = folder
        self._salt = salt

    def key(self, template: bytes) -> str:
        return hashlib.sha256(self._salt + template).hexdigest()

    def get(self, key: str) -> list[RawFinding] | None:
        entry = self.folder / f"{key}.json"
        try:
            data = json.loads(entry.read_bytes())
            findings = [_raw(item) for item in data["findings"]]
            os.utime(entry)  # last use, for pruning
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return findings

    def put(self, key: str, findings: Sequence[RawFinding]) -> None:
        """Store atomically; a cache that cannot be written is skipped silently (it only saves time)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"findings": [list(item) for item in findings]}, f, sort_keys=True)
            Path(tmp).replace(self.folder / f"{key}.json")
        except OSError:
            return

    def prune(self, keep: int = MAX_ENTRIES) -> None:
        """Remove the least recently used entries beyond `keep`."""
        try:
            entries = [(p.stat().st_mtime, p) for p in self.folder.glob("*.json")]
        except OSError:
            return
        for _, path in sorted(entries, reverse=True)[keep:]:
            path.unlink(missing_ok=True)


def _raw(item: Iterable[object]) -> RawFinding:
    line, column, rule, message, description, source_url = item
    if not (isinstance(line, int) and isinstance(column, int)):
        raise TypeError("line and column must be integers")
    return (line, column, str(rule), str(message), str(description), str(source_url))
