"""`python -m pipeline local show|move-account|reset|serve`: inspect or change the --local organization,
or keep it running on 127.0.0.1 for other tools."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pipeline.cli.files import load_manifest
from pipeline.cli.options import DEFAULT_LOCAL_STATE, DEFAULT_MANIFEST
from pipeline.common.errors import EXIT_OK, UsageError
from pipeline.core.manifest import Manifest


def add_parser(sub: Any) -> None:
    local = sub.add_parser("local", help="inspect or change the --local organization")
    local.add_argument("action", choices=["show", "move-account", "reset", "serve"])
    local.add_argument("args", nargs="*", help="move-account: ACCOUNT_ID OU_PATH")
    local.add_argument("--manifest", default=DEFAULT_MANIFEST)
    local.add_argument("--local-state", default=DEFAULT_LOCAL_STATE)
    local.add_argument(
        "--port", type=int, default=4566, help="serve: the loopback port (default: %(default)s)"
    )
    local.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.emulator.local import LocalEnvironment

    state = Path(args.local_state)
    if args.action == "reset":
        state.unlink(missing_ok=True)
        print(f"removed {state}")
        return EXIT_OK
    manifest = load_manifest(Path(args.manifest))
    if args.action == "serve":
        return _serve(manifest, state, args.port)
    with LocalEnvironment(manifest, state) as env:
        if args.action == "move-account":
            if len(args.args) != 2:
                raise UsageError("local move-account needs ACCOUNT_ID OU_PATH")
            _move(env.clients().organizations, *args.args)
            return EXIT_OK
        for path, accounts in env.accounts_by_ou().items():
            print(path)
            for acct, name, status, stacksets in accounts:
                roles = (
                    ", ".join(n.removeprefix(manifest.org.stackset_prefix + "-") for n in stacksets) or "-"
                )
                flag = "" if status == "ACTIVE" else f" ({status.lower()})"
                print(f"  {acct} {name}{flag}: {roles}")
        for acct, stackset in env.retained_stacks():
            print(f"retained stack of {stackset} in {acct} (no longer managed)")
    return EXIT_OK


def _serve(manifest: Manifest, state: Path, port: int) -> int:
    """Keep the --local organization (and moto) running on 127.0.0.1 for other tools, e.g.
    `generator deploy --endpoint-url`, until interrupted; the state is saved on the way out."""

    from pipeline.emulator.local import CODE_BUCKET, LocalEnvironment

    with LocalEnvironment(manifest, state, port=port) as env:
        env.clients().client("s3").create_bucket(Bucket=CODE_BUCKET)
        stop = threading.Event()
        # Background jobs of a non-interactive shell ignore SIGINT: stop on SIGTERM too.
        signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
        print(f"local AWS on {env.url} (bucket {CODE_BUCKET}); Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    print(f"stopped; state saved in {state}", file=sys.stderr)
    return EXIT_OK


def _move(org: Any, account: str, path: str) -> None:
    parents = org.list_parents(ChildId=account)["Parents"]
    target = org.list_roots()["Roots"][0]["Id"]
    for name in path.split("/")[1:]:
        units = org.list_organizational_units_for_parent(ParentId=target)["OrganizationalUnits"]
        match = [u["Id"] for u in units if u["Name"] == name]
        if not match:
            raise UsageError(f"no OU {path!r} in the local organization")
        target = match[0]
    org.move_account(AccountId=account, SourceParentId=parents[0]["Id"], DestinationParentId=target)
    print(f"moved {account} to {path}")
