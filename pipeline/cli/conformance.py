"""`python -m pipeline conformance --ou OU`: check live, on a sandbox OU, the StackSet behaviours the sync
relies on (docs/conformance.md), with one throwaway StackSet that is removed again, also on failure or
Ctrl-C; prints a table (text, Markdown, JSON) with the AWS request ids to paste into an issue."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipeline.cli.files import load_manifest
from pipeline.cli.options import DEFAULT_LOCAL_STATE, DEFAULT_MANIFEST
from pipeline.common.cli import add_aws_options
from pipeline.common.errors import EXIT_FAILED, EXIT_OK, UsageError
from pipeline.core.manifest import Manifest
from pipeline.core.org import OrgTree

FORMATS = ("text", "markdown", "json")
# IAM role names: 1 to 64 of [\w+=,.@-] (IAM API_CreateRole, RoleName,
# https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html).
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "conformance",
        help="check live, on a sandbox OU, the StackSet behaviours the sync relies on",
        description="Create one throwaway StackSet (random name under the manifest's prefix, tagged) on a "
        "sandbox OU, observe the behaviours of docs/conformance.md one row each, and remove everything it "
        "made, also on failure or Ctrl-C (a rerun removes what a killed run left).",
        epilog="Exit codes: 0 every row passed or was skipped, 1 a row failed, 2 bad input or usage, "
        "130 interrupted (after cleaning up).",
    )
    p.add_argument(
        "--ou", required=True, help="the sandbox OU: an id (ou-...) or a path such as Root/Sandbox"
    )
    p.add_argument(
        "--manifest", default=DEFAULT_MANIFEST, help="the rendered manifest (default: %(default)s)"
    )
    add_aws_options(p, region_help="StackSet administration region (default: the manifest's home region)")
    p.add_argument(
        "--move-account",
        metavar="ID",
        help="also check AutoDeployment: move this account of the sandbox OU to --to-ou and back",
    )
    p.add_argument("--to-ou", metavar="OU", help="with --move-account: a second sandbox OU, outside --ou")
    p.add_argument(
        "--member-role",
        metavar="NAME",
        help="also check RetainStacks on delete: assume this role (e.g. OrganizationAccountAccessRole) in the "
        "member account to see the retained stack and delete it",
    )
    p.add_argument("--yes", action="store_true", help="do not ask before creating the StackSet")
    p.add_argument("--keep", action="store_true", help="leave the StackSet and its instances for inspection")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--local", action="store_true", help="run against the --local organization instead of AWS")
    p.add_argument(
        "--local-state", default=DEFAULT_LOCAL_STATE, help="--local's state file (default: %(default)s)"
    )
    p.set_defaults(func=run)


@contextlib.contextmanager
def _clients(args: argparse.Namespace, manifest: Manifest, region: str) -> Iterator[tuple[Any, bool]]:
    if args.local:
        from pipeline.emulator import environment

        with environment()(manifest, Path(args.local_state)) as env:
            yield env.clients(region), True
        return
    from pipeline.aws.clients import make_clients

    yield (
        make_clients(region, component="conformance", profile=args.profile, endpoint_url=args.endpoint_url),
        False,
    )


def resolve_ou(tree: OrgTree, given: str) -> str:
    unit = tree.units.get(given) if given.startswith(("ou-", "r-")) else tree.by_path(given)
    if unit is None:
        raise UsageError(f"--ou {given}: no such OU in organization {tree.organization_id}")
    if unit.id == tree.root_id:
        raise UsageError(
            "--ou: the root is not a sandbox OU; name an OU whose accounts may get a throwaway stack"
        )
    return unit.id


def run(args: argparse.Namespace) -> int:
    from pipeline.aws.conformance import Kit, delete_retained, leftovers, remove, retained_leftovers, run_kit
    from pipeline.aws.organizations import read_org

    manifest = load_manifest(Path(args.manifest))
    region = args.region or manifest.org.home_region
    call_as = str(manifest.org.call_as)
    with _clients(args, manifest, region) as (clients, local):
        tree = read_org(clients.organizations)
        ou = resolve_ou(tree, args.ou)
        cfn = clients.cloudformation
        pace: dict[str, Any] = {} if local else {"sleep": time.sleep}
        member = _member_option(args, clients, region)
        for name in leftovers(cfn, manifest.org.stackset_prefix, call_as):
            remove(Kit(cfn, region, tree, ou, manifest.org.stackset_prefix, call_as, name=name, **pace))
            print(f"removed {name}, left by an earlier run", file=sys.stderr)
        if member is not None:
            sweep = Kit(
                cfn, region, tree, ou, manifest.org.stackset_prefix, call_as, member_cfn=member, **pace
            )
            for held in retained_leftovers(sweep):
                account, stack = held.split("/", 1)
                sweep.retained.append(held)
                delete_retained(sweep, account, stack)
                print(f"removed stack {stack} in {account}, retained by an earlier run", file=sys.stderr)
        move = _move_option(args, tree, ou)
        kit = Kit(
            cfn,
            region,
            tree,
            ou,
            manifest.org.stackset_prefix,
            call_as,
            org=clients.organizations,
            move=move,
            member_cfn=member,
            **pace,
        )
        what = f"create the throwaway StackSet {kit.name} on {tree.path_of(ou)} ({len(kit.members())} account(s))"
        if move:
            what += f", and move account {move[0]} to {tree.path_of(move[1])} and back"
        if member:
            what += f", and retain one stack, then delete it as {args.member_role} in its account"
        _confirm(args, what)
        rows = run_kit(kit, lambda r: print(f"  {r.status}  {r.behaviour}", file=sys.stderr), keep=args.keep)
    sys.stdout.write(render(rows, kit.name, args.format, kept=args.keep))
    return EXIT_FAILED if any(r.status == "FAIL" for r in rows) else EXIT_OK


def _member_option(args: argparse.Namespace, clients: Any, region: str) -> Any:
    """--member-role: account -> a CloudFormation client there, through that role; None without it."""
    from pipeline.aws.clients import make_clients
    from pipeline.aws.conformance import member_clients

    if args.member_role is None:
        return None
    if not ROLE_NAME.fullmatch(args.member_role):
        raise UsageError(f"--member-role {args.member_role!r}: not an IAM role name (a name, not an ARN)")
    endpoint = clients.endpoint_url

    def cfn_with(creds: dict[str, str]) -> Any:
        return make_clients(
            region, component="conformance", endpoint_url=endpoint, credentials=creds
        ).cloudformation

    return member_clients(clients.sts, args.member_role, cfn_with)


def _move_option(args: argparse.Namespace, tree: OrgTree, ou: str) -> tuple[str, str] | None:
    if (args.move_account is None) != (args.to_ou is None):
        raise UsageError("--move-account and --to-ou go together")
    if args.move_account is None:
        return None
    active, _ = tree.member_accounts_under(ou)
    if args.move_account not in active:
        raise UsageError(
            f"--move-account {args.move_account}: not an active member account under --ou {args.ou}"
        )
    to = resolve_ou(tree, args.to_ou)
    if to in set(tree.subtree(ou)):
        raise UsageError(f"--to-ou {args.to_ou}: inside --ou {args.ou}; name an OU outside it")
    return args.move_account, to


def _confirm(args: argparse.Namespace, what: str) -> None:
    if args.yes:
        print(what, file=sys.stderr)
        return
    if not sys.stdin.isatty():
        raise UsageError(f"would {what}: pass --yes to run without a terminal")
    if input(f"{what}; continue? [y/N] ").strip().lower() not in ("y", "yes"):
        raise UsageError("not confirmed: nothing was created")


def render(rows: Sequence[Any], name: str, fmt: str, kept: bool = False) -> str:
    left = f"kept {name} (--keep)" if kept else f"removed {name}"
    if fmt == "json":
        return (
            json.dumps({"stackset": name, "kept": kept, "rows": [r.to_dict() for r in rows]}, indent=2) + "\n"
        )
    if fmt == "markdown":
        lines = [
            "| behaviour | expected | observed | result | request ids |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in rows:
            ids = " ".join(f"`{i}`" for i in r.request_ids)
            lines.append(f"| {r.behaviour} | {r.expected} | {r.observed} | {r.status} | {ids} |")
        return "\n".join(lines) + f"\n\n{left}\n"
    out = []
    for r in rows:
        out.append(f"{r.status}  {r.behaviour}: expected {r.expected}; observed {r.observed}")
        out.append(f"      request ids: {' '.join(r.request_ids) or '-'}")
    return "\n".join(out) + f"\n{left}\n"
