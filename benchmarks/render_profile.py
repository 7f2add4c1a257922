"""Benchmark: where `generator render`'s time goes, and `render --check` against `render`, in one run.

Run: .venv/bin/python benchmarks/render_profile.py [--rounds N]

Each round runs, as fresh processes: an empty interpreter (start-up), one process that times its own
phases (imports, building every blueprint's documents, serializing them to bytes, writing the folder
atomically), and the two commands as users run them. CPU seconds are the child's user + system time;
the median of the rounds counts. Goal (issue 16): render in well under a second of CPU beyond
interpreter start-up, and `render --check` no slower than `render`.
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
PYTHON = sys.executable

# Runs in a fresh interpreter; prints the CPU seconds of each phase as JSON.
PHASES = """
import json, sys, time
from pathlib import Path
cpu = time.process_time
t0 = cpu()
from generator.blueprints import BLUEPRINTS
from generator.blueprints.base import RenderContext
from generator.render import INDEX_FILE, _to_bytes, render_all, write_atomically
t1 = cpu()
ctx = RenderContext(root=Path(sys.argv[1]))
built = [(b, b.build(ctx)) for b in BLUEPRINTS]
t2 = cpu()
files = {path: _to_bytes(b, path, doc) for b, docs in built for path, doc in docs.items()}
t3 = cpu()
rendered = render_all(ctx, BLUEPRINTS)  # what is written: the same files plus index.json
assert {p: d for p, d in rendered.items() if p != INDEX_FILE} == files
t4 = cpu()
write_atomically(Path(sys.argv[2]), rendered)
t5 = cpu()
print(json.dumps({"imports": t1 - t0, "building": t2 - t1, "serializing": t3 - t2, "writing": t5 - t4}))
"""

# The children write and then read the bytecode of the project's modules, as Python does on a user's
# machine from the second run on. An environment that sets PYTHONDONTWRITEBYTECODE (this one does) would have
# every run compile them again (0.15 s of a render); cfn-lint's bytecode is written when it is installed.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_of(argv: Sequence[str]) -> tuple[float, float, str]:
    """(CPU seconds of the child, wall seconds, its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, check=False, env=CHILD_ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall, proc.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    args = parser.parse_args(argv)
    rows: dict[str, list[float]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "templates"
        render = [PYTHON, "-m", "generator", "render", "--out", str(out)]
        cpu_of(render)  # writes the bytecode (see CHILD_ENV)
        for n in range(max(1, args.rounds)):
            rows.setdefault("interpreter start-up", []).append(cpu_of([PYTHON, "-c", "pass"])[0])
            phases = json.loads(cpu_of([PYTHON, "-c", PHASES, str(ROOT), str(Path(tmp) / f"p{n}")])[2])
            for name, seconds in phases.items():
                rows.setdefault(name, []).append(seconds)
            rows.setdefault("generator render", []).append(cpu_of(render)[0])
            rows.setdefault("generator render --check", []).append(cpu_of([*render, "--check"])[0])
    med = {name: statistics.median(values) for name, values in rows.items()}
    start = med["interpreter start-up"]
    print(
        f"rounds: {args.rounds}; load average before: {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"{'CPU seconds (median)':34} {'s':>7}")
    for name in ("interpreter start-up", "imports", "building", "serializing", "writing"):
        print(f"  {name:32} {med[name]:7.3f}")
    for name in ("generator render", "generator render --check"):
        print(f"{name:34} {med[name]:7.3f}   ({med[name] - start:.3f} beyond start-up)")
    print(f"render --check / render: {med['generator render --check'] / med['generator render']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
