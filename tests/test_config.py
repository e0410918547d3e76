"""Configuration: defaults, relative paths, environment overrides, and refusals that name
the file, the key and the bad value."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from phizer.base.errors import ConfigError
from phizer.config import KEYS, load_config

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "phizer.toml"
    path.write_text(text)
    return path


def test_no_config_works_on_originals_and_renders_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    assert (config.master.type, config.master.path) == ("dir", tmp_path / "originals")
    assert (config.store.type, config.store.path) == ("dir", tmp_path / "renders")
    assert [s.dimensions for s in config.sizes] == ["120x120", "220x220", "800x800", "1600x1600"]


def test_phizer_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[sizes.a]\nwidth = 10\nheight = 20\n")
    config = load_config(None, environ={"PHIZER_CONFIG": str(path)})
    assert [(s.name, s.width, s.height, s.mode) for s in config.sizes] == [("a", 10, 20, "max")]


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    path = write(tmp_path / "etc", '[master]\npath = "../photos"\n[cache]\npath = "cache"\n')
    monkeypatch.chdir("/")
    config = load_config(path, environ={})
    assert config.master.path == tmp_path / "etc" / ".." / "photos"
    assert config.cache.path == tmp_path / "etc" / "cache"


def test_example_from_the_design_loads(tmp_path: Path) -> None:
    config = load_config(REPO / "configs" / "example.toml", environ={})
    assert (config.master.type, config.master.bucket) == ("s3", "photos")
    assert config.slaves[0].url == "http://127.0.0.1:8081/uploads/"
    m800 = config.size("m800")
    assert (m800.quality, m800.mode) == (80, "max")
    assert config.size("220x220").mode == "fill"


def test_size_output_settings_default_to_the_output_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[output]\nquality = 70\nprogressive = false\n"
        '[sizes.a]\nwidth = 10\nheight = 10\nmode = "square"\n',
    )
    (spec,) = load_config(path, environ={}).sizes
    assert (spec.quality, spec.progressive, spec.mode) == (70, False, "fill")


def test_environment_overrides_endpoints_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[master]\ntype = "s3"\nbucket = "b"\n[security]\nkey = "file"\n')
    config = load_config(
        path,
        environ={
            "PHIZER_MASTER_ENDPOINT_URL": "http://127.0.0.1:1",
            "PHIZER_STORE_ENDPOINT_URL": "http://127.0.0.1:2",
            "PHIZER_SECURITY_KEY": "env",
        },
    )
    assert config.master.endpoint_url == "http://127.0.0.1:1"
    assert config.store.endpoint_url == "http://127.0.0.1:2"
    assert config.security.key == "env"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[sizes.a]\nwidth = 1\nheight = 1\n[sizes.b]\nwidth = 1\nheight = 1\n",
            r"\[sizes\.b\]: 1x1 is also size 'a'",
        ),
        (
            '[sizes.a]\nwidth = 1\nheight = 1\nmode = "stretch"\n',
            r"\[sizes\.a\]\.mode: has value 'stretch'",
        ),
        (
            "[sizes.a]\nwidth = 1\nheight = 1\nquality = 101\n",
            r"\[sizes\.a\]\.quality: has value 101; must be between 1 and 100",
        ),
        ("[sizes.a]\nwidth = 1\nheigth = 1\n", r"\[sizes\.a\]: unknown key 'heigth'"),
        ("[sizes.a]\nwidth = 0\nheight = 1\n", r"\[sizes\.a\]\.width: has value 0"),
        (
            '[sizes.a]\nwidth = "10"\nheight = 1\n',
            r"\[sizes\.a\]\.width: has value '10'; expected int",
        ),
        ("[sizes.a]\nheight = 1\n", r"\[sizes\.a\]\.width: is required"),
        ('[master]\ntype = "s3"\n', r"\[master\]\.bucket: is required"),
        ('[master]\ntype = "ftp"\n', r"\[master\]\.type: has value 'ftp'"),
        ("[server]\nworkers = -1\n", r"\[server\]\.workers: has value -1"),
        ("[server]\nport = true\n", r"\[server\]\.port: has value True; expected int"),
        ("[server]\nqueue = 0\n", r"\[server\]\.queue"),
        ("[server]\nmiss_threads = -2\n", r"\[server\]\.miss_threads: has value -2"),
        ("[server]\nmax_connections = 0\n", r"\[server\]\.max_connections: has value 0"),
        ('[limits]\nextensions = ["tif"]\n', r"\[limits\]\.extensions: has item 'tif'"),
        ('[output]\ncanvas = "white"\n', r"\[output\]\.canvas: has value 'white'"),
        ('[output]\nformats = ["bmp"]\n', r"\[output\]\.formats: has item 'bmp'"),
        ('[security]\nsign = "some"\n', r"\[security\]\.sign: has value 'some'"),
        ('[[slaves]]\nurl = "ftp://x/"\n', r"\[\[slaves\]\] #1\.url: has value 'ftp://x/'"),
        ('[[slaves]]\nurl = "http://a@b/"\n', r"\[\[slaves\]\] #1\.url"),
        ("[servr]\nport = 1\n", r"servr: unknown section"),
        ("[cache]\nmax_bytes = -5\n", r"\[cache\]\.max_bytes: has value -5"),
        ("this is = not toml =\n", r"not valid TOML"),
    ],
)
def test_invalid_config_names_file_key_and_value(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, environ={})
    assert str(path) in info.value.message


@pytest.mark.parametrize("value", ["1234567890123", '["hunter2-secret"]', '{ k = "hunter2" }'])
def test_a_mistyped_security_key_is_named_but_not_echoed(tmp_path: Path, value: str) -> None:
    """`key = 1234567890123` (a secret someone forgot to quote) is named in the error but
    never repeated: errors land in CI and deploy logs."""
    path = write(tmp_path, f"[security]\nkey = {value}\n")
    with pytest.raises(ConfigError, match=r"\[security\]\.key: has a value \(not shown\)") as info:
        load_config(path, environ={})
    assert "1234567890123" not in info.value.message
    assert "hunter2" not in info.value.message


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml: no such config file"):
        load_config(tmp_path / "nope.toml", environ={})


def test_unknown_size_lists_the_configured_ones() -> None:
    config = load_config(None, environ={})
    with pytest.raises(ConfigError, match=r"unknown size '9x9'; configured: thumb \(120x120\)"):
        config.size("9x9")


def test_the_reference_documents_every_config_key() -> None:
    """Every key the parser accepts appears under its own table in docs/configuration.md."""
    page = (REPO / "docs" / "configuration.md").read_text()
    reference = page.split("\n## Sources", 1)[0]
    tables: dict[str, str] = {}
    for block in re.split(r"^(?=\[)", reference, flags=re.M)[1:]:
        header = re.match(r"\[+([a-z]+)", block)
        assert header, block[:40]
        tables[header.group(1)] = tables.get(header.group(1), "") + block
    missing = [
        f"[{section}].{key}"
        for section, keys in KEYS.items()
        for key in keys
        if not re.search(rf"^#?\s*{re.escape(key)}\s*=", tables.get(section, ""), re.M)
    ]
    assert not missing, f"docs/configuration.md lacks: {missing}"


def test_every_example_config_loads() -> None:
    for path in sorted((REPO / "configs").glob("*.toml")):
        load_config(path, environ={})


def test_the_reference_gives_the_defaults_the_code_has() -> None:
    """The defaults are written once, in the dataclasses; the reference's values must be
    theirs (a test, since the reference is prose around a TOML example)."""
    page = (REPO / "docs" / "configuration.md").read_text()
    block = page.split("```toml\n", 1)[1].split("```", 1)[0]
    documented = tomllib.loads(block)
    defaults = load_config(None, environ={})
    for section in ("server", "limits", "security", "output"):
        table = dataclasses.asdict(getattr(defaults, section))
        for key, value in documented[section].items():
            code = table[key]
            assert (list(code) if isinstance(code, tuple) else code) == value, (section, key)
    for key in ("max_bytes", "memory_bytes"):
        assert documented["cache"][key] == getattr(defaults.cache, key), key
    for table_name in ("master", "store"):
        for key in ("type", "bucket", "prefix", "region"):
            assert documented[table_name][key] == getattr(getattr(defaults, table_name), key)


def test_purge_urls_are_templates_with_a_key(tmp_path: Path) -> None:
    config = load_config(REPO / "configs" / "example.toml", environ={})
    assert config.purge.urls == ("http://127.0.0.1:6081/{key}",)
    assert config.purge.method == "PURGE"
    for bad in (
        'urls = ["http://cdn.example.com/"]',  # no {key}: every purge would hit one URL
        'urls = ["ftp://cdn.example.com/{key}"]',
        'urls = ["http://cdn.example.com/{key}"]\nmethod = "purge me"',
        'urls = "http://cdn.example.com/{key}"',
    ):
        path = write(tmp_path, f"[purge]\n{bad}\n")
        with pytest.raises(ConfigError, match=r"\[purge\]"):
            load_config(path, environ={})
