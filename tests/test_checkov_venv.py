"""The checkov environment's cache outside the clone: keyed by the requirements, built once, rebuilt when
missing or left half-built."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.checkov import STAMP, checkov_venv, find_uv, start_building_in_background, venv_path
from tests.support.paths import cache_home


class Builds:
    def __init__(self) -> None:
        self.built: list[Path] = []
        self.fail = False

    def __call__(self, venv: Path, requirements: bytes) -> None:
        self.built.append(venv)
        venv.mkdir(parents=True, exist_ok=True)
        if self.fail:
            raise RuntimeError("pip failed")
        (venv / "requirements.txt").write_bytes(requirements)


def test_built_once_then_reused(tmp_path: Path) -> None:
    build = Builds()
    first = checkov_venv(b"checkov==1\n", tmp_path, build)
    assert checkov_venv(b"checkov==1\n", tmp_path, build) == first
    assert build.built == [first]
    assert first.parent == tmp_path and first.name.startswith("checkov-")


def test_a_requirements_change_builds_another(tmp_path: Path) -> None:
    build = Builds()
    one = checkov_venv(b"checkov==1\n", tmp_path, build)
    two = checkov_venv(b"checkov==2\n", tmp_path, build)
    assert one != two and build.built == [one, two]
    assert (two / "requirements.txt").read_bytes() == b"checkov==2\n"


def test_missing_or_half_built_is_built_again(tmp_path: Path) -> None:
    build = Builds()
    build.fail = True
    with pytest.raises(RuntimeError):
        checkov_venv(b"checkov==1\n", tmp_path, build)
    build.fail = False
    venv = checkov_venv(b"checkov==1\n", tmp_path, build)
    assert build.built == [venv, venv]
    (venv / "org-stacksets-complete").unlink()  # as on a machine where the cache was cleared
    assert checkov_venv(b"checkov==1\n", tmp_path, build) == venv
    assert len(build.built) == 3


def test_the_cache_is_outside_the_clone(root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_home() == tmp_path / "org-stacksets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert not cache_home().is_relative_to(root)


def test_no_background_build_once_built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    requirements = tmp_path / "requirements.txt"
    requirements.write_bytes(b"checkov==1\n")
    venv = venv_path(requirements.read_bytes())
    assert venv.parent == tmp_path / "org-stacksets"
    venv.mkdir(parents=True)
    (venv / STAMP).write_text("checkov==1\n")
    assert start_building_in_background(requirements) is None


def test_uv_is_found_beside_the_test_interpreter() -> None:
    """The test extras install uv, which builds the environment in seconds (pip is the fallback)."""
    uv = find_uv()
    assert uv is not None and Path(uv).name == "uv"


def test_both_builds_compile_the_bytecode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PYTHONDONTWRITEBYTECODE is set here: a checkov installed without its bytecode compiles it every run."""
    from tests.support import checkov

    ran: list[list[str]] = []
    monkeypatch.setattr(checkov.subprocess, "run", lambda command, **_kw: ran.append(command))
    for name in ("uv", "pip"):
        (tmp_path / name).mkdir()
    checkov._build(tmp_path / "uv", b"checkov==1\n", "uv")
    checkov._build(tmp_path / "pip", b"checkov==1\n", None)
    uv_install, pip_install = ran[1], ran[3]
    assert uv_install[:3] == ["uv", "pip", "install"] and "--compile-bytecode" in uv_install
    assert pip_install[1:4] == ["-m", "pip", "install"] and "--no-compile" not in pip_install
