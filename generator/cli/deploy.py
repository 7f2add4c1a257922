"""`python -m generator deploy NAME`: create or update a stack from a rendered template through a change set."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator.cli.options import aws_client
from generator.errors import GeneratorError
from pipeline.common.cli import RootPath, add_aws_options, input_folder
from pipeline.common.errors import EXIT_OK, UsageError
from pipeline.common.progress import Progress


def add_parser(sub: Any) -> None:
    deploy = sub.add_parser(
        "deploy",
        help="create or update a stack from a rendered template through a change set",
        description="Create or update a stack from a rendered template through a change set: shows the "
        "change set, asks before executing unless --yes, waits with progress and explains failures.",
    )
    deploy.add_argument(
        "name",
        metavar="NAME",
        help="a blueprint from `list` that renders one template (ecs-web-service), or a rendered template's "
        "path under --templates, with / or - (app/ecs-web-service, app-ecs-web-service)",
    )
    deploy.add_argument(
        "--stack-name",
        help="stack name (default: the template's path with - for /, e.g. app-ecs-web-service)",
    )
    deploy.add_argument(
        "--parameter", action="append", metavar="KEY=VALUE", help="parameter value (repeatable)"
    )
    deploy.add_argument("--yes", action="store_true", help="execute the change set without asking")
    deploy.add_argument(
        "--templates",
        metavar="DIR",
        default=RootPath("templates"),
        help="folder of rendered templates (default: templates)",
    )
    deploy.add_argument("--poll-seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    add_aws_options(deploy)
    deploy.set_defaults(func=run)


def _resolve_template(out_dir: Path, name: str) -> tuple[Path, str]:
    """NAME may be a blueprint that renders one template ('ecs-web-service', as `list` shows), a path under
    templates/ ('app/ecs-web-service', with or without .yaml), or that path with '-' for '/'."""
    from generator.blueprints import BLUEPRINTS

    candidates = sorted(out_dir.rglob("*.yaml"))
    by_name = {p.relative_to(out_dir).with_suffix("").as_posix(): p for p in candidates}
    by_stack = {k.replace("/", "-"): p for k, p in by_name.items()}
    by_blueprint = {
        b.name: out_dir / b.outputs[0]
        for b in BLUEPRINTS
        if len(b.outputs) == 1 and (out_dir / b.outputs[0]).is_file()
    }
    key = name.removeprefix("templates/").removesuffix(".yaml")
    path = by_name.get(key) or by_stack.get(name) or by_blueprint.get(name)
    if path is None:
        names = ", ".join(sorted(by_stack))
        raise UsageError(f"no rendered template named '{name}' in {out_dir.name}/ (choose from: {names})")
    return path, path.relative_to(out_dir).with_suffix("").as_posix().replace("/", "-")


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from generator.deploy import DeployError, deploy

    template, default_stack = _resolve_template(input_folder(Path(args.templates), "--templates"), args.name)
    stack_name = args.stack_name or default_stack
    given = {}
    for item in args.parameter or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--parameter takes KEY=VALUE, not '{item}'")
        given[key] = value

    waiting = Progress(f"deploying {stack_name}")  # on a terminal only: the seconds and the status

    def confirm(changes: Sequence[object]) -> bool:
        waiting.clear()
        print(f"change set for {stack_name}: {len(changes)} change(s)")
        for change in changes:
            print(f"  {change}")
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("refusing to execute without --yes: standard input is not a terminal")
        return input("execute this change set? [y/N] ").strip().lower() in ("y", "yes")

    def event(line: str) -> None:
        waiting.clear()
        print(f"  {line}", flush=True)

    try:
        with waiting:
            outcome = deploy(
                aws_client(args, "cloudformation"),
                stack_name,
                template.read_text("utf-8"),
                given,
                confirm,
                progress=event,
                poll_seconds=args.poll_seconds,
                waiting=lambda status: waiting.advance(note=status),
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
