"""`python -m pipeline sync`: apply the plan (after showing it and asking, unless --yes)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.cli.files import load_manifest
from pipeline.cli.options import ProgressLines, add_common, print_report, session
from pipeline.common.cli import INTERRUPTED
from pipeline.common.errors import EXIT_FAILED, EXIT_OK, UsageError
from pipeline.core.outcomes import BUSY_PREFIX, FAILED_PREFIX
from pipeline.core.report import Outcome, SyncReport


def add_parser(sub: Any) -> None:
    sync = sub.add_parser(
        "sync",
        help="apply the plan: create, update and remove StackSet instances",
        description="Show the plan, ask, then apply it: StackSets in parallel, each one's operations in "
        "order, progress on stderr, a report on stdout.",
        epilog="Exit codes: 0 success, 1 a failed operation, a deletion-guard stop or the question "
        "answered no, 2 bad input or usage (also: no terminal and no --yes), 130 interrupted (Ctrl-C: the "
        "operations still running in AWS are named; rerun with their --run-id to adopt them).",
    )
    add_common(sync)
    sync.add_argument(
        "--yes", action="store_true", help="apply without asking (default: ask; required without a terminal)"
    )
    sync.set_defaults(func=run)


def _confirm(count: int) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("sync changes AWS: confirm with --yes when not at a terminal")
    answer = input(f"Apply {count} operation(s)? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from pipeline.sync import apply_plan, plan_report, plan_sync

    manifest = load_manifest(Path(args.manifest))
    with session(args, manifest) as s:
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
        lines = s.on_event if isinstance(s.on_event, ProgressLines) else None
        running = lines.running(len(plan.ops)) if lines is not None else contextlib.nullcontext()
        with _interruptible(s) as interrupted, running:
            report = apply_plan(s, plan)
    print_report(report, args)
    if interrupted.is_set():
        print(_interrupted(report, s.run_id), file=sys.stderr)
        return INTERRUPTED
    return EXIT_OK if report.outcome == Outcome.SUCCESS else EXIT_FAILED


@contextlib.contextmanager
def _interruptible(s: Any) -> Iterator[threading.Event]:
    """The first Ctrl-C stops the sync at its next look at each running operation (the operations keep
    running in AWS: StackSet operations cannot be cancelled halfway) so it can say which; a second Ctrl-C
    stops at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers belong to the main thread (tests may call main() elsewhere)
        return

    def on_sigint(_sig: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            "interrupted: stopping at each StackSet's next status check (Ctrl-C again to quit now)",
            file=sys.stderr,
        )

    previous = signal.signal(signal.SIGINT, on_sigint)
    s.out_of_time = stop.is_set  # every lane then leaves its running operation as pending
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted(report: SyncReport, run_id: str) -> str:
    """One sentence: what still runs in AWS, and how to pick it up again."""
    running = ", ".join(
        f"{name} (stack {op.removeprefix('stack:')} updating)"
        if op.startswith("stack:")
        else f"{name} (operation {op})"
        for name, op in sorted(report.pending.items())
        if not op.startswith((BUSY_PREFIX, FAILED_PREFIX))  # not started, or already ended
    )
    if not running:
        return f"error: interrupted; no StackSet operation left running (run {run_id})"
    return (
        f"error: interrupted; still running in AWS: {running}; "
        f"rerun with `--run-id {run_id}` to adopt them instead of starting them again"
    )
