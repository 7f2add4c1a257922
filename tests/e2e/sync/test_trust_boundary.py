"""The trust boundary end to end: a commit that edits the repository's own generator to skip its validation
(or marks any role break-glass) renders a forbidden role without complaint, and the trusted, packaged sync
still refuses it, in the Plan action and in the Sync action, before any write."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import ANY, Stubber

from pipeline.job import handle
from tests.support.lambda_job import BUCKET, KEY, Ctx, job, world_deps
from tests.support.paths import ROOT
from tests.support.sync import CREDS

SKIP_VALIDATION = 'if action == "*" and effect == "Allow" and not break_glass:'


def _commit(repo: Path) -> None:
    """What a malicious commit changes: the validator no longer refuses Action "*", Developer grants it and
    trusts an outside account, ReadOnly is marked break-glass and grants it too."""
    loader = repo / "generator" / "org" / "loader.py"
    text = loader.read_text()
    assert SKIP_VALIDATION in text
    loader.write_text(text.replace(SKIP_VALIDATION, "if False:"))
    developer = repo / "org_roles" / "roles" / "Developer.yaml"
    role = yaml.safe_load(developer.read_text())
    role["statements"].append({"sid": "Everything", "actions": ["*"], "resources": ["*"]})
    role["trust"] = {"accounts": [{"account_id": "999999999999", "principals": ["role/attacker"]}]}
    developer.write_text(yaml.safe_dump(role))
    readonly = repo / "org_roles" / "roles" / "ReadOnly.yaml"
    role = yaml.safe_load(readonly.read_text())
    role["break_glass"] = {"reason": "not really"}
    role.setdefault("statements", []).append({"sid": "Everything", "actions": ["*"], "resources": ["*"]})
    readonly.write_text(yaml.safe_dump(role))


def _render(repo: Path, out: Path) -> bytes:
    """Render with the commit's own generator, as the build does, and zip templates/ as the artifact."""
    subprocess.run(
        [sys.executable, "-m", "generator", "render", "--out", str(out)],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for f in sorted(out.rglob("*")):
            if f.is_file():
                z.write(f, f"templates/{f.relative_to(out).as_posix()}")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def forbidden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bytes]:
    repo = tmp_path_factory.mktemp("commit")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("generator", "pipeline", "org_roles"):
        shutil.copytree(ROOT / part, repo / part, ignore=ignore)
    _commit(repo)
    yield _render(repo, repo / "rendered")


def test_the_edited_generator_renders_the_forbidden_roles(forbidden: bytes) -> None:
    """The repository's own checks are gone: its render accepts what the guardrails must stop."""
    archive = zipfile.ZipFile(io.BytesIO(forbidden))
    developer = yaml.safe_load(archive.read("templates/org/roles/Developer.yaml"))
    statements = developer["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert {"Action": ["*"], "Effect": "Allow", "Resource": ["*"], "Sid": "Everything"} in statements


def test_the_trusted_sync_refuses_them_in_plan_and_sync(make_world: Any, forbidden: bytes) -> None:
    world = make_world()
    world.client("s3").create_bucket(Bucket=BUCKET)
    world.client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=forbidden)
    cp = boto3.client("codepipeline", region_name="us-east-1", **CREDS)
    deps = world_deps(world, codepipeline=cp)
    with Stubber(cp) as stub:
        for _ in range(2):
            stub.add_response("put_job_failure_result", {}, {"jobId": "job-1", "failureDetails": ANY})
        plan = handle(job(mode="plan", execution="exec-1"), Ctx(), deps)
        synced = handle(job(approve=forbidden), Ctx(), deps)
    assert plan == synced
    error = plan["error"]
    assert error.startswith("guardrails refused the artifact before any write: ")
    only = "(only the break-glass roles ['BreakGlass'] may)"
    for problem in (
        f"org/roles/Developer.yaml: Resources.Role.Policies[0].Statement[3]: grants Action '*' {only}",
        "org/roles/Developer.yaml: Resources.Role.AssumeRolePolicyDocument.Statement[0]: trusts account "
        "999999999999, which is neither the login account (222222222222) nor in the trusted accounts",
        f"org/roles/ReadOnly.yaml: Resources.Role.Policies[0].Statement[1]: grants Action '*' {only}",
    ):
        assert problem in error
    assert world.writes() == [] and world.service.calls == []
    assert "Contents" not in world.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="plans/")
