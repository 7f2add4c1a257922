"""One command-line shell for every command of the product (`python -m generator`, `python -m pipeline`,
`python -m pipeline.app_deploy`): `run(parser, argv) -> int` with one-line errors on stderr, exit codes
0 success, 1 failure or findings, 2 bad input or usage, --debug for the traceback, and quiet on a closed pipe.

Each command module adds its subcommand to a `Parser` and sets `func`; the runner does the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from pipeline.common.errors import EXIT_FAILED, EXIT_USAGE, ProductError, UsageError

INTERRUPTED = 130  # 128 + SIGINT, as shells report it
Translate = Callable[[Exception], ProductError | None]


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one sentence, exit 2) instead of printing and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


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
        return Failure(f"AWS refused {exc.operation_name}: {err.get('Code')}: {err.get('Message')}")
    if isinstance(exc, BotoCoreError):
        return Failure(str(exc))
    return None


class Failure(ProductError):
    """A failure outside the product (an AWS refusal, a lost connection): exit 1."""

    exit_code = EXIT_FAILED


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None, translate: Translate = aws_error) -> int:
    """Parse argv, run the chosen command's `func(args) -> int`, and turn every expected error into one
    line on stderr and its exit code. Errors `translate` does not recognise propagate (a bug: traceback)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = parser.parse_args(argv)
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
        error = exc if isinstance(exc, ProductError) else translate(exc)
        if error is None or debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
