"""`python -m generator access`: who may assume which role in which OUs, from org_roles/ alone; with
--base, the access a change gains and loses."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from generator.cli.options import org_dir, root
from pipeline.common.cli import RootPath
from pipeline.common.errors import EXIT_FAILED, EXIT_OK


def add_parser(sub: Any) -> None:
    access = sub.add_parser(
        "access",
        help="the access graph: who may assume which role, under which conditions, in which OUs",
        description="From org_roles/ alone (no AWS): every principal that may assume each role (login "
        "account groups and principals with the login policy, external accounts and principals, service "
        "principals), the conditions (MFA, external id, source identity, aws:ResourceOrgID) and the OUs the "
        "role reaches. With --base, the access gained and lost between two revisions.",
    )
    access.add_argument("--role", help="only this role")
    access.add_argument(
        "--ou", metavar="PATH", help="only access into accounts of this OU, e.g. Root/Workloads/Prod"
    )
    access.add_argument(
        "--principal",
        metavar="P",
        help="only principals containing P (an account id, ARN part, service name)",
    )
    access.add_argument("--base", help="git revision or folder: show the access gained and lost since")
    access.add_argument("--head", help="git revision or folder to compare to (default: the working tree)")
    access.add_argument(
        "--org", metavar="DIR", default=RootPath("org_roles"), help="organization folder (default: org_roles)"
    )
    access.add_argument(
        "--format", choices=("text", "markdown", "json", "dot"), default="text", help="output format"
    )
    access.add_argument("--exit-code", action="store_true", help="with --base: exit 1 when access is gained")
    access.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from generator.org import access as a
    from generator.review import access_report as r
    from generator.review.revisions import org_at

    top, org = root(args), org_dir(args).as_posix()
    head, head_label = org_at(top, args.head, org)
    if head is None and args.base is None:
        from generator.errors import GeneratorError

        raise GeneratorError(f"--org {org}: no such organization folder")
    base, base_label = org_at(top, args.base, org) if args.base is not None else (None, "")
    a.check_filters([head, base], args.role, args.ou)
    paths = a.select(a.access_paths(head), args.role, args.ou, args.principal)
    if args.base is None:
        formats = {
            "text": r.format_graph_text,
            "markdown": r.format_graph_markdown,
            "json": r.format_graph_json,
            "dot": r.format_graph_dot,
        }
        sys.stdout.write(formats[args.format](paths))
        return EXIT_OK
    old = a.select(a.access_paths(base), args.role, args.ou, args.principal)
    diff = a.diff_access(old, paths, base_label, head_label)
    diff_formats = {
        "text": r.format_diff_text,
        "markdown": r.format_diff_markdown,
        "json": r.format_diff_json,
        "dot": r.format_diff_dot,
    }
    sys.stdout.write(diff_formats[args.format](diff))
    return EXIT_FAILED if args.exit_code and diff.gained else EXIT_OK
