"""`phizer warm` S3 -> S3 against a real SeaweedFS: every render of a few hundred originals
lands in the store bucket with the right type and dimensions; a second run skips them all
and rewrites nothing; a replaced original re-renders its sizes only."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image
from support.warm import FORMATS, SIZE_MODES, SIZES_TOML, expected_size, make_originals

from phizer.cli.main import main

pytestmark = pytest.mark.slow

COUNT = 200
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}


def listing(client: Any, bucket: str) -> dict[str, tuple[str, Any]]:
    """Every object: key -> (ETag, LastModified); any rewrite changes one."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = (obj["ETag"], obj["LastModified"])
    return out


@pytest.fixture
def site(s3_credentials: Any, tmp_path: Path) -> dict[str, Any]:
    s3 = s3_credentials
    master, store = s3.new_bucket(), s3.new_bucket()
    client = s3.client()
    made = make_originals(tmp_path / "made", COUNT)
    for path in made:
        client.put_object(
            Bucket=master,
            Key=f"photos/{path}",
            Body=(tmp_path / "made" / path).read_bytes(),
            ContentType="image/jpeg" if path.endswith(".jpg") else "image/png",
        )
    (tmp_path / "phizer.toml").write_text(
        f'[master]\ntype = "s3"\nbucket = "{master}"\nprefix = "photos/"\n'
        f'endpoint_url = "{s3.endpoint_url}"\n\n'
        f'[store]\ntype = "s3"\nbucket = "{store}"\nendpoint_url = "{s3.endpoint_url}"\n\n'
        f'[cache]\npath = "cache"\n{SIZES_TOML}'
    )
    return {
        "client": client,
        "master": master,
        "store": store,
        "made": made,
        "config": tmp_path / "phizer.toml",
    }


def warm(site: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    args = ["-c", str(site["config"]), "warm", "--json", "--workers", "2"]
    result = CliRunner().invoke(main, args)
    return result.exit_code, json.loads(result.stdout)


def test_s3_to_s3_warm_is_complete_then_a_no_op_then_incremental(site: dict[str, Any]) -> None:
    client, store = site["client"], site["store"]

    code, first = warm(site)

    assert code == 0, first
    assert (first["originals"], first["rendered"], first["failed"]) == (COUNT, COUNT * 3, 0)
    before = listing(client, store)
    renders = {k for k in before if not k.startswith(".phizer/")}
    assert renders == {f"{w}x{h}/{p}" for (w, h) in SIZE_MODES for p in site["made"]}
    for path, size in list(site["made"].items())[:40]:  # a sample: every size, both formats
        for (w, h), mode in SIZE_MODES.items():
            obj = client.get_object(Bucket=store, Key=f"{w}x{h}/{path}")
            image = Image.open(io.BytesIO(obj["Body"].read()))
            assert image.format == FORMATS[path[-4:]]
            assert obj["ContentType"] == CONTENT_TYPES[image.format]
            assert image.size == expected_size(mode, (w, h), size)

    code, second = warm(site)

    assert code == 0
    assert (second["rendered"], second["skipped"], second["failed"]) == (0, COUNT * 3, 0)
    assert listing(client, store) == before
    assert_replaced_original_re_renders_its_sizes_only(site, before)


def assert_replaced_original_re_renders_its_sizes_only(
    site: dict[str, Any], before: dict[str, tuple[str, Any]]
) -> None:
    client, store = site["client"], site["store"]
    time.sleep(1.1)  # S3 times have whole seconds: the new upload must be visibly newer
    replacement = io.BytesIO()
    Image.new("RGB", (300, 100), (0, 0, 255)).save(replacement, "JPEG")
    client.put_object(
        Bucket=site["master"],
        Key="photos/b/c/img0001.jpg",
        Body=replacement.getvalue(),
        ContentType="image/jpeg",
    )

    code, summary = warm(site)

    assert code == 0
    assert (summary["rendered"], summary["skipped"]) == (3, COUNT * 3 - 3)
    after = listing(client, store)
    assert {k for k in after if after[k] != before.get(k)} == {
        f"{d}/b/c/img0001.jpg" for d in ("48x48", "100x100", "60x90")
    } | {".phizer/originals/b/c/img0001.jpg.json"}  # its record, for the new version
    medium = client.get_object(Bucket=store, Key="100x100/b/c/img0001.jpg")["Body"].read()
    assert Image.open(io.BytesIO(medium)).size == (100, 33)
