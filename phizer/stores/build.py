"""Builds the render store from the config; no I/O until the store is first used."""

from __future__ import annotations

from phizer.config import Config
from phizer.errors import ConfigError
from phizer.stores import RenderStore
from phizer.stores.dir import DirStore


def build_store(config: Config) -> RenderStore:
    store = config.store
    if store.type == "dir":
        if store.path is None:
            raise ConfigError(f'{config.source}: [store].path is required for type = "dir"')
        return DirStore(store.path)
    raise ConfigError(f"{config.source}: [store].type {store.type!r} is not supported")
