"""`python -m pipeline plan`: what a sync would do, with the IAM diff against what is deployed; changes nothing."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pipeline.cli.files import load_manifest
from pipeline.cli.options import add_common, session
from pipeline.common.errors import EXIT_FAILED, EXIT_OK
from pipeline.core.guard import check


def add_parser(sub: Any) -> None:
    plan = sub.add_parser(
        "plan",
        help="show what a sync would do; changes nothing",
        description="What a sync would do, per StackSet and per OU, with the IAM diff of every role "
        "against what is deployed. Reads AWS (or --local), changes nothing.",
        epilog="Exit codes: 0 done (changes or none), 1 changes with --exit-code, or a sync would stop "
        "at the deletion guard, 2 bad input or usage.",
    )
    add_common(plan)
    plan.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when the plan has changes (default: exit 0 either way)",
    )
    plan.add_argument(
        "--security-only",
        action="store_true",
        help="IAM diff: only the changes that broaden access (default: every change)",
    )
    plan.add_argument(
        "--show-accounts",
        action="store_true",
        help="list the account ids each OU's IAM changes reach (default: counts only)",
    )
    plan.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.cli.review import render_plan, review_session
    from pipeline.sync import plan_report, plan_sync

    manifest = load_manifest(Path(args.manifest))
    with session(args, manifest) as s:
        plan = plan_sync(s)
        report = plan_report(s, plan)
    iam = review_session(s, plan, args.manifest)
    if args.security_only:
        iam = iam.security_only()
    color = args.format == "text" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    sys.stdout.write(
        render_plan(
            report, iam, args.format, all_ous=args.all_ous, show_accounts=args.show_accounts, color=color
        )
    )
    verdict = check(plan, manifest.org.deletion)
    if not verdict.ok:
        print("error: a sync would stop here: " + "; ".join(verdict.reasons), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if args.exit_code and plan.has_changes else EXIT_OK
