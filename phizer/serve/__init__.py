"""`phizer serve`: the WSGI app (`app`), filling misses through the pool (`misses`), the HTTP
responses, metrics and the access log."""

from phizer.serve.app import create_app, create_wsgi

__all__ = ["create_app", "create_wsgi"]
