"""Lambda entry point, kept tiny and fail-safe: even if the sync cannot be imported, a CodePipeline job
is failed with the reason instead of hanging until its timeout. Every error is one line, in the job's
failure and in the log; no traceback."""

from __future__ import annotations

import logging
from typing import Any

LOG = logging.getLogger(__name__)


def _one_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:500]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


try:
    from pipeline import job as lambda_core
except Exception as exc:  # any import failure of the core: report it below rather than crash on load
    lambda_core = None  # type: ignore[assignment]
    IMPORT_ERROR = _one_line(exc)
else:
    IMPORT_ERROR = ""


def handler(event: Any, context: Any, codepipeline: Any = None) -> dict[str, Any]:
    job = event.get("CodePipeline.job") if isinstance(event, dict) else None
    if lambda_core is not None:
        try:
            return lambda_core.handle(event, context)
        except Exception as exc:
            error = f"the sync failed unexpectedly: {_one_line(exc)}"
    else:
        error = "the sync could not be imported: " + IMPORT_ERROR
    LOG.error("%s", error)
    if isinstance(job, dict) and isinstance(job.get("id"), str):
        # CodePipeline waits for a result until the action times out; always give it one. A bare client on
        # purpose: the product's client factory may be what failed to import.
        import boto3

        client = codepipeline or boto3.client("codepipeline")
        client.put_job_failure_result(jobId=job["id"], failureDetails={"type": "JobFailed", "message": error})
        return {"ok": False, "error": error}
    raise RuntimeError(error) from None
