"""Benchmark: render + lint every template in one process, against one cfn-lint process per template.

Run: .venv/bin/python benchmarks/lint_gate.py
Both sides check the same rendered files with the same rules and settings, measured in one run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generator.blueprints import BLUEPRINTS
from generator.blueprints.base import RenderContext
from generator.lint.gate import IGNORED_CHECKS, RULES_DIR, lint_templates
from generator.render import render_all, write_atomically

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "templates"
        t0 = time.perf_counter()
        rendered = render_all(RenderContext(root=ROOT), BLUEPRINTS)
        write_atomically(out, rendered)
        t_render = time.perf_counter() - t0
        paths = sorted(out.rglob("*.yaml"))

        # One process: a fresh interpreter, so cfn-lint's import and schema loading are counted.
        code = (
            "import sys; from pathlib import Path; from generator.lint.gate import lint_templates; "
            "sys.exit(len(lint_templates([Path(p) for p in sys.argv[1:]])))"
        )
        t0 = time.perf_counter()
        one = subprocess.run([sys.executable, "-c", code, *map(str, paths)], check=False)
        t_one = time.perf_counter() - t0

        cfn_lint = Path(sys.executable).with_name("cfn-lint")
        ignore = ["--ignore-checks", *sorted(IGNORED_CHECKS)]
        t0 = time.perf_counter()
        per_file_findings = 0
        for p in paths:
            proc = subprocess.run(
                [
                    str(cfn_lint),
                    "--append-rules",
                    str(RULES_DIR),
                    "--include-checks",
                    "I",
                    *ignore,
                    "--",
                    str(p),
                ],
                capture_output=True,
                check=False,
            )
            per_file_findings += proc.returncode != 0
        t_per_file = time.perf_counter() - t0

        in_process = lint_templates(paths)
    print(f"templates: {len(paths)} (plus {len(rendered) - len(paths)} JSON files)")
    print(f"render (in process):                  {t_render:7.2f} s")
    print(f"lint, one process for all templates:  {t_one:7.2f} s  (exit {one.returncode})")
    print(
        f"lint, one cfn-lint process per file:  {t_per_file:7.2f} s  ({per_file_findings} files with findings)"
    )
    print(f"ratio per-file / one process:         {t_per_file / t_one:7.2f} x")
    print(f"findings in process: {len(in_process)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
