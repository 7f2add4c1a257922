"""What `plan` and `sync` share: their options, the session they build (real AWS or --local), progress
lines and report printing."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from pipeline.aws.retry import Backoff, PollPolicy
from pipeline.cli.files import load_templates
from pipeline.common.cli import RootPath, add_aws_options
from pipeline.common.progress import Progress
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


class ProgressLines:
    """The sync's events on stderr unless --quiet: one line per operation step, and while `running()`, on a
    terminal only, one line redrawn below them: the operations ended out of the plan's, the seconds, and the
    latest step (pipeline.common.progress; nothing at all when stderr is not a terminal)."""

    def __init__(
        self,
        quiet: bool,
        stream: TextIO | None = None,
        clock: Callable[[], float] | None = None,
        columns: Callable[[], int] = lambda: shutil.get_terminal_size().columns,
    ) -> None:
        self.quiet = quiet
        self._stream = stream
        self._clock = clock
        self._columns = columns
        self._lock = threading.Lock()  # StackSets run in parallel: one whole line at a time
        self._line: Progress | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr  # pytest swaps sys.stderr

    def __call__(self, event: Event) -> None:
        with self._lock:
            line = self._line
            if event.ended:
                if line is not None:
                    line.advance(note=self._note(line, event))
                return
            if not self.quiet:
                if line is not None:
                    line.clear()
                self.stream.write(f"  {event.stackset}: {event.message}\n")
                self.stream.flush()
            if line is not None:
                line.advance(0, self._note(line, event))

    @contextlib.contextmanager
    def running(self, operations: int) -> Iterator[None]:
        if self.quiet:
            yield
            return
        clock = {"clock": self._clock} if self._clock is not None else {}
        with Progress("sync", total=operations, stream=self.stream, **clock) as line:
            self._line = line
            try:
                yield
            finally:
                with self._lock:
                    self._line = None

    def _note(self, line: Progress, event: Event) -> str:
        """The note after `sync: done/total`, cut to the terminal's width: a line that wraps cannot be
        redrawn in place."""
        note = f"operations, {line.elapsed():.0f} s; {event.stackset}: {event.message}"
        room = self._columns() - len(f"{line.label}: {line.done + 1}/{line.total} ") - 1
        return note if len(note) <= room else note[: max(0, room - 3)] + "..."


def progress(quiet: bool) -> ProgressLines:
    return ProgressLines(quiet)


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
