"""`python -m generator lint`: cfn-lint (with informational checks) and the project's rules, rules loaded
once, templates linted in parallel, unchanged templates answered from the cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.cli.options import root
from generator.errors import GeneratorError
from pipeline.common.cli import find_root, input_folder
from pipeline.common.errors import EXIT_FAILED, EXIT_OK
from pipeline.common.progress import Progress

if TYPE_CHECKING:
    from generator.lint.cache import LintCache


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
    lint.add_argument(
        "--no-cache",
        action="store_true",
        help="lint every template again, neither reading nor writing the cache (.cache/lint under the "
        "repository root, keyed by each template's bytes, the cfn-lint version and the project rules)",
    )
    lint.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help="worker processes for the templates the cache does not know (default: one per core)",
    )
    lint.set_defaults(func=run)


def _jobs(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number of at least 1")
    return int(value)


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
    with Progress("lint", total=len(paths)) as progress:
        findings = lint_templates(paths, root=base, cache=_cache(args), jobs=args.jobs, progress=progress)
    sys.stdout.write(FORMATTERS[args.format](findings, len(paths)))
    return EXIT_FAILED if findings else EXIT_OK


def _cache(args: argparse.Namespace) -> LintCache | None:
    """The repository's lint cache; none with --no-cache or outside any repository."""
    from generator.lint.gate import repository_cache

    where = Path(args.root).resolve() if args.root else find_root(Path.cwd().resolve())
    if args.no_cache or where is None:
        return None
    return repository_cache(where)
