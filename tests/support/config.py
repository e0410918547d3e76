"""Writing a config file for a test: one helper, from TOML text or from nested tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def write_config(folder: Path, sections: Mapping[str, Any] | str) -> Path:
    """`folder/phizer.toml` from TOML text, or from nested dicts:
    `{"server": {...}, "sizes": {"small": {...}}}`, where `slaves` is a list of tables."""
    path = folder / "phizer.toml"
    if isinstance(sections, str):
        path.write_text(sections)
        return path
    lines: list[str] = []
    for name, table in sections.items():
        if name == "slaves":
            for slave in table:
                lines.append("[[slaves]]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in slave.items()]
            continue
        if name == "sizes":
            for size, spec in table.items():
                lines.append(f"[sizes.{size}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in spec.items()]
            continue
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def s3_config(
    folder: Path, endpoint: str, master: str, store: str, extra: str = "", store_prefix: str = ""
) -> Path:
    """`folder/phizer.toml` for an S3 master bucket and an S3 store bucket at `endpoint`
    (SeaweedFS), the originals cache in `folder/cache`, plus `extra` TOML (sizes and the
    like)."""
    return write_config(
        folder,
        f'[master]\ntype = "s3"\nbucket = "{master}"\nendpoint_url = "{endpoint}"\n\n'
        f'[store]\ntype = "s3"\nbucket = "{store}"\nprefix = "{store_prefix}"\n'
        f'endpoint_url = "{endpoint}"\n\n[cache]\npath = "{folder / "cache"}"\n\n{extra}',
    )
