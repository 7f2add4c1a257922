"""Continuation tokens: the sync's state between invocations (its run id and the operations still running),
sealed with an HMAC-SHA-256 that binds the token to the job it was issued for.

Whoever can invoke the Lambda or answer for CodePipeline chooses the token text, so the sync trusts none
of it before the MAC checks out; the key lives in KMS (pipeline.aws.tokens) where only the sync may use it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Protocol

from pipeline.core import limits
from pipeline.core.errors import SyncError

VERSION = 2
# A MAC of HMAC-SHA-256 is 32 bytes: 43 characters of unpadded base64url.
MAC_CHARS = 43
_MAC = re.compile(r"^[A-Za-z0-9_-]{43}$")


class Signer(Protocol):
    """Computes and checks HMAC-SHA-256 MACs with a key the caller never sees."""

    def mac(self, message: bytes) -> bytes: ...

    def verify(self, message: bytes, mac: bytes) -> bool: ...


class TokenError(SyncError):
    """A continuation token this sync did not issue for this job: the job fails before any AWS write."""


def _body(run_id: str, pending: Mapping[str, str], wave: int = 0) -> str:
    # "wave": the canary wave the run is at (pipeline.core.waves); absent means 0, the first.
    data = {"v": VERSION, "run": run_id, "pending": dict(pending), **({"wave": wave} if wave else {})}
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _message(binding: str, body: str) -> bytes:
    # The binding (the job's own identity) is MAC'd but not carried: a token copied to another job fails.
    return f"org-stacksets continuation v{VERSION}\n{binding}\n{body}".encode()


def seal(run_id: str, pending: Mapping[str, str], binding: str, signer: Signer, wave: int = 0) -> str:
    """The token for `pending` (at canary wave `wave`), at most CodePipeline's 2,048 characters."""
    body = _body(run_id, pending, wave)
    if MAC_CHARS + 1 + len(body) > limits.CONTINUATION_TOKEN_CHARS:
        # Dropping the ids is safe: the next step re-plans, re-issues the same ids and adopts them.
        body = _body(run_id, {}, wave)
    mac = base64.urlsafe_b64encode(signer.mac(_message(binding, body))).decode().rstrip("=")
    return f"{mac}.{body}"


def unseal(token: str, binding: str, signer: Signer) -> tuple[str, dict[str, str]]:
    """(run id, pending operations) of a token this sync sealed for `binding`, or TokenError."""
    run_id, pending, _wave = unseal_state(token, binding, signer)
    return run_id, pending


def unseal_state(token: str, binding: str, signer: Signer) -> tuple[str, dict[str, str], int]:
    """(run id, pending operations, canary wave) of a token this sync sealed for `binding`, or TokenError."""
    if not isinstance(token, str) or len(token) > limits.CONTINUATION_TOKEN_CHARS:
        raise TokenError("the continuation token is malformed: it is not one this sync issued")
    mac_text, _, body = token.partition(".")
    if not _MAC.match(mac_text) or not body:
        raise TokenError("the continuation token is malformed: it is not one this sync issued")
    try:
        mac = base64.urlsafe_b64decode(mac_text + "=")
    except (binascii.Error, ValueError):
        raise TokenError("the continuation token is malformed: it is not one this sync issued") from None
    if not signer.verify(_message(binding, body), mac):
        raise TokenError(
            "the continuation token failed its integrity check: it was altered, forged or issued for another job"
        )
    data = json.loads(body)
    wave = data.get("wave", 0)
    return str(data["run"]), {str(k): str(v) for k, v in data["pending"].items()}, int(wave)
