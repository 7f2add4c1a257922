"""One command-line shell for every command of the product (`python -m generator`, `python -m pipeline`,
`python -m pipeline.app_deploy`): `run(parser, argv) -> int` with one-line errors on stderr, exit codes
0 success, 1 failure or findings, 2 bad input or usage, --debug for the traceback, and quiet on a closed pipe.

Each command module adds its subcommand to a `Parser` and sets `func`; the runner does the rest: every
subcommand accepts --debug after its name too, and default paths declared as `RootPath` are resolved
against the repository root, found as git finds it (`repository_root`), so a command gives the same answer
from any subfolder. Paths the user types are taken as usual, relative to the current folder.

The option names every command uses: `--out DIR` for a folder a command writes, `--output FILE` for a file
it writes, `--templates DIR` for the folder of rendered templates it reads (`output_file` and
`input_folder` check them).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pipeline.common.errors import EXIT_FAILED, EXIT_USAGE, ProductError, UsageError

INTERRUPTED = 130  # 128 + SIGINT, as shells report it
Translate = Callable[[Exception], ProductError | None]
ROOT_MARKERS = ("org_roles/org.yaml", ".git")
DEBUG_HELP = "show tracebacks for errors"


class RootPath(str):
    """A default path relative to the repository root (not the current folder): `run` resolves it."""

    __slots__ = ()


def find_root(start: Path) -> Path | None:
    """The nearest of start and its parents that holds org_roles/org.yaml or .git, as git looks for .git."""
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return None


def repository_root(given: str | None) -> Path:
    """--root when given, else the repository around the current folder; UsageError when there is none."""
    if given is not None:
        root = Path(given).resolve()
        if not root.is_dir():
            raise UsageError(f"--root {given}: no such folder")
        return root
    here = Path.cwd().resolve()
    found = find_root(here)
    if found is None:
        raise UsageError(
            f"no repository here: neither {here} nor a folder above it holds org_roles/org.yaml or .git "
            "(run from inside the repository, or pass --root)"
        )
    return found


def _resolve_root_paths(args: argparse.Namespace) -> None:
    """Every RootPath default becomes a path against the repository root (kept as written when the root
    is the current folder, so messages stay short)."""
    defaults = {k: v for k, v in vars(args).items() if isinstance(v, RootPath)}
    if not defaults:
        return
    root = repository_root(getattr(args, "root", None))
    same = root == Path.cwd().resolve()
    for key, value in defaults.items():
        setattr(args, key, str(value) if same else str(root / value))


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one sentence, exit 2) instead of printing and exiting. Every Parser,
    the program's and each subcommand's, takes --debug (`run` looks for it anywhere in argv), so it works
    before or after the subcommand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


def input_folder(path: Path, option: str) -> Path:
    """A folder a command reads (--templates): one sentence when it is missing or a file."""
    if path.is_file():
        raise UsageError(f"{option} {path}: is a file, not a folder")
    if not path.is_dir():
        raise UsageError(f"{option} {path}: no such folder; run `python -m generator render` first")
    return path


def output_file(path: Path, option: str = "--output") -> Path:
    """A file a command is about to write: one sentence when it is a folder or its parent is a file."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder, not a file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option} {path}: {parent} is a file, not a folder")
            break
    return path


def write_file(path: Path, data: bytes, option: str = "--output") -> None:
    """Write a command's output file whole or not at all (a temporary sibling renamed over it)."""
    output_file(path, option)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; the file should look like any other
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def add_aws_options(parser: argparse.ArgumentParser, *, region_help: str | None = None) -> None:
    """--profile, --region and --endpoint-url, the same on every command that calls AWS."""
    parser.add_argument("--profile", help="AWS profile (default: the usual AWS environment)")
    parser.add_argument("--region", help=region_help or "AWS region (default: the profile's or AWS_REGION)")
    parser.add_argument(
        "--endpoint-url",
        help="send every AWS call here, e.g. a local moto server or a VPC endpoint (default: AWS's own)",
    )


def aws_error(exc: Exception) -> ProductError | None:
    """botocore errors as one sentence: missing credentials and profiles are usage problems (exit 2), an
    AWS refusal or a failed connection is a failure (exit 1); anything else is not ours to translate."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound
    except ImportError:  # pragma: no cover - botocore is a dependency
        return None
    if isinstance(exc, NoCredentialsError | ProfileNotFound):
        return UsageError(f"{exc} (set AWS_PROFILE, pass --profile, or try --local)")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return ExternalFailure(f"AWS refused {exc.operation_name}: {err.get('Code')}: {err.get('Message')}")
    if isinstance(exc, BotoCoreError):
        return ExternalFailure(str(exc))
    return None


def path_error(exc: Exception) -> ProductError | None:
    """A path that cannot be read or written (a folder where a file should be, no permission, a full
    disk) as one sentence naming it: bad input, exit 2."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return UsageError(f"{exc.filename}: {exc.strerror or exc}")
    return None


class ExternalFailure(ProductError):
    """A failure outside the product (an AWS refusal, a lost connection): exit 1."""

    exit_code = EXIT_FAILED


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None, translate: Translate = aws_error) -> int:
    """Parse argv, run the chosen command's `func(args) -> int`, and turn every expected error into one
    line on stderr and its exit code. Errors `translate` does not recognise propagate (a bug: traceback)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = parser.parse_args(argv)
        _resolve_root_paths(args)
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(func(args))
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep Python's exit flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:
        error = exc if isinstance(exc, ProductError) else translate(exc) or path_error(exc)
        if error is None or debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


def exit_process(code: int) -> NoReturn:
    """End the program (a `__main__` module, never a library call) with exit code `code`, without the
    collector's walk over the whole heap as the interpreter shuts down.

    Python runs a full garbage collection at exit. After cfn-lint's rules are loaded it took 0.25 s of a
    2.3 s `generator lint`, and 0.65 s of each 2.5 s `pipeline ... --local` command (moto's models), measured
    with an atexit timestamp against the process's wall time. Every object alive now is frozen
    (`gc.freeze()`: moved to the permanent generation that collections skip), so that collection has almost
    nothing to walk. Atexit handlers still run and the standard streams are still flushed; what no longer
    runs is `__del__` of objects caught in reference cycles, so nothing in the product may rely on a
    finalizer at exit: its files are written in `with` blocks (or `write_file`), closed before this point, and
    its temporary folders are removed explicitly or through atexit.
    """
    gc.freeze()
    raise SystemExit(code)
