"""The S3 master against a real SeaweedFS, spoken to over HTTP by boto3."""

from __future__ import annotations

import time
from typing import Any

import pytest

from phizer.base.errors import OriginalNotFound, OriginError, OriginTimeout, TooLarge
from phizer.base.s3client import Endpoint
from phizer.sources.s3 import S3Source

pytestmark = pytest.mark.slow


def make_source(s3: Any, bucket: str, prefix: str = "", max_bytes: int = 1000) -> S3Source:
    return S3Source(Endpoint(bucket, "us-east-1", s3.endpoint_url, 5.0), prefix, max_bytes)


@pytest.fixture(scope="module")
def bucket(seaweedfs: Any) -> str:
    """One bucket for the module's read-only tests (a new bucket is slow to make on SeaweedFS)."""
    name: str = seaweedfs.new_bucket()
    client = seaweedfs.client()
    for key, body in {
        "originals/photos/a.jpg": b"A" * 10,
        "originals/photos/b.jpg": b"B" * 20,
        "originals/big.jpg": b"G" * 2000,
        "elsewhere/c.jpg": b"C",
    }.items():
        client.put_object(Bucket=name, Key=key, Body=body, ContentType="image/jpeg")
    return name


def test_fetch_and_stat(s3_credentials: Any, bucket: str) -> None:
    source = make_source(s3_credentials, bucket, "originals")
    original = source.fetch("photos/a.jpg")
    assert original.data == b"A" * 10
    assert original.etag
    info = source.stat("photos/a.jpg")
    assert (info.path, info.size, info.etag) == ("photos/a.jpg", 10, original.etag)
    assert info.last_modified == pytest.approx(original.last_modified)


def test_list_is_relative_to_the_prefix(s3_credentials: Any, bucket: str) -> None:
    source = make_source(s3_credentials, bucket, "originals/")
    assert sorted(i.path for i in source.list("")) == ["big.jpg", "photos/a.jpg", "photos/b.jpg"]
    listed = {i.path: i for i in source.list("photos/")}
    assert listed["photos/b.jpg"].size == 20
    assert listed["photos/b.jpg"] == source.stat("photos/b.jpg")


def test_missing_key_is_not_found(s3_credentials: Any, bucket: str) -> None:
    source = make_source(s3_credentials, bucket, "originals")
    with pytest.raises(OriginalNotFound):
        source.fetch("photos/missing.jpg")
    with pytest.raises(OriginalNotFound):
        source.stat("photos/missing.jpg")
    with pytest.raises(OriginalNotFound):
        source.fetch("c.jpg")  # exists, but outside the prefix


def test_byte_cap(s3_credentials: Any, bucket: str) -> None:
    with pytest.raises(TooLarge):
        make_source(s3_credentials, bucket, "originals").fetch("big.jpg")
    assert len(make_source(s3_credentials, bucket, "originals", 2000).fetch("big.jpg").data) == 2000


def test_wrong_secret_says_credentials(
    s3_credentials: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    source = make_source(s3_credentials, bucket, "originals")
    for call in (source.fetch, source.stat):
        with pytest.raises(OriginError, match="credentials") as caught:
            call("photos/a.jpg")
        assert not isinstance(caught.value, OriginTimeout)
    with pytest.raises(OriginError, match="credentials"):
        source.check()
    with pytest.raises(OriginError, match="credentials"):
        list(source.list(""))


def test_missing_bucket_and_check(s3_credentials: Any, bucket: str) -> None:
    assert "reachable" in make_source(s3_credentials, bucket).check()
    with pytest.raises(OriginError, match="bucket does not exist"):
        make_source(s3_credentials, bucket + "-nope").check()
    with pytest.raises(OriginError):
        make_source(s3_credentials, bucket + "-nope").fetch("photos/a.jpg")


def test_unreachable_endpoint_is_an_origin_error(s3_credentials: Any, origins: Any) -> None:
    dead = origins()
    url = dead.root
    dead.stop()  # a port that refuses connections
    source = S3Source(Endpoint("b", "us-east-1", url, 2.0), "", 100)
    with pytest.raises(OriginError) as caught:
        source.fetch("a.jpg")
    assert not isinstance(caught.value, OriginTimeout)


def test_hanging_endpoint_is_a_timeout(s3_credentials: Any, origins: Any) -> None:
    hung = origins(behaviour="hang")
    source = S3Source(Endpoint("b", "us-east-1", hung.root, 0.5), "", 100)
    with pytest.raises(OriginTimeout):
        source.fetch("a.jpg")


def test_trickling_endpoint_is_cut_at_the_total_deadline(s3_credentials: Any, origins: Any) -> None:
    """Each byte arrives well within the read timeout; only a total deadline ends the fetch."""
    trickle = origins(behaviour="trickle", trickle_interval=0.2)
    source = S3Source(Endpoint("b", "us-east-1", trickle.root, 1.0), "", 1_000_000)
    start = time.monotonic()
    with pytest.raises(OriginTimeout):
        source.fetch("a.jpg")
    assert time.monotonic() - start < 2.5
