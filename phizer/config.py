"""Configuration: the only module that reads the config file and the environment.

`load_config(path, environ)` returns a frozen `Config`; nothing else in phizer looks at
files or environment variables for settings, and there is no module-level config object.
Validation refuses rather than clamps: an unknown key, a bad type or an out-of-range value
is a `ConfigError` naming the file, the key and the bad value.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from phizer.errors import ConfigError
from phizer.models import Mode, SizeSpec

CONFIG_ENV = "PHIZER_CONFIG"
MODES: dict[str, Mode] = {
    "max": "max",
    "fill": "fill",
    "square": "fill",
    "portrait": "portrait",
    "landscape": "landscape",
}
INPUT_EXTENSIONS = ("jpg", "jpeg", "png", "gif", "webp", "avif")
VARIANT_FORMATS = ("webp", "avif", "jpg", "png")
MAX_DIMENSION = 16384

# Every section and its keys: the parser refuses anything else, and a test checks the README
# documents each one.
KEYS: dict[str, tuple[str, ...]] = {
    "master": ("type", "path", "bucket", "prefix", "endpoint_url", "region", "failover"),
    "slaves": ("url",),
    "store": ("type", "path", "bucket", "prefix", "endpoint_url", "region"),
    "cache": ("path", "max_bytes", "memory_bytes"),
    "server": (
        "host",
        "port",
        "workers",
        "max_age",
        "error_max_age",
        "queue",
        "render_ahead",
        "miss_threads",
        "max_connections",
        "log",
        "syslog_address",
    ),
    "limits": ("max_original_bytes", "max_pixels", "max_frames", "fetch_timeout", "extensions"),
    "security": ("key", "sign"),
    "output": ("quality", "progressive", "keep_metadata", "canvas", "formats"),
    "sizes": ("width", "height", "mode", "upscale", "quality", "progressive"),
}


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
    miss_threads: int = 0  # 0: the cores no other job holds (see phizer.jobs.resample_threads)
    max_connections: int = 1024  # served at once by `phizer serve` (see phizer.server)
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


# --- loading ---------------------------------------------------------------------------


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file (or `$PHIZER_CONFIG`, or the built-in defaults).

    Relative paths in a file are relative to that file; with no file, to the working directory.
    Environment overrides: PHIZER_MASTER_ENDPOINT_URL, PHIZER_STORE_ENDPOINT_URL and
    PHIZER_SECURITY_KEY (secrets and endpoints that differ between deployments).
    """
    env = os.environ if environ is None else environ
    chosen = path if path is not None else env.get(CONFIG_ENV) or None
    if chosen is None:
        raw: dict[str, Any] = {}
        source, base = "<defaults>", Path.cwd()
    else:
        file = Path(chosen)
        source, base = str(file), file.resolve().parent
        try:
            with file.open("rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{file}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    # The parser builds the dataclasses above, so it imports this module: import it here.
    from phizer.config_parse import parse_config

    return _apply_environment(parse_config(raw, source, base), env)


def _apply_environment(config: Config, env: Mapping[str, str]) -> Config:
    master, store, security = config.master, config.store, config.security
    if url := env.get("PHIZER_MASTER_ENDPOINT_URL"):
        master = replace(master, endpoint_url=url)
    if url := env.get("PHIZER_STORE_ENDPOINT_URL"):
        store = replace(store, endpoint_url=url)
    if "PHIZER_SECURITY_KEY" in env:
        security = replace(security, key=env["PHIZER_SECURITY_KEY"])
    return replace(config, master=master, store=store, security=security)
