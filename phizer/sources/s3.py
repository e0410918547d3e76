"""An S3 bucket (AWS or any S3-compatible store) as the master.

An original's key is the configured prefix plus its path; listings return paths relative to
that prefix, so `[master] prefix = "originals"` and a dir master hold the same paths. The body
is streamed and cut at the byte cap whatever Content-Length claims, and the whole fetch has a
total deadline (the endpoint's timeout), not only per-read timeouts: a server trickling
bytes cannot hold a worker for longer. Every botocore failure
leaves this module as a phizer error: a missing key is OriginalNotFound, refused credentials,
a missing bucket, 5xx and refused connections are OriginError, timeouts OriginTimeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from botocore.exceptions import BotoCoreError, ClientError
from botocore.response import StreamingBody

from phizer.base.errors import OriginalNotFound, OriginError, OriginTimeout, PhizerError, TooLarge
from phizer.base.models import Original, OriginalInfo
from phizer.base.paths import normalise_prefix, safe_path
from phizer.base.s3client import Endpoint, LazyClient, classify

logger = logging.getLogger(__name__)

CHUNK = 1 << 16


class S3Source:
    def __init__(self, endpoint: Endpoint, prefix: str, max_bytes: int) -> None:
        self.endpoint = endpoint
        self.prefix = normalise_prefix(prefix)
        self.max_bytes = max_bytes
        self._client = LazyClient(endpoint)

    def __repr__(self) -> str:
        return f"S3Source({self.endpoint.describe()!r}, prefix={self.prefix!r})"

    def _error(self, exc: BotoCoreError | ClientError, path: str) -> PhizerError:
        failure = classify(exc, self.endpoint)
        if failure.kind == "missing":
            return OriginalNotFound(f"original not found: {path}")
        logger.error("S3 master, %s: %s", path, failure.message)
        if failure.kind == "timeout":
            return OriginTimeout(failure.message)
        return OriginError(failure.message)

    def fetch(self, path: str) -> Original:
        key = self.prefix + safe_path(path)
        deadline = time.monotonic() + self.endpoint.timeout
        try:
            response = self._client.get().get_object(Bucket=self.endpoint.bucket, Key=key)
            body = response["Body"]
            try:
                if response.get("ContentLength", 0) > self.max_bytes:
                    raise self._too_large(path)
                data = self._read_capped(body, path, deadline)
            finally:
                body.close()
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, path) from None
        modified = response.get("LastModified")
        return Original(
            path,
            data,
            response.get("ETag"),
            modified.timestamp() if modified else None,
            # The application's focal point, as S3 user metadata (x-amz-meta-focus).
            response.get("Metadata", {}).get("focus"),
        )

    def _read_capped(self, body: StreamingBody, path: str, deadline: float) -> bytes:
        """The body, cut at the byte cap; at the deadline a watchdog closes the stream (a
        blocked read cannot be interrupted otherwise) and the fetch is a timeout."""
        expired = threading.Event()

        def cut() -> None:
            expired.set()
            body.close()

        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
        watchdog.daemon = True
        watchdog.start()
        chunks: list[bytes] = []
        total = 0
        try:
            while chunk := body.read(CHUNK):
                total += len(chunk)
                if total > self.max_bytes:
                    raise self._too_large(path)
                chunks.append(chunk)
        except Exception:
            if not expired.is_set():
                raise
        finally:
            watchdog.cancel()
        if expired.is_set():
            raise OriginTimeout(
                f"S3 master, {path}: no whole answer within {self.endpoint.timeout:g} s"
            )
        return b"".join(chunks)

    def _too_large(self, path: str) -> TooLarge:
        return TooLarge(f"original {path} is over the {self.max_bytes}-byte limit")

    def stat(self, path: str) -> OriginalInfo:
        key = self.prefix + safe_path(path)
        try:
            head = self._client.get().head_object(Bucket=self.endpoint.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, path) from None
        return OriginalInfo(
            path, head["ContentLength"], head.get("ETag"), head["LastModified"].timestamp()
        )

    def list(self, prefix: str) -> Iterator[OriginalInfo]:
        """Every key under the configured prefix plus `prefix`, page by page (1,000 a page)."""
        full = self.prefix + safe_path(prefix, prefix=True)
        try:
            for obj in self._client.objects(full):
                if obj.key.endswith("/"):
                    continue  # a "folder" marker, not an original
                path = obj.key[len(self.prefix) :]
                yield OriginalInfo(path, obj.size, obj.etag, obj.last_modified)
        except (BotoCoreError, ClientError) as exc:
            failure = classify(exc, self.endpoint)
            logger.error("S3 master, listing %r: %s", prefix, failure.message)
            if failure.kind == "timeout":
                raise OriginTimeout(failure.message) from None
            raise OriginError(failure.message) from None

    def check(self) -> str:
        if problem := self._client.bucket_problem():
            raise OriginError(problem)
        return f"master: {self.endpoint.describe()} prefix {self.prefix!r} (reachable)"
