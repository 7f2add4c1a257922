"""Lambda entry point, kept tiny and fail-safe: even if the sync cannot be imported, a CodePipeline job
is failed with the reason instead of hanging until its timeout."""

from __future__ import annotations

import traceback
from typing import Any

try:
    from pipeline import job as lambda_core
except Exception:  # any import failure of the core: report it below rather than crash on load
    lambda_core = None  # type: ignore[assignment]
    IMPORT_ERROR = traceback.format_exc(limit=3)
else:
    IMPORT_ERROR = ""


def handler(event: Any, context: Any, codepipeline: Any = None) -> dict[str, Any]:
    job = event.get("CodePipeline.job") if isinstance(event, dict) else None
    if lambda_core is not None:
        try:
            return lambda_core.handle(event, context)
        except Exception:
            error = traceback.format_exc(limit=3)
    else:
        error = "the sync could not be imported: " + IMPORT_ERROR
    if job:
        # CodePipeline waits for a result until the action times out; always give it one. A bare client on
        # purpose: the product's client factory may be what failed to import.
        import boto3

        client = codepipeline or boto3.client("codepipeline")
        client.put_job_failure_result(
            jobId=job["id"], failureDetails={"type": "JobFailed", "message": error[-4900:]}
        )
        return {"ok": False, "error": error}
    raise RuntimeError(error)
