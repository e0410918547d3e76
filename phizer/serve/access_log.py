"""One line per request, to stderr or syslog, through a logger the app owns.

The logger is built per app rather than fetched by name, so two apps in one process (tests,
gunicorn's reloads) never share or stack handlers, and it does not propagate: the root
logger's format is for diagnostics, this one is for traffic.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from urllib.parse import quote

from phizer.base.errors import ConfigError
from phizer.config import ServerConfig

FORMAT = "%(asctime)s phizer %(message)s"
SAFE = "/:@!$&'()*+,;=-._~"


def make_access_logger(server: ServerConfig) -> logging.Logger:
    """A logger writing to stderr, or to syslog when `[server].log = "syslog"`."""
    logger = logging.Logger("phizer.access", logging.INFO)
    logger.propagate = False
    handler: logging.Handler
    if server.log == "syslog":
        try:
            handler = logging.handlers.SysLogHandler(address=syslog_address(server.syslog_address))
        except OSError as exc:
            raise ConfigError(
                f"[server].syslog_address has value {server.syslog_address!r}: cannot reach "
                f"syslog there: {exc.strerror or exc}"
            ) from None
        handler.setFormatter(logging.Formatter("phizer: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    return logger


def syslog_address(value: str) -> str | tuple[str, int]:
    """`/dev/log` (a Unix socket path) or `host:port` (UDP)."""
    if value.startswith("/"):
        return value
    host, _, port = value.rpartition(":")
    return (host or "127.0.0.1", int(port)) if port.isdigit() else value


def log_request(
    logger: logging.Logger,
    method: str,
    path: str,
    status: int,
    size: int | None,
    millis: float,
    cache: str,
) -> None:
    """`GET /220x220/a.jpg 200 5123 12.3ms hit`; `-` for an unknown size or no cache lookup.
    The path is re-quoted so a request cannot forge log lines with spaces or newlines."""
    logger.info(
        "%s %s %d %s %.1fms %s",
        quote(method, safe=""),
        quote(path, safe=SAFE),
        status,
        "-" if size is None else size,
        millis,
        cache,
    )


def close_access_logger(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
