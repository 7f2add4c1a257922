"""Benchmark: the lint gate (`generator render` + `generator lint`) against plain cfn-lint, side by side in
one run, on the same rendered files with the same rules and settings.

Run: .venv/bin/python benchmarks/lint_gate.py [--rounds N]

Every command runs as its own process, as a user or CI runs it, so interpreter start-up and cfn-lint's
import are counted on both sides, each side with its bytecode compiled (CHILD_ENV). The gate's cold side is `render` + `lint --no-cache`; its warm side is
`lint` with the cache filled by an earlier run and nothing changed. The fast commands run --rounds times,
interleaved, and the median counts, so a burst of load from elsewhere on the machine hits both sides; one
cfn-lint process per file runs once (it is an order of magnitude slower). The machine's load average is
printed beside the figures. Goals (issue 16): cold >= 10x one cfn-lint per file and >= 1.2x one cfn-lint
over all files; warm >= 5x one cfn-lint over all files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.lint.gate import IGNORED_CHECKS, LINT_REGIONS, RULES_DIR  # noqa: E402

PYTHON = sys.executable
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))
PLAIN_ARGS = [
    "--append-rules",
    str(RULES_DIR),
    "--include-checks",
    "I",
    "--ignore-checks",
    *sorted(IGNORED_CHECKS),
    "--regions",
    *LINT_REGIONS,
]

# The children write and then read the bytecode of the project's modules, as Python does on a user's
# machine from the second run on. An environment that sets PYTHONDONTWRITEBYTECODE (this one does) would have
# every run compile them again (0.15 s of a render); cfn-lint's bytecode is written when it is installed.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: Sequence[str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, CPU seconds of the child, result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False, env=CHILD_ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def expect(proc: subprocess.CompletedProcess[str], codes: Sequence[int]) -> None:
    if proc.returncode not in codes:
        raise SystemExit(f"{proc.args}: exit {proc.returncode}\n{proc.stderr[-2000:]}")


def plain_findings(stdout: str) -> set[tuple[str, int, str]]:
    return {
        (Path(m["Filename"]).name, m["Location"]["Start"]["LineNumber"], m["Rule"]["Id"])
        for m in json.loads(stdout or "[]")
    }


def gate_findings(stdout: str) -> set[tuple[str, int, str]]:
    return {(Path(f["file"]).name, f["line"], f["rule"]) for f in json.loads(stdout)["findings"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the fast commands (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)  # the gate's --root here: its cache lives in work/.cache, not the repository's
        out = work / "templates"
        render = [PYTHON, "-m", "generator", "--root", str(ROOT), "render", "--out", str(out)]
        lint = [PYTHON, "-m", "generator", "--root", str(work), "lint", "--templates", str(out)]
        expect(timed(render, ROOT)[2], [0])
        files = sorted(str(p) for p in out.rglob("*.yaml"))
        load_before = os.getloadavg()
        expect(timed([*lint, "--format", "json"], work)[2], [0, 1])  # fills the cache
        rows: dict[str, list[tuple[float, float]]] = {}
        findings: dict[str, set[tuple[str, int, str]]] = {}
        for _ in range(max(1, args.rounds)):
            for name, command in (
                ("render", render),
                ("lint --no-cache", [*lint, "--no-cache", "--format", "json"]),
                ("lint, warm cache", [*lint, "--format", "json"]),
                ("cfn-lint, one process", [CFN_LINT, "--format", "json", *PLAIN_ARGS, "--", *files]),
            ):
                wall, cpu, proc = timed(command, work)
                expect(proc, [0, 1, 2, 4, 6, 8, 10, 12, 14])
                rows.setdefault(name, []).append((wall, cpu))
                if name != "render":
                    findings[name] = (plain_findings if name.startswith("cfn") else gate_findings)(
                        proc.stdout
                    )
        per_file_wall, per_file_cpu, per_file_findings = 0.0, 0.0, set()
        for path in files:
            wall, cpu, proc = timed([CFN_LINT, "--format", "json", *PLAIN_ARGS, "--", path], work)
            expect(proc, [0, 2, 4, 6, 8, 10, 12, 14])
            per_file_wall, per_file_cpu = per_file_wall + wall, per_file_cpu + cpu
            per_file_findings |= plain_findings(proc.stdout)
        load_after = os.getloadavg()
    report(rows, (per_file_wall, per_file_cpu), len(files), (load_before, load_after))
    same = findings["lint --no-cache"] == findings["lint, warm cache"] == findings["cfn-lint, one process"]
    print(
        f"identical findings (gate cold, gate warm, cfn-lint once, cfn-lint per file): "
        f"{same and per_file_findings == findings['cfn-lint, one process']} "
        f"({len(per_file_findings)} findings)"
    )
    return 0


def report(
    rows: dict[str, list[tuple[float, float]]],
    per_file: tuple[float, float],
    count: int,
    loads: tuple[tuple[float, ...], tuple[float, ...]],
) -> None:
    med = {
        name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for name, v in rows.items()
    }
    cold = (med["render"][0] + med["lint --no-cache"][0], med["render"][1] + med["lint --no-cache"][1])
    warm = med["lint, warm cache"]
    once = med["cfn-lint, one process"]
    print(f"templates: {count}; cores: {len(os.sched_getaffinity(0))}; rounds: {len(rows['render'])}")
    print(
        f"load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in loads[0])}, "
        f"after: {' '.join(f'{x:.2f}' for x in loads[1])}"
    )
    print(f"{'':42} {'wall s':>8} {'CPU s':>8}")
    for name, (wall, cpu) in (
        ("generator render", med["render"]),
        ("generator lint --no-cache", med["lint --no-cache"]),
        ("render + lint --no-cache (cold)", cold),
        ("generator lint, warm cache (nothing changed)", warm),
        ("render + lint, warm cache", (med["render"][0] + warm[0], med["render"][1] + warm[1])),
        ("cfn-lint, one process over all files", once),
        ("cfn-lint, one process per file", per_file),
    ):
        print(f"{name:42} {wall:8.2f} {cpu:8.2f}")
    print(f"cold: one cfn-lint per file / gate:        {per_file[0] / cold[0]:6.1f}x  (goal >= 10x)")
    print(f"cold: one cfn-lint over all files / gate:  {once[0] / cold[0]:6.2f}x  (goal >= 1.2x)")
    print(f"warm: one cfn-lint over all files / lint:  {once[0] / warm[0]:6.1f}x  (goal >= 5x)")
    print(f"warm: one cfn-lint over all / render+lint: {once[0] / (med['render'][0] + warm[0]):6.1f}x")


if __name__ == "__main__":
    raise SystemExit(main())
