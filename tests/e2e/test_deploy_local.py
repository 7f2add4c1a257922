"""The README's deploy walkthrough: `pipeline local serve`, `generator package --upload`, then
`generator deploy org-pipeline` twice (created, then no changes), as separate processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_deploy_walkthrough_against_local_serve(root: Path, tmp_path: Path) -> None:
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    env.pop("AWS_PROFILE", None)
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline",
                "local",
                "serve",
                "--port",
                str(port),
                "--local-state",
                str(tmp_path / "state.json"),
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while f"local AWS on {endpoint}" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log.read_text().startswith(f"local AWS on {endpoint} (bucket org-stacksets-local-code)")

        def run(*args: str) -> str:
            proc = subprocess.run(
                [sys.executable, "-m", "generator", *args],
                check=False,
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert proc.returncode == 0, proc.stderr
            return proc.stdout

        uploaded = run(
            "package",
            "--output",
            str(tmp_path / "sync.zip"),
            "--upload",
            "org-stacksets-local-code",
            "--endpoint-url",
            endpoint,
        )
        key = uploaded.split("SyncCodeKey=")[1].split(")")[0]
        deploy = (
            "deploy",
            "org-pipeline",
            "--endpoint-url",
            endpoint,
            "--yes",
            "--parameter",
            "ConnectionArn=",
            "--parameter",
            "LoginAccountId=222222222222",
            "--parameter",
            "BreakGlassOrganizationId=o-a1b2c3d4e5",
            "--parameter",
            "SyncCodeBucket=org-stacksets-local-code",
            "--parameter",
            f"SyncCodeKey={key}",
        )
        first = run(*deploy)
        assert "Add     Pipeline AWS::CodePipeline::Pipeline" in first
        assert first.rstrip().endswith("org-pipeline: deployed")
        assert run(*deploy).strip() == "org-pipeline: no changes"
        # The upgrade path: a new Lambda zip under a new key, deployed onto the same stack.
        import boto3

        local = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        s3 = local.client("s3", endpoint_url=endpoint)
        copy = {"Bucket": "org-stacksets-local-code", "Key": key}
        s3.copy_object(Bucket="org-stacksets-local-code", Key="org-sync-lambda-next.zip", CopySource=copy)
        upgraded = run(*deploy[:-1], "SyncCodeKey=org-sync-lambda-next.zip")
        # Both functions run the packaged code: the sync and the Organizations-event debounce.
        assert sorted(upgraded.splitlines()[:3]) == [
            "  Modify  OrgEventsFunction AWS::Lambda::Function",
            "  Modify  SyncFunction AWS::Lambda::Function",
            "change set for org-pipeline: 2 change(s)",
        ]
        assert upgraded.rstrip().endswith("org-pipeline: deployed")
        cfn = local.client("cloudformation", endpoint_url=endpoint)
        assert cfn.list_change_sets(StackName="org-pipeline")["Summaries"] == []
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode == 0  # SIGTERM stops it cleanly, saving the state
    assert (tmp_path / "state.json").is_file()
