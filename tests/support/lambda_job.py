"""The sync Lambda's inputs for tests: a CodePipeline job event, its S3 artifact and a Lambda context."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

BUCKET, KEY = "artifacts", "org/Build/artifact.zip"
# What a job's continuation token is bound to: the run's input artifact (pipeline.job._codepipeline).
BINDING = f"codepipeline:{BUCKET}/{KEY}"


def token_key(kms: Any) -> str:
    """A new HMAC KMS key like the pipeline template's TokenKey; its id, as TOKEN_KEY_ID holds it."""
    return str(kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"])


def world_deps(world: Any, **given: Any) -> Any:
    """The Lambda's Deps against a test World's moto server: the sync's clients, its S3 and KMS (a new HMAC
    key), no waiting; `given` sets or replaces any field (codepipeline, sns, lambda_client, env, ...)."""
    from pipeline.aws.clients import make_clients
    from pipeline.aws.retry import Backoff
    from pipeline.aws.tokens import KmsSigner
    from pipeline.job import Deps
    from tests.support.sync import CREDS, NO_WAIT

    s3 = world.client("s3")
    kms = world.client("kms")
    fields: dict[str, Any] = {
        "env": {},
        "codepipeline": None,
        "sns": world.client("sns"),
        "lambda_client": None,
        "sync_clients": lambda region: make_clients(
            region, endpoint_url=world.server.url, credentials=CREDS, max_attempts=1
        ),
        "s3": lambda _creds: s3,
        "poll": NO_WAIT,
        "backoff": Backoff(sleep=lambda _s: None),
        "sleep": lambda _s: None,
        "signer": KmsSigner(kms, token_key(kms)),
    }
    return Deps(**{**fields, **given})


def artifact(manifest_dir: Path, *, without: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.write(manifest_dir / "manifest.json", "templates/org/manifest.json")
        for f in sorted((manifest_dir / "templates").rglob("*.yaml")):
            z.write(f, f"templates/{f.relative_to(manifest_dir / 'templates')}")
    data = buffer.getvalue()
    if without:
        source = zipfile.ZipFile(io.BytesIO(data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for name in source.namelist():
                if name != without:
                    z.writestr(name, source.read(name))
        data = out.getvalue()
    return data


def job(continuation: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "actionConfiguration": {"configuration": {"FunctionName": "org-roles-sync"}},
        "inputArtifacts": [
            {
                "name": "Build",
                "location": {"type": "S3", "s3Location": {"bucketName": BUCKET, "objectKey": KEY}},
            }
        ],
        "outputArtifacts": [],
        "artifactCredentials": {"accessKeyId": "testing", "secretAccessKey": "testing", "sessionToken": "t"},
    }
    if continuation:
        data["continuationToken"] = continuation
    return {"CodePipeline.job": {"id": "job-1", "accountId": "111111111111", "data": data}}


class Ctx:
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:111111111111:function:org-roles-sync"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000
