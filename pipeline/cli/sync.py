"""`python -m pipeline sync`: apply the plan (after showing it and asking, unless --yes)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pipeline.cli.files import load_manifest
from pipeline.cli.options import add_common, print_report, session
from pipeline.common.errors import EXIT_FAILED, EXIT_OK, UsageError
from pipeline.core.report import Outcome


def add_parser(sub: Any) -> None:
    sync = sub.add_parser("sync", help="apply the plan: create, update and remove StackSet instances")
    add_common(sync)
    sync.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sync.set_defaults(func=run)


def _confirm(count: int) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("sync changes AWS: confirm with --yes when not at a terminal")
    answer = input(f"Apply {count} operation(s)? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from pipeline.sync import apply_plan, plan_report, plan_sync

    manifest = load_manifest(Path(args.manifest))
    with session(args, manifest) as s:
        plan = plan_sync(s)
        if plan.has_changes and not args.yes:
            # What is about to change, IAM diff included, before the question.
            from pipeline.cli.review import render_plan, review_session

            iam = review_session(s, plan, args.manifest)
            color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
            sys.stdout.write(
                render_plan(
                    plan_report(s, plan), iam, "text", all_ous=args.all_ous, show_accounts=False, color=color
                )
            )
            if not _confirm(len(plan.ops)):
                print("nothing changed", file=sys.stderr)
                return EXIT_FAILED
        report = apply_plan(s, plan)
    print_report(report, args)
    return EXIT_OK if report.outcome == Outcome.SUCCESS else EXIT_FAILED
