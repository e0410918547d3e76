"""`phizer manifest` over a SeaweedFS master and store: exactly the renders in the bucket,
with their true sizes (each opened), and not one GET of an original (SeaweedFS's own
request counters); `warm --manifest` gives the same."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support.config import s3_config
from support.lifecycle import cli
from support.warm import SIZES_TOML, make_originals

pytestmark = pytest.mark.slow

COUNT = 60


def test_manifest_of_an_s3_store_gets_no_original(s3_credentials: Any, tmp_path: Path) -> None:
    s3 = s3_credentials
    master, store = s3.new_bucket(), s3.new_bucket()
    client = s3.client()
    made = make_originals(tmp_path / "made", COUNT)
    for path in made:
        client.put_object(Bucket=master, Key=path, Body=(tmp_path / "made" / path).read_bytes())
    extra = f'[output]\nformats = ["webp"]\n{SIZES_TOML}'
    config = s3_config(tmp_path, s3.endpoint_url, master, store, extra)
    warmed = cli(config, "warm", "--workers", "1", "--manifest", str(tmp_path / "warm.json"))
    assert warmed.exit_code == 0, warmed.output

    def gets() -> int:
        return int(s3.requests_by_bucket()[(master, "GET")])

    before = gets()
    result = cli(config, "manifest")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    time.sleep(0.5)  # SeaweedFS counts a request just after answering it
    assert gets() == before  # no GET (or HEAD) of any original

    assert entries == json.loads((tmp_path / "warm.json").read_text())
    assert sorted(e["path"] for e in entries) == sorted(made)
    listed = {r["key"]: r for e in entries for r in e["renders"]}
    stored = {
        obj["Key"]: obj["Size"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=store)
        for obj in page.get("Contents", [])
        if not obj["Key"].startswith(".phizer/")
    }
    assert set(listed) == set(stored)
    for key, render in listed.items():
        body = client.get_object(Bucket=store, Key=key)["Body"].read()
        assert len(body) == render["bytes"] == stored[key]
        with Image.open(io.BytesIO(body)) as image:
            assert image.size == (render["width"], render["height"]), key
