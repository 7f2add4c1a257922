"""`python -m generator explain`: the effective roles at an OU, or the OUs a role reaches, and their origin."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from generator.cli.options import context
from pipeline.common.cli import RootPath
from pipeline.common.errors import EXIT_OK


def add_parser(sub: Any) -> None:
    explain = sub.add_parser(
        "explain",
        help="show the effective roles at an OU, or the OUs a role reaches, and where each comes from",
        description="Explain inheritance in org_roles/: which roles reach an OU and from which ou.yaml, "
        "or which OUs a role reaches, with every parameter value and the file it comes from.",
    )
    target = explain.add_mutually_exclusive_group(required=True)
    target.add_argument("--ou", help="OU path by name, e.g. Root/Workloads/Prod")
    target.add_argument("--role", help="role name from org_roles/roles/")
    explain.add_argument(
        "--org", metavar="DIR", default=RootPath("org_roles"), help="organization folder (default: org_roles)"
    )
    explain.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    explain.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from generator.org.explain import explain_ou, explain_role, format_ou, format_role
    from generator.org.loader import load_org

    ctx = context(args)
    org = load_org(ctx.org_path, ctx.org_dir.as_posix())
    data = explain_ou(org, args.ou) if args.ou else explain_role(org, args.role)
    if args.format == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        sys.stdout.write(format_ou(data) if args.ou else format_role(data))
    return EXIT_OK
