"""Turns the raw TOML tables of a config file into the dataclasses of `phizer.config.schema`.

Every refusal names the file, the key and the bad value; nothing is clamped or guessed.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from phizer.base.errors import ConfigError
from phizer.base.formats import INPUT_EXTENSIONS, VARIANT_FORMATS
from phizer.base.models import Gravity, SizeSpec
from phizer.config.schema import (
    DEFAULT_SIZES,
    FOCUS_SOURCES,
    KEYS,
    MAX_DIMENSION,
    MODES,
    CacheConfig,
    Config,
    FocusConfig,
    LimitsConfig,
    OutputConfig,
    PurgeConfig,
    SecurityConfig,
    ServerConfig,
    SlaveConfig,
    SourceConfig,
)


def parse_config(raw: Mapping[str, Any], source: str, base: Path) -> Config:
    """`raw` as read by tomllib from `source`; relative paths resolve against `base`."""
    return _Parser(source, base).config(raw)


_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
SECRETS = {("[security]", "key")}  # (table, key) whose values no message repeats


class _Parser:
    """Turns the raw TOML tables into dataclasses, naming file and key in every error."""

    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {message}")

    def table(self, raw: Mapping[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(f"[{name}]", "must be a table")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(
                f"[{name}]", f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
            )
        return value

    def get(self, table: Mapping[str, Any], where: str, key: str, kind: type, default: Any) -> Any:
        if key not in table:
            return default
        value = table[key]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            # A secret is named but never echoed: config errors end up in CI and deploy logs.
            shown = "a value (not shown)" if (where, key) in SECRETS else f"value {value!r}"
            raise self.fail(f"{where}.{key}", f"has {shown}; expected {kind.__name__}")
        return value

    def ranged(
        self,
        table: Mapping[str, Any],
        where: str,
        key: str,
        default: Any,
        low: float,
        high: float | None = None,
        kind: type = int,
    ) -> Any:
        value = self.get(table, where, key, kind, default)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.fail(f"{where}.{key}", f"has value {value!r}; must be {bound}")
        return value

    def choice(
        self, table: Mapping[str, Any], where: str, key: str, default: str, choices: tuple[str, ...]
    ) -> str:
        value = cast(str, self.get(table, where, key, str, default))
        if value not in choices:
            raise self.fail(
                f"{where}.{key}", f"has value {value!r}; must be one of {', '.join(choices)}"
            )
        return value

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def str_list(
        self,
        table: Mapping[str, Any],
        where: str,
        key: str,
        default: tuple[str, ...],
        allowed: tuple[str, ...],
    ) -> tuple[str, ...]:
        value = self.get(table, where, key, list, list(default))
        out: list[str] = []
        for item in value:
            if not isinstance(item, str) or item.lower() not in allowed:
                raise self.fail(
                    f"{where}.{key}", f"has item {item!r}; allowed: {', '.join(allowed)}"
                )
            out.append(item.lower())
        return tuple(dict.fromkeys(out))

    # sections ---------------------------------------------------------------------------

    def config(self, raw: Mapping[str, Any]) -> Config:
        sections = set(KEYS)
        unknown = sorted(set(raw) - sections)
        if unknown:
            raise self.fail(unknown[0], f"unknown section (allowed: {', '.join(sorted(sections))})")
        output = self.output(raw)
        return Config(
            master=self.source_table(raw, "master", "originals"),
            store=self.source_table(raw, "store", "renders"),
            cache=self.cache(raw),
            slaves=self.slaves(raw),
            server=self.server(raw),
            limits=self.limits(raw),
            security=self.security(raw),
            output=output,
            purge=self.purge(raw),
            focus=self.focus(raw),
            sizes=self.sizes(raw, output),
            source=self.source,
        )

    def source_table(self, raw: Mapping[str, Any], name: str, default_dir: str) -> SourceConfig:
        t = self.table(raw, name, set(KEYS[name]))
        where = f"[{name}]"
        kind = self.choice(t, where, "type", SourceConfig.type, ("dir", "s3"))
        prefix = self.get(t, where, "prefix", str, SourceConfig.prefix)
        if prefix.startswith("/") or ".." in prefix.split("/"):
            raise self.fail(
                f"{where}.prefix", f"has value {prefix!r}; must be a relative key prefix"
            )
        bucket = self.get(t, where, "bucket", str, SourceConfig.bucket)
        if kind == "s3" and not bucket:
            raise self.fail(f"{where}.bucket", 'is required when type = "s3"')
        endpoint = self.get(t, where, "endpoint_url", str, "") or None  # "" = unset (AWS)
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise self.fail(
                f"{where}.endpoint_url", f"has value {endpoint!r}; must be an http(s) URL"
            )
        return SourceConfig(
            type=kind,
            path=self.path(self.get(t, where, "path", str, default_dir)) if kind == "dir" else None,
            bucket=bucket,
            prefix=prefix,
            endpoint_url=endpoint,
            region=self.get(t, where, "region", str, SourceConfig.region),
            failover=self.get(t, where, "failover", bool, SourceConfig.failover),
        )

    def slaves(self, raw: Mapping[str, Any]) -> tuple[SlaveConfig, ...]:
        value = raw.get("slaves", [])
        if not isinstance(value, list):
            raise self.fail("[[slaves]]", "must be an array of tables")
        out = []
        for i, item in enumerate(value):
            where = f"[[slaves]] #{i + 1}"
            if not isinstance(item, dict):
                raise self.fail(where, "must be a table")
            unknown = sorted(set(item) - set(KEYS["slaves"]))
            if unknown:
                raise self.fail(where, f"unknown key {unknown[0]!r} (allowed: url)")
            url = self.get(item, where, "url", str, "")
            if not re.fullmatch(r"https?://[^/?#@\s]+/(?:[^?#\s]*)", url):
                raise self.fail(
                    f"{where}.url", f"has value {url!r}; must be an http(s) base URL ending in /"
                )
            out.append(SlaveConfig(url if url.endswith("/") else url + "/"))
        return tuple(out)

    def cache(self, raw: Mapping[str, Any]) -> CacheConfig:
        t = self.table(raw, "cache", set(KEYS["cache"]))
        return CacheConfig(
            path=self.path(self.get(t, "[cache]", "path", str, ".phizer-cache")),
            max_bytes=self.ranged(t, "[cache]", "max_bytes", CacheConfig.max_bytes, 0),
            memory_bytes=self.ranged(t, "[cache]", "memory_bytes", CacheConfig.memory_bytes, 0),
        )

    def server(self, raw: Mapping[str, Any]) -> ServerConfig:
        t, w = self.table(raw, "server", set(KEYS["server"])), "[server]"
        return ServerConfig(
            host=self.get(t, w, "host", str, ServerConfig.host),
            port=self.ranged(t, w, "port", ServerConfig.port, 0, 65535),
            workers=self.ranged(t, w, "workers", ServerConfig.workers, 0, 256),
            max_age=self.ranged(t, w, "max_age", ServerConfig.max_age, 0),
            error_max_age=self.ranged(t, w, "error_max_age", ServerConfig.error_max_age, 0),
            queue=self.ranged(t, w, "queue", ServerConfig.queue, 1),
            render_ahead=self.get(t, w, "render_ahead", bool, ServerConfig.render_ahead),
            miss_threads=self.ranged(t, w, "miss_threads", ServerConfig.miss_threads, 0, 64),
            max_connections=self.ranged(
                t, w, "max_connections", ServerConfig.max_connections, 1, 65536
            ),
            log=self.choice(t, w, "log", ServerConfig.log, ("stderr", "syslog")),
            syslog_address=self.get(t, w, "syslog_address", str, ServerConfig.syslog_address),
        )

    def limits(self, raw: Mapping[str, Any]) -> LimitsConfig:
        t, w = self.table(raw, "limits", set(KEYS["limits"])), "[limits]"
        return LimitsConfig(
            max_original_bytes=self.ranged(
                t, w, "max_original_bytes", LimitsConfig.max_original_bytes, 1
            ),
            max_pixels=self.ranged(t, w, "max_pixels", LimitsConfig.max_pixels, 1),
            max_frames=self.ranged(t, w, "max_frames", LimitsConfig.max_frames, 1),
            fetch_timeout=self.ranged(
                t, w, "fetch_timeout", LimitsConfig.fetch_timeout, 0.001, 3600.0, kind=float
            ),
            extensions=self.str_list(t, w, "extensions", LimitsConfig.extensions, INPUT_EXTENSIONS),
        )

    def security(self, raw: Mapping[str, Any]) -> SecurityConfig:
        t = self.table(raw, "security", set(KEYS["security"]))
        return SecurityConfig(
            key=self.get(t, "[security]", "key", str, SecurityConfig.key),
            sign=self.choice(t, "[security]", "sign", SecurityConfig.sign, ("none", "crop", "all")),
        )

    def focus(self, raw: Mapping[str, Any]) -> FocusConfig:
        t = self.table(raw, "focus", set(KEYS["focus"]))
        sources = self.str_list(t, "[focus]", "sources", FocusConfig.sources, FOCUS_SOURCES)
        if "faces" in sources and importlib.util.find_spec("cv2") is None:
            raise self.fail(
                "[focus].sources",
                'has "faces", which needs OpenCV: pip install "phizer[faces]"',
            )
        return FocusConfig(sources=sources)

    def purge(self, raw: Mapping[str, Any]) -> PurgeConfig:
        t = self.table(raw, "purge", set(KEYS["purge"]))
        urls = self.get(t, "[purge]", "urls", list, list(PurgeConfig.urls))
        for url in urls:
            if not (
                isinstance(url, str)
                and re.fullmatch(r"https?://[^/?#@\s]+/\S*", url)
                and ("{key}" in url or "{signed_key}" in url)
            ):
                raise self.fail(
                    "[purge].urls",
                    f"has item {url!r}; must be an http(s) URL with {{key}} or {{signed_key}}",
                )
        method = self.get(t, "[purge]", "method", str, PurgeConfig.method)
        if not re.fullmatch(r"[A-Z]+", method):
            raise self.fail("[purge].method", f"has value {method!r}; must be an HTTP method")
        return PurgeConfig(urls=tuple(urls), method=method)

    def output(self, raw: Mapping[str, Any]) -> OutputConfig:
        t, w = self.table(raw, "output", set(KEYS["output"])), "[output]"
        canvas = self.get(t, w, "canvas", str, OutputConfig.canvas)
        if not _COLOUR.fullmatch(canvas):
            raise self.fail(f"{w}.canvas", f"has value {canvas!r}; must be #rgb or #rrggbb")
        return OutputConfig(
            quality=self.ranged(t, w, "quality", OutputConfig.quality, 1, 100),
            progressive=self.get(t, w, "progressive", bool, OutputConfig.progressive),
            keep_metadata=self.get(t, w, "keep_metadata", bool, OutputConfig.keep_metadata),
            canvas=canvas.lower(),
            formats=self.str_list(t, w, "formats", OutputConfig.formats, VARIANT_FORMATS),
        )

    def sizes(self, raw: Mapping[str, Any], output: OutputConfig) -> tuple[SizeSpec, ...]:
        if "sizes" not in raw:
            return tuple(
                replace(s, quality=output.quality, progressive=output.progressive)
                for s in DEFAULT_SIZES
            )
        table = raw["sizes"]
        if not isinstance(table, dict) or not table:
            raise self.fail("[sizes]", "must hold at least one [sizes.NAME] table")
        seen: dict[tuple[int, int], str] = {}
        out = []
        for name, t in table.items():
            spec = self.size(name, t, output)
            dims = (spec.width, spec.height)
            if dims in seen:
                raise self.fail(
                    f"[sizes.{name}]",
                    f"{spec.dimensions} is also size {seen[dims]!r}; "
                    "W x H must be unique (a URL names a size by its dimensions)",
                )
            seen[dims] = name
            out.append(spec)
        return tuple(out)

    def size(self, name: str, t: Any, output: OutputConfig) -> SizeSpec:
        w = f"[sizes.{name}]"
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise self.fail(w, "size names are letters, digits, '_' and '-'")
        if not isinstance(t, dict):
            raise self.fail(w, "must be a table")
        allowed = set(KEYS["sizes"])
        unknown = sorted(set(t) - allowed)
        if unknown:
            raise self.fail(
                w, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
            )
        for key in ("width", "height"):
            if key not in t:
                raise self.fail(f"{w}.{key}", "is required")
        mode = self.choice(t, w, "mode", "max", tuple(MODES))
        return SizeSpec(
            name=name,
            width=self.ranged(t, w, "width", 0, 1, MAX_DIMENSION),
            height=self.ranged(t, w, "height", 0, 1, MAX_DIMENSION),
            mode=MODES[mode],
            upscale=self.get(t, w, "upscale", bool, False),
            quality=self.ranged(t, w, "quality", output.quality, 1, 100),
            progressive=self.get(t, w, "progressive", bool, output.progressive),
            gravity=cast(Gravity, self.choice(t, w, "gravity", "auto", ("auto", "centre"))),
        )
