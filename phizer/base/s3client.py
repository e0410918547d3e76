"""boto3 client construction and botocore failure classification, shared by the S3 master
and the S3 render store.

Each owner holds one `LazyClient`: the client is made on first use (never at import, never
while building the config) and remade after a fork, because a boto3 client is thread-safe
but its connection pool must not be shared between processes. Credentials come from boto3's
usual chain (environment, shared files, instance roles); phizer never handles them.

`classify` turns a botocore exception into a `Failure` (a kind and a readable message); the
source and the store each map kinds to their own phizer errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import boto3.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from phizer.base.perprocess import PerProcess

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Total attempts per call (first try included): one retry rides out a dropped connection,
# more would multiply the time a client waits on an origin that is really down.
ATTEMPTS = 2
Kind = Literal["missing", "no-bucket", "credentials", "timeout", "unreachable", "failed"]
_MISSING = {"NoSuchKey", "404", "NotFound"}
_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "403",
    "ExpiredToken",
    "InvalidToken",
    "AuthorizationHeaderMalformed",
}


@dataclass(frozen=True)
class Endpoint:
    """Where a bucket lives; `endpoint_url` None means AWS itself."""

    bucket: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    timeout: float = 10.0

    def describe(self) -> str:
        where = self.endpoint_url or f"AWS {self.region}"
        return f"s3://{self.bucket} at {where}"


def make_client(endpoint: Endpoint) -> S3Client:
    # A private Session: boto3's default session is module-global and not thread-safe.
    session = boto3.session.Session()
    return session.client(
        "s3",
        region_name=endpoint.region,
        endpoint_url=endpoint.endpoint_url,
        config=BotoConfig(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            connect_timeout=endpoint.timeout,
            read_timeout=endpoint.timeout,
            retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        ),
    )


class LazyClient:
    """One client per process, made on first use (see `phizer.base.perprocess`)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._client: PerProcess[S3Client] = PerProcess(lambda: make_client(endpoint))

    def get(self) -> S3Client:
        return self._client.get()

    def bucket_problem(self) -> str | None:
        """Why the bucket cannot be used (for `phizer check`), or None when it can."""
        try:
            self.get().head_bucket(Bucket=self.endpoint.bucket)
        except (BotoCoreError, ClientError) as exc:
            failure = classify(exc, self.endpoint)
            if failure.kind in ("missing", "no-bucket"):
                return f"{self.endpoint.describe()}: the bucket does not exist"
            return failure.message
        return None

    def objects(self, prefix: str) -> Iterator[ListedObject]:
        """Every object under `prefix` (full keys), page by page, 1,000 a page; botocore's
        exceptions pass through for the caller to classify."""
        paginator = self.get().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.endpoint.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield ListedObject(
                    obj["Key"], obj["Size"], obj["LastModified"].timestamp(), obj.get("ETag")
                )


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int
    last_modified: float  # seconds since the epoch
    etag: str | None


@dataclass(frozen=True)
class Failure:
    kind: Kind
    message: str


def classify(exc: BotoCoreError | ClientError, endpoint: Endpoint) -> Failure:
    """What went wrong, in words an operator can act on."""
    where = endpoint.describe()
    if isinstance(exc, ClientError):
        return _classify_client_error(exc, where)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return Failure("credentials", f"no usable S3 credentials for {where}: {exc}")
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return Failure("timeout", f"{where} timed out after {endpoint.timeout:g} s")
    return Failure("unreachable", f"{where} is unreachable: {exc}")


def _classify_client_error(exc: ClientError, where: str) -> Failure:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "NoSuchBucket":
        return Failure("no-bucket", f"{where}: the bucket does not exist")
    if code in _MISSING or status == 404:
        return Failure("missing", f"{where}: no such key")
    if code in _CREDENTIALS or status == 403:
        return Failure(
            "credentials",
            f"S3 refused the credentials for {where} ({code or status}); "
            "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy",
        )
    return Failure("failed", f"{where} answered {status} {code}: {error.get('Message', '')}")
