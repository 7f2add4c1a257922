"""What `plan` and `sync` share: their options, the session they build (real AWS or --local), progress
lines and report printing."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipeline.aws.retry import Backoff, PollPolicy
from pipeline.cli.files import load_templates
from pipeline.common.cli import RootPath, add_aws_options
from pipeline.core.manifest import Manifest
from pipeline.core.outcomes import Event
from pipeline.core.report import RENDERERS, SyncReport, render_text

NO_WAIT = PollPolicy(initial=0, maximum=0, factor=1, max_polls=500, sleep=lambda _s: None)
# Defaults against the repository root, from any subfolder (the runner resolves them); typed paths are
# relative to the current folder.
DEFAULT_MANIFEST = RootPath("templates/org/manifest.json")
DEFAULT_LOCAL_STATE = RootPath(".local-sync/state.json")
DEFAULT_TEMPLATES = RootPath("templates")


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--manifest", default=DEFAULT_MANIFEST, help="the rendered manifest (default: %(default)s)"
    )
    p.add_argument(
        "--templates",
        metavar="DIR",
        default=DEFAULT_TEMPLATES,
        help="folder the manifest's template paths are in (default: %(default)s)",
    )
    add_aws_options(p, region_help="StackSet administration region (default: the manifest's home region)")
    p.add_argument(
        "--format", choices=sorted(RENDERERS), default="text", help="report format (default: text)"
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="no AWS account: run against an embedded local AWS (moto) on 127.0.0.1, kept in --local-state; "
        "needs the local extras (pip install -e '.[local]')",
    )
    p.add_argument(
        "--local-state",
        default=DEFAULT_LOCAL_STATE,
        help="--local's organization and StackSets (default: %(default)s; reset: `local reset`)",
    )
    p.add_argument(
        "--run-id",
        help="resume a crashed or interrupted run with its id: adopts the operations it started (default: a new id)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines on stderr (default: one line per operation step)",
    )
    p.add_argument(
        "--all-ous", action="store_true", help="list every OU in the report (default: only OUs with news)"
    )


def progress(quiet: bool) -> Callable[[Event], None]:
    lock = threading.Lock()  # StackSets run in parallel: one whole line at a time

    def emit(event: Event) -> None:
        if not quiet:
            with lock:
                sys.stderr.write(f"  {event.stackset}: {event.message}\n")
                sys.stderr.flush()

    return emit


@contextlib.contextmanager
def session(args: argparse.Namespace, manifest: Manifest) -> Iterator[Any]:
    from pipeline.aws.clients import make_clients
    from pipeline.sync import SyncSession

    templates = load_templates(manifest, Path(args.templates))
    region = args.region or manifest.org.home_region
    extra: dict[str, Any] = {}
    if args.run_id:
        extra["run_id"] = args.run_id
    if args.local:
        from pipeline.emulator import environment

        local = environment()
        with local(manifest, Path(args.local_state)) as env:
            if env.created and not args.quiet:
                print(f"--local: new organization in {args.local_state} (moto on {env.url})", file=sys.stderr)
            clients = env.clients(region)
            yield SyncSession(
                manifest, templates, clients, poll=NO_WAIT, on_event=progress(args.quiet), **extra
            )
        return
    clients = make_clients(region, profile=args.profile, endpoint_url=args.endpoint_url)
    yield SyncSession(manifest, templates, clients, backoff=Backoff(), on_event=progress(args.quiet), **extra)


def print_report(report: SyncReport, args: argparse.Namespace) -> None:
    if args.format == "text":
        sys.stdout.write(render_text(report, all_ous=args.all_ous))
    else:
        sys.stdout.write(RENDERERS[args.format](report))
