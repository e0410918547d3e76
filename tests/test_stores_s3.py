"""The S3 render store against a real SeaweedFS, spoken to over HTTP by boto3."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from phizer.base.errors import BadRequest, StoreError
from phizer.base.s3client import Endpoint
from phizer.sources.s3 import S3Source
from phizer.stores.s3 import S3Store

pytestmark = pytest.mark.slow


def make_store(s3: Any, bucket: str, prefix: str = "renders") -> S3Store:
    return S3Store(Endpoint(bucket, "us-east-1", s3.endpoint_url, 5.0), prefix, 3600)


@pytest.fixture(scope="module")
def bucket(seaweedfs: Any) -> str:
    name: str = seaweedfs.new_bucket()
    return name


def test_put_writes_one_object_with_headers(s3_credentials: Any, bucket: str) -> None:
    store = make_store(s3_credentials, bucket, "put")
    before = time.time()
    info = store.put("220x220/photos/a.jpg", b"JPEG", "image/jpeg", {"phizer-original": "a"})
    head = s3_credentials.client().head_object(Bucket=bucket, Key="put/220x220/photos/a.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == "public, max-age=3600"
    assert head["Metadata"] == {"phizer-original": "a"}
    assert head["ContentLength"] == 4
    assert info.size == 4
    assert info.etag == head["ETag"]
    assert info.last_modified >= before - 1
    # The PUT's Date, on the store's clock: never before the object's own Last-Modified.
    assert 0 <= info.last_modified - head["LastModified"].timestamp() <= 2


def test_open_stat_and_missing(s3_credentials: Any, bucket: str) -> None:
    store = make_store(s3_credentials, bucket, "open")
    store.put("1x1/a.png", b"PNGDATA", "image/png")
    opened = store.open("1x1/a.png")
    assert opened is not None
    try:
        assert opened.body.read() == b"PNGDATA"
    finally:
        opened.body.close()
    assert opened.info.content_type == "image/png"
    info = store.stat("1x1/a.png")
    assert info is not None
    assert (info.key, info.size, info.etag) == ("1x1/a.png", 7, opened.info.etag)
    assert store.open("1x1/missing.png") is None
    assert store.stat("1x1/missing.png") is None


def test_list_is_relative_to_the_store_prefix(s3_credentials: Any, bucket: str) -> None:
    store = make_store(s3_credentials, bucket, "listing/")
    for key in ("220x220/a.jpg", "220x220/b/c.jpg", "800x800/a.jpg"):
        store.put(key, key.encode(), "image/jpeg")
    listed = {i.key: i for i in store.list("220x220/")}
    assert sorted(listed) == ["220x220/a.jpg", "220x220/b/c.jpg"]
    assert listed["220x220/a.jpg"].size == len(b"220x220/a.jpg")
    assert listed["220x220/a.jpg"].last_modified > time.time() - 600
    assert len(list(store.list(""))) == 3


def test_unsafe_key_never_reaches_the_bucket(s3_credentials: Any, bucket: str) -> None:
    store = make_store(s3_credentials, bucket, "unsafe")
    with pytest.raises(BadRequest):
        store.put("../escape.jpg", b"x", "image/jpeg")
    listed = s3_credentials.client().list_objects_v2(Bucket=bucket, Prefix="escape")
    assert listed["KeyCount"] == 0


def test_wrong_secret_says_credentials(
    s3_credentials: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = make_store(s3_credentials, bucket, "denied")
    with pytest.raises(StoreError, match="credentials"):
        store.put("1x1/a.jpg", b"x", "image/jpeg")
    with pytest.raises(StoreError, match="credentials"):
        store.stat("1x1/a.jpg")
    with pytest.raises(StoreError, match="credentials"):
        store.check()


def test_check(s3_credentials: Any, bucket: str) -> None:
    assert "reachable" in make_store(s3_credentials, bucket).check()
    with pytest.raises(StoreError, match="bucket does not exist"):
        make_store(s3_credentials, bucket + "-nope").check()


def test_listings_paginate_past_2500_keys(s3_credentials: Any) -> None:
    """Store and master list past SeaweedFS's 1,000-key pages (one upload serves both)."""
    name = s3_credentials.new_bucket()
    client = s3_credentials.client(connections=32)
    keys = [f"many/{i:05d}.jpg" for i in range(2600)]

    def put(key: str) -> None:
        client.put_object(Bucket=name, Key=key, Body=b"x", ContentType="image/jpeg")

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(put, keys))
    expected = [k.removeprefix("many/") for k in keys]
    assert sorted(i.key for i in make_store(s3_credentials, name, "many").list("")) == expected
    endpoint = Endpoint(name, "us-east-1", s3_credentials.endpoint_url, 5.0)
    assert sorted(i.path for i in S3Source(endpoint, "many", 100).list("")) == expected
