"""Continuation tokens: the sync's handle on its state between invocations, sealed with an HMAC-SHA-256
that binds the token to the job it was issued for.

The body is a few fields (the run id and the sha256 of the run's state object, which holds the operations
still running and the organization walk: pipeline.aws.syncstate), so it stays near 140 characters whatever
the run holds and never meets CodePipeline's 2,048-character limit.

Whoever can invoke the Lambda or answer for CodePipeline chooses the token text, so the sync trusts none
of it before the MAC checks out; the key lives in KMS (pipeline.aws.tokens) where only the sync may use it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass
from typing import Protocol

from pipeline.core import limits
from pipeline.core.errors import SyncError

VERSION = 3
# A MAC of HMAC-SHA-256 is 32 bytes: 43 characters of unpadded base64url.
MAC_CHARS = 43
_MAC = re.compile(r"^[A-Za-z0-9_-]{43}$")
_SHA256 = re.compile(r"^([0-9a-f]{64})?$")


@dataclass(frozen=True)
class Token:
    """What a token carries: the run id (the first job's id) and the sha256 of the run's state object in
    the state store ("" when the run holds no state yet)."""

    run: str
    state: str = ""
    # The canary wave the rollout is at (pipeline.core.waves); 0, the first, is left out of the body.
    wave: int = 0


class Signer(Protocol):
    """Computes and checks HMAC-SHA-256 MACs with a key the caller never sees."""

    def mac(self, message: bytes) -> bytes: ...

    def verify(self, message: bytes, mac: bytes) -> bool: ...


class TokenError(SyncError):
    """A continuation token this sync did not issue for this job: the job fails before any AWS write."""


def _body(token: Token) -> str:
    fields = {k: v for k, v in asdict(token).items() if k != "wave" or v}
    return json.dumps({"v": VERSION, **fields}, sort_keys=True, separators=(",", ":"))


def _message(binding: str, body: str) -> bytes:
    # The binding (the job's own identity) is MAC'd but not carried: a token copied to another job fails.
    return f"org-stacksets continuation v{VERSION}\n{binding}\n{body}".encode()


def seal(token: Token, binding: str, signer: Signer) -> str:
    """The sealed text of `token`; its fields are short and fixed, so it is far below CodePipeline's
    2,048 characters."""
    body = _body(token)
    mac = base64.urlsafe_b64encode(signer.mac(_message(binding, body))).decode().rstrip("=")
    sealed = f"{mac}.{body}"
    if len(sealed) > limits.CONTINUATION_TOKEN_CHARS:
        raise TokenError(f"the run id {token.run[:40]!r}... makes the continuation token too long")
    return sealed


def unseal(token: str, binding: str, signer: Signer) -> Token:
    """The Token this sync sealed for `binding`, or TokenError."""
    malformed = TokenError("the continuation token is malformed: it is not one this sync issued")
    if not isinstance(token, str) or len(token) > limits.CONTINUATION_TOKEN_CHARS:
        raise malformed
    mac_text, _, body = token.partition(".")
    if not _MAC.match(mac_text) or not body:
        raise malformed
    try:
        mac = base64.urlsafe_b64decode(mac_text + "=")
    except (binascii.Error, ValueError):
        raise malformed from None
    if not signer.verify(_message(binding, body), mac):
        raise TokenError(
            "the continuation token failed its integrity check: it was altered, forged or issued for another job"
        )
    data = json.loads(body)
    # Sealed by this sync, yet possibly by an older version of it (v2 carried the pending ids itself).
    if not isinstance(data, dict) or data.get("v") != VERSION or not _SHA256.match(str(data.get("state"))):
        raise TokenError(
            "the continuation token was issued by another version of the sync: retry the pipeline execution"
        )
    wave = data.get("wave", 0)
    if not isinstance(wave, int) or isinstance(wave, bool) or wave < 0:
        raise TokenError("the continuation token is malformed: its wave is not a wave number")
    return Token(run=str(data["run"]), state=str(data["state"]), wave=wave)
