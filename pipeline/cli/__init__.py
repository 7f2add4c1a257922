"""Command line: `python -m pipeline plan|sync|drift|local|doctor|conformance ...`; main(argv) returns the exit code.

One module per command (plan, sync, drift, local, doctor, conformance), the options they share in options.py, and the product's one
runner (pipeline.common.cli): exit codes 0 success (or no changes), 1 failure, changes with --exit-code,
or a guard stop, 2 bad input or usage; errors are one sentence on stderr; --debug shows the traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pipeline.cli import conformance, doctor, drift, local, plan, sync
from pipeline.common.cli import Parser, run


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m pipeline",
        description="Reconcile the live OU tree onto CloudFormation StackSets, as the manifest describes.",
        epilog="Exit codes: 0 success, 1 failure (or changes with --exit-code), 2 bad input or usage, "
        "130 interrupted.",
    )
    parser.add_argument(
        "--root",
        help="repository root the default paths are under (default: the nearest folder, from the current "
        "one up, holding org_roles/org.yaml or .git)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in (plan, sync, drift, local, doctor, conformance):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)
