"""The app deploy CLI (`python -m pipeline.app_deploy`) and its shell wrapper against a moto server on
loopback: STS assume-role, SNS publish, and the whole path from CLI to a moved ECS service."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from pipeline.apps.app_deploy import package
from pipeline.apps.app_deploy.cli import main
from pipeline.apps.ecs_deploy import family_revision, handle
from tests.support.paths import ROOT

pytestmark = pytest.mark.slow

REGION = "eu-west-1"
WORKLOAD = "123456789012"  # moto's account for the "testing" keys
CI_ROLE = "arn:aws:iam::111111111111:role/app-deploy-publisher"
REPO = f"{WORKLOAD}.dkr.ecr.{REGION}.amazonaws.com/web"
CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens: a call there would fail, so none may be made
WRAPPER = ROOT / "pipeline" / "apps" / "app_deploy" / "app-deploy.sh"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Fake credentials only, and no shared config: nothing here can reach a real account."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "APP_DEPLOY_EXTERNAL_ID": "ci-external-id",
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


class Workload:
    """The workload account on the moto server: a deploy topic with a queue tapping it, and ECS app/web."""

    def __init__(self, url: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
        kwargs: dict[str, Any] = {"endpoint_url": url, "region_name": REGION}
        self.sns = boto3.client("sns", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        self.ecs = boto3.client("ecs", **kwargs)
        self.topic = self.sns.create_topic(Name=f"deploys-{uuid.uuid4().hex[:8]}")["TopicArn"]
        self.queue = self.sqs.create_queue(QueueName="tap")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        self.sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
        self.ecs.create_cluster(clusterName="app")
        self.ecs.register_task_definition(
            family="web", containerDefinitions=[{"name": "web", "image": f"{REPO}:v1", "memory": 128}]
        )
        self.ecs.create_service(cluster="app", serviceName="web", taskDefinition="web:1", desiredCount=1)

    def received(self) -> list[dict[str, Any]]:
        """The SNS notifications delivered so far (each as SNS wraps it), removed from the queue."""
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
        for m in messages:
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    def deliver(self) -> list[dict[str, Any]]:
        """Hand what arrived to the deploy function, as SNS would invoke it."""
        records = [
            {"EventSource": "aws:sns", "Sns": {"MessageId": n["MessageId"], "Message": n["Message"]}}
            for n in self.received()
        ]
        return handle({"Records": records}, self.ecs, allowed_cluster="app")

    def running_image(self) -> tuple[str, str]:
        arn = self.ecs.describe_services(cluster="app", services=["web"])["services"][0]["taskDefinition"]
        family, revision = family_revision(arn)
        td = self.ecs.describe_task_definition(taskDefinition=f"{family}:{revision}")["taskDefinition"]
        return f"{family}:{revision}", td["containerDefinitions"][0]["image"]


@pytest.fixture
def workload(moto_url: str, aws_env: dict[str, str]) -> Workload:
    return Workload(moto_url)


def deploy_args(topic: str, endpoint: str, **overrides: str) -> list[str]:
    args = {
        "--topic-arn": topic,
        "--role-arn": CI_ROLE,
        "--cluster": "app",
        "--service": "web",
        "--image": REPO,
        "--tag": "abc1234",
        "--endpoint-url": endpoint,
    }
    args.update(overrides)
    return ["deploy", *[part for pair in args.items() for part in pair]]


def test_deploy_assumes_the_publisher_role_and_publishes(
    workload: Workload, moto_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(deploy_args(workload.topic, moto_url)) == 0

    out = capsys.readouterr().out
    assert re.fullmatch(
        rf"published deploy {re.escape(REPO)}:abc1234 to app/web on {re.escape(workload.topic)} as "
        r"arn:aws:sts::111111111111:assumed-role/app-deploy-publisher/app-deploy-deploy-web "
        r"\(message id [0-9a-f-]{36}\)\n",
        out,
    ), out
    [notification] = workload.received()
    assert json.loads(notification["Message"]) == {
        "action": "deploy",
        "cluster": "app",
        "image": REPO,
        "service": "web",
        "tag": "abc1234",
    }
    assert notification["Subject"] == f"deploy {REPO}:abc1234 to app/web"
    assert notification["TopicArn"] == workload.topic
    assert notification["MessageAttributes"] == {"action": {"Type": "String", "Value": "deploy"}}


def test_rollback_publishes_the_revision(workload: Workload, moto_url: str) -> None:
    args = ["rollback", "--topic-arn", workload.topic, "--role-arn", CI_ROLE, "--cluster", "app"]
    assert main([*args, "--service", "web", "--revision", "3", "--endpoint-url", moto_url]) == 0
    [notification] = workload.received()
    assert json.loads(notification["Message"]) == {
        "action": "rollback",
        "cluster": "app",
        "revision": 3,
        "service": "web",
    }
    assert notification["Subject"] == "rollback app/web to revision 3"


def test_a_deploy_message_moves_the_service_and_a_rollback_moves_it_back(
    workload: Workload, moto_url: str
) -> None:
    assert workload.running_image() == ("web:1", f"{REPO}:v1")

    assert main(deploy_args(workload.topic, moto_url)) == 0
    assert [r["status"] for r in workload.deliver()] == ["updated"]
    assert workload.running_image() == ("web:2", f"{REPO}:abc1234")

    rollback = ["rollback", "--topic-arn", workload.topic, "--role-arn", CI_ROLE]
    assert main([*rollback, "--cluster", "app", "--service", "web", "--endpoint-url", moto_url]) == 0
    assert [r["status"] for r in workload.deliver()] == ["updated"]
    assert workload.running_image() == ("web:1", f"{REPO}:v1")


def test_the_shell_wrapper_publishes_with_the_checkout_commit_as_tag(
    workload: Workload, moto_url: str, aws_env: dict[str, str]
) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "APP_DEPLOY_", "IMAGE"))},
        **aws_env,
        "APP_DEPLOY_TOPIC_ARN": workload.topic,
        "APP_DEPLOY_ROLE_ARN": CI_ROLE,
        "APP_DEPLOY_ENDPOINT_URL": moto_url,
        "APP_DEPLOY_PYTHON": sys.executable,
        "ECS_CLUSTER": "app",
        "ECS_SERVICE": "web",
        "IMAGE": REPO,
    }
    proc = subprocess.run(
        ["bash", str(WRAPPER), "deploy", "--container", "web"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    [notification] = workload.received()
    assert json.loads(notification["Message"])["tag"] == commit
    assert json.loads(notification["Message"])["container"] == "web"


@pytest.mark.parametrize(
    ("env", "argv", "error"),
    [
        ({}, ["promote"], None),
        ({"ECS_SERVICE": ""}, ["rollback"], "error: ECS_SERVICE is not set: the ECS service name\n"),
    ],
)
def test_the_shell_wrapper_refuses_bad_input_with_exit_2(
    env: dict[str, str], argv: list[str], error: str | None, aws_env: dict[str, str]
) -> None:
    base = {
        "PATH": os.environ["PATH"],
        "APP_DEPLOY_TOPIC_ARN": f"arn:aws:sns:{REGION}:{WORKLOAD}:deploys",
        "APP_DEPLOY_ROLE_ARN": CI_ROLE,
        "ECS_CLUSTER": "app",
        "ECS_SERVICE": "web",
    }
    proc = subprocess.run(
        ["bash", str(WRAPPER), *argv], env={**base, **env}, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    if error is None:
        assert proc.stderr.startswith("Publish an ECS deploy or rollback from any CI system")
    else:
        assert proc.stderr == error


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            deploy_args("arn:aws:sqs:eu-west-1:123456789012:q", CLOSED_PORT),
            "error: --topic-arn 'arn:aws:sqs:eu-west-1:123456789012:q' is not an SNS topic ARN "
            "(arn:aws:sns:REGION:ACCOUNT:NAME)\n",
        ),
        (
            deploy_args("a" * 5000, CLOSED_PORT),
            f"error: --topic-arn '{'a' * 100}'... is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)\n",
        ),
        (
            deploy_args(f"arn:aws:sns:{REGION}:{WORKLOAD}:t", CLOSED_PORT, **{"--role-arn": "publisher"}),
            "error: --role-arn 'publisher' is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)\n",
        ),
        (
            deploy_args(f"arn:aws:sns:{REGION}:{WORKLOAD}:t", CLOSED_PORT, **{"--image": f"{REPO}:latest"}),
            f"error: invalid deploy request: 'image' '{REPO}:latest' must not carry a tag or digest: "
            "pass the tag in 'tag'\n",
        ),
        (
            deploy_args(f"arn:aws:sns:{REGION}:{WORKLOAD}:t", CLOSED_PORT, **{"--image": "ghcr.io/team/web"}),
            "error: invalid deploy request: 'image' 'ghcr.io/team/web' is from registry ghcr.io, which this "
            f"function does not deploy from (allowed: {WORKLOAD}.dkr.ecr.{REGION}.amazonaws.com)\n",
        ),
        (
            deploy_args(
                f"arn:aws:sns:{REGION}:{WORKLOAD}:t",
                CLOSED_PORT,
                **{"--image": "ghcr.io/team/web", "--allowed-registries": "public.ecr.aws"},
            ),
            "error: invalid deploy request: 'image' 'ghcr.io/team/web' is from registry ghcr.io, which this "
            f"function does not deploy from (allowed: {WORKLOAD}.dkr.ecr.{REGION}.amazonaws.com, public.ecr.aws)\n",
        ),
        (
            deploy_args(f"arn:aws:sns:{REGION}:{WORKLOAD}:t", CLOSED_PORT, **{"--service": "web api"}),
            "error: invalid deploy request: 'service' 'web api' is not an ECS service name\n",
        ),
        (
            [
                "rollback",
                "--topic-arn",
                "t",
                "--role-arn",
                CI_ROLE,
                "--cluster",
                "a",
                "--service",
                "b",
                "--revision",
                "0",
            ],
            "error: python -m pipeline.app_deploy rollback: argument --revision: 0 is not a positive revision "
            "number (see --help)\n",
        ),
        (
            ["deploy", "--cluster", "app"],
            "error: python -m pipeline.app_deploy deploy: the following arguments are required: --topic-arn, "
            "--role-arn, --service, --image, --tag (see --help)\n",
        ),
        (["ship"], None),
    ],
)
def test_bad_input_exits_2_with_one_line_and_calls_nothing(
    argv: list[str], error: str | None, aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    if error is not None:
        assert captured.err == error
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_a_failed_aws_call_exits_1_with_its_error_code(
    workload: Workload, moto_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"arn:aws:sns:{REGION}:{WORKLOAD}:no-such-topic"
    assert main(deploy_args(missing, moto_url)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot publish to {missing}: NotFound: ") and err.count("\n") == 1


def test_dry_run_prints_the_message_and_calls_nothing(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"arn:aws:sns:{REGION}:{WORKLOAD}:deploys"
    assert main([*deploy_args(topic, CLOSED_PORT), "--container", "web", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "action": "deploy",
        "cluster": "app",
        "container": "web",
        "image": REPO,
        "service": "web",
        "tag": "abc1234",
    }


@pytest.mark.parametrize("command", ["deploy", "rollback", "package"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m pipeline.app_deploy {command}")


def test_runs_as_a_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.app_deploy", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "deploy" in proc.stdout and "rollback" in proc.stdout


def test_package_is_reproducible_and_holds_the_function_and_its_client_factory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a" / "ecs-deploy.zip", tmp_path / "b.zip"
    assert main(["package", "--output", str(first)]) == 0
    assert main(["package", "--output", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    built = package.build()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{built.sha256}  {first}"
    assert out[1] == f"upload it to s3://BUCKET/ecs-deploy/{built.sha256}.zip and pass that key as CodeS3Key"
    with zipfile.ZipFile(first) as archive:
        sources = {
            "ecs_deploy.py": ROOT / "pipeline" / "apps" / "ecs_deploy.py",
            "pipeline/__init__.py": ROOT / "pipeline" / "__init__.py",
            "pipeline/aws/__init__.py": ROOT / "pipeline" / "aws" / "__init__.py",
            "pipeline/aws/clients.py": ROOT / "pipeline" / "aws" / "clients.py",
            "pipeline/common/__init__.py": ROOT / "pipeline" / "common" / "__init__.py",
            "pipeline/common/errors.py": ROOT / "pipeline" / "common" / "errors.py",
        }
        assert [i.filename for i in archive.infolist()] == list(sources)
        for info in archive.infolist():
            assert (info.date_time, info.external_attr >> 16) == ((1980, 1, 1, 0, 0, 0), 0o100644)
            assert archive.read(info) == sources[info.filename].read_bytes()


def test_the_packaged_function_imports_with_the_standard_library_alone(tmp_path: Path) -> None:
    zip_path = tmp_path / "f.zip"
    zip_path.write_bytes(package.build().data)
    # -I: isolated, so neither this repository nor site-packages (boto3) is importable, as at Lambda cold start
    # before the handler runs; the handler imports boto3 itself.
    code = f"import sys; sys.path.insert(0, {str(zip_path)!r}); import ecs_deploy; print(callable(ecs_deploy.handler))"
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "True\n", "")
