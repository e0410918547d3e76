"""Rendering originals for warm and serve: the pipeline (fetch, render, store), the targets an
original gets, the jobs that carry it to a worker, and the pool of worker processes."""
