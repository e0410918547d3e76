"""The server's Prometheus metrics, on a registry the app owns (no default-registry globals).

Workers report their timings in each `JobResult`, so every metric is recorded in the server
process. Under gunicorn with several processes, set `PROMETHEUS_MULTIPROC_DIR` (an empty
directory, wiped before start): prometheus_client then keeps values in per-process files and
`/metrics` sums them with a `MultiProcessCollector`, so any process answers for all of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Renders take tens of milliseconds to seconds; fetches from a loopback origin take less.
RENDER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FETCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Counters and histograms under the names docs/serve.md documents; one instance per app."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.multiprocess_dir = env.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "phizer_requests", "HTTP requests answered, by status.", ["status"], registry=r
        )
        self.cache = Counter(
            "phizer_render_cache", "Render requests by store result.", ["result"], registry=r
        )
        self.render_seconds = Histogram(
            "phizer_render_seconds",
            "Time to render and store one miss job.",
            buckets=RENDER_BUCKETS,
            registry=r,
        )
        self.fetch_seconds = Histogram(
            "phizer_fetch_seconds",
            "Time to fetch an original for a miss job.",
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self.origin_errors = Counter(
            "phizer_origin_errors", "Miss jobs that failed at the origin (502/504).", registry=r
        )
        self.queue_depth = Gauge(
            "phizer_queue_depth",
            "Render jobs waiting or running.",
            multiprocess_mode="livesum",
            registry=r,
        )
        for result in ("hit", "miss"):
            self.cache.labels(result=result)  # both series exist from the first scrape

    def exposition(self) -> bytes:
        """The text format for `/metrics`: this process's registry, or every process's
        values when running in prometheus_client's multiprocess mode."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged)
