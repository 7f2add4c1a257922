"""Command line: `python -m generator render|lint|list|explain|access|diff|package|deploy`; main(argv) returns the
exit code.

One module per command, the helpers they share in options.py, and the product's one runner
(pipeline.common.cli): exit codes 0 success, 1 findings, 2 bad input or usage; one-line errors on stderr.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from generator import __version__
from generator.cli import access, deploy, diff, explain, lint, listing, package, render
from pipeline.common.cli import Parser, run

COMMANDS = (render, lint, explain, access, diff, package, deploy, listing)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m generator",
        description="Render, lint and review the CloudFormation templates of this repository.",
        epilog="Exit codes: 0 success, 1 findings (stale templates, lint findings), 2 bad input or usage. "
        "Default paths are relative to the repository root, paths you type to the current folder.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--root",
        help="repository root (default: the nearest folder, from the current one up, holding "
        "org_roles/org.yaml or .git)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)
