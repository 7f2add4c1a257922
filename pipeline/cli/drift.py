"""`python -m pipeline drift`: StackSet drift detection on every role StackSet, reported per OU and account
(which roles drifted and how); changes no role."""

from __future__ import annotations

import argparse
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from pipeline.aws.retry import Backoff, PollPolicy
from pipeline.cli.files import load_manifest
from pipeline.cli.options import DEFAULT_LOCAL_STATE, DEFAULT_MANIFEST, NO_WAIT
from pipeline.common.cli import add_aws_options
from pipeline.common.errors import EXIT_FAILED, EXIT_OK
from pipeline.core.drift import RENDERERS, DriftReport
from pipeline.core.manifest import Manifest


def add_parser(sub: Any) -> None:
    drift = sub.add_parser(
        "drift",
        help="detect roles changed outside the pipeline, per OU and account",
        description="Run StackSet drift detection on every role StackSet of the manifest (one operation per "
        "StackSet at a time), and stack drift detection on the management-account stack, and report, per OU and account, which roles drifted and which properties "
        "differ from the template. Changes no role.",
        epilog="Exit codes: 0 done (drift or none), 1 drift with --exit-code or a detection that failed, "
        "2 bad input or usage.",
    )
    drift.add_argument(
        "--manifest", default=DEFAULT_MANIFEST, help="the rendered manifest (default: %(default)s)"
    )
    add_aws_options(drift, region_help="StackSet administration region (default: the manifest's home region)")
    drift.add_argument(
        "--format", choices=sorted(RENDERERS), default="text", help="report format (default: text)"
    )
    drift.add_argument(
        "--local",
        action="store_true",
        help="no AWS account: the embedded local AWS (moto) on 127.0.0.1, kept in --local-state",
    )
    drift.add_argument(
        "--local-state",
        default=DEFAULT_LOCAL_STATE,
        help="--local's organization and StackSets (default: %(default)s)",
    )
    drift.add_argument("--exit-code", action="store_true", help="exit 1 when any role drifted (default: 0)")
    drift.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    drift.set_defaults(func=run)


def detect(clients: Any, manifest: Manifest, poll: PollPolicy, quiet: bool) -> DriftReport:
    from pipeline.aws.drift import detect_all
    from pipeline.aws.organizations import read_org

    backoff = Backoff()
    org = read_org(clients.organizations, backoff)
    lock = threading.Lock()  # StackSets are checked in parallel: one whole line at a time

    def emit(message: str) -> None:
        if not quiet:
            with lock:
                sys.stderr.write(f"  {message}\n")
                sys.stderr.flush()

    return detect_all(
        clients.cloudformation,
        manifest,
        org,
        run_id=str(uuid.uuid4()),
        poll=poll,
        backoff=backoff,
        on_event=emit,
    )


def run(args: argparse.Namespace) -> int:
    manifest = load_manifest(Path(args.manifest))
    region = args.region or manifest.org.home_region
    if args.local:
        from pipeline.emulator import environment

        with environment()(manifest, Path(args.local_state)) as env:
            report = detect(env.clients(region), manifest, NO_WAIT, args.quiet)
    else:
        from pipeline.aws.clients import make_clients

        clients = make_clients(region, profile=args.profile, endpoint_url=args.endpoint_url)
        report = detect(clients, manifest, PollPolicy(), args.quiet)
    sys.stdout.write(RENDERERS[args.format](report))
    if report.unfinished:
        return EXIT_FAILED
    return EXIT_FAILED if args.exit_code and report.has_drift else EXIT_OK
