"""Render every blueprint to bytes in memory, compare with a folder, and replace a folder atomically.

How `write_atomically` keeps the output folder (say templates/) whole, whatever interrupts it:

1. A lock: `fcntl.flock` on `.templates.lock` beside the folder serializes renders; a second render
   waits (saying which process holds the lock) and gives up after a timeout, naming that process.
2. Recovery: under the lock, leftovers of an interrupted run are dealt with first: a folder missing next
   to a `.templates.old-*` sibling (a run killed between the two renames of step 5's fallback) is renamed
   back, then every `.templates.new-*` and `.templates.old-*` sibling is removed.
3. Refusals, before anything is written: a folder this generator did not write (no index.json of ours),
   files in it that the previous index.json does not list (someone else's; named, never deleted), and a
   read-only folder or parent.
4. Staging: the new tree is written to a sibling `.templates.new-*` on the same filesystem.
5. The swap, one step: on Linux, renameat2(RENAME_EXCHANGE) exchanges the two names atomically, so the
   path holds the old tree or the new one under any signal, even SIGKILL or a power cut
   (https://man7.org/linux/man-pages/man2/rename.2.html). POSIX itself has no atomic swap of two
   folders; where renameat2 is missing (other systems, filesystems without it), the folder is renamed
   to `.templates.old-*` and the staging folder to its name with SIGINT and SIGTERM blocked in between,
   so a signal arrives only once the new tree is in place, and step 2 repairs a SIGKILL in that window.
6. The old tree (now the staging name, or `.old-*`) is removed; if that is interrupted, step 2 of the
   next run removes it.

SIGTERM during a write is turned into KeyboardInterrupt, so it cleans up as Ctrl-C does. A hook,
`step(name)`, is called between the steps (tests send signals there).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from troposphere import Template

from generator.blueprints.base import Blueprint, JsonDocument, RenderContext
from generator.errors import GeneratorError, OutputError
from generator.output import dump_json, dump_yaml, header_lines

INDEX_FILE = "index.json"
GENERATOR_ID = "org-stacksets generator"
LOCK_TIMEOUT = 120.0  # seconds a render waits for another one before giving up
Step = Callable[[str], None]


@dataclass(frozen=True)
class CheckResult:
    stale: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def _to_bytes(blueprint: Blueprint, path: str, doc: Template | JsonDocument | bytes) -> bytes:
    if isinstance(doc, bytes):
        return doc  # already serialised by the blueprint (it needed the bytes, e.g. for a sha256)
    if isinstance(doc, JsonDocument):
        return dump_json(doc.data)
    if not path.endswith((".yaml", ".yml")):
        raise GeneratorError(f"blueprint '{blueprint.name}' rendered a template to '{path}', not .yaml")
    return dump_yaml(doc.to_dict(), header_lines(blueprint.name, blueprint.source))


def render_all(ctx: RenderContext, blueprints: Iterable[Blueprint]) -> dict[str, bytes]:
    """Every output file as bytes, keyed by POSIX path relative to the output folder, plus index.json."""
    files: dict[str, bytes] = {}
    owners: dict[str, str] = {}
    for blueprint in blueprints:
        for path, doc in blueprint.build(ctx).items():
            if path in files:
                raise GeneratorError(
                    f"blueprints '{owners[path]}' and '{blueprint.name}' both render '{path}'"
                )
            files[path] = _to_bytes(blueprint, path, doc)
            owners[path] = blueprint.name
    index = {
        "generated_by": GENERATOR_ID,
        "files": {
            path: {"blueprint": owners[path], "sha256": hashlib.sha256(data).hexdigest()}
            for path, data in sorted(files.items())
        },
    }
    files[INDEX_FILE] = dump_json(index)
    return dict(sorted(files.items()))


def _existing_files(out_dir: Path) -> dict[str, Path]:
    if not out_dir.is_dir():
        return {}
    return {
        p.relative_to(out_dir).as_posix(): p
        for p in sorted(out_dir.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def check(out_dir: Path, rendered: Mapping[str, bytes]) -> CheckResult:
    """Compare a fresh render with a folder: files that differ, are missing, or should not be there."""
    existing = _existing_files(out_dir)
    stale = tuple(p for p, data in rendered.items() if p in existing and existing[p].read_bytes() != data)
    missing = tuple(p for p in rendered if p not in existing)
    extra = tuple(p for p in existing if p not in rendered)
    return CheckResult(stale=stale, missing=missing, extra=extra)


def _no_step(_name: str) -> None:
    pass


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _siblings(out_dir: Path, kind: str) -> list[Path]:
    return sorted(out_dir.parent.glob(f".{out_dir.name}.{kind}-*"))


@contextlib.contextmanager
def _locked(out_dir: Path, timeout: float, say: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive flock on `.NAME.lock` beside out_dir; wait for another holder up to `timeout`.

    The lock file stays (deleting it would let a waiter lock an unlinked file while a third process
    creates a new one); it holds the pid of the last holder, for the waiting message."""
    import fcntl

    lock = out_dir.parent / f".{out_dir.name}.lock"
    with lock.open("a+", encoding="utf-8") as handle:
        deadline = time.monotonic() + timeout
        waiting = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                if time.monotonic() >= deadline:
                    raise OutputError(
                        f"another render (pid {holder}) still holds {lock} after {timeout:g} s; "
                        "try again when it has finished"
                    ) from None
                if not waiting:
                    say(f"waiting for another render (pid {holder}) to finish writing {out_dir.name}/")
                    waiting = True
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _recover(out_dir: Path) -> None:
    """Undo what an interrupted run left (we hold the lock: nobody else is writing)."""
    olds = _siblings(out_dir, "old")
    if not out_dir.exists() and olds:
        olds[-1].rename(out_dir)  # killed between the fallback's two renames: the old tree goes back
    for leftover in _siblings(out_dir, "old") + _siblings(out_dir, "new"):
        shutil.rmtree(leftover, ignore_errors=True)


