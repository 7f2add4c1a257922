"""`python -m pipeline local ACTION [ARGS]`: inspect or change the --local organization (its OUs and
accounts, as Organizations would), start it over, or keep a local AWS running on 127.0.0.1 for other tools."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pipeline.cli.files import load_manifest
from pipeline.cli.options import DEFAULT_LOCAL_STATE, DEFAULT_MANIFEST
from pipeline.common.cli import RootPath
from pipeline.common.errors import EXIT_OK, UsageError
from pipeline.common.progress import Progress
from pipeline.core.manifest import Manifest

# `local serve` keeps its own organization, so a deploy against it never shows up in `plan --local`.
DEFAULT_SERVE_STATE = RootPath(".local-sync/serve.json")


@dataclass(frozen=True)
class Action:
    name: str
    arguments: tuple[str, ...]
    help: str


ACTIONS = (
    Action("show", (), "list every OU with its accounts and the roles each holds"),
    Action("move-account", ("ACCOUNT_ID", "OU_PATH"), "move an account to another OU"),
    Action("create-ou", ("OU_PATH",), "create an OU (its parent must exist), e.g. Root/Workloads/Test"),
    Action("rename-ou", ("OU_PATH", "NEW_NAME"), "rename an OU; its id, accounts and child OUs stay"),
    Action("delete-ou", ("OU_PATH",), "delete an empty OU (Organizations refuses one with accounts or OUs)"),
    Action("create-account", ("NAME", "OU_PATH"), "create an ACTIVE account with a new id in an OU"),
    Action(
        "edit-role",
        ("ACCOUNT_ID", "ROLE"),
        "change a deployed role by hand, as someone in that account would (--add-action ACTION): drift",
    ),
    Action(
        "fail-account",
        ("ACCOUNT_ID", "REASON"),
        "make every stack instance operation in that account fail with REASON (a canary wave that fails)",
    ),
    Action("heal-account", ("ACCOUNT_ID",), "undo fail-account: that account's operations succeed again"),
    Action("reset", (), "remove the state file: the next command starts a new organization"),
    Action("serve", (), "run the local AWS on 127.0.0.1:PORT until Ctrl-C or SIGTERM (own state file)"),
)
BY_NAME = {a.name: a for a in ACTIONS}
ACTION_PATTERN = re.compile(r"[a-z0-9-]+:[A-Za-z0-9*]+")


def add_parser(sub: Any) -> None:
    usages = {a.name: " ".join((a.name, *a.arguments)) for a in ACTIONS}
    width = max(map(len, usages.values()))
    listing = "\n".join(f"  {usages[a.name]:<{width}}  {a.help}" for a in ACTIONS)
    local = sub.add_parser(
        "local",
        help="inspect or change the --local organization, or serve it to other tools",
        description="The organization and StackSets `plan --local` and `sync --local` work on.",
        epilog=f"actions:\n{listing}\n\nExit codes: 0 success, 1 failure, 2 bad input or usage.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    local.add_argument(
        "action", choices=[a.name for a in ACTIONS], metavar="ACTION", help="what to do (see actions below)"
    )
    local.add_argument(
        "args", nargs="*", default=[], metavar="ARG", help="the action's arguments (see actions below)"
    )
    local.add_argument(
        "--manifest", default=DEFAULT_MANIFEST, help="the rendered manifest (default: %(default)s)"
    )
    local.add_argument(
        "--local-state",
        help=f"the state file (default: {DEFAULT_LOCAL_STATE}, shared with --local; serve: {DEFAULT_SERVE_STATE})",
    )
    local.add_argument(
        "--add-action",
        metavar="ACTION",
        help="edit-role: the IAM action to allow, e.g. s3:DeleteBucket (default: none; edit-role needs it)",
    )
    local.add_argument(
        "--port", type=int, default=4566, help="serve: the loopback port (default: %(default)s)"
    )
    # RootPath defaults are resolved against the repository root by the runner, like every other default.
    local.set_defaults(func=run, state_default=DEFAULT_LOCAL_STATE, serve_state_default=DEFAULT_SERVE_STATE)


def run(args: argparse.Namespace) -> int:
    from pipeline.emulator import environment

    action = BY_NAME[args.action]
    if len(args.args) != len(action.arguments):
        wanted = " ".join(action.arguments) or "no arguments"
        raise UsageError(f"local {action.name} takes {wanted} (got {len(args.args)} argument(s))")
    if (args.add_action is not None) != (action.name == "edit-role"):
        raise UsageError(
            "--add-action goes with edit-role, and edit-role needs it (e.g. --add-action s3:DeleteBucket)"
        )
    if args.add_action is not None and not ACTION_PATTERN.fullmatch(args.add_action):
        raise UsageError(
            f"--add-action {args.add_action!r} is not an IAM action (service:Action, e.g. s3:GetObject)"
        )
    default = args.serve_state_default if action.name == "serve" else args.state_default
    state = Path(args.local_state or default)
    if action.name == "reset":
        state.unlink(missing_ok=True)
        print(f"removed {state}")
        return EXIT_OK
    manifest = load_manifest(Path(args.manifest))
    local = environment()
    if action.name == "serve":
        return _serve(local, manifest, state, args.port)
    with local(manifest, state) as env:
        if action.name == "show":
            _show(env, manifest)
        elif action.name == "edit-role":
            account, role = args.args
            _edit_role(env, account, role, args.add_action)
        elif action.name in ("fail-account", "heal-account"):
            _fault(env, *args.args)
        else:
            org = Organization(env.clients().organizations)
            CHANGES[action.name](org, *args.args)
    return EXIT_OK


def _show(env: Any, manifest: Manifest) -> None:
    for path, accounts in env.accounts_by_ou().items():
        print(path)
        for acct, name, status, stacksets in accounts:
            roles = ", ".join(n.removeprefix(manifest.org.stackset_prefix + "-") for n in stacksets) or "-"
            flag = "" if status == "ACTIVE" else f" ({status.lower()})"
            print(f"  {acct} {name}{flag}: {roles}")
    for acct, stackset in env.retained_stacks():
        print(f"retained stack of {stackset} in {acct} (no longer managed)")


def _fault(env: Any, account: str, reason: str | None = None) -> None:
    """Fault injection in the emulator: the account's stack instances fail (FAILED, with the reason as
    StatusReason) until healed, as a broken account would in AWS."""
    known = {a for accounts in env.accounts_by_ou().values() for a, *_rest in accounts}
    if account not in known:
        raise UsageError(f"no account {account} in the local organization (`local show` lists them)")
    faults = env.service.fail_accounts
    if reason is None:
        if faults.pop(account, None) is None:
            raise UsageError(f"account {account} was not failing (local fail-account makes it fail)")
        print(f"account {account}: stack instance operations succeed again")
        return
    faults[account] = reason
    print(f"account {account}: stack instance operations now fail with {reason!r}")


def _edit_role(env: Any, account: str, role: str, action: str) -> None:
    """Allow one more action in the role's first inline policy (a new inline policy when it has none), with
    that account's own credentials (an assumed role), as a person editing it in the console would."""
    from pipeline.aws.clients import make_clients

    sts = env.clients().sts
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="edit-role"
    )["Credentials"]
    keys = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    iam = make_clients("us-east-1", component="local", endpoint_url=env.url, credentials=keys).client("iam")
    try:
        names = sorted(iam.list_role_policies(RoleName=role)["PolicyNames"])
    except iam.exceptions.NoSuchEntityException as exc:
        raise UsageError(f"no role {role} in account {account} of the local organization") from exc
    if names:
        policy = names[0]
        doc = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        doc = json.loads(unquote(doc)) if isinstance(doc, str) else doc
        statement = next(s for s in doc["Statement"] if s.get("Effect") == "Allow")
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [*actions, action]
    else:
        policy = "OutOfBand"
        doc = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": [action], "Resource": "*"}],
        }
    iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(doc))
    print(
        f"added {action} to inline policy {policy} of role {role} in account {account} (outside the pipeline)"
    )


