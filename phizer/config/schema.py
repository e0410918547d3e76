"""The configuration's shape: one frozen dataclass per table, with its defaults, the allowed
values, and the keys each table takes. Pure: reading and validating a file is `load`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from phizer.base.errors import ConfigError
from phizer.base.formats import INPUT_EXTENSIONS
from phizer.base.models import Mode, SizeSpec

CONFIG_ENV = "PHIZER_CONFIG"
MODES: dict[str, Mode] = {
    "max": "max",
    "fill": "fill",
    "square": "fill",
    "portrait": "portrait",
    "landscape": "landscape",
}
MAX_DIMENSION = 16384


@dataclass(frozen=True)
class SourceConfig:
    """`[master]` and `[store]`: a directory or an S3 bucket/prefix."""

    type: str = "dir"
    path: Path | None = None
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    failover: bool = False  # master only: ask slaves when the master is down


@dataclass(frozen=True)
class SlaveConfig:
    url: str


@dataclass(frozen=True)
class CacheConfig:
    path: Path
    max_bytes: int = 2_000_000_000
    memory_bytes: int = 100_000_000


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 6776
    workers: int = 2
    max_age: int = 31_536_000
    error_max_age: int = 60  # short negative caching of 4xx answers
    queue: int = 64
    render_ahead: bool = True
    miss_threads: int = 0  # 0: the cores no other job holds (see phizer.pool.jobs.resample_threads)
    max_connections: int = 1024  # served at once by `phizer serve` (see phizer.serve.app)
    log: str = "stderr"  # "stderr" or "syslog"
    syslog_address: str = "/dev/log"  # a socket path, or "host:port" for UDP


@dataclass(frozen=True)
class LimitsConfig:
    max_original_bytes: int = 52_428_800
    max_pixels: int = 100_000_000
    max_frames: int = 100
    fetch_timeout: float = 10.0
    extensions: tuple[str, ...] = INPUT_EXTENSIONS


@dataclass(frozen=True)
class SecurityConfig:
    key: str = ""
    sign: str = "crop"  # "none", "crop" or "all"


@dataclass(frozen=True)
class OutputConfig:
    quality: int = 85
    progressive: bool = True
    keep_metadata: bool = False
    canvas: str = "#ffffff"
    formats: tuple[str, ...] = ()


FOCUS_SOURCES = ("metadata", "faces", "saliency")


@dataclass(frozen=True)
class FocusConfig:
    """`[focus]`: where a photo's focal point comes from, in order of trust; none by default
    (centre crops, as every peer does unless asked)."""

    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class PurgeConfig:
    """`[purge]`: the CDN requests sent for each render phizer deletes."""

    urls: tuple[str, ...] = ()  # templates: {key} the store key, {signed_key} its signed form
    method: str = "PURGE"


DEFAULT_SIZES: tuple[SizeSpec, ...] = (
    SizeSpec("thumb", 120, 120, "fill"),
    SizeSpec("small", 220, 220, "fill"),
    SizeSpec("medium", 800, 800, "max"),
    SizeSpec("large", 1600, 1600, "max"),
)


@dataclass(frozen=True)
class Config:
    master: SourceConfig
    store: SourceConfig
    cache: CacheConfig
    slaves: tuple[SlaveConfig, ...] = ()
    server: ServerConfig = field(default_factory=ServerConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    purge: PurgeConfig = field(default_factory=PurgeConfig)
    focus: FocusConfig = field(default_factory=FocusConfig)
    sizes: tuple[SizeSpec, ...] = DEFAULT_SIZES
    source: str = "<defaults>"  # the file this came from, for messages

    def size(self, name_or_dims: str) -> SizeSpec:
        """A size by its name or its `WxH`; ConfigError when there is none."""
        for spec in self.sizes:
            if name_or_dims in (spec.name, spec.dimensions):
                return spec
        known = ", ".join(f"{s.name} ({s.dimensions})" for s in self.sizes)
        raise ConfigError(f"unknown size {name_or_dims!r}; configured: {known}")

    def size_by_dimensions(self, width: int, height: int) -> SizeSpec | None:
        for spec in self.sizes:
            if spec.width == width and spec.height == height:
                return spec
        return None


def _keys(table: type, *, without: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(f.name for f in fields(table) if f.name not in without)


# The keys each table takes, from the dataclasses: the parser refuses any other, and the
# documentation test checks that docs/configuration.md documents each.
KEYS: dict[str, tuple[str, ...]] = {
    "master": _keys(SourceConfig),
    "slaves": _keys(SlaveConfig),
    "store": _keys(SourceConfig, without=("failover",)),
    "cache": _keys(CacheConfig),
    "server": _keys(ServerConfig),
    "limits": _keys(LimitsConfig),
    "security": _keys(SecurityConfig),
    "output": _keys(OutputConfig),
    "purge": _keys(PurgeConfig),
    "focus": _keys(FocusConfig),
    "sizes": ("width", "height", "mode", "upscale", "quality", "progressive", "gravity"),
}
