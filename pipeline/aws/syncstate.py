"""The run state store: state objects in the artifact bucket under sync-state/, content-addressed
(sync-state/<run>/<sha256>.json.gz), so a continuation token carries only the sha256 and the MAC binds it;
reading checks the hash, so an object that changed is refused. The bucket policy lets no principal but the
sync's role write under sync-state/.

Also kept there: the pointer to the latest complete organization walk (sync-state/latest-walk.json), and
the arrival time of the latest Organizations event (sync-state/org-changed.json), which makes every walk
that began before it stale (pipeline.core.runstate.walk_is_fresh).

S3 is strongly consistent for reads after writes and overwrites
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel), so an invocation
reads what the previous one wrote.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from typing import Any

from pipeline.aws.retry import describe_error, error_code
from pipeline.core.errors import SyncError
from pipeline.core.orgwalk import OrgWalk

PREFIX = "sync-state"
LATEST_WALK = f"{PREFIX}/latest-walk.json"
ORG_CHANGED = f"{PREFIX}/org-changed.json"
# A state object of 20,000 accounts is about 2 MB of JSON; anything far larger is not ours.
STATE_BYTES = 64 * 2**20
REF = re.compile(r"^([A-Za-z0-9-]{1,64})/([0-9a-f]{64})$")


class StateError(SyncError):
    """A state object is missing, unreadable or not the one its reference names."""


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class StateStore:
    """sync-state/ objects in one bucket, through an S3 client passed in."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, run: str, data: Any) -> str:
        """Store `data` for `run`; its sha256 (of the canonical JSON). Written once: If-None-Match "*"
        (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html); an object already
        there holds the same bytes, so a refusal (412) is success."""
        body = canonical(data)
        digest = hashlib.sha256(body).hexdigest()
        key = self.key(f"{run}/{digest}")
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=gzip.compress(body, mtime=0), IfNoneMatch="*"
            )
        except Exception as exc:
            if error_code(exc) != "PreconditionFailed":
                raise StateError(
                    f"the run's state could not be stored at s3://{self.bucket}/{key}: {describe_error(exc)}"
                ) from None
        return digest

    def get(self, run: str, digest: str) -> Any:
        """The object `put` stored under that sha256, checked against it."""
        key = self.key(f"{run}/{digest}")
        body = self._read(key)
        if body is None:
            raise StateError(f"the run's state s3://{self.bucket}/{key} is missing")
        try:
            raw = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise StateError(f"the run's state s3://{self.bucket}/{key} cannot be unpacked: {exc}") from None
        if hashlib.sha256(raw).hexdigest() != digest:
            raise StateError(f"the run's state s3://{self.bucket}/{key} does not match its sha256: refused")
        return json.loads(raw)

    def key(self, ref: str) -> str:
        if not REF.match(ref):
            raise StateError(f"not a state reference (<run>/<sha256>): {ref[:80]!r}")
        return f"{PREFIX}/{ref}.json.gz"

    # --- complete walks -----------------------------------------------------------------------------

    def put_walk(self, run: str, walk: OrgWalk, started: float) -> str:
        """Store a complete walk; its reference "<run>/<sha256>"."""
        return f"{run}/{self.put(run, {'walk': walk.to_dict(), 'started': started})}"

    def get_walk(self, ref: str) -> tuple[OrgWalk, float]:
        """(the complete walk, the second it began) stored under `ref`."""
        match = REF.match(ref)
        if not match:
            raise StateError(f"not a state reference (<run>/<sha256>): {ref[:80]!r}")
        data = self.get(match.group(1), match.group(2))
        walk = OrgWalk.from_dict(data.get("walk") if isinstance(data, dict) else None)
        if not walk.done:
            raise StateError(f"the stored walk {ref} is not complete")
        return walk, float(data["started"])

    def latest_walk(self) -> str | None:
        data = self._read_json(LATEST_WALK)
        ref = data.get("ref") if isinstance(data, dict) else None
        return ref if isinstance(ref, str) and REF.match(ref) else None

    def set_latest_walk(self, ref: str) -> None:
        self._write_json(LATEST_WALK, {"ref": ref})

    def org_changed_at(self) -> float | None:
        """When the latest Organizations event arrived; None if none ever did. A marker that cannot be
        read counts as a change just now (every stored walk stale), never as no change."""
        if self._read(ORG_CHANGED) is None:
            return None
        data = self._read_json(ORG_CHANGED)
        at = data.get("at") if isinstance(data, dict) else None
        return float(at) if isinstance(at, int | float) and not isinstance(at, bool) else float("inf")

    def mark_org_changed(self, at: float) -> None:
        self._write_json(ORG_CHANGED, {"at": at})

    # --- S3 ---------------------------------------------------------------------------------------------

    def _read(self, key: str) -> bytes | None:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise StateError(f"s3://{self.bucket}/{key} cannot be read: {describe_error(exc)}") from None
        data = bytes(obj["Body"].read(STATE_BYTES + 1))
        if len(data) > STATE_BYTES:
            raise StateError(f"s3://{self.bucket}/{key} is larger than {STATE_BYTES // 2**20} MiB")
        return data

    def _read_json(self, key: str) -> Any:
        body = self._read(key)
        try:
            return json.loads(body) if body is not None else None
        except ValueError:
            return None  # unreadable: as if absent (no cached walk; no event known, the TTL still holds)

    def _write_json(self, key: str, data: Any) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=canonical(data))
        except Exception as exc:
            raise StateError(
                f"s3://{self.bucket}/{key} could not be written: {describe_error(exc)}"
            ) from None
