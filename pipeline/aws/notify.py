"""SNS messages on success and on failure, with the per-StackSet and per-OU results (thin adapter)."""

from __future__ import annotations

from typing import Any

from pipeline.core.report import Outcome, SyncReport, render_text

SUBJECT_LIMIT = 100  # SNS Subject: at most 100 characters
MESSAGE_LIMIT = 250_000  # SNS messages are at most 256 KB


def subject(report: SyncReport | None, error: str | None = None) -> str:
    if report is None or error:
        text = "org-stacksets sync FAILED before it ran"
    elif report.outcome == Outcome.SUCCESS:
        text = f"org-stacksets sync succeeded: {_counts(report)}"
    else:
        text = f"org-stacksets sync {report.outcome.upper()}: {_counts(report)}"
    return text[:SUBJECT_LIMIT]


def _counts(report: SyncReport) -> str:
    return ", ".join(f"{v} {k}" for k, v in report.counts().items()) or "nothing to do"


def message(report: SyncReport | None, error: str | None = None, context: str = "") -> str:
    parts = [context] if context else []
    if error:
        parts.append(f"error: {error}")
    if report is not None:
        parts.append(render_text(report))
    text = "\n".join(parts)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 20] + "\n... (truncated)"


def publish(
    sns: Any, topic_arn: str | None, report: SyncReport | None, error: str | None = None, context: str = ""
) -> bool:
    """Publish when a topic is configured; False when there is none."""
    return send(sns, topic_arn, subject(report, error), message(report, error, context))


def send(sns: Any, topic_arn: str | None, subject_line: str, body: str) -> bool:
    """Publish one message when a topic is configured (False when there is none), within SNS's limits."""
    if not topic_arn:
        return False
    if len(body) > MESSAGE_LIMIT:
        body = body[: MESSAGE_LIMIT - 20] + "\n... (truncated)"
    sns.publish(TopicArn=topic_arn, Subject=subject_line[:SUBJECT_LIMIT], Message=body)
    return True
