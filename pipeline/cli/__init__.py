"""Command line: `python -m pipeline plan|sync|local ...`; main(argv) returns the exit code.

Exit codes: 0 success (or no changes), 1 failure, changes with --exit-code, or a guard stop, 2 bad input or
usage. Errors are one sentence on stderr; --debug shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipeline.aws.retry import Backoff, PollPolicy
from pipeline.core.errors import SyncError
from pipeline.core.guard import check
from pipeline.core.manifest import Manifest, load_manifest, load_templates
from pipeline.core.outcomes import Event
from pipeline.core.report import RENDERERS, SyncReport, render_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
NO_WAIT = PollPolicy(initial=0, maximum=0, factor=1, max_polls=500, sleep=lambda _s: None)


class UsageError(SyncError):
    """A command line argparse refused."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", default="templates/org/manifest.json", help="the rendered manifest")
    p.add_argument("--templates", default="templates", help="folder the manifest's template paths are in")
    p.add_argument("--profile", help="AWS profile (default: the usual AWS environment)")
    p.add_argument("--region", help="StackSet administration region (default: the manifest's home region)")
    p.add_argument("--endpoint-url", help="send every AWS call here (an emulator, a VPC endpoint)")
    p.add_argument(
        "--format", choices=sorted(RENDERERS), default="text", help="report format (default: text)"
    )
    p.add_argument("--local", action="store_true", help="run against an embedded moto server, no AWS account")
    p.add_argument("--local-state", default=".local-sync/state.json", help="--local's state file")
    p.add_argument("--run-id", help="resume a crashed run with its id (default: a new id)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--all-ous", action="store_true", help="list every OU, not only those with news")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m pipeline",
        description="Reconcile the live OU tree onto CloudFormation StackSets, as the manifest describes.",
        epilog="Exit codes: 0 success, 1 failure (or changes with --exit-code), 2 bad input or usage.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    plan = sub.add_parser("plan", help="show what a sync would do; changes nothing")
    _common(plan)
    plan.add_argument("--exit-code", action="store_true", help="exit 1 when the plan has changes")
    plan.add_argument(
        "--security-only", action="store_true", help="IAM diff: only the changes that broaden access"
    )
    plan.add_argument(
        "--show-accounts", action="store_true", help="list the account ids each OU's IAM changes reach"
    )
    sync = sub.add_parser("sync", help="apply the plan: create, update and remove StackSet instances")
    _common(sync)
    sync.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    local = sub.add_parser("local", help="inspect or change the --local organization")
    local.add_argument("action", choices=["show", "move-account", "reset", "serve"])
    local.add_argument("args", nargs="*", help="move-account: ACCOUNT_ID OU_PATH")
    local.add_argument("--manifest", default="templates/org/manifest.json")
    local.add_argument("--local-state", default=".local-sync/state.json")
    local.add_argument(
        "--port", type=int, default=4566, help="serve: the loopback port (default: %(default)s)"
    )
    return parser


def _progress(quiet: bool) -> Any:
    lock = threading.Lock()  # StackSets run in parallel: one whole line at a time

    def emit(event: Event) -> None:
        if not quiet:
            with lock:
                sys.stderr.write(f"  {event.stackset}: {event.message}\n")
                sys.stderr.flush()

    return emit


@contextlib.contextmanager
def _session(args: argparse.Namespace, manifest: Manifest) -> Iterator[Any]:
    from pipeline.aws.clients import make_clients
    from pipeline.sync import SyncSession

    templates = load_templates(manifest, Path(args.templates))
    region = args.region or manifest.org.home_region
    extra: dict[str, Any] = {}
    if args.run_id:
        extra["run_id"] = args.run_id
    if args.local:
        from pipeline.emulator.local import CREDENTIALS, LocalEnvironment

        with LocalEnvironment(manifest, Path(args.local_state)) as env:
            if env.created and not args.quiet:
                print(f"--local: new organization in {args.local_state} (moto on {env.url})", file=sys.stderr)
            clients = make_clients(
                region, endpoint_url=env.url, credentials=CREDENTIALS, retry_mode="standard", max_attempts=3
            )
            yield SyncSession(
                manifest, templates, clients, poll=NO_WAIT, on_event=_progress(args.quiet), **extra
            )
        return
    # AWS_MAX_ATTEMPTS is botocore's own setting; honour it over our default of 10.
    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS", "10"))
    clients = make_clients(
        region, profile=args.profile, endpoint_url=args.endpoint_url, max_attempts=attempts
    )
    yield SyncSession(
        manifest, templates, clients, backoff=Backoff(), on_event=_progress(args.quiet), **extra
    )


def _print(report: SyncReport, args: argparse.Namespace) -> None:
    if args.format == "text":
        sys.stdout.write(render_text(report, all_ous=args.all_ous))
    else:
        sys.stdout.write(RENDERERS[args.format](report))


def cmd_plan(args: argparse.Namespace) -> int:
    from pipeline.cli.review import render_plan, review_session
    from pipeline.sync import plan_report, plan_sync

    manifest = load_manifest(Path(args.manifest))
    with _session(args, manifest) as s:
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


def _confirm(count: int) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("sync changes AWS: confirm with --yes when not at a terminal")
    answer = input(f"Apply {count} operation(s)? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def cmd_sync(args: argparse.Namespace) -> int:
    from pipeline.sync import apply_plan, plan_report, plan_sync

    manifest = load_manifest(Path(args.manifest))
    with _session(args, manifest) as s:
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
    _print(report, args)
    return EXIT_OK if report.outcome == "success" else EXIT_FAILED


def cmd_local(args: argparse.Namespace) -> int:
    from pipeline.emulator.local import CREDENTIALS, LocalEnvironment

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
            _move(env.url, CREDENTIALS, *args.args)
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
    import threading

    import boto3

    from pipeline.emulator.local import CODE_BUCKET, CREDENTIALS, LocalEnvironment

    with LocalEnvironment(manifest, state, port=port) as env:
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=env.url, **CREDENTIALS)
        s3.create_bucket(Bucket=CODE_BUCKET)
        stop = threading.Event()
        # Background jobs of a non-interactive shell ignore SIGINT: stop on SIGTERM too.
        signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
        print(f"local AWS on {env.url} (bucket {CODE_BUCKET}); Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    print(f"stopped; state saved in {state}", file=sys.stderr)
    return EXIT_OK


def _move(url: str, credentials: dict[str, str], account: str, path: str) -> None:
    import boto3

    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=url, **credentials)
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


COMMANDS = {"plan": cmd_plan, "sync": cmd_sync, "local": cmd_local}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_usage(sys.stderr)
            return EXIT_USAGE
        return COMMANDS[args.command](args)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except SyncError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if debug:
            raise
        return _aws_error(exc)


def _aws_error(exc: Exception) -> int:
    """botocore errors as one sentence: credentials and endpoints are usage problems, the rest failures."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

    if isinstance(exc, NoCredentialsError | ProfileNotFound):
        print(f"error: {exc} (set AWS_PROFILE, pass --profile, or try --local)", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        print(
            f"error: AWS refused {exc.operation_name}: {err.get('Code')}: {err.get('Message')}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if isinstance(exc, BotoCoreError):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    raise exc
