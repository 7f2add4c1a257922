"""`python -m pipeline doctor`: before the first sync, check the organization and the credentials against
what the sync needs, each check PASS, WARN or FAIL with the exact fix. Reads only; changes nothing."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.cli.files import load_manifest
from pipeline.cli.options import DEFAULT_LOCAL_STATE, DEFAULT_MANIFEST
from pipeline.common.cli import add_aws_options
from pipeline.common.errors import EXIT_FAILED, EXIT_OK
from pipeline.core.checks import FAIL, Check, Statement, SyncActions, run_checks, sync_statements, worst
from pipeline.core.manifest import Manifest

FORMATS = ("text", "markdown", "json")


def add_parser(sub: Any) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check the organization and credentials before the first sync; changes nothing",
        description="Check what the sync needs, each PASS, WARN or FAIL with the exact fix: the caller "
        "(management account or registered delegated administrator), trusted access (or the self-managed "
        "roles), the manifest's OUs and organization id, the account-move watcher, the permissions of every "
        "call the sync makes, and the StackSet quotas. Reads AWS (or --local), changes nothing.",
        epilog="Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 bad input or usage.",
    )
    doctor.add_argument(
        "--manifest", default=DEFAULT_MANIFEST, help="the rendered manifest (default: %(default)s)"
    )
    add_aws_options(
        doctor, region_help="StackSet administration region (default: the manifest's home region)"
    )
    doctor.add_argument(
        "--role-arn",
        help="simulate the permissions of this role (the deployed sync role) instead of the caller's",
    )
    doctor.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    doctor.add_argument(
        "--local",
        action="store_true",
        help="check the --local organization (moto on 127.0.0.1) instead of AWS",
    )
    doctor.add_argument(
        "--local-state",
        default=DEFAULT_LOCAL_STATE,
        help="--local's organization and StackSets (default: %(default)s)",
    )
    doctor.set_defaults(func=run)


def shared_actions() -> SyncActions:
    """The sync role's actions from the one list its rendered policy is made from."""
    from generator.blueprints import org_pipeline as bp

    return SyncActions(
        tuple(bp.SYNC_ORGANIZATIONS_ACTIONS), tuple(bp.SYNC_STACKSET_ACTIONS), tuple(bp.SYNC_STACK_ACTIONS)
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.aws.doctor import gather

    manifest = load_manifest(Path(args.manifest))
    region = args.region or manifest.org.home_region
    actions = shared_actions()

    def statements(account: str) -> list[Statement]:
        return sync_statements(manifest, account, region, actions)

    if args.local:
        from pipeline.emulator import environment

        with environment()(manifest, Path(args.local_state)) as env:
            facts = gather(env.clients(region), manifest, statements, role_arn=args.role_arn, emulated=True)
    else:
        from pipeline.aws.clients import make_clients

        clients = make_clients(
            region, component="doctor", profile=args.profile, endpoint_url=args.endpoint_url
        )
        facts = gather(clients, manifest, statements, role_arn=args.role_arn)
    checks = run_checks(manifest, facts, statements(facts.caller_account))
    sys.stdout.write(render(checks, manifest, args.format))
    return EXIT_FAILED if worst(checks) == FAIL else EXIT_OK


def render(checks: Sequence[Check], manifest: Manifest, fmt: str) -> str:
    counts = {s: sum(c.status == s for c in checks) for s in ("PASS", "WARN", "FAIL")}
    summary = (
        f"doctor: {counts['PASS']} pass, {counts['WARN']} warn, {counts['FAIL']} fail ({manifest.source})"
    )
    if fmt == "json":
        return json.dumps({"summary": counts, "checks": [c.to_dict() for c in checks]}, indent=2) + "\n"
    if fmt == "markdown":
        rows = ["| check | result | found | fix |", "| --- | --- | --- | --- |"]
        for c in checks:
            fix = c.fix + (f" ([docs]({c.doc}))" if c.doc and c.fix else "")
            rows.append(f"| {c.id} | {c.status} | {_cell(c.detail)} | {_cell(fix)} |")
        return f"**{summary}**\n\n" + "\n".join(rows) + "\n"
    lines = [summary]
    for c in checks:
        lines.append(f"{c.status}  {c.id}: {c.detail}")
        if c.fix:
            lines.append(f"      fix: {c.fix}")
        if c.doc and c.status != "PASS":
            lines.append(f"      see: {c.doc}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