def _serve(local: Any, manifest: Manifest, state: Path, port: int) -> int:
    """Keep the local organization (and moto) running on 127.0.0.1 for other tools, e.g.
    `generator deploy --endpoint-url`, until interrupted; the state is saved on the way out."""

    from pipeline.emulator.local import CODE_BUCKET

    starting = Progress("starting the local AWS")  # on a terminal only; moto takes seconds to import
    with starting, local(manifest, state, port=port) as env:
        env.clients().client("s3").create_bucket(Bucket=CODE_BUCKET)
        starting.finish()
        stop = threading.Event()
        # Background jobs of a non-interactive shell ignore SIGINT: stop on SIGTERM too.
        signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
        print(f"local AWS on {env.url} (bucket {CODE_BUCKET}); Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    print(f"stopped; state saved in {state}", file=sys.stderr)
    return EXIT_OK


class Organization:
    """The local organization's OUs by path, through the Organizations API of the local AWS."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def root(self) -> str:
        return str(self.client.list_roots()["Roots"][0]["Id"])

    def children(self, parent: str) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent)
        return [unit for page in pages for unit in page["OrganizationalUnits"]]

    def ou_id(self, path: str) -> str:
        parts = path.split("/")
        if parts[0] != "Root" or "" in parts:
            raise UsageError(f"{path!r} is not an OU path (Root/Name/...)")
        target = self.root()
        for name in parts[1:]:
            match = [u["Id"] for u in self.children(target) if u["Name"] == name]
            if not match:
                raise UsageError(f"no OU {path!r} in the local organization")
            target = match[0]
        return target

    def ou_below_root(self, path: str) -> str:
        if path == "Root":
            raise UsageError("the root is not an OU: it cannot be renamed or deleted")
        return self.ou_id(path)


def _move(org: Organization, account: str, path: str) -> None:
    client = org.client
    target = org.ou_id(path)
    parents = client.list_parents(ChildId=account)["Parents"]
    client.move_account(AccountId=account, SourceParentId=parents[0]["Id"], DestinationParentId=target)
    print(f"moved {account} to {path}")


def _create_ou(org: Organization, path: str) -> None:
    parent_path, _, name = path.rpartition("/")
    if not parent_path:
        raise UsageError(f"{path!r} is not an OU path below the root (Root/Name/...)")
    parent = org.ou_id(parent_path)
    try:
        unit = org.client.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]
    except org.client.exceptions.DuplicateOrganizationalUnitException as exc:
        raise UsageError(f"OU {path} already exists") from exc
    print(f"created OU {path} ({unit['Id']})")


def _rename_ou(org: Organization, path: str, new_name: str) -> None:
    unit = org.ou_below_root(path)
    renamed = f"{path.rpartition('/')[0]}/{new_name}"
    if "/" in new_name or not new_name:
        raise UsageError(f"{new_name!r} is not an OU name (a name, not a path)")
    try:
        org.client.update_organizational_unit(OrganizationalUnitId=unit, Name=new_name)
    except org.client.exceptions.DuplicateOrganizationalUnitException as exc:
        raise UsageError(f"OU {renamed} already exists") from exc
    print(f"renamed OU {path} to {renamed} ({unit})")


def _delete_ou(org: Organization, path: str) -> None:
    unit = org.ou_below_root(path)
    try:
        org.client.delete_organizational_unit(OrganizationalUnitId=unit)
    except org.client.exceptions.OrganizationalUnitNotEmptyException as exc:
        accounts = org.client.list_accounts_for_parent(ParentId=unit)["Accounts"]
        units = org.children(unit)
        raise UsageError(
            f"OU {path} is not empty ({len(accounts)} account(s), {len(units)} OU(s)): "
            "move its accounts and delete its OUs first, as Organizations requires"
        ) from exc
    print(f"deleted OU {path} ({unit})")


def _create_account(org: Organization, name: str, path: str) -> None:
    target = org.ou_id(path)
    status = org.client.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
    account = status["AccountId"]
    org.client.move_account(AccountId=account, SourceParentId=org.root(), DestinationParentId=target)
    print(f"created account {account} {name} in {path}")


CHANGES: dict[str, Callable[..., None]] = {
    "move-account": _move,
    "create-ou": _create_ou,
    "rename-ou": _rename_ou,
    "delete-ou": _delete_ou,
    "create-account": _create_account,
}
