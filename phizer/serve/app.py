"""`phizer serve`: the WSGI app that answers render URLs, and the embedded server that runs it.

    create_app(config, pool=None) -> App     the app; App is a WSGI callable
    create_wsgi(workers=0) -> App            for gunicorn: reads $PHIZER_CONFIG
    run_server(config, host=, port=, workers=)   `phizer serve`: Werkzeug's threaded server

Hits stream from the render store; misses go to the worker pool (see `phizer.serve.misses`).
`App.dispatch` is the one place that turns exceptions into responses.

Over the usual size because the embedded server's hardening (timeouts, the connection cap,
error pages for what Werkzeug refuses) lives beside the app it serves.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from phizer.base import errors
from phizer.base.urls import (
    RenderURL,
    content_type_of_key,
    is_info_url,
    own_variant,
    parse_info_url,
    parse_url,
)
from phizer.config import Config, ServerConfig, load_config
from phizer.manifest.build import AskedRenders
from phizer.manifest.entries import entry
from phizer.pool.records import read_record
from phizer.pool.workers import Pool
from phizer.serve.access_log import close_access_logger, log_request, make_access_logger
from phizer.serve.metrics import CONTENT_TYPE, Metrics
from phizer.serve.misses import Misses
from phizer.serve.responses import error_response, render_response, text_response
from phizer.stores import RenderStore
from phizer.stores.build import build_store

logger = logging.getLogger(__name__)

# What a handler returns: the response, and the cache result for the access log.
Answer = tuple[Response, str]

METHODS = ["GET", "HEAD"]
StartResponse = Callable[..., Any]


class App:
    """The render server: a store for hits, a pool for misses, metrics and an access log."""

    def __init__(self, config: Config, store: RenderStore, pool: Pool) -> None:
        self.config = config
        self.store = store
        self.pool = pool
        self.metrics = Metrics()
        self.misses = Misses(config, store, pool, self.metrics)
        self.access_log = make_access_logger(config.server)
        self.url_map = Map(
            [
                Rule("/healthz", endpoint="healthz", methods=METHODS),
                Rule("/metrics", endpoint="metrics", methods=METHODS),
                Rule("/<path:_>", endpoint="render", methods=METHODS),
            ],
            merge_slashes=False,  # "//" in a path is the URL grammar's 400, not a redirect
            strict_slashes=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        response, cache = self.dispatch(request)
        self.metrics.requests.labels(status=str(response.status_code)).inc()
        millis = (time.perf_counter() - started) * 1000
        sends_body = request.method != "HEAD" and response.status_code != 304
        size = response.content_length if sends_body else 0
        log_request(
            self.access_log, request.method, request.path, response.status_code, size, millis, cache
        )
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Answer:
        """The response and the cache result for the log: "hit" or "miss" for a render
        answered, "-" for anything else, an error included."""
        if request.environ.get("REQUEST_METHOD") not in METHODS:
            # Methods are case-sensitive (RFC 9110 9.1) and Werkzeug upper-cases them for
            # routing, which would answer "get" as GET: refuse what is not exactly GET/HEAD.
            return self._http_error(MethodNotAllowed(METHODS)), "-"
        try:
            endpoint, _ = self.url_map.bind_to_environ(request.environ).match()
            handler: Callable[[Request], Answer] = getattr(self, f"on_{endpoint}")
            return handler(request)
        except errors.PhizerError as exc:
            if exc.status >= 500:
                logger.error(
                    "%s %s: %s: %s", request.method, request.path, type(exc).__name__, exc.message
                )
            return error_response(exc, self.config.server), "-"
        except HTTPException as exc:
            return self._http_error(exc), "-"
        except Exception:
            logger.exception("%s %s: unexpected error", request.method, request.path)
            return error_response(errors.PhizerError("internal error"), self.config.server), "-"

    def on_render(self, request: Request) -> Answer:
        if is_info_url(request.path):
            return self.on_info(request)
        security = self.config.security
        url = parse_url(
            request.path,
            extensions=self.config.limits.extensions,
            key=security.key,
            sign=security.sign,
        )
        size = self.config.size_by_dimensions(url.width, url.height)
        if size is None:
            raise errors.UnknownSize(f"size {url.width}x{url.height} is not configured")
        ticket = self.misses.ticket(url.path)
        stored = self.store.open(url.key)
        cache = "hit" if stored is not None else "miss"
        self.metrics.cache.labels(result=cache).inc()
        if stored is None:
            made = self.misses.fill(url, size, ticket)
            if made is not None and made.data is not None:
                server = self.config.server
                response = render_response(request, server, made.info, made.content_type, made.data)
                return response, cache
            stored = self.store.open(url.key)  # stored by a job that finished just before
            if stored is None:
                raise errors.StoreError(f"{url.key} vanished from the render store")
        content_type = (
            stored.info.content_type or content_type_of_key(url.key) or "application/octet-stream"
        )
        response = render_response(request, self.config.server, stored.info, content_type, stored)
        return response, cache

    def on_info(self, request: Request) -> Answer:
        """The original's manifest entry (`phizer.manifest.entries`), cached like a render.
        An original without a record yet gets one by rendering its first size through the
        miss path (the pool's bounds apply): 404 when there is no such original."""
        config, security = self.config, self.config.security
        path = parse_info_url(
            request.path, extensions=config.limits.extensions, key=security.key, sign=security.sign
        )
        record = read_record(self.store, path)
        if record is None:
            size = config.sizes[0]
            url = RenderURL(size.width, size.height, path, variant=own_variant(path))
            self.misses.fill(url, size, self.misses.ticket(path), whole=True)
            record = read_record(self.store, path)
            if record is None:
                raise errors.NotFound(f"no record of {path}")
        item = entry(record, config.sizes, AskedRenders(self.store).of(path, config.sizes))
        body = json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
        return render_response(request, config.server, None, "application/json", body), "-"

    def on_healthz(self, request: Request) -> Answer:
        if self.pool.alive():
            return text_response("ok\n"), "-"
        return text_response("unhealthy: the render pool is down\n", status=503), "-"

    def on_metrics(self, request: Request) -> Answer:
        self.metrics.queue_depth.set(self.pool.pending())
        exposition = self.metrics.exposition().decode()
        return text_response(exposition, content_type=CONTENT_TYPE), "-"

    def _http_error(self, exc: HTTPException) -> Response:
        """Routing's own refusals (405, an unroutable path), in phizer's error format."""
        if exc.code == 405:
            allow = list(getattr(exc, "valid_methods", None) or METHODS)
            error = errors.MethodNotAllowed("method not allowed; use GET or HEAD")
            return error_response(error, self.config.server, allow=allow)
        return error_response(errors.NotFound("not found"), self.config.server)

    def close(self) -> None:
        self.pool.close()
        close_access_logger(self.access_log)


def create_app(config: Config, pool: Pool | None = None) -> App:
    """The app over the configured render store; a pool of `[server].workers` render
    processes unless one is given (0 workers: renders run in the request's thread)."""
    if pool is None:
        from phizer.pool.workers import make_pool

        pool = make_pool(config, config.server.workers, config.server.queue)
    return App(config, build_store(config), pool)


def create_wsgi(workers: int = 0) -> App:
    """The gunicorn entry point: `gunicorn 'phizer.serve:create_wsgi()'` with PHIZER_CONFIG
    naming the config. Gunicorn's processes are the render workers, so each renders in its
    request threads by default (`create_wsgi(workers=2)` adds a process pool per worker)."""
    config = load_config()
    return create_app(replace(config, server=replace(config.server, workers=workers)))


# Seconds a connection may go without a byte from the client (a request trickled header by
# header, or an idle keep-alive): each connection holds a thread and a descriptor, and the
# threaded server has no cap on either. Longer than a CDN's or nginx's idle upstream
# keep-alive (nginx: 60 s), so a proxy closes first.
IDLE_TIMEOUT = 75.0


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler with keep-alive and Nagle off, a socket timeout, and without its
    own request log: the app writes the one access-log line per request."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # What http.server refuses before the app sees it (a request line over 64 KiB: 414; a
    # header line too long, or too many: 431; a malformed request line: 400; HTTP/2: 505)
    # is an HTML page by default; like the app's own refusals, make it one line of text.
    error_message_format = "%(code)d %(message)s\n"
    error_content_type = "text/plain; charset=utf-8"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def version_string(self) -> str:
        return "phizer"  # not the Werkzeug and Python versions, which only help attackers


def run_server(
    config: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting, close the pool and return.
    `on_ready` gets the URL once listening (with `port=0`, the port the OS chose)."""
    server_config = replace(
        config.server,
        host=config.server.host if host is None else host,
        port=config.server.port if port is None else port,
        workers=config.server.workers if workers is None else workers,
    )
    config = replace(config, server=server_config)
    app = create_app(config)
    try:
        server = make_wsgi_server(
            app,
            server_config.host,
            server_config.port,
            max_connections=server_config.max_connections,
        )
    except BaseException:
        app.close()
        raise
    _stop_on_signals(server.shutdown)
    if on_ready is not None:
        on_ready(f"http://{server_config.host}:{server.server_port}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        app.close()


def make_wsgi_server(
    app: App,
    host: str,
    port: int,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    max_connections: int = ServerConfig.max_connections,
) -> BaseWSGIServer:
    """Werkzeug's threaded server with phizer's request handler, serving at most
    `max_connections` connections at once (see `_CappedServer`); `port=0` picks a free port
    (`server.server_port`). PhizerError when the address cannot be bound."""

    class Handler(_RequestHandler):
        timeout = idle_timeout

    try:
        return _CappedServer(host, port, app, Handler, max_connections)
    except OSError as exc:
        raise errors.PhizerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


# How often the accept loop, waiting for a free connection slot, checks for a shutdown.
SLOT_POLL = 0.2


class _CappedServer(ThreadedWSGIServer):
    """Werkzeug's threaded server, one thread per connection, with a cap on the connections
    served at once. The threaded server has none: a flood of slow or idle clients (each held
    for up to the idle timeout) costs a thread, a descriptor and some memory apiece, with no
    end. At the cap the accept loop waits for a connection to close, and newcomers wait in
    the kernel's listen queue (and beyond it, retry their SYN), so memory stays bounded and
    the requests already accepted are served. Behind nginx or a CDN, which hold slow clients
    themselves and keep far fewer connections open to phizer, the cap is not reached."""

    def __init__(
        self,
        host: str,
        port: int,
        app: App,
        handler: type[WSGIRequestHandler],
        max_connections: int,
    ) -> None:
        super().__init__(host, port, app, handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stopping = threading.Event()

    def process_request(self, request: Any, client_address: Any) -> None:
        # The accept loop's thread: no more accepts until a slot is free, but a shutdown
        # still stops the loop.
        while not self._slots.acquire(timeout=SLOT_POLL):
            if self._stopping.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # no thread started; socketserver closes the connection
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()


def _stop_on_signals(shutdown: Callable[[], None]) -> None:
    """`shutdown` waits for the serving loop to stop, so it must run off the main thread."""

    def handle(signum: int, frame: object) -> None:
        threading.Thread(target=shutdown, name="phizer-shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
