"""Building sources and stores from a real config file, as warm and serve do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.config import write_config

from phizer.config import load_config
from phizer.sources.build import build_source
from phizer.stores.build import build_store


@pytest.mark.slow
def test_dir_master_with_a_slave(tmp_path: Path, origins: Any) -> None:
    slave = origins(files={"new.jpg": b"UPLOAD"})
    (tmp_path / "originals").mkdir()
    (tmp_path / "originals" / "a.jpg").write_bytes(b"MASTER")
    config = load_config(
        write_config(
            tmp_path,
            f'[master]\npath = "originals"\n[cache]\npath = "cache"\n'
            f'[[slaves]]\nurl = "{slave.url}"\n[store]\npath = "renders"\n',
        ),
        {},
    )
    source = build_source(config)
    assert source.fetch("a.jpg").data == b"MASTER"
    assert not (tmp_path / "cache").exists()  # a dir master's originals are not copied
    assert source.fetch("new.jpg").data == b"UPLOAD"
    assert any((tmp_path / "cache").rglob("*.orig"))  # a slave's copy is
    assert [i.path for i in source.list("")] == ["a.jpg"]
    store = build_store(config)
    store.put("1x1/a.jpg", b"R", "image/jpeg")
    assert (tmp_path / "renders" / "1x1" / "a.jpg").read_bytes() == b"R"
    assert len(source.check().splitlines()) == 3  # master, slave, cache


@pytest.mark.slow
def test_s3_master_and_store(tmp_path: Path, s3_credentials: Any) -> None:
    bucket = s3_credentials.new_bucket()
    client = s3_credentials.client()
    client.put_object(Bucket=bucket, Key="in/a.jpg", Body=b"ORIG", ContentType="image/jpeg")
    config = load_config(
        write_config(
            tmp_path,
            f'[master]\ntype = "s3"\nbucket = "{bucket}"\nprefix = "in"\n'
            f'endpoint_url = "{s3_credentials.endpoint_url}"\n'
            f'[store]\ntype = "s3"\nbucket = "{bucket}"\nprefix = "out"\n'
            f'endpoint_url = "{s3_credentials.endpoint_url}"\n'
            '[cache]\npath = "cache"\n[server]\nmax_age = 60\n',
        ),
        {},
    )
    source = build_source(config)
    assert source.fetch("a.jpg").data == b"ORIG"
    assert any((tmp_path / "cache").rglob("*.orig"))
    build_store(config).put("9x9/a.jpg", b"R", "image/jpeg")
    head = client.head_object(Bucket=bucket, Key="out/9x9/a.jpg")
    assert head["CacheControl"] == "public, max-age=60"
