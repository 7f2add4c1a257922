"""Command line: `python -m pipeline.app_deploy deploy|rollback|package`; main(argv) returns the exit code.

Exit codes: 0 published (or packaged), 1 an AWS call failed, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.apps.app_deploy import package
from pipeline.apps.app_deploy.publish import (
    AppDeployError,
    Topic,
    assume_publisher,
    check_role_arn,
    message_for,
    parse_topic_arn,
    publish,
    session_name,
)
from pipeline.apps.ecs_deploy import (
    DEPLOY,
    ROLLBACK,
    DeployRequest,
    MessageError,
    Request,
    RollbackRequest,
    allowed_registries,
)
from pipeline.aws.clients import make_clients
from pipeline.common.cli import Parser, add_aws_options, output_file, run, write_file
from pipeline.common.errors import EXIT_OK, ProductError, excerpt

EXTERNAL_ID_ENV = "APP_DEPLOY_EXTERNAL_ID"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{excerpt(text, 100)} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive revision number")
    return value


def _request(args: argparse.Namespace) -> Request:
    if args.command == DEPLOY:
        return DeployRequest(args.cluster, args.service, args.image, args.tag, args.container)
    return RollbackRequest(args.cluster, args.service, args.revision)


class AwsClients:
    """The command's clients, from the product's one factory: the caller's session for STS, and SNS in the
    topic's region signed with the assumed role's credentials."""

    def __init__(self, args: argparse.Namespace, topic: Topic) -> None:
        from botocore.exceptions import BotoCoreError

        self.endpoint_url = args.endpoint_url
        self.topic = topic
        try:
            self.caller = make_clients(
                args.region or topic.region,
                component="app-deploy",
                profile=args.profile,
                endpoint_url=args.endpoint_url,
            )
        except BotoCoreError as exc:  # for example ProfileNotFound
            raise AppDeployError(f"--profile {excerpt(args.profile, 100)}: {exc}") from None

    def sts(self) -> Any:
        return self.caller.client("sts")

    def sns_as(self, creds: Any) -> Any:
        """An SNS client in the topic's region, signed with the assumed role's credentials."""
        keys = {
            "aws_access_key_id": creds.access_key_id,
            "aws_secret_access_key": creds.secret_access_key,
            "aws_session_token": creds.session_token,
        }
        assumed = make_clients(
            self.topic.region, component="app-deploy", endpoint_url=self.endpoint_url, credentials=keys
        )
        return assumed.client("sns")


def cmd_publish(args: argparse.Namespace) -> int:
    topic = parse_topic_arn(args.topic_arn)
    role_arn = check_role_arn(args.role_arn)
    request = _request(args)
    # The registries the function deploys from: the workload account's ECR in the topic's region, plus the
    # stack's AllowedRegistries (given here as --allowed-registries), so a refused image is never published.
    registries = allowed_registries(topic.account, topic.region, args.allowed_registries)
    try:
        subject, body = message_for(request, registries)
    except MessageError as exc:
        raise AppDeployError(f"invalid {args.command} request: {exc}") from None
    if args.dry_run:
        print(body)
        return EXIT_OK
    clients = AwsClients(args, topic)
    name = args.session_name or session_name(args.command, args.service)
    creds = assume_publisher(clients.sts(), role_arn, name, args.external_id)
    message_id = publish(clients.sns_as(creds), topic, subject, body, args.command)
    print(f"published {subject} on {topic.arn} as {creds.assumed_role_arn} (message id {message_id})")
    return EXIT_OK


def cmd_package(args: argparse.Namespace) -> int:
    out = output_file(Path(args.output))
    built = package.build()
    write_file(out, built.data)
    print(f"{built.sha256}  {out}")
    print(f"upload it to s3://BUCKET/{built.suggested_key} and pass that key as CodeS3Key")
    return EXIT_OK


def _publish_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic-arn", required=True, help="deploy topic in the workload account")
    parser.add_argument(
        "--role-arn", required=True, help="publisher role in the CI account, assumed through STS"
    )
    parser.add_argument(
        "--external-id",
        default=os.environ.get(EXTERNAL_ID_ENV),
        help=f"external id the publisher role's trust requires (default: ${EXTERNAL_ID_ENV})",
    )
    parser.add_argument("--session-name", help="RoleSessionName (default: app-deploy-ACTION-SERVICE)")
    parser.add_argument(
        "--allowed-registries",
        default=os.environ.get("ALLOWED_REGISTRIES", ""),
        help="comma-separated registries the function allows besides the workload account's ECR "
        "(its stack's AllowedRegistries; default: $ALLOWED_REGISTRIES, else none)",
    )
    parser.add_argument("--cluster", required=True, help="ECS cluster name")
    parser.add_argument("--service", required=True, help="ECS service name")
    add_aws_options(parser, region_help="region for the STS call (default: the topic's region)")
    parser.add_argument("--dry-run", action="store_true", help="print the message and publish nothing")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m pipeline.app_deploy",
        description="Publish an ECS deploy or rollback message to a workload account's deploy topic.",
        epilog="Exit codes: 0 success, 1 an AWS call failed, 2 bad input or usage.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    deploy = sub.add_parser(
        DEPLOY,
        help="deploy an image tag to an ECS service",
        description="Ask the workload account's deploy function to register a new task definition revision "
        "with IMAGE:TAG (everything else copied from the running revision) and update the service.",
    )
    _publish_options(deploy)
    deploy.add_argument(
        "--image", required=True, help="image repository without tag, e.g. ACCOUNT.dkr.ecr..."
    )
    deploy.add_argument("--tag", required=True, help="image tag, e.g. the short commit id")
    deploy.add_argument("--container", help="container to update (default: the one running --image)")
    deploy.set_defaults(func=cmd_publish)

    rollback = sub.add_parser(
        ROLLBACK,
        help="roll an ECS service back to its previous or a given revision",
        description="Ask the deploy function to point the service at the previous ACTIVE revision of its "
        "task definition family, or at --revision.",
    )
    _publish_options(rollback)
    rollback.add_argument("--revision", type=_positive, help="revision number to return to")
    rollback.set_defaults(func=cmd_publish)

    pkg = sub.add_parser(
        "package",
        help="build the deploy function's code zip",
        description="Write the deploy Lambda's code zip (reproducible: same source, same bytes) and print "
        "its sha256 and a content-addressed S3 key to upload it under.",
    )
    pkg.add_argument(
        "--output",
        metavar="FILE",
        default="dist/ecs-deploy.zip",
        help="zip file to write (default: %(default)s)",
    )
    pkg.set_defaults(func=cmd_package)
    return parser


def _translate(exc: Exception) -> ProductError | None:
    """A file that cannot be written (package --output) is bad input: one sentence, exit 2."""
    return AppDeployError(str(exc)) if isinstance(exc, OSError) else None


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv, _translate)
