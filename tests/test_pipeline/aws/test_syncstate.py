"""The run state store (pipeline/aws/syncstate.py) against moto's S3: content-addressed, written once,
checked on every read; the pointer to the latest walk and the Organizations-event marker."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline.aws.syncstate import ORG_CHANGED, StateError, StateStore
from pipeline.core.orgwalk import OrgWalk
from tests.test_pipeline.core.test_orgwalk import FakeReader

BUCKET = "artifacts"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[StateStore]:
    """moto's S3 in-process, fake credentials: nothing leaves this process."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield StateStore(s3, BUCKET)


def test_state_is_content_addressed_and_written_once(store: StateStore) -> None:
    data = {"pending": {"b": "2", "a": "1"}}
    digest = store.put("job-1", data)
    # The same state again: S3 refuses the second write (If-None-Match), which is success here.
    assert store.put("job-1", {"pending": {"a": "1", "b": "2"}}) == digest
    assert store.get("job-1", digest) == data
    versions = store.s3.list_object_versions(Bucket=BUCKET, Prefix="sync-state/")["Versions"]
    assert [v["Key"] for v in versions] == [f"sync-state/job-1/{digest}.json.gz"]


def test_state_that_changed_is_refused(store: StateStore) -> None:
    digest = store.put("job-1", {"pending": {}})
    key = f"sync-state/job-1/{digest}.json.gz"
    store.s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b'{"pending":{"x":"y"}}'))
    with pytest.raises(StateError, match="does not match its sha256: refused"):
        store.get("job-1", digest)
    store.s3.put_object(Bucket=BUCKET, Key=key, Body=b"not gzip")
    with pytest.raises(StateError, match="cannot be unpacked"):
        store.get("job-1", digest)


@pytest.mark.parametrize("ref", ["job-1/short", "../plans/x/" + "0" * 64, "a/b/" + "0" * 64, ""])
def test_a_reference_of_another_shape_is_refused(store: StateStore, ref: str) -> None:
    with pytest.raises(StateError, match="not a state reference"):
        store.get_walk(ref)


def test_missing_state_is_an_error_and_missing_markers_are_none(store: StateStore) -> None:
    with pytest.raises(StateError, match="is missing"):
        store.get("job-1", "0" * 64)
    assert store.latest_walk() is None
    assert store.org_changed_at() is None


def test_walks_round_trip_and_only_complete_ones_are_taken(store: StateStore) -> None:
    walk = OrgWalk()
    walk.step(FakeReader(), lambda: False)
    ref = store.put_walk("job-1", walk, 123.0)
    store.set_latest_walk(ref)
    assert store.latest_walk() == ref
    got, started = store.get_walk(ref)
    assert (got.tree(), started) == (walk.tree(), 123.0)
    partial = OrgWalk()
    partial.step(FakeReader(), lambda: True)
    with pytest.raises(StateError, match="is not complete"):
        store.get_walk(store.put_walk("job-1", partial, 1.0))


@pytest.mark.parametrize(
    ("body", "at"), [(b'{"at": 5.5}', 5.5), (b"garbage", float("inf")), (b'{"at": true}', float("inf"))]
)
def test_an_unreadable_event_marker_counts_as_a_change_now(store: StateStore, body: bytes, at: Any) -> None:
    store.s3.put_object(Bucket=BUCKET, Key=ORG_CHANGED, Body=body)
    assert store.org_changed_at() == at
