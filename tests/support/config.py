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
