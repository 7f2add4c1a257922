"""Command line: `python -m generator render|lint|list ...`; main(argv) returns the exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator import __version__
from generator.blueprints import BLUEPRINTS
from generator.blueprints.base import Blueprint, RenderContext
from generator.errors import GeneratorError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


class UsageError(GeneratorError):
    """A command line argparse refused."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _context(args: argparse.Namespace) -> RenderContext:
    root = Path(args.root).resolve()
    return RenderContext(root=root, org_dir=Path(args.org))


def _out_dir(args: argparse.Namespace) -> Path:
    out = Path(args.out)
    return out if out.is_absolute() else Path(args.root).resolve() / out


def _selected(names: Sequence[str] | None) -> tuple[Blueprint, ...]:
    if not names:
        return BLUEPRINTS
    known = {b.name: b for b in BLUEPRINTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown blueprint '{unknown[0]}' (see `python -m generator list`)")
    return tuple(b for b in BLUEPRINTS if b.name in names)


def cmd_render(args: argparse.Namespace) -> int:
    from generator.render import check, render_all, write_atomically

    rendered = render_all(_context(args), _selected(args.only))
    out_dir = _out_dir(args)
    if args.check:
        result = check(out_dir, rendered)
        if result.clean:
            print(f"{args.out}: {len(rendered)} files up to date")
            return EXIT_OK
        for label, paths in (("stale", result.stale), ("missing", result.missing), ("extra", result.extra)):
            for path in paths:
                print(f"{label}: {Path(args.out) / path}")
        print(f"{args.out} is out of date: run `python -m generator render`", file=sys.stderr)
        return EXIT_FINDINGS
    write_atomically(out_dir, rendered)
    print(f"rendered {len(rendered)} files to {args.out}")
    return EXIT_OK


def cmd_lint(args: argparse.Namespace) -> int:
    from generator.lint.gate import FORMATTERS, lint_templates

    root = Path(args.root).resolve()
    if args.paths:
        paths = [Path(p).resolve() for p in args.paths]
        for p in paths:
            if not p.is_file():
                raise GeneratorError(f"{p}: no such template file")
    else:
        out_dir = _out_dir(args)
        if not out_dir.is_dir():
            raise GeneratorError(f"{args.out}: no such folder; run `python -m generator render` first")
        paths = sorted(out_dir.rglob("*.yaml"))
    findings = lint_templates(paths, root=root)
    sys.stdout.write(FORMATTERS[args.format](findings, len(paths)))
    return EXIT_FINDINGS if findings else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    if args.format == "json":
        data = [
            {"name": b.name, "description": b.description, "outputs": list(b.outputs), "source": b.source}
            for b in BLUEPRINTS
        ]
        print(json.dumps(data, indent=2))
        return EXIT_OK
    width = max(len(b.name) for b in BLUEPRINTS)
    for b in BLUEPRINTS:
        print(f"{b.name:<{width}}  {b.description}")
        for output in b.outputs:
            print(f"{'':<{width}}    templates/{output}")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from generator.org.explain import explain_ou, explain_role, format_ou, format_role
    from generator.org.loader import load_org

    ctx = _context(args)
    org = load_org(ctx.org_path, args.org)
    data = explain_ou(org, args.ou) if args.ou else explain_role(org, args.role)
    if args.format == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        sys.stdout.write(format_ou(data) if args.ou else format_role(data))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from generator.review.diff import diff_orgs
    from generator.review.report import format_json, format_markdown, format_text
    from generator.review.revisions import org_at

    root = Path(args.root).resolve()
    base, base_label = org_at(root, args.base, args.org)
    head, head_label = org_at(root, args.head, args.org)
    report = diff_orgs(base, head, base_label, head_label)
    if args.security_only:
        report = report.security_only()
    if args.format == "json":
        out = format_json(report)
    elif args.format == "markdown":
        out = format_markdown(report)
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR") and not args.output
        out = format_text(report, color=color)
    if args.output:
        Path(args.output).write_text(out, encoding="utf-8")
    else:
        sys.stdout.write(out)
    return EXIT_FINDINGS if args.exit_code and not report.empty else EXIT_OK


def cmd_package(args: argparse.Namespace) -> int:
    from generator.package import package_lambda

    root = Path(args.root).resolve()
    out = Path(args.out) if Path(args.out).is_absolute() else root / args.out
    result = package_lambda(root, out)
    print(f"{args.out}: {result.files} files, {result.size} bytes, sha256 {result.sha256}")
    if args.upload:
        from botocore.exceptions import BotoCoreError, ClientError

        # Content-addressed key: new code gets a new key, so CloudFormation sees the change.
        key = f"org-sync-lambda-{result.sha256[:16]}.zip"
        try:
            _aws_client(args, "s3").put_object(Bucket=args.upload, Key=key, Body=out.read_bytes())
        except (ClientError, BotoCoreError) as exc:
            raise GeneratorError(f"upload to s3://{args.upload}/{key} failed: {exc}") from exc
        print(
            f"uploaded s3://{args.upload}/{key} (deploy with --parameter SyncCodeBucket={args.upload} "
            f"--parameter SyncCodeKey={key})"
        )
    return EXIT_OK


def _resolve_template(out_dir: Path, name: str) -> tuple[Path, str]:
    """NAME may be a path under templates/ ('org/pipeline'), or that path with '-' for '/' ('org-pipeline')."""
    candidates = sorted(out_dir.rglob("*.yaml"))
    by_name = {p.relative_to(out_dir).with_suffix("").as_posix(): p for p in candidates}
    by_stack = {k.replace("/", "-"): p for k, p in by_name.items()}
    path = by_name.get(name.removesuffix(".yaml")) or by_stack.get(name)
    if path is None:
        names = ", ".join(sorted(by_stack))
        raise UsageError(f"no rendered template named '{name}' in {out_dir.name}/ (choose from: {names})")
    return path, path.relative_to(out_dir).with_suffix("").as_posix().replace("/", "-")


def cmd_deploy(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from generator.deploy import DeployError, deploy

    template, default_stack = _resolve_template(_out_dir(args), args.name)
    stack_name = args.stack_name or default_stack
    given = {}
    for item in args.parameter or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--parameter takes KEY=VALUE, not '{item}'")
        given[key] = value

    def confirm(changes: Sequence[object]) -> bool:
        print(f"change set for {stack_name}: {len(changes)} change(s)")
        for change in changes:
            print(f"  {change}")
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("refusing to execute without --yes: standard input is not a terminal")
        return input("execute this change set? [y/N] ").strip().lower() in ("y", "yes")

    try:
        outcome = deploy(
            _aws_client(args, "cloudformation"),
            stack_name,
            template.read_text("utf-8"),
            given,
            confirm,
            progress=lambda line: print(f"  {line}", flush=True),
            poll_seconds=args.poll_seconds,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise DeployError(f"{error.get('Code', 'Error')}: {error.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise GeneratorError(f"AWS: {exc}") from exc
    messages = {
        "NO_CHANGES": f"{stack_name}: no changes",
        "DECLINED": f"{stack_name}: change set not executed",
        "EXECUTED": f"{stack_name}: deployed",
    }
    print(messages[outcome.status])
    return EXIT_OK


def _aws_client(args: argparse.Namespace, service: str) -> Any:
    """The one place the generator builds AWS clients: --profile, --region, --endpoint-url, one Config."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 8}, user_agent_extra="org-stacksets-generator/1"
    )
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    return session.client(service, endpoint_url=args.endpoint_url, config=config)


def _add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="AWS profile (default: the usual AWS environment)")
    parser.add_argument("--region", help="AWS region (default: the profile's or AWS_REGION)")
    parser.add_argument(
        "--endpoint-url", help="send AWS calls here instead (for example a local moto server)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m generator",
        description="Render, lint and review the CloudFormation templates of this repository.",
        epilog="Exit codes: 0 success, 1 findings (stale templates, lint findings), 2 bad input or usage.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--root", default=".", help="repository root (default: the current folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    render = sub.add_parser(
        "render",
        help="render every blueprint to templates/",
        description=(
            "Render every blueprint deterministically into the output folder. Nothing is written unless "
            "everything renders; the folder is replaced as a whole."
        ),
    )
    render.add_argument("--out", default="templates", help="output folder (default: templates)")
    render.add_argument("--org", default="org_roles", help="organization folder (default: org_roles)")
    render.add_argument(
        "--only",
        action="append",
        metavar="BLUEPRINT",
        help="render only this blueprint (repeatable); the folder then holds just its files",
    )
    render.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing stale, missing and extra files"
    )
    render.set_defaults(func=cmd_render)

    lint = sub.add_parser(
        "lint",
        help="validate rendered templates with cfn-lint and the project rules",
        description="Run cfn-lint (with informational checks) and the project's own "
        "rules over every rendered template in one process.",
    )
    lint.add_argument("paths", nargs="*", help="template files (default: every .yaml under --out)")
    lint.add_argument("--out", default="templates", help="folder of rendered templates (default: templates)")
    lint.add_argument(
        "--format",
        choices=sorted(("text", "json", "sarif")),
        default="text",
        help="output format (default: text)",
    )
    lint.set_defaults(func=cmd_lint)

    explain = sub.add_parser(
        "explain",
        help="show the effective roles at an OU, or the OUs a role reaches, and where each comes from",
        description="Explain inheritance in org_roles/: which roles reach an OU and from which ou.yaml, "
        "or which OUs a role reaches, with every parameter value and the file it comes from.",
    )
    target = explain.add_mutually_exclusive_group(required=True)
    target.add_argument("--ou", help="OU path by name, e.g. Root/Workloads/Prod")
    target.add_argument("--role", help="role name from org_roles/roles/")
    explain.add_argument("--org", default="org_roles", help="organization folder (default: org_roles)")
    explain.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    explain.set_defaults(func=cmd_explain)

    diff = sub.add_parser(
        "diff",
        help="per-OU IAM diff of org_roles/ between two git revisions or folders (no AWS needed)",
        description="Compare org_roles/ at two revisions: per OU, roles added, removed or changed "
        "(inherited effects included), with statement-level trust and permission changes, graded "
        "broadened, narrowed or neutral.",
    )
    diff.add_argument("--base", required=True, help="git revision or folder to compare from")
    diff.add_argument("--head", help="git revision or folder to compare to (default: the working tree)")
    diff.add_argument("--org", default="org_roles", help="organization folder (default: org_roles)")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="output format")
    diff.add_argument("--security-only", action="store_true", help="show only changes that broaden access")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when there are changes, 0 when none")
    diff.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    diff.set_defaults(func=cmd_diff)

    package = sub.add_parser(
        "package",
        help="build the sync Lambda zip reproducibly and print its sha256 and size",
        description="Zip pipeline/ with sorted entries, fixed timestamps and permissions: identical bytes "
        "on every run for the same sources.",
    )
    package.add_argument(
        "--out", default="dist/org-sync-lambda.zip", help="zip to write (default: %(default)s)"
    )
    package.add_argument("--upload", metavar="BUCKET", help="also upload the zip to this S3 bucket")
    _add_aws_options(package)
    package.set_defaults(func=cmd_package)

    deploy = sub.add_parser(
        "deploy",
        help="create or update a stack from a rendered template through a change set",
        description="Create or update a stack from a rendered template through a change set: shows the "
        "change set, asks before executing unless --yes, waits with progress and explains failures.",
    )
    deploy.add_argument("name", help="rendered template, e.g. org-pipeline (templates/org/pipeline.yaml)")
    deploy.add_argument("--stack-name", help="stack name (default: the template name, e.g. org-pipeline)")
    deploy.add_argument(
        "--parameter", action="append", metavar="KEY=VALUE", help="parameter value (repeatable)"
    )
    deploy.add_argument("--yes", action="store_true", help="execute the change set without asking")
    deploy.add_argument(
        "--out", default="templates", help="folder of rendered templates (default: templates)"
    )
    deploy.add_argument("--poll-seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    _add_aws_options(deploy)
    deploy.set_defaults(func=cmd_deploy)

    lst = sub.add_parser(
        "list",
        help="list blueprints and the templates they render",
        description="Every blueprint with a one-line description and its templates.",
    )
    lst.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_BAD_INPUT
        return int(args.func(args))
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_BAD_INPUT
    except GeneratorError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep Python's exit flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FINDINGS
