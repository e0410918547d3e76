"""phizer's configuration: its shape (`schema`), the TOML parser that fills it (`parse`) and
`load_config` (`load`), the only reader of the config file and the environment."""

from phizer.config.load import load_config
from phizer.config.schema import (
    CONFIG_ENV,
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

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_SIZES",
    "KEYS",
    "MAX_DIMENSION",
    "MODES",
    "FOCUS_SOURCES",
    "CacheConfig",
    "Config",
    "FocusConfig",
    "LimitsConfig",
    "OutputConfig",
    "PurgeConfig",
    "SecurityConfig",
    "ServerConfig",
    "SlaveConfig",
    "SourceConfig",
    "load_config",
]
