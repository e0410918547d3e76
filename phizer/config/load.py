"""Loading the configuration: the only module that reads the config file and the environment.

`load_config(path, environ)` returns a frozen `Config`; nothing else in phizer looks at
files or environment variables for settings, and there is no module-level config object.
Validation refuses rather than clamps: an unknown key, a bad type or an out-of-range value
is a `ConfigError` naming the file, the key and the bad value.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from phizer.base.errors import ConfigError
from phizer.config.parse import parse_config
from phizer.config.schema import CONFIG_ENV, Config


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