def _read_only(path: Path) -> bool:
    """No write bit at all counts as read-only even for root, who may write anyway: the owner said so."""
    return path.exists() and not (path.stat().st_mode & 0o222 and os.access(path, os.W_OK))


def _previous_index(out_dir: Path) -> dict[str, dict[str, str]] | None:
    """The files of out_dir's index.json as written by this generator; None when there is no such index."""
    try:
        index = json.loads((out_dir / INDEX_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(index, dict) or index.get("generated_by") != GENERATOR_ID:
        return None
    files = index.get("files")
    return files if isinstance(files, dict) else {}


def _refuse_unsafe(out_dir: Path) -> None:
    """Raise OutputError unless out_dir may be replaced: ours (or new or empty), no foreign file, writable."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} is a file, not a folder; --out takes a folder")
    for path in (out_dir.parent, out_dir):
        if _read_only(path):
            raise OutputError(f"{path} is read-only; make it writable or render elsewhere with --out")
    existing = _existing_files(out_dir)
    if not existing:
        return
    previous = _previous_index(out_dir)
    if previous is None:
        raise OutputError(
            f"{out_dir} exists and was not written by `generator render` (no {INDEX_FILE} of ours); "
            "choose an empty or new folder"
        )
    foreign = [p for p in existing if p != INDEX_FILE and p not in previous]
    if foreign:
        raise OutputError(
            f"{out_dir} holds files render did not write ({', '.join(foreign)}); move them away or "
            "render elsewhere with --out"
        )


def keep_others(out_dir: Path, rendered: Mapping[str, bytes], only: Collection[str]) -> dict[str, bytes]:
    """`render --only`: the selected blueprints' new files plus every other blueprint's files as the
    folder holds them (per its index.json), with one index listing both."""
    previous = _previous_index(out_dir) or {}
    files = {p: d for p, d in rendered.items() if p != INDEX_FILE}
    entries = json.loads(rendered[INDEX_FILE])["files"]
    for path, entry in previous.items():
        source = out_dir / path
        if entry.get("blueprint") not in only and path not in files and source.is_file():
            files[path] = source.read_bytes()
            entries[path] = entry
    index = {"generated_by": GENERATOR_ID, "files": dict(sorted(entries.items()))}
    files[INDEX_FILE] = dump_json(index)
    return dict(sorted(files.items()))


def _stage(out_dir: Path, rendered: Mapping[str, bytes], step: Step) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    try:
        staging.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the folder should look like any other
        for n, (rel, data) in enumerate(rendered.items()):
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if n == 0:
                step("staging")
        step("staged")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


RENAME_EXCHANGE = 2  # linux/fs.h
AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2); False where the system cannot."""
    func = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if func is None:
        return False
    if func(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a pending signal is delivered here


def _swap(out_dir: Path, staging: Path, step: Step, exchange: bool) -> Path | None:
    """Put staging at out_dir in one step; return where the old tree now is (None if there was none)."""
    if not out_dir.exists():
        staging.rename(out_dir)
        step("swapped")
        return None
    if exchange and _exchange(staging, out_dir):
        step("swapped")
        return staging
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    with _signals_blocked():
        out_dir.rename(old)
        step("moved-old")
        try:
            staging.rename(out_dir)
        except OSError:
            old.rename(out_dir)
            raise
    step("swapped")
    return old


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while writing, so it cleans up as Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_atomically(
    out_dir: Path,
    rendered: Mapping[str, bytes],
    *,
    only: Collection[str] | None = None,
    step: Step = _no_step,
    exchange: bool = True,
    lock_timeout: float = LOCK_TIMEOUT,
    say: Callable[[str], None] = _say,
) -> None:
    """Replace out_dir with exactly `rendered` (with `only`, just those blueprints' files: see keep_others),
    atomically, under a lock, after cleaning what an interrupted run left (see the module docstring).

    Refuses (OutputError, nothing changed) a folder this generator did not write, files in it the previous
    index.json does not list, and a read-only folder or parent."""
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} is a file, not a folder; --out takes a folder")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out_dir.parent}: {exc.strerror}") from None
    if _read_only(out_dir.parent):
        raise OutputError(f"{out_dir.parent} is read-only; make it writable or render elsewhere with --out")
    try:
        _write_locked(out_dir, rendered, only, step, exchange, lock_timeout, say)
    except OSError as exc:  # for example a full disk: the folder is still the old tree
        where = f" ({exc.filename})" if exc.filename else ""
        raise OutputError(f"cannot write {out_dir}: {exc.strerror or exc}{where}") from exc


def _write_locked(
    out_dir: Path,
    rendered: Mapping[str, bytes],
    only: Collection[str] | None,
    step: Step,
    exchange: bool,
    lock_timeout: float,
    say: Callable[[str], None],
) -> None:
    with _sigterm_interrupts(), _locked(out_dir, lock_timeout, say):
        step("locked")
        _recover(out_dir)
        _refuse_unsafe(out_dir)
        if only is not None:
            rendered = keep_others(out_dir, rendered, only)
        staging = _stage(out_dir, rendered, step)
        try:
            old = _swap(out_dir, staging, step, exchange)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # the new tree, or the old one if already swapped
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        step("done")
