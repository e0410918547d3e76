"""gunicorn settings for phizer, with PHIZER_CONFIG naming phizer's config file:

    gunicorn -c configs/gunicorn.conf.py 'phizer.serve:create_wsgi()'


Each gunicorn process renders in its request threads (create_wsgi() sets [server].workers to
0), so the processes are the render workers: size `workers` to the CPU cores and `threads`
to the requests one process may hold while others render or stream. With nginx in front
(configs/nginx.conf), hash on $uri across several gunicorn hosts to keep originals caches
warm.

Metrics: with more than one process, export PROMETHEUS_MULTIPROC_DIR (an empty directory,
wiped before each start) so /metrics sums every process; the hook below drops the live
gauges of processes that exit.
"""

import os
from typing import Any

bind = os.environ.get("PHIZER_BIND", "127.0.0.1:6776")
workers = int(os.environ.get("PHIZER_GUNICORN_WORKERS", os.cpu_count() or 2))
worker_class = "gthread"
threads = int(os.environ.get("PHIZER_GUNICORN_THREADS", "8"))
timeout = 60  # a render of a large original can take seconds; a stuck worker is replaced
graceful_timeout = 30
keepalive = 5
accesslog = None  # phizer writes one line per request itself


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
