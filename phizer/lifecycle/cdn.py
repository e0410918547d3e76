"""Tells a CDN to forget deleted renders: one request per deleted key and `[purge] urls`
template (`PURGE http://cdn/{key}` for Varnish and Fastly), sent in parallel on a few
threads, each within the fetch timeout. A CDN without per-URL purge (CloudFront) is fed the
deleted keys from `--json` instead; docs/lifecycle.md has the recipe.

A 2xx answers "purged"; 404 too (the CDN held no copy). Anything else, or no answer, is a
failure the caller reports: the render is gone from the store but may still be served from
the CDN until its max-age runs out.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import requests

from phizer.base.models import KeyFailure
from phizer.base.urls import signature
from phizer.config import Config

THREADS = 8  # requests in flight at once: a CDN's purge API is rate-limited, not slow


class CdnPurge:
    def __init__(self, config: Config) -> None:
        self.templates = config.purge.urls
        self.method = config.purge.method
        self.timeout = config.limits.fetch_timeout
        self.key = config.security.key

    def urls(self, key: str) -> list[str]:
        """The URLs to send for one store key, quoted as a client's request would be."""
        quoted = urllib.parse.quote(key, safe="/")
        signed = f"{signature(key, self.key)}/{quoted}" if self.key else quoted
        return [t.replace("{key}", quoted).replace("{signed_key}", signed) for t in self.templates]

    def purge(self, keys: Iterable[str]) -> list[KeyFailure]:
        """Send every request; the keys whose request failed, with why."""
        jobs = [(key, url) for key in keys for url in self.urls(key)]
        if not jobs:
            return []
        with requests.Session() as session, ThreadPoolExecutor(THREADS) as pool:
            answers = pool.map(lambda job: self._send(session, *job), jobs)
            return [failure for failure in answers if failure is not None]

    def _send(self, session: requests.Session, key: str, url: str) -> KeyFailure | None:
        try:
            response = session.request(self.method, url, timeout=self.timeout)
            response.close()
        except requests.RequestException as exc:
            return KeyFailure(key, f"CDN purge {self.method} {url} failed: {exc}")
        if response.ok or response.status_code == 404:
            return None
        return KeyFailure(key, f"CDN purge {self.method} {url} answered {response.status_code}")
