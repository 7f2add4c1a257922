"""`python -m generator lint`: cfn-lint (with informational checks) and the project's rules, in one process."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from generator.cli.options import root
from generator.errors import GeneratorError
from pipeline.common.cli import input_folder
from pipeline.common.errors import EXIT_FAILED, EXIT_OK


def add_parser(sub: Any) -> None:
    lint = sub.add_parser(
        "lint",
        help="validate rendered templates with cfn-lint and the project rules",
        description="Run cfn-lint (with informational checks) and the project's own "
        "rules over every rendered template in one process.",
    )
    lint.add_argument("paths", nargs="*", help="template files (default: every .yaml under --templates)")
    lint.add_argument(
        "--templates",
        metavar="DIR",
        help="folder of rendered templates (default: templates under the repository root; found only "
        "when no PATHS are given, so PATHS work outside the repository)",
    )
    lint.add_argument(
        "--format",
        choices=sorted(("text", "json", "sarif")),
        default="text",
        help="output format (default: text)",
    )
    lint.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from generator.lint.gate import FORMATTERS, lint_templates

    if args.paths:  # typed paths: findings name them as typed, relative to the current folder
        base = Path.cwd().resolve()
        paths = [Path(p).resolve() for p in args.paths]
        for p in paths:
            if p.is_dir():
                raise GeneratorError(f"{p}: is a folder, not a template file (use --templates for a folder)")
            if not p.is_file():
                raise GeneratorError(f"{p}: no such template file")
    else:
        base = root(args)
        folder = input_folder(Path(args.templates) if args.templates else base / "templates", "--templates")
        paths = sorted(folder.rglob("*.yaml"))
    findings = lint_templates(paths, root=base)
    sys.stdout.write(FORMATTERS[args.format](findings, len(paths)))
    return EXIT_FAILED if findings else EXIT_OK
