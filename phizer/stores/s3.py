"""An S3 bucket/prefix as the render store: one PUT per render, so it is atomic by nature.

Keys live under the configured prefix. Each object carries the Content-Type and the
Cache-Control a CDN or S3 website serving the bucket directly should send, plus phizer's
metadata (which original, which size settings). Every botocore failure becomes StoreError,
with a message that says when the credentials were refused.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO, cast

from botocore.exceptions import BotoCoreError, ClientError

from phizer.base.errors import StoreError
from phizer.base.models import KeyFailure, StoredInfo
from phizer.base.paths import normalise_prefix, safe_path
from phizer.base.s3client import Endpoint, LazyClient, classify
from phizer.stores import StoredRender

logger = logging.getLogger(__name__)

DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes


class S3Store:
    def __init__(self, endpoint: Endpoint, prefix: str, max_age: int) -> None:
        self.endpoint = endpoint
        self.prefix = normalise_prefix(prefix)
        self.cache_control = f"public, max-age={max_age}"
        self._client = LazyClient(endpoint)

    def __repr__(self) -> str:
        return f"S3Store({self.endpoint.describe()!r}, prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        return self.prefix + safe_path(key)

    def _error(self, action: str, key: str, exc: BotoCoreError | ClientError) -> StoreError:
        failure = classify(exc, self.endpoint)
        logger.error("render store: %s %s: %s", action, key, failure.message)
        return StoreError(f"render store: cannot {action} {key}: {failure.message}")

    def _info(
        self,
        key: str,
        size: int,
        modified: datetime,
        etag: str | None,
        content_type: str | None = None,
    ) -> StoredInfo:
        return StoredInfo(key, size, modified.timestamp(), etag, content_type)

    def open(self, key: str) -> StoredRender | None:
        try:
            obj = self._client.get().get_object(Bucket=self.endpoint.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            if classify(exc, self.endpoint).kind == "missing":
                return None
            raise self._error("open", key, exc) from None
        info = self._info(
            key, obj["ContentLength"], obj["LastModified"], obj.get("ETag"), obj.get("ContentType")
        )
        # StreamingBody reads like a binary file; the caller closes it.
        return StoredRender(info, cast(BinaryIO, obj["Body"]))

    def stat(self, key: str) -> StoredInfo | None:
        try:
            head = self._client.get().head_object(Bucket=self.endpoint.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            if classify(exc, self.endpoint).kind == "missing":
                return None
            raise self._error("stat", key, exc) from None
        return self._info(
            key,
            head["ContentLength"],
            head["LastModified"],
            head.get("ETag"),
            head.get("ContentType"),
        )

    def put(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredInfo:
        client = self._client.get()
        try:
            response = client.put_object(
                Bucket=self.endpoint.bucket,
                Key=self._key(key),
                Body=data,
                ContentType=content_type,
                CacheControl=self.cache_control,
                Metadata=dict(metadata or {}),
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error("write", key, exc) from None
        return StoredInfo(key, len(data), _written_at(response), response.get("ETag"), content_type)

    def list(self, prefix: str) -> Iterator[StoredInfo]:
        full = self.prefix + safe_path(prefix, prefix=True)
        try:
            for obj in self._client.objects(full):
                key = obj.key[len(self.prefix) :]
                yield StoredInfo(key, obj.size, obj.last_modified, obj.etag)
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list", prefix or "(all)", exc) from None

    def existing(self, keys: Sequence[str]) -> builtins.list[StoredInfo]:
        """One listing per group of keys that share a prefix with the first of them (an
        original's variants, `a.jpg` and `a.jpg.webp`, are one listing), not a HEAD each."""
        found: dict[str, StoredInfo] = {}
        for head, group in _prefix_groups(keys):
            wanted = set(group)
            found.update((info.key, info) for info in self.list(head) if info.key in wanted)
        return [found[key] for key in keys if key in found]

    def delete(self, keys: Sequence[str]) -> builtins.list[KeyFailure]:
        """DeleteObjects, a thousand keys a call; S3 reports a failure per key."""
        client = self._client.get()
        failures: builtins.list[KeyFailure] = []
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                response = client.delete_objects(
                    Bucket=self.endpoint.bucket,
                    Delete={"Objects": [{"Key": self._key(k)} for k in batch], "Quiet": True},
                )
            except (BotoCoreError, ClientError) as exc:
                message = self._error("delete", batch[0], exc).message
                failures += [KeyFailure(key, message) for key in batch]
                continue
            for error in response.get("Errors", []):
                key = error.get("Key", "")[len(self.prefix) :]
                why = f"{error.get('Code', '')} {error.get('Message', '')}".strip()
                logger.error("render store: cannot delete %s: %s", key, why)
                failures.append(KeyFailure(key, f"render store: cannot delete {key}: {why}"))
        return failures

    def check(self) -> str:
        if problem := self._client.bucket_problem():
            raise StoreError(problem)
        return f"store: {self.endpoint.describe()} prefix {self.prefix!r} (reachable)"


def _written_at(response: Mapping[str, Any]) -> float:
    """When a PUT's object was written, by the store's clock. PUT answers no Last-Modified,
    and a HEAD to learn it would cost every serve miss another round trip. The answer's Date
    comes from the same clock, no earlier than the object's Last-Modified (usually the same
    second), so a cache revalidating a miss's answer with it (If-Modified-Since) still gets
    a 304 from the stored object. Without a Date, this machine's clock."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(date).timestamp() if date else time.time()
    except (TypeError, ValueError):
        return time.time()


def _prefix_groups(keys: Sequence[str]) -> Iterator[tuple[str, list[str]]]:
    """`keys` sorted into runs that start with their first key: each run is one listing."""
    run: list[str] = []
    for key in sorted(set(keys)):
        if run and key.startswith(run[0]):
            run.append(key)
            continue
        if run:
            yield run[0], run
        run = [key]
    if run:
        yield run[0], run
