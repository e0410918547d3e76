"""HTTP answers for renders and errors: validators, cache headers, conditional requests.

A hit (streamed from the render store) and a miss (bytes fresh from a worker, then stat'ed
in the store) carry the store's validators, so a CDN revalidating after a miss gets a 304
from a later hit. The store's ETag is used as is (S3: the MD5 of a single PUT; a directory:
mtime and size); a render that could not be stored gets the MD5 of its bytes instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from werkzeug.http import unquote_etag
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import FileWrapper, wrap_file

from phizer.base.errors import PhizerError
from phizer.base.models import StoredInfo
from phizer.config import ServerConfig
from phizer.stores import StoredRender

CHUNK = 64 * 1024
RETRY_AFTER = 2  # seconds a client should wait after a 503 (queue full)

# What a 5xx tells the client; the detail (hosts, paths, exceptions) stays in the log.
SERVER_SIDE_REASONS = {
    500: "internal error",
    502: "the origin failed",
    503: "the render queue is full",
    504: "the origin timed out",
}


def render_response(
    request: Request,
    server: ServerConfig,
    info: StoredInfo | None,
    content_type: str,
    body: bytes | StoredRender,
) -> Response:
    """200 (or 304) for a render, from the store's open file/stream or from fresh bytes."""
    if isinstance(body, StoredRender):
        response = Response(
            _stream(request, body), content_type=content_type, direct_passthrough=True
        )
        response.content_length = body.info.size
    else:
        response = Response(body, content_type=content_type)
    response.set_etag(_etag(info, body))
    if info is not None:
        response.last_modified = info.last_modified  # type: ignore[assignment]
    response.cache_control.public = True
    response.cache_control.max_age = server.max_age
    response.make_conditional(request)
    # make_conditional adds Date, and so does every WSGI server: one is enough.
    response.headers.remove("Date")
    return response


def error_response(
    exc: PhizerError, server: ServerConfig, allow: list[str] | None = None
) -> Response:
    """One short text line naming the reason; 4xx cached briefly (negative caching), 5xx
    never, so a CDN does not pin an outage."""
    status = exc.status
    reason = SERVER_SIDE_REASONS.get(status, exc.message) if status >= 500 else exc.message
    response = Response(
        f"{status} {reason}\n", status=status, content_type="text/plain; charset=utf-8"
    )
    # A 4xx repeats (a bounded repr of) the path, which may hold markup: never let a browser
    # sniff it into HTML.
    response.headers["X-Content-Type-Options"] = "nosniff"
    if status >= 500:
        response.headers["Cache-Control"] = "no-store"
    else:
        response.cache_control.public = True
        response.cache_control.max_age = server.error_max_age
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER)
    if allow:
        response.headers["Allow"] = ", ".join(allow)
    return response


def text_response(text: str, status: int = 200, content_type: str = "text/plain") -> Response:
    """Health and metrics: never cached anywhere, they describe this instant."""
    response = Response(text, status=status, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def _stream(request: Request, stored: StoredRender) -> Iterable[bytes]:
    """The store's body without reading it whole: a file goes through the server's
    `wsgi.file_wrapper` (sendfile under gunicorn), an S3 stream in fixed chunks. Both close
    the body when the server closes the response, HEAD and 304 included."""
    if stored.path is not None:
        return wrap_file(request.environ, stored.body, CHUNK)
    return FileWrapper(stored.body, CHUNK)


def _etag(info: StoredInfo | None, body: bytes | StoredRender) -> str:
    if info is not None and info.etag:
        bare, _weak = unquote_etag(info.etag)
        if bare:
            return bare
    if isinstance(body, bytes):
        return hashlib.md5(body, usedforsecurity=False).hexdigest()
    return f"{int(body.info.last_modified * 1e9):x}-{body.info.size:x}"
