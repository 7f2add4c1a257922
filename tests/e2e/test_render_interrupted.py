"""render under interruption and concurrency, in subprocesses: a signal at each step of the write leaves
the folder the old tree or the new one byte for byte and the next render cleans up; two renders at once
run in turn."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from generator.render import write_atomically
from tests.support.paths import ROOT
from tests.test_generator.test_render import NEW, OLD, files_of

# In the child: write NEW over OLD with a hook that signals the process itself at one step.
CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from generator.render import write_atomically
    out, tree, at, sig, exchange = sys.argv[1:]
    def step(name):
        if name == at:
            os.kill(os.getpid(), getattr(signal, sig))
    files = {k: v.encode() for k, v in json.loads(Path(tree).read_text()).items()}
    write_atomically(Path(out), files, step=step, exchange=exchange == "1")
    """
)
BEFORE_SWAP = ("locked", "staging", "staged")
AFTER_SWAP = ("swapped", "done")
CASES = [
    (exchange, sig, at, "old" if at in BEFORE_SWAP else "new")
    for exchange, steps in (
        (True, BEFORE_SWAP + AFTER_SWAP),
        (False, (*BEFORE_SWAP, "moved-old", *AFTER_SWAP)),
    )
    for sig in ("SIGINT", "SIGTERM", "SIGKILL")
    for at in steps
    if not (sig == "SIGKILL" and at == "moved-old")  # the one window SIGKILL can hit: see the next test
]


def _interrupt(tmp_path: Path, at: str, sig: str, exchange: bool) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "templates"
    write_atomically(out, OLD)
    tree = tmp_path / "new.json"
    tree.write_text(json.dumps({k: v.decode() for k, v in NEW.items()}))
    argv = [sys.executable, "-c", CHILD, str(out), str(tree), at, sig, "1" if exchange else "0"]
    child = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    tree.unlink()
    return child


@pytest.mark.parametrize(
    ("exchange", "sig", "at", "expected"),
    CASES,
    ids=[f"{'renameat2' if e else 'two-renames'}-{s}-{a}" for e, s, a, _ in CASES],
)
def test_a_signal_at_each_step_leaves_the_old_or_the_new_tree(
    tmp_path: Path, exchange: bool, sig: str, at: str, expected: str
) -> None:
    child = _interrupt(tmp_path, at, sig, exchange)
    assert child.returncode != 0, child.stderr
    out = tmp_path / "templates"
    assert files_of(out) == (OLD if expected == "old" else NEW)
    write_atomically(out, NEW)  # the next render
    assert files_of(out) == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == [".templates.lock", "templates"]


def test_sigkill_between_the_two_renames_is_repaired_by_the_next_render(tmp_path: Path) -> None:
    child = _interrupt(tmp_path, "moved-old", "SIGKILL", exchange=False)
    assert child.returncode == -signal.SIGKILL
    assert not (tmp_path / "templates").exists()
    assert files_of(next(tmp_path.glob(".templates.old-*"))) == OLD
    write_atomically(tmp_path / "templates", NEW)
    assert files_of(tmp_path / "templates") == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == [".templates.lock", "templates"]


# The first render, once it holds the lock, says so and waits until the file named by $GO exists.
HOLDING_RENDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from generator.cli import main
    from generator import render as module
    original = module.write_atomically
    def holding(*args, **kwargs):
        def step(name):
            if name == "locked":
                print("locked", flush=True)
                deadline = time.monotonic() + 60
                while not Path(os.environ["GO"]).exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
        return original(*args, **kwargs, step=step)
    module.write_atomically = holding
    raise SystemExit(main(sys.argv[1:]))
    """
)


def test_two_renders_at_once_run_in_turn(tmp_path: Path) -> None:
    import os
    import shutil

    repo, go = tmp_path / "repo", tmp_path / "go"
    shutil.copytree(ROOT / "org_roles", repo / "org_roles")
    argv = ["--root", str(repo), "render"]
    env = dict(os.environ, GO=str(go), PYTHONPATH=str(ROOT))
    pipes = {"cwd": ROOT, "env": env, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    first = subprocess.Popen([sys.executable, "-c", HOLDING_RENDER, *argv], **pipes)
    assert first.stdout is not None and first.stdout.readline() == "locked\n"
    second = subprocess.Popen([sys.executable, "-m", "generator", *argv], **pipes)
    assert second.stderr is not None
    waiting = second.stderr.readline()  # the second render is blocked on the lock now
    go.touch()
    first_out, first_err = first.communicate(timeout=60)
    second_out, second_err = second.communicate(timeout=60)
    assert waiting == f"waiting for another render (pid {first.pid}) to finish writing templates/\n"
    assert (first.returncode, first_out, first_err) == (0, "rendered 19 files to templates\n", "")
    assert (second.returncode, second_out, second_err) == (0, "rendered 19 files to templates\n", "")
    check = subprocess.run(
        [sys.executable, "-m", "generator", *argv, "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (check.returncode, check.stdout) == (0, "templates: 19 files up to date\n")
    assert sorted(p.name for p in repo.iterdir()) == [".templates.lock", "org_roles", "templates"]
