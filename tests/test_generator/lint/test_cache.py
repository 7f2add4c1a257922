"""The lint cache: what its key depends on, round trips, and entries it cannot read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.lint import cache as lint_cache
from generator.lint.cache import LintCache, salt
from generator.lint.gate import RULES_DIR, cache_settings

FINDING = (12, 11, "E9104", "Deployer allows iam:PassRole on Resource '*'", "PassRole", "https://x")


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "Rule.py").write_text("ID = 'E9999'\n")
    return folder


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current folder and a home without any .cfnlintrc."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return work


def test_round_trip_and_miss(tmp_path: Path) -> None:
    cache = LintCache(tmp_path / "c", b"salt")
    key = cache.key(b"Resources: {}\n")
    assert cache.get(key) is None
    cache.put(key, [FINDING])
    assert cache.get(key) == [FINDING]
    cache.put(cache.key(b"clean"), [])
    assert cache.get(cache.key(b"clean")) == []
    assert not list((tmp_path / "c").glob(".tmp-*")), "a temporary file was left behind"


def test_the_key_follows_the_template_bytes(tmp_path: Path) -> None:
    cache = LintCache(tmp_path, b"salt")
    assert cache.key(b"a") == cache.key(b"a")
    assert cache.key(b"a") != cache.key(b"a ")
    assert LintCache(tmp_path, b"other").key(b"a") != cache.key(b"a")


def test_the_salt_follows_cfn_lint_rules_settings_and_cfnlintrc(
    rules: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = salt(rules, "settings")
    assert salt(rules, "settings") == before
    assert salt(rules, "other settings") != before
    (rules / "Rule.py").write_text("ID = 'E9998'\n")
    changed_rule = salt(rules, "settings")
    assert changed_rule != before
    (rules / "Another.py").write_text("")
    assert salt(rules, "settings") != changed_rule
    current = salt(rules, "settings")
    (elsewhere / ".cfnlintrc.yaml").write_text("regions: [eu-west-1]\n")
    assert salt(rules, "settings") != current
    with_rc = salt(rules, "settings")
    monkeypatch.setattr(lint_cache, "version", lambda name: "0.0.1")
    assert salt(rules, "settings") != with_rc


def test_the_gate_settings_are_in_the_key() -> None:
    assert "I4010" in cache_settings() and "us-east-1" in cache_settings()
    assert any(RULES_DIR.glob("*.py"))


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b'{"findings": [[1, 2, 3]]}', b'{"findings": [["1", 2, "E", "m", "d", "u"]]}', b"[]"],
)
def test_an_unreadable_entry_is_a_miss(tmp_path: Path, content: bytes) -> None:
    cache = LintCache(tmp_path, b"salt")
    key = cache.key(b"t")
    (tmp_path / f"{key}.json").write_bytes(content)
    assert cache.get(key) is None


def test_an_unwritable_cache_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    cache = LintCache(tmp_path / "file" / "cache", b"salt")
    cache.put(cache.key(b"t"), [FINDING])  # no error: the cache only saves time
    assert cache.get(cache.key(b"t")) is None


def test_prune_keeps_the_most_recently_used(tmp_path: Path) -> None:
    cache = LintCache(tmp_path, b"salt")
    keys = [cache.key(bytes([n])) for n in range(4)]
    for n, key in enumerate(keys):
        cache.put(key, [])
        os.utime(tmp_path / f"{key}.json", (1000 + n, 1000 + n))
    assert cache.get(keys[0]) == []  # used now: the newest
    cache.prune(keep=2)
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted([keys[0], keys[3]])
