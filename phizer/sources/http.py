"""An HTTP slave: an origin that may hold an upload the master has not received yet.

The URL is the configured base plus the path percent-encoded (`/` kept), so no path can
change the host, port or scheme. Redirects are followed by hand, at most three, and only
within the base URL's scheme, host and port. One `fetch_timeout` bounds the whole fetch,
redirects and body included, not just each socket read: a slave trickling a byte a second
is cut at the deadline. The body is read in chunks and cut at the byte cap whatever
Content-Length says, so an endless body costs at most the cap in memory.

Answers: 200 with an image is the original; 404/410 is "not found"; a 200 whose Content-Type
is text/* (an HTML error page served as 200, the usual "soft 404") is also "not found" from
this slave, logged, because a page is never an original and other slaves may still have it;
5xx, any other status and refused connections are OriginError; timeouts OriginTimeout.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import requests
import urllib3.exceptions

from phizer.base.errors import OriginalNotFound, OriginError, OriginTimeout, PhizerError, TooLarge
from phizer.base.models import Original, OriginalInfo
from phizer.base.paths import safe_path
from phizer.base.perprocess import PerProcess

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
CHECK_TIMEOUT = 2.0
CHUNK = 1 << 16
_REDIRECTS = {301, 302, 303, 307, 308}


class HttpSlave:
    def __init__(self, base_url: str, max_bytes: int, timeout: float) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.max_bytes = max_bytes
        self.timeout = timeout
        base = urllib.parse.urlsplit(self.base_url)
        self._origin = (base.scheme, base.netloc)
        # One pooled session per slave (keep-alive across fetches) and per process: a forked
        # child must not share the parent's sockets (see `phizer.base.perprocess`).
        self._sessions = PerProcess(_session)

    @property
    def _session(self) -> requests.Session:
        return self._sessions.get()

    def __repr__(self) -> str:
        return f"HttpSlave({self.base_url!r})"

    def url_for(self, path: str) -> str:
        return self.base_url + urllib.parse.quote(safe_path(path), safe="/")

    def fetch(self, path: str) -> Original:
        deadline = time.monotonic() + self.timeout
        try:
            response = self._get(self.url_for(path), path, deadline)
            try:
                data = self._read(response, path, deadline)
            finally:
                response.close()
        except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
            raise self._timeout(path) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            logger.warning("slave %s: %s failed: %s", self.base_url, path, exc)
            raise OriginError(f"slave {self.base_url} failed for {path}: {exc}") from None
        modified = response.headers.get("Last-Modified")
        return Original(path, data, response.headers.get("ETag"), _http_date(modified))

    def _timeout(self, path: str) -> OriginTimeout:
        logger.warning("slave %s: %s timed out after %g s", self.base_url, path, self.timeout)
        return OriginTimeout(f"slave {self.base_url} timed out after {self.timeout:g} s: {path}")

    def _get(self, url: str, path: str, deadline: float, method: str = "GET") -> requests.Response:
        """The final answer after at most MAX_REDIRECTS same-origin redirects."""
        for _ in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(path)
            response = self._session.request(
                method, url, stream=True, allow_redirects=False, timeout=(remaining, remaining)
            )
            if response.status_code not in _REDIRECTS:
                self._check_status(response, path)
                return response
            response.close()
            url = urllib.parse.urljoin(url, response.headers.get("Location", ""))
            target = urllib.parse.urlsplit(url)
            if (target.scheme, target.netloc) != self._origin:
                raise OriginError(f"slave {self.base_url} redirected {path} to another host")
        raise OriginError(f"slave {self.base_url}: more than {MAX_REDIRECTS} redirects for {path}")

    def _check_status(self, response: requests.Response, path: str) -> None:
        status = response.status_code
        error: PhizerError | None = None
        if status in (404, 410):
            error = OriginalNotFound(f"slave {self.base_url} has no {path}")
        elif status != 200:
            error = OriginError(f"slave {self.base_url} answered {status} for {path}")
        elif response.headers.get("Content-Type", "").lower().startswith("text/"):
            logger.warning("slave %s answered a text page for %s", self.base_url, path)
            error = OriginalNotFound(f"slave {self.base_url} answered a page, not an image")
        if error is not None:
            response.close()
            raise error

    def _read(self, response: requests.Response, path: str, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise TooLarge(f"original {path} is over the {self.max_bytes}-byte limit")
        chunks: list[bytes] = []
        total = 0
        # read1 returns what one socket read gave, so the deadline is checked between
        # trickled bytes too (a plain read(n) would wait for all n of them); each read may
        # block only until the deadline.
        while chunk := self._read1(response, deadline, path):
            total += len(chunk)
            if total > self.max_bytes:
                raise TooLarge(f"original {path} is over the {self.max_bytes}-byte limit")
            if time.monotonic() > deadline:
                raise self._timeout(path)
            chunks.append(chunk)
        return b"".join(chunks)

    def _read1(self, response: requests.Response, deadline: float, path: str) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timeout(path)
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(remaining)
        chunk: bytes = response.raw.read1(CHUNK, decode_content=True)
        return chunk

    def stat(self, path: str) -> OriginalInfo:
        """A HEAD under the same rules as a fetch (redirects, timeout, soft 404s). Only
        prune asks it, before deleting renders: an upload a slave holds keeps them."""
        deadline = time.monotonic() + self.timeout
        try:
            response = self._get(self.url_for(path), path, deadline, method="HEAD")
            response.close()
        except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
            raise self._timeout(path) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise OriginError(f"slave {self.base_url} failed for {path}: {exc}") from None
        headers = response.headers
        length = headers.get("Content-Length", "")
        return OriginalInfo(
            path,
            int(length) if length.isdigit() else None,
            headers.get("ETag"),
            _http_date(headers.get("Last-Modified")),
        )

    def list(self, prefix: str) -> Iterator[OriginalInfo]:
        return iter(())  # slaves cannot list

    def check(self) -> str:
        try:
            response = self._session.head(self.base_url, timeout=CHECK_TIMEOUT)
            response.close()
        except requests.RequestException as exc:
            raise OriginError(f"slave {self.base_url} is unreachable: {exc}") from None
        return f"slave: {self.base_url} (answered {response.status_code})"

    def close(self) -> None:
        session = self._sessions.made()
        if session is not None:
            session.close()
        self._sessions.clear()


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["Accept-Encoding"] = "identity"
    return session
