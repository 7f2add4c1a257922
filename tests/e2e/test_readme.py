"""The README's walkthroughs run as printed, in the order printed, as shell scripts: the local deploy
(`pipeline local serve`, `generator package --upload`, `generator deploy org-pipeline` twice), then the
`--local` walkthrough, each in a git copy of the repository. The `--local` walkthrough starts over where it
says so (`git checkout` and `local reset`), so its parts run as tests of their own, on two cores at once.
Every command exits 0 and prints what the README shows: whole outputs where they are fixed, headline and
API-call line for plans and syncs (run ids and the ids moto draws aside),
the first and last lines where the README elides with "...".
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from generator.package import package_lambda
from tests.support.paths import ROOT

README_PORT = "4566"
RANDOM_IDS = [
    (re.compile(r"\(run [0-9a-f-]{36}\)"), "(run X)"),
    (re.compile(r"\bou-[0-9a-z]{4}-[0-9a-z]{8}\b"), "ou-X"),
    (re.compile(r"^created account \d{12} ", re.M), "created account X "),
    # The sync Lambda's zip: its size and content address change whenever its code does.
    (re.compile(r"\d+ files, \d+ bytes, sha256 [0-9a-f]{64}"), "N files, N bytes, sha256 X"),
    (re.compile(r"org-sync-lambda-[0-9a-f]{16}\.zip"), "org-sync-lambda-X.zip"),
]
ZIP_KEY = re.compile(r"org-sync-lambda-[0-9a-f]{16}\.zip")


def steps() -> list[tuple[str, list[str]]]:
    """(command, shown output) of the deploy walkthrough, then of the --local walkthrough."""
    text = (ROOT / "README.md").read_text()
    deploy = text.split("### `python -m generator deploy", 1)[1].split("\n## ", 1)[0]
    local = text.split("### `--local` walkthrough", 1)[1].split("\n### ", 1)[0]
    out: list[tuple[str, list[str]]] = []
    for section in (deploy, local):
        for block in re.findall(r"```console\n(.*?)```", section, re.S):
            continued = False
            for line in block.splitlines():
                if continued:
                    out[-1] = (out[-1][0] + "\n" + line, [])
                elif line.startswith("$ "):
                    out.append((line[2:], []))
                else:
                    out[-1][1].append(line)
                continued = line.endswith("\\")
    return out


def parts() -> dict[str, list[tuple[str, list[str]]]]:
    """The walkthroughs cut where they start over: the deploy walkthrough, then the `--local` one after each
    `local reset` that follows a `git checkout` of the organization (what comes after it starts from the
    checkout, as in a fresh copy). Each part after the first begins with the walkthrough's `export`."""
    walk = steps()
    serve = next(i for i, (c, _) in enumerate(walk) if "local serve" in c)
    first_local = next(i for i, (c, _) in enumerate(walk) if "--local" in c)
    out = {"deploy": walk[:first_local]}
    current: list[tuple[str, list[str]]] = []
    for i in range(first_local, len(walk)):
        current.append(walk[i])
        restart = "local reset" in walk[i][0] and "git checkout" in walk[i - 1][0]
        if restart or i == len(walk) - 1:
            out[f"local-{len(out)}"] = [walk[0], *current]
            current = []
    assert serve < first_local and walk[0][0].startswith("export ")
    return out


def script(commands: list[str]) -> str:
    """One bash script: each command in the same shell (exports and jobs carry over), its stdout framed
    by markers with its exit code; a background command's output is awaited until it says it is up."""
    lines = ["set -u"]
    for i, command in enumerate(commands):
        lines.append(f"echo '@@step {i}'")
        if command.endswith(" &"):
            lines.append(f"{command[:-2]} > .step.out 2>&1 &")
            lines.append("for _ in $(seq 600); do grep -q 'local AWS on' .step.out && break; sleep 0.1; done")
            lines.append('head -1 .step.out; echo "@@rc $?"')
        else:
            lines.append(f'{command} 2>>.stderr.log; echo "@@rc $?"')
            if command.startswith("kill %"):
                lines.append("wait")
    return "\n".join(lines) + "\n"


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _copy_repository(dest: Path) -> None:
    """The checkout as a reader clones it (tracked and new files, nothing ignored), as a git repository."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "clone"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)
    (dest / ".venv").symlink_to(Path(sys.prefix))


def _mask(lines: list[str]) -> list[str]:
    text = "\n".join(lines)
    for pattern, repl in RANDOM_IDS:
        text = pattern.sub(repl, text)
    return text.split("\n")


def _expected(command: str, shown: list[str], got: list[str]) -> tuple[list[str], list[str]]:
    """What of the output the README fixes, and what was printed, to compare."""
    if "-m pipeline plan" in command or "-m pipeline sync" in command:
        return [shown[0], shown[-1]], [got[0], got[-1]]
    if "  ..." in shown:  # the README elides the middle of a long change set
        return [shown[0], shown[-1]], [got[0], got[-1]]
    return shown, got


def test_the_parts_are_the_whole_walkthrough_in_order() -> None:
    walk = steps()
    commands = [c for c, _ in walk]
    assert any("local serve" in c for c in commands) and any("create-ou" in c for c in commands)
    assert commands.index(next(c for c in commands if "local serve" in c)) < commands.index(
        next(c for c in commands if "pipeline plan --local" in c)
    )
    cut = list(parts().values())
    assert len(cut) >= 3
    assert [c for part in cut for c, _ in (part if part is cut[0] else part[1:])] == commands


@pytest.mark.slow
@pytest.mark.parametrize("part", list(parts()))
def test_readme_walkthroughs_run_in_the_order_printed(tmp_path: Path, part: str) -> None:
    walk = parts()[part]
    commands = [c for c, _ in walk]
    _copy_repository(tmp_path)
    port = _free_port()
    # The README's commands name the zip it printed; a reader names the one their package printed.
    key = f"org-sync-lambda-{package_lambda(tmp_path, tmp_path / '.zip-probe').sha256[:16]}.zip"
    (tmp_path / ".zip-probe").unlink()
    runnable = [ZIP_KEY.sub(key, c.replace(README_PORT, port)) for c in commands]
    proc = subprocess.run(
        ["bash", "-c", script(runnable)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    outputs = re.split(r"^@@step \d+\n", proc.stdout, flags=re.M)[1:]
    assert len(outputs) == len(walk), proc.stdout[-2000:]
    for (command, shown), output in zip(walk, outputs, strict=True):
        *printed, rc = output.rstrip("\n").split("\n")
        errors = (tmp_path / ".stderr.log").read_text() if (tmp_path / ".stderr.log").exists() else ""
        assert rc == "@@rc 0", (command, printed, errors[-3000:])
        want, got = _expected(command, _mask(shown), _mask([p.replace(port, README_PORT) for p in printed]))
        assert got == want, (command, "README.md shows other output: update it (or the code)")
