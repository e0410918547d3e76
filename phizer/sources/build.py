"""Builds the source side from the config: the master, the slaves, the chain, the cache.

The composition root for originals; nothing here does I/O (clients, pools and cache
directories come to life on first use), so building is cheap and safe in any process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phizer.base.errors import ConfigError
from phizer.config import Config
from phizer.sources import Originals, Source
from phizer.sources.cache import DiskCache, MemoryLRU
from phizer.sources.cached import CachedOriginals
from phizer.sources.chain import Chain
from phizer.sources.dir import DirSource

if TYPE_CHECKING:
    from phizer.sources.http import HttpSlave


def build_master(config: Config) -> Source:
    master, limits = config.master, config.limits
    if master.type == "dir":
        if master.path is None:
            raise ConfigError(f'{config.source}: [master].path is required for type = "dir"')
        return DirSource(master.path, limits.max_original_bytes)
    if master.type == "s3":
        # Imported here: boto3 is slow to import, in every process that imports it, and a
        # dir master never needs it (see stores/build.py).
        from phizer.base.s3client import Endpoint
        from phizer.sources.s3 import S3Source

        endpoint = Endpoint(master.bucket, master.region, master.endpoint_url, limits.fetch_timeout)
        return S3Source(endpoint, master.prefix, limits.max_original_bytes)
    raise ConfigError(f"{config.source}: [master].type {master.type!r} is not supported")


def build_slaves(config: Config) -> list[HttpSlave]:
    if not config.slaves:
        return []  # requests (slow to import, in every process) is not needed
    from phizer.sources.http import HttpSlave

    limits = config.limits
    return [
        HttpSlave(slave.url, limits.max_original_bytes, limits.fetch_timeout)
        for slave in config.slaves
    ]


def build_source(config: Config) -> Originals:
    """The master/slave chain behind the originals cache (see sources/cached.py for the
    revalidation policy). A dir master's originals skip the disk cache: they are on disk."""
    slaves = build_slaves(config)
    chain = Chain(build_master(config), slaves, config.master.failover)
    cache = config.cache
    disk_for_master = config.master.type != "dir"
    use_disk = cache.max_bytes > 0 and (disk_for_master or bool(slaves))
    disk = DiskCache(cache.path, cache.max_bytes) if use_disk else None
    return CachedOriginals(chain, MemoryLRU(cache.memory_bytes), disk, disk_for_master)
