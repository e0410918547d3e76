"""Builds the render store from the config; no I/O until the store is first used."""

from __future__ import annotations

from phizer.base.errors import ConfigError
from phizer.config import Config
from phizer.stores import RenderStore
from phizer.stores.dir import DirStore


def build_store(config: Config) -> RenderStore:
    store = config.store
    if store.type == "dir":
        if store.path is None:
            raise ConfigError(f'{config.source}: [store].path is required for type = "dir"')
        return DirStore(store.path)
    if store.type == "s3":
        # Imported here: boto3 is slow to import, and every process (each render worker,
        # each CLI run) would pay for it without ever talking to S3 otherwise.
        from phizer.base.s3client import Endpoint
        from phizer.stores.s3 import S3Store

        timeout = config.limits.fetch_timeout
        endpoint = Endpoint(store.bucket, store.region, store.endpoint_url, timeout)
        return S3Store(endpoint, store.prefix, config.server.max_age)
    raise ConfigError(f"{config.source}: [store].type {store.type!r} is not supported")
