"""phizer's exception tree: every failure phizer knows about, each with its HTTP status.

Lower layers (sources, stores, render) translate their libraries' exceptions into these at
the edge, so the server maps an error to a response in exactly one place and the CLI turns
one into exactly one line on stderr.

    PhizerError                      500
    ├── ConfigError                  (CLI exit 2; never reaches HTTP)
    ├── BadRequest                   400  malformed URL, bad crop box
    │   └── BadSignature             403
    ├── NotFound                     404
    │   ├── UnknownSize              404  a W x H that is not configured
    │   └── OriginalNotFound         404  no source holds the original
    ├── MethodNotAllowed             405
    ├── TooLarge                     413  original over the byte or pixel cap
    ├── UnsupportedFormat            415  not an accepted input format
    ├── Undecodable                  422  corrupt, truncated, not an image
    ├── OriginError                  502  the master or a slave failed
    │   └── OriginTimeout            504
    ├── Overloaded                   503  the render queue is full
    ├── WorkerDied                   500  a render worker process died mid-job
    └── StoreError                   500  the render store or originals cache failed
"""

from __future__ import annotations


class PhizerError(Exception):
    """Base of every error phizer raises on purpose; `status` is the HTTP answer."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[type[PhizerError], tuple[str]]:
        # Errors cross process boundaries (worker -> server); keep them picklable.
        return (type(self), (self.message,))


class ConfigError(PhizerError):
    """The configuration file or environment is invalid; names the file and the key."""


class BadRequest(PhizerError):
    status = 400


class BadSignature(BadRequest):
    status = 403


class NotFound(PhizerError):
    status = 404


class UnknownSize(NotFound):
    pass


class OriginalNotFound(NotFound):
    pass


class MethodNotAllowed(PhizerError):
    status = 405


class TooLarge(PhizerError):
    status = 413


class UnsupportedFormat(PhizerError):
    status = 415


class Undecodable(PhizerError):
    status = 422


class OriginError(PhizerError):
    status = 502


class OriginTimeout(OriginError):
    status = 504


class Overloaded(PhizerError):
    status = 503


class WorkerDied(PhizerError):
    status = 500


class StoreError(PhizerError):
    status = 500
