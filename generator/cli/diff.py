"""`python -m generator diff`: the per-OU IAM diff of org_roles/ between two revisions or folders."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.cli.options import org_dir, root
from pipeline.common.cli import RootPath, output_file, write_file
from pipeline.common.errors import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from generator.org.model import Org


def add_parser(sub: Any) -> None:
    diff = sub.add_parser(
        "diff",
        help="per-OU IAM diff of org_roles/ between two git revisions or folders (no AWS needed)",
        description="Compare org_roles/ at two revisions: per OU, roles added, removed or changed "
        "(inherited effects included), with statement-level trust and permission changes, graded "
        "broadened, narrowed or neutral.",
    )
    diff.add_argument("--base", required=True, help="git revision or folder to compare from")
    diff.add_argument("--head", help="git revision or folder to compare to (default: the working tree)")
    diff.add_argument(
        "--org", metavar="DIR", default=RootPath("org_roles"), help="organization folder (default: org_roles)"
    )
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="output format")
    diff.add_argument("--security-only", action="store_true", help="show only changes that broaden access")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when there are changes, 0 when none")
    diff.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    diff.set_defaults(func=run)


def _access_markdown(base: Org | None, head: Org | None, base_label: str, head_label: str) -> str:
    """The review's second section: who gains or loses the ability to assume which role, and where."""
    from generator.org.access import access_paths, diff_access
    from generator.review.access_report import format_diff_markdown

    return format_diff_markdown(diff_access(access_paths(base), access_paths(head), base_label, head_label))


def run(args: argparse.Namespace) -> int:
    from generator.review.diff import diff_orgs
    from generator.review.report import format_json, format_markdown, format_text
    from generator.review.revisions import org_at

    if args.output:
        output_file(Path(args.output))
    top, org = root(args), org_dir(args).as_posix()
    base, base_label = org_at(top, args.base, org)
    head, head_label = org_at(top, args.head, org)
    report = diff_orgs(base, head, base_label, head_label)
    if args.security_only:
        report = report.security_only()
    if args.format == "json":
        out = format_json(report)
    elif args.format == "markdown":
        out = format_markdown(report) + "\n" + _access_markdown(base, head, base_label, head_label)
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR") and not args.output
        out = format_text(report, color=color)
    if args.output:
        write_file(Path(args.output), out.encode())
    else:
        sys.stdout.write(out)
    return EXIT_FAILED if args.exit_code and not report.empty else EXIT_OK
