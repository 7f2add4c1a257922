"""`python -m generator package`: the sync Lambda's zip, reproducibly, and optionally uploaded to S3."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from generator.cli.options import aws_client, root, shown
from generator.errors import GeneratorError
from pipeline.common.cli import RootPath, add_aws_options, output_file
from pipeline.common.errors import EXIT_OK
from pipeline.common.progress import Progress


def add_parser(sub: Any) -> None:
    package = sub.add_parser(
        "package",
        help="build the sync Lambda zip reproducibly and print its sha256 and size",
        description="Zip the sync Lambda's modules with sorted entries, fixed timestamps and permissions: "
        "identical bytes on every run for the same sources.",
    )
    package.add_argument(
        "--output",
        metavar="FILE",
        default=RootPath("dist/org-sync-lambda.zip"),
        help="zip to write (default: %(default)s)",
    )
    package.add_argument("--upload", metavar="BUCKET", help="also upload the zip to this S3 bucket")
    add_aws_options(package)
    package.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from generator.package import package_lambda

    out = output_file(Path(args.output).resolve())
    result = package_lambda(root(args), out)
    print(f"{shown(args, out)}: {result.files} files, {result.size} bytes, sha256 {result.sha256}")
    if args.upload:
        from botocore.exceptions import BotoCoreError, ClientError

        # Content-addressed key: new code gets a new key, so CloudFormation sees the change.
        key = f"org-sync-lambda-{result.sha256[:16]}.zip"
        try:
            with Progress(f"uploading s3://{args.upload}/{key}"):  # on a terminal only
                aws_client(args, "s3").put_object(Bucket=args.upload, Key=key, Body=out.read_bytes())
        except (ClientError, BotoCoreError) as exc:
            raise GeneratorError(f"upload to s3://{args.upload}/{key} failed: {exc}") from exc
        print(
            f"uploaded s3://{args.upload}/{key} (deploy with --parameter SyncCodeBucket={args.upload} "
            f"--parameter SyncCodeKey={key})"
        )
    return EXIT_OK
